package plan

import (
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/inventory"
)

// State is the compliance state of one rule on one host.
type State string

// The rule states.
const (
	Installed              State = "INSTALLED"
	InstalledOther         State = "INSTALLED_OTHER"
	InstalledPendingReboot State = "INSTALLED_PENDING_REBOOT"
	Missing                State = "MISSING"
	BlockedVersion         State = "BLOCKED_VERSION"
	Held                   State = "HELD"
	Excepted               State = "EXCEPTED"
	NotApplicable          State = "NOT_APPLICABLE"
)

// States lists every rule state in report order.
var States = [...]State{Installed, InstalledOther, InstalledPendingReboot, Missing, BlockedVersion, Held, Excepted, NotApplicable}

// Compliant reports whether the state needs no action.
func (s State) Compliant() bool {
	switch s {
	case Missing, BlockedVersion, InstalledPendingReboot:
		return false
	}
	return true
}

// HostStatus is a host's overall standing.
type HostStatus string

// The host statuses.
const (
	// Compliant: every rule of the ring's baseline is satisfied.
	Compliant HostStatus = "COMPLIANT"
	// NonCompliant: at least one rule needs action.
	NonCompliant HostStatus = "NON_COMPLIANT"
	// Stale: the last report is older than config.reports.staleAfter; its
	// last known results are still shown.
	Stale HostStatus = "STALE"
	// Unassigned: no ring selects the host.
	Unassigned HostStatus = "UNASSIGNED"
	// Ambiguous: two or more rings select the host by labels; none is guessed.
	Ambiguous HostStatus = "AMBIGUOUS"
	// UnknownStream: the host's stream is not declared in config.streams.
	UnknownStream HostStatus = "UNKNOWN_STREAM"
	// Uncovered: the ring's baseline has no rules for the host's stream, so
	// nothing says what it should run. Not counted as compliant.
	Uncovered HostStatus = "UNCOVERED"
)

// HostStatuses lists every host status in report order.
var HostStatuses = [...]HostStatus{Compliant, NonCompliant, Stale, Uncovered, UnknownStream, Ambiguous, Unassigned}

// Input is what a plan is computed from.
type Input struct {
	Repo    *baseline.Repository
	Reports []*inventory.Report
	// Fleet, when set, is used instead of Reports: the same hosts held as
	// a struct of arrays (see inventory.Fleet), for fleets of a million
	// hosts. A fleet sorted by host ID (Fleet.Sort) is not sorted again.
	Fleet *inventory.Fleet
	// Now judges staleness, exception expiry and overdue deadlines.
	Now time.Time
}

// Options narrow or change the computation.
type Options struct {
	// Ring keeps only hosts assigned to this ring.
	Ring string
	// Host keeps only this host.
	Host string
	// NoDedupe computes every host alone (for tests and comparisons).
	NoDedupe bool
	// Workers bounds the goroutines of the set computations, the per-host
	// pass and the roll-ups; 0 means GOMAXPROCS. The plan is the same for
	// any value.
	Workers int
	// Memo, when set, keeps set computations across calls (see Memo);
	// results are the same with or without it.
	Memo *Memo
}

// Plan is the result. Its JSON form is the documented plan schema.
type Plan struct {
	Now       time.Time      `json:"now"`
	Baselines []BaselineInfo `json:"baselines"`
	Fleet     RollUp         `json:"fleet"`
	Rings     []RollUp       `json:"rings"`
	Streams   []RollUp       `json:"streams"`
	Findings  []Finding      `json:"findings"`
	Hosts     Hosts          `json:"hosts"`
	Stats     Stats          `json:"stats"`
}

// BaselineInfo names a baseline pinned by a ring and its digest.
type BaselineInfo struct {
	Ring   string `json:"ring"`
	ID     string `json:"id"`
	Digest string `json:"digest"`
}

// Host is one host's plan.
type Host struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname,omitempty"`
	Stream   string `json:"stream"`
	Ring     string `json:"ring,omitempty"`
	// Candidates are the rings that select an AMBIGUOUS host.
	Candidates     []string   `json:"candidates,omitempty"`
	Status         HostStatus `json:"status"`
	Stale          bool       `json:"stale"`
	ReportedAt     time.Time  `json:"reportedAt"`
	Baseline       string     `json:"baseline,omitempty"`
	BaselineDigest string     `json:"baselineDigest,omitempty"`
	PackageSet     string     `json:"packageSet"`
	RebootRequired bool       `json:"rebootRequired"`
	Results        []Result   `json:"results"`
	Actions        []Action   `json:"actions"`
	// Risk is the highest risk of the host's open findings.
	Risk int `json:"risk"`
	// NextDeadline is the earliest deadline of the host's open findings.
	NextDeadline time.Time `json:"nextDeadline,omitzero"`
}

