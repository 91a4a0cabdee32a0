package api

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	_ "embed"
)

// OpenAPI is the OpenAPI 3.0 description of the API (openapi.yaml).
//
//go:embed openapi.yaml
var OpenAPI []byte

// Media types of PUT /api/v1/hosts/{id}/report.
const (
	// MediaReport is a full report in engine/inventory's wire format.
	MediaReport = "application/json"
	// MediaReportSummary is a ReportSummary: the report without packages.
	MediaReportSummary = "application/vnd.patchbay.report-summary+json"
)

// Error codes: the stable "code" of an Error body. Clients branch on these,
// never on the message.
const (
	CodeUnauthorized    = "unauthorized"      // 401: no, unknown or expired token
	CodeForbidden       = "forbidden"         // 403: the token may not act on this resource
	CodeNotFound        = "not_found"         // 404
	CodeBadRequest      = "bad_request"       // 400: malformed body or parameter
	CodeInvalidReport   = "invalid_report"    // 422: the report breaks a rule; message names the field
	CodeTooLarge        = "too_large"         // 413: body over the bound
	CodeUnsupportedType = "unsupported_media" // 415
	CodeConflict        = "conflict"          // 409: e.g. host already enrolled
	CodeNeedPackages    = "need_packages"     // 409 on a summary: resend the full report
	CodeRateLimited     = "rate_limited"      // 429
	CodeUnavailable     = "unavailable"       // 503: no valid patch repository loaded yet, or shutting down
	CodeInternal        = "internal"          // 500: details are in the server log only
)

// Error is the body of every error response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// NeedPackages is true with CodeNeedPackages.
	NeedPackages bool `json:"needPackages,omitempty"`
}

