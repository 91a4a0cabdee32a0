package gate

import (
	"slices"
	"time"
)

// Input is everything the policies judge. The caller builds it from the
// base and head commits of a change; Config and Rings MUST come from the
// base commit (as must the policy files given to New), never from the head,
// so that a pull request cannot loosen the rules it is judged by.
type Input struct {
	// Base and Head are the commits compared.
	Base Commit `json:"base"`
	Head Commit `json:"head"`
	// Now is the moment of the decision; Decide uses it in UTC.
	Now time.Time `json:"now"`
	// Config is the repository configuration at the base commit.
	Config Config `json:"config"`
	// Rings are the rings at the base commit, in promotion order.
	Rings []Ring `json:"rings"`
	// Change is what the change does.
	Change Change `json:"change"`
	// PR is the pull request that carries the change.
	PR PullRequest `json:"pr"`
	// Reviews are the pull request's reviews, in GitHub's API shape.
	Reviews []Review `json:"reviews"`
	// Evidence are the ring verification records known for the rings.
	Evidence []Evidence `json:"evidence"`
}

// Commit names a commit.
type Commit struct {
	Commit string `json:"commit"`
}

// Config is the part of the repository configuration the policies read.
type Config struct {
	// Approvers are the approver groups: group name → GitHub logins.
	Approvers map[string][]string `json:"approvers"`
	// PolicyOwners names the group that must approve changes to policy/
	// and patchbay.cue (default "policy-owners").
	PolicyOwners string `json:"policy_owners"`
	// Security names the security group (default "security").
	Security string `json:"security"`
	// Exceptions bounds exceptions.
	Exceptions ExceptionLimits `json:"exceptions"`
}

// ExceptionLimits bounds exceptions.
type ExceptionLimits struct {
	// MaxDays is the longest an exception may last, from grant to expiry.
	MaxDays int `json:"max_days"`
}

// Ring is a ring's promotion requirements.
type Ring struct {
	Name string `json:"name"`
	// Baseline is the baseline id the ring pins.
	Baseline string `json:"baseline"`
	// SoakHours is how long a baseline must have run in the previous ring
	// before this ring may pin it.
	SoakHours float64 `json:"soak_hours"`
	// SuccessThreshold is the success rate (0..1) a baseline must reach in
	// this ring before the next ring may pin it.
	SuccessThreshold float64 `json:"success_threshold"`
	// Approvals are the approvals a promotion into the ring needs.
	Approvals Approvals `json:"approvals"`
	// Freeze are inclusive date ranges without promotions into the ring.
	Freeze []Freeze `json:"freeze"`
	// MinHosts is how many hosts a rollout in this ring must have changed
	// for its verification record to count as evidence.
	MinHosts int `json:"min_hosts"`
}

// Approvals is the number of distinct approvers needed from the groups.
type Approvals struct {
	Required int      `json:"required"`
	Groups   []string `json:"groups"`
}

// Freeze is an inclusive range of UTC dates, YYYY-MM-DD.
type Freeze struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

// Change is the effect of the change that the policies judge.
type Change struct {
	// RingsMoved are the rings whose pinned baseline changes.
	RingsMoved []RingMove `json:"rings_moved"`
	// Baselines are the baselines added, changed or removed.
	Baselines []BaselineChange `json:"baselines"`
	// Exceptions are the exceptions added, changed or removed.
	Exceptions []ExceptionChange `json:"exceptions"`
	// Files are the changed file paths, relative to the repository root.
	Files []string `json:"files"`
	// Classes classify every changed file and field (see ChangeClass);
	// every path in Files is covered by at least one class.
	Classes []ChangeClass `json:"classes"`
	// EffectDigest is the digest of what the change does (plan.Effect's
	// Digest): a function of the base and head commits only.
	EffectDigest string `json:"effect_digest"`
}

