// Package change evaluates a proposed change of the patch repository end to
// end, the same way for `patchbay gate` in CI and for pull requests seen by
// the server: it loads the repository at the base and head commits from
// Git, computes the effect (and, with reports, the plan delta), builds the
// gate input from the BASE commit's config, rings and policies, the pull
// request, its reviews and the ring evidence, and asks the gate.
//
// Evidence comes from the caller or from the audit trail in Git notes; read
// from notes, it counts only when the whole chain verifies against the
// trusted keys (the base config's trustedKeys plus any given), so a forged
// or unverifiable record never passes a gate.
//
// With a sandbox (Evaluator.Sandbox), the whole evaluation runs in a child
// process bounded in memory and time; a change that exceeds the bounds is a
// *LimitError, a denial. Jobs are the child's side.
//
// It imports baseline, gate, gitrepo, audit, plan, inventory, vercmp and
// sandbox; it must not import server, github, rollout or cmd.
package change

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/plural"
	"github.com/patchbay/patchbay/engine/sandbox"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// ErrInvalidSide wraps a validation failure of the base or head commit.
var ErrInvalidSide = errors.New("invalid patch repository")

// ErrEvidence means given evidence is not a verified ring.verified record.
var ErrEvidence = errors.New("evidence refused")

// SideError is a base or head commit whose patch repository does not
// validate.
type SideError struct {
	Side   string // "base" or "head"
	Commit string
	Errors baseline.Errors
}

func (e *SideError) Error() string {
	return fmt.Sprintf("the patch repository at %s %s is invalid (%s)", e.Side, short(e.Commit), plural.Count(len(e.Errors), "problem"))
}

// Unwrap makes errors.Is(err, ErrInvalidSide) true.
func (e *SideError) Unwrap() error { return ErrInvalidSide }

// Request is one change to evaluate.
type Request struct {
	Repo *gitrepo.Repo
	// Base and Head are revisions of Repo.
	Base, Head string
	// PR carries the pull request's number, author, last pusher and labels;
	// its HeadSHA defaults to the resolved head commit.
	PR gate.PullRequest
	// Reviews are the pull request's reviews, as GitHub returns them.
	Reviews []gate.Review
	// Evidence, when non-nil, is used as is (callers that verified it
	// themselves, tests); otherwise EvidenceRecords, else the ring.verified
	// records of the audit trail in Repo's notes.
	Evidence []gate.Evidence
	// EvidenceRecords, when non-nil, are signed ring.verified records, one
	// envelope line each (as stored in a note). Each must verify against
	// the trusted keys (the base config's plus TrustedKeys), or the
	// evaluation fails with ErrEvidence: unsigned evidence never counts.
	EvidenceRecords [][]byte
	// TrustedKeys are public keys (PEM) trusted in addition to the base
	// config's trustedKeys when reading evidence from notes.
	TrustedKeys [][]byte
	// Reports, when given, add the per-ring plan delta to the effect.
	Reports []*inventory.Report
	Now     time.Time
}

// Result is the evaluation of a change.
type Result struct {
	BaseCommit, HeadCommit string
	Base, Head             *baseline.Repository
	Effect                 *plan.Effect
	Input                  gate.Input
	Decision               gate.Decision
	// Approvers are the logins whose approvals count: latest review per
	// user is an approval on the head commit, not by the author or the last
	// pusher.
	Approvers []string
	// EvidenceSource says where the evidence came from and whether the
	// audit chain verified.
	EvidenceSource string
}

// Evaluator evaluates changes; it keeps one prepared gate engine per policy
// bundle, so repeated decisions never re-prepare. It is safe for concurrent
// use.
type Evaluator struct {
	// Sandbox, when set, runs the evaluation of each change (CUE of both
	// sides, evidence, the decision) in a child process with its memory
	// limit and deadline; one that exceeds them is a *LimitError. Set it
	// wherever heads are untrusted (CI on pull requests, the server).
	Sandbox *sandbox.Runner

	mu      sync.Mutex
	engines map[string]*gate.Engine
}

// NewEvaluator returns an Evaluator with an empty engine cache.
func NewEvaluator() *Evaluator { return &Evaluator{engines: map[string]*gate.Engine{}} }

