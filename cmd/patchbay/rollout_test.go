package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
	"github.com/patchbay/patchbay/engine/server"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// agentClient is a simulated agent speaking the real HTTP API.
type agentClient struct {
	t           *testing.T
	base, id    string
	token       string
	report      []byte
	failActions bool
}

func (g *agentClient) call(method, path, ctype string, body []byte, out any) int {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.base+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+g.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		g.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			g.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// round asks for the assignment and reports every action's outcome; it
// returns how many actions it ran.
func (g *agentClient) round() int {
	var a api.Assignment
	g.call(http.MethodGet, "/api/v1/hosts/"+g.id+"/assignment", "", nil, &a)
	if len(a.Actions) == 0 {
		return 0
	}
	var req api.ResultsRequest
	for _, act := range a.Actions {
		out := api.OutcomeSucceeded
		if g.failActions {
			out = api.OutcomeFailed
		}
		req.Results = append(req.Results, api.ActionResult{ActionID: act.ID, BaselineDigest: a.BaselineDigest, Key: act.Key, Outcome: out,
			StartedAt: a.GeneratedAt, FinishedAt: a.GeneratedAt})
	}
	b, _ := json.Marshal(req)
	g.call(http.MethodPost, "/api/v1/hosts/"+g.id+"/results", "application/json", b, nil)
	return len(a.Actions)
}

// quickstartFiles returns the quickstart example's directory and its
// files (by slash path) without its inventory, for committing into a test
// repository.
func quickstartFiles(t *testing.T) (string, map[string]string) {
	t.Helper()
	src := filepath.Join("..", "..", "examples", "quickstart")
	files := map[string]string{}
	if err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if strings.HasPrefix(rel, "inventory") {
			return nil
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return src, files
}

// TestRolloutCommandsAgainstServer runs a canary rollout through the real
// server (admin API, agent API, controller as the Assigner) and drives it
// with patchbay rollout list/show/pause/resume/abort.
func TestRolloutCommandsAgainstServer(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	g := gitrepotest.New(t)
	_, files := quickstartFiles(t)
	canary := files["rings/canary.cue"]
	files["rings/canary.cue"] = strings.Replace(canary, `baseline: "2026-11-hotfix-1"`, `baseline: "2026-11"`, 1)
	g.Commit("quickstart, canary on 2026-11", files)
	repo, err := gitrepo.Open(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	st := storetest.New(t, store.Options{Now: clk.Now})
	if err := st.CreateAdminToken(ctx, "ops", "admin-secret"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateEnrollmentToken(ctx, "enroll-secret", clk.Now().Add(time.Hour), 100); err != nil {
		t.Fatal(err)
	}
	models := server.NewReloader(server.GitSource{Repo: repo, Branch: "main", Name: "test"}, slog.New(slog.DiscardHandler), clk.Now)
	if err := models.Check(ctx); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }, now: clk.Now}
	serve := &cobra.Command{Use: "serve"}
	flags := addRolloutServeFlags(serve)
	if err := serve.ParseFlags([]string{"--controller", "off", "--tick", "1s"}); err != nil {
		t.Fatal(err)
	}
	sr, err := a.newServedRollouts(ctx, flags, st, repo, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Models: models, Assigner: sr.Controller, Now: clk.Now, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sr.Attach(ctx, srv, &sync.WaitGroup{}) // --controller off: nothing runs in the background
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	// Enroll and report the canary hosts through the agent API.
	var agents []*agentClient
	for _, name := range []string{"deb12-canary-02", "ubuntu-canary-01", "alpine-canary-01", "rhel9-canary-01"} {
		rep, err := os.ReadFile(filepath.Join("..", "..", "examples", "quickstart", "inventory", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		ag := &agentClient{t: t, base: hs.URL, id: name, token: "enroll-secret", report: rep}
		var er api.EnrollResponse
		b, _ := json.Marshal(api.EnrollRequest{HostID: name})
		ag.call(http.MethodPost, "/api/v1/enroll", "application/json", b, &er)
		ag.token = er.Token
		ag.call(http.MethodPut, "/api/v1/hosts/"+name+"/report", api.MediaReport, rep, nil)
		agents = append(agents, ag)
	}
	agents[0].failActions = true

	ctl := sr.Controller
	step := func() {
		t.Helper()
		if err := models.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ctl.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	step() // adopt the head
	merge, _ := g.MergePR(7, "sre-platform", "promote-canary", map[string]string{"rings/canary.cue": canary})
	step()
	cli := func(want int, args ...string) string {
		t.Helper()
		stdout.Reset()
		stderr.Reset()
		full := append(args, "--server", hs.URL, "--token", "admin-secret")
		if got := a.run(ctx, full); got != want {
			t.Fatalf("patchbay %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, want, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	id := "canary-" + merge[:12]
	// Merged without a gate decision: unreviewed until approved with a
	// reason.
	out := cli(0, "rollout", "list")
	if !strings.Contains(out, id) || !strings.Contains(out, "unreviewed") {
		t.Fatalf("list before approval:\n%s", out)
	}
	cli(exitUsage, "rollout", "approve", id)
	cli(0, "rollout", "approve", id, "--reason", "reviewed on the incident call")
	step()
	out = cli(0, "rollout", "list")
	if !strings.Contains(out, id) || !strings.Contains(out, "running") {
		t.Fatalf("list:\n%s", out)
	}
	// Wave 1: two hosts (maxConcurrency 2), one of them fails.
	busy := 0
	for _, ag := range agents {
		if ag.round() > 0 {
			busy++
		}
	}
	if busy != 2 {
		t.Errorf("wave 1: %d hosts got work, want 2", busy)
	}
	clk.Advance(time.Minute)
	step()
	var v api.Rollout
	if err := json.Unmarshal([]byte(cli(0, "rollout", "show", id, "--format", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Hosts.Failed != 1 || v.Hosts.Succeeded != 1 || v.State != "running" || len(v.Waves) != 2 {
		t.Fatalf("after wave 1: %+v", v)
	}
	out = cli(0, "rollout", "pause", id, "--reason", "look at the failure")
	if !strings.Contains(out, "state     paused") {
		t.Errorf("pause:\n%s", out)
	}
	if err := json.Unmarshal([]byte(cli(0, "rollout", "show", id, "--format", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if last := v.Events[len(v.Events)-1]; last.Actor != "ops" || !strings.Contains(last.Detail, "pause by ops: look at the failure") {
		t.Errorf("pause event = %+v; want the admin token's name and the reason", last)
	}
	for _, ag := range agents {
		if n := ag.round(); n != 0 {
			t.Errorf("%s got %d actions while paused", ag.id, n)
		}
	}
	for _, verb := range []string{"pause", "resume", "abort", "approve"} {
		cli(2, "rollout", verb, id, "--reason", " ") // a blank reason is none: usage, nothing sent
		if !strings.Contains(stderr.String(), verb+" needs --reason") {
			t.Errorf("%s without a reason: stderr %s", verb, stderr.String())
		}
	}
	cli(1, "rollout", "pause", id, "--reason", "again") // not running any more: 409
	if !strings.Contains(stderr.String(), "409") {
		t.Errorf("second pause stderr: %s", stderr.String())
	}
	cli(0, "rollout", "resume", id, "--reason", "understood")
	for _, ag := range agents {
		ag.round()
	}
	clk.Advance(time.Minute)
	step()
	out = cli(0, "rollout", "show", id, "--watch", "--interval", "10ms")
	if !strings.Contains(out, id+" completed wave 2: 4/4 done, 1 failed, 0 running, 0 pending") &&
		!strings.Contains(out, id+" failed wave 2: 4/4 done, 1 failed, 0 running, 0 pending") {
		t.Errorf("watch (not a terminal: one line per change):\n%s", out)
	}
	cli(1, "rollout", "abort", id, "--reason", "too late")
	cli(1, "rollout", "show", "canary-nope")
	if !strings.Contains(stderr.String(), "404") {
		t.Errorf("unknown rollout stderr: %s", stderr.String())
	}
	stdout.Reset()
	if got := a.run(ctx, []string{"rollout", "list"}); got != exitUsage {
		t.Errorf("list without server: exit %d, want %d", got, exitUsage)
	}
}
