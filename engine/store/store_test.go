package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay/engine/internal/pgtest"
)

// postgresEnv names the environment variable holding a PostgreSQL URL for
// the PostgreSQL half of the conformance suite.
const postgresEnv = pgtest.PostgresEnv

// sqliteURL returns a fresh SQLite database URL in the test's temp dir.
func sqliteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "patchbay.db")
}

// postgresURL creates a schema of its own for the test, dropped at the
// end, and returns a URL whose search_path points at it; it skips the test
// when PATCHBAY_TEST_POSTGRES is not set.
func postgresURL(t testing.TB) string {
	t.Helper()
	return pgtest.PostgresURL(t, "skipping PostgreSQL")
}

func TestSQLite(t *testing.T)   { testConformance(t, sqliteURL) }
func TestPostgres(t *testing.T) { testConformance(t, postgresURL) }

// clock is a settable test clock for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mustOpen(t testing.TB, u string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), u, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// setOf returns a fake package set of n entries and its hash.
func setOf(label string, n int) (string, []byte) {
	var data []byte
	for i := range n {
		data = fmt.Appendf(data, "%s-pkg%05d\t1.%d.0-1\tamd64\n", label, i, i)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]), data
}

// enroll creates an enrollment token and enrolls each host id with it.
func enroll(t testing.TB, s *Store, ids ...string) {
	t.Helper()
	ctx := context.Background()
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEnrollmentToken(ctx, tok, s.now().Add(time.Hour), len(ids)); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := s.EnrollHost(ctx, tok, NewHost{ID: id, Stream: "debian-12", Hostname: id + ".example", Arch: "amd64"}, "host-token-"+id); err != nil {
			t.Fatalf("enroll %s: %v", id, err)
		}
	}
}

func report(host, hash string, data []byte, at time.Time) ReportRecord {
	return ReportRecord{
		HostID: host, ReceivedAt: at, CollectedAt: at.Add(-time.Second), Stream: "debian-12",
		Hostname: host + ".example", Arch: "amd64", Kernel: "6.1.0-40-amd64", AgentVersion: "0.1.0",
		PackageSetHash: hash, PackageSet: data,
	}
}

// testConformance is the suite every backend passes; newURL returns the
// URL of a fresh, empty database each call.
func testConformance(t *testing.T, newURL func(testing.TB) string) {
	t.Run("migrations", func(t *testing.T) { t.Parallel(); testMigrations(t, newURL) })
	t.Run("tokens", func(t *testing.T) { t.Parallel(); testTokens(t, newURL) })
	t.Run("enrollment-concurrent", func(t *testing.T) { t.Parallel(); testEnrollmentConcurrent(t, newURL) })
	t.Run("hosts", func(t *testing.T) { t.Parallel(); testHosts(t, newURL) })
	t.Run("package-sets", func(t *testing.T) { t.Parallel(); testPackageSets(t, newURL) })
	t.Run("package-set-encoding", func(t *testing.T) { t.Parallel(); testPackageSetEncoding(t, newURL) })
	t.Run("retention", func(t *testing.T) { t.Parallel(); testRetention(t, newURL) })
	t.Run("durability", func(t *testing.T) { t.Parallel(); testDurability(t, newURL) })
	t.Run("cancel-mid-transaction", func(t *testing.T) { t.Parallel(); testCancelMidTransaction(t, newURL) })
	t.Run("concurrent-reports", func(t *testing.T) { t.Parallel(); testConcurrentReports(t, newURL) })
	t.Run("group-commit", func(t *testing.T) { t.Parallel(); testGroupCommit(t, newURL) })
	t.Run("plans", func(t *testing.T) { t.Parallel(); testPlans(t, newURL) })
	t.Run("deliveries", func(t *testing.T) { t.Parallel(); testDeliveries(t, newURL) })
	t.Run("rollouts", func(t *testing.T) { t.Parallel(); testRollouts(t, newURL) })
	t.Run("lease", func(t *testing.T) { t.Parallel(); testLease(t, newURL) })
	t.Run("controller", func(t *testing.T) { t.Parallel(); testController(t, newURL) })
	t.Run("liveness", func(t *testing.T) { t.Parallel(); testLiveness(t, newURL) })
	t.Run("history", func(t *testing.T) { t.Parallel(); testHistory(t, newURL) })
	t.Run("sla-counters", func(t *testing.T) { t.Parallel(); testSLACounters(t, newURL) })
	t.Run("sla-upgrade", func(t *testing.T) { t.Parallel(); testSLAUpgrade(t, newURL) })
	t.Run("roles", func(t *testing.T) { t.Parallel(); testRoles(t, newURL) })
	t.Run("token-records", func(t *testing.T) { t.Parallel(); testTokenRecords(t, newURL) })
}

