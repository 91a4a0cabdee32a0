package baseline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

const cycleBaseline = `package patchbay
baselines: b1: {created: "2026-11-03", summary: "s", streams: "debian-12": packages: a: min: "1.0-1"}
`

func cycleRepo(cycles string) fstest.MapFS {
	fs := miniRepo(cycleBaseline)
	fs["patchbay.cue"] = &fstest.MapFile{Data: []byte(strings.Replace(miniConfig, "approvers:", cycles+"\n\tapprovers:", 1))}
	return fs
}

// TestCycles: config.cycles decodes into typed cycles, and every misuse is
// refused with file:line:col at the offending field.
func TestCycles(t *testing.T) {
	repo, err := Load(context.Background(), cycleRepo(`cycles: [
		{name: "monthly", schedule: {every: "month", week: 2, weekday: "tuesday", at: "10:00"}, minRisk: 40},
		{name: "kev", kev: within: "24h"},
	]`), Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	cs := repo.Config.Cycles
	if len(cs) != 2 || cs[0].Schedule == nil || cs[0].Schedule.Timezone != "UTC" || cs[0].Schedule.Weekday != "tuesday" || cs[0].MinRisk != 40 ||
		cs[1].KEV == nil || time.Duration(cs[1].KEV.Within) != 24*time.Hour {
		t.Fatalf("cycles decoded as %+v", cs)
	}
	tests := []struct{ name, cycles, want string }{
		{"neither", `cycles: [{name: "x"}]`, "patchbay.cue:6:18: config.cycles[0]: cycle \"x\" has neither schedule nor kev"},
		{"both", `cycles: [{name: "x", schedule: every: "day", kev: within: "24h"}]`, "config.cycles[0]: cycle \"x\" has both schedule and kev"},
		{"duplicate", `cycles: [{name: "x", kev: within: "24h"}, {name: "x", kev: within: "48h"}]`, "config.cycles[1].name: cycle \"x\" is declared twice"},
		{"month without weekday", `cycles: [{name: "x", schedule: {every: "month", week: 2}}]`, "config.cycles[0].schedule: a monthly cycle needs week"},
		{"week with week", `cycles: [{name: "x", schedule: {every: "week", weekday: "friday", week: 1}}]`, "config.cycles[0].schedule.week: week is for monthly cycles only"},
		{"bad zone", `cycles: [{name: "x", schedule: {every: "day", timezone: "Mars/Olympus"}}]`, "config.cycles[0].schedule.timezone: unknown time zone \"Mars/Olympus\""},
		{"bad time", `cycles: [{name: "x", schedule: {every: "day", at: "25:00"}}]`, "config.cycles.0.schedule.at"},
		{"short kev", `cycles: [{name: "x", kev: within: "30m"}]`, "config.cycles[0].kev.within: kev.within must be at least 1h"},
		{"week 5", `cycles: [{name: "x", schedule: {every: "month", week: 5, weekday: "monday"}}]`, "config.cycles.0.schedule.week"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(context.Background(), cycleRepo(tc.cycles), Options{Now: testNow})
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want validation errors, got %v", err)
			}
			if !strings.Contains(errs.Error(), tc.want) {
				t.Fatalf("errors:\n%s\nwant one containing %q", errs.Error(), tc.want)
			}
			for _, e := range errs {
				if e.File != "patchbay.cue" || e.Line == 0 || e.Column == 0 {
					t.Errorf("error without file:line:col: %s", e)
				}
			}
		})
	}
}