// Load resolves both revisions, loads the patch repository at each (a
// *SideError when one does not validate) and computes the effect — and,
// with req.Reports, the per-ring plan delta. It does not decide.
func Load(ctx context.Context, req Request) (*Result, error) {
	res := &Result{}
	baseRev, err := req.Repo.Resolve(req.Base)
	if err != nil {
		return nil, fmt.Errorf("resolve base %q: %w", req.Base, err)
	}
	headRev, err := req.Repo.Resolve(req.Head)
	if err != nil {
		return nil, fmt.Errorf("resolve head %q: %w", req.Head, err)
	}
	res.BaseCommit, res.HeadCommit = baseRev.String(), headRev.String()
	// The base is judged with its now-dependent checks as findings (an
	// exception that expired there must not block the pull request that
	// fixes it); the head is judged strictly.
	if res.Base, err = load(ctx, req.Repo, baseRev, "base", baseline.Options{Now: req.Now, ExpiryAsFinding: true}); err != nil {
		return nil, err
	}
	if res.Head, err = load(ctx, req.Repo, headRev, "head", baseline.Options{Now: req.Now}); err != nil {
		return nil, err
	}
	changed, err := req.Repo.ChangedPaths(ctx, baseRev, headRev)
	if err != nil {
		return nil, fmt.Errorf("changed paths: %w", err)
	}
	res.Effect = plan.ComputeEffect(plan.EffectInput{Base: res.Base, Head: res.Head, BaseRev: res.BaseCommit, HeadRev: res.HeadCommit,
		ChangedFiles: changed, Reports: req.Reports, Now: req.Now, IncludePlanDelta: len(req.Reports) > 0})
	return res, nil
}

// Load is the package's Load, in the evaluator's sandbox when it has one.
func (ev *Evaluator) Load(ctx context.Context, req Request) (*Result, error) {
	if ev.Sandbox != nil {
		return ev.sandboxed(ctx, jobLoad, req)
	}
	return Load(ctx, req)
}

// Evaluate loads both sides, computes the effect and decides — in the
// evaluator's sandbox when it has one.
func (ev *Evaluator) Evaluate(ctx context.Context, req Request) (*Result, error) {
	if ev.Sandbox != nil {
		return ev.sandboxed(ctx, jobEvaluate, req)
	}
	return ev.evaluate(ctx, req)
}

// addPlanDelta recomputes the effect with req.Reports, adding the per-ring
// plan delta (as Load does in-process).
func (res *Result) addPlanDelta(_ context.Context, req Request) error {
	if res.Effect == nil || res.Base == nil || res.Head == nil {
		return errors.New("plan delta: no effect")
	}
	res.Effect = plan.ComputeEffect(plan.EffectInput{Base: res.Base, Head: res.Head, BaseRev: res.BaseCommit, HeadRev: res.HeadCommit,
		ChangedFiles: res.Effect.ChangedFiles, Reports: req.Reports, Now: req.Now, IncludePlanDelta: true})
	return nil
}

func (ev *Evaluator) evaluate(ctx context.Context, req Request) (*Result, error) {
	res, err := Load(ctx, req)
	if err != nil {
		return nil, err
	}
	evidence := req.Evidence
	res.EvidenceSource = "given"
	if evidence == nil && req.EvidenceRecords != nil {
		if evidence, err = SignedEvidence(res.Base, req.TrustedKeys, req.EvidenceRecords); err != nil {
			return nil, err
		}
		res.EvidenceSource = fmt.Sprintf("given: %d signed ring.verified records, verified", len(evidence))
	}
	if evidence == nil {
		evidence, res.EvidenceSource, err = ReadEvidence(ctx, req.Repo, res.Base, req.TrustedKeys)
		if err != nil {
			return nil, err
		}
	}
	pr := req.PR
	if pr.HeadSHA == "" {
		pr.HeadSHA = res.HeadCommit
	}
	res.Input = BuildInput(res.Base, res.Head, res.Effect, pr, req.Reviews, evidence, req.Now)
	res.Approvers = Approvers(req.Reviews, pr)

	eng, err := ev.engine(ctx, res.Base.Policies)
	if err != nil {
		return nil, err
	}
	if res.Decision, err = eng.Decide(ctx, res.Input); err != nil {
		return nil, fmt.Errorf("decide: %w", err)
	}
	// The base was loaded with its now-dependent checks as findings: say
	// them, so that the pull request that renews or removes an expired
	// exception can pass and everyone sees why it is needed.
	for _, f := range res.Base.TimeFindings {
		res.Decision.Warn = append(res.Decision.Warn, gate.Finding{ID: "base.exception.expired", Package: "patchbay.change",
			Msg: "at the base commit: " + f.String() + " (it no longer counts)"})
	}
	return res, nil
}

