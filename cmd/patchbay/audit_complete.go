package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/rollout"
)

// completeFlags are audit verify's completeness and remote flags; they
// are kept apart from the integrity check (keys, signatures, chain).
type completeFlags struct {
	remote    string
	branch    string
	expectSeq int64
	grace     time.Duration
	integrity bool
}

func addCompleteFlags(cmd *cobra.Command, verify bool) *completeFlags {
	f := &completeFlags{}
	fl := cmd.Flags()
	fl.StringVar(&f.remote, "remote", "", "fetch refs/notes/patchbay from this remote (a name like origin, or a URL) first; a plain git clone does not fetch notes")
	if !verify {
		return f
	}
	fl.StringVar(&f.branch, "branch", "main", "the protected branch whose first-parent history must have its records")
	fl.Int64Var(&f.expectSeq, "expect-seq", 0, "fail unless the chain has at least this many records (the seq a server's GET /api/v1/audit/head or CI acknowledged)")
	fl.DurationVar(&f.grace, "grace", 10*time.Minute, "commits newer than this may still be waiting for the controller and are not required to have records")
	fl.BoolVar(&f.integrity, "integrity-only", false, "check signatures and the chain only, not completeness")
	return f
}

// fetch fetches the remote's notes when --remote is given and says so; it
// says so too when the remote has none.
func (f *completeFlags) fetch(ctx context.Context, a *app, repo *gitrepo.Repo) error {
	if f.remote == "" {
		return nil
	}
	var au gitrepo.Auth
	if tf := a.getenv(envGitTokenFile); tf != "" {
		b, err := os.ReadFile(tf)
		if err != nil {
			return fmt.Errorf("$%s: %w", envGitTokenFile, err)
		}
		au.Token = strings.TrimSpace(string(b))
	}
	found, err := repo.FetchNotesFrom(ctx, f.remote, au)
	if err != nil {
		return errors.New(strings.ReplaceAll(err.Error(), f.remote, redactURL(f.remote)))
	}
	if !found {
		fmt.Fprintf(a.stderr, "patchbay: %s has no %s: nothing was ever published there\n", redactURL(f.remote), gitrepo.NotesRef)
		return nil
	}
	fmt.Fprintf(a.stderr, "patchbay: fetched %s from %s\n", gitrepo.NotesRef, redactURL(f.remote))
	return nil
}

// check runs the completeness check on a verified log and prints every
// gap; gaps are a verification failure (exit 4).
func (f *completeFlags) check(ctx context.Context, a *app, repo *gitrepo.Repo, log *audit.Log) error {
	if f.integrity {
		return nil
	}
	now := a.now()
	mv := &rollout.Mover{Repo: repo, Now: now}
	opts := audit.CompleteOptions{Branch: f.branch, Moved: mv.Moved, ExpectSeq: f.expectSeq}
	if f.grace > 0 {
		opts.NotBefore = now.Add(-f.grace)
	}
	if head, err := repo.Head(f.branch); err == nil {
		opts.Previous = mv.Previous(ctx, head)
	}
	gaps, err := audit.Complete(ctx, repo, log, opts)
	if err != nil {
		return err
	}
	for _, g := range gaps {
		fmt.Fprintf(a.stdout, "MISSING %s\n", g)
	}
	if len(gaps) > 0 {
		return fmt.Errorf("%w: the audit trail is incomplete: %d gap(s); first: %s", errVerification, len(gaps), gaps[0])
	}
	return nil
}
