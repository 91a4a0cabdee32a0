package history

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

// TestStoreCodeClasses: the store's idea of which state codes open and
// remediate a finding (it keeps the SLA counters) is engine/history's.
func TestStoreCodeClasses(t *testing.T) {
	for s, c := range stateCodes {
		if store.CodeOpen(c) != Open(s) || store.CodeRemediated(c) != Remediated(s) {
			t.Errorf("%s (%d): store open=%v remediated=%v, history open=%v remediated=%v", s, c, store.CodeOpen(c), store.CodeRemediated(c), Open(s), Remediated(s))
		}
	}
	if store.CodeOpen(0) || store.CodeRemediated(0) {
		t.Error("code 0 (the rule went away) is open or remediated in the store")
	}
}

// genHistory records a random history the way the server does (each
// host's full state set per report): findings that open and are fixed on
// time or late, hosts that regress (fixed → open again), exceptions and
// holds that close findings, rules that go away and come back, a deadline
// unknown at first, and a deadline that changes between open states.
func genHistory(t *testing.T, st *store.Store, seed uint64, start time.Time, days int) time.Time {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 7))
	sevs := []string{"critical", "high", "medium", "low", "unknown"}
	var rules []store.HistoryRule
	for i := range 8 {
		rules = append(rules, store.HistoryRule{Stream: []string{"debian-12", "rhel-9"}[i%2], Kind: "source", Name: fmt.Sprintf("pkg%d", i),
			Severity: sevs[i%len(sevs)], KEV: i%3 == 0, Since: start.AddDate(0, 0, rng.IntN(days)-10)})
	}
	codes := []plan.State{plan.Installed, plan.InstalledOther, plan.InstalledPendingReboot, plan.Missing, plan.BlockedVersion, plan.Held, plan.Excepted, plan.NotApplicable}
	const hosts = 30
	cur := make([][]int, hosts) // state index per rule; -1 absent
	for h := range cur {
		cur[h] = make([]int, len(rules))
		for i := range cur[h] {
			cur[h][i] = rng.IntN(len(codes)+1) - 1
		}
	}
	var last time.Time
	for step := range days * 2 {
		// Half the reports land exactly on the hour deadlines fall on (a
		// fix at the deadline meets it).
		at := start.Add(time.Duration(step) * 12 * time.Hour)
		if rng.IntN(2) == 0 {
			at = at.Add(time.Duration(1+rng.IntN(3600)) * time.Second)
		}
		var batch []store.HostStates
		for h := range hosts {
			if step > 0 && rng.IntN(3) != 0 {
				continue
			}
			for i := range rules {
				if rng.IntN(4) == 0 {
					switch r := rng.IntN(10); {
					case r < 4: // fix
						cur[h][i] = rng.IntN(2)
					case r < 7: // open (a regression when it was fixed)
						cur[h][i] = 2 + rng.IntN(3)
					case r < 9: // excepted, held, not applicable
						cur[h][i] = 5 + rng.IntN(3)
					default: // the rule goes away
						cur[h][i] = -1
					}
				}
			}
			hs := store.HostStates{HostID: fmt.Sprintf("host-%02d", h), At: at}
			for i, r := range rules {
				if cur[h][i] < 0 {
					continue
				}
				s := codes[cur[h][i]]
				var dl time.Time
				if Open(s) {
					switch rng.IntN(8) {
					case 0: // not known yet
					case 1: // another deadline
						dl = r.Since.AddDate(0, 0, 7+rng.IntN(40))
					default:
						dl = r.Since.AddDate(0, 0, 15)
					}
				}
				hs.States = append(hs.States, store.HostState{Rule: r, State: Code(s), Deadline: dl})
			}
			batch = append(batch, hs)
		}
		if _, err := st.RecordStates(ctx, batch); err != nil {
			t.Fatal(err)
		}
		last = at
	}
	return last
}

// TestCountersMatchHistory: the SLA attainment read from the counters kept
// while recording is exactly the full recomputation over the history, for
// the cycle and the one before, judged at several times — without a
// rebuild; and after a change that rewrites the past (recorded before an
// earlier one) the counters are rebuilt and match again.
func TestCountersMatchHistory(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			st := storetest.New(t, store.Options{})
			last := genHistory(t, st, seed, start, 80)
			if stale, err := st.SLAStale(ctx); err != nil || stale {
				t.Fatalf("counters stale after in-order recording: %v %v", stale, err)
			}
			compare := func(t *testing.T) {
				t.Helper()
				from, to := Cycle(last)
				total := 0
				for _, now := range []time.Time{last, last.Add(72 * time.Hour), to.AddDate(0, 0, 10), from.Add(time.Hour)} {
					full, err := Summarize(ctx, st, from, to, now)
					if err != nil {
						t.Fatal(err)
					}
					fast, err := SummarizeCounters(ctx, st, from, to, now)
					if err != nil {
						t.Fatal(err)
					}
					if d := cmp.Diff(full.Current, fast.Current); d != "" {
						t.Errorf("now %s: current cycle (-history +counters):\n%s", now.Format(time.DateTime), d)
					}
					if d := cmp.Diff(full.Previous, fast.Previous); d != "" {
						t.Errorf("now %s: previous cycle (-history +counters):\n%s", now.Format(time.DateTime), d)
					}
					for _, a := range append(full.Current, full.Previous...) {
						total += a.Met + a.Missed + a.Pending
					}
				}
				if total == 0 {
					t.Fatal("nothing was due: the generated history measures nothing")
				}
			}
			compare(t)

			// A report that arrives late: recorded before the host's last
			// change. The counters are marked stale and rebuilt.
			r := store.HistoryRule{Stream: "debian-12", Kind: "package", Name: "late", Severity: "critical", Since: last.AddDate(0, 0, -20)}
			for _, hs := range []store.HostStates{
				{HostID: "host-late", At: last, States: []store.HostState{{Rule: r, State: Code(plan.Missing), Deadline: last.AddDate(0, 0, 1)}}},
				{HostID: "host-late", At: last.Add(-time.Hour), States: []store.HostState{{Rule: r, State: Code(plan.Installed)}}},
			} {
				if _, err := st.RecordStates(ctx, []store.HostStates{hs}); err != nil {
					t.Fatal(err)
				}
			}
			if stale, err := st.SLAStale(ctx); err != nil || !stale {
				t.Fatalf("a change before an earlier one: stale %v %v, want stale", stale, err)
			}
			compare(t)
			if stale, err := st.SLAStale(ctx); err != nil || stale {
				t.Fatalf("after the rebuild: stale %v %v", stale, err)
			}
			// Recording goes on incrementally after the rebuild.
			genMore := []store.HostStates{{HostID: "host-late", At: last.Add(2 * time.Hour), States: []store.HostState{{Rule: r, State: Code(plan.BlockedVersion), Deadline: last.AddDate(0, 0, 2)}}}}
			if _, err := st.RecordStates(ctx, genMore); err != nil {
				t.Fatal(err)
			}
			compare(t)
		})
	}
}
