package history

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

// TestSummarizeStore: the streaming summary over a real store gives the
// same measures as the in-memory functions over the same changes.
func TestSummarizeStore(t *testing.T) {
	st := storetest.New(t, store.Options{})
	ctx := context.Background()
	changes := []store.HistoryChange{
		ch("h1", kevCrit, day(0), plan.Missing, day(12)),
		ch("h1", kevCrit, day(5), plan.Installed, time.Time{}),
		ch("h2", kevCrit, day(0), plan.Missing, day(12)),
		ch("h2", kevCrit, day(20), plan.InstalledOther, time.Time{}),
		ch("h3", high, day(0), plan.Installed, time.Time{}),
		ch("h3", high, day(8), plan.BlockedVersion, day(40)),
		ch("h5", kevCrit, day(1), plan.Missing, day(12)),
	}
	for _, c := range changes {
		if _, err := st.RecordStates(ctx, []store.HostStates{{HostID: c.HostID, At: c.At, States: []store.HostState{c.HostState}}}); err != nil {
			t.Fatal(err)
		}
	}
	from, to := Cycle(day(3))
	sum, err := Summarize(ctx, st, from, to, day(25))
	if err != nil {
		t.Fatal(err)
	}
	eps := Episodes(changes)
	if d := cmp.Diff(SLAAttainment(eps, from, to, day(25)), sum.Current); d != "" {
		t.Errorf("attainment (-memory +store):\n%s", d)
	}
	if d := cmp.Diff(TimeToRemediate(eps, from, to), sum.Remediation); d != "" {
		t.Errorf("time to remediate (-memory +store):\n%s", d)
	}
	if len(sum.Regressions) != 1 || sum.Regressions[0].HostID != "h3" {
		t.Errorf("regressions = %+v", sum.Regressions)
	}
	for _, a := range sum.Current {
		if a.Group == "kev" && (a.Met != 1 || a.Missed != 2) {
			t.Errorf("kev = %+v", a)
		}
	}
}
