package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/server"
	"github.com/patchbay/patchbay/engine/store"
)

// testNow is the clock of these tests: the quickstart inventory was
// collected the evening before.
var testNow = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

type env struct {
	t         testing.TB
	dbURL     string
	st        *store.Store
	srv       *server.Server
	ts        *httptest.Server
	spec      *spec
	enrollTok string
	adminTok  string
	cfg       server.Config
	// trail is the Git audit trail the dashboard reads (dashEnv).
	trail *trail
}

// newEnv starts a server over a fresh SQLite store and the quickstart
// repository, with an enrollment token (100 uses) and an admin token.
func newEnv(t testing.TB, mod ...func(*server.Config)) *env {
	t.Helper()
	e := &env{t: t, dbURL: "sqlite://" + filepath.Join(t.TempDir(), "patchbay.db"), spec: loadSpec(t)}
	e.start(mod...)
	ctx := context.Background()
	e.enrollTok, e.adminTok = "enroll-token-for-tests", "admin-token-for-tests"
	if err := e.st.CreateEnrollmentToken(ctx, e.enrollTok, testNow.Add(time.Hour), 100); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateAdminToken(ctx, "ops", e.adminTok); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) start(mod ...func(*server.Config)) {
	t := e.t
	t.Helper()
	st, err := store.Open(context.Background(), e.dbURL, store.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	rl := server.NewReloader(server.DirSource{Dir: fixture.Path(t, "examples/quickstart")}, nil, clock)
	if err := rl.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Store: st, Models: rl, Now: clock, Rate: -1, PlanFlush: 10 * time.Millisecond}
	for _, m := range mod {
		m(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.st, e.srv, e.cfg = st, srv, cfg
	e.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(e.stop)
}

// stop closes the HTTP server, the server and the store (idempotent).
func (e *env) stop() {
	if e.ts == nil {
		return
	}
	e.ts.Close()
	if err := e.srv.Close(); err != nil {
		e.t.Errorf("server close: %v", err)
	}
	if err := e.st.Close(); err != nil {
		e.t.Errorf("store close: %v", err)
	}
	e.ts = nil
}

// do sends a request and checks the answer against openapi.yaml.
func (e *env) do(method, path, token, ctype string, body []byte) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.spec.checkResponse(method, path, resp.StatusCode, resp.Header.Get("Content-Type"), b); err != nil {
		e.t.Errorf("openapi: %v\nbody: %.500s", err, b)
	}
	return resp.StatusCode, b
}

func (e *env) enroll(id string, labels map[string]string) string {
	e.t.Helper()
	b, _ := json.Marshal(api.EnrollRequest{HostID: id, Labels: labels})
	code, body := e.do("POST", "/api/v1/enroll", e.enrollTok, "application/json", b)
	if code != http.StatusCreated {
		e.t.Fatalf("enroll %s: %d %s", id, code, body)
	}
	var r api.EnrollResponse
	if err := json.Unmarshal(body, &r); err != nil {
		e.t.Fatal(err)
	}
	return r.Token
}

// quickstart returns the quickstart reports by host id with their raw
// JSON.
func quickstart(t testing.TB) (map[string]*inventory.Report, map[string][]byte) {
	t.Helper()
	dir := fixture.Path(t, "examples/quickstart/inventory")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	reps, raw := map[string]*inventory.Report{}, map[string][]byte{}
	for _, en := range ents {
		b, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		r, err := inventory.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		id := strings.TrimSuffix(en.Name(), ".json")
		reps[id], raw[id] = r, b
	}
	return reps, raw
}

func decodeAs[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, b)
	}
	return v
}
