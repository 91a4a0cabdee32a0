package server_test

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/history"
	"github.com/patchbay/patchbay/engine/notify"
	"github.com/patchbay/patchbay/engine/rollout"
	"github.com/patchbay/patchbay/engine/server"
	"github.com/patchbay/patchbay/engine/store"
)

// fakeRollouts is a RolloutControl with one rollout whose only host is
// being patched right now.
type fakeRollouts struct{ ro api.Rollout }

func (f fakeRollouts) List(context.Context) (api.RolloutList, error) {
	return api.RolloutList{Rollouts: []api.Rollout{f.ro}}, nil
}
func (f fakeRollouts) Show(_ context.Context, id string) (api.Rollout, error) {
	if id != f.ro.ID {
		return api.Rollout{}, rollout.ErrNotFound
	}
	return f.ro, nil
}
func (f fakeRollouts) Pause(context.Context, string, string, string) (api.Rollout, error) {
	return f.ro, nil
}
func (f fakeRollouts) Resume(context.Context, string, string, string) (api.Rollout, error) {
	return f.ro, nil
}
func (f fakeRollouts) Abort(context.Context, string, string, string) (api.Rollout, error) {
	return f.ro, nil
}
func (f fakeRollouts) Approve(context.Context, string, string, string) (api.Rollout, error) {
	return f.ro, nil
}

type browser struct {
	t  *testing.T
	c  *http.Client
	ts string
}

