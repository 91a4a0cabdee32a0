package main

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/history"
	"github.com/patchbay/patchbay/engine/plural"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/spf13/cobra"
)

// bundleFormat names the export bundle's schema.
const bundleFormat = "patchbay.dev/audit-bundle/v1"

// bundle is an auditor's export: every change on the main branch with its
// records, every record (so the chain can be re-verified offline) and the
// public keys that signed them.
type bundle struct {
	Format       string         `json:"format"`
	GeneratedAt  time.Time      `json:"generatedAt"`
	Repository   string         `json:"repository"`
	Branch       string         `json:"branch"`
	Verification bundleVerify   `json:"verification"`
	Keys         []bundleKey    `json:"keys"`
	Changes      []bundleChange `json:"changes"`
	Records      []bundleRecord `json:"records"`
	// Evidence is per host and rule: when it became compliant, under which
	// rollout, change and approvals (with --db).
	Evidence []history.EvidenceRow `json:"evidence,omitempty"`
}

type bundleVerify struct {
	// Verified is true only when every signature and the chain verified
	// against Keys.
	Verified   bool     `json:"verified"`
	Records    int      `json:"records"`
	HeadSeq    int64    `json:"headSeq"`
	HeadDigest string   `json:"headDigest,omitempty"`
	Problems   []string `json:"problems"`
}

type bundleKey struct {
	KeyID string `json:"keyid"`
	PEM   string `json:"pem"`
}

type bundleChange struct {
	audit.Change
	Records []recordRef `json:"records"`
}

type bundleRecord struct {
	Seq       int64           `json:"seq"`
	Kind      string          `json:"kind"`
	Commit    string          `json:"commit"`
	Line      int             `json:"line"`
	Digest    string          `json:"digest"`
	KeyIDs    []string        `json:"keyids"`
	Statement json.RawMessage `json:"statement,omitempty"`
	// Envelope is the DSSE envelope exactly as stored in the note.
	Envelope json.RawMessage `json:"envelope"`
}

