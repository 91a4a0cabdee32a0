package change

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/internal/fixture"
)

var now = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// repoT is a real Git repository holding a copy of examples/quickstart.
type repoT struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *repoT {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	r := &repoT{t: t, dir: t.TempDir()}
	if err := os.CopyFS(r.dir, os.DirFS(fixture.Path(t, "examples/quickstart"))); err != nil {
		t.Fatal(err)
	}
	r.git("init", "-q", "-b", "main")
	r.commit("quickstart", nil)
	return r
}

func (r *repoT) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.invalid"}, args...)...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit applies edits (path → function of the old content; nil deletes)
// and commits, returning the commit id.
func (r *repoT) commit(msg string, edits map[string]func(string) string) string {
	r.t.Helper()
	for path, edit := range edits {
		p := filepath.Join(r.dir, path)
		if edit == nil {
			if err := os.Remove(p); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		old, _ := os.ReadFile(p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(edit(string(old))), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func replace(old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			panic("edit: " + old + " not found")
		}
		return strings.Replace(s, old, new, 1)
	}
}

func content(s string) func(string) string { return func(string) string { return s } }

func approve(login, commit string, at time.Time) gate.Review {
	return gate.Review{User: gate.User{Login: login}, State: "APPROVED", CommitID: commit, SubmittedAt: at}
}

// evidenceFor is a canary verification of the hotfix baseline that soaked
// long enough for pilot (72h).
func evidenceFor(t *testing.T, r *repoT, ring, baselineID string, rate, soak float64) []gate.Evidence {
	repo, err := gitrepo.Open(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	res, err := NewEvaluator().Evaluate(context.Background(), Request{Repo: repo, Base: "HEAD", Head: "HEAD", Evidence: []gate.Evidence{}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return []gate.Evidence{{Ring: ring, Baseline: baselineID, BaselineDigest: res.Head.Baselines[baselineID].Digest,
		Commit: r.git("rev-parse", "HEAD"), SuccessRate: rate, SoakHours: soak, VerifiedAt: now.Add(-time.Hour), HostsTotal: 4, HostsChanged: 2,
		TestedSet: []gate.TestedVersion{{Stream: "debian-12", Package: "openssl", Version: "3.0.17-1~deb12u3", Hosts: 2}}}}
}

func (r *repoT) evaluate(t *testing.T, base, head string, pr gate.PullRequest, reviews []gate.Review, ev []gate.Evidence, at time.Time) *Result {
	t.Helper()
	repo, err := gitrepo.Open(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	res, err := NewEvaluator().Evaluate(context.Background(), Request{Repo: repo, Base: base, Head: head, PR: pr, Reviews: reviews, Evidence: ev, Now: at})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

type outcome struct {
	Result gate.Result
	Deny   []string
	Warn   []string
	Miss   []string
}

func outcomeOf(d gate.Decision) outcome {
	o := outcome{Result: d.Result}
	for _, f := range d.Deny {
		o.Deny = append(o.Deny, f.ID+": "+f.Msg)
	}
	for _, f := range d.Warn {
		o.Warn = append(o.Warn, f.ID+": "+f.Msg)
	}
	for _, f := range d.Missing {
		o.Miss = append(o.Miss, f.ID+": "+f.Msg)
	}
	return o
}

// TestPromotionScenario drives the canary → pilot promotion of the
// quickstart on a real Git repository through every outcome, with every
// message pinned.
func TestPromotionScenario(t *testing.T) {
	r := newRepo(t)
	base := r.git("rev-parse", "HEAD")
	ev := evidenceFor(t, r, "canary", "2026-11-hotfix-1", 1.0, 80)
	head := r.commit("promote 2026-11-hotfix-1 to pilot", map[string]func(string) string{
		"rings/pilot.cue": replace(`baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`),
	})
	h := head[:12]
	pr := gate.PullRequest{Number: 42, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: head}
	t0 := now.Add(-2 * time.Hour)
	two := []gate.Review{approve("sre-lead", head, t0), approve("sre-oncall", head, t0.Add(time.Minute))}

	tests := []struct {
		name     string
		pr       gate.PullRequest
		reviews  []gate.Review
		evidence []gate.Evidence
		at       time.Time
		want     outcome
	}{
		{
			name: "allowed with evidence and two approvals", pr: pr, reviews: two, evidence: ev, at: now,
			want: outcome{Result: gate.Pass},
		},
		{
			name: "stale approval", pr: pr, evidence: ev, at: now,
			reviews: []gate.Review{approve("sre-lead", head, t0), approve("sre-oncall", base, t0)},
			// The stale approval is explained as a warning; the shortfall denies.
			want: outcome{Result: gate.Fail, Deny: []string{
				"promotion.approvals.insufficient: ring pilot: 1 of 2 required approvals from sre on head commit " + h + " (counted: sre-lead)",
			}, Warn: []string{
				"approvals.stale: approval by sre-oncall is on commit " + base[:12] + ", not on head commit " + h + "; it does not count",
			}},
		},
		{
			name: "self-approval", pr: pr, evidence: ev, at: now,
			reviews: []gate.Review{approve("sre-lead", head, t0), approve("sre-platform", head, t0)},
			want: outcome{Result: gate.Fail, Deny: []string{
				"promotion.approvals.insufficient: ring pilot: 1 of 2 required approvals from sre on head commit " + h + " (counted: sre-lead)",
			}, Warn: []string{
				"approvals.author: approval by sre-platform does not count: sre-platform is the author of the pull request",
			}},
		},
		{
			name: "later changes requested blocks", pr: pr, evidence: ev, at: now,
			reviews: append(two, gate.Review{User: gate.User{Login: "sre-oncall"}, State: "CHANGES_REQUESTED", CommitID: head, SubmittedAt: t0.Add(time.Hour)}),
			want: outcome{Result: gate.Fail, Deny: []string{
				"approvals.changes_requested: sre-oncall requested changes (latest review)",
				"promotion.approvals.insufficient: ring pilot: 1 of 2 required approvals from sre on head commit " + h + " (counted: sre-lead)",
			}},
		},
		{
			name: "missing evidence is inconclusive", pr: pr, reviews: two, evidence: []gate.Evidence{}, at: now,
			want: outcome{Result: gate.Inconclusive, Miss: []string{
				"promotion.evidence.missing: ring pilot: no verification record of baseline 2026-11-hotfix-1 in ring canary",
			}},
		},
		{
			name: "soak not reached", pr: pr, reviews: two, evidence: evidenceFor(t, r, "canary", "2026-11-hotfix-1", 1.0, 10), at: now,
			want: outcome{Result: gate.Fail, Deny: []string{
				"promotion.evidence.soak: ring pilot: baseline 2026-11-hotfix-1 soaked 11h in ring canary, needs 72h",
			}},
		},
		{
			name: "emergency lane without two security approvers", evidence: []gate.Evidence{}, at: now,
			pr:      gate.PullRequest{Number: 42, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: head, Labels: []string{"emergency"}},
			reviews: append(two, approve("sec-lead", head, t0)),
			want: outcome{Result: gate.Fail, Deny: []string{
				"promotion.emergency.approvals: the emergency lane needs approvals from 2 members of security on head commit " + h + " (counted: sec-lead)",
			}, Warn: []string{
				"promotion.emergency: ring pilot: emergency promotion to baseline 2026-11-hotfix-1; previous-ring evidence and soak not skipped (the lane was not granted)",
			}, Miss: []string{
				"promotion.evidence.missing: ring pilot: no verification record of baseline 2026-11-hotfix-1 in ring canary",
			}},
		},
		{
			name: "emergency lane with two security approvers", evidence: []gate.Evidence{}, at: now,
			pr:      gate.PullRequest{Number: 42, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: head, Labels: []string{"emergency"}},
			reviews: append(two, approve("sec-lead", head, t0), approve("sec-analyst", head, t0)),
			want: outcome{Result: gate.Pass, Warn: []string{
				"promotion.emergency: ring pilot: emergency promotion to baseline 2026-11-hotfix-1; previous-ring evidence and soak skipped",
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := r.evaluate(t, base, head, tt.pr, tt.reviews, tt.evidence, tt.at)
			if diff := cmp.Diff(tt.want, outcomeOf(res.Decision)); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
			if res.Decision.Manifest.RulesEvaluated == 0 || res.Decision.Manifest.BundleDigest == "" {
				t.Errorf("manifest = %+v", res.Decision.Manifest)
			}
		})
	}
}

// TestFreezeAndImmutability promotes pilot's baseline to prod inside the
// year-end freeze, and edits a pinned baseline.
func TestFreezeAndImmutability(t *testing.T) {
	r := newRepo(t)
	base := r.git("rev-parse", "HEAD")
	ev := evidenceFor(t, r, "pilot", "2026-11", 1.0, 200)
	head := r.commit("promote 2026-11 to prod", map[string]func(string) string{
		"rings/prod.cue": replace(`baseline: "2026-10"`, `baseline: "2026-11"`),
	})
	pr := gate.PullRequest{Number: 43, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: head, Labels: []string{"change:CHG-1"}}
	t0 := now.Add(-2 * time.Hour)
	reviews := []gate.Review{approve("sre-lead", head, t0), approve("sec-lead", head, t0)}

	res := r.evaluate(t, base, head, pr, reviews, ev, now)
	if diff := cmp.Diff(outcome{Result: gate.Pass}, outcomeOf(res.Decision)); diff != "" {
		t.Errorf("outside the freeze (-want +got):\n%s", diff)
	}
	frozen := time.Date(2026, 12, 20, 9, 0, 0, 0, time.UTC)
	ev[0].VerifiedAt = frozen.Add(-time.Hour)
	res = r.evaluate(t, base, head, pr, reviews, ev, frozen)
	want := outcome{Result: gate.Fail, Deny: []string{"promotion.freeze: ring prod is frozen from 2026-12-18 to 2027-01-04: year-end change freeze"}}
	if diff := cmp.Diff(want, outcomeOf(res.Decision)); diff != "" {
		t.Errorf("inside the freeze (-want +got):\n%s", diff)
	}

	edit := r.commit("raise a floor in 2026-11, which pilot and prod pin", map[string]func(string) string{
		"baselines/2026-11.cue": replace(`min: "2025b-0+deb12u2"`, `min: "2025b-0+deb12u3"`),
	})
	res = r.evaluate(t, head, edit, gate.PullRequest{Number: 44, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: edit}, nil, []gate.Evidence{}, now)
	if len(res.Decision.Deny) == 0 || res.Decision.Deny[0].ID != "baseline.immutable" || res.Decision.Result != gate.Fail {
		t.Errorf("editing a pinned baseline: %+v", outcomeOf(res.Decision))
	}
	if !strings.Contains(res.Decision.Deny[0].Msg, "2026-11") {
		t.Errorf("message does not name the baseline: %s", res.Decision.Deny[0].Msg)
	}
}

// TestPolicyChangeIsJudgedByBase: a pull request that deletes a repository
// rule in policy/ is still judged by the base commit's policies, and needs a
// policy owner's approval.
func TestPolicyChangeIsJudgedByBase(t *testing.T) {
	r := newRepo(t)
	strict := r.commit("add a repository rule that denies every pilot promotion", map[string]func(string) string{
		"policy/hold.rego": content(`package patchbay.repo.hold

deny contains {"id": "repo.hold", "msg": "pilot promotions are on hold"} if {
	some m in input.change.rings_moved
	m.ring == "pilot"
}
`),
	})
	ev := evidenceFor(t, r, "canary", "2026-11-hotfix-1", 1.0, 80)
	head := r.commit("promote and delete the hold rule", map[string]func(string) string{
		"rings/pilot.cue":  replace(`baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`),
		"policy/hold.rego": nil,
	})
	pr := gate.PullRequest{Number: 45, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: head}
	t0 := now.Add(-time.Hour)
	reviews := []gate.Review{approve("sre-lead", head, t0), approve("sre-oncall", head, t0)}
	res := r.evaluate(t, strict, head, pr, reviews, ev, now)
	want := outcome{Result: gate.Fail, Deny: []string{
		"governance.policy_owner: repo_policy policy/hold.rego (file changed): needs an approval from a member of policy-owners on head commit " + head[:12] + " (counted: none)",
		"repo.hold: pilot promotions are on hold",
	}}
	if diff := cmp.Diff(want, outcomeOf(res.Decision)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The policy owner's approval satisfies its rule; the base's hold still denies.
	res = r.evaluate(t, strict, head, pr, append(reviews, approve("platform-owner", head, t0)), ev, now)
	if diff := cmp.Diff(outcome{Result: gate.Fail, Deny: []string{"repo.hold: pilot promotions are on hold"}}, outcomeOf(res.Decision)); diff != "" {
		t.Errorf("with the policy owner (-want +got):\n%s", diff)
	}
}

func TestApprovers(t *testing.T) {
	t0 := now
	pr := gate.PullRequest{Author: "author", LastPusher: "pusher", HeadSHA: "h"}
	got := Approvers([]gate.Review{
		approve("a", "h", t0),
		approve("b", "old", t0),
		approve("author", "h", t0),
		approve("pusher", "h", t0),
		approve("c", "h", t0),
		{User: gate.User{Login: "c"}, State: "CHANGES_REQUESTED", CommitID: "h", SubmittedAt: t0.Add(time.Minute)},
		approve("d", "h", t0),
		{User: gate.User{Login: "d"}, State: "COMMENTED", CommitID: "h", SubmittedAt: t0.Add(time.Minute)},
	}, pr)
	if !cmp.Equal(got, []string{"a", "d"}) {
		t.Errorf("approvers = %v, want [a d]", got)
	}
}

// TestEvidenceFromNotes reads ring.verified records from the audit trail:
// they count only when the chain verifies against a trusted key.
func TestEvidenceFromNotes(t *testing.T) {
	r := newRepo(t)
	base := r.git("rev-parse", "HEAD")
	ev := evidenceFor(t, r, "canary", "2026-11-hotfix-1", 1.0, 80)[0]
	priv, pub, err := audit.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	_, otherPub, _ := audit.GenerateKeyPair([]byte("pw"))
	signer, err := audit.SignerFromPEM(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := gitrepo.Open(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	w := &audit.Writer{Repo: repo, Signer: signer, Committer: gitrepo.Signature{Name: "patchbay", Email: "patchbay@localhost"}, Now: func() time.Time { return now }}
	commit, _ := gitrepo.ParseHash(base)
	if _, err := w.Write(context.Background(), commit, &audit.RingVerified{Ring: ev.Ring, BaselineID: ev.Baseline, BaselineDigest: ev.BaselineDigest,
		Commit: base, SuccessRate: 1, HostsTotal: 5, HostsSucceeded: 5, SoakHours: 80, VerifiedAt: ev.VerifiedAt,
		TestedSet: []audit.TestedVersion{{Stream: "debian-12", Package: "openssl", Version: "3.0.17-1~deb12u3", Hosts: 5}}}); err != nil {
		t.Fatal(err)
	}
	repo.Close()
	head := r.commit("promote 2026-11-hotfix-1 to pilot", map[string]func(string) string{
		"rings/pilot.cue": replace(`baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`),
	})
	pr := gate.PullRequest{Number: 42, Author: "sre-platform", LastPusher: "sre-platform", HeadSHA: head}
	reviews := []gate.Review{approve("sre-lead", head, now.Add(-time.Hour)), approve("sre-oncall", head, now.Add(-time.Hour))}

	for _, tt := range []struct {
		name   string
		trust  [][]byte
		want   gate.Result
		source string
	}{
		{"trusted key", [][]byte{pub}, gate.Pass, "audit trail: 1 verified ring.verified record"},
		{"no trusted key", nil, gate.Inconclusive, "audit trail: 1 ring.verified record ignored: no trusted key (config.trustedKeys or --key)"},
		{"another key", [][]byte{otherPub}, gate.Inconclusive, "audit trail: 1 ring.verified record ignored: the chain does not verify"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			repo, err := gitrepo.Open(r.dir)
			if err != nil {
				t.Fatal(err)
			}
			defer repo.Close()
			res, err := NewEvaluator().Evaluate(context.Background(), Request{Repo: repo, Base: base, Head: head, PR: pr, Reviews: reviews, TrustedKeys: tt.trust, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if res.Decision.Result != tt.want || !strings.HasPrefix(res.EvidenceSource, tt.source) {
				t.Errorf("result %s (%s), want %s (%s)", res.Decision.Result, res.EvidenceSource, tt.want, tt.source)
			}
		})
	}
}