// EnrollRequest is the body of POST /api/v1/enroll, sent with the
// enrollment token as the bearer token.
type EnrollRequest struct {
	HostID   string            `json:"hostId"`
	Hostname string            `json:"hostname,omitempty"`
	Stream   string            `json:"stream,omitempty"`
	Arch     string            `json:"arch,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// EnrollResponse is returned once by a successful enrollment: the host's
// own token. The server keeps only its hash.
type EnrollResponse struct {
	HostID string `json:"hostId"`
	Token  string `json:"token"`
}

// ReportSummary is a report without its package list: what the agent sends
// first. PackageSetHash names the set; when the server does not hold it, it
// answers 409 need_packages and the agent sends the full report.
type ReportSummary struct {
	HostID         string            `json:"hostId"`
	Hostname       string            `json:"hostname,omitempty"`
	Stream         string            `json:"stream"`
	Ecosystem      string            `json:"ecosystem"`
	Labels         map[string]string `json:"labels,omitempty"`
	Arch           string            `json:"arch,omitempty"`
	Kernel         string            `json:"kernel,omitempty"`
	RebootRequired bool              `json:"rebootRequired"`
	CollectedAt    time.Time         `json:"collectedAt"`
	AgentVersion   string            `json:"agentVersion,omitempty"`
	PackageSetHash string            `json:"packageSetHash"`
}

// ReportAck is the 200 answer to a report: it is durably stored.
type ReportAck struct {
	Accepted       bool   `json:"accepted"`
	ReportID       int64  `json:"reportId"`
	PackageSetHash string `json:"packageSetHash"`
	// SetStored is true when this report stored a package set new to the
	// server.
	SetStored bool `json:"setStored"`
	// Status is the host's plan status after this report (COMPLIANT, ...).
	Status string `json:"status"`
	// Actions is the number of actions the host's plan holds.
	Actions int `json:"actions"`
}

// Action kinds, in the order a host applies them.
const (
	KindInstall   = "install"
	KindUpgrade   = "upgrade"
	KindDowngrade = "downgrade"
	KindReboot    = "reboot"
)

// Action is one step assigned to a host. ID is its idempotency key: the
// same action for the same host and baseline digest always has the same ID
// (see ActionID), and the server records one result per ID.
type Action struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Key is the action's canonical text (see ActionKey); with the host id
	// and BaselineDigest it determines ID.
	Key     string `json:"key"`
	Package string `json:"package,omitempty"`
	// Version is the exact version to install (pin rules).
	Version string `json:"version,omitempty"`
	// Min is the binary version the package must reach at least.
	Min string `json:"min,omitempty"`
	// MinSource is the source version the package's source must reach.
	MinSource string `json:"minSource,omitempty"`
	// Avoid lists versions that must not be the result.
	Avoid  []string `json:"avoid,omitempty"`
	Rules  []string `json:"rules"`
	Reason string   `json:"reason"`
	// Tested, when set, binds a package action of a promotion to the
	// previous ring's tested set: Version is one of Tested.Versions, and the
	// agent accepts no other version as the result. An empty Versions means
	// the previous ring ran no version of the package on this stream: the
	// agent installs nothing and fails the step ("version not in tested
	// set").
	Tested *Tested `json:"tested,omitempty"`
	// RebootPolicy is the ring's reboot policy on a reboot action:
	// "if-required" (reboot only when the host reports it needs one) or
	// "always".
	RebootPolicy string `json:"rebootPolicy,omitempty"`
}

// Tested is the tested set an action is bound to.
type Tested struct {
	// Ring is the ring whose verification recorded the set.
	Ring string `json:"ring"`
	// Versions are the exact versions of the package that ring ran on the
	// host's stream, highest first.
	Versions []string `json:"versions"`
}

// Rollback strategies of a ring (Assignment.Rollback).
const (
	RollbackNever     = "never"
	RollbackOnFailure = "on-failure"
)

// Reboot policies of a ring (RebootPolicy).
const (
	RebootIfRequired = "if-required"
	RebootAlways     = "always"
)

// Outcome details the agent and server agree on.
const (
	// NotTested starts the detail of a failed action whose version is not in
	// the tested set.
	NotTested = "version not in tested set"
)

// Assignment is what a host must do now.
type Assignment struct {
	HostID string `json:"hostId"`
	// Status is the host's plan status (COMPLIANT, NON_COMPLIANT, ...).
	Status         string `json:"status"`
	Ring           string `json:"ring,omitempty"`
	Baseline       string `json:"baseline,omitempty"`
	BaselineDigest string `json:"baselineDigest,omitempty"`
	// PackageSetHash is the package set the assignment was computed from.
	PackageSetHash string    `json:"packageSetHash,omitempty"`
	GeneratedAt    time.Time `json:"generatedAt"`
	// Actions are to be applied in order; empty when nothing is due.
	Actions []Action `json:"actions"`
	// RolloutID names the rollout that released the actions (rollout
	// controller only).
	RolloutID string `json:"rolloutId,omitempty"`
	// Rollback is the ring's strategy.rollback: "on-failure" asks the agent
	// to return the packages to the versions it found when the step fails
	// (a failed action or health check); "never" or empty leaves them.
	Rollback string `json:"rollback,omitempty"`
	// Hold says why nothing is due although the host is not compliant
	// (waiting for its wave, outside the maintenance window, halted...).
	Hold string `json:"hold,omitempty"`
	// NotBefore, with Hold, is the earliest time asking again can help
	// (the next window opening).
	NotBefore *time.Time `json:"notBefore,omitempty"`
	// DryRun is set when the agent asked as a dry run: the actions are
	// what a real run would get, shown only; the host takes no wave slot.
	DryRun bool `json:"dryRun,omitempty"`
	// HeartbeatSeconds is how often the agent should send a heartbeat
	// (POST .../heartbeat) while it works on these actions; the server
	// reclaims a step that goes silent for the ring's strategy.stepTimeout.
	HeartbeatSeconds int `json:"heartbeatSeconds,omitempty"`
}

// AssignmentQuery is what an agent says when it asks for its assignment
// (GET /api/v1/hosts/{id}/assignment?dryRun=true).
type AssignmentQuery struct {
	// DryRun: the agent only prints what it would run. Such a host never
	// takes a wave slot and is never timed out.
	DryRun bool
}

// Heartbeat phases: what the agent is doing in its step.
const (
	PhaseRefresh   = "refresh"   // refreshing the package indexes
	PhaseInstall   = "install"   // running the transaction
	PhaseVerify    = "verify"    // re-collecting and judging the post-state
	PhaseHealth    = "health"    // running the health checks
	PhaseRollback  = "rollback"  // returning packages to the versions found
	PhaseReport    = "report"    // reporting the post-state and the results
	PhaseRebooting = "rebooting" // the reboot command runs or ran; the host is going down
	PhasePostBoot  = "post-boot" // back after the reboot: hook, health checks
	PhaseRecover   = "recover"   // judging an interrupted step from the post-state
)

// Phases lists the heartbeat phases the server accepts.
var Phases = []string{PhaseRefresh, PhaseInstall, PhaseVerify, PhaseHealth, PhaseRollback, PhaseReport, PhaseRebooting, PhasePostBoot, PhaseRecover}

// Heartbeat is the body of POST /api/v1/hosts/{id}/heartbeat: the agent is
// alive and working on its step of rollout RolloutID.
type Heartbeat struct {
	RolloutID string `json:"rolloutId"`
	Phase     string `json:"phase"`
}

// HeartbeatAck answers a heartbeat. Recorded is false when the host is not
// running in that rollout (any more): its step finished, was timed out, or
// the rollout moved on; Reason says which.
type HeartbeatAck struct {
	Recorded bool   `json:"recorded"`
	Reason   string `json:"reason,omitempty"`
}

// Outcomes of an action.
const (
	// OutcomeSucceeded: the post-state satisfies the action.
	OutcomeSucceeded = "succeeded"
	// OutcomeFailed: the post-state does not satisfy the action.
	OutcomeFailed = "failed"
	// OutcomeSkipped: the agent did not attempt it (e.g. reboots not allowed).
	OutcomeSkipped = "skipped"
)

// ActionResult is one action's outcome.
type ActionResult struct {
	ActionID       string    `json:"actionId"`
	BaselineDigest string    `json:"baselineDigest"`
	Key            string    `json:"key"`
	Outcome        string    `json:"outcome"`
	Detail         string    `json:"detail,omitempty"`
	StartedAt      time.Time `json:"startedAt"`
	FinishedAt     time.Time `json:"finishedAt"`
}

// ResultsRequest is the body of POST /api/v1/hosts/{id}/results. The agent
// first reports the post-state (PUT .../report) and names it here by its
// package-set hash and report id.
type ResultsRequest struct {
	Results []ActionResult `json:"results"`
	// PostStateHash is the package-set hash of the post-state report.
	PostStateHash string `json:"postStateHash"`
	// PostStateReportID is the reportId the server acknowledged for it.
	PostStateReportID int64 `json:"postStateReportId"`
}

// ResultsResponse says, per result in request order, whether it was
// recorded now or had already been recorded (a redelivery).
type ResultsResponse struct {
	Recorded   int      `json:"recorded"`
	Duplicates int      `json:"duplicates"`
	Statuses   []string `json:"statuses"`
}

// Host is a host as the admin API lists it.
type Host struct {
	ID             string            `json:"id"`
	Hostname       string            `json:"hostname,omitempty"`
	Stream         string            `json:"stream,omitempty"`
	Ring           string            `json:"ring,omitempty"`
	Arch           string            `json:"arch,omitempty"`
	Kernel         string            `json:"kernel,omitempty"`
	AgentVersion   string            `json:"agentVersion,omitempty"`
	Labels         map[string]string `json:"labels"`
	RebootRequired bool              `json:"rebootRequired"`
	PackageSetHash string            `json:"packageSetHash,omitempty"`
	LastReportAt   *time.Time        `json:"lastReportAt,omitempty"`
	EnrolledAt     time.Time         `json:"enrolledAt"`
}

// HostList is a page of hosts; Next, when set, is the "after" of the next
// page.
type HostList struct {
	Hosts []Host `json:"hosts"`
	Next  string `json:"next,omitempty"`
}

// HostDetail is one host with its latest plan snapshot (the plan JSON of
// that host, as `patchbay plan --format json` writes a host), when any.
type HostDetail struct {
	Host           Host       `json:"host"`
	PlanComputedAt *time.Time `json:"planComputedAt,omitempty"`
	BaselineDigest string     `json:"baselineDigest,omitempty"`
	Plan           any        `json:"plan,omitempty"`
}

// Ready is the body of /readyz.
type Ready struct {
	Ready bool `json:"ready"`
	// Repository names the loaded patch repository revision.
	Repository string     `json:"repository,omitempty"`
	LoadedAt   *time.Time `json:"loadedAt,omitempty"`
	// LastError is the last reload failure; the last good model stays in use.
	LastError string `json:"lastError,omitempty"`
	Store     string `json:"store"`
	// Publish is the audit publishing status (with the rollout controller).
	Publish *PublishStatus `json:"publish,omitempty"`
}

// AuditHead is the audit chain's head as the server last saw it
// acknowledged: with a remote, the remote's refs/notes/patchbay after the
// last fetch or push; without one, the local notes. An auditor checks a
// clone against it with 'patchbay audit verify --expect-seq SEQ'.
type AuditHead struct {
	Seq    int64  `json:"seq"`
	Digest string `json:"digest,omitempty"`
	// NotesCommit is the notes commit the head was read from.
	NotesCommit string `json:"notesCommit,omitempty"`
	Remote      string `json:"remote,omitempty"`
	// Backlog is how many records are still waiting to be published.
	Backlog int `json:"backlog"`
}

// PublishStatus is how far the server's audit records are from the patch
// repository: Backlog outbox entries are not yet written (with a remote:
// not yet pushed and acknowledged); LastError is the leader's last failed
// publishing attempt (cleared by the next success).
type PublishStatus struct {
	// Remote is the Git remote records are pushed to ("" = local notes only).
	Remote  string `json:"remote,omitempty"`
	Backlog int    `json:"backlog"`
	// Signing is false when the server has no signing key: records wait.
	Signing     bool       `json:"signing"`
	Leader      bool       `json:"leader"`
	LastError   string     `json:"lastError,omitempty"`
	LastErrorAt *time.Time `json:"lastErrorAt,omitempty"`
	LastPushAt  *time.Time `json:"lastPushAt,omitempty"`
	// Published and Pushes count this replica's records pushed and pushes.
	Published int64 `json:"published"`
	Pushes    int64 `json:"pushes"`
	// RepoLease is this replica's view of the repository lease ("held
	// until …", "refused: …", "not held"; empty without a remote).
	RepoLease string `json:"repoLease,omitempty"`
}

// ActionKey is the canonical text of an action: kind, package and the
// version constraints, space-separated (empty parts omitted), e.g.
// "upgrade openssl minSource=3.0.15-1~deb12u1 avoid=3.0.14-1".
func ActionKey(kind, pkg, version, min, minSource string, avoid []string) string {
	var b strings.Builder
	b.WriteString(kind)
	for _, p := range []struct{ k, v string }{{"", pkg}, {"version=", version}, {"min=", min}, {"minSource=", minSource}} {
		if p.v != "" {
			b.WriteByte(' ')
			b.WriteString(p.k)
			b.WriteString(p.v)
		}
	}
	if len(avoid) > 0 {
		b.WriteString(" avoid=")
		b.WriteString(strings.Join(avoid, ","))
	}
	return b.String()
}

// ActionID is the idempotency key of an action: the first 32 hex digits of
// SHA-256 over host id, baseline digest and action key, NUL-separated.
func ActionID(hostID, baselineDigest, key string) string {
	h := sha256.New()
	h.Write([]byte(hostID))
	h.Write([]byte{0})
	h.Write([]byte(baselineDigest))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return hex.EncodeToString(h.Sum(nil))[:32]
}
