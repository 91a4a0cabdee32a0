package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/render"
)

func (a *app) newGateCmd() *cobra.Command {
	var (
		dir, base, head, prFile, reviewsFile, evidenceFile, signKey string
		trust                                                       []string
		record                                                      bool
	)
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "Decide whether a change may be merged (OPA policies)",
		Long: `Gate evaluates a change of the patch repository (base → head) with patchbay's
built-in policies and the repository's own policy/*.rego — read from the
BASE commit, never from the change itself — and decides pass, fail or
inconclusive, listing every deny, warn and missing piece of evidence with its
rule id and the evaluation manifest (policy bundle digest, rules evaluated,
input digest).

--pr is the pull request (patchbay's {"number","author","last_pusher",
"labels","head_sha"} or GitHub's API object), --reviews the reviews as
GitHub's API lists them (user.login, state, commit_id, submitted_at).
Without --evidence, ring verification records are read from the audit trail
in Git notes and count only if the whole chain verifies against the trusted
keys (config.trustedKeys plus --trust). --record --key KEY signs the decision
and stores it as a gate.decision record on the head commit.

Exit status: 0 pass, 1 fail, 3 inconclusive, 2 usage.`,
		Example: `  patchbay gate -C . --base origin/main --pr pr.json --reviews reviews.json
  patchbay gate -C . --base main --head HEAD --evidence evidence.json --format markdown
  patchbay gate -C . --base main --pr pr.json --reviews reviews.json --record --key patchbay.key`,
		Args: noArgs,
	}
	addRepoFlag(cmd, &dir)
	cmd.Flags().StringVar(&base, "base", "", "base revision: its policies, rings and config decide (required)")
	cmd.Flags().StringVar(&head, "head", "HEAD", "head revision")
	cmd.Flags().StringVar(&prFile, "pr", "", "pull request JSON file")
	cmd.Flags().StringVar(&reviewsFile, "reviews", "", "reviews JSON file (GitHub API shape)")
	cmd.Flags().StringVar(&evidenceFile, "evidence", "", "ring verification records JSON file (default: the audit trail in Git notes)")
	cmd.Flags().StringArrayVar(&trust, "trust", nil, "public key (PEM file) trusted for evidence records, in addition to config.trustedKeys")
	cmd.Flags().BoolVar(&record, "record", false, "write the decision as a signed gate.decision record on the head commit")
	cmd.Flags().StringVar(&signKey, "key", "", "signing key (file or KMS URI) for --record")
	format := addFormatFlag(cmd, "text", "json", "markdown")
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
		if base == "" {
			return usageError("--base is required (the revision the change starts from, e.g. origin/main)")
		}
		if record && signKey == "" {
			return usageError("--record needs --key, the signing key")
		}
		req := change.Request{Base: base, Head: head, Now: t}
		if prFile != "" {
			if req.PR, err = readPR(prFile); err != nil {
				return err
			}
		}
		if reviewsFile != "" {
			if err := readJSON(reviewsFile, &req.Reviews); err != nil {
				return err
			}
		}
		if evidenceFile != "" {
			req.Evidence = []gate.Evidence{}
			if err := readJSON(evidenceFile, &req.Evidence); err != nil {
				return err
			}
		}
		for _, p := range trust {
			b, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("--trust: %w", err)
			}
			req.TrustedKeys = append(req.TrustedKeys, b)
		}
		repo, err := openPatchGit(dir)
		if err != nil {
			return fmt.Errorf("open %s: %w (gate reads a Git repository)", dir, err)
		}
		defer repo.Close()
		req.Repo = repo
		res, err := change.NewEvaluator().Evaluate(cmd.Context(), req)
		a.printSideErrors(err)
		if err != nil {
			return err
		}
		switch f {
		case "json":
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(struct {
				Base      string        `json:"base"`
				Head      string        `json:"head"`
				Effect    any           `json:"effect"`
				Decision  gate.Decision `json:"decision"`
				Approvers []string      `json:"approvers"`
				Evidence  string        `json:"evidence"`
			}{res.BaseCommit, res.HeadCommit, res.Effect, res.Decision, res.Approvers, res.EvidenceSource})
		case "markdown":
			if err = render.EffectMarkdown(a.stdout, res.Effect); err == nil {
				fmt.Fprintln(a.stdout)
				err = render.GateMarkdown(a.stdout, res.Decision, res.Approvers, res.EvidenceSource)
			}
		default:
			if err = render.EffectText(a.stdout, res.Effect); err == nil {
				err = render.GateText(a.stdout, res.Decision, res.Approvers, res.EvidenceSource)
			}
		}
		if err != nil {
			return err
		}
		if record {
			if err := a.recordDecision(cmd, repo, signKey, res, req.PR, t); err != nil {
				return err
			}
		}
		switch res.Decision.Result {
		case gate.Pass:
			return nil
		case gate.Inconclusive:
			return errInconclusive
		}
		return errFindings
	}
	return cmd
}

// recordDecision signs the decision and stores it on the head commit.
func (a *app) recordDecision(cmd *cobra.Command, repo *gitrepo.Repo, key string, res *change.Result, pr gate.PullRequest, now time.Time) error {
	signer, err := a.loadSigner(cmd.Context(), key)
	if err != nil {
		return err
	}
	head, err := gitrepo.ParseHash(res.HeadCommit)
	if err != nil {
		return err
	}
	p := &audit.GateDecision{Result: string(res.Decision.Result), Denies: ids(res.Decision.Deny), Warns: ids(res.Decision.Warn),
		PolicyBundleDigest: res.Decision.Manifest.BundleDigest, InputDigest: res.Decision.Manifest.InputDigest,
		PR: pr.Number, HeadSHA: res.HeadCommit, BaseSHA: res.BaseCommit, Approvers: res.Approvers, DecidedAt: now}
	w := &audit.Writer{Repo: repo, Signer: signer, Committer: gitrepo.Signature{Name: "patchbay", Email: "patchbay@localhost"}, Now: a.now}
	rec, err := w.Write(cmd.Context(), head, p)
	if err != nil {
		return fmt.Errorf("record decision: %w", err)
	}
	fmt.Fprintf(a.stderr, "recorded gate.decision on %s (%s)\n", res.HeadCommit[:12], rec.Where())
	return nil
}

func ids(fs []gate.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readPR reads patchbay's pull request shape or GitHub's API object.
func readPR(path string) (gate.PullRequest, error) {
	var raw struct {
		gate.PullRequest
		User   *gate.User `json:"user"`
		Labels []json.RawMessage
		Head   *struct {
			SHA string `json:"sha"`
		} `json:"head"`
	}
	if err := readJSON(path, &raw); err != nil {
		return gate.PullRequest{}, err
	}
	pr := raw.PullRequest
	if raw.User != nil && pr.Author == "" {
		pr.Author = raw.User.Login
	}
	if raw.Head != nil && pr.HeadSHA == "" {
		pr.HeadSHA = raw.Head.SHA
	}
	pr.Labels = nil
	for _, l := range raw.Labels {
		var s string
		if json.Unmarshal(l, &s) == nil {
			pr.Labels = append(pr.Labels, s)
			continue
		}
		var o struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(l, &o); err != nil {
			return pr, fmt.Errorf("%s: labels: want strings or {\"name\": ...}", path)
		}
		pr.Labels = append(pr.Labels, o.Name)
	}
	return pr, nil
}