// engine returns the prepared engine for the base commit's policies.
func (ev *Evaluator) engine(ctx context.Context, policies []baseline.File) (*gate.Engine, error) {
	files := make([]gate.File, len(policies))
	for i, p := range policies {
		files[i] = gate.File{Path: p.Path, Content: p.Content}
	}
	b, err := gate.WithBuiltin(files)
	if err != nil {
		return nil, fmt.Errorf("policy bundle: %w", err)
	}
	key := bundleKey(b)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if e := ev.engines[key]; e != nil {
		return e, nil
	}
	e, err := gate.New(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("prepare policies: %w", err)
	}
	ev.engines[key] = e
	return e, nil
}

func bundleKey(b gate.Bundle) string {
	var s []byte
	for _, f := range b.Files {
		s = append(s, f.Path...)
		s = append(s, 0)
		s = append(s, f.Content...)
		s = append(s, 0)
	}
	return baseline.Digest(s)
}

func load(ctx context.Context, repo *gitrepo.Repo, rev gitrepo.Hash, side string, opts baseline.Options) (*baseline.Repository, error) {
	tree, err := repo.TreeFS(rev)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", side, short(rev.String()), err)
	}
	r, err := baseline.Load(ctx, fs.FS(tree), opts)
	var verrs baseline.Errors
	if errors.As(err, &verrs) {
		return nil, &SideError{Side: side, Commit: rev.String(), Errors: verrs}
	}
	return r, err
}

// ReadEvidence returns the ring.verified records of the audit trail in
// repo's notes, if the whole chain verifies against the trusted keys (the
// config's plus extra). With no trusted key at all, or a chain that does not
// verify, it returns no evidence and says why: unverifiable evidence never
// counts.
func ReadEvidence(ctx context.Context, repo *gitrepo.Repo, cfg *baseline.Repository, extra [][]byte) ([]gate.Evidence, string, error) {
	pems := trustedPEMs(cfg, extra)
	log, err := audit.Read(ctx, repo)
	if err != nil {
		return nil, "", fmt.Errorf("read audit trail: %w", err)
	}
	records := log.Of(audit.KindRingVerified)
	if len(records) == 0 {
		return []gate.Evidence{}, "audit trail: no ring.verified records", nil
	}
	if len(pems) == 0 {
		return []gate.Evidence{}, fmt.Sprintf("audit trail: %s ignored: no trusted key (config.trustedKeys or --key)", plural.Count(len(records), "ring.verified record")), nil
	}
	keys, err := audit.ParseTrustedKeys(pems...)
	if err != nil {
		return nil, "", fmt.Errorf("trusted keys: %w", err)
	}
	if problems := audit.VerifyLog(log, keys); len(problems) > 0 {
		return []gate.Evidence{}, fmt.Sprintf("audit trail: %s ignored: the chain does not verify (%s)", plural.Count(len(records), "ring.verified record"), problems[0]), nil
	}
	out := []gate.Evidence{}
	for _, r := range records {
		p, err := r.Decode()
		if err != nil {
			return nil, "", fmt.Errorf("decode %s: %w", r.Where(), err)
		}
		v := p.(*audit.RingVerified)
		out = append(out, evidenceOf(v))
	}
	return out, fmt.Sprintf("audit trail: %s", plural.Count(len(out), "verified ring.verified record")), nil
}

// trustedPEMs are the base config's trusted keys, then extra.
func trustedPEMs(cfg *baseline.Repository, extra [][]byte) [][]byte {
	var pems [][]byte
	for _, name := range sortedKeys(cfg.Config.TrustedKeys) {
		pems = append(pems, []byte(cfg.Config.TrustedKeys[name].PublicKey))
	}
	return append(pems, extra...)
}

