package rollout_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/rollout"
)

// TestDirectPushIsUnreviewed: a push to main with no pull request and no
// gate decision starts nothing; the rollout waits as unreviewed, with a
// rollout.unreviewed record, until an admin approves it with a reason,
// which writes a signed rollout.approved naming who and why.
func TestDirectPushIsUnreviewed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "patchbay.db"))
	c := e.controller("a", nil)
	e.step(ctx, c)
	e.git.Commit("push straight to main", map[string]string{
		"rings/canary.cue": e.file("rings/canary.cue", `baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`)})
	e.step(ctx, c)
	id := canaryRollout(t, ctx, c)
	v, err := c.Show(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if v.State != rollout.StateUnreviewed || !strings.Contains(v.Hold, "no merged pull request with counted approvals") {
		t.Fatalf("direct push: state %s, hold %q; want unreviewed", v.State, v.Hold)
	}
	for range 3 {
		e.clk.Advance(time.Minute)
		e.step(ctx, c)
		if busy := e.agents(ctx, c, nil); len(busy) > 0 {
			t.Fatalf("hosts got work from an unreviewed rollout: %v", busy)
		}
	}
	recs := e.records(ctx)
	if recs["rollout.unreviewed"] != 1 || recs["rollout.started"] != 0 {
		t.Fatalf("records %v: want one rollout.unreviewed and no rollout.started", recs)
	}

	// Approving needs a reason; the record names the admin and the reason.
	if _, err := c.Approve(ctx, id, "ops", " "); !errors.Is(err, rollout.ErrNoReason) {
		t.Fatalf("approve without a reason: %v", err)
	}
	if v, err = c.Approve(ctx, id, "ops", "hotfix for an active exploit, reviewed on the bridge call"); err != nil || v.State != rollout.StateRunning {
		t.Fatalf("approve: %+v %v", v.State, err)
	}
	if _, err := c.Approve(ctx, id, "ops", "again"); !errors.Is(err, rollout.ErrState) {
		t.Fatalf("approve twice: %v", err)
	}
	e.step(ctx, c)
	if busy := e.agents(ctx, c, nil); len(busy) == 0 {
		t.Fatal("no host got work after the approval")
	}
	e.step(ctx, c)
	log, err := audit.Read(ctx, e.repo)
	if err != nil {
		t.Fatal(err)
	}
	recsA := log.Of(audit.KindRolloutApproved)
	if len(recsA) != 1 {
		t.Fatalf("rollout.approved records: %d", len(recsA))
	}
	p, err := recsA[0].Decode()
	if err != nil {
		t.Fatal(err)
	}
	if a := p.(*audit.RolloutApproved); a.Actor != "ops" || !strings.Contains(a.Reason, "active exploit") || a.RolloutID != id {
		t.Errorf("rollout.approved = %+v", a)
	}
	keys, err := audit.ParseTrustedKeys(e.pub)
	if err != nil {
		t.Fatal(err)
	}
	if probs := audit.VerifyLog(log, keys); len(probs) > 0 {
		t.Errorf("the trail does not verify: %v", probs)
	}
}

// TestForgedDecisionDoesNotReview: a passing gate.decision signed by a
// key nobody trusts does not count as a review.
func TestForgedDecisionDoesNotReview(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "patchbay.db"))
	c := e.controller("a", nil)
	e.step(ctx, c)
	priv, _, err := audit.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	forger, err := audit.SignerFromPEM(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	trusted := e.signer
	e.signer = forger
	e.mergeCanary()
	e.signer = trusted
	e.step(ctx, c)
	v, err := c.Show(ctx, canaryRollout(t, ctx, c))
	if err != nil {
		t.Fatal(err)
	}
	if v.State != rollout.StateUnreviewed {
		t.Fatalf("state %s with a decision signed by an untrusted key; want unreviewed", v.State)
	}
}

// TestNoHostsNoEvidence: a rollout in a ring with no hosts changes
// nothing, so it writes no ring.verified, however long it soaks.
func TestNoHostsNoEvidence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "patchbay.db"))
	e.mu.Lock()
	for id, r := range e.reports {
		if strings.Contains(id, "canary") || r.Labels["ring"] == "canary" {
			delete(e.reports, id)
		}
	}
	e.mu.Unlock()
	c := e.controller("a", nil)
	e.step(ctx, c)
	e.mergeCanary()
	for range 5 {
		e.step(ctx, c)
		e.clk.Advance(48 * time.Hour)
	}
	e.step(ctx, c)
	v, err := c.Show(ctx, canaryRollout(t, ctx, c))
	if err != nil {
		t.Fatal(err)
	}
	if n := e.records(ctx)["ring.verified"]; n != 0 || v.State == rollout.StateVerified {
		t.Fatalf("ring.verified records %d, state %s (hold %q); want none for a rollout that changed no host", n, v.State, v.Hold)
	}
	if !strings.Contains(v.Hold, "changed no host") {
		t.Errorf("hold %q does not say why", v.Hold)
	}
}