// The change classes of ChangeClass.Class.
const (
	ClassPromotion  = "promotion"   // a ring pins another baseline
	ClassRingPolicy = "ring_policy" // a ring's rollout rules change
	ClassException  = "exception"   // an exception is added, changed or removed
	ClassConfig     = "config"      // patchbay.cue's config changes
	ClassRepoPolicy = "repo_policy" // policy/*.rego changes
	ClassWorkflow   = "workflow"    // CI / workflow files change
	ClassBaseline   = "baseline"    // a baseline's content changes
	ClassCosmetic   = "cosmetic"    // a file changes, its meaning does not
)

// ChangeClass is one classified part of a change: a file, or one field of
// a ring, exception or the config.
type ChangeClass struct {
	// Class is one of the Class constants.
	Class string `json:"class"`
	// Path is the file that carries the change.
	Path string `json:"path"`
	// Subject names what changed: a ring, an exception id, a baseline id
	// or a config field; empty for workflow and cosmetic files.
	Subject string `json:"subject"`
	// Field is the ring field (strategy, approvals, windows, freeze, soak,
	// threshold, reboot, selector, min_hosts, ring) or config field
	// (approvers, trusted_keys, sla, streams, rings, ...), when one.
	Field string `json:"field"`
	// Direction is, for ring_policy, "loosening" or "tightening"; for an
	// exception "added", "extended", "widened", "changed", "narrowed" or
	// "removed"; for a baseline "added", "changed" or "removed".
	Direction string `json:"direction"`
	// Owner is an exception's owner at the head (at the base when removed).
	Owner string `json:"owner"`
	// Detail says what changed for people, e.g. "approvals.required 2 → 0".
	Detail string `json:"detail"`
}

// RingMove is a ring moving from one baseline to another.
type RingMove struct {
	Ring string `json:"ring"`
	From string `json:"from"`
	To   string `json:"to"`
	// ToDigest is the digest of baseline To at the head commit.
	ToDigest string `json:"to_digest"`
	// Floors compare every floor of the old baseline with the new one; see
	// FloorChanges.
	Floors []Floor `json:"floors"`
}

// Floor compares the floor (min) of one rule in a ring's old baseline with
// the new baseline's.
type Floor struct {
	Stream string `json:"stream"`
	// Kind is "package" or "source".
	Kind string `json:"kind"`
	Name string `json:"name"`
	// OldMin is the old baseline's min.
	OldMin string `json:"old_min"`
	// NewMin is the new baseline's floor: its min, else its pin; empty when
	// the new baseline has neither for the rule.
	NewMin string `json:"new_min"`
	// Cmp is -1, 0 or 1 as NewMin orders before, equal to or after OldMin;
	// -1 when NewMin is empty.
	Cmp int `json:"cmp"`
	// AllowDowngradeReason is the new rule's allowDowngrade reason, if any.
	AllowDowngradeReason string `json:"allow_downgrade_reason"`
}

// BaselineChange is a baseline added, changed or removed.
type BaselineChange struct {
	ID string `json:"id"`
	// Status is "added", "changed" or "removed".
	Status     string `json:"status"`
	BaseDigest string `json:"base_digest"`
	HeadDigest string `json:"head_digest"`
	// Rules are the baseline's rules at the head (none when removed).
	Rules []RuleSummary `json:"rules"`
}

// RuleSummary is what the hygiene policies read of one baseline rule.
type RuleSummary struct {
	Stream string `json:"stream"`
	// Kind is "package" or "source".
	Kind       string   `json:"kind"`
	Name       string   `json:"name"`
	Min        string   `json:"min"`
	Pin        string   `json:"pin"`
	Hold       bool     `json:"hold"`
	HoldReason string   `json:"hold_reason"`
	Block      []string `json:"block"`
}

// ExceptionChange is an exception added, changed or removed, as at the head.
type ExceptionChange struct {
	ID string `json:"id"`
	// Status is "added", "changed" or "removed".
	Status              string `json:"status"`
	Owner               string `json:"owner"`
	Reason              string `json:"reason"`
	CompensatingControl string `json:"compensating_control"`
	// Granted and Expires are dates, YYYY-MM-DD.
	Granted string `json:"granted"`
	Expires string `json:"expires"`
	// KEV says the waived rule fixes a known exploited vulnerability.
	KEV bool `json:"kev"`
}

