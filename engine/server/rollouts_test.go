package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/rollout"
	"github.com/patchbay/patchbay/engine/server"
	"github.com/patchbay/patchbay/engine/store"
)

// TestRolloutEndpoints serves a real rollout controller: the canary
// promotion of the quickstart starts a rollout whose waves the agent API
// follows (assignments carry the rollout id or a hold), and the admin
// endpoints list, show, pause, resume and abort it; every answer is checked
// against openapi.yaml.
func TestRolloutEndpoints(t *testing.T) {
	ctx := context.Background()
	g := gitrepotest.New(t)
	files := fixture.QuickstartFiles(t)
	canary := files["rings/canary.cue"]
	files["rings/canary.cue"] = strings.Replace(canary, `baseline: "2026-11-hotfix-1"`, `baseline: "2026-11"`, 1)
	g.Commit("canary on 2026-11", files)
	repo, err := gitrepo.Open(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()

	var srv *server.Server
	var ctl *rollout.Controller
	e := newEnv(t, func(cfg *server.Config) {
		var err error
		ctl, err = rollout.New(rollout.Config{Store: cfg.Store, Repo: repo,
			Inventory: rollout.InventoryFunc(func(ctx context.Context) ([]*inventory.Report, error) { return srv.Reports(ctx) }),
			Planner:   rollout.PlannerFunc(func(ctx context.Context, h store.Host) (*plan.Host, error) { return srv.HostPlan(ctx, h) }),
			Options:   rollout.Options{Now: clock, Holder: "test"}})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Assigner = ctl
	})
	srv = e.srv
	srv.EnableRollouts(ctl)
	_, raw := quickstart(t)
	tokens := map[string]string{}
	for _, id := range []string{"deb12-canary-02", "ubuntu-canary-01", "alpine-canary-01", "rhel9-canary-01", "deb12-pilot-01"} {
		tokens[id] = e.enroll(id, nil)
		if code, body := e.do("PUT", "/api/v1/hosts/"+id+"/report", tokens[id], api.MediaReport, raw[id]); code != 200 {
			t.Fatalf("report %s: %d %s", id, code, body)
		}
	}
	if err := ctl.Step(ctx); err != nil { // adopt
		t.Fatal(err)
	}
	merge, _ := g.MergePR(7, "sre-platform", "promote-canary", map[string]string{"rings/canary.cue": canary})
	if err := ctl.Step(ctx); err != nil {
		t.Fatal(err)
	}
	id := "canary-" + merge[:12]

	// Merged without a gate decision or counted approvals: unreviewed,
	// until an admin approves it with a reason (break-glass).
	code, body := e.do("GET", "/api/v1/rollouts", e.adminTok, "", nil)
	if l := decodeAs[api.RolloutList](t, body); code != 200 || len(l.Rollouts) != 1 || l.Rollouts[0].State != rollout.StateUnreviewed {
		t.Fatalf("list before approval: %d %s", code, body)
	}
	if code, body := e.do("POST", "/api/v1/rollouts/"+id+"/approve", e.adminTok, "application/json", []byte(`{}`)); code != 400 {
		t.Fatalf("approve without a reason: %d %s, want 400", code, body)
	}
	if code, body := e.do("POST", "/api/v1/rollouts/"+id+"/approve", e.adminTok, "application/json", []byte(`{"reason": "merged during the outage, reviewed afterwards"}`)); code != 200 {
		t.Fatalf("approve: %d %s", code, body)
	}
	if err := ctl.Step(ctx); err != nil {
		t.Fatal(err)
	}

	code, body = e.do("GET", "/api/v1/rollouts", e.adminTok, "", nil)
	l := decodeAs[api.RolloutList](t, body)
	if code != 200 || len(l.Rollouts) != 1 || l.Rollouts[0].ID != id || l.Rollouts[0].Hosts.Total != 4 || l.Rollouts[0].Hosts.Running != 2 {
		t.Fatalf("list: %d %s", code, body)
	}
	// Two hosts are in wave 1 (maxConcurrency 2), two wait for theirs; the
	// pilot host has no rollout.
	holds := map[string]int{}
	for host, tok := range tokens {
		_, body := e.do("GET", "/api/v1/hosts/"+host+"/assignment", tok, "", nil)
		a := decodeAs[api.Assignment](t, body)
		switch {
		case len(a.Actions) > 0 && a.RolloutID == id:
			holds["work"]++
		default:
			holds[a.Hold]++
		}
	}
	if want := map[string]int{"work": 2, rollout.HoldWave: 2, rollout.HoldNoRollout: 1}; !equalCounts(holds, want) {
		t.Errorf("assignments: %v, want %v", holds, want)
	}
	// A wave host's results are recorded under the rollout.
	running, err := e.st.RolloutHosts(ctx, id, rollout.HostRunning)
	if err != nil || len(running) == 0 {
		t.Fatalf("running hosts: %v, %v", running, err)
	}
	host := running[0].HostID
	_, body = e.do("GET", "/api/v1/hosts/"+host+"/assignment", tokens[host], "", nil)
	a := decodeAs[api.Assignment](t, body)
	var rr api.ResultsRequest
	for _, act := range a.Actions {
		rr.Results = append(rr.Results, api.ActionResult{ActionID: act.ID, BaselineDigest: a.BaselineDigest, Key: act.Key,
			Outcome: api.OutcomeSucceeded, StartedAt: testNow, FinishedAt: testNow})
	}
	b, _ := json.Marshal(rr)
	if code, body := e.do("POST", "/api/v1/hosts/"+host+"/results", tokens[host], "application/json", b); code != 200 {
		t.Fatalf("results: %d %s", code, body)
	}
	if steps, err := e.st.Steps(ctx, id); err != nil || len(steps) != len(a.Actions) {
		t.Errorf("steps under %s: %d, %v; want %d", id, len(steps), err, len(a.Actions))
	}
	for _, tt := range []struct {
		name, method, path, token string
		want                      int
		state                     string
		reason                    string
	}{
		{"show", "GET", "/api/v1/rollouts/" + id, e.adminTok, 200, "running", ""},
		{"pause without a reason", "POST", "/api/v1/rollouts/" + id + "/pause", e.adminTok, 400, "", "  "},
		{"abort without a reason", "POST", "/api/v1/rollouts/" + id + "/abort", e.adminTok, 400, "", "-"},
		{"no token", "GET", "/api/v1/rollouts", "", 401, "", "test"},
		{"host token", "GET", "/api/v1/rollouts", tokens["deb12-pilot-01"], 401, "", "test"},
		{"unknown", "GET", "/api/v1/rollouts/canary-nope", e.adminTok, 404, "", "test"},
		{"pause", "POST", "/api/v1/rollouts/" + id + "/pause", e.adminTok, 200, "paused", "test"},
		{"pause twice", "POST", "/api/v1/rollouts/" + id + "/pause", e.adminTok, 409, "", "test"},
		{"resume", "POST", "/api/v1/rollouts/" + id + "/resume", e.adminTok, 200, "running", "test"},
		{"abort", "POST", "/api/v1/rollouts/" + id + "/abort", e.adminTok, 200, "aborted", "test"},
		{"resume aborted", "POST", "/api/v1/rollouts/" + id + "/resume", e.adminTok, 409, "", "test"},
	} {
		var reqBody []byte
		ctype := ""
		if tt.method == "POST" {
			reqBody, _ = json.Marshal(api.RolloutAction{Reason: tt.reason})
			if tt.reason == "-" {
				reqBody = nil // no body at all
			}
			ctype = "application/json"
		}
		code, body := e.do(tt.method, tt.path, tt.token, ctype, reqBody)
		if code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, code, body, tt.want)
			continue
		}
		if tt.want == 400 {
			if e := decodeAs[api.Error](t, body); e.Code != api.CodeBadRequest || !strings.Contains(e.Message, "needs a reason") {
				t.Errorf("%s: %s, want a JSON error asking for a reason", tt.name, body)
			}
		}
		if tt.state != "" {
			if v := decodeAs[api.Rollout](t, body); v.State != tt.state {
				t.Errorf("%s: state %s, want %s", tt.name, v.State, tt.state)
			}
		}
	}
	_, body = e.do("GET", "/api/v1/rollouts/"+id, e.adminTok, "", nil)
	if v := decodeAs[api.Rollout](t, body); v.Hosts.Cancelled != 2 || len(v.Events) < 4 {
		t.Errorf("after abort: %+v", v)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
