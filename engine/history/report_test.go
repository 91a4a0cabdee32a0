package history

import (
	"context"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

// TestReportAndEvidence: the monthly report over a real store, and the
// per-host evidence naming the rollout the host was in when it became
// compliant.
func TestReportAndEvidence(t *testing.T) {
	clk := day(0)
	st := storetest.New(t, store.Options{Now: func() time.Time { return clk }})
	ctx := context.Background()
	for _, c := range []store.HistoryChange{
		ch("h1", kevCrit, day(0), plan.Missing, day(12)),
		ch("h1", kevCrit, day(5), plan.Installed, time.Time{}),
		ch("h5", kevCrit, day(1), plan.Missing, day(12)),
		ch("h6", high, day(1), plan.Missing, day(31)),
	} {
		if _, err := st.RecordStates(ctx, []store.HostStates{{HostID: c.HostID, At: c.At, States: []store.HostState{c.HostState}}}); err != nil {
			t.Fatal(err)
		}
	}
	// h1 was in rollout r1 from day 4 (started by the controller).
	fence, _, err := st.AcquireLease(ctx, "controller", "t", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f := store.Fence{Lease: "controller", Holder: "t", Fencing: fence}
	if _, err := st.Apply(ctx, f, store.RolloutChange{
		Creates:     []store.Rollout{{ID: "r1", Ring: "canary", Commit: "c0ffee", BaselineID: "2026-11", BaselineDigest: "sha256:aa", State: "running"}},
		NewProgress: []store.RolloutProgress{{RolloutID: "r1", HostsTotal: 1, Detail: []byte("{}")}},
		Hosts:       []store.RolloutHost{{RolloutID: "r1", HostID: "h1", Actions: 1, State: "pending"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, f, store.RolloutChange{Waves: []store.WaveStart{{RolloutID: "r1", Wave: 1, N: 1, From: "pending", To: "running", At: day(4)}}}); err != nil {
		t.Fatal(err)
	}
	ev, err := HostEvidence(ctx, st, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 1 || ev[0].Host != "h1" || ev[0].RolloutID != "r1" || !ev[0].CompliantAt.Equal(day(5)) {
		t.Errorf("evidence = %+v, want h1 compliant on day 5 under r1", ev)
	}

	rep, err := BuildReport(ctx, st, ReportInput{Period: "2026-11", Now: day(40),
		Rollouts: []RolloutRow{{ID: "r1", Ring: "canary", StartedAt: day(4), Approvers: []string{"alice"}}, {ID: "old", StartedAt: day(-40)}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.JudgedAt != day(30) {
		t.Errorf("judged at %s, want the period's end", rep.JudgedAt)
	}
	for _, a := range rep.Attainment {
		if a.Group == "kev" && (a.Met != 1 || a.Missed != 1 || a.Percent == nil || *a.Percent != 50) {
			t.Errorf("kev = %+v", a)
		}
		if a.Group == "medium" && a.Percent != nil {
			t.Errorf("medium: nothing due but %v", *a.Percent)
		}
	}
	// Open at the end: h5 (KEV, overdue 18 days) before h6 (high, due in December).
	if len(rep.TopRisks) != 2 || rep.TopRisks[0].Host != "h5" || rep.TopRisks[0].DaysOverdue != 18 || rep.TopRisks[1].Host != "h6" {
		t.Errorf("top risks = %+v", rep.TopRisks)
	}
	if len(rep.Rollouts) != 1 || rep.Rollouts[0].ID != "r1" {
		t.Errorf("rollouts in the period = %+v", rep.Rollouts)
	}
	if len(rep.Remediation) == 0 || rep.Remediation[0].Group != "kev" || rep.Remediation[0].MedianDays != 7 {
		t.Errorf("time to remediate = %+v", rep.Remediation)
	}
	if _, err := BuildReport(ctx, st, ReportInput{Period: "11/2026"}); err == nil {
		t.Error("a bad period was accepted")
	}
}
