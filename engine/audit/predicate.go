package audit

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Kind names a record kind.
type Kind string

// The record kinds.
const (
	// KindGateDecision records the gate's decision on a pull request's head.
	KindGateDecision Kind = "gate.decision"
	// KindChangeMerged records a merged pull request, on its merge commit.
	KindChangeMerged Kind = "change.merged"
	// KindRolloutStarted records the start of a rollout in one ring.
	KindRolloutStarted Kind = "rollout.started"
	// KindRolloutWave records the outcome of one wave of a rollout.
	KindRolloutWave Kind = "rollout.wave"
	// KindRolloutFinished records the end of a rollout in one ring.
	KindRolloutFinished Kind = "rollout.finished"
	// KindRingVerified records that a ring ran a baseline successfully for
	// its soak time; the gate reads it as evidence for the next promotion.
	KindRingVerified Kind = "ring.verified"
	// KindExceptionGranted records an approved waiver.
	KindExceptionGranted Kind = "exception.granted"
	// KindRolloutUnreviewed records a rollout held because its commit
	// has no passing, signed gate decision and no merged pull request with
	// counted approvals (a direct push).
	KindRolloutUnreviewed Kind = "rollout.unreviewed"
	// KindRolloutApproved records an admin's break-glass approval of an
	// unreviewed rollout: who and why.
	KindRolloutApproved Kind = "rollout.approved"
	// KindTokenChanged records an operator creating or revoking a
	// credential (an admin, viewer or enrollment token, an enrolled host's
	// token): who, what and why.
	KindTokenChanged Kind = "token.changed"
	// KindCycleProposal records what a proposal cycle (config.cycles) did
	// for one period: the baseline it proposed and the pull request it
	// opened or found, or why it proposed nothing or failed.
	KindCycleProposal Kind = "cycle.proposal"
)

// Kinds lists every record kind in lifecycle order.
func Kinds() []Kind {
	return []Kind{KindGateDecision, KindChangeMerged, KindRolloutStarted, KindRolloutWave,
		KindRolloutFinished, KindRingVerified, KindExceptionGranted, KindRolloutUnreviewed, KindRolloutApproved, KindTokenChanged, KindCycleProposal}
}

// predicateTypePrefix and predicateTypeSuffix frame a kind in its
// predicateType URI.
const (
	predicateTypePrefix = "https://patchbay.dev/audit/"
	predicateTypeSuffix = "/v1"
)

// PredicateType returns the in-toto predicateType of the kind,
// https://patchbay.dev/audit/<kind>/v1.
func (k Kind) PredicateType() string { return predicateTypePrefix + string(k) + predicateTypeSuffix }

// KindOf returns the kind named by a predicateType, and whether it is one.
func KindOf(predicateType string) (Kind, bool) {
	for _, k := range Kinds() {
		if k.PredicateType() == predicateType {
			return k, true
		}
	}
	return "", false
}

// ParseKind parses a kind name such as "ring.verified".
func ParseKind(s string) (Kind, error) {
	if slices.Contains(Kinds(), Kind(s)) {
		return Kind(s), nil
	}
	return "", fmt.Errorf("unknown record kind %q (want one of %v)", s, Kinds())
}

// Predicate is the kind-specific body of a record.
type Predicate interface {
	// Kind is the record kind the predicate belongs to.
	Kind() Kind
	// Baseline returns the baseline the record is about, if any; its
	// digest becomes the statement's second subject.
	Baseline() (id, digest string)
	// Validate reports a missing or malformed field.
	Validate() error
}

// NewPredicate returns a zero predicate of kind k, for decoding.
func NewPredicate(k Kind) (Predicate, error) {
	switch k {
	case KindGateDecision:
		return &GateDecision{}, nil
	case KindChangeMerged:
		return &ChangeMerged{}, nil
	case KindRolloutStarted:
		return &RolloutStarted{}, nil
	case KindRolloutWave:
		return &RolloutWave{}, nil
	case KindRolloutFinished:
		return &RolloutFinished{}, nil
	case KindRingVerified:
		return &RingVerified{}, nil
	case KindExceptionGranted:
		return &ExceptionGranted{}, nil
	case KindRolloutUnreviewed:
		return &RolloutUnreviewed{}, nil
	case KindRolloutApproved:
		return &RolloutApproved{}, nil
	case KindTokenChanged:
		return &TokenChanged{}, nil
	case KindCycleProposal:
		return &CycleProposal{}, nil
	}
	return nil, fmt.Errorf("unknown record kind %q", k)
}

