package gate_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/gate"
)

const (
	head = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
	old  = "0ld0000000000000000000000000000000000000"
)

// builtinRules is the number of reporting rules of the built-in policies:
// approvals deny+warn, baseline deny, exception deny, governance deny,
// promotion deny+warn+missing.
const builtinRules = 8

var now = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func approve(login string) gate.Review {
	return gate.Review{User: gate.User{Login: login}, State: "APPROVED", CommitID: head, SubmittedAt: now.Add(-time.Hour)}
}

// promotion is a valid promotion of ring pilot to baseline 2026-12 that
// passes every built-in policy; each test case changes one thing.
func promotion() gate.Input {
	return gate.Input{
		Base: gate.Commit{Commit: "ba5e000000000000000000000000000000000000"},
		Head: gate.Commit{Commit: head},
		Now:  now,
		Config: gate.Config{
			Approvers: map[string][]string{
				"sre":           {"alice", "bob", "carol"},
				"security":      {"sec1", "sec2", "sec3"},
				"policy-owners": {"owner"},
			},
			PolicyOwners: "policy-owners",
			Security:     "security",
			Exceptions:   gate.ExceptionLimits{MaxDays: 90},
		},
		Rings: []gate.Ring{
			{Name: "canary", Baseline: "2026-12", SoakHours: 24, SuccessThreshold: 1, Approvals: gate.Approvals{Required: 1, Groups: []string{"sre"}}, MinHosts: 1},
			{Name: "pilot", Baseline: "2026-11", SoakHours: 72, SuccessThreshold: 0.95, Approvals: gate.Approvals{Required: 2, Groups: []string{"sre"}}, MinHosts: 1},
			{Name: "prod", Baseline: "2026-10", SoakHours: 168, SuccessThreshold: 0.98, Approvals: gate.Approvals{Required: 2, Groups: []string{"sre", "security"}},
				Freeze: []gate.Freeze{{From: "2026-12-18", To: "2027-01-04", Reason: "year-end change freeze"}}, MinHosts: 1},
		},
		Change: gate.Change{
			RingsMoved: []gate.RingMove{{
				Ring: "pilot", From: "2026-11", To: "2026-12", ToDigest: "sha256:d12",
				Floors: []gate.Floor{{Stream: "debian-12", Kind: "package", Name: "openssl", OldMin: "3.0.15-1~deb12u1", NewMin: "3.0.17-1~deb12u2", Cmp: 1}},
			}},
			Files:   []string{"rings/pilot.cue"},
			Classes: []gate.ChangeClass{{Class: gate.ClassPromotion, Path: "rings/pilot.cue", Subject: "pilot", Field: "baseline", Detail: "baseline 2026-11 → 2026-12"}},
		},
		PR:      gate.PullRequest{Number: 42, Author: "dave", LastPusher: "dave", HeadSHA: head},
		Reviews: []gate.Review{approve("alice"), approve("bob")},
		Evidence: []gate.Evidence{{
			Ring: "canary", Baseline: "2026-12", BaselineDigest: "sha256:d12", Commit: "ca0000000000000000000000000000000000000a",
			SuccessRate: 1, SoakHours: 30, VerifiedAt: now.Add(-48 * time.Hour), HostsTotal: 4, HostsChanged: 3,
			TestedSet: []gate.TestedVersion{{Stream: "debian-12", Package: "openssl", Version: "3.0.17-1~deb12u2", Hosts: 3}},
		}},
	}
}

var (
	builtinOnce   sync.Once
	builtinEngine *gate.Engine
	builtinErr    error
)

// builtin returns an engine of the built-in policies, prepared once per
// test binary (preparing is the expensive part).
func builtin(t testing.TB) *gate.Engine {
	t.Helper()
	builtinOnce.Do(func() {
		b, err := gate.WithBuiltin(nil)
		if err != nil {
			builtinErr = err
			return
		}
		builtinEngine, builtinErr = gate.New(context.Background(), b)
	})
	if builtinErr != nil {
		t.Fatal(builtinErr)
	}
	if err := builtinEngine.Err(); err != nil {
		t.Fatal(err)
	}
	return builtinEngine
}

type msg struct{ ID, Msg string }

func msgs(fs []gate.Finding) []msg {
	out := []msg{}
	for _, f := range fs {
		out = append(out, msg{f.ID, f.Msg})
	}
	return out
}

