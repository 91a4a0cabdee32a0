package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/inventory"
)

func (a *app) newGitHubCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "github",
		Short: "Report plans and gate decisions to GitHub pull requests",
		Long: `The github commands talk to GitHub's REST API (github.com or GitHub Enterprise
Server) for patch repositories that adopt patchbay through GitHub Actions,
without running patchbay serve.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newGitHubCommentCmd())
	return cmd
}

func (a *app) newGitHubCommentCmd() *cobra.Command {
	var (
		dir, repoFlag, token, apiURL, inv, signKey, appKey string
		pr                                                 int
		appID, installationID                              int64
		trust                                              []string
		checks                                             bool
	)
	cmd := &cobra.Command{
		Use:   "comment",
		Short: "Evaluate a pull request and post the patchbay comment and the patchbay/gate check",
		Long: `Comment reads the pull request and all its reviews through the GitHub API,
evaluates the change on the local checkout (base: the PR's base branch head,
origin/<base> or <base>; head: the PR's head SHA, which must be present, e.g.
actions/checkout with fetch-depth: 0) with the BASE commit's policies, and
then:

  - creates the pull request comment, or edits it in place (it is found by the
    hidden marker <!-- patchbay:gate -->): the effect, the plan delta per ring
    (with --inventory), the gate decision with every deny, warn and missing
    finding, the evaluation manifest and what is still missing;
  - sets patchbay/gate on the head SHA: a commit status with a token (pending
    while inconclusive), or a check run with --checks or a GitHub App
    (neutral while inconclusive);
  - with --key, signs a gate.decision record on the head commit (Git notes).

