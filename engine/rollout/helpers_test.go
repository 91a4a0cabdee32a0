package rollout_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/gate"
)

// postgresURL creates a schema of its own for the test and returns a URL
// whose search_path points at it; it skips without PATCHBAY_TEST_POSTGRES.
func postgresURL(t testing.TB) string {
	base := os.Getenv("PATCHBAY_TEST_POSTGRES")
	if base == "" {
		t.Skip("PATCHBAY_TEST_POSTGRES not set; skipping PostgreSQL")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pb_rollout_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
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
