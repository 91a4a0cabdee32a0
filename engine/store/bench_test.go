package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchBackends are the stores the benchmarks run against; PostgreSQL only
// when PATCHBAY_TEST_POSTGRES is set.
var benchBackends = []struct {
	name string
	url  func(testing.TB) string
	opts Options
}{
	{name: "sqlite-full", url: sqliteURL, opts: Options{SQLiteSynchronous: "FULL"}},
	{name: "sqlite-normal", url: sqliteURL, opts: Options{SQLiteSynchronous: "NORMAL"}},
	{name: "sqlite-full-nobatch", url: sqliteURL, opts: Options{SQLiteSynchronous: "FULL", MaxBatch: 1}},
	{name: "postgres", url: postgresURL},
}

// fullSet returns a realistic 2,000-package set (~150 KB): one line per
// package, as a canonical encoding might be.
func fullSet(n int) []byte {
	var data []byte
	for i := range n {
		data = fmt.Appendf(data, `{"name":"libexample%04d","version":"1:2.%d.%d-3+deb12u%d","arch":"amd64","source":"ex%04d"}`+"\n", i, i%17, i%101, i%7, i)
	}
	return data
}

func hashOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// benchHosts enrolls n hosts quickly (one transaction) for benchmarks.
func benchHosts(b *testing.B, s *Store, n int) []string {
	b.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range ids {
		ids[i] = fmt.Sprintf("host-%06d", i)
		if _, err := tx.ExecContext(ctx, s.q("INSERT INTO hosts (id, token_hash, enrolled_at) VALUES (?, ?, ?)"),
			ids[i], HashToken(ids[i]), dbTime(s.now())); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return ids
}

// cpuPerOp reports the process's CPU time (user+system: the caller, the
// writer goroutine and SQLite) per operation when the returned func runs; on
// a loaded machine it is the number that wall time is not.
func cpuPerOp(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpu()-start).Microseconds())/float64(b.N), "cpu-µs/op")
		}
	}
}

// serverCPU reports the CPU time PostgreSQL spent per operation when the
// returned func runs: the backends serving this store (found by the
// application_name benchURL gave them) plus the server's own processes
// (WAL writer, checkpointer, ...; shared with anything else using the
// server). It reads /proc, so it reports nothing when the server is not on
// this machine or the store is SQLite.
func serverCPU(b *testing.B, s *Store, app string) func() {
	if s.backend != BackendPostgres || app == "" {
		return func() {}
	}
	pids := func() []int {
		rows, err := s.r.QueryContext(context.Background(),
			"SELECT pid FROM pg_stat_activity WHERE application_name = $1 OR backend_type <> 'client backend'", app)
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		var out []int
		for rows.Next() {
			var pid int
			if err := rows.Scan(&pid); err != nil {
				b.Fatal(err)
			}
			out = append(out, pid)
		}
		return out
	}
	// utime+stime of a process in clock ticks (fields 14 and 15 of
	// /proc/PID/stat, counted after the parenthesized command name).
	ticks := func(pid int) (int64, bool) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, false
		}
		_, rest, ok := strings.Cut(string(data), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 13 {
			return 0, false
		}
		u, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		return u + st, err1 == nil && err2 == nil
	}
	total := func(pids []int) (int64, bool) {
		var sum int64
		for _, pid := range pids {
			t, ok := ticks(pid)
			if !ok {
				return 0, false
			}
			sum += t
		}
		return sum, true
	}
	// The pool opens its connections during the run: take the processes
	// at the end, and count those that did not exist at the start from 0.
	before := map[int]int64{}
	for _, pid := range pids() {
		if t, ok := ticks(pid); ok {
			before[pid] = t
		}
	}
	return func() {
		if b.N == 0 {
			return
		}
		after := pids()
		sum, ok := total(after)
		if !ok {
			return
		}
		for _, pid := range after {
			sum -= before[pid]
		}
		const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
		b.ReportMetric(float64((time.Duration(sum)*tick).Microseconds())/float64(b.N), "server-cpu-µs/op")
	}
}

