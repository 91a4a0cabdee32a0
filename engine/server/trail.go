package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/patchbay/patchbay/engine/api"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/gitrepo"
)

// The rollout page shows, from the patch repository's audit trail (Git
// notes under refs/notes/patchbay), the change that started the rollout:
// the change.merged record on its commit (pull request, author, counted
// approvals) and the gate.decision on the pull request's head (result,
// the rules that denied or warned, the policy bundle), each with its
// signature checked against the trusted keys.
//
// It is cheap per page view: only the notes of the rollout's commit and of
// the reviewed head are read, by direct lookup in the notes tree (never
// the whole history), and the result is cached until the notes ref's tip
// or the loaded model (whose config.trustedKeys count) changes.

// maxTrailCache bounds the cached commits; the cache starts over beyond.
const maxTrailCache = 512

// gitTrail reads the records about a rollout's commit for the dashboard.
type gitTrail struct {
	repo *gitrepo.Repo
	// keys are trusted besides the model's config.trustedKeys (the
	// server's own signer's).
	keys []audit.TrustedKey

	mu    sync.Mutex
	stamp string // notes tip and model revision the cache holds
	cache map[string]*changeTrail
}

// changeTrail is what the audit trail says about the change at one commit.
type changeTrail struct {
	// Commit is the rolled-out commit; Head the reviewed pull request head
	// (the merge's second parent, or change.merged's headCommit).
	Commit, Head string
	// Merged is the change.merged record on Commit, if any.
	Merged *trailRecord
	// Gate is the latest gate.decision about Head (a verified one first).
	Gate *trailRecord
	// Records are every record on Commit and Head, in chain order.
	Records []*trailRecord
	// Keys is how many trusted keys signatures were checked against.
	Keys int
}

// trailRecord is one record with its signature check.
type trailRecord struct {
	Rec  *audit.Record
	Pred audit.Predicate
	// Verified is true when a trusted key signed exactly this record;
	// Status says so ("verified: key NAME") or names the problem.
	Verified bool
	Status   string
}

// EnableGitTrail makes each rollout page show the change.merged and
// gate.decision records about the rollout's commit, read from repo's
// audit notes, with their signatures checked against keys and the loaded
// model's config.trustedKeys; record pages (/audit/records/COMMIT/LINE)
// show one record whole. Call it before serving; without it the rollout
// page shows the store's records only.
func (s *Server) EnableGitTrail(repo *gitrepo.Repo, keys []audit.TrustedKey) {
	s.trail = &gitTrail{repo: repo, keys: keys, cache: map[string]*changeTrail{}}
}

// trustedKeys returns the keys records are checked against and a name per
// key id (config.trustedKeys' names; the server's own keys are "server").
func (t *gitTrail) trustedKeys(m *Model) ([]audit.TrustedKey, map[string]string) {
	keys := slices.Clone(t.keys)
	names := map[string]string{}
	for _, k := range keys {
		names[k.ID] = "server"
	}
	if m != nil {
		for _, name := range slices.Sorted(maps.Keys(m.Repo.Config.TrustedKeys)) {
			ks, err := audit.ParseTrustedKeys([]byte(m.Repo.Config.TrustedKeys[name].PublicKey))
			if err != nil {
				continue // validate reports it
			}
			for _, k := range ks {
				names[k.ID] = name
			}
			keys = append(keys, ks...)
		}
	}
	return keys, names
}

// checkRecord verifies a record's signature and says so.
func checkRecord(r *audit.Record, keys []audit.TrustedKey, names map[string]string) *trailRecord {
	tr := &trailRecord{Rec: r}
	tr.Pred, _ = r.Decode()
	if p := audit.CheckSignature(r, keys); p != nil {
		tr.Status = "not verified: " + string(p.Reason) + " (" + p.Detail + ")"
		return tr
	}
	tr.Verified = true
	tr.Status = "verified"
	for _, sg := range r.Envelope.Signatures {
		if n, ok := names[sg.KeyID]; ok {
			tr.Status = "verified: key " + n
			break
		}
	}
	return tr
}

