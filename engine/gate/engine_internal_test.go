package gate

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestValueMatchesJSON wants the directly built input value to equal the
// value of the canonical JSON (the document the input digest is of).
func TestValueMatchesJSON(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 30, 15, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		in   Input
	}{
		{name: "zero", in: Input{}},
		{name: "nil group members", in: Input{Config: Config{Approvers: map[string][]string{"sre": nil}}}},
		{name: "full", in: Input{
			Base: Commit{"b"}, Head: Commit{"h"}, Now: at,
			Config: Config{Approvers: map[string][]string{"sre": {"a", "b"}, "security": {"s"}}, PolicyOwners: "po", Security: "sec", Exceptions: ExceptionLimits{MaxDays: 90}},
			Rings: []Ring{{Name: "canary", Baseline: "x", SoakHours: 1.5, SuccessThreshold: 0.95, Approvals: Approvals{Required: 2, Groups: []string{"sre"}},
				Freeze: []Freeze{{From: "2026-12-01", To: "2026-12-02", Reason: "r"}}}},
			Change: Change{
				RingsMoved: []RingMove{{Ring: "pilot", From: "a", To: "b", ToDigest: "sha256:1", Floors: []Floor{{Stream: "s", Kind: "package", Name: "n", OldMin: "1", NewMin: "2", Cmp: 1, AllowDowngradeReason: "why"}}}},
				Baselines:  []BaselineChange{{ID: "b", Status: "added", BaseDigest: "", HeadDigest: "sha256:2", Rules: []RuleSummary{{Stream: "s", Kind: "source", Name: "n", Min: "1", Pin: "2", Hold: true, HoldReason: "r", Block: []string{"3"}}, {Name: "no block"}}}},
				Exceptions: []ExceptionChange{{ID: "e", Status: "changed", Owner: "o", Reason: "r", CompensatingControl: "c", Granted: "2026-01-01", Expires: "2026-02-01", KEV: true}},
				Files:      []string{"policy/x.rego"},
			},
			PR:      PullRequest{Number: 7, Author: "a", LastPusher: "p", Labels: []string{"emergency"}, HeadSHA: "h"},
			Reviews: []Review{{User: User{"u"}, State: "APPROVED", CommitID: "h", SubmittedAt: at}},
			Evidence: []Evidence{{Ring: "canary", Baseline: "b", BaselineDigest: "sha256:2", Commit: "c", SuccessRate: 1, SoakHours: 1e21, VerifiedAt: at,
				TestedSet: []TestedVersion{{Stream: "debian-12", Package: "openssl", Version: "3.0.17-1~deb12u2", Hosts: 1}}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			norm := tt.in.normalized()
			b, err := json.Marshal(norm)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ast.ValueFromReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if got := norm.value(); got.Compare(want) != 0 {
				t.Errorf("value differs from the JSON's:\n got %v\nwant %v", got, want)
			}
		})
	}
}