func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkSaveReport measures SaveReport with a known set (the agent sent
// only the hash) and with a new 2,000-package set, serially and with 32
// concurrent callers per core (a busy server).
func BenchmarkSaveReport(b *testing.B) {
	ctx := context.Background()
	base := fullSet(2000)
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			u := be.url(b)
			app := ""
			if strings.HasPrefix(u, "postgres") {
				app = fmt.Sprintf("patchbay-bench-%d", os.Getpid())
				u += "&application_name=" + app
			}
			s, err := Open(ctx, u, be.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ids := benchHosts(b, s, 1000)
			walMB := func(b *testing.B) {
				if fi, err := os.Stat(strings.TrimPrefix(u, "sqlite://") + "-wal"); err == nil {
					b.ReportMetric(float64(fi.Size())/1e6, "wal-MB")
				}
			}
			known := hashOf(base)
			if err := s.PutPackageSet(ctx, known, base); err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			hit := func() error {
				i := seq.Add(1)
				_, err := s.SaveReport(ctx, report(ids[i%int64(len(ids))], known, nil, time.Unix(0, i)))
				return err
			}
			newSet := func() error {
				i := seq.Add(1)
				data := append(fmt.Appendf(nil, "# %d\n", i), base...)
				_, err := s.SaveReport(ctx, report(ids[i%int64(len(ids))], hashOf(data), data, time.Unix(0, i)))
				return err
			}
			for _, c := range []struct {
				name string
				op   func() error
			}{{"hash-hit", hit}, {"new-set", newSet}} {
				b.Run(c.name+"/serial", func(b *testing.B) {
					defer serverCPU(b, s, app)()
					defer cpuPerOp(b)()
					for b.Loop() {
						if err := c.op(); err != nil {
							b.Fatal(err)
						}
					}
					reportOps(b)
				})
				b.Run(c.name+"/parallel", func(b *testing.B) {
					defer serverCPU(b, s, app)()
					defer cpuPerOp(b)()
					c0, r0 := s.GroupCommitStats()
					defer func() {
						if c1, r1 := s.GroupCommitStats(); c1 > c0 {
							b.ReportMetric(float64(r1-r0)/float64(c1-c0), "reports/commit")
						}
					}()
					b.SetParallelism(32)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := c.op(); err != nil {
								b.Error(err)
								return
							}
						}
					})
					reportOps(b)
					walMB(b)
				})
			}
		})
	}
}

// BenchmarkHasPackageSet measures the hash-first probe, hit and miss.
func BenchmarkHasPackageSet(b *testing.B) {
	ctx := context.Background()
	for _, be := range benchBackends {
		if be.opts.MaxBatch == 1 || be.opts.SQLiteSynchronous == "NORMAL" {
			continue // the read path does not depend on these
		}
		b.Run(be.name, func(b *testing.B) {
			s, err := Open(ctx, be.url(b), be.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var hashes []string
			for i := range 1000 {
				data := fmt.Appendf(nil, "set %d", i)
				h := hashOf(data)
				if err := s.PutPackageSet(ctx, h, data); err != nil {
					b.Fatal(err)
				}
				hashes = append(hashes, h)
			}
			for _, c := range []struct {
				name   string
				prefix string
				want   bool
			}{{"hit", "", true}, {"miss", "x", false}} {
				b.Run(c.name, func(b *testing.B) {
					var seq atomic.Int64
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							i := seq.Add(1)
							ok, err := s.HasPackageSet(ctx, c.prefix+hashes[i%int64(len(hashes))])
							if err != nil || ok != c.want {
								b.Errorf("HasPackageSet = %v, %v; want %v", ok, err, c.want)
								return
							}
						}
					})
					reportOps(b)
				})
			}
		})
	}
}

// BenchmarkEncodeSet measures compressing a 2,000-package set for SQLite.
func BenchmarkEncodeSet(b *testing.B) {
	s := &Store{backend: BackendSQLite, compressSem: make(chan struct{}, 1)}
	data := fullSet(2000)
	b.SetBytes(int64(len(data)))
	var row setRow
	for b.Loop() {
		var err error
		if row, err = s.encodeSet(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data))/float64(len(row.data)), "ratio")
}