// PullRequest is the pull request carrying the change.
type PullRequest struct {
	Number     int      `json:"number"`
	Author     string   `json:"author"`
	LastPusher string   `json:"last_pusher"`
	Labels     []string `json:"labels"`
	HeadSHA    string   `json:"head_sha"`
	// BaseRef is the branch the pull request merges into; empty when the
	// change is judged without a pull request.
	BaseRef string `json:"base_ref"`
}

// Review is a pull request review in GitHub's API shape.
type Review struct {
	User User `json:"user"`
	// State is APPROVED, CHANGES_REQUESTED, COMMENTED or DISMISSED.
	State       string    `json:"state"`
	CommitID    string    `json:"commit_id"`
	SubmittedAt time.Time `json:"submitted_at"`
}

// User is a GitHub user.
type User struct {
	Login string `json:"login"`
}

// Evidence is a ring verification record: the outcome of a baseline's
// rollout in a ring.
type Evidence struct {
	Ring           string  `json:"ring"`
	Baseline       string  `json:"baseline"`
	BaselineDigest string  `json:"baseline_digest"`
	Commit         string  `json:"commit"`
	SuccessRate    float64 `json:"success_rate"`
	// SoakHours is how long the ring had run the baseline when verified.
	SoakHours  float64   `json:"soak_hours"`
	VerifiedAt time.Time `json:"verified_at"`
	// HostsTotal is how many hosts the rollout covered; HostsChanged how
	// many it actually changed (succeeded with work to do). A rollout over
	// no host, or that changed fewer than the ring's min_hosts, proves
	// nothing.
	HostsTotal   int `json:"hosts_total"`
	HostsChanged int `json:"hosts_changed"`
	// TestedSet is the exact versions the ring's hosts ran (ring.verified's
	// testedSet); a record without one is not evidence for a promotion.
	TestedSet []TestedVersion `json:"tested_set"`
}

// TestedVersion is one entry of a tested set: Hosts hosts on Stream ran
// Package at Version.
type TestedVersion struct {
	Stream  string `json:"stream"`
	Package string `json:"package"`
	Version string `json:"version"`
	Hosts   int    `json:"hosts"`
}

// normalized returns a copy of in with times in UTC and nil slices empty,
// so that its JSON has no nulls where the policies expect arrays.
func (in Input) normalized() Input {
	out := in
	out.Now = in.Now.UTC()
	out.Rings = nonNil(in.Rings)
	for i := range out.Rings {
		out.Rings[i].Freeze = nonNil(out.Rings[i].Freeze)
		out.Rings[i].Approvals.Groups = nonNil(out.Rings[i].Approvals.Groups)
	}
	if out.Config.Approvers == nil {
		out.Config.Approvers = map[string][]string{}
	}
	out.Change.RingsMoved = nonNil(in.Change.RingsMoved)
	for i := range out.Change.RingsMoved {
		out.Change.RingsMoved[i].Floors = nonNil(out.Change.RingsMoved[i].Floors)
	}
	out.Change.Baselines = nonNil(in.Change.Baselines)
	for i := range out.Change.Baselines {
		out.Change.Baselines[i].Rules = nonNil(out.Change.Baselines[i].Rules)
		for j := range out.Change.Baselines[i].Rules {
			out.Change.Baselines[i].Rules[j].Block = nonNil(out.Change.Baselines[i].Rules[j].Block)
		}
	}
	out.Change.Exceptions = nonNil(in.Change.Exceptions)
	out.Change.Files = nonNil(in.Change.Files)
	out.Change.Classes = nonNil(in.Change.Classes)
	out.PR.Labels = nonNil(in.PR.Labels)
	out.Reviews = nonNil(in.Reviews)
	for i := range out.Reviews {
		out.Reviews[i].SubmittedAt = out.Reviews[i].SubmittedAt.UTC()
	}
	out.Evidence = nonNil(in.Evidence)
	for i := range out.Evidence {
		out.Evidence[i].VerifiedAt = out.Evidence[i].VerifiedAt.UTC()
		out.Evidence[i].TestedSet = nonNil(out.Evidence[i].TestedSet)
	}
	return out
}