func ids(fs []gate.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

func TestDecide(t *testing.T) {
	exc := gate.ExceptionChange{
		ID: "billing-openssl", Status: "added", Owner: "billing-team", Reason: "vendor library fails with the newer build",
		CompensatingControl: "payments VLAN only", Granted: "2026-11-20", Expires: "2027-02-15",
	}
	withException := func(in *gate.Input, f func(*gate.ExceptionChange)) {
		e := exc
		f(&e)
		in.Change.RingsMoved = nil
		in.Change.Exceptions = []gate.ExceptionChange{e}
	}
	emergency := func(in *gate.Input, security ...string) {
		in.PR.Labels = []string{"emergency"}
		in.Change.RingsMoved[0].To, in.Change.RingsMoved[0].ToDigest = "2027-01", "sha256:d01"
		in.Evidence = nil
		for _, s := range security {
			in.Reviews = append(in.Reviews, approve(s))
		}
	}
	tests := []struct {
		name        string
		change      func(in *gate.Input)
		want        gate.Result
		wantDeny    []msg
		wantMissing []msg
		wantWarn    []string
	}{
		{name: "valid promotion", change: func(*gate.Input) {}, want: gate.Pass},
		{
			name:   "stale approval on an older commit",
			change: func(in *gate.Input) { in.Reviews[1].CommitID = old },
			want:   gate.Fail,
			wantDeny: []msg{{"promotion.approvals.insufficient",
				"ring pilot: 1 of 2 required approvals from sre on head commit c0ffee00c0ff (counted: alice)"}},
			wantWarn: []string{"approvals.stale"},
		},
		{
			name:   "self-approval by the author",
			change: func(in *gate.Input) { in.PR.Author, in.PR.LastPusher = "bob", "frank" },
			want:   gate.Fail,
			wantDeny: []msg{{"promotion.approvals.insufficient",
				"ring pilot: 1 of 2 required approvals from sre on head commit c0ffee00c0ff (counted: alice)"}},
			wantWarn: []string{"approvals.author"},
		},
		{
			name:   "approval by the last pusher",
			change: func(in *gate.Input) { in.PR.LastPusher = "alice" },
			want:   gate.Fail,
			wantDeny: []msg{{"promotion.approvals.insufficient",
				"ring pilot: 1 of 2 required approvals from sre on head commit c0ffee00c0ff (counted: bob)"}},
			wantWarn: []string{"approvals.pusher"},
		},
		{
			name:   "pull request head is not the judged head",
			change: func(in *gate.Input) { in.Head.Commit = old },
			want:   gate.Fail,
			wantDeny: []msg{{"approvals.head_mismatch",
				"the pull request's head c0ffee00c0ff is not the judged head commit 0ld000000000; approvals cannot bind this change"}},
		},
		{
			name: "later changes requested blocks",
			change: func(in *gate.Input) {
				r := approve("carol")
				r.State, r.SubmittedAt = "CHANGES_REQUESTED", now.Add(-10*time.Minute)
				in.Reviews = append(in.Reviews, approve("carol"), r)
			},
			want:     gate.Fail,
			wantDeny: []msg{{"approvals.changes_requested", "carol requested changes (latest review)"}},
		},
		{
			name:        "missing evidence is inconclusive",
			change:      func(in *gate.Input) { in.Evidence = nil },
			want:        gate.Inconclusive,
			wantMissing: []msg{{"promotion.evidence.missing", "ring pilot: no verification record of baseline 2026-12 in ring canary"}},
		},
		{
			name:   "success rate below the previous ring's threshold",
			change: func(in *gate.Input) { in.Evidence[0].SuccessRate = 0.97 },
			want:   gate.Fail,
			wantDeny: []msg{{"promotion.evidence.success_rate",
				"ring pilot: baseline 2026-12 succeeded in ring canary at rate 0.97, below that ring's threshold 1"}},
		},
		{
			name:   "evidence for another digest",
			change: func(in *gate.Input) { in.Evidence[0].BaselineDigest = "sha256:other" },
			want:   gate.Fail,
			wantDeny: []msg{{"promotion.evidence.digest",
				"ring pilot: the verification records of baseline 2026-12 in ring canary are for another digest than sha256:d12"}},
		},
		{
			name:     "unknown ring",
			change:   func(in *gate.Input) { in.Change.RingsMoved[0].Ring = "staging" },
			want:     gate.Fail,
			wantDeny: []msg{{"promotion.ring.unknown", "ring staging is not a ring of the base commit"}},
		},
		{
			name: "soak not reached",
			change: func(in *gate.Input) {
				in.Evidence[0].SoakHours, in.Evidence[0].VerifiedAt = 2, now.Add(-22*time.Hour)
			},
			want:     gate.Fail,
			wantDeny: []msg{{"promotion.evidence.soak", "ring pilot: baseline 2026-12 soaked 24h in ring canary, needs 72h"}},
		},
		{
			name: "not pinned by the previous ring",
			change: func(in *gate.Input) {
				in.Change.RingsMoved[0].To = "2027-01"
			},
			want: gate.Fail,
			wantDeny: []msg{{"promotion.evidence.not_pinned",
				"ring pilot: baseline 2027-01 is not pinned by the previous ring canary (it pins 2026-12)"}},
		},
		{
			name: "frozen",
			change: func(in *gate.Input) {
				in.Now = time.Date(2026, 12, 20, 9, 0, 0, 0, time.UTC)
				in.Rings[1].Freeze = []gate.Freeze{{From: "2026-12-20", To: "2026-12-20", Reason: "pilot hardware move"}}
			},
			want:     gate.Fail,
			wantDeny: []msg{{"promotion.freeze", "ring pilot is frozen from 2026-12-20 to 2026-12-20: pilot hardware move"}},
		},
		{
			name: "immutable baseline edited",
			change: func(in *gate.Input) {
				in.Change.Baselines = []gate.BaselineChange{{ID: "2026-10", Status: "changed", BaseDigest: "sha256:a", HeadDigest: "sha256:b"}}
			},
			want: gate.Fail,
			wantDeny: []msg{{"baseline.immutable",
				"baseline 2026-10 is pinned by prod at the base commit and must not change (digest sha256:a at base, sha256:b at head)"}},
		},
		{
			name: "pinned baseline removed",
			change: func(in *gate.Input) {
				in.Change.Baselines = []gate.BaselineChange{{ID: "2026-10", Status: "removed", BaseDigest: "sha256:a"}}
			},
			want:     gate.Fail,
			wantDeny: []msg{{"baseline.immutable", "baseline 2026-10 is pinned by prod at the base commit and must not be removed"}},
		},
		{
			name: "hold without reason and pinned version blocked",
			change: func(in *gate.Input) {
				in.Change.Baselines = []gate.BaselineChange{{ID: "2027-01", Status: "added", HeadDigest: "sha256:b", Rules: []gate.RuleSummary{
					{Stream: "debian-12", Kind: "package", Name: "openssl", Hold: true},
					{Stream: "debian-12", Kind: "source", Name: "curl", Pin: "7.88.1-10", Block: []string{"7.88.1-10"}},
				}}}
			},
			want: gate.Fail,
			wantDeny: []msg{
				{"baseline.hold.reason", "baseline 2027-01: debian-12 package openssl is held without a reason"},
				{"baseline.pin.blocked", "baseline 2027-01: debian-12 source curl pins 7.88.1-10, which it also blocks"},
			},
		},
		{
			name: "floor removed without allowDowngrade",
			change: func(in *gate.Input) {
				f := &in.Change.RingsMoved[0].Floors[0]
				f.NewMin, f.Cmp = "", -1
			},
			want: gate.Fail,
			wantDeny: []msg{{"baseline.floor.lowered",
				"ring pilot: baseline 2026-12 removes the floor 3.0.15-1~deb12u1 of debian-12 package openssl without allowDowngrade"}},
		},
		{
			name: "floor lowered without allowDowngrade",
			change: func(in *gate.Input) {
				f := &in.Change.RingsMoved[0].Floors[0]
				f.NewMin, f.Cmp = "3.0.9-1", -1
			},
			want: gate.Fail,
			wantDeny: []msg{{"baseline.floor.lowered",
				"ring pilot: baseline 2026-12 lowers the floor of debian-12 package openssl from 3.0.15-1~deb12u1 to 3.0.9-1 without allowDowngrade"}},
		},
		{
			name: "floor lowered with allowDowngrade",
			change: func(in *gate.Input) {
				f := &in.Change.RingsMoved[0].Floors[0]
				f.NewMin, f.Cmp, f.AllowDowngradeReason = "3.0.9-1", -1, "regression in 3.0.15"
			},
			want: gate.Pass,
		},
		{
			name: "policy change without a policy owner",
			change: func(in *gate.Input) {
				in.Change.Files = append(in.Change.Files, "policy/ticket.rego")
				in.Change.Classes = append(in.Change.Classes, gate.ChangeClass{Class: gate.ClassRepoPolicy, Path: "policy/ticket.rego", Detail: "file changed"})
			},
			want: gate.Fail,
			wantDeny: []msg{{"governance.policy_owner",
				"repo_policy policy/ticket.rego (file changed): needs an approval from a member of policy-owners on head commit c0ffee00c0ff (counted: none)"}},
		},
		{
			name: "workflow change without a policy owner",
			change: func(in *gate.Input) {
				in.Change.Files = append(in.Change.Files, ".github/workflows/patchbay.yml")
				in.Change.Classes = append(in.Change.Classes, gate.ChangeClass{Class: gate.ClassWorkflow, Path: ".github/workflows/patchbay.yml", Detail: "file changed"})
			},
			want: gate.Fail,
			wantDeny: []msg{{"governance.policy_owner",
				"workflow .github/workflows/patchbay.yml (file changed): needs an approval from a member of policy-owners on head commit c0ffee00c0ff (counted: none)"}},
		},
		{
			name:   "unclassified file without a policy owner",
			change: func(in *gate.Input) { in.Change.Files = append(in.Change.Files, "patchbay.cue") },
			want:   gate.Fail,
			wantDeny: []msg{{"governance.policy_owner",
				"unclassified patchbay.cue: needs an approval from a member of policy-owners on head commit c0ffee00c0ff (counted: none)"}},
		},
		{
			name: "config change without a policy owner",
			change: func(in *gate.Input) {
				in.Change.Files = append(in.Change.Files, "patchbay.cue")
				in.Change.Classes = append(in.Change.Classes, gate.ChangeClass{Class: gate.ClassConfig, Path: "patchbay.cue", Subject: "config", Field: "trusted_keys", Detail: "config trusted_keys changed"})
			},
			want: gate.Fail,
			wantDeny: []msg{{"governance.policy_owner",
				"config patchbay.cue (config trusted_keys changed): needs an approval from a member of policy-owners on head commit c0ffee00c0ff (counted: none)"}},
		},
		{
			name: "config change with a policy owner",
			change: func(in *gate.Input) {
				in.Change.Files = append(in.Change.Files, "patchbay.cue")
				in.Change.Classes = append(in.Change.Classes, gate.ChangeClass{Class: gate.ClassConfig, Path: "patchbay.cue", Subject: "config", Field: "approvers"})
				in.Reviews = append(in.Reviews, approve("owner"))
			},
			want: gate.Pass,
		},
		{
			name: "ring loosened without approvals",
			change: func(in *gate.Input) {
				in.Change.RingsMoved = nil
				in.Change.Files = []string{"rings/prod.cue"}
				in.Change.Classes = []gate.ChangeClass{{Class: gate.ClassRingPolicy, Path: "rings/prod.cue", Subject: "prod", Field: "approvals", Direction: "loosening", Detail: "approvals.required 2 → 0"}}
				in.Reviews = nil
			},
			want: gate.Fail,
			wantDeny: []msg{
				{"governance.ring_policy.approvals", "ring prod: its rollout rules change (approvals.required 2 → 0 in rings/prod.cue) and need 2 approvals from sre, security on head commit c0ffee00c0ff (counted: none)"},
				{"governance.ring_policy.policy_owner", "ring prod: its rollout rules loosen (approvals.required 2 → 0) and need an approval from a member of policy-owners on head commit c0ffee00c0ff (counted: none)"},
			},
		},
		{
			name: "ring loosened with the ring's approvals and a policy owner",
			change: func(in *gate.Input) {
				in.Change.RingsMoved = nil
				in.Change.Files = []string{"rings/prod.cue"}
				in.Change.Classes = []gate.ChangeClass{{Class: gate.ClassRingPolicy, Path: "rings/prod.cue", Subject: "prod", Field: "soak", Direction: "loosening", Detail: "soak 7d → 0h"}}
				in.Reviews = append(in.Reviews, approve("owner"))
			},
			want: gate.Pass,
		},
		{
			name: "ring tightened needs the ring's approvals",
			change: func(in *gate.Input) {
				in.Change.RingsMoved = nil
				in.Change.Files = []string{"rings/prod.cue"}
				in.Change.Classes = []gate.ChangeClass{{Class: gate.ClassRingPolicy, Path: "rings/prod.cue", Subject: "prod", Field: "soak", Direction: "tightening", Detail: "soak 7d → 14d"}}
				in.Reviews = in.Reviews[:1]
			},
			want: gate.Fail,
			wantDeny: []msg{{"governance.ring_policy.approvals",
				"ring prod: its rollout rules change (soak 7d → 14d in rings/prod.cue) and need 2 approvals from sre, security on head commit c0ffee00c0ff (counted: alice)"}},
		},
		{
			name: "new exception approved only by its owner",
			change: func(in *gate.Input) {
				withException(in, func(*gate.ExceptionChange) {})
				in.Change.Files = []string{"exceptions/billing-openssl.cue"}
				in.Change.Classes = []gate.ChangeClass{{Class: gate.ClassException, Path: "exceptions/billing-openssl.cue", Subject: "billing-openssl", Direction: "added", Owner: "sec1", Detail: "added"}}
				in.Reviews = []gate.Review{approve("sec1")}
			},
			want: gate.Fail,
			wantDeny: []msg{{"governance.exception.security",
				"exception billing-openssl is added (added) and needs an approval from a member of security who is neither its owner sec1 nor the author dave, on head commit c0ffee00c0ff (counted: none)"}},
		},
		{
			name: "extended exception with an independent security approval",
			change: func(in *gate.Input) {
				withException(in, func(e *gate.ExceptionChange) { e.Status = "changed" })
				in.Change.Files = []string{"exceptions/billing-openssl.cue"}
				in.Change.Classes = []gate.ChangeClass{{Class: gate.ClassException, Path: "exceptions/billing-openssl.cue", Subject: "billing-openssl", Direction: "extended", Owner: "sec1", Detail: "extended"}}
				in.Reviews = []gate.Review{approve("sec1"), approve("sec2")}
			},
			want: gate.Pass,
		},
		{
			name: "extended exception without security",
			change: func(in *gate.Input) {
				withException(in, func(e *gate.ExceptionChange) { e.Status = "changed" })
				in.Change.Files = []string{"exceptions/billing-openssl.cue"}
				in.Change.Classes = []gate.ChangeClass{{Class: gate.ClassException, Path: "exceptions/billing-openssl.cue", Subject: "billing-openssl", Direction: "extended", Owner: "billing-team", Detail: "2027-01-15 → 2027-02-15"}}
			},
			want: gate.Fail,
			wantDeny: []msg{{"governance.exception.security",
				"exception billing-openssl is extended (2027-01-15 → 2027-02-15) and needs an approval from a member of security who is neither its owner billing-team nor the author dave, on head commit c0ffee00c0ff (counted: none)"}},
		},
		{
			name: "exception owned by the security group itself",
			change: func(in *gate.Input) {
				withException(in, func(*gate.ExceptionChange) {})
				in.Change.Files = []string{"exceptions/billing-openssl.cue"}
				in.Change.Classes = []gate.ChangeClass{{Class: gate.ClassException, Path: "exceptions/billing-openssl.cue", Subject: "billing-openssl", Direction: "added", Owner: "security", Detail: "added"}}
				in.Reviews = []gate.Review{approve("sec1"), approve("sec2")}
			},
			want: gate.Fail,
			wantDeny: []msg{{"governance.exception.security",
				"exception billing-openssl is added (added) and needs an approval from a member of security who is neither its owner security nor the author dave, on head commit c0ffee00c0ff (counted: none)"}},
		},
		{
			name:   "evidence claiming changed hosts in a ring of none",
			change: func(in *gate.Input) { in.Evidence[0].HostsTotal, in.Evidence[0].HostsChanged = 0, 2 },
			want:   gate.Fail,
			wantDeny: []msg{{"promotion.evidence.hosts",
				"ring pilot: the verification record of baseline 2026-12 in ring canary covers 0 hosts and changed 2; ring canary needs at least 1 changed host (a rollout that changed nothing proves nothing)"}},
		},
		{
			name:   "evidence from a rollout over no host",
			change: func(in *gate.Input) { in.Evidence[0].HostsTotal, in.Evidence[0].HostsChanged = 0, 0 },
			want:   gate.Fail,
			wantDeny: []msg{{"promotion.evidence.hosts",
				"ring pilot: the verification record of baseline 2026-12 in ring canary covers 0 hosts and changed 0; ring canary needs at least 1 changed host (a rollout that changed nothing proves nothing)"}},
		},
		{
			name:   "evidence that changed fewer than minHosts",
			change: func(in *gate.Input) { in.Rings[0].MinHosts = 5 },
			want:   gate.Fail,
			wantDeny: []msg{{"promotion.evidence.hosts",
				"ring pilot: the verification record of baseline 2026-12 in ring canary covers 4 hosts and changed 3; ring canary needs at least 5 changed hosts (a rollout that changed nothing proves nothing)"}},
		},
		{
			name: "exception granted in the future",
			change: func(in *gate.Input) {
				withException(in, func(e *gate.ExceptionChange) { e.Granted, e.Expires = "2027-02-01", "2027-05-01" })
			},
			want: gate.Fail,
			wantDeny: []msg{{"exception.granted.future",
				"exception billing-openssl is granted on 2027-02-01, after today 2026-11-26; grant it when it starts (it does not count before)"}},
		},
		{
			name:   "emergency lane without two security approvers",
			change: func(in *gate.Input) { emergency(in, "sec1") },
			want:   gate.Fail,
			wantDeny: []msg{
				{"promotion.emergency.approvals", "the emergency lane needs approvals from 2 members of security on head commit c0ffee00c0ff (counted: sec1)"},
				{"promotion.evidence.not_pinned", "ring pilot: baseline 2027-01 is not pinned by the previous ring canary (it pins 2026-12)"},
			},
			wantWarn: []string{"promotion.emergency"},
		},
		{
			name:     "emergency lane with two security approvers",
			change:   func(in *gate.Input) { emergency(in, "sec1", "sec3") },
			want:     gate.Pass,
			wantWarn: []string{"promotion.emergency"},
		},
		{
			name:     "exception without compensating control",
			change:   func(in *gate.Input) { withException(in, func(e *gate.ExceptionChange) { e.CompensatingControl = " " }) },
			want:     gate.Fail,
			wantDeny: []msg{{"exception.compensating_control", "exception billing-openssl has no compensating control"}},
		},
		{
			name: "exception expired",
			change: func(in *gate.Input) {
				withException(in, func(e *gate.ExceptionChange) { e.Granted, e.Expires = "2026-11-01", "2026-11-25" })
			},
			want:     gate.Fail,
			wantDeny: []msg{{"exception.expired", "exception billing-openssl expired on 2026-11-25"}},
		},
		{
			name:   "exception too long",
			change: func(in *gate.Input) { withException(in, func(e *gate.ExceptionChange) { e.Expires = "2027-02-19" }) },
			want:   gate.Fail,
			wantDeny: []msg{{"exception.too_long",
				"exception billing-openssl lasts 91 days (from 2026-11-20 to 2027-02-19); the maximum is 90"}},
		},
		{
			name: "exception without owner and reason, with invalid expiry",
			change: func(in *gate.Input) {
				withException(in, func(e *gate.ExceptionChange) { e.Owner, e.Reason, e.Expires = "", "", "2027-02-30" })
			},
			want: gate.Fail,
			wantDeny: []msg{
				{"exception.expires.invalid", `exception billing-openssl has no valid expiry date (got "2027-02-30")`},
				{"exception.owner", "exception billing-openssl has no owner"},
				{"exception.reason", "exception billing-openssl has no reason"},
			},
		},
		{
			name:   "KEV exception without security approval",
			change: func(in *gate.Input) { withException(in, func(e *gate.ExceptionChange) { e.KEV = true }) },
			want:   gate.Fail,
			wantDeny: []msg{{"exception.kev.security_approval",
				"exception billing-openssl waives a KEV finding and needs an approval from a member of security on head commit c0ffee00c0ff"}},
		},
		{
			name: "KEV exception with security approval",
			change: func(in *gate.Input) {
				withException(in, func(e *gate.ExceptionChange) { e.KEV = true })
				in.Reviews = append(in.Reviews, approve("sec2"))
			},
			want: gate.Pass,
		},
	}
	eng := builtin(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := promotion()
			tt.change(&in)
			d, err := eng.Decide(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Errors) > 0 {
				t.Fatalf("errors: %v", d.Errors)
			}
			if d.Result != tt.want {
				t.Errorf("result %s, want %s (deny %v, missing %v)", d.Result, tt.want, d.Deny, d.Missing)
			}
			want := func(m []msg) []msg {
				if m == nil {
					return []msg{}
				}
				return m
			}
			if diff := cmp.Diff(want(tt.wantDeny), msgs(d.Deny)); diff != "" {
				t.Errorf("deny (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want(tt.wantMissing), msgs(d.Missing)); diff != "" {
				t.Errorf("missing (-want +got):\n%s", diff)
			}
			wantWarn := tt.wantWarn
			if wantWarn == nil {
				wantWarn = []string{}
			}
			if diff := cmp.Diff(wantWarn, ids(d.Warn)); diff != "" {
				t.Errorf("warn ids (-want +got):\n%s", diff)
			}
			if d.Manifest.RulesEvaluated != eng.Rules() || eng.Rules() != builtinRules {
				t.Errorf("rules evaluated %d of %d", d.Manifest.RulesEvaluated, eng.Rules())
			}
		})
	}
}