func (b *browser) get(path string) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.Get(b.ts + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func signIn(t *testing.T, ts, token string) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(ts+"/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	return &browser{t: t, c: c, ts: ts}
}

// dashEnv: the quickstart repository with only the canary hosts reporting
// (pilot and prod have no hosts), history on, and one rollout in progress.
func dashEnv(t *testing.T) (*env, *browser) {
	e := newEnv(t, func(c *server.Config) {
		rec, err := history.New(history.Config{Store: c.Store, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		c.History = rec
	})
	// The rollout rolls out a merged pull request whose records are in a
	// real Git audit trail.
	e.trail = newTrail(t)
	ro := api.Rollout{ID: "ro-canary-1", Ring: "canary", Commit: e.trail.merge, BaselineID: "2026-11", State: "running", Wave: 1, PR: 42,
		CreatedAt: testNow.Add(-time.Hour), Hosts: api.RolloutCounts{Total: 1, Running: 1}, MaxConcurrency: 1, MaxErrors: 1}
	e.srv.EnableDashboard(fakeRollouts{ro})
	e.srv.EnableGitTrail(e.trail.repo, e.trail.keys)
	_, raw := quickstart(t)
	var reported []string
	for id, body := range raw {
		if !strings.Contains(id, "canary") {
			continue
		}
		reported = append(reported, id)
		tok := e.enroll(id, nil)
		if code, b := e.do("PUT", "/api/v1/hosts/"+id+"/report", tok, api.MediaReport, body); code != 200 {
			t.Fatalf("report %s: %d %s", id, code, b)
		}
	}
	// Created as 'patchbay token create --viewer' does, with its
	// token.changed record: a record that names no rollout.
	rec, err := rollout.RepositoryEvent(&audit.TokenChanged{Token: audit.TokenViewer, Name: "board",
		Operator: audit.Operator{Actor: "ops@bastion", Action: audit.TokenCreate, Reason: "board report"}, ChangedAt: clock()}, "ops@bastion", clock())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateRoleTokenRecorded(context.Background(), "board", "viewer-token-for-tests", store.RoleViewer, rec); err != nil {
		t.Fatal(err)
	}
	// Wait for the plan writer to record every reported host's history:
	// it writes in batches, so the first change does not mean the last
	// host's is there (a page test read one host's history too early
	// under load).
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range reported {
		for {
			ch, err := e.st.StateChanges(context.Background(), store.ChangeFilter{HostID: id})
			if err != nil {
				t.Fatal(err)
			}
			if len(ch) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return e, signIn(t, e.ts.URL, "viewer-token-for-tests")
}

func readCSV(t *testing.T, b *browser, path string) [][]string {
	t.Helper()
	code, body, h := b.get(path)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
		t.Fatalf("%s: %d %s %.200s", path, code, h.Get("Content-Type"), body)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

func column(t *testing.T, recs [][]string, name string) int {
	t.Helper()
	for i, h := range recs[0] {
		if h == name {
			return i
		}
	}
	t.Fatalf("no column %q in %v", name, recs[0])
	return -1
}

// TestDashboardSeen: what was seen by a new user is fixed — a ring with no
// hosts says "no hosts" (not 0 %), and a host being patched counts as
// running (not 0/0/0).
func TestDashboardSeen(t *testing.T) {
	_, b := dashEnv(t)
	rings := readCSV(t, b, "/?csv=rings")
	ci := column(t, rings, "Compliance")
	got := map[string]string{}
	for _, r := range rings[1:] {
		got[r[0]] = r[ci]
	}
	if got["pilot"] != "no hosts" || got["prod"] != "no hosts" {
		t.Errorf("rings without hosts: %v", got)
	}
	if got["canary"] == "no hosts" || !strings.HasSuffix(got["canary"], " %") {
		t.Errorf("canary compliance %q", got["canary"])
	}
	now := readCSV(t, b, "/?csv=rollouts-now")
	if len(now) != 2 || now[1][column(t, now, "Running")] != "1" {
		t.Errorf("rolling out now: %v (want the running host counted)", now)
	}
	ro := readCSV(t, b, "/rollouts/ro-canary-1?csv=hosts-by-state")
	if ro[1][column(t, ro, "Running")] != "1" {
		t.Errorf("rollout page: %v", ro)
	}
}

// TestDashboardPages: a viewer opens every page, every internal link
// resolves, every table downloads as CSV, the host search finds a host,
// and a viewer token is not an admin token for the API.
func TestDashboardPages(t *testing.T) {
	e, b := dashEnv(t)
	hrefRe := regexp.MustCompile(`href="([^"]+)"`)
	seen := map[string]bool{}
	queue := []string{"/"}
	for len(queue) > 0 && len(seen) < 200 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		code, body, _ := b.get(p)
		if code != 200 {
			t.Errorf("GET %s: %d", p, code)
			continue
		}
		for _, m := range hrefRe.FindAllStringSubmatch(body, -1) {
			u := strings.ReplaceAll(m[1], "&amp;", "&")
			switch {
			case strings.HasPrefix(u, "#"), strings.HasPrefix(u, "/static/"), u == "data:,":
			case strings.HasPrefix(u, "?csv="), strings.Contains(u, "csv="):
				path := strings.SplitN(p, "?", 2)[0] + u
				if strings.HasPrefix(u, "/") {
					path = u
				}
				if recs := readCSV(t, b, path); len(recs) == 0 {
					t.Errorf("%s: empty CSV", path)
				}
			case strings.HasPrefix(u, "/"):
				queue = append(queue, strings.SplitN(u, "#", 2)[0])
			default:
				t.Errorf("%s links outside the dashboard: %s", p, u)
			}
		}
	}
	for _, want := range []string{"/", "/hosts", "/rollouts", "/exceptions", "/audit", "/rings/canary", "/hosts/deb12-canary-01", "/rollouts/ro-canary-1",
		"/audit/records/" + e.trail.head + "/1", "/audit/records/" + e.trail.merge + "/1"} {
		if !seen[want] {
			t.Errorf("no link reaches %s", want)
		}
	}
	// A record about the repository (the viewer token's token.changed)
	// is listed without a link to a rollout it does not have.
	if seen["/rollouts/"] {
		t.Errorf("a page links to /rollouts/ (a record without a rollout linked as one)")
	}
	if _, body, _ := b.get("/audit"); !strings.Contains(body, "token.changed") {
		t.Errorf("the audit page does not list the token.changed record")
	}
	// Search.
	hosts := readCSV(t, b, "/hosts?q=DEB12-CANARY-0&csv=hosts")
	if len(hosts) != 3 {
		t.Errorf("search deb12-canary-0: %v", hosts)
	}
	if none := readCSV(t, b, "/hosts?ring=prod&csv=hosts"); len(none) != 1 {
		t.Errorf("prod has no hosts: %v", none)
	}
	// The host page shows its history, recorded when its plan was computed.
	h := readCSV(t, b, "/hosts/deb12-canary-01?csv=history")
	if len(h) < 2 {
		t.Errorf("host history: %v", h)
	}
	// Viewer tokens read the dashboard only.
	if code, _ := e.do("GET", "/api/v1/plan", "viewer-token-for-tests", "", nil); code != http.StatusUnauthorized {
		t.Errorf("viewer token on the admin API: %d, want 401", code)
	}
	// Signed out, a page asks to sign in.
	anon := &browser{t: t, c: &http.Client{}, ts: e.ts.URL}
	if code, body, _ := anon.get("/hosts"); code != http.StatusUnauthorized || !strings.Contains(body, `action="/login"`) {
		t.Errorf("anonymous /hosts: %d", code)
	}
}

// TestComplianceMetrics: /metrics carries the compliance gauges per ring,
// stream and fleet from the roll-ups (a ring with no hosts has hosts 0 and
// no ratio), and /openapi.yaml serves the embedded spec.
func TestComplianceMetrics(t *testing.T) {
	e, _ := dashEnv(t)
	if err := e.srv.RollupHistory(context.Background()); err != nil {
		t.Fatal(err)
	}
	code, body := e.do("GET", "/metrics", "", "", nil)
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	m := string(body)
	for _, want := range []string{
		`patchbay_hosts{ring="canary"} 5`, `patchbay_hosts{ring="prod"} 0`, `patchbay_hosts 5`,
		`patchbay_compliance_ratio{ring="canary"} `, `patchbay_compliance_ratio{stream="debian-12"} `,
		`patchbay_findings_open{ring="canary",severity="critical"} `, "# TYPE patchbay_sla_missed gauge", `patchbay_sla_missed{group="kev"} `,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(m, `patchbay_compliance_ratio{ring="prod"}`) {
		t.Error("a ring with no hosts has a compliance ratio")
	}
	code, spec := e.do("GET", "/openapi.yaml", "", "", nil)
	if code != 200 || string(spec) != string(api.OpenAPI) {
		t.Errorf("/openapi.yaml: %d, %d bytes (want the embedded %d)", code, len(spec), len(api.OpenAPI))
	}
}

// TestNotifyOnce: the server detects the quickstart fleet's overdue
// findings and delivers each to a webhook once, across two runs.
func TestNotifyOnce(t *testing.T) {
	e, _ := dashEnv(t)
	var mu sync.Mutex
	got := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("X-Patchbay-Event")+" "+r.Header.Get("X-Patchbay-Delivery")]++
		mu.Unlock()
	}))
	defer hook.Close()
	n, err := notify.New(notify.Config{Store: e.st, Backoff: time.Millisecond, Channels: []notify.Channel{
		&notify.Webhook{ID: "ops", URL: hook.URL, Secret: []byte("k")}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.srv.NotifyOnce(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	breaches := 0
	for k, c := range got {
		if c != 1 {
			t.Errorf("%s delivered %d times", k, c)
		}
		if strings.HasPrefix(k, notify.SLABreach+" ") {
			breaches++
		}
	}
	if breaches == 0 {
		t.Errorf("no SLA breach notified: %v", got)
	}
}