Only pull requests into the protected branch (config.mainBranch of the
repository's default branch, "main" by default) are gated: any other gets a
neutral "patchbay/gate (base BRANCH)" check, no comment and no record, and
the command exits 0.

The token comes from --token or $GITHUB_TOKEN, the repository from --repo or
$GITHUB_REPOSITORY, the API from --api-url or $GITHUB_API_URL (Enterprise:
https://HOST/api/v3). A GitHub App authenticates with --app-id,
--installation-id and --app-key instead of a token.

Exit status: 0 pass, 1 fail, 3 inconclusive, 2 usage.`,
		Example: `  # in GitHub Actions (permissions: pull-requests: write, statuses: write)
  patchbay github comment --pr ${{ github.event.pull_request.number }}

  # against GitHub Enterprise, with host reports for the plan delta
  patchbay github comment -C . --repo infra/patches --pr 42 \
    --api-url https://ghe.example.com/api/v3 --inventory reports/`,
		Args: noArgs,
	}
	addRepoFlag(cmd, &dir)
	cmd.Flags().IntVar(&pr, "pr", 0, "pull request number (required)")
	cmd.Flags().StringVar(&repoFlag, "repo", "", "repository owner/name (default $"+envGitHubRepository+")")
	cmd.Flags().StringVar(&token, "token", "", "API token (default $"+envGitHubToken+")")
	cmd.Flags().StringVar(&apiURL, "api-url", "", "REST API URL for GitHub Enterprise Server (default $"+envGitHubAPIURL+", else api.github.com)")
	cmd.Flags().Int64Var(&appID, "app-id", 0, "GitHub App id (instead of a token)")
	cmd.Flags().Int64Var(&installationID, "installation-id", 0, "GitHub App installation id")
	cmd.Flags().StringVar(&appKey, "app-key", "", "GitHub App private key (PEM file)")
	cmd.Flags().BoolVar(&checks, "checks", false, "report a check run instead of a commit status (needs checks: write)")
	cmd.Flags().StringVar(&inv, "inventory", "", "host reports for the plan delta (file, JSON lines or directory)")
	cmd.Flags().StringArrayVar(&trust, "trust", nil, "public key (PEM file outside the checkout) trusted for evidence records, in addition to the base's config.trustedKeys")
	cmd.Flags().StringVar(&signKey, "key", "", "signing key (file or KMS URI): write a signed gate.decision record on the head commit")
	format := addFormatFlag(cmd, "text", "markdown", "json")
	now := addNowFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := format.get()
		if err != nil {
			return err
		}
		t, err := now.get(a)
		if err != nil {
			return err
		}
		if pr <= 0 {
			return usageError("--pr is required (the pull request number)")
		}
		if repoFlag == "" {
			repoFlag = a.getenv(envGitHubRepository)
		}
		owner, name, ok := strings.Cut(repoFlag, "/")
		if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			return usageError("--repo %q: want owner/name (or set $%s)", repoFlag, envGitHubRepository)
		}
		if apiURL == "" {
			apiURL = a.getenv(envGitHubAPIURL)
		}
		var tokens github.TokenSource
		switch {
		case appID != 0 || installationID != 0 || appKey != "":
			if appID == 0 || installationID == 0 || appKey == "" {
				return usageError("a GitHub App needs --app-id, --installation-id and --app-key")
			}
			b, err := os.ReadFile(appKey)
			if err != nil {
				return fmt.Errorf("--app-key: %w", err)
			}
			key, err := github.ParsePrivateKey(b)
			if err != nil {
				return err
			}
			tokens = &github.AppTokenSource{AppID: appID, InstallationID: installationID, Key: key, APIURL: apiURL}
			checks = true
		default:
			if token == "" {
				token = a.getenv(envGitHubToken)
			}
			if token == "" {
				return usageError("no token: pass --token or set $%s", envGitHubToken)
			}
			tokens = github.StaticToken(token)
		}
		client, err := github.NewClient(github.ClientConfig{APIURL: apiURL, Tokens: tokens})
		if err != nil {
			return err
		}
		svc := &github.Service{Client: client, Checks: checks, Git: github.LocalGit{Dir: dir}, Now: func() time.Time { return t }}
		if svc.TrustedKeys, err = readTrustKeys(dir, trust); err != nil {
			return err
		}
		if signKey != "" {
			if svc.Signer, err = a.loadSigner(cmd.Context(), signKey); err != nil {
				return err
			}
		}
		if inv != "" {
			svc.Reports = func(ctx context.Context) ([]*inventory.Report, error) {
				var out []*inventory.Report
				dec := &inventory.Decoder{Cache: inventory.NewSetCache()}
				err := inventory.ReadPath(ctx, inv, dec, func(r *inventory.Report) error {
					out = append(out, r)
					return nil
				})
				return out, err
			}
		}
		out, err := svc.GatePR(cmd.Context(), github.PRRef{Owner: owner, Repo: name, Number: pr})
		if err != nil {
			var side *change.SideError
			if errors.As(err, &side) {
				return err
			}
			return fmt.Errorf("github comment: %w", err)
		}
		if out.Skipped != "" {
			fmt.Fprintln(a.stdout, out.Skipped)
			return nil
		}
		verb := "edited"
		if out.CommentCreated {
			verb = "created"
		}
		switch f {
		case "markdown":
			fmt.Fprint(a.stdout, out.Body)
		case "json":
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			res := struct {
				PR        int    `json:"pr"`
				HeadSHA   string `json:"head_sha"`
				Result    string `json:"result"`
				State     string `json:"state"`
				CommentID int64  `json:"comment_id"`
				Created   bool   `json:"comment_created"`
			}{pr, out.HeadSHA, result(out), out.State, out.CommentID, out.CommentCreated}
			if err := enc.Encode(res); err != nil {
				return err
			}
		default:
			fmt.Fprintf(a.stdout, "%s: %s on %s (%s)\ncomment %s: %s\n", github.CheckName, result(out), shortHex(out.HeadSHA), out.State,
				strconv.FormatInt(out.CommentID, 10), verb)
		}
		if out.Result == nil {
			fmt.Fprintln(a.stderr, out.EvalErr)
			return errFindings
		}
		switch out.Result.Decision.Result {
		case gate.Pass:
			return nil
		case gate.Inconclusive:
			return errInconclusive
		}
		return errFindings
	}
	return cmd
}

// result is the gate result, or "invalid" when the head did not validate.
func result(out *github.Outcome) string {
	if out.Result == nil {
		return "invalid"
	}
	return string(out.Result.Decision.Result)
}

func shortHex(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