// testTokenRecords: creating and revoking a credential puts its record
// into the outbox in the same transaction — a refused change queues no
// record — and a revoked host may enroll again under its id.
func testTokenRecords(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	s := mustOpen(t, newURL(t), Options{})
	rec := func(what string) RolloutEvent {
		return RolloutEvent{Kind: "token.changed", Payload: []byte(`{"what":"` + what + `"}`), Actor: "ops@bastion"}
	}
	pending := func() []string {
		t.Helper()
		evs, err := s.PendingRolloutEvents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			out = append(out, string(e.Payload))
		}
		return out
	}
	if err := s.CreateRoleTokenRecorded(ctx, "ops", "tok-ops", RoleAdmin, rec("create ops")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRoleTokenRecorded(ctx, "ops", "tok-ops-2", RoleViewer, rec("create ops again")); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate name: %v, want ErrConflict", err)
	}
	if err := s.CreateEnrollmentTokenRecorded(ctx, "tok-enroll", s.now().Add(time.Hour), 2, rec("create enroll")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnrollHost(ctx, "tok-enroll", NewHost{ID: "h1", Stream: "debian-12"}, "host-tok-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeRoleToken(ctx, "nobody", func(string) RolloutEvent { return rec("revoke nobody") }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v, want ErrNotFound", err)
	}
	var role string
	if err := s.RevokeRoleToken(ctx, "ops", func(r string) RolloutEvent { role = r; return rec("revoke ops") }); err != nil || role != RoleAdmin {
		t.Fatalf("revoke ops: %v, role %q", err, role)
	}
	if _, err := s.VerifyAdminToken(ctx, "tok-ops"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("revoked admin token still verifies: %v", err)
	}
	if err := s.RevokeEnrollmentToken(ctx, "zz", rec("bad id")); !errors.Is(err, ErrInvalid) {
		t.Errorf("revoke enrollment 'zz': %v, want ErrInvalid", err)
	}
	if err := s.RevokeEnrollmentToken(ctx, EnrollmentID("tok-enroll"), rec("revoke enroll")); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeEnrollmentToken(ctx, EnrollmentID("tok-enroll"), rec("revoke enroll twice")); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke twice: %v, want ErrNotFound", err)
	}
	if _, err := s.EnrollHost(ctx, "tok-enroll", NewHost{ID: "h2"}, "host-tok-2"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("enroll with a revoked token: %v, want ErrTokenInvalid", err)
	}
	if err := s.RevokeHostToken(ctx, "h9", rec("revoke h9")); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke unknown host: %v, want ErrNotFound", err)
	}
	if err := s.RevokeHostToken(ctx, "h1", rec("revoke h1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyHostToken(ctx, "host-tok-1"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("revoked host token still verifies: %v", err)
	}
	want := []string{`{"what":"create ops"}`, `{"what":"create enroll"}`, `{"what":"revoke ops"}`, `{"what":"revoke enroll"}`, `{"what":"revoke h1"}`}
	if got := pending(); !slices.Equal(got, want) {
		t.Errorf("outbox = %q, want %q (a refused change queues nothing)", got, want)
	}
	// The revoked host enrolls again with a new enrollment token.
	if err := s.CreateEnrollmentToken(ctx, "tok-enroll-2", s.now().Add(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnrollHost(ctx, "tok-enroll-2", NewHost{ID: "h1", Stream: "debian-12"}, "host-tok-1b"); err != nil {
		t.Fatalf("re-enroll a revoked host: %v", err)
	}
	if h, err := s.VerifyHostToken(ctx, "host-tok-1b"); err != nil || h.ID != "h1" {
		t.Errorf("re-enrolled host: %+v, %v", h, err)
	}
	// An enrolled (not revoked) host is still refused.
	if err := s.CreateEnrollmentToken(ctx, "tok-enroll-3", s.now().Add(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnrollHost(ctx, "tok-enroll-3", NewHost{ID: "h1"}, "host-tok-1c"); !errors.Is(err, ErrConflict) {
		t.Errorf("enroll over a live host: %v, want ErrConflict", err)
	}
	// SetEventPayload is a compare-and-set.
	evs, _ := s.PendingRolloutEvents(ctx)
	if ok, err := s.SetEventPayload(ctx, evs[0].ID, []byte("other"), []byte(`{}`)); ok || err != nil {
		t.Errorf("set payload with a stale old: %t, %v", ok, err)
	}
	if ok, err := s.SetEventPayload(ctx, evs[0].ID, evs[0].Payload, []byte(`{"what":"filled"}`)); !ok || err != nil {
		t.Errorf("set payload: %t, %v", ok, err)
	}
	if got := pending()[0]; got != `{"what":"filled"}` {
		t.Errorf("payload after set = %s", got)
	}
}

func testMigrations(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	ms, err := loadMigrations(BackendSQLite)
	if err != nil {
		t.Fatal(err)
	}
	latest := ms[len(ms)-1].version
	u := newURL(t)
	const replicas = 8
	stores := make([]*Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, u, Options{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open: %v", i, err)
		}
		defer stores[i].Close()
	}
	for i, s := range stores {
		v, err := s.SchemaVersion(ctx)
		if err != nil || v != latest {
			t.Errorf("replica %d: SchemaVersion = %d, %v; want %d", i, v, err, latest)
		}
	}
	var n int
	if err := stores[0].r.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != len(ms) {
		t.Errorf("schema_migrations rows = %d, %v; want %d", n, err, len(ms))
	}
	// Reopening an up-to-date database applies nothing and works.
	s := mustOpen(t, u, Options{})
	if v, err := s.SchemaVersion(ctx); err != nil || v != latest {
		t.Errorf("reopen: SchemaVersion = %d, %v", v, err)
	}
	// A database from a newer binary is refused.
	if _, err := s.w.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, u, Options{}); !errors.Is(err, ErrConflict) {
		t.Errorf("Open with unknown version: err = %v, want ErrConflict", err)
	}
}

func testTokens(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	clk := newClock()
	s := mustOpen(t, newURL(t), Options{Now: clk.Now})

	if err := s.CreateEnrollmentToken(ctx, "enroll-1", clk.Now().Add(time.Hour), 2); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEnrollmentToken(ctx, "enroll-1", clk.Now().Add(time.Hour), 2); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate enrollment token: err = %v, want ErrConflict", err)
	}
	h, err := s.EnrollHost(ctx, "enroll-1", NewHost{ID: "web-1", Labels: map[string]string{"role": "web"}, Stream: "debian-12"}, "tok-web-1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.VerifyHostToken(ctx, "tok-web-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h, got); diff != "" {
		t.Errorf("VerifyHostToken (-enrolled +verified):\n%s", diff)
	}
	if _, err := s.VerifyHostToken(ctx, "tok-web-2"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("wrong host token: err = %v, want ErrTokenInvalid", err)
	}
	// Re-enrolling the same id fails and does not spend a use.
	if _, err := s.EnrollHost(ctx, "enroll-1", NewHost{ID: "web-1"}, "tok-other"); !errors.Is(err, ErrConflict) {
		t.Errorf("re-enroll: err = %v, want ErrConflict", err)
	}
	toks, err := s.EnrollmentTokens(ctx)
	if err != nil || len(toks) != 1 || toks[0].Uses != 1 || toks[0].Hash != HashToken("enroll-1") {
		t.Errorf("EnrollmentTokens = %+v, %v; want one token with 1 use", toks, err)
	}
	if _, err := s.EnrollHost(ctx, "enroll-1", NewHost{ID: "web-2"}, "tok-web-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnrollHost(ctx, "enroll-1", NewHost{ID: "web-3"}, "tok-web-3"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("used-up token: err = %v, want ErrTokenInvalid", err)
	}
	if _, err := s.Host(ctx, "web-3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("host enrolled with used-up token: err = %v, want ErrNotFound", err)
	}
	if err := s.CreateEnrollmentToken(ctx, "enroll-2", clk.Now().Add(time.Minute), 5); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := s.ConsumeEnrollmentToken(ctx, "enroll-2"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("expired token: err = %v, want ErrTokenInvalid", err)
	}
	if err := s.ConsumeEnrollmentToken(ctx, "nope"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("unknown token: err = %v, want ErrTokenInvalid", err)
	}
	if n, err := s.PruneEnrollmentTokens(ctx); err != nil || n != 2 {
		t.Errorf("PruneEnrollmentTokens = %d, %v; want 2", n, err)
	}

	if err := s.CreateAdminToken(ctx, "alice", "admin-secret"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAdminToken(ctx, "alice", "other"); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate admin name: err = %v, want ErrConflict", err)
	}
	if name, err := s.VerifyAdminToken(ctx, "admin-secret"); err != nil || name != "alice" {
		t.Errorf("VerifyAdminToken = %q, %v; want alice", name, err)
	}
	if _, err := s.VerifyAdminToken(ctx, "admin-secreT"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("wrong admin token: err = %v, want ErrTokenInvalid", err)
	}
	if err := s.DeleteAdminToken(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyAdminToken(ctx, "admin-secret"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("revoked admin token: err = %v, want ErrTokenInvalid", err)
	}
	if err := s.DeleteAdminToken(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: err = %v, want ErrNotFound", err)
	}
	// Only hashes are stored.
	var n int
	if err := s.r.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM hosts WHERE token_hash = ?"), "tok-web-1").Scan(&n); err != nil || n != 0 {
		t.Errorf("plaintext token found in hosts: %d, %v", n, err)
	}
}

func testEnrollmentConcurrent(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	s := mustOpen(t, newURL(t), Options{})
	const maxUses, workers = 7, 20
	if err := s.CreateEnrollmentToken(ctx, "shared", s.now().Add(time.Hour), maxUses); err != nil {
		t.Fatal(err)
	}
	var ok, invalid atomic.Int32
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			_, err := s.EnrollHost(ctx, "shared", NewHost{ID: fmt.Sprintf("h%02d", i)}, fmt.Sprintf("tok-%02d", i))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrTokenInvalid):
				invalid.Add(1)
			default:
				t.Errorf("enroll h%02d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != maxUses || invalid.Load() != workers-maxUses {
		t.Errorf("enrolled %d, refused %d; want %d and %d", ok.Load(), invalid.Load(), maxUses, workers-maxUses)
	}
	hosts, err := s.Hosts(ctx, HostFilter{})
	if err != nil || len(hosts) != maxUses {
		t.Errorf("hosts = %d, %v; want %d", len(hosts), err, maxUses)
	}

	// The bare consume path too.
	if err := s.CreateEnrollmentToken(ctx, "bare", s.now().Add(time.Hour), maxUses); err != nil {
		t.Fatal(err)
	}
	ok.Store(0)
	for range workers {
		wg.Go(func() {
			if err := s.ConsumeEnrollmentToken(ctx, "bare"); err == nil {
				ok.Add(1)
			} else if !errors.Is(err, ErrTokenInvalid) {
				t.Errorf("consume: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != maxUses {
		t.Errorf("consumed %d uses; want %d", ok.Load(), maxUses)
	}
}

func testHosts(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	s := mustOpen(t, newURL(t), Options{})
	enroll(t, s, "a", "b", "c")
	if err := s.SetHostRing(ctx, "b", "canary"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetHostRing(ctx, "zz", "canary"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetHostRing unknown: err = %v, want ErrNotFound", err)
	}
	if err := s.SetHostLabels(ctx, "c", map[string]string{"dc": "fra", "role": "db"}); err != nil {
		t.Fatal(err)
	}
	canary, err := s.Hosts(ctx, HostFilter{Ring: "canary"})
	if err != nil || len(canary) != 1 || canary[0].ID != "b" {
		t.Errorf("Hosts(ring canary) = %+v, %v", canary, err)
	}
	page1, err := s.Hosts(ctx, HostFilter{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	page2, err := s.Hosts(ctx, HostFilter{Limit: 2, After: page1[len(page1)-1].ID})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range append(page1, page2...) {
		ids = append(ids, h.ID)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, ids); diff != "" {
		t.Errorf("paged ids (-want +got):\n%s", diff)
	}
	c, err := s.Host(ctx, "c")
	if err != nil || c.Labels["dc"] != "fra" || c.Labels["role"] != "db" {
		t.Errorf("Host(c) = %+v, %v", c, err)
	}
	if err := s.SetHostToken(ctx, "c", "rotated"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyHostToken(ctx, "host-token-c"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("old token after rotation: err = %v", err)
	}
	if h, err := s.VerifyHostToken(ctx, "rotated"); err != nil || h.ID != "c" {
		t.Errorf("rotated token: %v, %v", h.ID, err)
	}
	if err := s.SetHostToken(ctx, "b", "rotated"); !errors.Is(err, ErrConflict) {
		t.Errorf("token reuse: err = %v, want ErrConflict", err)
	}
	hash, data := setOf("x", 3)
	if _, err := s.SaveReport(ctx, report("a", hash, data, s.now())); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPlan(ctx, PlanSnapshot{HostID: "a", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteHost(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if rs, err := s.Reports(ctx, "a", 0); err != nil || len(rs) != 0 {
		t.Errorf("reports of deleted host = %d, %v", len(rs), err)
	}
	if _, err := s.Plan(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("plan of deleted host: err = %v", err)
	}
	if n, err := s.PrunePackageSets(ctx, s.now().Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("PrunePackageSets = %d, %v; want 1 (the deleted host's set)", n, err)
	}
	if err := s.DeleteHost(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: err = %v", err)
	}
}

func testPackageSets(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	s := mustOpen(t, newURL(t), Options{})
	enroll(t, s, "h1", "h2")
	hash, data := setOf("common", 50)
	if ok, err := s.HasPackageSet(ctx, hash); err != nil || ok {
		t.Fatalf("HasPackageSet before = %v, %v", ok, err)
	}
	// Hash first: unknown set without bytes is refused and stores nothing.
	_, err := s.SaveReport(ctx, report("h1", hash, nil, s.now()))
	if !errors.Is(err, ErrPackageSetMissing) || !errors.Is(err, ErrNotFound) {
		t.Errorf("hash-only unknown set: err = %v, want ErrPackageSetMissing", err)
	}
	if rs, _ := s.Reports(ctx, "h1", 0); len(rs) != 0 {
		t.Errorf("refused report left %d history rows", len(rs))
	}
	r1, err := s.SaveReport(ctx, report("h1", hash, data, s.now()))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.SaveReport(ctx, report("h2", hash, data, s.now()))
	if err != nil {
		t.Fatal(err)
	}
	r3, err := s.SaveReport(ctx, report("h2", hash, nil, s.now()))
	if err != nil {
		t.Fatal(err)
	}
	want := []SaveResult{{SetChanged: true, SetStored: true}, {SetChanged: true}, {}}
	got := []SaveResult{r1, r2, r3}
	for i := range got {
		got[i].ReportID = 0
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SaveResults (-want +got):\n%s", diff)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.PackageSetStoredBytes <= 0 || st.PackageSetStoredBytes > int64(len(data))+8 { // PostgreSQL counts its value header
		t.Errorf("stored set bytes = %d, want in (0, %d]", st.PackageSetStoredBytes, len(data)+8)
	}
	if s.Backend() == BackendSQLite && st.PackageSetStoredBytes*3 > int64(len(data)) {
		t.Errorf("SQLite set not compressed: %d bytes stored for %d", st.PackageSetStoredBytes, len(data))
	}
	st.PackageSetStoredBytes = 0
	if diff := cmp.Diff(Stats{Hosts: 2, PackageSets: 1, PackageSetBytes: int64(len(data)), Reports: 3}, st); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	if ok, err := s.HasPackageSet(ctx, hash); err != nil || !ok {
		t.Errorf("HasPackageSet after = %v, %v", ok, err)
	}
	back, err := s.PackageSet(ctx, hash)
	if err != nil || string(back) != string(data) {
		t.Errorf("PackageSet round trip: %d bytes, %v", len(back), err)
	}
	if _, err := s.PackageSet(ctx, "sha256:none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("PackageSet unknown: err = %v", err)
	}
	// PutPackageSet is idempotent: the first bytes stay.
	if err := s.PutPackageSet(ctx, hash, []byte("other")); err != nil {
		t.Fatal(err)
	}
	if back, _ := s.PackageSet(ctx, hash); string(back) != string(data) {
		t.Errorf("PutPackageSet overwrote an existing set")
	}
	h2, err := s.Host(ctx, "h2")
	if err != nil || h2.PackageSetHash != hash || h2.Kernel != "6.1.0-40-amd64" {
		t.Errorf("Host(h2) = %+v, %v", h2, err)
	}
	if _, err := s.SaveReport(ctx, report("ghost", hash, nil, s.now())); !errors.Is(err, ErrNotFound) {
		t.Errorf("report for unknown host: err = %v", err)
	}
}

// testPackageSetEncoding checks that both backends store new sets
// DEFLATE-compressed (through SaveReport and PutPackageSet), and that a set
// stored as given (empty encoding, as PostgreSQL stores did before) still reads
// back, alone and next to compressed ones.
func testPackageSetEncoding(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	s := mustOpen(t, newURL(t), Options{})
	enroll(t, s, "h")
	viaReport, reportData := setOf("report", 300)
	if _, err := s.SaveReport(ctx, report("h", viaReport, reportData, s.now())); err != nil {
		t.Fatal(err)
	}
	viaPut, putData := setOf("put", 300)
	if err := s.PutPackageSet(ctx, viaPut, putData); err != nil {
		t.Fatal(err)
	}
	legacy, legacyData := setOf("legacy", 300)
	if _, err := s.w.ExecContext(ctx, s.q("INSERT INTO package_sets (hash, data, encoding, size, created_at) VALUES (?, ?, '', ?, ?)"),
		legacy, legacyData, len(legacyData), dbTime(s.now())); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		hash     string
		data     []byte
		encoding string
	}{{viaReport, reportData, encodingDeflate}, {viaPut, putData, encodingDeflate}, {legacy, legacyData, encodingNone}} {
		var enc string
		var stored int
		if err := s.r.QueryRowContext(ctx, s.q("SELECT encoding, LENGTH(data) FROM package_sets WHERE hash = ?"), c.hash).Scan(&enc, &stored); err != nil {
			t.Fatal(err)
		}
		if enc != c.encoding {
			t.Errorf("set %s stored with encoding %q, want %q", c.hash[:16], enc, c.encoding)
		}
		if enc == encodingDeflate && stored*3 > len(c.data) {
			t.Errorf("set %s: %d bytes stored for %d, want compressed", c.hash[:16], stored, len(c.data))
		}
		if back, err := s.PackageSet(ctx, c.hash); err != nil || string(back) != string(c.data) {
			t.Errorf("PackageSet(%s) = %d bytes, %v; want the %d bytes given", c.hash[:16], len(back), err, len(c.data))
		}
	}
}

func testRetention(t *testing.T, newURL func(testing.TB) string) {
	// 1 and 2 are the edges of PostgreSQL's prune, which keeps
	// ReportRetention-1 of the earlier reports besides the new one.
	for _, keep := range []int{5, 1, 2} {
		t.Run(fmt.Sprint("keep-", keep), func(t *testing.T) { testRetentionKeep(t, newURL, keep) })
	}
}

func testRetentionKeep(t *testing.T, newURL func(testing.TB) string, keep int) {
	ctx := context.Background()
	s := mustOpen(t, newURL(t), Options{ReportRetention: keep})
	enroll(t, s, "h")
	// 40 reports; the set changes at these indices (0 is the first report).
	changes := map[int]bool{0: true, 3: true, 4: true, 17: true, 36: true, 38: true}
	hashes := map[int]string{}
	cur := -1
	var ids []int64
	t0 := s.now()
	for i := range 40 {
		if changes[i] {
			cur = i
		}
		hash, data := setOf(fmt.Sprint("set", cur), 2)
		hashes[i] = hash
		res, err := s.SaveReport(ctx, report("h", hash, data, t0.Add(time.Duration(i)*time.Minute)))
		if err != nil {
			t.Fatal(err)
		}
		if res.SetChanged != changes[i] {
			t.Errorf("report %d: SetChanged = %v, want %v", i, res.SetChanged, changes[i])
		}
		ids = append(ids, res.ReportID)
	}
	var want []int64
	for i := 39; i >= 0; i-- {
		if i >= 40-keep || changes[i] {
			want = append(want, ids[i])
		}
	}
	rs, err := s.Reports(ctx, "h", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, r := range rs {
		got = append(got, r.ID)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kept report ids (-want +got):\n%s", diff)
	}
	if rs[0].PackageSetHash != hashes[39] || !rs[0].ReceivedAt.Equal(t0.Add(39*time.Minute)) {
		t.Errorf("newest report = %+v", rs[0])
	}
	if lim, err := s.Reports(ctx, "h", 2); err != nil || len(lim) != 2 {
		t.Errorf("Reports limit 2 = %d, %v", len(lim), err)
	}
}

func testDurability(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	u := newURL(t)
	s, err := Open(ctx, u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	enroll(t, s, "h")
	hash, data := setOf("durable", 100)
	at := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	res, err := s.SaveReport(ctx, report("h", hash, data, at))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveReport(ctx, report("h", hash, nil, at)); !errors.Is(err, ErrClosed) {
		t.Errorf("SaveReport after Close: err = %v, want ErrClosed", err)
	}
	s2 := mustOpen(t, u, Options{})
	rs, err := s2.Reports(ctx, "h", 0)
	if err != nil || len(rs) != 1 || rs[0].ID != res.ReportID || !rs[0].ReceivedAt.Equal(at) {
		t.Fatalf("after reopen: reports = %+v, %v", rs, err)
	}
	h, err := s2.Host(ctx, "h")
	if err != nil || h.PackageSetHash != hash || !h.LastReportAt.Equal(at) {
		t.Errorf("after reopen: host = %+v, %v", h, err)
	}
	if back, err := s2.PackageSet(ctx, hash); err != nil || string(back) != string(data) {
		t.Errorf("after reopen: package set %d bytes, %v", len(back), err)
	}
}

func testCancelMidTransaction(t *testing.T, newURL func(testing.TB) string) {
	for _, stage := range []string{"set-stored", "host-updated", "report-inserted", "pruned"} {
		t.Run(stage, func(t *testing.T) {
			ctx := context.Background()
			s := mustOpen(t, newURL(t), Options{})
			enroll(t, s, "h")
			oldHash, oldData := setOf("old", 10)
			if _, err := s.SaveReport(ctx, report("h", oldHash, oldData, s.now())); err != nil {
				t.Fatal(err)
			}
			before, err := s.Host(ctx, "h")
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			s.hook = func(st string) {
				if st == stage {
					cancel()
				}
			}
			newHash, newData := setOf("new", 10)
			rec := report("h", newHash, newData, s.now().Add(time.Hour))
			rec.Kernel = "6.1.0-99-amd64"
			if _, err := s.SaveReport(rctx, rec); !errors.Is(err, context.Canceled) {
				t.Fatalf("SaveReport canceled at %s: err = %v, want context.Canceled", stage, err)
			}
			s.hook = nil
			after, err := s.Host(ctx, "h")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("host changed by canceled report (-before +after):\n%s", diff)
			}
			if ok, err := s.HasPackageSet(ctx, newHash); err != nil || ok {
				t.Errorf("canceled report stored its package set: %v, %v", ok, err)
			}
			if rs, err := s.Reports(ctx, "h", 0); err != nil || len(rs) != 1 {
				t.Errorf("history after canceled report: %d rows, %v; want 1", len(rs), err)
			}
			// The store still works afterwards.
			if _, err := s.SaveReport(ctx, rec); err != nil {
				t.Errorf("SaveReport after cancel: %v", err)
			}
		})
	}
}

// testConcurrentReports sends good and bad reports at once: on SQLite they
// share group commits, and a bad one must not take the good ones down.
func testConcurrentReports(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	s := mustOpen(t, newURL(t), Options{})
	var ids []string
	for i := range 16 {
		ids = append(ids, fmt.Sprintf("h%02d", i))
	}
	enroll(t, s, ids...)
	hash, data := setOf("fleet", 20)
	if err := s.PutPackageSet(ctx, hash, data); err != nil {
		t.Fatal(err)
	}
	const perHost = 10
	var wg sync.WaitGroup
	var bad atomic.Int32
	for _, id := range ids {
		wg.Go(func() {
			for i := range perHost {
				if _, err := s.SaveReport(ctx, report(id, hash, nil, s.now().Add(time.Duration(i)*time.Second))); err != nil {
					t.Errorf("%s: %v", id, err)
				}
				if _, err := s.SaveReport(ctx, report(id, "sha256:unknown", nil, s.now())); errors.Is(err, ErrPackageSetMissing) {
					bad.Add(1)
				} else {
					t.Errorf("%s: bad report: err = %v", id, err)
				}
			}
		})
	}
	wg.Wait()
	if int(bad.Load()) != len(ids)*perHost {
		t.Errorf("refused %d bad reports, want %d", bad.Load(), len(ids)*perHost)
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Reports != int64(len(ids)*perHost) {
		t.Errorf("stored %d reports, %v; want %d", st.Reports, err, len(ids)*perHost)
	}
}

// testGroupCommit holds the group-commit writer in its first report until
// the other callers wait, so they share one transaction: good reports (new
// sets, known sets, labels) are stored and acknowledged, and each bad one
// (unknown host with a new set, unknown set sent as hash only, canceled
// caller) fails alone, leaving nothing behind. The writes and commits are
// counted.
func testGroupCommit(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	s := mustOpen(t, newURL(t), Options{ReportRetention: 3})
	const good = 12
	var ids []string
	for i := range good {
		ids = append(ids, fmt.Sprintf("g%02d", i))
	}
	enroll(t, s, ids...)
	knownHash, knownData := setOf("known", 20)
	if err := s.PutPackageSet(ctx, knownHash, knownData); err != nil {
		t.Fatal(err)
	}
	c0, r0 := s.GroupCommitStats()

	// The first report to reach each writer waits there until every other
	// caller has started and had time to queue behind it.
	var started atomic.Int32
	release := make(chan struct{})
	s.hook = func(stage string) { <-release }
	type outcome struct {
		res SaveResult
		err error
	}
	var wg sync.WaitGroup
	goodOut := make([]outcome, good)
	goodHash := make([]string, good)
	for i, id := range ids {
		rec := report(id, knownHash, nil, s.now().Add(time.Duration(i)*time.Second))
		if i%2 == 0 { // every other one brings a new set
			rec.PackageSetHash, rec.PackageSet = setOf(id, 30)
			rec.Labels = map[string]string{"team": id}
		}
		goodHash[i] = rec.PackageSetHash
		wg.Go(func() {
			started.Add(1)
			goodOut[i].res, goodOut[i].err = s.SaveReport(ctx, rec)
		})
	}
	ghostHash, ghostData := setOf("ghost", 30)
	var ghostErr, missingErr, canceledErr error
	wg.Go(func() {
		started.Add(1)
		_, ghostErr = s.SaveReport(ctx, report("ghost", ghostHash, ghostData, s.now()))
	})
	wg.Go(func() {
		started.Add(1)
		_, missingErr = s.SaveReport(ctx, report(ids[1], "sha256:missing", nil, s.now().Add(time.Hour)))
	})
	cctx, cancel := context.WithCancel(ctx)
	canceledHash, canceledData := setOf("canceled", 30)
	wg.Go(func() {
		started.Add(1)
		_, canceledErr = s.SaveReport(cctx, report(ids[3], canceledHash, canceledData, s.now().Add(time.Hour)))
	})
	for started.Load() < good+3 {
		time.Sleep(time.Millisecond)
	}
	// Let the callers reach the writer's queue; should some not make it,
	// they are written in a later batch and only the count below differs.
	time.Sleep(200 * time.Millisecond)
	cancel()
	close(release)
	wg.Wait()
	s.hook = nil

	for i, o := range goodOut {
		if o.err != nil {
			t.Errorf("%s: %v", ids[i], o.err)
			continue
		}
		if !o.res.SetChanged || o.res.SetStored != (i%2 == 0) || o.res.ReportID == 0 {
			t.Errorf("%s: result %+v", ids[i], o.res)
		}
		h, err := s.Host(ctx, ids[i])
		if err != nil || h.PackageSetHash != goodHash[i] {
			t.Errorf("%s: host = %+v, %v; want set %s", ids[i], h, err, goodHash[i])
		}
		if i%2 == 0 && (err != nil || h.Labels["team"] != ids[i]) {
			t.Errorf("%s: labels = %v", ids[i], h.Labels)
		}
		rs, err := s.Reports(ctx, ids[i], 0)
		if err != nil || len(rs) != 1 || rs[0].ID != o.res.ReportID {
			t.Errorf("%s: history %+v, %v; want the one report %d", ids[i], rs, err, o.res.ReportID)
		}
		if back, err := s.PackageSet(ctx, goodHash[i]); err != nil || len(back) == 0 {
			t.Errorf("%s: set: %d bytes, %v", ids[i], len(back), err)
		}
	}
	if !errors.Is(ghostErr, ErrNotFound) || errors.Is(ghostErr, ErrPackageSetMissing) {
		t.Errorf("unknown host: err = %v, want ErrNotFound", ghostErr)
	}
	if !errors.Is(missingErr, ErrPackageSetMissing) {
		t.Errorf("unknown set: err = %v, want ErrPackageSetMissing", missingErr)
	}
	if !errors.Is(canceledErr, context.Canceled) {
		t.Errorf("canceled caller: err = %v, want context.Canceled", canceledErr)
	}
	for _, h := range []string{ghostHash, canceledHash} {
		if ok, err := s.HasPackageSet(ctx, h); err != nil || ok {
			t.Errorf("a failed report's set %s was stored: %v, %v", h[:16], ok, err)
		}
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Reports != good || st.PackageSets != 1+good/2 {
		t.Errorf("stored %d reports and %d sets, %v; want %d and %d", st.Reports, st.PackageSets, err, good, 1+good/2)
	}
	c1, r1 := s.GroupCommitStats()
	if r1-r0 != good {
		t.Errorf("group commits carried %d reports, want %d", r1-r0, good)
	}
	if c1-c0 >= r1-r0 {
		t.Errorf("%d commits for %d reports: no report shared a commit", c1-c0, r1-r0)
	}
	t.Logf("%d reports in %d commits", r1-r0, c1-c0)
}

func testPlans(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	s := mustOpen(t, newURL(t), Options{})
	enroll(t, s, "h")
	if _, err := s.Plan(ctx, "h"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Plan before put: err = %v", err)
	}
	at := time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)
	for _, p := range []PlanSnapshot{
		{HostID: "h", ComputedAt: at, BaselineDigest: "sha256:aa", Data: []byte(`{"actions":[]}`)},
		{HostID: "h", ComputedAt: at.Add(time.Hour), BaselineDigest: "sha256:bb", Data: []byte(`{"actions":["upgrade"]}`)},
	} {
		if err := s.PutPlan(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, err := s.Plan(ctx, "h")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, got); diff != "" {
			t.Errorf("Plan (-put +got):\n%s", diff)
		}
	}
	if err := s.PutPlan(ctx, PlanSnapshot{HostID: "ghost", Data: []byte(`{}`)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("PutPlan unknown host: err = %v", err)
	}
}

func testDeliveries(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	clk := newClock()
	s := mustOpen(t, newURL(t), Options{Now: clk.Now, DeliveryRetention: time.Hour})
	var first atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ok, err := s.MarkDelivery(ctx, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
			if err != nil {
				t.Error(err)
			}
			if ok {
				first.Add(1)
			}
		})
	}
	wg.Wait()
	if first.Load() != 1 {
		t.Errorf("first-time deliveries = %d, want exactly 1", first.Load())
	}
	if seen, err := s.DeliverySeen(ctx, "other"); err != nil || seen {
		t.Errorf("DeliverySeen before MarkDelivery: %v, %v; want false", seen, err)
	}
	if ok, err := s.MarkDelivery(ctx, "other"); err != nil || !ok {
		t.Errorf("other id: %v, %v", ok, err)
	}
	if seen, err := s.DeliverySeen(ctx, "other"); err != nil || !seen {
		t.Errorf("DeliverySeen after MarkDelivery: %v, %v; want true", seen, err)
	}
	clk.Advance(2 * time.Hour)
	if seen, err := s.DeliverySeen(ctx, "other"); err != nil || seen {
		t.Errorf("DeliverySeen after retention: %v, %v; want false", seen, err)
	}
	// The old ids were pruned: seen again counts as first time.
	if ok, err := s.MarkDelivery(ctx, "other"); err != nil || !ok {
		t.Errorf("after retention: %v, %v; want first time", ok, err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM deliveries").Scan(&n); err != nil || n != 1 {
		t.Errorf("deliveries rows = %d, %v; want 1", n, err)
	}
}

func testRollouts(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	s := mustOpen(t, newURL(t), Options{})
	r := Rollout{ID: "r1", Ring: "canary", Commit: "0123abcd", BaselineID: "2026-11", BaselineDigest: "sha256:bd", State: "pending",
		CreatedAt: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)}
	created, err := s.CreateRollout(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRollout(ctx, r); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate rollout: err = %v", err)
	}
	got, err := s.Rollout(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(created, got); diff != "" {
		t.Errorf("Rollout (-created +got):\n%s", diff)
	}
	if err := s.SetRolloutState(ctx, "r1", "pending", "running"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRolloutState(ctx, "r1", "pending", "running"); !errors.Is(err, ErrConflict) {
		t.Errorf("stale CAS: err = %v, want ErrConflict", err)
	}
	if err := s.SetRolloutState(ctx, "nope", "pending", "running"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CAS unknown: err = %v, want ErrNotFound", err)
	}
	if rs, err := s.Rollouts(ctx, "canary"); err != nil || len(rs) != 1 || rs[0].State != "running" {
		t.Errorf("Rollouts(canary) = %+v, %v", rs, err)
	}
	if rs, err := s.Rollouts(ctx, "prod"); err != nil || len(rs) != 0 {
		t.Errorf("Rollouts(prod) = %+v, %v", rs, err)
	}

	key := StepKey{HostID: "web-1", BaselineDigest: "sha256:bd", Action: "apply"}
	var fresh, dup atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			d, err := s.RecordStepResult(ctx, StepResult{Key: key, RolloutID: "r1", Status: fmt.Sprint("succeeded-", i)})
			switch {
			case err != nil:
				t.Error(err)
			case d:
				dup.Add(1)
			default:
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 || dup.Load() != 9 {
		t.Errorf("step results: %d recorded, %d duplicates; want 1 and 9", fresh.Load(), dup.Load())
	}
	st, err := s.Step(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := s.RecordStepResult(ctx, StepResult{Key: key, RolloutID: "r1", Status: "failed", Detail: []byte("x")}); err != nil || !d {
		t.Errorf("late duplicate: %v, %v", d, err)
	}
	if st2, _ := s.Step(ctx, key); !cmp.Equal(st, st2) {
		t.Errorf("duplicate changed the step: %+v → %+v", st, st2)
	}
	if _, err := s.Step(ctx, StepKey{HostID: "web-1", BaselineDigest: "sha256:bd", Action: "reboot"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Step unknown: err = %v", err)
	}
	if _, err := s.RecordStepResult(ctx, StepResult{Key: StepKey{"h", "d", "a"}, RolloutID: "nope", Status: "ok"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("step for unknown rollout: err = %v", err)
	}
	steps, err := s.Steps(ctx, "r1")
	if err != nil || len(steps) != 1 || steps[0].Key != key {
		t.Errorf("Steps = %+v, %v", steps, err)
	}
}

func testLease(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	clk := newClock()
	s := mustOpen(t, newURL(t), Options{Now: clk.Now})
	type step struct {
		name      string
		advance   time.Duration
		holder    string
		release   bool
		wantFence int64
		wantOK    bool
	}
	steps := []step{
		{name: "a takes", holder: "a", wantFence: 1, wantOK: true},
		{name: "b refused", holder: "b"},
		{name: "a renews", advance: 20 * time.Second, holder: "a", wantFence: 1, wantOK: true},
		{name: "b still refused", advance: 29 * time.Second, holder: "b"},
		{name: "b takes after expiry", advance: time.Second, holder: "b", wantFence: 2, wantOK: true},
		{name: "a deposed", holder: "a"},
		{name: "b releases", holder: "b", release: true},
		{name: "a takes after release", holder: "a", wantFence: 3, wantOK: true},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		if st.release {
			if err := s.ReleaseLease(ctx, "leader", st.holder); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			continue
		}
		f, ok, err := s.AcquireLease(ctx, "leader", st.holder, 30*time.Second)
		if err != nil || f != st.wantFence || ok != st.wantOK {
			t.Errorf("%s: AcquireLease = %d, %v, %v; want %d, %v", st.name, f, ok, err, st.wantFence, st.wantOK)
		}
	}
	if held, err := s.LeaseHeld(ctx, "leader", "b", 2); err != nil || held {
		t.Errorf("deposed holder b still holds: %v, %v", held, err)
	}
	if held, err := s.LeaseHeld(ctx, "leader", "a", 3); err != nil || !held {
		t.Errorf("a does not hold with fencing 3: %v, %v", held, err)
	}
	// Racing candidates: exactly one wins a fresh lease.
	var winners atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			_, ok, err := s.AcquireLease(ctx, "scheduler", fmt.Sprint("replica-", i), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				winners.Add(1)
			}
		})
	}
	wg.Wait()
	if winners.Load() != 1 {
		t.Errorf("lease winners = %d, want 1", winners.Load())
	}

	// Fenced writes: only the current holder with the current token.
	if _, err := s.CreateRollout(ctx, Rollout{ID: "r", Ring: "canary", State: "pending"}); err != nil {
		t.Fatal(err)
	}
	fenceA := Fence{Lease: "leader", Holder: "a", Fencing: 3}
	if err := s.SetRolloutStateFenced(ctx, Fence{Lease: "leader", Holder: "b", Fencing: 2}, "r", "pending", "running"); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("deposed leader's write: err = %v, want ErrLeaseLost", err)
	}
	if err := s.SetRolloutStateFenced(ctx, fenceA, "r", "pending", "running"); err != nil {
		t.Errorf("leader's write: %v", err)
	}
	if err := s.SetRolloutStateFenced(ctx, fenceA, "r", "pending", "running"); !errors.Is(err, ErrConflict) {
		t.Errorf("leader's stale CAS: err = %v, want ErrConflict", err)
	}
	clk.Advance(time.Minute) // a's lease (30 s) expires
	if err := s.SetRolloutStateFenced(ctx, fenceA, "r", "running", "done"); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("expired leader's write: err = %v, want ErrLeaseLost", err)
	}
	if r, err := s.Rollout(ctx, "r"); err != nil || r.State != "running" {
		t.Errorf("rollout after fenced writes = %+v, %v; want running", r, err)
	}
}

func TestOpenRejects(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		url  string
		opts Options
	}{
		{name: "memory", url: "sqlite://:memory:"},
		{name: "empty path", url: "sqlite://"},
		{name: "query in path", url: "sqlite://x.db?mode=ro"},
		{name: "scheme", url: "mysql://localhost/x"},
		{name: "synchronous", url: "sqlite://x.db", opts: Options{SQLiteSynchronous: "OFF"}},
		{name: "negative retention", url: "sqlite://x.db", opts: Options{ReportRetention: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(ctx, tt.url, tt.opts); !errors.Is(err, ErrInvalid) {
				t.Errorf("Open(%q) err = %v, want ErrInvalid", tt.url, err)
			}
		})
	}
}

func TestRebind(t *testing.T) {
	s := &Store{backend: BackendPostgres}
	got := s.q("SELECT a FROM t WHERE x = ? AND y IN (?, ?)")
	if want := "SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)"; got != want {
		t.Errorf("q = %q, want %q", got, want)
	}
}

func TestDecodeSet(t *testing.T) {
	s := &Store{backend: BackendSQLite, compressSem: make(chan struct{}, 1)}
	_, data := setOf("x", 200)
	good, err := s.encodeSet(data)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := decodeSet("h", good); err != nil || string(back) != string(data) {
		t.Fatalf("round trip: %d bytes, %v", len(back), err)
	}
	tests := []struct {
		name string
		row  setRow
	}{
		{name: "size larger than data", row: setRow{data: good.data, encoding: encodingDeflate, size: good.size + 1}},
		{name: "size smaller than data", row: setRow{data: good.data, encoding: encodingDeflate, size: good.size - 1}},
		{name: "corrupt stream", row: setRow{data: []byte("not deflate at all"), encoding: encodingDeflate, size: 10}},
		{name: "unknown encoding", row: setRow{data: data, encoding: "zstd", size: len(data)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeSet("h", tt.row); err == nil {
				t.Error("decodeSet succeeded, want error")
			}
		})
	}
}
