package render

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/plan"
)

// bigPlan has far more findings and hosts than a comment can hold.
func bigPlan(findings, hosts int) *plan.Plan {
	p := &plan.Plan{Now: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}
	p.Fleet = plan.RollUp{Name: "fleet", Hosts: hosts, ByStatus: map[plan.HostStatus]int{plan.NonCompliant: hosts}}
	p.Rings = []plan.RollUp{{Name: "canary", Hosts: hosts, ByStatus: map[plan.HostStatus]int{plan.NonCompliant: hosts}}}
	p.Baselines = []plan.BaselineInfo{{Ring: "canary", ID: "b1"}}
	for i := range findings {
		p.Findings = append(p.Findings, plan.Finding{Stream: "debian-12", Rule: plan.Rule{Kind: "package", Name: fmt.Sprintf("lib%05d", i), Severity: "high", Advisories: []string{"CVE-2026-0001|x"}},
			State: plan.Missing, Hosts: 3, Deadline: p.Now})
	}
	var list []plan.Host
	for i := range hosts {
		list = append(list, plan.Host{ID: fmt.Sprintf("host-%06d", i), Ring: "canary", Stream: "debian-12", Status: plan.NonCompliant,
			Actions: []plan.Action{{Kind: plan.Upgrade, Package: "libssl3"}},
			Results: []plan.Result{{Rule: plan.Rule{Kind: "source", Name: "openssl"}, State: plan.Missing, Evidence: "libssl3 3.0.17 < min 3.0.19"}}})
	}
	p.Hosts = plan.HostsOf(list)
	return p
}

func TestPlanMarkdownStaysUnderLimit(t *testing.T) {
	for _, tt := range []struct {
		findings, hosts int
		cut             bool
	}{
		{5, 5, false},
		{3000, 10, true},
		{10, 5000, true},
	} {
		t.Run(fmt.Sprintf("%d findings %d hosts", tt.findings, tt.hosts), func(t *testing.T) {
			var b bytes.Buffer
			if err := PlanMarkdown(&b, bigPlan(tt.findings, tt.hosts), CommentLimit); err != nil {
				t.Fatal(err)
			}
			if b.Len() >= CommentLimit {
				t.Errorf("comment is %d bytes, GitHub allows %d", b.Len(), CommentLimit)
			}
			cut := strings.Contains(b.String(), "left out")
			if cut != tt.cut {
				t.Errorf("left-out note present = %v, want %v", cut, tt.cut)
			}
			if !strings.Contains(b.String(), `CVE-2026-0001\|x`) {
				t.Errorf("a pipe inside a cell must be escaped")
			}
			if strings.Count(b.String(), "<details>") != strings.Count(b.String(), "</details>") {
				t.Errorf("unbalanced <details>")
			}
		})
	}
}

func TestPlanMarkdownCountsWhatWasLeftOut(t *testing.T) {
	var b bytes.Buffer
	p := bigPlan(3000, 1)
	if err := PlanMarkdown(&b, p, CommentLimit); err != nil {
		t.Fatal(err)
	}
	shown := strings.Count(b.String(), "| `package/lib")
	want := fmt.Sprintf("_%d more findings left out", 3000-shown)
	if !strings.Contains(b.String(), want) {
		t.Errorf("want %q in the comment (shown %d)", want, shown)
	}
}

// TestPlanMarkdownEscapesHTML (issue 12, item 10): advisory text and host
// evidence were printed as raw HTML in `plan --format markdown` (and PR
// comments). They are text now; patchbay's own <br> and <details> stay.
func TestPlanMarkdownEscapesHTML(t *testing.T) {
	p := bigPlan(1, 1)
	p.Findings[0].Rule.Advisories = []string{`<img src=x onerror=alert(1)>`, `<a href="https://evil.example">CVE</a>`}
	hs := p.Hosts.Slice()
	hs[0].Results = append(hs[0].Results, plan.Result{Rule: plan.Rule{Kind: "package", Name: "x"}, State: plan.Missing, Evidence: "<script>steal()</script> & more"})
	p.Hosts = plan.HostsOf(hs)
	var b bytes.Buffer
	if err := PlanMarkdown(&b, p, CommentLimit); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, raw := range []string{"<img", "<a href", "<script>"} {
		if strings.Contains(out, raw) {
			t.Errorf("raw HTML %q in the markdown:\n%s", raw, out)
		}
	}
	for _, esc := range []string{"&lt;img src=x onerror=alert(1)&gt;", "&lt;script&gt;steal()&lt;/script&gt; &amp; more", "<br>"} {
		if !strings.Contains(out, esc) {
			t.Errorf("want %q in the markdown:\n%s", esc, out)
		}
	}
}
