package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/plural"
)

func (a *app) newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read, verify, export and write the signed audit trail",
		Long: `The audit trail is a chain of signed records (in-toto statements in DSSE
envelopes) kept as Git notes under refs/notes/patchbay on the commits they
are about; 'git log --notes=patchbay' shows them.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newAuditRecordCmd(), a.newAuditVerifyCmd(), a.newAuditLogCmd(), a.newAuditExportCmd())
	return cmd
}

// loadSigner loads a signing key: a KMS URI or a key file, decrypted with
// $PATCHBAY_KEY_PASSWORD.
func (a *app) loadSigner(ctx context.Context, ref string) (*audit.Signer, error) {
	if audit.IsKMSRef(ref) {
		return audit.LoadKMSSigner(ctx, ref)
	}
	pemBytes, err := os.ReadFile(ref)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return audit.SignerFromPEM(pemBytes, []byte(a.getenv(envKeyPassword)))
}

// loadTrustedKeys reads the --key files and adds the keys the patch
// repository at dir lists in config.trustedKeys at trustRef (the protected
// branch), when that commit holds a valid one. Keys never come from the
// working tree or HEAD: in CI those are the pull request's.
func (a *app) loadTrustedKeys(ctx context.Context, dir, trustRef string, paths []string) ([]audit.TrustedKey, error) {
	var pems [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("trusted key: %w", err)
		}
		pems = append(pems, b)
	}
	pems = append(pems, a.configKeys(ctx, dir, trustRef)...)
	keys, err := audit.ParseTrustedKeys(pems...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return keys, nil
}

// addTrustRefFlag adds --trust-ref, the ref whose config.trustedKeys are
// trusted.
func addTrustRefFlag(cmd *cobra.Command, ref *string) {
	cmd.Flags().StringVar(ref, "trust-ref", "main", "trust config.trustedKeys of this branch or ref (its remote-tracking origin/<ref> first); never the working tree")
}

// resolveTrustRef resolves a --trust-ref: refs/remotes/origin/REF, then
// refs/heads/REF, then REF as any revision.
func resolveTrustRef(repo *gitrepo.Repo, ref string) (gitrepo.Hash, error) {
	var firstErr error
	for _, rev := range []string{"refs/remotes/origin/" + ref, "refs/heads/" + ref, ref} {
		h, err := repo.Resolve(rev)
		if err == nil {
			return h, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return gitrepo.Hash{}, firstErr
}

// configKeys returns config.trustedKeys of the patch repository at ref of
// the Git repository at dir, or nothing (with a note) when there is none.
func (a *app) configKeys(ctx context.Context, dir, ref string) [][]byte {
	repo, err := openPatchGit(dir)
	if err != nil {
		return nil
	}
	defer repo.Close()
	head, err := resolveTrustRef(repo, ref)
	if err != nil {
		fmt.Fprintf(a.stderr, "note: config.trustedKeys not read: --trust-ref %s does not resolve\n", ref)
		return nil
	}
	tree, err := repo.TreeFS(head)
	if err != nil {
		return nil
	}
	if _, err := fs.Stat(tree, "patchbay.cue"); err != nil {
		return nil
	}
	model, err := baseline.Load(ctx, tree, baseline.Options{Now: a.now(), ExpiryAsFinding: true})
	if err != nil {
		fmt.Fprintf(a.stderr, "note: config.trustedKeys not read: the patch repository at %s does not validate (%v)\n", ref, firstLine(err))
		return nil
	}
	var out [][]byte
	names := make([]string, 0, len(model.Config.TrustedKeys))
	for name := range model.Config.TrustedKeys {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out = append(out, []byte(model.Config.TrustedKeys[name].PublicKey))
	}
	return out
}

func (a *app) newAuditRecordCmd() *cobra.Command {
	var dir, kind, commit, predFile, key, push string
	cmd := &cobra.Command{
		Use:   "record --kind KIND --commit REV --predicate FILE --key KEY",
		Short: "Sign a record and append it to the audit chain (for CI and the server)",
		Long: `Record is the low-level writer: it reads the predicate (JSON, the fields of
the kind's predicate without "chain"), validates it, wraps it in an in-toto
statement about the commit, signs it, chains it after the current head and
appends it to the commit's note under refs/notes/patchbay.

Kinds: gate.decision, change.merged, rollout.started, rollout.wave,
rollout.finished, ring.verified, exception.granted.

KEY is a key file (patchbay keys generate, or cosign generate-key-pair),
decrypted with $PATCHBAY_KEY_PASSWORD, or a KMS URI (awskms://, gcpkms://,
azurekms://, hashivault://) — KMS providers are not compiled into this
build. --push REMOTE also publishes the notes, re-chaining and retrying when
another writer pushed first.

Examples:
  patchbay audit record --kind ring.verified --commit HEAD --predicate verified.json --key patchbay.key
  patchbay audit record -C repo --kind change.merged --commit 3f2a... --predicate merged.json --key patchbay.key --push origin`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			for flag, v := range map[string]string{"--kind": kind, "--commit": commit, "--predicate": predFile, "--key": key} {
				if v == "" {
					return usageError("%s is required", flag)
				}
			}
			k, err := audit.ParseKind(kind)
			if err != nil {
				return usageError("--kind: %v", err)
			}
			p, err := audit.NewPredicate(k)
			if err != nil {
				return usageError("--kind: %v", err)
			}
			data, err := os.ReadFile(predFile)
			if err != nil {
				return fmt.Errorf("audit record: %w", err)
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(p); err != nil {
				return fmt.Errorf("audit record: %s: %w", predFile, err)
			}
			if err := p.Validate(); err != nil {
				return fmt.Errorf("audit record: %s: %w", predFile, err)
			}
			signer, err := a.loadSigner(ctx, key)
			if err != nil {
				return fmt.Errorf("audit record: %w", err)
			}
			repo, err := openPatchGit(dir)
			if err != nil {
				return err
			}
			defer repo.Close()
			h, err := repo.Resolve(commit)
			if err != nil {
				return usageError("--commit: %v", err)
			}
			w := &audit.Writer{Repo: repo, Signer: signer, Now: a.now}
			var rec *audit.Record
			if push != "" {
				rec, err = w.WriteAndPush(ctx, push, h, p)
			} else {
				rec, err = w.Write(ctx, h, p)
			}
			if err != nil {
				return fmt.Errorf("audit record: %w", err)
			}
			fmt.Fprintf(a.stdout, "recorded %s as record %d on %s (%s)\n", k, rec.Chain.Seq, h, rec.Digest)
			return nil
		},
	}
	addRepoFlag(cmd, &dir)
	cmd.Flags().StringVar(&kind, "kind", "", "record kind")
	cmd.Flags().StringVar(&commit, "commit", "", "the commit the record is about (any revision)")
	cmd.Flags().StringVar(&predFile, "predicate", "", "JSON file with the predicate")
	cmd.Flags().StringVar(&key, "key", "", "signing key file or KMS URI")
	cmd.Flags().StringVar(&push, "push", "", "also push the notes to this remote")
	return cmd
}

func (a *app) newAuditVerifyCmd() *cobra.Command {
	var dir, trustRef string
	var keys []string
	var cf *completeFlags
	cmd := &cobra.Command{
		Use:   "verify -C DIR --key PUB...",
		Short: "Verify every record's signature and the whole chain",
		Long: `Verify checks every record under refs/notes/patchbay: its DSSE signature
against the trusted public keys (--key, repeatable, and config.trustedKeys of
the patch repository on the protected branch, --trust-ref, default main:
origin/main when fetched, else main; never the working tree or HEAD, which
in CI is the pull request's), its place in the hash
chain, that it sits on the commit it is about and that the chain ends at the
head the notes ref names. Nothing is skipped: an unsigned record, a key not
trusted, or no trusted key at all fails.

On failure it lists every problem — the record (seq, kind, commit, line) and
why: bad signature, unknown key, missing predecessor, digest mismatch, out
of order, wrong subject, fork, head mismatch, notes changed outside patchbay
— and exits 4.

It then checks that the trail is complete, not only intact, along the
first-parent history of --branch: every commit that moved a ring (from the
first one patchbay recorded) has its change.merged and rollout.started, every
rollout replaced by a later one its rollout.finished, every promotion the
previous ring's ring.verified; and the chain holds at least --expect-seq
records. A repository without refs/notes/patchbay (a plain git clone does
not fetch notes: pass --remote origin) or with merges but no record fails.
Each gap is printed as MISSING and the exit code is 4.

Examples:
  patchbay audit verify -C . --key keys/patchbay.pub --remote origin
  patchbay audit verify -C . --key keys/patchbay.pub --expect-seq 1832
  patchbay audit verify --key ci.pub --key server.pub --format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			trusted, err := a.loadTrustedKeys(cmd.Context(), dir, trustRef, keys)
			if err != nil {
				return err
			}
			if len(trusted) == 0 {
				return fmt.Errorf("%w: %w: pass the trusted public keys with --key or list them in config.trustedKeys", errVerification, audit.ErrNoTrustedKeys)
			}
			repo, err := openPatchGit(dir)
			if err != nil {
				return err
			}
			defer repo.Close()
			if err := cf.fetch(cmd.Context(), a, repo); err != nil {
				return err
			}
			log, err := audit.Verify(cmd.Context(), repo, trusted)
			var ve *audit.VerifyError
			if err != nil && !errors.As(err, &ve) {
				return err
			}
			if ve != nil {
				for _, p := range ve.Problems {
					fmt.Fprintf(a.stdout, "FAIL %s\n", p)
				}
				return fmt.Errorf("%w: %s in %s; first: %s", errVerification, plural.Count(len(ve.Problems), "problem"), plural.Count(len(log.Records), "record"), ve.Problems[0])
			}
			fmt.Fprintf(a.stdout, "OK %s verified", plural.Count(len(log.Records), "record"))
			if n := len(log.Records); n > 0 {
				fmt.Fprintf(a.stdout, "; chain head record %d %s", log.Head.Seq, log.Head.Digest)
			}
			fmt.Fprintln(a.stdout)
			if err := cf.check(cmd.Context(), a, repo, log); err != nil {
				return err
			}
			if !cf.integrity {
				fmt.Fprintf(a.stdout, "OK complete along %s", cf.branch)
				if cf.expectSeq > 0 {
					fmt.Fprintf(a.stdout, "; at least %d records as expected", cf.expectSeq)
				}
				fmt.Fprintln(a.stdout)
			}
			return nil
		},
	}
	addRepoFlag(cmd, &dir)
	cmd.Flags().StringArrayVar(&keys, "key", nil, "trusted public key file (PEM); repeatable")
	addTrustRefFlag(cmd, &trustRef)
	cf = addCompleteFlags(cmd, true)
	return cmd
}

// parseSince accepts RFC 3339, a date, or a duration back from now (72h, 30d).
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(d, "%d", &n); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usageError("--since %q: want RFC 3339, YYYY-MM-DD, or a duration like 72h or 30d", s)
}

// openPatchGit opens the Git repository of the patch repository at dir. It
// refuses a directory inside a larger Git repository (examples/quickstart
// in a patchbay checkout): the history, the records and the trees patchbay
// reads are the whole repository's, so they would be another project's.
func openPatchGit(dir string) (*gitrepo.Repo, error) {
	repo, err := gitrepo.Open(dir)
	if err != nil {
		return nil, err
	}
	root := repo.Root()
	if root == "" {
		return repo, nil // bare
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		repo.Close()
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	if realRoot, err := filepath.EvalSymlinks(root); err == nil {
		root = realRoot
	}
	if abs != root {
		repo.Close()
		return nil, usageError("%s is not the root of a Git repository: it sits inside the Git repository at %s, whose history is not the patch repository's. "+
			"Point -C at a patch repository that is a Git repository of its own (for the bundled example: 'patchbay demo --dir ./demo', then -C ./demo/patches; or copy it out and run git init)",
			dir, root)
	}
	return repo, nil
}