// nonNil returns a copy of s, empty rather than nil.
func nonNil[T any](s []T) []T {
	out := make([]T, len(s))
	copy(out, s)
	return out
}

// normalizedView is normalized(in) without the copies it need not make: a
// list none of whose elements must change (every nested list non-nil,
// every time in UTC) is in's own, so the result is only to be read.
// TestNormalizedView compares it with normalized.
func (in Input) normalizedView() Input {
	out := in
	out.Now = in.Now.UTC()
	if out.Config.Approvers == nil {
		out.Config.Approvers = map[string][]string{}
	}
	out.Rings = orEmpty(in.Rings)
	if slices.ContainsFunc(in.Rings, func(r Ring) bool { return r.Freeze == nil || r.Approvals.Groups == nil }) {
		out.Rings = nonNil(in.Rings)
		for i := range out.Rings {
			out.Rings[i].Freeze = orEmpty(out.Rings[i].Freeze)
			out.Rings[i].Approvals.Groups = orEmpty(out.Rings[i].Approvals.Groups)
		}
	}
	out.Change.RingsMoved = orEmpty(in.Change.RingsMoved)
	if slices.ContainsFunc(in.Change.RingsMoved, func(m RingMove) bool { return m.Floors == nil }) {
		out.Change.RingsMoved = nonNil(in.Change.RingsMoved)
		for i := range out.Change.RingsMoved {
			out.Change.RingsMoved[i].Floors = orEmpty(out.Change.RingsMoved[i].Floors)
		}
	}
	out.Change.Baselines = orEmpty(in.Change.Baselines)
	if slices.ContainsFunc(in.Change.Baselines, func(b BaselineChange) bool {
		return b.Rules == nil || slices.ContainsFunc(b.Rules, func(r RuleSummary) bool { return r.Block == nil })
	}) {
		out.Change.Baselines = nonNil(in.Change.Baselines)
		for i := range out.Change.Baselines {
			out.Change.Baselines[i].Rules = nonNil(out.Change.Baselines[i].Rules)
			for j := range out.Change.Baselines[i].Rules {
				out.Change.Baselines[i].Rules[j].Block = orEmpty(out.Change.Baselines[i].Rules[j].Block)
			}
		}
	}
	out.Change.Exceptions = orEmpty(in.Change.Exceptions)
	out.Change.Files = orEmpty(in.Change.Files)
	out.Change.Classes = orEmpty(in.Change.Classes)
	out.PR.Labels = orEmpty(in.PR.Labels)
	out.Reviews = orEmpty(in.Reviews)
	if slices.ContainsFunc(in.Reviews, func(r Review) bool { return r.SubmittedAt.Location() != time.UTC }) {
		out.Reviews = nonNil(in.Reviews)
		for i := range out.Reviews {
			out.Reviews[i].SubmittedAt = out.Reviews[i].SubmittedAt.UTC()
		}
	}
	out.Evidence = orEmpty(in.Evidence)
	if slices.ContainsFunc(in.Evidence, func(e Evidence) bool { return e.VerifiedAt.Location() != time.UTC || e.TestedSet == nil }) {
		out.Evidence = nonNil(in.Evidence)
		for i := range out.Evidence {
			out.Evidence[i].VerifiedAt = out.Evidence[i].VerifiedAt.UTC()
			out.Evidence[i].TestedSet = orEmpty(out.Evidence[i].TestedSet)
		}
	}
	return out
}

// orEmpty is s, or an empty slice for nil.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
