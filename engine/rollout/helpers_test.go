package rollout_test

import (
	"context"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

// postgresURL creates a schema of its own for the test and returns a URL
// whose search_path points at it; it skips without PATCHBAY_TEST_POSTGRES.
func postgresURL(t testing.TB) string {
	return storetest.PostgresURL(t, "skipping PostgreSQL")
}

// gate evaluates the pull request base..head with two SRE approvals, the
// evidence read from the audit trail, the controller's key trusted.
func (e *env) gate(ctx context.Context, base, head string, at time.Time) string {
	e.t.Helper()
	pr := gate.PullRequest{Number: 9, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: head}
	reviews := []gate.Review{
		{User: gate.User{Login: "sre-lead"}, State: "APPROVED", CommitID: head, SubmittedAt: at.Add(-time.Hour)},
		{User: gate.User{Login: "sre-oncall"}, State: "APPROVED", CommitID: head, SubmittedAt: at.Add(-time.Hour)},
	}
	res, err := change.NewEvaluator().Evaluate(ctx, change.Request{Repo: e.repo, Base: base, Head: head, PR: pr, Reviews: reviews,
		TrustedKeys: [][]byte{e.pub}, Now: at})
	if err != nil {
		e.t.Fatalf("gate: %v", err)
	}
	if res.Decision.Result != gate.Pass {
		e.t.Logf("gate %s: evidence %s; missing %+v; deny %+v", res.Decision.Result, res.EvidenceSource, res.Decision.Missing, res.Decision.Deny)
	}
	return string(res.Decision.Result)
}
