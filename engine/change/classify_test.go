package change

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/inventory"
)

// classes renders classes as "class path subject field direction".
func classes(cs []gate.ChangeClass) []string {
	var out []string
	for _, c := range cs {
		out = append(out, strings.Join(strings.Fields(fmt.Sprintf("%s %s %s %s %s", c.Class, c.Path, c.Subject, c.Field, c.Direction)), " "))
	}
	return out
}

func denyIDs(d gate.Decision) []string {
	var out []string
	for _, f := range d.Deny {
		out = append(out, f.ID)
	}
	return out
}

const looseProd = `package patchbay

rings: prod: {
	selector: labels: env: "nowhere"
	baseline: "2026-10"
	strategy: {maxConcurrency: "10%", maxErrors: "100%"}
	windows: []
	freeze: []
	soak:             "0h"
	successThreshold: 0
	reboot:           "never"
	approvals: {required: 0, groups: ["sre", "security"]}
}
`

// TestRingLooseningNeedsApproval (issue 12, item 1): a pull request that
// only rewrites rings/prod.cue — no approvals, no windows, no freeze, no
// soak, no threshold, 100% errors, a selector matching no host — passed
// with zero reviews. Each field is now classified as loosening, and the
// change needs prod's own approvals (from the base) plus a policy owner.
func TestRingLooseningNeedsApproval(t *testing.T) {
	r := newRepo(t)
	base := r.git("rev-parse", "HEAD")
	head := r.commit("loosen prod", map[string]func(string) string{"rings/prod.cue": content(looseProd)})
	pr := gate.PullRequest{Number: 50, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: head}

	res := r.evaluate(t, base, head, pr, nil, []gate.Evidence{}, now)
	wantClasses := []string{
		"ring_policy rings/prod.cue prod approvals loosening",
		"ring_policy rings/prod.cue prod freeze loosening",
		"ring_policy rings/prod.cue prod reboot loosening",
		"ring_policy rings/prod.cue prod selector loosening",
		"ring_policy rings/prod.cue prod soak loosening",
		"ring_policy rings/prod.cue prod strategy loosening",
		"ring_policy rings/prod.cue prod threshold loosening",
		"ring_policy rings/prod.cue prod windows loosening",
	}
	if diff := cmp.Diff(wantClasses, classes(res.Input.Change.Classes)); diff != "" {
		t.Errorf("classes (-want +got):\n%s", diff)
	}
	if res.Decision.Result != gate.Fail || !cmp.Equal(denyIDs(res.Decision), []string{"governance.ring_policy.approvals", "governance.ring_policy.policy_owner"}) {
		t.Fatalf("zero reviews: %s %v", res.Decision.Result, res.Decision.Deny)
	}
	if m := res.Decision.Deny[0].Msg; !strings.Contains(m, "need 2 approvals from sre, security") || !strings.Contains(m, "approvals.required 2 → 0") {
		t.Errorf("message does not say what the rule asks: %s", m)
	}
	t0 := now.Add(-time.Hour)
	ringOnly := []gate.Review{approve("sre-lead", head, t0), approve("sec-lead", head, t0)}
	res = r.evaluate(t, base, head, pr, ringOnly, []gate.Evidence{}, now)
	if !cmp.Equal(denyIDs(res.Decision), []string{"governance.ring_policy.policy_owner"}) {
		t.Errorf("ring approvals only: %v", res.Decision.Deny)
	}
	res = r.evaluate(t, base, head, pr, append(ringOnly, approve("platform-owner", head, t0)), []gate.Evidence{}, now)
	if res.Decision.Result != gate.Pass {
		t.Errorf("ring approvals and a policy owner: %s %v", res.Decision.Result, res.Decision.Deny)
	}
}

// TestRingTighteningNeedsRingApprovals: a longer soak and a higher
// threshold are tightening; they need the ring's approvals, not a policy
// owner.
func TestRingTighteningNeedsRingApprovals(t *testing.T) {
	r := newRepo(t)
	base := r.git("rev-parse", "HEAD")
	head := r.commit("tighten prod", map[string]func(string) string{"rings/prod.cue": func(s string) string {
		s = replace(`soak:             "168h"`, `soak:             "336h"`)(s)
		return replace(`successThreshold: 0.98`, `successThreshold: 0.99`)(s)
	}})
	pr := gate.PullRequest{Number: 51, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: head}
	res := r.evaluate(t, base, head, pr, nil, []gate.Evidence{}, now)
	if diff := cmp.Diff([]string{"ring_policy rings/prod.cue prod soak tightening", "ring_policy rings/prod.cue prod threshold tightening"}, classes(res.Input.Change.Classes)); diff != "" {
		t.Errorf("classes (-want +got):\n%s", diff)
	}
	if !cmp.Equal(denyIDs(res.Decision), []string{"governance.ring_policy.approvals"}) {
		t.Errorf("zero reviews: %v", res.Decision.Deny)
	}
	t0 := now.Add(-time.Hour)
	res = r.evaluate(t, base, head, pr, []gate.Review{approve("sre-lead", head, t0), approve("sec-lead", head, t0)}, []gate.Evidence{}, now)
	if res.Decision.Result != gate.Pass {
		t.Errorf("with prod's approvals: %v", res.Decision.Deny)
	}
}