func TestDecideBrokenBundles(t *testing.T) {
	tests := []struct {
		name      string
		files     []gate.File
		builtin   bool
		wantError string
	}{
		{name: "empty bundle", wantError: "no policy rules to evaluate"},
		{
			name:      "bundle without deny rules",
			files:     []gate.File{{Path: "policy/w.rego", Content: []byte("package patchbay.w\n\nwarn contains \"hello\" if true\n")}},
			wantError: "no policy rules to evaluate",
		},
		{
			name:      "only tests",
			files:     []gate.File{{Path: "policy/x_test.rego", Content: []byte("package patchbay.x_test\n\ntest_x if true\n")}},
			wantError: "no policy rules to evaluate",
		},
		{
			name:      "repository policies without the built-in ones",
			files:     []gate.File{{Path: "policy/x.rego", Content: []byte("package patchbay.x\n\ndeny contains \"x\" if false\n")}},
			wantError: "policy error: the bundle lacks the built-in policies (patchbay.approvals.deny, patchbay.approvals.warn, patchbay.baseline.deny, patchbay.exception.deny, patchbay.governance.deny, patchbay.promotion.deny, patchbay.promotion.missing, patchbay.promotion.warn); build it with WithBuiltin",
		},
		{
			name:      "repository policy does not parse",
			builtin:   true,
			files:     []gate.File{{Path: "policy/bad.rego", Content: []byte("package patchbay.bad\n\ndeny contains msg if {\n")}},
			wantError: "policy/bad.rego:4: rego_parse_error: unexpected eof token",
		},
		{
			name:      "repository policy does not compile",
			builtin:   true,
			files:     []gate.File{{Path: "policy/bad.rego", Content: []byte("package patchbay.bad\n\ndeny contains msg if {\n\tmsg := undefined_function(input)\n}\n")}},
			wantError: "policy/bad.rego:4: rego_type_error: undefined function undefined_function",
		},
		{
			name:      "repository policy reads the clock",
			builtin:   true,
			files:     []gate.File{{Path: "policy/clock.rego", Content: []byte("package patchbay.clock\n\ndeny contains \"late\" if time.now_ns() > 0\n")}},
			wantError: "policy/clock.rego:3: rego_type_error: undefined function time.now_ns",
		},
		{
			name:      "repository policy calls the network",
			builtin:   true,
			files:     []gate.File{{Path: "policy/net.rego", Content: []byte("package patchbay.net\n\ndeny contains \"x\" if http.send({\"method\": \"get\", \"url\": \"http://example.com\"}).status_code == 200\n")}},
			wantError: "policy/net.rego:3: rego_type_error: undefined function http.send",
		},
		{
			name:      "repository policy outside patchbay",
			builtin:   true,
			files:     []gate.File{{Path: "policy/x.rego", Content: []byte("package other\n\ndeny contains \"x\" if true\n")}},
			wantError: "policies must be in a package under patchbay",
		},
		{
			name:      "repository policy in a built-in package",
			builtin:   true,
			files:     []gate.File{{Path: "policy/x.rego", Content: []byte("package patchbay.lib\n\nvalid_approvers contains \"mallory\"\n")}},
			wantError: "policy/x.rego: package patchbay.lib is a built-in package",
		},
		{
			name:      "malformed finding",
			builtin:   true,
			files:     []gate.File{{Path: "policy/x.rego", Content: []byte("package patchbay.x\n\ndeny contains 42 if true\n")}},
			wantError: "a finding must be an object {id, msg} or a string",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := gate.Bundle{Files: tt.files}
			if tt.builtin {
				var err error
				if b, err = gate.WithBuiltin(tt.files); err != nil {
					t.Fatal(err)
				}
			}
			eng, err := gate.New(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			d, err := eng.Decide(context.Background(), promotion())
			if err != nil {
				t.Fatal(err)
			}
			if d.Result != gate.Fail {
				t.Errorf("result %s, want fail", d.Result)
			}
			if !strings.Contains(strings.Join(d.Errors, "\n"), tt.wantError) {
				t.Errorf("errors %q, want one containing %q", d.Errors, tt.wantError)
			}
			if d.Manifest.InputDigest == "" {
				t.Error("a failed decision still carries the input digest")
			}
		})
	}
}