// SignedEvidence verifies each record line (a DSSE envelope as stored in a
// note) against the base config's trusted keys plus extra and returns the
// ring.verified records as evidence. Anything else — unsigned JSON, an
// unknown key, another kind of record — is refused with ErrEvidence.
func SignedEvidence(base *baseline.Repository, extra [][]byte, lines [][]byte) ([]gate.Evidence, error) {
	pems := trustedPEMs(base, extra)
	if len(pems) == 0 {
		return nil, fmt.Errorf("%w: no trusted key to verify it with (config.trustedKeys at the base, or --trust)", ErrEvidence)
	}
	keys, err := audit.ParseTrustedKeys(pems...)
	if err != nil {
		return nil, fmt.Errorf("trusted keys: %w", err)
	}
	out := []gate.Evidence{}
	for i, line := range lines {
		rec, err := audit.VerifyRecord(line, keys)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %w (give signed ring.verified records, one envelope per line, as the audit trail stores them)", ErrEvidence, i+1, err)
		}
		p, err := rec.Decode()
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %w", ErrEvidence, i+1, err)
		}
		v, ok := p.(*audit.RingVerified)
		if !ok {
			return nil, fmt.Errorf("%w: record %d is a %s record, not ring.verified", ErrEvidence, i+1, rec.Kind)
		}
		out = append(out, evidenceOf(v))
	}
	return out, nil
}

// evidenceOf is a ring.verified record as gate evidence.
func evidenceOf(v *audit.RingVerified) gate.Evidence {
	tested := make([]gate.TestedVersion, 0, len(v.TestedSet))
	for _, t := range v.TestedSet {
		tested = append(tested, gate.TestedVersion{Stream: t.Stream, Package: t.Package, Version: t.Version, Hosts: t.Hosts})
	}
	return gate.Evidence{Ring: v.Ring, Baseline: v.BaselineID, BaselineDigest: v.BaselineDigest, Commit: v.Commit,
		SuccessRate: v.SuccessRate, SoakHours: v.SoakHours, VerifiedAt: v.VerifiedAt, HostsTotal: v.HostsTotal, HostsChanged: hostsChanged(v),
		TestedSet: tested}
}

// hostsChanged is the record's HostsChanged, or for a record written
// before that field existed its HostsSucceeded.
func hostsChanged(v *audit.RingVerified) int {
	if v.HostsChanged > 0 {
		return v.HostsChanged
	}
	return v.HostsSucceeded
}

// BuildInput converts the models and the effect into the gate's input. The
// config, rings and (through the caller) policies come from the base.
func BuildInput(base, head *baseline.Repository, e *plan.Effect, pr gate.PullRequest, reviews []gate.Review, evidence []gate.Evidence, now time.Time) gate.Input {
	in := gate.Input{
		Base: gate.Commit{Commit: e.Base}, Head: gate.Commit{Commit: e.Head}, Now: now.UTC(),
		Config: gate.Config{Approvers: base.Config.Approvers, PolicyOwners: base.Config.PolicyOwners, Security: base.Config.Security,
			Exceptions: gate.ExceptionLimits{MaxDays: base.Config.Exceptions.MaxDays}},
		PR: pr, Reviews: reviews, Evidence: evidence,
	}
	for _, r := range base.Rings {
		g := gate.Ring{Name: r.Name, Baseline: r.Baseline, SoakHours: time.Duration(r.Soak).Hours(), SuccessThreshold: r.SuccessThreshold,
			Approvals: gate.Approvals{Required: r.Approvals.Required, Groups: r.Approvals.Groups}, MinHosts: max(r.MinHosts, 1)}
		for _, f := range r.Freeze {
			g.Freeze = append(g.Freeze, gate.Freeze{From: string(f.From), To: string(f.To), Reason: f.Reason})
		}
		in.Rings = append(in.Rings, g)
	}
	ecos := map[string]vercmp.Ecosystem{}
	for name, s := range head.Config.Streams {
		ecos[name] = s.Ecosystem
	}
	for name, s := range base.Config.Streams {
		ecos[name] = s.Ecosystem
	}
	cmp := gate.VercmpFunc(ecos)
	for _, m := range e.RingsMoved {
		in.Change.RingsMoved = append(in.Change.RingsMoved, gate.RingMove{Ring: m.Ring, From: m.From, To: m.To, ToDigest: m.ToDigest,
			Floors: gate.FloorChanges(floors(base.Baselines[m.From]), floors(head.Baselines[m.To]), cmp)})
	}
	for _, c := range e.BaselinesAdded {
		in.Change.Baselines = append(in.Change.Baselines, gate.BaselineChange{ID: c.ID, Status: "added", HeadDigest: c.After, Rules: rules(head.Baselines[c.ID])})
	}
	for _, c := range e.BaselinesChanged {
		in.Change.Baselines = append(in.Change.Baselines, gate.BaselineChange{ID: c.ID, Status: "changed", BaseDigest: c.Before, HeadDigest: c.After, Rules: rules(head.Baselines[c.ID])})
	}
	for _, c := range e.BaselinesRemoved {
		in.Change.Baselines = append(in.Change.Baselines, gate.BaselineChange{ID: c.ID, Status: "removed", BaseDigest: c.Before})
	}
	headEx := map[string]*baseline.Exception{}
	for _, x := range head.Exceptions {
		headEx[x.ID] = x
	}
	add := func(id, status string) {
		x := headEx[id]
		if x == nil {
			in.Change.Exceptions = append(in.Change.Exceptions, gate.ExceptionChange{ID: id, Status: status})
			return
		}
		in.Change.Exceptions = append(in.Change.Exceptions, gate.ExceptionChange{ID: id, Status: status, Owner: x.Owner, Reason: x.Reason,
			CompensatingControl: x.CompensatingControl, Granted: string(x.Granted), Expires: string(x.Expires), KEV: waivesKEV(head, x)})
	}
	for _, id := range e.ExceptionsAdded {
		add(id, "added")
	}
	for _, id := range e.ExceptionsChanged {
		add(id, "changed")
	}
	for _, id := range e.ExceptionsRemoved {
		add(id, "removed")
	}
	in.Change.Files = e.ChangedFiles
	in.Change.Classes = Classify(base, head, e.ChangedFiles)
	in.Change.EffectDigest = e.Digest
	return gate.Canonical(in)
}