const newException = `package patchbay

exceptions: "deb12-prod-openssl": {
	ring:                "prod"
	hosts: ["deb12-prod-01"]
	stream:              "debian-12"
	source:              "openssl"
	owner:               "sec-analyst"
	reason:              "appliance firmware pins the library"
	compensatingControl: "host isolated on the management VLAN"
	granted:             "2026-11-25"
	expires:             "2027-01-15"
}
`

// TestExceptionNeedsIndependentSecurity (issue 12, item 2): a new
// non-KEV exception, and an existing one whose expiry is extended, passed
// with zero reviews. Now each needs a security approver who is neither the
// exception's owner nor the author.
func TestExceptionNeedsIndependentSecurity(t *testing.T) {
	r := newRepo(t)
	base := r.git("rev-parse", "HEAD")
	added := r.commit("add an exception", map[string]func(string) string{"exceptions/deb12-prod-openssl.cue": content(newException)})
	extended := r.commit("extend billing-openssl", map[string]func(string) string{
		"exceptions/billing-openssl.cue": replace(`expires:             "2027-02-15"`, `expires:             "2027-02-17"`),
	})
	t0 := now.Add(-time.Hour)
	for _, tt := range []struct {
		name, base, head, class string
		owner                   string
	}{
		{"new exception", base, added, "exception exceptions/deb12-prod-openssl.cue deb12-prod-openssl added", "sec-analyst"},
		{"extended exception", added, extended, "exception exceptions/billing-openssl.cue billing-openssl extended", "billing-team"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pr := gate.PullRequest{Number: 52, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: tt.head}
			res := r.evaluate(t, tt.base, tt.head, pr, nil, []gate.Evidence{}, now)
			if diff := cmp.Diff([]string{tt.class}, classes(res.Input.Change.Classes)); diff != "" {
				t.Errorf("classes (-want +got):\n%s", diff)
			}
			if !cmp.Equal(denyIDs(res.Decision), []string{"governance.exception.security"}) {
				t.Fatalf("zero reviews: %v", res.Decision.Deny)
			}
			// the owner's own approval does not count
			res = r.evaluate(t, tt.base, tt.head, pr, []gate.Review{approve(tt.owner, tt.head, t0)}, []gate.Evidence{}, now)
			if !cmp.Equal(denyIDs(res.Decision), []string{"governance.exception.security"}) {
				t.Errorf("owner's approval: %v", res.Decision.Deny)
			}
			// nor does the author's, when the author is in security
			authored := pr
			authored.Author, authored.LastPusher = "sec-lead", "sec-lead"
			res = r.evaluate(t, tt.base, tt.head, authored, []gate.Review{approve("sec-lead", tt.head, t0)}, []gate.Evidence{}, now)
			if !cmp.Equal(denyIDs(res.Decision), []string{"governance.exception.security"}) {
				t.Errorf("author's approval: %v", res.Decision.Deny)
			}
			res = r.evaluate(t, tt.base, tt.head, pr, []gate.Review{approve("sec-lead", tt.head, t0)}, []gate.Evidence{}, now)
			if res.Decision.Result != gate.Pass {
				t.Errorf("independent security approval: %s %v", res.Decision.Result, res.Decision.Deny)
			}
		})
	}
}

// TestFutureGrantIsRefused (issue 12, item 2): an exception granted in the
// future counted from today, so an 89-day waiver granted 2027-02-01 ran
// 156 days from 2026-11-26 under maxDays 90. The gate refuses it.
func TestFutureGrantIsRefused(t *testing.T) {
	r := newRepo(t)
	base := r.git("rev-parse", "HEAD")
	head := r.commit("pre-grant", map[string]func(string) string{"exceptions/deb12-prod-openssl.cue": content(
		strings.NewReplacer(`"2026-11-25"`, `"2027-02-01"`, `"2027-01-15"`, `"2027-05-01"`).Replace(newException))})
	pr := gate.PullRequest{Number: 53, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: head}
	res := r.evaluate(t, base, head, pr, []gate.Review{approve("sec-lead", head, now.Add(-time.Hour))}, []gate.Evidence{}, now)
	if !cmp.Equal(denyIDs(res.Decision), []string{"exception.granted.future"}) {
		t.Errorf("deny = %v", res.Decision.Deny)
	}
	if res.Head.Exceptions[0].Active(now) != (res.Head.Exceptions[0].ID != "deb12-prod-openssl") {
		t.Errorf("a future grant must not be active today")
	}
}