// GateDecision is the predicate of gate.decision: the gate's decision on a
// pull request at one head commit. The record's subject is the head commit.
type GateDecision struct {
	// Result is "pass", "fail" or "inconclusive".
	Result string `json:"result"`
	// Denies are the ids of the rules that denied.
	Denies []string `json:"denies"`
	// Warns are the ids of the rules that warned.
	Warns []string `json:"warns"`
	// PolicyBundleDigest is "sha256:<hex>" of the policy bundle evaluated.
	PolicyBundleDigest string `json:"policyBundleDigest"`
	// InputDigest is "sha256:<hex>" of the gate's input document.
	InputDigest string `json:"inputDigest"`
	// PR is the pull request number.
	PR int `json:"pr"`
	// HeadSHA is the pull request's head commit the decision is about.
	HeadSHA string `json:"headSha"`
	// BaseSHA is the base commit whose policies were evaluated (optional).
	BaseSHA string `json:"baseSha,omitempty"`
	// BaseRef is the branch the pull request merges into (optional).
	BaseRef string `json:"baseRef,omitempty"`
	// EffectDigest is the digest of what the change does (optional).
	EffectDigest string `json:"effectDigest,omitempty"`
	// Approvers are the logins whose approvals counted.
	Approvers []string `json:"approvers"`
	// DecidedAt is when the gate decided.
	DecidedAt time.Time `json:"decidedAt"`
}

// ChangeMerged is the predicate of change.merged: a pull request was merged.
// The record's subject is the merge commit.
type ChangeMerged struct {
	// PR is the pull request number.
	PR int `json:"pr"`
	// Author is the pull request author's login.
	Author string `json:"author"`
	// Approvers are the logins whose approvals counted at merge time.
	Approvers []string `json:"approvers"`
	// BaseCommit, HeadCommit and MergeCommit are the commits of the merge.
	BaseCommit  string `json:"baseCommit"`
	HeadCommit  string `json:"headCommit"`
	MergeCommit string `json:"mergeCommit"`
	// EffectDigest is "sha256:<hex>" of the effect the approvals bound.
	EffectDigest string `json:"effectDigest"`
	// MergedAt is when the merge happened.
	MergedAt time.Time `json:"mergedAt"`
}

// RolloutStarted is the predicate of rollout.started: a rollout of a
// baseline began in a ring. The subject is the commit rolled out.
type RolloutStarted struct {
	// RolloutID identifies the rollout.
	RolloutID string `json:"rolloutId"`
	// Ring is the ring rolled out to.
	Ring string `json:"ring"`
	// BaselineID and BaselineDigest ("sha256:<hex>") name the baseline.
	BaselineID     string `json:"baselineId"`
	BaselineDigest string `json:"baselineDigest"`
	// Hosts is the number of hosts in scope.
	Hosts int `json:"hosts"`
	// StartedAt is when the rollout started.
	StartedAt time.Time `json:"startedAt"`
}

// RolloutWave is the predicate of rollout.wave: one wave of a rollout ended.
type RolloutWave struct {
	RolloutID      string `json:"rolloutId"`
	Ring           string `json:"ring"`
	BaselineID     string `json:"baselineId"`
	BaselineDigest string `json:"baselineDigest"`
	// Wave is the wave's number, from 1.
	Wave int `json:"wave"`
	// HostsTotal, HostsSucceeded and HostsFailed count the wave's hosts.
	HostsTotal     int `json:"hostsTotal"`
	HostsSucceeded int `json:"hostsSucceeded"`
	HostsFailed    int `json:"hostsFailed"`
	// Halted is true when the wave exceeded maxErrors and halted the rollout.
	Halted bool `json:"halted"`
	// FinishedAt is when the wave ended.
	FinishedAt time.Time `json:"finishedAt"`
	// Operator is set when an operator caused the record (pause, resume):
	// the admin token's name and the reason given. Absent for the
	// controller's own records.
	Operator *Operator `json:"operator,omitempty"`
}

