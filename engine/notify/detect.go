package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// DetectInput is what Detect looks at.
type DetectInput struct {
	Plan *plan.Plan
	Repo *baseline.Repository
	// Events are rollout records from the store (any order).
	Events []store.RolloutEvent
	Now    time.Time
	// BreachLead is how long before a deadline SLABreachSoon is sent;
	// ExceptionLead how long before an exception ends ExceptionExpiring is.
	BreachLead    time.Duration
	ExceptionLead time.Duration
}

// Detect returns the events that hold now. Keys are stable, so calling it
// again finds the same events and the Notifier sends none twice: an SLA
// event per finding (baseline, stream, rule, state) and deadline, an
// exception event per exception and expiry, a stale event per host and
// last report, a rollout event per rollout record.
func Detect(in DetectInput) []Event {
	var evs []Event
	if in.Plan != nil {
		for _, f := range in.Plan.Findings {
			key := fmt.Sprintf("%s/%s/%s/%s/%s", f.Baseline, f.Stream, f.Rule.Ref(), f.State, f.Deadline.UTC().Format("2006-01-02"))
			sev := f.Rule.Severity
			if f.Rule.KEV {
				sev += ", KEV"
			}
			data := map[string]any{"baseline": f.Baseline, "stream": f.Stream, "rule": f.Rule.Ref(), "state": string(f.State), "severity": f.Rule.Severity,
				"kev": f.Rule.KEV, "hosts": f.Hosts, "sampleHosts": f.SampleHosts, "deadline": f.Deadline, "advisories": f.Rule.Advisories}
			switch {
			case f.Overdue:
				evs = append(evs, Event{Key: SLABreach + "/" + key, Kind: SLABreach, At: in.Now, Data: data,
					Subject: fmt.Sprintf("SLA breached: %s on %d %s hosts (%s)", f.Rule.Ref(), f.Hosts, f.Stream, sev),
					Text: fmt.Sprintf("%s (%s) is %s on %d hosts of %s under baseline %s.\nIts deadline was %s (%s).\nAdvisories: %s\nHosts: %s",
						f.Rule.Ref(), sev, f.State, f.Hosts, f.Stream, f.Baseline, f.Deadline.UTC().Format("2006-01-02"), f.DeadlineBy,
						strings.Join(f.Rule.Advisories, " "), strings.Join(f.SampleHosts, " "))})
			case in.BreachLead > 0 && f.Deadline.Sub(in.Now) <= in.BreachLead:
				evs = append(evs, Event{Key: SLABreachSoon + "/" + key, Kind: SLABreachSoon, At: in.Now, Data: data,
					Subject: fmt.Sprintf("SLA deadline %s: %s on %d %s hosts (%s)", f.Deadline.UTC().Format("2006-01-02"), f.Rule.Ref(), f.Hosts, f.Stream, sev),
					Text: fmt.Sprintf("%s (%s) is %s on %d hosts of %s; it must be remediated by %s (%s).\nHosts: %s",
						f.Rule.Ref(), sev, f.State, f.Hosts, f.Stream, f.Deadline.UTC().Format("2006-01-02 15:04 UTC"), f.DeadlineBy, strings.Join(f.SampleHosts, " "))})
			}
		}
		for _, h := range in.Plan.Hosts.All() {
			if h.Status != plan.Stale {
				continue
			}
			evs = append(evs, Event{Key: HostStale + "/" + h.ID + "/" + h.ReportedAt.UTC().Format(time.RFC3339), Kind: HostStale, At: in.Now,
				Data:    map[string]any{"host": h.ID, "ring": h.Ring, "lastReport": h.ReportedAt},
				Subject: fmt.Sprintf("host %s stopped reporting", h.ID),
				Text:    fmt.Sprintf("Host %s (ring %s) last reported %s; its compliance is unknown since.", h.ID, h.Ring, h.ReportedAt.UTC().Format("2006-01-02 15:04 UTC"))})
		}
	}
	if in.Repo != nil && in.ExceptionLead > 0 {
		for _, e := range in.Repo.Exceptions {
			end := e.Expires.Time().AddDate(0, 0, 1)
			if !e.Active(in.Now) || end.Sub(in.Now) > in.ExceptionLead {
				continue
			}
			evs = append(evs, Event{Key: ExceptionExpiring + "/" + e.ID + "/" + string(e.Expires), Kind: ExceptionExpiring, At: in.Now,
				Data:    map[string]any{"exception": e.ID, "owner": e.Owner, "expires": string(e.Expires), "stream": e.Stream},
				Subject: fmt.Sprintf("exception %s expires %s", e.ID, e.Expires),
				Text:    fmt.Sprintf("Exception %s (owner %s) ends on %s. Renew it with a pull request or remediate: %s.", e.ID, e.Owner, e.Expires, e.Reason)})
		}
	}
	for _, re := range in.Events {
		kind := ""
		switch re.Kind {
		case "rollout.finished":
			var p struct {
				Outcome string `json:"outcome"`
			}
			_ = json.Unmarshal(re.Payload, &p)
			switch p.Outcome {
			case "halted":
				kind = RolloutHalted
			case "failed":
				kind = RolloutFailed
			default:
				kind = RolloutFinished
			}
		case "ring.verified":
			kind = RingVerified
		default:
			continue
		}
		evs = append(evs, Event{Key: fmt.Sprintf("%s/%s/%d", kind, re.RolloutID, re.ID), Kind: kind, At: re.At,
			Data:    map[string]any{"rollout": re.RolloutID, "record": re.Kind, "actor": re.Actor},
			Subject: fmt.Sprintf("%s: rollout %s", strings.ReplaceAll(kind, ".", " "), re.RolloutID),
			Text:    fmt.Sprintf("Rollout %s: %s by %s at %s.\n%s", re.RolloutID, re.Kind, re.Actor, re.At.UTC().Format("2006-01-02 15:04 UTC"), string(re.Payload))})
	}
	return evs
}
