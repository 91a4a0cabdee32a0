package render

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/plan"
)

func encodingJSON(t *testing.T, p *plan.Plan) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// fullPlan sets every field PlanJSON writes by hand, and leaves every
// optional one unset somewhere: nil and empty slices, zero and non-UTC
// times, strings encoding/json escapes.
func fullPlan() *plan.Plan {
	at := time.Date(2026, 11, 26, 9, 30, 0, 123000000, time.FixedZone("", -5*3600))
	p := bigPlan(3, 3)
	hs := p.Hosts.Slice()
	hs[0] = plan.Host{ID: "a<b>&c", Hostname: "h\u2028\"x\"\\", Stream: "debian-12", Ring: "canary", Candidates: []string{"r1", "r<2>"},
		Status: plan.Ambiguous, Stale: true, ReportedAt: at, Baseline: "b1", BaselineDigest: "sha256:ab", PackageSet: "sha256:cd",
		RebootRequired: true, Risk: 97, NextDeadline: at.Add(time.Hour),
		Results: []plan.Result{
			{Rule: plan.Rule{Kind: "source", Name: "openssl", Min: "3.0.19", Pin: "3.0.19-1", Hold: "x", Block: []string{"3.0.18"}, Required: true,
				Severity: "critical", KEV: true, Advisories: []string{"CVE-1", "DSA-\x01"}, Published: "2026-11-01", Reboot: true, Refreshed: "kev"},
				State: plan.Missing, Installed: []plan.Observed{{Package: "libssl3", Arch: "amd64", Version: "3.0.17", Compared: "3.0.17", Comparison: "3.0.17 < 3.0.19", State: plan.Missing}, {}},
				Evidence: "é\ttab", Deadline: at, DeadlineBy: "sla", Overdue: true, Risk: 10, Exception: "EX-1"},
			{Rule: plan.Rule{Kind: "package", Name: "zlib", Block: []string{}}, Installed: []plan.Observed{}},
		},
		Actions: []plan.Action{{Kind: plan.Upgrade, Package: "p", Version: "1", Min: "2", MinSource: "3", Avoid: []string{"4"}, Rules: []string{"source/openssl"}, Reason: "r"},
			{Kind: plan.Reboot, Rules: []string{}}, {Kind: plan.Install, Avoid: []string{}}},
	}
	hs[1].Results, hs[1].Actions = []plan.Result{}, []plan.Action{}
	hs[2].Results, hs[2].Actions = nil, nil
	p.Hosts = plan.HostsOf(hs)
	p.Fleet.CompliancePercent = 33.333333333333336
	return p
}

// TestPlanJSONSameAsEncodingJSON compares PlanJSON with encoding/json byte
// for byte on plans that use every field, and checks that the hand-written
// path ran (a plan type whose fields changed makes it fall back; update
// plan_json.go then).
func TestPlanJSONSameAsEncodingJSON(t *testing.T) {
	if !planJSONKnown {
		t.Fatal("the plan types' fields differ from what PlanJSON writes by hand: update planJSONFields and the encoder")
	}
	for name, p := range map[string]*plan.Plan{
		"full": fullPlan(), "big": bigPlan(50, 2000), "empty": {}, "no hosts": {Hosts: plan.HostsOf([]plan.Host{})},
	} {
		var got bytes.Buffer
		if err := PlanJSON(&got, p); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(encodingJSON(t, p), got.String()); d != "" {
			t.Errorf("%s (-encoding/json +PlanJSON):\n%s", name, d)
		}
	}
	bad := fullPlan()
	hs := bad.Hosts.Slice()
	hs[1].ReportedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	bad.Hosts = plan.HostsOf(hs)
	if err := PlanJSON(&bytes.Buffer{}, bad); err == nil {
		t.Error("a year encoding/json refuses was written")
	}
}

// BenchmarkPlanJSON renders a plan of 2,000 hosts.
func BenchmarkPlanJSON(b *testing.B) {
	p := bigPlan(50, 2000)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := PlanJSON(&buf, p); err != nil {
			b.Fatal(err)
		}
	}
}
