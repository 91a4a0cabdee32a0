package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/server"
	"github.com/patchbay/patchbay/engine/store"
)

func summaryJSON(t testing.TB, id string, reps map[string][]byte) []byte {
	t.Helper()
	r, _ := quickstart(t)
	s := agent.Summary(r[id])
	b, _ := json.Marshal(s)
	return b
}

func TestEnroll(t *testing.T) {
	e := newEnv(t)
	ok, _ := json.Marshal(api.EnrollRequest{HostID: "web-01", Labels: map[string]string{"ring": "canary"}})
	tests := []struct {
		name, token, body string
		want              int
		wantCode          string
	}{
		{"no token", "", string(ok), 401, api.CodeUnauthorized},
		{"unknown token", "nope", string(ok), 401, api.CodeUnauthorized},
		{"host token is not an enrollment token", "", string(ok), 401, api.CodeUnauthorized},
		{"malformed", e.enrollTok, `{"hostId":`, 400, api.CodeBadRequest},
		{"unknown field", e.enrollTok, `{"hostId":"a","x":1}`, 400, api.CodeBadRequest},
		{"wrong type", e.enrollTok, `{"hostId":5}`, 400, api.CodeBadRequest},
		{"bad host id", e.enrollTok, `{"hostId":"-bad id"}`, 422, api.CodeInvalidReport},
		{"oversized", e.enrollTok, `{"hostId":"a","hostname":"` + strings.Repeat("a", 70<<10) + `"}`, 413, api.CodeTooLarge},
		{"happy", e.enrollTok, string(ok), 201, ""},
		{"again", e.enrollTok, string(ok), 409, api.CodeConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.do("POST", "/api/v1/enroll", tt.token, "application/json", []byte(tt.body))
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
			if tt.wantCode != "" {
				er := decodeAs[api.Error](t, body)
				if er.Code != tt.wantCode {
					t.Errorf("code %q, want %q", er.Code, tt.wantCode)
				}
				if strings.Contains(er.Message, "Go ") || strings.Contains(er.Message, "api.") || strings.Contains(er.Message, "struct") {
					t.Errorf("message leaks Go internals: %s", er.Message)
				}
				return
			}
			r := decodeAs[api.EnrollResponse](t, body)
			h, err := e.st.VerifyHostToken(context.Background(), r.Token)
			if err != nil || h.ID != "web-01" || h.Labels["ring"] != "canary" {
				t.Errorf("host token does not verify to the host: %+v, %v", h, err)
			}
		})
	}
	if _, err := e.st.Host(context.Background(), "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused enrollment stored a host: %v", err)
	}
}

func TestReport(t *testing.T) {
	e := newEnv(t)
	reps, raw := quickstart(t)
	tokA := e.enroll("deb12-pilot-01", nil)
	tokB := e.enroll("deb12-prod-01", nil)
	sumA := summaryJSON(t, "deb12-pilot-01", raw)
	path := "/api/v1/hosts/deb12-pilot-01/report"
	huge := append(bytes.Repeat([]byte(" "), 17<<20), raw["deb12-pilot-01"]...)
	tests := []struct {
		name, path, token, ctype string
		body                     []byte
		want                     int
		wantCode                 string
	}{
		{"no token", path, "", api.MediaReport, raw["deb12-pilot-01"], 401, api.CodeUnauthorized},
		{"bad token", path, "x", api.MediaReport, raw["deb12-pilot-01"], 401, api.CodeUnauthorized},
		{"admin token is not a host token", path, e.adminTok, api.MediaReport, raw["deb12-pilot-01"], 401, api.CodeUnauthorized},
		{"other host's path", "/api/v1/hosts/deb12-prod-01/report", tokA, api.MediaReport, raw["deb12-prod-01"], 403, api.CodeForbidden},
		{"other host's report on own path", "/api/v1/hosts/deb12-prod-01/report", tokB, api.MediaReport, raw["deb12-pilot-01"], 403, api.CodeForbidden},
		{"unsupported type", path, tokA, "text/plain", raw["deb12-pilot-01"], 415, api.CodeUnsupportedType},
		{"malformed", path, tokA, api.MediaReport, raw["deb12-pilot-01"][:500], 400, api.CodeBadRequest},
		{"invalid", path, tokA, api.MediaReport, bytes.Replace(raw["deb12-pilot-01"], []byte(`"ecosystem": "deb"`), []byte(`"ecosystem": "msi"`), 1), 422, api.CodeInvalidReport},
		{"oversized", path, tokA, api.MediaReport, huge, 413, api.CodeTooLarge},
		{"summary, set unknown", path, tokA, api.MediaReportSummary, sumA, 409, api.CodeNeedPackages},
		{"summary oversized", path, tokA, api.MediaReportSummary, append(bytes.Repeat([]byte(" "), 2<<20), sumA...), 413, api.CodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.do("PUT", tt.path, tt.token, tt.ctype, tt.body)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %.300s", code, tt.want, body)
			}
			er := decodeAs[api.Error](t, body)
			if er.Code != tt.wantCode {
				t.Errorf("code %q, want %q", er.Code, tt.wantCode)
			}
			if tt.wantCode == api.CodeNeedPackages && !er.NeedPackages {
				t.Error("needPackages not set")
			}
			if strings.Contains(er.Message, "sql") || strings.Contains(er.Message, "sqlite") {
				t.Errorf("message leaks internals: %s", er.Message)
			}
		})
	}
	// Nothing was stored by the refused reports.
	st, err := e.st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Reports != 0 || st.PackageSets != 0 {
		t.Fatalf("refused reports stored something: %+v", st)
	}
	// Full report, then the summary is a hash hit.
	code, body := e.do("PUT", path, tokA, api.MediaReport, raw["deb12-pilot-01"])
	if code != 200 {
		t.Fatalf("full report: %d %s", code, body)
	}
	ack := decodeAs[api.ReportAck](t, body)
	if !ack.Accepted || !ack.SetStored || ack.PackageSetHash != reps["deb12-pilot-01"].Packages.Hash() || ack.Status != "NON_COMPLIANT" {
		t.Errorf("full report ack: %+v", ack)
	}
	code, body = e.do("PUT", path, tokA, api.MediaReportSummary, sumA)
	if code != 200 {
		t.Fatalf("summary: %d %s", code, body)
	}
	if ack2 := decodeAs[api.ReportAck](t, body); ack2.SetStored || ack2.ReportID <= ack.ReportID {
		t.Errorf("summary ack: %+v", ack2)
	}
	if err := e.srv.Close(); err != nil { // writes the ring learnt from the plan
		t.Fatal(err)
	}
	h, err := e.st.Host(context.Background(), "deb12-pilot-01")
	if err != nil || h.PackageSetHash != ack.PackageSetHash || h.Ring != "pilot" {
		t.Errorf("host after reports: %+v %v", h, err)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.Rate, c.Burst = 0.001, 2 })
	tok := e.enroll("deb12-pilot-01", nil)
	var codes []int
	for range 4 {
		code, _ := e.do("GET", "/api/v1/hosts/deb12-pilot-01/assignment", tok, "", nil)
		codes = append(codes, code)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 || codes[3] != 429 {
		t.Errorf("statuses %v, want two 200 then 429", codes)
	}
}

