package cycle

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
)

// Period is one occurrence of a calendar cycle.
type Period struct {
	// Key is the occurrence's date in the cycle's time zone, YYYY-MM-DD.
	Key string
	// Start is when the occurrence begins.
	Start time.Time
}

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday}

// nth returns the schedule's week: 1-4, or -1 for "last".
func nth(s *baseline.CycleSchedule) (int, error) {
	switch w := s.Week.(type) {
	case float64:
		return int(w), nil
	case int:
		return w, nil
	case int64:
		return int(w), nil
	case string:
		if w == "last" {
			return -1, nil
		}
	}
	return 0, fmt.Errorf("cycle: week %v: want 1-4 or \"last\"", s.Week)
}

// Current returns the latest occurrence of the schedule at or before now.
// The schedule is trusted as validated by engine/baseline.
func Current(s *baseline.CycleSchedule, now time.Time) (Period, error) {
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return Period{}, fmt.Errorf("cycle: time zone %q: %w", s.Timezone, err)
	}
	hh, mm, ok := strings.Cut(s.At, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil {
		return Period{}, fmt.Errorf("cycle: at %q: want HH:MM", s.At)
	}
	want := -2
	if s.Every == "month" {
		if want, err = nth(s); err != nil {
			return Period{}, err
		}
	}
	local := now.In(loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	// A monthly occurrence is at most ~62 days back.
	for i := 0; i < 70; i++ {
		d := day.AddDate(0, 0, -i)
		if !matches(s, want, d) {
			continue
		}
		start := time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, loc)
		if start.After(now) {
			continue
		}
		return Period{Key: d.Format(time.DateOnly), Start: start}, nil
	}
	return Period{}, fmt.Errorf("cycle: no occurrence of %s in the last 70 days", describe(s))
}

func matches(s *baseline.CycleSchedule, week int, d time.Time) bool {
	switch s.Every {
	case "day":
		return true
	case "week":
		return d.Weekday() == weekdays[s.Weekday]
	case "month":
		if d.Weekday() != weekdays[s.Weekday] {
			return false
		}
		if week == -1 {
			return d.AddDate(0, 0, 7).Month() != d.Month()
		}
		return (d.Day()-1)/7+1 == week
	}
	return false
}

// describe says the schedule in words: "the second tuesday of every month
// at 10:00 UTC".
func describe(s *baseline.CycleSchedule) string {
	switch s.Every {
	case "day":
		return fmt.Sprintf("every day at %s %s", s.At, s.Timezone)
	case "week":
		return fmt.Sprintf("every %s at %s %s", s.Weekday, s.At, s.Timezone)
	}
	w, _ := nth(s)
	ord := map[int]string{-1: "last", 1: "first", 2: "second", 3: "third", 4: "fourth"}[w]
	return fmt.Sprintf("the %s %s of every month at %s %s", ord, s.Weekday, s.At, s.Timezone)
}

// Describe says when a cycle runs, in words.
func Describe(c baseline.Cycle) string {
	if c.KEV != nil {
		return "a pull request for each new KEV entry the fleet is exposed to, within " + time.Duration(c.KEV.Within).String() + " of its dateAdded"
	}
	if c.Schedule != nil {
		return describe(c.Schedule)
	}
	return "never (no schedule and no kev)"
}

// Branch is the pull request branch of a cycle's period: the idempotency
// key of a run.
func Branch(cycle, period string) string { return "patchbay/cycle/" + cycle + "/" + period }