// Operator names who made an operator action and why: the admin token's
// name and the --reason given.
type Operator struct {
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// RolloutFinished is the predicate of rollout.finished: a rollout ended.
type RolloutFinished struct {
	RolloutID      string `json:"rolloutId"`
	Ring           string `json:"ring"`
	BaselineID     string `json:"baselineId"`
	BaselineDigest string `json:"baselineDigest"`
	// Outcome is "succeeded", "halted", "failed" or "cancelled".
	Outcome        string `json:"outcome"`
	HostsTotal     int    `json:"hostsTotal"`
	HostsSucceeded int    `json:"hostsSucceeded"`
	HostsFailed    int    `json:"hostsFailed"`
	// FinishedAt is when the rollout ended.
	FinishedAt time.Time `json:"finishedAt"`
	// Operator is set when an operator ended the rollout (abort).
	Operator *Operator `json:"operator,omitempty"`
}

// RingVerified is the predicate of ring.verified: a ring ran a baseline
// successfully and soaked it. The gate reads these as evidence that the
// baseline may be promoted to the next ring. The subject is Commit.
type RingVerified struct {
	Ring           string `json:"ring"`
	BaselineID     string `json:"baselineId"`
	BaselineDigest string `json:"baselineDigest"`
	// Commit is the commit whose rollout was verified.
	Commit string `json:"commit"`
	// SuccessRate is HostsSucceeded / HostsTotal, in [0, 1].
	SuccessRate    float64 `json:"successRate"`
	HostsTotal     int     `json:"hostsTotal"`
	HostsSucceeded int     `json:"hostsSucceeded"`
	HostsFailed    int     `json:"hostsFailed"`
	// HostsChanged is how many hosts the rollout actually changed (had
	// work to do and succeeded); the gate wants at least the ring's
	// minHosts. Absent in older records, where HostsSucceeded stands in.
	HostsChanged int `json:"hostsChanged,omitempty"`
	// SoakHours is the soak time measured since the rollout finished.
	SoakHours float64 `json:"soakHours"`
	// VerifiedAt is when the verification was made.
	VerifiedAt time.Time `json:"verifiedAt"`
	// TestedSet is what the ring's hosts ran when it was verified: the exact
	// version of every package the baseline's rules govern, per stream, with
	// how many hosts ran it. A promotion of the baseline to the next ring is
	// bound to it: that ring installs these versions and no other. Records
	// written before the tested set existed have none, and the gate does
	// not accept them as evidence.
	TestedSet []TestedVersion `json:"testedSet,omitempty"`
}

// TestedVersion is one entry of a tested set: Hosts hosts of the ring on
// Stream ran Package at exactly Version.
type TestedVersion struct {
	Stream  string `json:"stream"`
	Package string `json:"package"`
	Version string `json:"version"`
	Hosts   int    `json:"hosts"`
}

// ExceptionGranted is the predicate of exception.granted: a waiver of one
// rule for some hosts was approved. The subject is the commit adding it.
type ExceptionGranted struct {
	// ExceptionID is the exception's id (exceptions/<id>.cue).
	ExceptionID string `json:"exceptionId"`
	// Rule is the waived rule's id.
	Rule string `json:"rule"`
	// Hosts are the host ids or selectors it covers.
	Hosts []string `json:"hosts"`
	// Owner, Reason and CompensatingControl are as in the exception file.
	Owner               string `json:"owner"`
	Reason              string `json:"reason"`
	CompensatingControl string `json:"compensatingControl"`
	// Expires is when the exception stops counting.
	Expires time.Time `json:"expires"`
	// ApprovedBy are the approvers' logins.
	ApprovedBy []string `json:"approvedBy"`
	// PR is the pull request that added it (0 if none).
	PR int `json:"pr,omitempty"`
	// GrantedAt is when it was granted.
	GrantedAt time.Time `json:"grantedAt"`
}

// Kind implements Predicate.
func (*GateDecision) Kind() Kind { return KindGateDecision }

// Kind implements Predicate.
func (*ChangeMerged) Kind() Kind { return KindChangeMerged }

// Kind implements Predicate.
func (*RolloutStarted) Kind() Kind { return KindRolloutStarted }

// Kind implements Predicate.
func (*RolloutWave) Kind() Kind { return KindRolloutWave }

// Kind implements Predicate.
func (*RolloutFinished) Kind() Kind { return KindRolloutFinished }

// Kind implements Predicate.
func (*RingVerified) Kind() Kind { return KindRingVerified }

// Kind implements Predicate.
func (*ExceptionGranted) Kind() Kind { return KindExceptionGranted }

// Baseline implements Predicate; a gate decision is about no single baseline.
func (*GateDecision) Baseline() (string, string) { return "", "" }

// Baseline implements Predicate.
func (*ChangeMerged) Baseline() (string, string) { return "", "" }

// Baseline implements Predicate.
func (p *RolloutStarted) Baseline() (string, string) { return p.BaselineID, p.BaselineDigest }

// Baseline implements Predicate.
func (p *RolloutWave) Baseline() (string, string) { return p.BaselineID, p.BaselineDigest }

// Baseline implements Predicate.
func (p *RolloutFinished) Baseline() (string, string) { return p.BaselineID, p.BaselineDigest }

// Baseline implements Predicate.
func (p *RingVerified) Baseline() (string, string) { return p.BaselineID, p.BaselineDigest }

// Baseline implements Predicate.
func (*ExceptionGranted) Baseline() (string, string) { return "", "" }

var (
	shaRE    = regexp.MustCompile(`^[0-9a-f]{40}$`)
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

type checker struct {
	kind Kind
	errs []string
}

func (c *checker) need(ok bool, format string, args ...any) {
	if !ok {
		c.errs = append(c.errs, fmt.Sprintf(format, args...))
	}
}

func (c *checker) sha(field, v string) {
	c.need(shaRE.MatchString(v), "%s: want a 40-hex commit, got %q", field, v)
}
func (c *checker) digest(field, v string) {
	c.need(digestRE.MatchString(v), "%s: want sha256:<64 hex>, got %q", field, v)
}
func (c *checker) text(field, v string)           { c.need(v != "", "%s: required", field) }
func (c *checker) when(field string, t time.Time) { c.need(!t.IsZero(), "%s: required", field) }
func (c *checker) count(field string, n int)      { c.need(n >= 0, "%s: must not be negative", field) }

func (c *checker) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s: %v", ErrInvalidPredicate, c.kind, c.errs)
}

// Validate implements Predicate.
func (p *GateDecision) Validate() error {
	c := &checker{kind: p.Kind()}
	c.need(slices.Contains([]string{"pass", "fail", "inconclusive"}, p.Result), "result: want pass|fail|inconclusive, got %q", p.Result)
	c.digest("policyBundleDigest", p.PolicyBundleDigest)
	c.digest("inputDigest", p.InputDigest)
	c.need(p.PR > 0, "pr: required")
	c.sha("headSha", p.HeadSHA)
	if p.BaseSHA != "" {
		c.sha("baseSha", p.BaseSHA)
	}
	c.when("decidedAt", p.DecidedAt)
	return c.err()
}

// Validate implements Predicate.
func (p *ChangeMerged) Validate() error {
	c := &checker{kind: p.Kind()}
	c.need(p.PR > 0, "pr: required")
	c.text("author", p.Author)
	c.sha("baseCommit", p.BaseCommit)
	c.sha("headCommit", p.HeadCommit)
	c.sha("mergeCommit", p.MergeCommit)
	if p.EffectDigest != "" {
		c.digest("effectDigest", p.EffectDigest)
	}
	c.when("mergedAt", p.MergedAt)
	return c.err()
}

func (c *checker) rollout(id, ring, bid, bdigest string) {
	c.text("rolloutId", id)
	c.text("ring", ring)
	c.text("baselineId", bid)
	c.digest("baselineDigest", bdigest)
}

func (c *checker) hosts(total, ok, failed int) {
	c.count("hostsTotal", total)
	c.count("hostsSucceeded", ok)
	c.count("hostsFailed", failed)
	c.need(ok+failed <= total, "hostsSucceeded + hostsFailed (%d) exceeds hostsTotal (%d)", ok+failed, total)
}

// Validate implements Predicate.
func (p *RolloutStarted) Validate() error {
	c := &checker{kind: p.Kind()}
	c.rollout(p.RolloutID, p.Ring, p.BaselineID, p.BaselineDigest)
	c.count("hosts", p.Hosts)
	c.when("startedAt", p.StartedAt)
	return c.err()
}

// Validate implements Predicate.
func (p *RolloutWave) Validate() error {
	c := &checker{kind: p.Kind()}
	c.rollout(p.RolloutID, p.Ring, p.BaselineID, p.BaselineDigest)
	c.need(p.Wave >= 1, "wave: must be ≥ 1")
	c.hosts(p.HostsTotal, p.HostsSucceeded, p.HostsFailed)
	c.when("finishedAt", p.FinishedAt)
	return c.err()
}

// Validate implements Predicate.
func (p *RolloutFinished) Validate() error {
	c := &checker{kind: p.Kind()}
	c.rollout(p.RolloutID, p.Ring, p.BaselineID, p.BaselineDigest)
	c.need(slices.Contains([]string{"succeeded", "halted", "failed", "cancelled"}, p.Outcome),
		"outcome: want succeeded|halted|failed|cancelled, got %q", p.Outcome)
	c.hosts(p.HostsTotal, p.HostsSucceeded, p.HostsFailed)
	c.when("finishedAt", p.FinishedAt)
	return c.err()
}

// Validate implements Predicate.
func (p *RingVerified) Validate() error {
	c := &checker{kind: p.Kind()}
	c.text("ring", p.Ring)
	c.text("baselineId", p.BaselineID)
	c.digest("baselineDigest", p.BaselineDigest)
	c.sha("commit", p.Commit)
	c.need(p.SuccessRate >= 0 && p.SuccessRate <= 1, "successRate: want 0..1, got %v", p.SuccessRate)
	c.hosts(p.HostsTotal, p.HostsSucceeded, p.HostsFailed)
	c.need(p.SoakHours >= 0, "soakHours: must not be negative")
	c.when("verifiedAt", p.VerifiedAt)
	for i, t := range p.TestedSet {
		c.need(t.Stream != "" && t.Package != "" && t.Version != "" && t.Hosts > 0,
			"testedSet[%d]: want stream, package, version and hosts > 0", i)
	}
	return c.err()
}

// Validate implements Predicate.
func (p *ExceptionGranted) Validate() error {
	c := &checker{kind: p.Kind()}
	c.text("exceptionId", p.ExceptionID)
	c.text("rule", p.Rule)
	c.need(len(p.Hosts) > 0, "hosts: required")
	c.text("owner", p.Owner)
	c.text("reason", p.Reason)
	c.when("expires", p.Expires)
	c.when("grantedAt", p.GrantedAt)
	return c.err()
}

// aboutCommit is implemented by predicates that name the commit they are
// about; Writer.Write refuses to attach them to another commit.
type aboutCommit interface {
	aboutCommit() string
}

func (p *GateDecision) aboutCommit() string { return p.HeadSHA }
func (p *ChangeMerged) aboutCommit() string { return p.MergeCommit }
func (p *RingVerified) aboutCommit() string { return p.Commit }

// RolloutUnreviewed is the predicate of rollout.unreviewed: the controller
// holds a rollout of a commit nobody reviewed. The subject is Commit.
type RolloutUnreviewed struct {
	RolloutID      string `json:"rolloutId"`
	Ring           string `json:"ring"`
	BaselineID     string `json:"baselineId"`
	BaselineDigest string `json:"baselineDigest"`
	Commit         string `json:"commit"`
	// Reason says what was looked for and not found.
	Reason string    `json:"reason"`
	HeldAt time.Time `json:"heldAt"`
}

// RolloutApproved is the predicate of rollout.approved: an admin started
// an unreviewed rollout anyway (break-glass). The subject is Commit.
type RolloutApproved struct {
	RolloutID      string `json:"rolloutId"`
	Ring           string `json:"ring"`
	BaselineID     string `json:"baselineId"`
	BaselineDigest string `json:"baselineDigest"`
	Commit         string `json:"commit"`
	// Actor is the admin token's name.
	Actor string `json:"actor"`
	// Reason is the admin's reason, required.
	Reason     string    `json:"reason"`
	ApprovedAt time.Time `json:"approvedAt"`
}

// Kind implements Predicate.
func (*RolloutUnreviewed) Kind() Kind { return KindRolloutUnreviewed }

// Kind implements Predicate.
func (*RolloutApproved) Kind() Kind { return KindRolloutApproved }

// Baseline implements Predicate.
func (p *RolloutUnreviewed) Baseline() (string, string) { return p.BaselineID, p.BaselineDigest }

// Baseline implements Predicate.
func (p *RolloutApproved) Baseline() (string, string) { return p.BaselineID, p.BaselineDigest }

// Validate implements Predicate.
func (p *RolloutUnreviewed) Validate() error {
	c := &checker{kind: p.Kind()}
	c.rollout(p.RolloutID, p.Ring, p.BaselineID, p.BaselineDigest)
	c.sha("commit", p.Commit)
	c.text("reason", p.Reason)
	c.when("heldAt", p.HeldAt)
	return c.err()
}

// Validate implements Predicate.
func (p *RolloutApproved) Validate() error {
	c := &checker{kind: p.Kind()}
	c.rollout(p.RolloutID, p.Ring, p.BaselineID, p.BaselineDigest)
	c.sha("commit", p.Commit)
	c.text("actor", p.Actor)
	c.text("reason", p.Reason)
	c.when("approvedAt", p.ApprovedAt)
	return c.err()
}

// Token kinds of a TokenChanged record.
const (
	TokenAdmin  = "admin"
	TokenViewer = "viewer"
	TokenEnroll = "enroll"
	TokenHost   = "host"
)

// Token actions of a TokenChanged record (its Operator.Action).
const (
	TokenCreate = "create"
	TokenRevoke = "revoke"
)

// TokenChanged is the predicate of token.changed: an operator created or
// revoked a credential. It is about the repository, not a commit: the
// server attaches it to the main branch's last processed commit when it
// publishes it. The token text (and its hash) is never recorded.
type TokenChanged struct {
	// Token is the kind of credential: "admin", "viewer", "enroll" or
	// "host".
	Token string `json:"token"`
	// Name is the admin or viewer token's name, the enrollment token's id
	// (the first 12 hex digits of its SHA-256, as 'token create' prints
	// it) or the host's id.
	Name string `json:"name"`
	// Uses and ExpiresAt describe a created enrollment token.
	Uses      int        `json:"uses,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// Operator is who did it (actor), what (action: "create" or
	// "revoke") and why (reason, required).
	Operator  Operator  `json:"operator"`
	ChangedAt time.Time `json:"changedAt"`
}

// Kind implements Predicate.
func (*TokenChanged) Kind() Kind { return KindTokenChanged }

// Baseline implements Predicate.
func (*TokenChanged) Baseline() (string, string) { return "", "" }

// Validate implements Predicate.
func (p *TokenChanged) Validate() error {
	c := &checker{kind: p.Kind()}
	c.need(slices.Contains([]string{TokenAdmin, TokenViewer, TokenEnroll, TokenHost}, p.Token), "token: %q, want admin, viewer, enroll or host", p.Token)
	c.text("name", p.Name)
	c.count("uses", p.Uses)
	c.text("operator.actor", p.Operator.Actor)
	c.need(p.Operator.Action == TokenCreate || p.Operator.Action == TokenRevoke, "operator.action: %q, want create or revoke", p.Operator.Action)
	c.text("operator.reason", strings.TrimSpace(p.Operator.Reason))
	c.when("changedAt", p.ChangedAt)
	return c.err()
}

// The outcomes of a cycle.proposal record.
const (
	// CycleOpened: a pull request was opened.
	CycleOpened = "opened"
	// CycleExisting: the period's branch existed (an earlier run or a
	// restart); its pull request was found, nothing new was opened.
	CycleExisting = "existing"
	// CycleNothing: no advisory needed a new rule; no pull request.
	CycleNothing = "nothing-to-propose"
	// CycleFailed: the cycle could not finish; Error says why.
	CycleFailed = "failed"
)

// CycleProposal is the predicate of cycle.proposal: one run of a proposal
// cycle for one period. The subject is BaseCommit, the main-branch commit
// the proposal was computed from.
type CycleProposal struct {
	// Cycle is the cycle's name in config.cycles; Period the period the run
	// is for ("2026-12-08" for a calendar cycle, "kev-<date>-<digest>" for
	// a KEV cycle); Branch the pull request branch, keyed by both.
	Cycle  string `json:"cycle"`
	Period string `json:"period"`
	Branch string `json:"branch,omitempty"`
	// BaseCommit is the main-branch head the proposal was computed from.
	BaseCommit string `json:"baseCommit"`
	// Outcome is opened, existing, nothing-to-propose or failed.
	Outcome string `json:"outcome"`
	// BaselineID and BaselineDigest name the proposed baseline (when one was
	// proposed); Mode is hotfix or next-cycle.
	BaselineID     string `json:"baselineId,omitempty"`
	BaselineDigest string `json:"baselineDigest,omitempty"`
	Mode           string `json:"mode,omitempty"`
	// Rules counts the rules proposed; Advisories lists the advisories
	// they fix, KEV the KEV entries among them; LeftOut counts what the
	// proposal leaves out (no fix yet, below the risk cut, ...).
	Rules      int      `json:"rules"`
	Advisories []string `json:"advisories"`
	KEV        []string `json:"kev"`
	LeftOut    int      `json:"leftOut"`
	// PR and HeadSHA are the pull request and its head commit.
	PR      int    `json:"pr,omitempty"`
	HeadSHA string `json:"headSha,omitempty"`
	// Deadline is, for a KEV cycle, dateAdded of the newest KEV entry plus
	// kev.within; Late is true when the pull request came after it.
	Deadline *time.Time `json:"deadline,omitempty"`
	Late     bool       `json:"late,omitempty"`
	// Error says why a failed run failed.
	Error string `json:"error,omitempty"`
	// RanAt is when the cycle ran.
	RanAt time.Time `json:"ranAt"`
}

// Kind implements Predicate.
func (*CycleProposal) Kind() Kind { return KindCycleProposal }

// Baseline implements Predicate.
func (p *CycleProposal) Baseline() (string, string) { return p.BaselineID, p.BaselineDigest }

// Validate implements Predicate.
func (p *CycleProposal) Validate() error {
	c := &checker{kind: p.Kind()}
	c.text("cycle", p.Cycle)
	c.text("period", p.Period)
	c.sha("baseCommit", p.BaseCommit)
	c.when("ranAt", p.RanAt)
	c.count("rules", p.Rules)
	c.count("leftOut", p.LeftOut)
	switch p.Outcome {
	case CycleOpened, CycleExisting:
		c.need(p.PR > 0, "pr: required when the outcome is %s", p.Outcome)
		c.sha("headSha", p.HeadSHA)
		c.text("branch", p.Branch)
	case CycleNothing:
	case CycleFailed:
		c.text("error", p.Error)
	default:
		c.need(false, "outcome: %q is not one of opened, existing, nothing-to-propose, failed", p.Outcome)
	}
	if p.BaselineDigest != "" {
		c.digest("baselineDigest", p.BaselineDigest)
	}
	return c.err()
}