func TestRepositoryPolicy(t *testing.T) {
	policy := `package patchbay.repo.ticket

warn contains {"id": "repo.ticket", "msg": "prod promotions need a change ticket label"} if {
	some m in input.change.rings_moved
	m.ring == "prod"
	not "change-ticket" in input.pr.labels
}

deny contains "a bare string deny" if "deny-me" in input.pr.labels
`
	b, err := gate.WithBuiltin([]gate.File{{Path: "policy/ticket.rego", Content: []byte(policy)}})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := gate.New(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	in := promotion()
	in.PR.Labels = []string{"deny-me"}
	d, err := eng.Decide(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []gate.Finding{{ID: "repo.ticket.deny", Msg: "a bare string deny", Package: "patchbay.repo.ticket"}}
	if diff := cmp.Diff(want, d.Deny); diff != "" || d.Result != gate.Fail {
		t.Errorf("result %s, deny (-want +got):\n%s", d.Result, diff)
	}
	if d.Manifest.RulesEvaluated != builtin(t).Rules()+2 {
		t.Errorf("rules evaluated %d, want the built-in %d + 2", d.Manifest.RulesEvaluated, builtin(t).Rules())
	}
	if len(d.Manifest.Files) != len(builtin(t).Files())+1 {
		t.Errorf("manifest files %v", d.Manifest.Files)
	}
}

// TestDecideDeterministic decides the same input many times, concurrently,
// and wants byte-identical decisions.
func TestDecideDeterministic(t *testing.T) {
	eng := builtin(t)
	in := promotion()
	// Many findings, in several packages, so that their order matters.
	in.Reviews = []gate.Review{approve("carol"), approve("dave")}
	in.Reviews[0].CommitID = old
	in.Evidence[0].SuccessRate = 0.5
	in.Change.Files = []string{"policy/x.rego", "patchbay.cue"}
	in.Change.Exceptions = []gate.ExceptionChange{{ID: "b", Status: "added"}, {ID: "a", Status: "added", KEV: true}}
	first, err := eng.Decide(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(first)
	if len(first.Deny) < 5 {
		t.Fatalf("want many denials, got %v", first.Deny)
	}
	var wg sync.WaitGroup
	got := make([][]byte, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := eng.Decide(context.Background(), in)
			if err != nil {
				t.Error(err)
				return
			}
			got[i], _ = json.Marshal(d)
		}()
	}
	wg.Wait()
	for i, g := range got {
		if string(g) != string(want) {
			t.Errorf("decision %d differs:\n%s", i, cmp.Diff(string(want), string(g)))
		}
	}
	// A different input has a different digest.
	in.PR.Number++
	other, err := eng.Decide(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if other.Manifest.InputDigest == first.Manifest.InputDigest {
		t.Error("input digest did not change with the input")
	}
}

func TestDecideCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := builtin(t).Decide(ctx, promotion()); !errors.Is(err, context.Canceled) {
		t.Errorf("Decide on a cancelled context: %v, want context.Canceled", err)
	}
}
