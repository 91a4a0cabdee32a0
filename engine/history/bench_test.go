package history

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// BenchmarkHistoryFleet simulates a fleet for 90 days and measures the
// SQLite file, the overview query (90 days of ring roll-ups) and the
// cycle summary. PATCHBAY_HISTORY_HOSTS sets the fleet size (default
// 2,000; the target is 100,000 hosts in under 2 GiB). Each host has 20
// rules of its stream; a new baseline on days 0, 30 and 60 replaces 5 of
// them, which each host fixes 1–25 days later (5 % never), and 2 % of the
// hosts regress one rule a month for a few days. History is written the
// way the server writes it: each host's full state set, in batches of 512.
func BenchmarkHistoryFleet(b *testing.B) {
	hosts := 2000
	if v := os.Getenv("PATCHBAY_HISTORY_HOSTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("PATCHBAY_HISTORY_HOSTS=%q", v)
		}
		hosts = n
	}
	for b.Loop() {
		runFleet(b, hosts)
	}
}

func runFleet(b *testing.B, hosts int) {
	ctx := context.Background()
	dir := b.TempDir()
	path := filepath.Join(dir, "history.db")
	st, err := store.Open(ctx, "sqlite://"+path, store.Options{SQLiteSynchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	streams := []string{"debian-12", "ubuntu-24.04", "rhel-9", "alpine-3.20"}
	rings := []string{"canary", "pilot", "prod"}
	sevs := []string{"critical", "high", "medium", "low"}
	rng := rand.New(rand.NewPCG(1, 2))
	// rule i of stream s in generation g (a new baseline raises a floor).
	rule := func(s, i, g int) store.HistoryRule {
		return store.HistoryRule{Stream: streams[s], Kind: "source", Name: fmt.Sprintf("pkg%02d", i), Severity: sevs[i%4], KEV: i == 0,
			Since: start.AddDate(0, 0, 30*g-3)}
	}
	type hostSim struct {
		stream int
		gen    [20]int        // generation of each rule
		fixAt  [20]int        // day the current generation is fixed (-1 never)
		regAt  map[int][2]int // day → rule, days until fixed again
	}
	sims := make([]hostSim, hosts)
	for h := range sims {
		sims[h] = hostSim{stream: h % len(streams), regAt: map[int][2]int{}}
		for i := range 20 {
			sims[h].fixAt[i] = rng.IntN(10)
		}
		for m := range 3 {
			if rng.IntN(100) < 2 {
				sims[h].regAt[m*30+5+rng.IntN(20)] = [2]int{5 + rng.IntN(15), 2 + rng.IntN(5)}
			}
		}
	}
	t0 := time.Now()
	var batch []store.HostStates
	flush := func() {
		if _, err := st.RecordStates(ctx, batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for d := range 90 {
		at := start.AddDate(0, 0, d).Add(10 * time.Hour)
		g := d / 30
		for h := range sims {
			s := &sims[h]
			changed := d == 0
			if d%30 == 0 && d > 0 {
				for i := 15; i < 20; i++ {
					s.gen[i] = g
					s.fixAt[i] = d + 1 + rng.IntN(25)
					if rng.IntN(100) < 5 {
						s.fixAt[i] = -1
					}
				}
				changed = true
			}
			for i := range 20 {
				if s.fixAt[i] == d {
					changed = true
				}
			}
			for rd, r := range s.regAt {
				if d == rd || d == rd+r[1] {
					changed = true
				}
			}
			if !changed {
				continue
			}
			hs := store.HostStates{HostID: fmt.Sprintf("host-%06d", h), At: at}
			for i := range 20 {
				r := rule(s.stream, i, s.gen[i])
				state := plan.Installed
				if s.fixAt[i] < 0 || s.fixAt[i] > d {
					state = plan.Missing
				}
				for rd, reg := range s.regAt {
					if reg[0] == i && d >= rd && d < rd+reg[1] {
						state = plan.BlockedVersion
					}
				}
				var dl time.Time
				if Open(state) {
					dl = r.Since.AddDate(0, 0, 15)
				}
				hs.States = append(hs.States, store.HostState{Rule: r, State: Code(state), Deadline: dl})
			}
			batch = append(batch, hs)
			if len(batch) == 512 {
				flush()
			}
		}
		if len(batch) > 0 {
			flush()
		}
		var rus []store.Rollup
		for _, n := range rings {
			rus = append(rus, store.Rollup{Scope: ScopeRing, Name: n, Day: at, Hosts: hosts / 3, Compliant: hosts / 4})
		}
		for _, n := range streams {
			rus = append(rus, store.Rollup{Scope: ScopeStream, Name: n, Day: at, Hosts: hosts / 4, Compliant: hosts / 5})
		}
		rus = append(rus, store.Rollup{Scope: ScopeFleet, Name: ScopeFleet, Day: at, Hosts: hosts, Compliant: hosts / 2})
		if err := st.PutRollups(ctx, rus); err != nil {
			b.Fatal(err)
		}
	}
	write := time.Since(t0)
	end := start.AddDate(0, 0, 90)
	// The overview query: 90 days of ring roll-ups.
	const reps = 20
	q0 := time.Now()
	for range reps {
		rs, err := st.Rollups(ctx, ScopeRing, end.AddDate(0, 0, -90), end)
		if err != nil || len(rs) != 270 {
			b.Fatalf("rollups: %d, %v", len(rs), err)
		}
	}
	overview := time.Since(q0) / reps
	// The cycle summary: from the counters kept while recording (what
	// the server computes at every roll-up), then by reading the whole
	// history; both must agree.
	from, to := Cycle(end.AddDate(0, 0, -1))
	c0 := time.Now()
	fast, err := SummarizeCounters(ctx, st, from, to, end)
	if err != nil {
		b.Fatal(err)
	}
	counters := time.Since(c0)
	s0 := time.Now()
	sum, err := Summarize(ctx, st, from, to, end)
	if err != nil {
		b.Fatal(err)
	}
	summarize := time.Since(s0)
	if !reflect.DeepEqual(fast.Current, sum.Current) || !reflect.DeepEqual(fast.Previous, sum.Previous) {
		b.Fatalf("counters and history disagree:\ncounters %+v %+v\nhistory  %+v %+v", fast.Current, fast.Previous, sum.Current, sum.Previous)
	}
	var rows int64
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	size := fi.Size()
	if w, err := os.Stat(path + "-wal"); err == nil {
		size += w.Size()
	}
	_ = rows
	b.ReportMetric(float64(size)/(1<<20), "MiB")
	b.ReportMetric(float64(size)/float64(hosts), "bytes/host")
	b.ReportMetric(float64(overview.Microseconds())/1000, "overview-ms")
	b.ReportMetric(summarize.Seconds(), "summary-s")
	b.ReportMetric(float64(counters.Microseconds())/1000, "summary-counters-ms")
	b.ReportMetric(write.Seconds(), "write-s")
	b.Logf("%d hosts × 90 days: %.1f MiB, overview query %.2f ms, cycle summary from counters %.2f ms, from the whole history %.1f s (%d episodes), written in %.0f s",
		hosts, float64(size)/(1<<20), float64(overview.Microseconds())/1000, float64(counters.Microseconds())/1000, summarize.Seconds(), len(sum.Episodes), write.Seconds())
}