// waivesKEV reports whether any baseline's rule the exception waives is KEV.
func waivesKEV(repo *baseline.Repository, x *baseline.Exception) bool {
	for _, b := range repo.Baselines {
		sr := b.Streams[x.Stream]
		if sr == nil {
			continue
		}
		if r := sr.Packages[x.Package]; x.Package != "" && r != nil && r.KEV {
			return true
		}
		if r := sr.Sources[x.Source]; x.Source != "" && r != nil && r.KEV {
			return true
		}
	}
	return false
}

func eachRule(b *baseline.Baseline, fn func(stream, kind, name string, r *baseline.Rule)) {
	if b == nil {
		return
	}
	for _, stream := range sortedKeys(b.Streams) {
		sr := b.Streams[stream]
		for _, n := range sortedKeys(sr.Packages) {
			fn(stream, "package", n, sr.Packages[n])
		}
		for _, n := range sortedKeys(sr.Sources) {
			fn(stream, "source", n, sr.Sources[n])
		}
	}
}

func floors(b *baseline.Baseline) []gate.RuleFloor {
	out := []gate.RuleFloor{}
	eachRule(b, func(stream, kind, name string, r *baseline.Rule) {
		f := gate.RuleFloor{Stream: stream, Kind: kind, Name: name, Min: r.Min, Pin: r.Pin}
		if r.AllowDowngrade != nil {
			f.AllowDowngradeReason = r.AllowDowngrade.Reason
		}
		out = append(out, f)
	})
	return out
}

func rules(b *baseline.Baseline) []gate.RuleSummary {
	out := []gate.RuleSummary{}
	eachRule(b, func(stream, kind, name string, r *baseline.Rule) {
		s := gate.RuleSummary{Stream: stream, Kind: kind, Name: name, Min: r.Min, Pin: r.Pin, Block: r.Block}
		if r.Hold != nil {
			s.Hold, s.HoldReason = true, r.Hold.Reason
		}
		out = append(out, s)
	})
	return out
}

// Approvers returns the logins whose approval counts, as the policies count
// them: each user's latest review (by submission time) is APPROVED, on the
// head commit, and the user is neither the author nor the last pusher.
func Approvers(reviews []gate.Review, pr gate.PullRequest) []string {
	latest := map[string]gate.Review{}
	for _, r := range reviews {
		if r.State == "COMMENTED" {
			continue // a comment does not replace an approval
		}
		if l, ok := latest[r.User.Login]; !ok || r.SubmittedAt.After(l.SubmittedAt) {
			latest[r.User.Login] = r
		}
	}
	out := []string{}
	for login, r := range latest {
		if r.State == "APPROVED" && r.CommitID == pr.HeadSHA && login != pr.Author && login != pr.LastPusher {
			out = append(out, login)
		}
	}
	sort.Strings(out)
	return out
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
