package server_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
)

const (
	trailBundle = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	trailInput  = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

// trail is a real Git repository with a merged pull request whose merge
// carries a signed change.merged record and whose head carries a signed
// gate.decision, as the rollout controller and the gate write them.
type trail struct {
	repo        *gitrepo.Repo
	keys        []audit.TrustedKey
	w           *audit.Writer
	merge, head string
	base        string
}

func trailSigner(t testing.TB) (*audit.Signer, []audit.TrustedKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(k, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewSigner(sv)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := audit.TrustedKeyOf(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return s, []audit.TrustedKey{tk}
}

func newTrail(t testing.TB) *trail {
	t.Helper()
	g := gitrepotest.New(t)
	base := g.Commit("initial", map[string]string{"patchbay.cue": "package patchbay\n"})
	merge, head := g.MergePR(42, "platform-eng", "promote-canary", map[string]string{"rings/canary.cue": "ring: canary\n"})
	repo, err := gitrepo.Open(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	signer, keys := trailSigner(t)
	tr := &trail{repo: repo, keys: keys, merge: merge, head: head, base: base,
		w: &audit.Writer{Repo: repo, Signer: signer, Committer: gitrepo.Signature{Name: "patchbay", Email: "patchbay@localhost"}, Now: clock}}
	tr.write(t, tr.w, head, &audit.GateDecision{Result: "pass", Warns: []string{"ring.window.outside"}, Denies: []string{}, PolicyBundleDigest: trailBundle,
		InputDigest: trailInput, PR: 42, HeadSHA: head, BaseSHA: base, Approvers: []string{"sre-lead", "security-oncall"}, DecidedAt: testNow.Add(-3 * time.Hour)})
	tr.write(t, tr.w, hashOf(t, merge), &audit.ChangeMerged{PR: 42, Author: "platform-eng", Approvers: []string{"sre-lead", "security-oncall"},
		BaseCommit: base, HeadCommit: head, MergeCommit: merge, EffectDigest: trailInput, MergedAt: testNow.Add(-2 * time.Hour)})
	return tr
}

func hashOf(t testing.TB, s string) string {
	t.Helper()
	if _, err := gitrepo.ParseHash(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (tr *trail) write(t testing.TB, w *audit.Writer, commit string, p audit.Predicate) {
	t.Helper()
	h, err := gitrepo.ParseHash(commit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(context.Background(), h, p); err != nil {
		t.Fatal(err)
	}
}

// TestRolloutTrail: the rollout page shows, from the Git audit trail, the
// pull request and author, the approvers with the commit they reviewed,
// the gate decision with its rules, each record's signature status and a
// link to the record's own page; a later record signed by an unknown key
// is shown as not verified and does not replace the verified decision,
// and it appears without a restart (the cache follows the notes tip).
func TestRolloutTrail(t *testing.T) {
	e, b := dashEnv(t)
	tr := e.trail
	ch := readCSV(t, b, "/rollouts/ro-canary-1?csv=change")
	if len(ch) != 2 || ch[1][0] != "#42" || ch[1][1] != "platform-eng" || !strings.HasPrefix(ch[1][column(t, ch, "Signature")], "verified") {
		t.Fatalf("change table: %v", ch)
	}
	ap := readCSV(t, b, "/rollouts/ro-canary-1?csv=approvals")
	got := map[string]string{}
	for _, r := range ap[1:] {
		got[r[0]+" by "+r[1]] = r[column(t, ap, "Reviewed commit")] + " " + r[column(t, ap, "Signature")]
	}
	for _, who := range []string{"sre-lead", "security-oncall"} {
		for _, by := range []string{"change.merged (at merge)", "gate.decision on #42"} {
			if v := got[who+" by "+by]; !strings.HasPrefix(v, tr.head[:19]+" verified") {
				t.Errorf("approval %s by %s: %q (want the reviewed head %s, verified)", who, by, v, tr.head[:12])
			}
		}
	}
	g := readCSV(t, b, "/rollouts/ro-canary-1?csv=gate")
	if len(g) != 2 || g[1][0] != "pass" || g[1][column(t, g, "Rules that warned")] != "ring.window.outside" || g[1][column(t, g, "Rules that denied")] != "—" {
		t.Fatalf("gate table: %v", g)
	}
	recs := readCSV(t, b, "/rollouts/ro-canary-1?csv=trail")
	if len(recs) != 3 || recs[1][1] != "gate.decision" || recs[2][1] != "change.merged" {
		t.Fatalf("trail records: %v", recs)
	}
	code, page, _ := b.get("/rollouts/ro-canary-1")
	href := "/audit/records/" + tr.head + "/1"
	if code != 200 || !strings.Contains(page, `href="`+href+`"`) || !strings.Contains(page, "sre-lead, security-oncall") {
		t.Fatalf("rollout page: %d, no link to %s or no approvers", code, href)
	}
	code, rec, _ := b.get(href)
	if code != 200 || !strings.Contains(rec, "gate.decision") || !strings.Contains(rec, "ring.window.outside") || !strings.Contains(rec, "verified: key server") {
		t.Errorf("record page %s: %d\n%.2000s", href, code, rec)
	}
	if code, _, _ := b.get("/audit/records/" + tr.head + "/9"); code != 404 {
		t.Errorf("a missing record: %d, want 404", code)
	}

	// A later decision signed by a key nobody trusts: shown, not verified,
	// and the verified pass stays the decision.
	other, _ := trailSigner(t)
	forger := &audit.Writer{Repo: tr.repo, Signer: other, Committer: gitrepo.Signature{Name: "x", Email: "x@invalid"}, Now: clock}
	tr.write(t, forger, tr.head, &audit.GateDecision{Result: "fail", Denies: []string{"forged"}, Warns: []string{}, PolicyBundleDigest: trailBundle,
		InputDigest: trailInput, PR: 42, HeadSHA: tr.head, Approvers: []string{"mallory"}, DecidedAt: testNow})
	recs = readCSV(t, b, "/rollouts/ro-canary-1?csv=trail")
	if len(recs) != 4 || !strings.HasPrefix(recs[3][column(t, recs, "Signature")], "not verified: unknown key") {
		t.Fatalf("after an unknown key's record: %v", recs)
	}
	g = readCSV(t, b, "/rollouts/ro-canary-1?csv=gate")
	if g[1][0] != "pass" {
		t.Errorf("the unverified record replaced the verified decision: %v", g)
	}
}
