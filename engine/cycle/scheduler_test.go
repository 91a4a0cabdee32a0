package cycle_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/cycle"
	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/github/githubtest"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/inventory"
)

// signedNotes is a RecordSink that signs each record and writes it as a
// Git note on the commit, as the rollout controller's outbox publishes.
type signedNotes struct {
	w *audit.Writer
}

func (s signedNotes) Enqueue(ctx context.Context, commit gitrepo.Hash, p audit.Predicate, _ string) error {
	_, err := s.w.Write(ctx, commit, p)
	return err
}

// TestSchedulerOncePerPeriod: the server's scheduler runs a cycle of
// config.cycles when its period begins, once; a restarted scheduler (new
// state) in the same period opens no second pull request; each run's
// record is signed on the main-branch commit and shows in the audit trail.
func TestSchedulerOncePerPeriod(t *testing.T) {
	ctx := context.Background()
	srv := feeds(t)
	cache := t.TempDir()
	srcs := advisory.Sources(map[string][]string{"ubuntu-24.04": {srv.URL + "/ubuntu/all.zip"}}, srv.URL+"/kev.json", srv.URL+"/epss.csv")
	dir := quickstartGit(t)
	cfg, _ := os.ReadFile(filepath.Join(dir, "patchbay.cue"))
	cfg = append(cfg, []byte("\nconfig: cycles: [{name: \"monthly\", schedule: {every: \"month\", week: 2, weekday: \"tuesday\", at: \"10:00\"}, streams: [\"ubuntu-24.04\"]}]\n")...)
	os.WriteFile(filepath.Join(dir, "patchbay.cue"), cfg, 0o644)
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", "monthly cycle"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.invalid"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	var reports []*inventory.Report
	if err := inventory.ReadPath(ctx, filepath.Join(dir, "inventory"), &inventory.Decoder{Cache: inventory.NewSetCache()}, func(r *inventory.Report) error {
		reports = append(reports, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	gs := githubtest.New(t, "o", "r")
	gs.Token = "ghs_app_installation"
	if err := gs.ServeGit(dir); err != nil {
		t.Fatal(err)
	}
	client, _ := github.NewClient(github.ClientConfig{APIURL: gs.APIURL(), Tokens: github.StaticToken(gs.Token)})
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sv, _ := signature.LoadECDSASignerVerifier(k, crypto.SHA256)
	signer, err := audit.NewSigner(sv)
	if err != nil {
		t.Fatal(err)
	}
	notesRepo, err := gitrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer notesRepo.Close()

	clock := time.Date(2026, 12, 8, 9, 59, 0, 0, time.UTC) // a minute before the second Tuesday, 10:00
	syncs := 0
	env := cycle.Funcs{
		HeadFunc: func(ctx context.Context) (*cycle.Head, error) {
			repo, err := gitrepo.Open(dir)
			if err != nil {
				return nil, err
			}
			h, err := repo.Resolve("refs/heads/main")
			if err != nil {
				repo.Close()
				return nil, err
			}
			return cycle.GitHead(ctx, repo, "main", h.String(), clock)
		},
		FeedsFunc: func(ctx context.Context) (*advisory.DB, error) {
			syncs++
			if _, err := advisory.Sync(ctx, cache, srcs, advisory.SyncOptions{Client: srv.Client()}); err != nil {
				return nil, err
			}
			return advisory.LoadDir(ctx, cache, false)
		},
		ReportsFunc: func(context.Context) ([]*inventory.Report, error) { return reports, nil },
	}
	newScheduler := func() *cycle.Scheduler {
		return &cycle.Scheduler{Env: env, Client: client, Owner: "o", Name: "r", Now: func() time.Time { return clock },
			Sink: signedNotes{&audit.Writer{Repo: notesRepo, Signer: signer, Committer: gitrepo.Signature{Name: "patchbay", Email: "patchbay@localhost"}, Now: func() time.Time { return clock }}}}
	}
	s := newScheduler()
	// Before the occurrence the current period is November's: it runs
	// (catch-up), then nothing until December's begins.
	res, err := s.Tick(ctx)
	if err != nil || len(res) != 1 || res[0].Record.Period != "2026-11-10" || res[0].Record.Outcome != audit.CycleOpened {
		t.Fatalf("first tick: %v %+v", err, res)
	}
	clock = clock.Add(30 * time.Second)
	if res, err := s.Tick(ctx); err != nil || len(res) != 0 {
		t.Fatalf("same period ran again: %v %d", err, len(res))
	}
	clock = clock.Add(time.Minute) // 10:00:30 on the second Tuesday
	res, err = s.Tick(ctx)
	if err != nil || len(res) != 1 || res[0].Record.Period != "2026-12-08" || res[0].Record.Outcome != audit.CycleOpened || res[0].Record.PR != 2 {
		t.Fatalf("December: %v %+v", err, res)
	}
	// A restart: fresh state, same period. The branch is found, no second
	// pull request is opened.
	s = newScheduler()
	clock = clock.Add(time.Hour)
	res, err = s.Tick(ctx)
	if err != nil || len(res) != 1 || res[0].Record.Outcome != audit.CycleExisting || res[0].Record.PR != 2 {
		t.Fatalf("after a restart: %v %+v", err, res)
	}
	if n := len(gs.Created()); n != 2 {
		t.Fatalf("%d pull requests, want 2 (November, December)", n)
	}
	if syncs != 3 {
		t.Errorf("feeds synced %d times, want once per run (3)", syncs)
	}
	// The records are signed notes on the main-branch commit, and the
	// audit trail shows them.
	changes, err := audit.Trail(ctx, notesRepo, nil, audit.TrailOptions{Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ch := range changes {
		for _, c := range ch.Cycles {
			got = append(got, c.Period+" "+c.Outcome)
		}
	}
	if strings.Join(got, ", ") != "2026-11-10 opened, 2026-12-08 opened, 2026-12-08 existing" {
		t.Fatalf("trail cycles: %v", got)
	}
	pem, err := cryptoutils.MarshalPublicKeyToPEM(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := audit.ParseTrustedKeys(pem)
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Verify(ctx, notesRepo, keys)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if len(log.Records) != 3 || log.Records[0].Kind != audit.KindCycleProposal {
		t.Fatalf("%d records", len(log.Records))
	}
}

// TestSchedulerRetriesAfterFailure: feeds that cannot be read make the due
// cycle wait RetryAfter before the next attempt, not one tick.
func TestSchedulerRetriesAfterFailure(t *testing.T) {
	dir := quickstartGit(t)
	cfg, _ := os.ReadFile(filepath.Join(dir, "patchbay.cue"))
	os.WriteFile(filepath.Join(dir, "patchbay.cue"), append(cfg, []byte("\nconfig: cycles: [{name: \"daily\", schedule: every: \"day\"}]\n")...), 0o644)
	clock := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	tries := 0
	s := &cycle.Scheduler{Now: func() time.Time { return clock }, RetryAfter: 10 * time.Minute, Env: cycle.Funcs{
		HeadFunc: func(ctx context.Context) (*cycle.Head, error) {
			model, err := baseline.LoadDir(ctx, dir, baseline.Options{Now: clock})
			if err != nil {
				return nil, err
			}
			return &cycle.Head{Repo: model, Tree: os.DirFS(dir), Branch: "main", Commit: strings.Repeat("a", 40)}, nil
		},
		FeedsFunc: func(context.Context) (*advisory.DB, error) {
			tries++
			return nil, errors.New("the advisory cache holds no advisories")
		},
		ReportsFunc: func(context.Context) ([]*inventory.Report, error) { return nil, nil },
	}}
	if _, err := s.Tick(context.Background()); err == nil {
		t.Fatal("no error from a tick without feeds")
	}
	for range 3 {
		clock = clock.Add(time.Minute)
		s.Tick(context.Background())
	}
	if tries != 1 {
		t.Fatalf("feeds read %d times in 3 minutes, want 1 (retry after 10m)", tries)
	}
	clock = clock.Add(10 * time.Minute)
	s.Tick(context.Background())
	if tries != 2 {
		t.Fatalf("feeds read %d times after RetryAfter, want 2", tries)
	}
}