func (a *app) newAuditExportCmd() *cobra.Command {
	var dir, out, branch, trustRef, db string
	var keys []string
	var fmtFlag *formatFlag
	var cf *completeFlags
	cmd := &cobra.Command{
		Use:   "export -C DIR --out FILE --key PUB...",
		Short: "Write an auditor's bundle: every change, its records and the keys to verify them",
		Long: `Export verifies the trail (as 'audit verify' does, against --key) and writes a
bundle an auditor can check offline: every change on the main branch with
its pull request, approvers, gate decision, rollouts and verifications;
every record with its DSSE envelope exactly as stored; and the public keys
that signed them.

Formats: json (the full bundle), csv (one row per record), html (one
self-contained page for people: inline CSS, no external assets).

With --db (the server's store) the bundle also holds per-host evidence: for
each host and rule, when it became compliant, under which rollout, and so
which change, pull request and approvers.

The bundle is written even when verification fails — it then says so and
lists the problems — and the command exits 4. Without --key nothing is
verified and the command exits 4 too.

Examples:
  patchbay audit export -C . --out audit.html --format html --key keys/patchbay.pub
  patchbay audit export --out audit.json --key patchbay.pub`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := fmtFlag.get()
			if err != nil {
				return err
			}
			if out == "" {
				return usageError("--out FILE is required")
			}
			trusted, err := a.loadTrustedKeys(cmd.Context(), dir, trustRef, keys)
			if err != nil {
				return err
			}
			repo, err := openPatchGit(dir)
			if err != nil {
				return err
			}
			defer repo.Close()
			ctx := cmd.Context()
			if err := cf.fetch(ctx, a, repo); err != nil {
				return err
			}
			log, err := audit.Read(ctx, repo)
			if err != nil {
				return err
			}
			var problems []audit.Problem
			if len(trusted) > 0 {
				problems = audit.VerifyLog(log, trusted)
			}
			changes, err := audit.Trail(ctx, repo, log, audit.TrailOptions{Branch: branch, Subjects: true})
			if err != nil {
				return err
			}
			abs, _ := filepath.Abs(dir)
			b := newBundle(a.now().UTC(), filepath.Base(abs), branch, log, changes, trusted, problems)
			if db != "" {
				st, err := store.Open(ctx, db, store.Options{})
				if err != nil {
					return fmt.Errorf("open store: %w", err)
				}
				rows, err := history.HostEvidence(ctx, st, time.Time{})
				st.Close()
				if err != nil {
					return fmt.Errorf("audit export: evidence: %w", err)
				}
				b.Evidence = evidence(rows, changes)
			}
			var buf bytes.Buffer
			switch format {
			case "json":
				enc := json.NewEncoder(&buf)
				enc.SetIndent("", "  ")
				err = enc.Encode(b)
			case "csv":
				err = writeBundleCSV(&buf, b)
			case "html":
				err = writeBundleHTML(&buf, b)
			}
			if err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			fmt.Fprintf(a.stdout, "wrote %s: %s, %s", out, plural.Count(len(b.Changes), "change"), plural.Count(len(b.Records), "record"))
			if db != "" {
				fmt.Fprintf(a.stdout, ", evidence for %s", plural.Count(len(b.Evidence), "host rule"))
			}
			fmt.Fprintln(a.stdout)
			switch {
			case log.Head.Tip.IsZero() && len(log.Records) == 0:
				return fmt.Errorf("%w: no %s in %s: the bundle holds no record (a plain git clone does not fetch notes: pass --remote origin)", errVerification, gitrepo.NotesRef, dir)
			case len(trusted) == 0:
				return fmt.Errorf("%w: %w: the bundle is marked unverified; pass --key", errVerification, audit.ErrNoTrustedKeys)
			case len(problems) > 0:
				return fmt.Errorf("%w: %s, first: %s (listed in the bundle)", errVerification, plural.Count(len(problems), "problem"), problems[0])
			}
			return nil
		},
	}
	addRepoFlag(cmd, &dir)
	fmtFlag = addFormatFlag(cmd, "json", "csv", "html")
	cmd.Flags().StringVar(&out, "out", "", "file to write the bundle to")
	cmd.Flags().StringVar(&branch, "branch", "main", "the main branch")
	cmd.Flags().StringArrayVar(&keys, "key", nil, "trusted public key file (PEM); repeatable")
	addTrustRefFlag(cmd, &trustRef)
	cf = addCompleteFlags(cmd, false)
	cmd.Flags().StringVar(&db, "db", "", "the server's store, for per-host evidence: sqlite://PATH or postgres://...")
	return cmd
}

func newBundle(now time.Time, repo, branch string, log *audit.Log, changes []audit.Change, trusted []audit.TrustedKey, problems []audit.Problem) *bundle {
	b := &bundle{Format: bundleFormat, GeneratedAt: now, Repository: repo, Branch: branch,
		Keys: []bundleKey{}, Changes: []bundleChange{}, Records: []bundleRecord{}}
	b.Verification = bundleVerify{Verified: len(trusted) > 0 && len(problems) == 0, Records: len(log.Records),
		HeadSeq: log.Head.Seq, HeadDigest: log.Head.Digest, Problems: []string{}}
	if len(trusted) == 0 {
		b.Verification.Problems = append(b.Verification.Problems, "not verified: no trusted public keys given")
	}
	for _, p := range problems {
		b.Verification.Problems = append(b.Verification.Problems, p.String())
	}
	used := map[string]bool{}
	for _, r := range log.Records {
		br := bundleRecord{Seq: r.Chain.Seq, Kind: string(r.Kind), Commit: r.Commit, Line: r.Line, Digest: r.Digest, KeyIDs: []string{}}
		if json.Valid(r.Raw) {
			br.Envelope = json.RawMessage(r.Raw)
		} else {
			br.Envelope, _ = json.Marshal(string(r.Raw))
		}
		for _, s := range r.Envelope.Signatures {
			br.KeyIDs = append(br.KeyIDs, s.KeyID)
			used[s.KeyID] = true
		}
		if p, err := base64.StdEncoding.DecodeString(r.Envelope.Payload); err == nil && json.Valid(p) {
			br.Statement = p
		}
		b.Records = append(b.Records, br)
	}
	for _, k := range trusted {
		if used[k.ID] {
			b.Keys = append(b.Keys, bundleKey{KeyID: k.ID, PEM: string(k.PEM)})
		}
	}
	for _, c := range changes {
		b.Changes = append(b.Changes, bundleChange{Change: c, Records: refs(c.Records)})
	}
	return b
}

