package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/server"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

// The load benchmarks run the real server over loopback HTTP with
// concurrent clients: each b.N iteration is one report. They report
// reports/s and latency percentiles as custom metrics. The PostgreSQL
// variants run when PATCHBAY_TEST_POSTGRES names a database.

const benchClients = 64

type benchEnv struct {
	st   *store.Store
	srv  *server.Server
	ts   *httptest.Server
	toks []string
	ids  []string
}

// benchStores names the backends to run, each with a function giving a
// fresh database for one run of a benchmark function.
func benchStores() map[string]func(b *testing.B) string {
	urls := map[string]func(b *testing.B) string{"sqlite": func(b *testing.B) string {
		return "sqlite://" + filepath.Join(b.TempDir(), "bench.db")
	}}
	if pg := os.Getenv("PATCHBAY_TEST_POSTGRES"); pg != "" {
		urls["postgres"] = func(b *testing.B) string { return storetest.Schema(b, pg) }
	}
	return urls
}

func newBenchEnv(b *testing.B, url string, hosts int) *benchEnv {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, url, store.Options{Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	rl := server.NewReloader(server.DirSource{Dir: fixture.Path(b, "examples/quickstart")}, nil, clock)
	if err := rl.Check(ctx); err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Models: rl, Now: clock, Rate: -1})
	if err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{st: st, srv: srv, ts: httptest.NewUnstartedServer(srv.Handler())}
	e.ts.Start()
	b.Cleanup(func() { e.ts.Close(); srv.Close(); st.Close() })
	enroll := fmt.Sprintf("bench-enroll-%d", time.Now().UnixNano())
	if err := st.CreateEnrollmentToken(ctx, enroll, testNow.Add(time.Hour), hosts); err != nil {
		b.Fatal(err)
	}
	// Enroll concurrently so SQLite's and PostgreSQL's commits overlap.
	e.toks, e.ids = make([]string, hosts), make([]string, hosts)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range hosts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			id, tok := fmt.Sprintf("bench-%05d", i), fmt.Sprintf("bench-token-%05d-%d", i, time.Now().UnixNano())
			if _, err := st.EnrollHost(ctx, enroll, store.NewHost{ID: id}, tok); err != nil {
				b.Error(err)
			}
			e.ids[i], e.toks[i] = id, tok
		})
	}
	wg.Wait()
	return e
}

func (e *benchEnv) client() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients * 2}}
}

// run sends b.N requests from benchClients goroutines; body(i) gives the
// i-th request's host index, content type and body.
func (e *benchEnv) run(b *testing.B, body func(i int) (int, string, []byte)) {
	c := e.client()
	var next atomic.Int64
	lat := make([]time.Duration, b.N)
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range benchClients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				h, ctype, data := body(i)
				req, _ := http.NewRequest("PUT", e.ts.URL+"/api/v1/hosts/"+e.ids[h]+"/report", bytes.NewReader(data))
				req.Header.Set("Authorization", "Bearer "+e.toks[h])
				req.Header.Set("Content-Type", ctype)
				t0 := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode != 200 {
					if failed.Add(1) == 1 {
						b.Errorf("status %d", resp.StatusCode)
					}
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/el.Seconds(), "reports/s")
	b.ReportMetric(float64(lat[b.N/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[b.N*99/100].Microseconds())/1000, "p99-ms")
	if f := failed.Load(); f > 0 {
		b.Errorf("%d of %d requests failed", f, b.N)
	}
}

// BenchmarkReportHashHit: 1,000 hosts send summaries of package sets the
// server already holds (the steady state of a fleet).
func BenchmarkReportHashHit(b *testing.B) {
	reps, raw := quickstart(b)
	var ids []string
	for id := range reps {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for name, url := range benchStores() {
		b.Run(name, func(b *testing.B) {
			const hosts = 1000
			e := newBenchEnv(b, url(b), hosts)
			sums := make([][]byte, hosts)
			for h := range hosts {
				src := ids[h%len(ids)]
				r := *reps[src]
				r.HostID = e.ids[h]
				full, err := json.Marshal(&r)
				if err != nil {
					b.Fatal(err)
				}
				if h < len(ids) { // store each set once
					sendFull(b, e, h, full)
				}
				s, _ := json.Marshal(agent.Summary(&r))
				sums[h] = s
			}
			_ = raw
			e.run(b, func(i int) (int, string, []byte) { return i % hosts, api.MediaReportSummary, sums[i%hosts] })
		})
	}
}

func sendFull(b *testing.B, e *benchEnv, h int, full []byte) {
	req, _ := http.NewRequest("PUT", e.ts.URL+"/api/v1/hosts/"+e.ids[h]+"/report", bytes.NewReader(full))
	req.Header.Set("Authorization", "Bearer "+e.toks[h])
	req.Header.Set("Content-Type", api.MediaReport)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("full report: %d", resp.StatusCode)
	}
}

// BenchmarkReportFull: full 2,000-package reports, every one a package set
// the server has not seen (hash miss: decode, validate, compress, store).
func BenchmarkReportFull(b *testing.B) {
	reps, _ := quickstart(b)
	base := reps["deb12-prod-01"]
	pkgs := widen(base.Packages.Packages(), 2000)
	for name, url := range benchStores() {
		b.Run(name, func(b *testing.B) {
			const hosts = 200
			e := newBenchEnv(b, url(b), hosts)
			// Pre-build b.N distinct reports (one changed version each).
			bodies := make([][]byte, b.N)
			for i := range b.N {
				p := slices.Clone(pkgs)
				p[i%len(p)].Version += fmt.Sprintf("+b%d", i)
				p[i%len(p)].SourceVersion = p[i%len(p)].Version
				ps, err := inventory.NewPackageSet(base.Ecosystem, p)
				if err != nil {
					b.Fatal(err)
				}
				r := *base
				r.HostID, r.Packages = e.ids[i%hosts], ps
				bodies[i], err = json.Marshal(&r)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(bodies[0])))
			e.run(b, func(i int) (int, string, []byte) { return i % hosts, api.MediaReport, bodies[i] })
		})
	}
}

// widen repeats a real package list with suffixed names up to n packages.
func widen(src []inventory.Package, n int) []inventory.Package {
	out := make([]inventory.Package, 0, n)
	for k := 0; len(out) < n; k++ {
		for _, p := range src {
			if len(out) == n {
				break
			}
			if k > 0 {
				p.Name = fmt.Sprintf("%s-x%d", p.Name, k)
			}
			out = append(out, p)
		}
	}
	return out
}
