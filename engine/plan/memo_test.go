package plan

import (
	"bytes"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/inventory"
)

// TestMemoSameResults plans hosts one at a time, as the server does per
// report, with one Memo across calls and without, at clock times around a
// deadline (where Overdue flips) and going back in time: every host plan
// must be the same, and the memo must have saved computations.
func TestMemoSameResults(t *testing.T) {
	repo, reports := goldenFleet(t, 200, 10, 150)
	reports = reports[:60]
	full := Compute(Input{Repo: repo, Reports: reports, Now: now}, Options{})
	var deadline time.Time // a deadline after now, so Overdue flips at it
	for _, h := range full.Hosts.All() {
		for _, r := range h.Results {
			if r.Deadline.After(now) && (deadline.IsZero() || r.Deadline.Before(deadline)) {
				deadline = r.Deadline
			}
		}
	}
	if deadline.IsZero() {
		t.Fatal("no future deadline in the fleet")
	}
	computed, reused := 0, 0
	for _, times := range [][]time.Time{
		{now, deadline.Add(-time.Hour), deadline, deadline.Add(time.Nanosecond), deadline.Add(time.Hour), now},
		{deadline, deadline.Add(time.Nanosecond)}, // computed exactly at a deadline
	} {
		memo := NewMemo(0)
		for _, at := range times {
			for _, r := range reports {
				one := []*inventory.Report{r}
				want := Compute(Input{Repo: repo, Reports: one, Now: at}, Options{Workers: 1})
				before := memo.Len()
				got := Compute(Input{Repo: repo, Reports: one, Now: at}, Options{Workers: 1, Memo: memo})
				if !bytes.Equal(planJSON(t, want), planJSON(t, got)) {
					t.Fatalf("host %s at %s: the plan with the memo differs", r.HostID, at)
				}
				if memo.Len() > before {
					computed++
				} else if want.Stats.Computations > 0 {
					reused++
				}
			}
		}
	}
	if reused == 0 || computed == 0 {
		t.Fatalf("memo computed %d and reused %d times; want both", computed, reused)
	}
}