func TestAssignmentAndResults(t *testing.T) {
	e := newEnv(t)
	_, raw := quickstart(t)
	tok := e.enroll("deb12-pilot-01", nil)
	other := e.enroll("deb12-prod-01", nil)
	apath := "/api/v1/hosts/deb12-pilot-01/assignment"
	// Before any report.
	code, body := e.do("GET", apath, tok, "", nil)
	if code != 200 || decodeAs[api.Assignment](t, body).Status != server.StatusNoReport {
		t.Fatalf("assignment before report: %d %s", code, body)
	}
	if code, _ := e.do("PUT", "/api/v1/hosts/deb12-pilot-01/report", tok, api.MediaReport, raw["deb12-pilot-01"]); code != 200 {
		t.Fatal(code)
	}
	for _, tt := range []struct {
		name, token string
		path        string
		want        int
	}{
		{"no token", "", apath, 401},
		{"other host", other, apath, 403},
		{"admin token", e.adminTok, apath, 401},
	} {
		t.Run("assignment "+tt.name, func(t *testing.T) {
			if code, body := e.do("GET", tt.path, tt.token, "", nil); code != tt.want {
				t.Errorf("status %d, want %d: %s", code, tt.want, body)
			}
		})
	}
	code, body = e.do("GET", apath, tok, "", nil)
	if code != 200 {
		t.Fatal(code, string(body))
	}
	asg := decodeAs[api.Assignment](t, body)
	if asg.Status != "NON_COMPLIANT" || len(asg.Actions) == 0 || asg.BaselineDigest == "" {
		t.Fatalf("assignment: %+v", asg)
	}
	for _, a := range asg.Actions {
		if a.ID != api.ActionID("deb12-pilot-01", asg.BaselineDigest, a.Key) {
			t.Errorf("action %s: id %s is not its idempotency key", a.Key, a.ID)
		}
	}
	a0 := asg.Actions[0]
	res := api.ResultsRequest{PostStateHash: "sha256:x", PostStateReportID: 1, Results: []api.ActionResult{{ActionID: a0.ID,
		BaselineDigest: asg.BaselineDigest, Key: a0.Key, Outcome: api.OutcomeSucceeded, StartedAt: testNow, FinishedAt: testNow}}}
	good, _ := json.Marshal(res)
	forged := res
	forged.Results = []api.ActionResult{res.Results[0]}
	forged.Results[0].Key = "upgrade something-else"
	bad, _ := json.Marshal(forged)
	rpath := "/api/v1/hosts/deb12-pilot-01/results"
	for _, tt := range []struct {
		name, token string
		body        []byte
		want        int
		status      string
	}{
		{"no token", "", good, 401, ""},
		{"other host", other, good, 403, ""},
		{"forged id", tok, bad, 400, ""},
		{"oversized", tok, append(bytes.Repeat([]byte(" "), 2<<20), good...), 413, ""},
		{"malformed", tok, good[:10], 400, ""},
		{"happy", tok, good, 200, "recorded"},
		{"redelivery", tok, good, 200, "duplicate"},
	} {
		t.Run("results "+tt.name, func(t *testing.T) {
			code, body := e.do("POST", rpath, tt.token, "application/json", tt.body)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
			if tt.status != "" {
				if r := decodeAs[api.ResultsResponse](t, body); len(r.Statuses) != 1 || r.Statuses[0] != tt.status {
					t.Errorf("statuses %v, want [%s]", r.Statuses, tt.status)
				}
			}
		})
	}
	steps, err := e.st.Steps(context.Background(), server.ImplicitRolloutPrefix+asg.BaselineDigest)
	if err != nil || len(steps) != 1 || steps[0].Status != api.OutcomeSucceeded {
		t.Errorf("steps: %+v %v", steps, err)
	}
}

