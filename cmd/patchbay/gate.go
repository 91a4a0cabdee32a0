package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
		dir, base, head, prFile, reviewsFile, evidenceFile, signKey, push string
		trust                                                             []string
		record                                                            bool
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
"labels","head_sha","base_ref"} or GitHub's API object; labels as strings or
GitHub's label objects), --reviews the reviews as GitHub's API lists them
(user.login, state, commit_id, submitted_at). --reviews needs --pr: without
the author no approval can count. Without --pr no approval counts at all,
so every change that needs one fails.

Evidence counts only when signed by a trusted key: the base commit's
config.trustedKeys plus --trust PEM files, which must lie outside the
checkout (the pull request controls it). Without --evidence, ring.verified
records are read from the audit trail in Git notes and count only if the
whole chain verifies; --evidence FILE gives signed ring.verified records,
one DSSE envelope per line as the notes store them (git notes
--ref=patchbay show COMMIT) — unsigned JSON is refused (exit 4).
--record --key KEY signs the decision and stores it as a gate.decision
record on the head commit; --push origin publishes it at once (what CI does,
since its clone is thrown away).

Exit status: 0 pass, 1 fail, 3 inconclusive, 2 usage, 4 evidence refused.`,
		Example: `  patchbay gate -C . --base origin/main --pr pr.json --reviews reviews.json
  git notes --ref=patchbay show CANARY_COMMIT > "$RUNNER_TEMP/verified.dsse"
  patchbay gate -C . --base main --head HEAD --evidence "$RUNNER_TEMP/verified.dsse" --format markdown
  patchbay gate -C . --base main --pr pr.json --reviews reviews.json --record --key patchbay.key`,
		Args: noArgs,
	}
	addRepoFlag(cmd, &dir)
	cmd.Flags().StringVar(&base, "base", "", "base revision: its policies, rings and config decide (required)")
	cmd.Flags().StringVar(&head, "head", "HEAD", "head revision")
	cmd.Flags().StringVar(&prFile, "pr", "", "pull request JSON file")
	cmd.Flags().StringVar(&reviewsFile, "reviews", "", "reviews JSON file (GitHub API shape)")
	cmd.Flags().StringVar(&evidenceFile, "evidence", "", "signed ring.verified records, one envelope per line (default: the audit trail in Git notes)")
	cmd.Flags().StringArrayVar(&trust, "trust", nil, "public key (PEM file outside the checkout) trusted for evidence records, in addition to the base's config.trustedKeys")
	cmd.Flags().BoolVar(&record, "record", false, "write the decision as a signed gate.decision record on the head commit")
	cmd.Flags().StringVar(&signKey, "key", "", "signing key (file or KMS URI) for --record")
	cmd.Flags().StringVar(&push, "push", "", "with --record, also push the record to this remote's refs/notes/patchbay (re-chained after records others pushed first)")
	format := addFormatFlag(cmd, "text", "json", "markdown")
	now := addNowFlag(cmd)
	sb := addSandboxFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := format.get()
		if err != nil {
			return err
		}
		ev, err := sb.evaluator()
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
		if push != "" && !record {
			return usageError("--push needs --record")
		}
		if record && signKey == "" {
			return usageError("--record needs --key, the signing key")
		}
		if reviewsFile != "" && prFile == "" {
			return usageError("--reviews needs --pr: without the pull request's author and last pusher no approval can be counted")
		}
		req := change.Request{Base: base, Head: head, Now: t}
		if prFile == "" {
			fmt.Fprintln(a.stderr, "note: no --pr: no approval counts, so every change that needs one fails")
		}
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
			if req.EvidenceRecords, err = readRecordLines(evidenceFile); err != nil {
				return err
			}
		}
		if req.TrustedKeys, err = readTrustKeys(dir, trust); err != nil {
			return err
		}
		repo, err := openPatchGit(dir)
		if err != nil {
			return fmt.Errorf("open %s: %w (gate reads a Git repository)", dir, err)
		}
		defer repo.Close()
		req.Repo = repo
		res, err := ev.Evaluate(cmd.Context(), req)
		a.printSideErrors(err)
		if errors.Is(err, change.ErrEvidence) {
			return fmt.Errorf("%w: %w", errVerification, err)
		}
		if err != nil {
			var le *change.LimitError
			if errors.As(err, &le) {
				// The change's fault: denied, exit 1.
				fmt.Fprintf(a.stderr, "patchbay: denied: %v\n", err)
				return errFindings
			}
			return err
		}
		switch f {
		case "json":
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(struct {
				Base      string             `json:"base"`
				Head      string             `json:"head"`
				Effect    any                `json:"effect"`
				Classes   []gate.ChangeClass `json:"classes"`
				Decision  gate.Decision      `json:"decision"`
				Approvers []string           `json:"approvers"`
				Evidence  string             `json:"evidence"`
			}{res.BaseCommit, res.HeadCommit, res.Effect, res.Input.Change.Classes, res.Decision, res.Approvers, res.EvidenceSource})
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
			if err := a.recordDecision(cmd, repo, signKey, push, res, req.PR, t); err != nil {
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
func (a *app) recordDecision(cmd *cobra.Command, repo *gitrepo.Repo, key, push string, res *change.Result, pr gate.PullRequest, now time.Time) error {
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
		PR: pr.Number, HeadSHA: res.HeadCommit, BaseSHA: res.BaseCommit, BaseRef: pr.BaseRef, EffectDigest: res.Effect.Digest,
		Approvers: res.Approvers, DecidedAt: now}
	w := &audit.Writer{Repo: repo, Signer: signer, Committer: gitrepo.Signature{Name: "patchbay", Email: "patchbay@localhost"}, Now: a.now}
	var rec *audit.Record
	if push != "" {
		rec, err = w.WriteAndPush(cmd.Context(), push, head, p)
	} else {
		rec, err = w.Write(cmd.Context(), head, p)
	}
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

// readRecordLines reads signed records, one envelope per non-empty line.
func readRecordLines(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--evidence: %w", err)
	}
	lines := [][]byte{}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return nil, usageError("--evidence %s holds no record", path)
	}
	return lines, nil
}

// readTrustKeys reads --trust key files. A key inside the checkout at dir
// is refused: in CI the checkout is the pull request's head, and a pull
// request must not choose the keys its evidence is checked with.
func readTrustKeys(dir string, paths []string) ([][]byte, error) {
	var out [][]byte
	root := checkoutRoot(dir)
	for _, p := range paths {
		if root != "" && within(root, p) {
			return nil, usageError("--trust %s lies inside the checkout %s, which the pull request controls; copy the key from the base branch to a path outside it (e.g. git show origin/main:keys/ci.pub > \"$RUNNER_TEMP/ci.pub\") or list it in config.trustedKeys", p, root)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--trust: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// checkoutRoot is the directory holding .git at or above dir, or "".
func checkoutRoot(dir string) string {
	d, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(d); err == nil {
		d = r
	}
	for {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

// within reports whether path (symlinks resolved) lies under root.
func within(root, path string) bool {
	p, err := filepath.Abs(path)
	if err != nil {
		return true
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
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
// Labels are plain strings or GitHub's label objects ({"name": ...}).
func readPR(path string) (gate.PullRequest, error) {
	// Not embedding gate.PullRequest: its tagged "labels" ([]string) would
	// win over a field here and refuse GitHub's label objects.
	var raw struct {
		Number     int               `json:"number"`
		Author     string            `json:"author"`
		LastPusher string            `json:"last_pusher"`
		HeadSHA    string            `json:"head_sha"`
		BaseRef    string            `json:"base_ref"`
		Labels     []json.RawMessage `json:"labels"`
		User       *gate.User        `json:"user"`
		Head       *struct {
			SHA string `json:"sha"`
		} `json:"head"`
		Base *struct {
			Ref string `json:"ref"`
		} `json:"base"`
	}
	if err := readJSON(path, &raw); err != nil {
		return gate.PullRequest{}, err
	}
	pr := gate.PullRequest{Number: raw.Number, Author: raw.Author, LastPusher: raw.LastPusher, HeadSHA: raw.HeadSHA, BaseRef: raw.BaseRef}
	if raw.User != nil && pr.Author == "" {
		pr.Author = raw.User.Login
	}
	if raw.Head != nil && pr.HeadSHA == "" {
		pr.HeadSHA = raw.Head.SHA
	}
	if raw.Base != nil && pr.BaseRef == "" {
		pr.BaseRef = raw.Base.Ref
	}
	for i, l := range raw.Labels {
		var s string
		if json.Unmarshal(l, &s) == nil {
			pr.Labels = append(pr.Labels, s)
			continue
		}
		var o struct {
			Name *string `json:"name"`
		}
		if err := json.Unmarshal(l, &o); err != nil || o.Name == nil {
			return pr, fmt.Errorf("%s: labels[%d]: want a string or {\"name\": ...}", path, i)
		}
		pr.Labels = append(pr.Labels, *o.Name)
	}
	return pr, nil
}