func writeBundleCSV(w io.Writer, b *bundle) error {
	cw := csv.NewWriter(w)
	prOf := map[string]string{}
	for _, c := range b.Changes {
		for _, r := range c.Records {
			if c.PR > 0 {
				prOf[r.Digest] = strconv.Itoa(c.PR)
			}
		}
	}
	if err := cw.Write([]string{"seq", "kind", "commit", "line", "pr", "ring", "summary", "digest", "keyids", "verified"}); err != nil {
		return err
	}
	for _, r := range b.Records {
		ring, summary := summarizeRecord(r.Statement)
		err := cw.Write([]string{strconv.FormatInt(r.Seq, 10), r.Kind, r.Commit, strconv.Itoa(r.Line), prOf[r.Digest],
			ring, summary, r.Digest, strings.Join(r.KeyIDs, " "), strconv.FormatBool(b.Verification.Verified)})
		if err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// summarizeRecord returns a record's ring and a one-line summary of its predicate.
func summarizeRecord(statement json.RawMessage) (ring, summary string) {
	var st struct {
		Predicate map[string]any `json:"predicate"`
	}
	if json.Unmarshal(statement, &st) != nil || st.Predicate == nil {
		return "", ""
	}
	if r, ok := st.Predicate["ring"].(string); ok {
		ring = r
	}
	var parts []string
	keys := make([]string, 0, len(st.Predicate))
	for k := range st.Predicate {
		if k != "chain" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := st.Predicate[k]
		switch v := v.(type) {
		case string:
			if strings.HasPrefix(v, "sha256:") || len(v) == 40 {
				continue // digests and commits have their own columns or are in the bundle
			}
			parts = append(parts, k+"="+v)
		case float64, bool:
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		case []any:
			if len(v) > 0 {
				parts = append(parts, fmt.Sprintf("%s=%v", k, v))
			}
		}
	}
	return ring, strings.Join(parts, " ")
}

//go:embed audit_export.html.tmpl
var bundleHTML string

func writeBundleHTML(w io.Writer, b *bundle) error {
	t, err := template.New("bundle").Funcs(template.FuncMap{
		"short": func(s string) string {
			prefix := ""
			if rest, ok := strings.CutPrefix(s, "sha256:"); ok {
				prefix, s = "sha256:", rest
			}
			if len(s) > 12 {
				s = s[:12]
			}
			return prefix + s
		},
		"plural": func(n int, word string) string {
			if n == 1 {
				return fmt.Sprintf("%d %s", n, word)
			}
			return fmt.Sprintf("%d %ss", n, word)
		},
		"date":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"join":      strings.Join,
		"pct":       func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
		"summarize": func(st json.RawMessage) string { _, s := summarizeRecord(st); return s },
		"record": func(d string) *bundleRecord {
			for i := range b.Records {
				if b.Records[i].Digest == d {
					return &b.Records[i]
				}
			}
			return nil
		},
		"pretty": func(raw json.RawMessage) string {
			var buf bytes.Buffer
			if json.Indent(&buf, raw, "", "  ") != nil {
				return string(raw)
			}
			return buf.String()
		},
	}).Parse(bundleHTML)
	if err != nil {
		return err
	}
	if err := t.Execute(w, b); err != nil {
		return errors.New("render html: " + err.Error())
	}
	return nil
}
