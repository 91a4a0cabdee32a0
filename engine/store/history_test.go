package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testHistory: a row only when a state changes; a rule that disappears
// gets a closing row; roll-ups are replaced per day; pruning keeps the
// state in force at the cut.
func testHistory(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	s := mustOpen(t, newURL(t), Options{})
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	ssl := HistoryRule{Stream: "debian-12", Kind: "source", Name: "openssl", Severity: "critical", KEV: true, Since: t0.Add(-48 * time.Hour)}
	curl := HistoryRule{Stream: "debian-12", Kind: "package", Name: "curl", Severity: "high"}
	const missing, installed = 4, 1
	rec := func(at time.Time, host string, sts ...HostState) int {
		t.Helper()
		n, err := s.RecordStates(ctx, []HostStates{{HostID: host, At: at, States: sts}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	dl := t0.Add(14 * 24 * time.Hour)
	if n := rec(t0, "h1", HostState{Rule: ssl, State: missing, Deadline: dl}, HostState{Rule: curl, State: installed}); n != 2 {
		t.Fatalf("first record: %d rows, want 2", n)
	}
	// The same states again: nothing is written.
	if n := rec(t0.Add(time.Hour), "h1", HostState{Rule: ssl, State: missing, Deadline: dl}, HostState{Rule: curl, State: installed}); n != 0 {
		t.Fatalf("unchanged record: %d rows, want 0", n)
	}
	// openssl fixed under a rollout; curl's rule left the baseline.
	if n := rec(t0.Add(3*24*time.Hour), "h1", HostState{Rule: ssl, State: installed, RolloutID: "r1"}); n != 2 {
		t.Fatalf("change record: %d rows, want 2", n)
	}
	if n := rec(t0.Add(4*24*time.Hour), "h2", HostState{Rule: ssl, State: installed}); n != 1 {
		t.Fatalf("h2: %d rows", n)
	}
	if _, err := s.RecordStates(ctx, []HostStates{{HostID: "h3", At: t0, States: []HostState{{Rule: ssl}}}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("state 0: err = %v, want ErrInvalid", err)
	}
	got, err := s.StateChanges(ctx, ChangeFilter{HostID: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []HistoryChange{
		{HostID: "h1", At: t0, HostState: HostState{Rule: curl, State: installed}},
		{HostID: "h1", At: t0, HostState: HostState{Rule: ssl, State: missing, Deadline: dl}},
		{HostID: "h1", At: t0.Add(72 * time.Hour), HostState: HostState{Rule: curl, State: 0}},
		{HostID: "h1", At: t0.Add(72 * time.Hour), HostState: HostState{Rule: ssl, State: installed, RolloutID: "r1"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("h1 changes (-want +got):\n%s", d)
	}
	all, err := s.StateChanges(ctx, ChangeFilter{From: t0.Add(time.Hour), To: t0.Add(5 * 24 * time.Hour)})
	if err != nil || len(all) != 3 {
		t.Errorf("period changes = %d, %v; want 3", len(all), err)
	}

	d1 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	r := Rollup{Scope: "ring", Name: "canary", Day: d1.Add(5 * time.Hour), Hosts: 10, Compliant: 7, Critical: 2, KEV: 1, Overdue: 1}
	if err := s.PutRollups(ctx, []Rollup{r, {Scope: "fleet", Name: "fleet", Day: d1, Hosts: 30, Compliant: 20}}); err != nil {
		t.Fatal(err)
	}
	r.Compliant = 8 // a later computation the same day replaces the row
	if err := s.PutRollups(ctx, []Rollup{r, {Scope: "ring", Name: "canary", Day: d1.Add(24 * time.Hour), Hosts: 10, Compliant: 10}}); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Rollups(ctx, "ring", d1, d1.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Compliant != 8 || !rs[0].Day.Equal(d1) || rs[1].Compliant != 10 {
		t.Errorf("ring rollups = %+v", rs)
	}
	if rs, _ := s.Rollups(ctx, "", d1, d1.Add(24*time.Hour)); len(rs) != 2 {
		t.Errorf("all scopes, one day = %d rows, want 2", len(rs))
	}

	// Prune at t0+3.5d: h1's openssl MISSING row is superseded before the
	// cut and goes; curl's closing row says it no longer applies and goes
	// with its predecessor; the rows in force at the cut stay.
	n, err := s.PruneHistory(ctx, t0.Add(84*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3+3 { // three change rows and the three roll-ups of days before the cut
		rest, _ := s.StateChanges(ctx, ChangeFilter{})
		t.Errorf("pruned %d rows, want 6; left %+v", n, rest)
	}
	left, _ := s.StateChanges(ctx, ChangeFilter{})
	if len(left) != 2 || left[0].HostID != "h1" || left[0].State != installed || left[1].HostID != "h2" {
		t.Errorf("after prune: %+v", left)
	}
	// The pruned host's history still knows the current state: reporting
	// it again writes nothing.
	if n := rec(t0.Add(5*24*time.Hour), "h1", HostState{Rule: ssl, State: installed}); n != 0 {
		t.Errorf("after prune, unchanged record wrote %d rows", n)
	}
}

func testRoles(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	s := mustOpen(t, newURL(t), Options{})
	if err := s.CreateRoleToken(ctx, "board", "viewer-secret", RoleViewer); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAdminToken(ctx, "ops", "admin-secret"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRoleToken(ctx, "x", "y", "root"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown role: %v", err)
	}
	if name, role, err := s.VerifyRoleToken(ctx, "viewer-secret"); err != nil || name != "board" || role != RoleViewer {
		t.Errorf("viewer: %s %s %v", name, role, err)
	}
	if name, role, err := s.VerifyRoleToken(ctx, "admin-secret"); err != nil || name != "ops" || role != RoleAdmin {
		t.Errorf("admin: %s %s %v", name, role, err)
	}
	if _, err := s.VerifyAdminToken(ctx, "viewer-secret"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("a viewer token passed as admin: %v", err)
	}
	if _, _, err := s.VerifyRoleToken(ctx, "nope"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("unknown token: %v", err)
	}
}