// Rule identifies and summarises the baseline rule a result is about.
type Rule struct {
	// Kind is "package" (binary name) or "source" (source package name).
	Kind       string   `json:"kind"`
	Name       string   `json:"name"`
	Min        string   `json:"min,omitempty"`
	Pin        string   `json:"pin,omitempty"`
	Hold       string   `json:"hold,omitempty"`
	Block      []string `json:"block,omitempty"`
	Required   bool     `json:"required,omitempty"`
	Severity   string   `json:"severity"`
	KEV        bool     `json:"kev,omitempty"`
	Advisories []string `json:"advisories,omitempty"`
	Published  string   `json:"published,omitempty"`
	Reboot     bool     `json:"reboot,omitempty"`
	// Refreshed names the feeds that raised kev or severity over the
	// baseline file's values; empty when the values are the file's.
	Refreshed string `json:"refreshed,omitempty"`
}

// Ref returns "package/name" or "source/name".
func (r Rule) Ref() string { return r.Kind + "/" + r.Name }

// Result is one rule's state on one host, with the evidence.
type Result struct {
	Rule  Rule  `json:"rule"`
	State State `json:"state"`
	// Installed lists every installed package the rule looked at.
	Installed []Observed `json:"installed,omitempty"`
	// Evidence is the comparison that produced the state, in words.
	Evidence   string    `json:"evidence"`
	Deadline   time.Time `json:"deadline,omitzero"`
	DeadlineBy string    `json:"deadlineBy,omitempty"`
	Overdue    bool      `json:"overdue,omitempty"`
	Risk       int       `json:"risk,omitempty"`
	// Exception names the exception that covers an EXCEPTED result.
	Exception string `json:"exception,omitempty"`
}

// Observed is one installed package a rule was judged on.
type Observed struct {
	Package string `json:"package"`
	Arch    string `json:"arch"`
	Version string `json:"version"`
	// Compared is the version the rule compared: the source version for
	// source rules.
	Compared string `json:"compared"`
	// Comparison is the comparison made, e.g. "3.0.17-1~deb12u3 < 3.0.19-1~deb12u2".
	Comparison string `json:"comparison"`
	State      State  `json:"state"`
}

// ActionKind says what an action does.
type ActionKind string

// The action kinds, in the order a host applies them.
const (
	Install   ActionKind = "install"
	Upgrade   ActionKind = "upgrade"
	Downgrade ActionKind = "downgrade"
	Reboot    ActionKind = "reboot"
)

// Action is one step that brings a host to its baseline.
type Action struct {
	Kind    ActionKind `json:"kind"`
	Package string     `json:"package,omitempty"`
	// Version is the exact version to install (pin rules).
	Version string `json:"version,omitempty"`
	// Min is the binary version the package must reach at least.
	Min string `json:"min,omitempty"`
	// MinSource is the source version the package's source must reach.
	MinSource string `json:"minSource,omitempty"`
	// Avoid lists recalled versions that must not be the result.
	Avoid []string `json:"avoid,omitempty"`
	// Rules are the rules ("source/openssl") that asked for the action.
	Rules  []string `json:"rules"`
	Reason string   `json:"reason"`
}

// Finding aggregates one non-compliant rule state over the hosts it affects.
type Finding struct {
	Baseline       string    `json:"baseline"`
	BaselineDigest string    `json:"baselineDigest"`
	Stream         string    `json:"stream"`
	Rule           Rule      `json:"rule"`
	State          State     `json:"state"`
	Hosts          int       `json:"hosts"`
	SampleHosts    []string  `json:"sampleHosts"`
	Deadline       time.Time `json:"deadline"`
	DeadlineBy     string    `json:"deadlineBy"`
	Overdue        bool      `json:"overdue"`
	Risk           int       `json:"risk"`
}

// RollUp counts hosts and results for a ring, a stream or the fleet.
type RollUp struct {
	Name  string `json:"name"`
	Hosts int    `json:"hosts"`
	// ByStatus counts hosts per HostStatus.
	ByStatus map[HostStatus]int `json:"byStatus"`
	// ByState counts rule results per State.
	ByState map[State]int `json:"byState"`
	// CompliancePercent is COMPLIANT hosts over all hosts, 0–100.
	CompliancePercent float64 `json:"compliancePercent"`
	// Overdue counts open results past their deadline.
	Overdue int `json:"overdue"`
	// RebootNeeded counts hosts whose actions include a reboot.
	RebootNeeded int `json:"rebootNeeded"`
	// TopMissing are the packages most hosts are missing or run recalled.
	TopMissing []PackageCount `json:"topMissing"`
}

// PackageCount is a rule and the number of hosts it is open on.
type PackageCount struct {
	Rule  string `json:"rule"`
	Hosts int    `json:"hosts"`
}

// Stats describe the computation.
type Stats struct {
	Hosts int `json:"hosts"`
	// Computations is the number of distinct (package set, stream, ring)
	// evaluations; the rest of the hosts reused one.
	Computations int `json:"computations"`
}
