package rollout

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
)

// Schedule is what a ring's windows and freezes say about a moment.
type Schedule struct {
	// Open is true inside a window (always, when the ring has none).
	Open bool
	// Closes is when the current window ends; zero when always open or
	// closed.
	Closes time.Time
	// NextOpen is when the next window opens; zero when open or when the
	// ring has no valid window.
	NextOpen time.Time
	// Frozen is true on a freeze date; Freeze is its reason.
	Frozen bool
	Freeze string
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ScheduleAt evaluates ring's windows (in their time zones) and freezes at
// now. A window whose time zone does not load is treated as UTC.
func ScheduleAt(ring *baseline.Ring, now time.Time) Schedule {
	var s Schedule
	for _, f := range ring.Freeze {
		if f.Covers(now) {
			s.Frozen, s.Freeze = true, f.Reason
			break
		}
	}
	if len(ring.Windows) == 0 {
		s.Open = true
		return s
	}
	for _, w := range ring.Windows {
		loc, err := time.LoadLocation(w.Timezone)
		if err != nil || w.Timezone == "" {
			loc = time.UTC
		}
		hh, mm, ok := parseHHMM(w.Start)
		if !ok || w.Duration <= 0 {
			continue
		}
		local := now.In(loc)
		// A window that started up to a week ago may still be open (long
		// windows); the next opening is at most a week ahead.
		for k := -7; k <= 7; k++ {
			day := time.Date(local.Year(), local.Month(), local.Day()+k, hh, mm, 0, 0, loc)
			if !hasDay(w.Days, day.Weekday()) {
				continue
			}
			end := day.Add(time.Duration(w.Duration))
			if !now.Before(day) && now.Before(end) {
				s.Open = true
				if end.After(s.Closes) {
					s.Closes = end
				}
			}
			if day.After(now) && (s.NextOpen.IsZero() || day.Before(s.NextOpen)) {
				s.NextOpen = day
			}
		}
	}
	if s.Open {
		s.NextOpen = time.Time{}
	}
	return s
}

func hasDay(days []string, d time.Weekday) bool {
	for _, x := range days {
		if wd, ok := weekdays[strings.ToLower(x)]; ok && wd == d {
			return true
		}
	}
	return false
}

func parseHHMM(s string) (int, int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	return hh, mm, err1 == nil && err2 == nil && hh >= 0 && hh < 24 && mm >= 0 && mm < 60
}

// Hold explains why a schedule lets no new work start at now, or returns
// "" when work may start.
func (s Schedule) Hold() string {
	switch {
	case s.Frozen:
		return "freeze: " + s.Freeze
	case !s.Open && !s.NextOpen.IsZero():
		return fmt.Sprintf("outside maintenance window (next opens %s)", s.NextOpen.UTC().Format(time.RFC3339))
	case !s.Open:
		return "outside maintenance window"
	}
	return ""
}