func TestAdmin(t *testing.T) {
	e := newEnv(t)
	reps, raw := quickstart(t)
	for id := range reps {
		tok := e.enroll(id, nil)
		if code, body := e.do("PUT", "/api/v1/hosts/"+id+"/report", tok, api.MediaReport, raw[id]); code != 200 {
			t.Fatalf("%s: %d %s", id, code, body)
		}
	}
	hostTok := e.enroll("lonely", nil)
	for _, path := range []string{"/api/v1/plan", "/api/v1/hosts", "/api/v1/hosts/deb12-pilot-01"} {
		for _, tt := range []struct {
			name, token string
			want        int
		}{{"no token", "", 401}, {"host token", hostTok, 401}, {"enroll token", e.enrollTok, 401}, {"happy", e.adminTok, 200}} {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				if code, body := e.do("GET", path, tt.token, "", nil); code != tt.want {
					t.Errorf("status %d, want %d: %.300s", code, tt.want, body)
				}
			})
		}
	}
	_, body := e.do("GET", "/api/v1/plan", e.adminTok, "", nil)
	// The streamed plan is exactly the plan's JSON encoding.
	fp, err := e.srv.FleetPlan(context.Background(), plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(fp)
	if !bytes.Equal(bytes.TrimSpace(body), want) {
		t.Errorf("GET /api/v1/plan differs from json.Marshal of the plan (%d vs %d bytes)", len(body), len(want))
	}
	// Compressed when asked for, the same bytes.
	req, _ := http.NewRequest("GET", e.ts.URL+"/api/v1/plan", nil)
	req.Header.Set("Authorization", "Bearer "+e.adminTok)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip plan: %v, Content-Encoding %q", err, resp.Header.Get("Content-Encoding"))
	}
	unz, err := io.ReadAll(zr)
	resp.Body.Close()
	if err != nil || !bytes.Equal(unz, body) {
		t.Errorf("gzip plan differs from the plain one (%v)", err)
	}
	var p struct {
		Hosts []struct{ ID, Status string }
		Fleet struct{ Hosts int }
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Fleet.Hosts != len(reps) {
		t.Errorf("fleet plan has %d hosts, want %d", p.Fleet.Hosts, len(reps))
	}
	code, body := e.do("GET", "/api/v1/hosts?limit=5", e.adminTok, "", nil)
	hl := decodeAs[api.HostList](t, body)
	if code != 200 || len(hl.Hosts) != 5 || hl.Next == "" {
		t.Errorf("hosts page: %d %+v", code, hl)
	}
	if code, _ := e.do("GET", "/api/v1/hosts?limit=0", e.adminTok, "", nil); code != 400 {
		t.Errorf("limit=0: %d, want 400", code)
	}
	if code, _ := e.do("GET", "/api/v1/hosts/nope", e.adminTok, "", nil); code != 404 {
		t.Errorf("unknown host: %d, want 404", code)
	}
	if err := e.srv.Close(); err != nil { // flush snapshots
		t.Fatal(err)
	}
	_, body = e.do("GET", "/api/v1/hosts/deb12-pilot-01", e.adminTok, "", nil)
	if hd := decodeAs[api.HostDetail](t, body); hd.Plan == nil || hd.BaselineDigest == "" || hd.Host.Ring != "pilot" {
		t.Errorf("host detail without a plan snapshot: %s", body)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	if code, _ := e.do("GET", "/healthz", "", "", nil); code != 200 {
		t.Errorf("healthz %d", code)
	}
	code, body := e.do("GET", "/readyz", "", "", nil)
	if r := decodeAs[api.Ready](t, body); code != 200 || !r.Ready || r.Repository == "" {
		t.Errorf("readyz %d %s", code, body)
	}
	code, body = e.do("GET", "/metrics", "", "", nil)
	for _, want := range []string{"patchbay_reports_received_total{form=\"summary\"}", "patchbay_set_cache_hit_ratio", "patchbay_plan_seconds_bucket", "patchbay_http_request_duration_seconds_bucket{route=\"GET /readyz\""} {
		if code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code, body := e.do("GET", "/api/v1/nope", "", "", nil); code != 404 || !json.Valid(body) {
		t.Errorf("unknown path: %d %s", code, body)
	}
	_ = http.StatusOK
}
