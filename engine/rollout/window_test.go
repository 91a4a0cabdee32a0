package rollout_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/rollout"
)

func TestScheduleAt(t *testing.T) {
	t.Parallel()
	berlinNights := baseline.Window{Days: []string{"mon", "tue", "wed", "thu"}, Start: "22:00", Duration: baseline.Duration(4 * time.Hour), Timezone: "Europe/Berlin"}
	weekend := baseline.Window{Days: []string{"sat", "sun"}, Start: "02:00", Duration: baseline.Duration(6 * time.Hour), Timezone: "Europe/Berlin"}
	freeze := baseline.Freeze{From: "2026-12-18", To: "2027-01-04", Reason: "year-end change freeze"}
	utc := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, tt := range []struct {
		name    string
		windows []baseline.Window
		freeze  []baseline.Freeze
		at      string
		want    rollout.Schedule
	}{
		{name: "no windows: always open", at: "2026-11-26T12:00:00Z", want: rollout.Schedule{Open: true}},
		{name: "thursday noon: closed until 22:00 Berlin (21:00 UTC)", windows: []baseline.Window{berlinNights}, at: "2026-11-26T12:00:00Z",
			want: rollout.Schedule{NextOpen: utc("2026-11-26T21:00:00Z")}},
		{name: "thursday 23:30 Berlin: open until 02:00 Berlin", windows: []baseline.Window{berlinNights}, at: "2026-11-26T22:30:00Z",
			want: rollout.Schedule{Open: true, Closes: utc("2026-11-27T01:00:00Z")}},
		{name: "friday 01:00 Berlin: still thursday's window", windows: []baseline.Window{berlinNights}, at: "2026-11-27T00:00:00Z",
			want: rollout.Schedule{Open: true, Closes: utc("2026-11-27T01:00:00Z")}},
		{name: "friday 03:00 Berlin: closed until monday 22:00", windows: []baseline.Window{berlinNights}, at: "2026-11-27T02:00:00Z",
			want: rollout.Schedule{NextOpen: utc("2026-11-30T21:00:00Z")}},
		{name: "summer time: 22:00 Berlin is 20:00 UTC", windows: []baseline.Window{berlinNights}, at: "2026-07-01T12:00:00Z",
			want: rollout.Schedule{NextOpen: utc("2026-07-01T20:00:00Z")}},
		{name: "two windows: the earlier opening", windows: []baseline.Window{berlinNights, weekend}, at: "2026-11-27T12:00:00Z",
			want: rollout.Schedule{NextOpen: utc("2026-11-28T01:00:00Z")}},
		{name: "freeze on an open window", windows: []baseline.Window{weekend}, freeze: []baseline.Freeze{freeze}, at: "2026-12-19T03:00:00Z",
			want: rollout.Schedule{Open: true, Closes: utc("2026-12-19T07:00:00Z"), Frozen: true, Freeze: "year-end change freeze"}},
		{name: "after the freeze", freeze: []baseline.Freeze{freeze}, at: "2027-01-05T00:00:00Z", want: rollout.Schedule{Open: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ring := &baseline.Ring{Name: "r", Windows: tt.windows, Freeze: tt.freeze}
			got := rollout.ScheduleAt(ring, utc(tt.at))
			if !got.Closes.IsZero() {
				got.Closes = got.Closes.UTC()
			}
			if !got.NextOpen.IsZero() {
				got.NextOpen = got.NextOpen.UTC()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ScheduleAt (-want +got):\n%s", diff)
			}
		})
	}
}
