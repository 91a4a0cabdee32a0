package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/inventory"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// runAtExampleDate runs patchbay with a clock that starts at the example's
// date (demoEpoch) and runs in real time: the quickstart validates (its
// exception has not expired) and its reports are fresh, on any day.
func runAtExampleDate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	start, err := time.Parse(time.RFC3339, demoEpoch)
	if err != nil {
		panic(err)
	}
	real := time.Now()
	a := &app{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr, getenv: osGetenv,
		now: func() time.Time { return start.Add(time.Since(real)) }}
	return a.run(ctx, args)
}

// TestServe starts `patchbay serve -C examples/quickstart` on a fresh
// SQLite file, creates tokens with `patchbay token create`, enrolls and
// reports a host with the agent's client, reads the fleet plan as admin,
// and shuts the server down by canceling its context (as SIGTERM does).
func TestServe(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "patchbay.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runAtExampleDate(ctx, []string{"serve", "-C", "../../examples/quickstart", "--db", db, "--listen", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	addr := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`)
	var url string
	for deadline := time.Now().Add(20 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addr.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("server did not start:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "patchbay token create --enroll --reason \"enroll the first hosts\" --db "+db) {
		t.Errorf("startup does not say how to create an enrollment token:\n%s", stderr.String())
	}
	token := func(args ...string) string {
		var out, errb bytes.Buffer
		if code := runAtExampleDate(ctx, append([]string{"token", "create", "--reason", "serve test", "--db", db}, args...), &out, &errb); code != 0 {
			t.Fatalf("token create %v: exit %d: %s", args, code, errb.String())
		}
		return strings.TrimSpace(out.String())
	}
	enroll, admin := token("--enroll", "--uses", "1"), token("--admin", "--name", "ops")
	c := &agent.Client{Server: url, Token: enroll, Retry: agent.Retry{Attempts: 3, Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}}
	resp, err := c.Enroll(ctx, api.EnrollRequest{HostID: "deb12-prod-01"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enroll(ctx, api.EnrollRequest{HostID: "second"}); err == nil {
		t.Error("a one-use enrollment token enrolled two hosts")
	}
	rep := readReport(t, "../../examples/quickstart/inventory/deb12-prod-01.json")
	c.Token = resp.Token
	ack, full, err := c.Report(ctx, rep)
	if err != nil || !full || !ack.Accepted {
		t.Fatalf("report: %+v full=%v %v", ack, full, err)
	}
	req, _ := http.NewRequest("GET", url+"/api/v1/plan", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Fleet struct{ Hosts int } }
	err = json.NewDecoder(r.Body).Decode(&p)
	r.Body.Close()
	if err != nil || r.StatusCode != 200 || p.Fleet.Hosts != 1 {
		t.Errorf("GET /api/v1/plan: %d %+v %v", r.StatusCode, p, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exit %d after shutdown:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down")
	}
}

func readReport(t *testing.T, path string) *inventory.Report {
	t.Helper()
	var r *inventory.Report
	if err := inventory.ReadPath(context.Background(), path, &inventory.Decoder{}, func(x *inventory.Report) error { r = x; return nil }); err != nil {
		t.Fatal(err)
	}
	return r
}