// TestConfigWorkflowAndCosmetic: config fields, workflow files and
// repository policies need a policy owner; a comment-only edit is
// cosmetic and needs nothing.
func TestConfigWorkflowAndCosmetic(t *testing.T) {
	r := newRepo(t)
	base := r.git("rev-parse", "HEAD")
	head := r.commit("config, workflow and a comment", map[string]func(string) string{
		"patchbay.cue":                   replace(`"policy-owners": ["platform-owner"]`, `"policy-owners": ["platform-owner", "sre-platform"]`),
		".github/workflows/patchbay.yml": content("on: pull_request\n"),
		"rings/canary.cue":               func(s string) string { return s + "\n// a comment\n" },
		"README.md":                      content("notes\n"),
	})
	pr := gate.PullRequest{Number: 54, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: head}
	res := r.evaluate(t, base, head, pr, nil, []gate.Evidence{}, now)
	want := []string{
		"workflow .github/workflows/patchbay.yml",
		"cosmetic README.md",
		"config patchbay.cue config approvers",
		"cosmetic rings/canary.cue",
	}
	if diff := cmp.Diff(want, classes(res.Input.Change.Classes)); diff != "" {
		t.Errorf("classes (-want +got):\n%s", diff)
	}
	if !cmp.Equal(denyIDs(res.Decision), []string{"governance.policy_owner"}) {
		t.Fatalf("deny = %v", res.Decision.Deny)
	}
	for _, part := range []string{"config patchbay.cue (config approvers changed)", "workflow .github/workflows/patchbay.yml"} {
		if !strings.Contains(res.Decision.Deny[0].Msg, part) {
			t.Errorf("message does not name %q: %s", part, res.Decision.Deny[0].Msg)
		}
	}
	res = r.evaluate(t, base, head, pr, []gate.Review{approve("platform-owner", head, now.Add(-time.Hour))}, []gate.Evidence{}, now)
	if res.Decision.Result != gate.Pass {
		t.Errorf("with a policy owner: %v", res.Decision.Deny)
	}
}

// TestExpiredAtBaseIsNotADeadlock (issue 12, item 3): an exception that
// expired on main made every pull request fail with "repository at base
// … invalid", including the one removing it. The base is now judged with
// the expiry as a warning, so the fix passes; a head that still carries
// the expired exception stays invalid.
func TestExpiredAtBaseIsNotADeadlock(t *testing.T) {
	r := newRepo(t)
	base := r.git("rev-parse", "HEAD")
	later := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC) // billing-openssl expired 2027-02-15
	removed := r.commit("remove the expired exception", map[string]func(string) string{"exceptions/billing-openssl.cue": nil})
	pr := gate.PullRequest{Number: 55, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: removed}
	res := r.evaluate(t, base, removed, pr, nil, []gate.Evidence{}, later)
	if res.Decision.Result != gate.Pass {
		t.Errorf("removing the expired exception: %s %v %v", res.Decision.Result, res.Decision.Deny, res.Decision.Errors)
	}
	if len(res.Decision.Warn) != 1 || res.Decision.Warn[0].ID != "base.exception.expired" || !strings.Contains(res.Decision.Warn[0].Msg, "expired on 2027-02-15") {
		t.Errorf("want the base's expiry as a warning, got %v", res.Decision.Warn)
	}
	if diff := cmp.Diff([]string{"exception exceptions/billing-openssl.cue billing-openssl removed"}, classes(res.Input.Change.Classes)); diff != "" {
		t.Errorf("classes (-want +got):\n%s", diff)
	}

	r.git("checkout", "-q", "-b", "unrelated", base)
	unrelated := r.commit("unrelated", map[string]func(string) string{"README.md": content("x\n")})
	repo, err := gitrepo.Open(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	_, err = NewEvaluator().Evaluate(context.Background(), Request{Repo: repo, Base: base, Head: unrelated, Evidence: []gate.Evidence{}, Now: later})
	var side *SideError
	if !errors.As(err, &side) || side.Side != "head" {
		t.Errorf("a head still carrying the expired exception: want a head SideError, got %v", err)
	}
}

// TestEffectDigestIgnoresOptions (README: approvals and decisions bind the
// effect digest): the digest depends on the two commits, not on the
// reports given (--inventory) or the clock (--now).
func TestEffectDigestIgnoresOptions(t *testing.T) {
	r := newRepo(t)
	base := r.git("rev-parse", "HEAD")
	head := r.commit("promote", map[string]func(string) string{"rings/pilot.cue": replace(`baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`)})
	repo, err := gitrepo.Open(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	var reports []*inventory.Report
	files, _ := filepath.Glob(filepath.Join(r.dir, "inventory", "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := inventory.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		reports = append(reports, rep)
	}
	a, err := Load(context.Background(), Request{Repo: repo, Base: base, Head: head, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(context.Background(), Request{Repo: repo, Base: base, Head: head, Now: now.Add(30 * 24 * time.Hour), Reports: reports})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Effect.Delta) == 0 {
		t.Fatal("the reports gave no plan delta; the test proves nothing")
	}
	if a.Effect.Digest == "" || a.Effect.Digest != b.Effect.Digest {
		t.Errorf("effect digest changed with --inventory/--now: %s vs %s", a.Effect.Digest, b.Effect.Digest)
	}
	other := r.commit("another head", map[string]func(string) string{"rings/canary.cue": func(s string) string { return s + "\n// x\n" }})
	c, err := Load(context.Background(), Request{Repo: repo, Base: base, Head: other, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if c.Effect.Digest == a.Effect.Digest {
		t.Error("another head gave the same effect digest")
	}
}
