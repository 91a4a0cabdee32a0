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

// testSLACounters: recording keeps per rule and deadline the open
// findings and those met or missed; a rebuild from the history gives the
// same counters; a change recorded before an earlier one marks them stale
// and the next read rebuilds them.
func testSLACounters(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	s := mustOpen(t, newURL(t), Options{})
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	ssl := HistoryRule{Stream: "debian-12", Kind: "source", Name: "openssl", Severity: "critical", KEV: true, Since: t0.Add(-48 * time.Hour)}
	curl := HistoryRule{Stream: "debian-12", Kind: "package", Name: "curl", Severity: "high"}
	const installed, reboot, missing, excepted = 1, 3, 4, 7
	dl, dl2 := t0.Add(10*24*time.Hour), t0.Add(20*24*time.Hour)
	rec := func(at time.Time, host string, sts ...HostState) {
		t.Helper()
		if _, err := s.RecordStates(ctx, []HostStates{{HostID: host, At: at, States: sts}}); err != nil {
			t.Fatal(err)
		}
	}
	// h1: openssl open, fixed on time. h2: open, fixed late. h3: open with
	// no deadline, then one (the episode's), then pending reboot with
	// another (ignored): still open. h4: open, excepted before the
	// deadline (not counted), open again: a second episode. h5: curl open,
	// then the rule goes away after its deadline (missed).
	rec(t0, "h1", HostState{Rule: ssl, State: missing, Deadline: dl})
	rec(t0, "h2", HostState{Rule: ssl, State: missing, Deadline: dl})
	rec(t0, "h3", HostState{Rule: ssl, State: missing})
	rec(t0, "h4", HostState{Rule: ssl, State: missing, Deadline: dl})
	rec(t0, "h5", HostState{Rule: curl, State: missing, Deadline: dl2})
	rec(t0.Add(24*time.Hour), "h3", HostState{Rule: ssl, State: reboot, Deadline: dl})
	rec(t0.Add(48*time.Hour), "h3", HostState{Rule: ssl, State: missing, Deadline: dl2})
	rec(dl, "h1", HostState{Rule: ssl, State: installed})
	rec(dl.Add(time.Second), "h2", HostState{Rule: ssl, State: installed})
	rec(t0.Add(time.Hour), "h4", HostState{Rule: ssl, State: excepted})
	rec(t0.Add(2*time.Hour), "h4", HostState{Rule: ssl, State: missing, Deadline: dl})
	rec(dl2.Add(time.Hour), "h5")
	want := []SLACount{
		{Rule: ssl, Deadline: dl, Open: 2, Met: 1, Missed: 1},
		{Rule: curl, Deadline: dl2, Missed: 1},
	}
	got, err := s.SLACounters(ctx, t0, t0.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("counters (-want +got):\n%s", d)
	}
	if got, _ := s.SLACounters(ctx, t0, dl); len(got) != 0 {
		t.Errorf("deadlines before %s: %v", dl, got)
	}
	if err := s.RebuildSLACounters(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SLACounters(ctx, t0, t0.AddDate(0, 1, 0)); !cmp.Equal(want, got) {
		t.Fatalf("rebuilt counters differ:\n%s", cmp.Diff(want, got))
	}
	// Recording goes on from the rebuilt open findings: h3 fixed on time.
	rec(t0.Add(5*24*time.Hour), "h3", HostState{Rule: ssl, State: installed})
	want[0].Open, want[0].Met = 1, 2
	if got, _ := s.SLACounters(ctx, t0, t0.AddDate(0, 1, 0)); !cmp.Equal(want, got) {
		t.Fatalf("after the rebuild (-want +got):\n%s", cmp.Diff(want, got))
	}
	// h4's late report, earlier than its last change: stale, then rebuilt
	// from the history as it now reads (h4 fixed at t0+3h, before dl).
	if stale, err := s.SLAStale(ctx); err != nil || stale {
		t.Fatalf("stale before a late report: %v %v", stale, err)
	}
	rec(t0.Add(90*time.Minute), "h4", HostState{Rule: ssl, State: installed})
	if stale, err := s.SLAStale(ctx); err != nil || !stale {
		t.Fatalf("a change before an earlier one: stale %v %v", stale, err)
	}
	got, err = s.SLACounters(ctx, t0, t0.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	// h4's history: missing t0, excepted t0+1h, installed t0+1.5h,
	// missing t0+2h (open).
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rebuilt after a late report (-want +got):\n%s", d)
	}
	if stale, _ := s.SLAStale(ctx); stale {
		t.Error("still stale after the read rebuilt the counters")
	}
}

// testSLAUpgrade: a database that had history before migration 0008 gets
// stale counters, and the first read builds them from the history.
func testSLAUpgrade(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	u := newURL(t)
	s := mustOpen(t, u, Options{})
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	ssl := HistoryRule{Stream: "debian-12", Kind: "source", Name: "openssl", Severity: "critical", Since: t0}
	dl := t0.Add(5 * 24 * time.Hour)
	for _, hs := range []HostStates{
		{HostID: "h1", At: t0, States: []HostState{{Rule: ssl, State: 4, Deadline: dl}}},
		{HostID: "h2", At: t0, States: []HostState{{Rule: ssl, State: 4, Deadline: dl}}},
		{HostID: "h1", At: t0.Add(time.Hour), States: []HostState{{Rule: ssl, State: 1}}},
	} {
		if _, err := s.RecordStates(ctx, []HostStates{hs}); err != nil {
			t.Fatal(err)
		}
	}
	// Back to the schema before 0008, history kept.
	for _, q := range []string{`DROP TABLE history_open`, `DROP TABLE history_sla`, `DROP TABLE history_sla_state`, `DELETE FROM schema_migrations WHERE version = 8`} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = mustOpen(t, u, Options{})
	if stale, err := s.SLAStale(ctx); err != nil || !stale {
		t.Fatalf("after migrating a database with history: stale %v, %v", stale, err)
	}
	got, err := s.SLACounters(ctx, t0, t0.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if want := []SLACount{{Rule: ssl, Deadline: dl, Open: 1, Met: 1}}; !cmp.Equal(want, got) {
		t.Errorf("counters built at the first read (-want +got):\n%s", cmp.Diff(want, got))
	}
	// A fresh database starts current.
	if stale, err := mustOpen(t, newURL(t), Options{}).SLAStale(ctx); err != nil || stale {
		t.Errorf("a new database: stale %v, %v", stale, err)
	}
}