// change returns what the trail says about commit, from the cache while
// the notes tip and the model are unchanged.
func (t *gitTrail) change(ctx context.Context, commit string, m *Model) (*changeTrail, error) {
	h, err := gitrepo.ParseHash(commit)
	if err != nil {
		return nil, err
	}
	tip, err := t.repo.NotesTip(gitrepo.NotesRef)
	if err != nil {
		return nil, err
	}
	stamp := "none"
	if tip != nil {
		stamp = tip.Hash.String()
	}
	if m != nil {
		stamp += " " + m.Revision
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if stamp != t.stamp || len(t.cache) >= maxTrailCache {
		t.stamp, t.cache = stamp, map[string]*changeTrail{}
	}
	if ct, ok := t.cache[commit]; ok {
		return ct, nil
	}
	ct, err := t.read(ctx, h, m)
	if err != nil {
		return nil, err
	}
	t.cache[commit] = ct
	return ct, nil
}

func (t *gitTrail) read(ctx context.Context, h gitrepo.Hash, m *Model) (*changeTrail, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cm, err := t.repo.Commit(h)
	if err != nil {
		return nil, fmt.Errorf("commit %s is not in the patch repository: %w", h, err)
	}
	ct := &changeTrail{Commit: h.String()}
	want := []gitrepo.Hash{h}
	if len(cm.Parents) > 1 {
		ct.Head = cm.Parents[1].String()
		want = append(want, cm.Parents[1])
	}
	byCommit, err := audit.ReadOn(t.repo, want...)
	if err != nil {
		return nil, err
	}
	keys, names := t.trustedKeys(m)
	ct.Keys = len(keys)
	for _, r := range byCommit[ct.Commit] {
		tr := checkRecord(r, keys, names)
		ct.Records = append(ct.Records, tr)
		if p, ok := tr.Pred.(*audit.ChangeMerged); ok {
			ct.Merged = tr // the latest in the note
			if p.HeadCommit != "" && p.HeadCommit != ct.Head && p.HeadCommit != ct.Commit {
				ct.Head = p.HeadCommit
			}
		}
	}
	if ct.Head != "" {
		if _, read := byCommit[ct.Head]; !read {
			if hh, err := gitrepo.ParseHash(ct.Head); err == nil {
				more, err := audit.ReadOn(t.repo, hh)
				if err != nil {
					return nil, err
				}
				byCommit[ct.Head] = more[ct.Head]
			}
		}
		for _, r := range byCommit[ct.Head] {
			ct.Records = append(ct.Records, checkRecord(r, keys, names))
		}
	}
	// The gate decision about the head (or a direct push's own commit):
	// the latest verified one, else the latest.
	for _, tr := range ct.Records {
		g, ok := tr.Pred.(*audit.GateDecision)
		if !ok || (g.HeadSHA != ct.Head && g.HeadSHA != ct.Commit && tr.Rec.Commit != ct.Head) {
			continue
		}
		if ct.Gate == nil || tr.Verified && !ct.Gate.Verified ||
			tr.Verified == ct.Gate.Verified && !g.DecidedAt.Before(ct.Gate.Pred.(*audit.GateDecision).DecidedAt) {
			ct.Gate = tr
		}
	}
	slices.SortStableFunc(ct.Records, func(a, b *trailRecord) int { return cmp.Compare(a.Rec.Chain.Seq, b.Rec.Chain.Seq) })
	return ct, nil
}

// record returns one record, read directly from commit's note.
func (t *gitTrail) record(commit string, line int, m *Model) (*trailRecord, error) {
	h, err := gitrepo.ParseHash(commit)
	if err != nil {
		return nil, err
	}
	byCommit, err := audit.ReadOn(t.repo, h)
	if err != nil {
		return nil, err
	}
	for _, r := range byCommit[h.String()] {
		if r.Line == line {
			keys, names := t.trustedKeys(m)
			return checkRecord(r, keys, names), nil
		}
	}
	return nil, errNoRecord
}

var errNoRecord = errors.New("no such record")

func recordHref(r *audit.Record) string {
	return "/audit/records/" + r.Commit + "/" + strconv.Itoa(r.Line)
}

// trailTables are the rollout page's figures and tables about the change
// that started ro: the merge, its approvals, the gate decision and the
// records they come from.
func (s *Server) trailTables(ctx context.Context, ro api.Rollout) ([]figure, []table) {
	change := table{Name: "change", Title: "Change that started this rollout",
		Header: []string{"Pull request", "Author", "Merged", "Merge commit", "Reviewed head", "Effect digest", "Record", "Signature"}}
	approvals := table{Name: "approvals", Title: "Approvals that counted", Header: []string{"Approver", "Counted by", "Reviewed commit", "Record", "Signature"}}
	gate := table{Name: "gate", Title: "Gate decision",
		Header: []string{"Result", "Decided", "Rules that denied", "Rules that warned", "Policy bundle", "Input digest", "Base evaluated", "Record", "Signature"}}
	recs := table{Name: "trail", Title: "Audit records about this change (Git notes)", Header: []string{"Seq", "Record", "On commit", "Line", "Signature"}, NumCols: map[int]bool{0: true, 3: true}}
	if s.trail == nil {
		change.Empty = "This server reads no Git audit trail (the patch repository is not a Git repository): see 'patchbay audit log' where the records are kept."
		return nil, []table{change}
	}
	m, _ := s.model()
	ct, err := s.trail.change(ctx, ro.Commit, m)
	if err != nil {
		s.log.Warn("dashboard audit trail", "rollout", ro.ID, "commit", ro.Commit, "err", err)
		change.Empty = "The audit trail of commit " + shortDigest(ro.Commit) + " could not be read: see the server log."
		return nil, []table{change}
	}
	sig := func(tr *trailRecord) cell {
		c := text(tr.Status)
		if tr.Verified {
			c.Class = "ok"
		} else {
			c.Class = "bad"
		}
		return c
	}
	rec := func(tr *trailRecord) cell {
		return link(fmt.Sprintf("#%d %s", tr.Rec.Chain.Seq, tr.Rec.Kind), recordHref(tr.Rec))
	}
	var figs []figure
	noKeys := ""
	if ct.Keys == 0 {
		noKeys = " No trusted key is configured (config.trustedKeys, or the server's --signing-key), so no signature can be verified."
	}
	change.Empty = "No change.merged record on commit " + shortDigest(ct.Commit) + ": it was not merged through a reviewed pull request (a direct push waits as unreviewed until an admin approves it)."
	if tr := ct.Merged; tr != nil {
		p := tr.Pred.(*audit.ChangeMerged)
		change.Rows = append(change.Rows, []cell{text("#" + strconv.Itoa(p.PR)), text(p.Author), text(dateTime(p.MergedAt)), text(shortDigest(p.MergeCommit)),
			text(shortDigest(p.HeadCommit)), text(shortDigest(p.EffectDigest)), rec(tr), sig(tr)})
		for _, a := range p.Approvers {
			approvals.Rows = append(approvals.Rows, []cell{text(a), text("change.merged (at merge)"), text(shortDigest(p.HeadCommit)), rec(tr), sig(tr)})
		}
		figs = append(figs, figure{Label: "approved by (at merge)", Value: orDash(strings.Join(p.Approvers, ", ")), Href: recordHref(tr.Rec)})
	}
	gate.Empty = "No gate.decision record about the reviewed head " + orDash(shortDigest(ct.Head)) + "."
	if tr := ct.Gate; tr != nil {
		g := tr.Pred.(*audit.GateDecision)
		res := text(g.Result)
		res.Class = map[bool]string{true: "ok", false: "bad"}[g.Result == "pass"]
		gate.Rows = append(gate.Rows, []cell{res, text(dateTime(g.DecidedAt)), text(orDash(strings.Join(g.Denies, " "))), text(orDash(strings.Join(g.Warns, " "))),
			text(shortDigest(g.PolicyBundleDigest)), text(shortDigest(g.InputDigest)), text(orDash(shortDigest(g.BaseSHA))), rec(tr), sig(tr)})
		for _, a := range g.Approvers {
			approvals.Rows = append(approvals.Rows, []cell{text(a), text("gate.decision on #" + strconv.Itoa(g.PR)), text(shortDigest(g.HeadSHA)), rec(tr), sig(tr)})
		}
		fc := map[bool]string{true: "ok", false: "bad"}[g.Result == "pass" && tr.Verified]
		v := g.Result
		if !tr.Verified {
			v += " (not verified)"
		}
		figs = append(figs, figure{Label: "gate decision", Value: v, Class: fc, Href: recordHref(tr.Rec)})
	}
	approvals.Empty = "No approval is recorded for this change."
	for _, tr := range ct.Records {
		recs.Rows = append(recs.Rows, []cell{count(int(tr.Rec.Chain.Seq)), link(string(tr.Rec.Kind), recordHref(tr.Rec)), text(shortDigest(tr.Rec.Commit)), count(tr.Rec.Line), sig(tr)})
	}
	recs.Empty = "No audit record is attached to commit " + shortDigest(ct.Commit) + " or its reviewed head."
	recs.Note = "Read from refs/notes/patchbay of the server's clone; each signature is checked against the trusted keys." + noKeys +
		" The chain as a whole is verified offline with: patchbay audit verify -C DIR."
	return figs, []table{change, approvals, gate, recs}
}

// recordPage shows one audit record from the Git trail: what it says,
// where it sits in the chain and whether its signature verifies.
func (s *Server) recordPage(w http.ResponseWriter, r *http.Request, v Viewer) {
	if s.trail == nil {
		http.Error(w, "this server reads no Git audit trail", http.StatusNotFound)
		return
	}
	line, err := strconv.Atoi(r.PathValue("line"))
	if err != nil || line < 1 {
		http.Error(w, "bad record line", http.StatusNotFound)
		return
	}
	m, _ := s.model()
	tr, err := s.trail.record(r.PathValue("commit"), line, m)
	if err != nil {
		if !errors.Is(err, errNoRecord) {
			s.log.Warn("dashboard audit record", "err", err)
		}
		http.Error(w, "no audit record at "+r.PathValue("commit")+" line "+r.PathValue("line"), http.StatusNotFound)
		return
	}
	rc := tr.Rec
	pg := page{Title: fmt.Sprintf("Audit record #%d (%s)", rc.Chain.Seq, rc.Kind), Nav: "audit", Viewer: v}
	pg.Figures = []figure{{Label: "signature", Value: map[bool]string{true: "verified", false: "not verified"}[tr.Verified],
		Class: map[bool]string{true: "ok", false: "bad"}[tr.Verified]}, {Label: "audit trail", Value: "all records", Href: "/audit"}}
	f := table{Name: "record", Title: "Record", Header: []string{"Field", "Value"}}
	add := func(k, v string) { f.Rows = append(f.Rows, []cell{text(k), text(v)}) }
	add("kind", string(rc.Kind))
	add("chain position", strconv.FormatInt(rc.Chain.Seq, 10))
	add("previous record", orDash(rc.Chain.Prev))
	add("digest", rc.Digest)
	add("note on commit", rc.Commit)
	add("line in the note", strconv.Itoa(rc.Line))
	add("subject commit", orDash(rc.Subject()))
	var ids []string
	for _, sg := range rc.Envelope.Signatures {
		ids = append(ids, sg.KeyID)
	}
	add("signed by key id", orDash(strings.Join(ids, ", ")))
	add("signature", tr.Status)
	if tr.Pred != nil {
		b, _ := json.MarshalIndent(tr.Pred, "", "  ")
		pg.Detail = template.HTML(`<section><h2>What the record says</h2><pre class="record">` + template.HTMLEscapeString(string(b)) + `</pre></section>`)
		if id := rolloutOf(tr.Pred); id != "" {
			f.Rows = append(f.Rows, []cell{text("rollout"), link(id, rolloutHref(id))})
		}
	} else {
		add("problem", rc.Problem)
	}
	f.Note = "Show it with git: git notes --ref=patchbay show " + rc.Commit + " (line " + strconv.Itoa(rc.Line) + "); verify the chain with: patchbay audit verify -C DIR."
	pg.Tables = []table{f}
	s.render(w, r, http.StatusOK, pg)
}

// rolloutOf is the rollout a record is about, if any.
func rolloutOf(p audit.Predicate) string {
	switch p := p.(type) {
	case *audit.RolloutStarted:
		return p.RolloutID
	case *audit.RolloutWave:
		return p.RolloutID
	case *audit.RolloutFinished:
		return p.RolloutID
	case *audit.RolloutUnreviewed:
		return p.RolloutID
	case *audit.RolloutApproved:
		return p.RolloutID
	}
	return ""
}
