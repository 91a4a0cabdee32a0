package history

import (
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// stateCodes are the stored codes of the rule states. 0 is reserved for
// "the rule no longer applies to the host". The codes are part of the
// stored format: never renumber, only append.
var stateCodes = map[plan.State]int{
	plan.Installed:              1,
	plan.InstalledOther:         2,
	plan.InstalledPendingReboot: 3,
	plan.Missing:                4,
	plan.BlockedVersion:         5,
	plan.Held:                   6,
	plan.Excepted:               7,
	plan.NotApplicable:          8,
}

// Gone is the state recorded when a rule no longer applies to a host (it
// left the baseline, or the host left the ring).
const Gone plan.State = ""

// Code returns the stored code of a state (0 for Gone or an unknown state).
func Code(s plan.State) int { return stateCodes[s] }

// StateOf returns the state of a stored code; Gone for 0 or an unknown code.
func StateOf(code int) plan.State {
	for s, c := range stateCodes {
		if c == code {
			return s
		}
	}
	return Gone
}

// Open reports whether a state needs remediation (it is a finding).
func Open(s plan.State) bool { return s != Gone && !s.Compliant() }

// Remediated reports whether a state ends a finding by fixing it (not by
// an exception, a hold or the rule going away).
func Remediated(s plan.State) bool { return s == plan.Installed || s == plan.InstalledOther }

// HostStates converts one host's plan into the states the store records at
// at. Each rule carries its Since: the advisory's publication date, else
// the creation date of the baseline that asked for it (repo may be nil;
// then only publication dates are known). rollout, when not empty, is
// recorded on the states that are remediated (the rollout under which the
// host became compliant).
func HostStates(ph *plan.Host, repo *baseline.Repository, at time.Time, rollout string) store.HostStates {
	hs := store.HostStates{HostID: ph.ID, At: at, States: make([]store.HostState, 0, len(ph.Results))}
	var created time.Time
	if repo != nil {
		if b := repo.Baselines[ph.Baseline]; b != nil {
			created = b.Created.Time()
		}
	}
	for _, r := range ph.Results {
		code := Code(r.State)
		if code == 0 {
			continue
		}
		since := created
		if r.Rule.Published != "" {
			since = baseline.Date(r.Rule.Published).Time()
		}
		st := store.HostState{
			Rule:  store.HistoryRule{Stream: ph.Stream, Kind: r.Rule.Kind, Name: r.Rule.Name, Severity: r.Rule.Severity, KEV: r.Rule.KEV, Since: since},
			State: code,
		}
		if Open(r.State) {
			st.Deadline = r.Deadline
		}
		if Remediated(r.State) {
			st.RolloutID = rollout
		}
		hs.States = append(hs.States, st)
	}
	return hs
}
