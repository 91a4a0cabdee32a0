package change

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/sandbox"
)

// Sandbox job names.
const (
	jobEvaluate = "change.evaluate"
	jobLoad     = "change.load"
	jobLoadDir  = "change.loaddir"
)

// Jobs are the sandbox jobs of this package; a binary that evaluates
// changes in a sandbox passes them to sandbox.Serve when sandbox.IsChild.
func Jobs() map[string]sandbox.Job {
	return map[string]sandbox.Job{jobEvaluate: runEvaluate, jobLoad: runLoad, jobLoadDir: runLoadDir}
}

// LimitError is a change whose evaluation exceeded the sandbox's memory or
// time limit: the change's fault, reported to the pull request as a
// denial. It wraps *sandbox.LimitError.
type LimitError struct{ Err *sandbox.LimitError }

func (e *LimitError) Error() string { return e.Err.Error() }

// Unwrap returns the sandbox's error (errors.Is(err, sandbox.ErrLimit)).
func (e *LimitError) Unwrap() error { return e.Err }

// wireRequest is a Request as the child gets it: the repository by its
// directory, no reports (the parent adds the plan delta).
type wireRequest struct {
	RepoDir  string           `json:"repoDir"`
	Base     string           `json:"base"`
	Head     string           `json:"head"`
	PR       gate.PullRequest `json:"pr"`
	Reviews  []gate.Review    `json:"reviews"`
	Evidence []gate.Evidence  `json:"evidence"`
	// EvidenceRecords are Request.EvidenceRecords: signed records the child
	// verifies (without them --evidence would silently fall back to notes).
	EvidenceRecords [][]byte  `json:"evidenceRecords"`
	TrustedKeys     [][]byte  `json:"trustedKeys"`
	Now             time.Time `json:"now"`
}

// wireResult is a Result or the error that replaced it.
type wireResult struct {
	Result *wireResultBody `json:"result,omitempty"`
	Side   *SideError      `json:"side,omitempty"`
}

type wireResultBody struct {
	BaseCommit     string        `json:"baseCommit"`
	HeadCommit     string        `json:"headCommit"`
	Base           *wireRepo     `json:"base"`
	Head           *wireRepo     `json:"head"`
	Effect         *plan.Effect  `json:"effect"`
	Input          gate.Input    `json:"input"`
	Decision       gate.Decision `json:"decision"`
	Approvers      []string      `json:"approvers"`
	EvidenceSource string        `json:"evidenceSource"`
}

// wireRepo is a loaded repository with the fields its JSON leaves out.
type wireRepo struct {
	Repo           *baseline.Repository `json:"repo"`
	Policies       []baseline.File      `json:"policies"`
	BaselineDigest map[string]string    `json:"baselineDigest"`
	BaselineFile   map[string]string    `json:"baselineFile"`
	RingFile       map[string]string    `json:"ringFile"`
	ExceptionFile  map[string]string    `json:"exceptionFile"`
}

func toWireRepo(r *baseline.Repository) *wireRepo {
	if r == nil {
		return nil
	}
	w := &wireRepo{Repo: r, Policies: r.Policies, BaselineDigest: map[string]string{}, BaselineFile: map[string]string{},
		RingFile: map[string]string{}, ExceptionFile: map[string]string{}}
	for id, b := range r.Baselines {
		w.BaselineDigest[id], w.BaselineFile[id] = b.Digest, b.File
	}
	for _, x := range r.Rings {
		w.RingFile[x.Name] = x.File
	}
	for _, x := range r.Exceptions {
		w.ExceptionFile[x.ID] = x.File
	}
	return w
}

func (w *wireRepo) repository() *baseline.Repository {
	if w == nil || w.Repo == nil {
		return nil
	}
	r := w.Repo
	r.Policies = w.Policies
	for id, b := range r.Baselines {
		b.Digest, b.File = w.BaselineDigest[id], w.BaselineFile[id]
	}
	for _, x := range r.Rings {
		x.File = w.RingFile[x.Name]
	}
	for _, x := range r.Exceptions {
		x.File = w.ExceptionFile[x.ID]
	}
	return r
}

func toWire(req Request) (wireRequest, error) {
	if req.Repo == nil || req.Repo.Dir() == "" {
		return wireRequest{}, errors.New("sandbox: the repository must be on disk")
	}
	return wireRequest{RepoDir: req.Repo.Dir(), Base: req.Base, Head: req.Head, PR: req.PR, Reviews: req.Reviews,
		Evidence: req.Evidence, EvidenceRecords: req.EvidenceRecords, TrustedKeys: req.TrustedKeys, Now: req.Now}, nil
}

func (w wireRequest) request(ctx context.Context) (Request, func(), error) {
	repo, err := gitrepo.Open(w.RepoDir)
	if err != nil {
		return Request{}, nil, fmt.Errorf("open %s: %w", w.RepoDir, err)
	}
	return Request{Repo: repo, Base: w.Base, Head: w.Head, PR: w.PR, Reviews: w.Reviews, Evidence: w.Evidence,
		EvidenceRecords: w.EvidenceRecords, TrustedKeys: w.TrustedKeys, Now: w.Now}, func() { repo.Close() }, nil
}

func wireOf(res *Result, err error) (any, error) {
	var side *SideError
	if errors.As(err, &side) {
		return wireResult{Side: side}, nil
	}
	if err != nil {
		return nil, err
	}
	return wireResult{Result: &wireResultBody{BaseCommit: res.BaseCommit, HeadCommit: res.HeadCommit, Base: toWireRepo(res.Base), Head: toWireRepo(res.Head),
		Effect: res.Effect, Input: res.Input, Decision: res.Decision, Approvers: res.Approvers, EvidenceSource: res.EvidenceSource}}, nil
}

func runEvaluate(ctx context.Context, in json.RawMessage) (any, error) {
	var w wireRequest
	if err := json.Unmarshal(in, &w); err != nil {
		return nil, err
	}
	req, done, err := w.request(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	return wireOf(NewEvaluator().evaluate(ctx, req))
}

func runLoad(ctx context.Context, in json.RawMessage) (any, error) {
	var w wireRequest
	if err := json.Unmarshal(in, &w); err != nil {
		return nil, err
	}
	req, done, err := w.request(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	return wireOf(Load(ctx, req))
}

// sandboxed runs job for req in the evaluator's sandbox and rebuilds the
// result; with reports, the parent adds the plan delta to the effect (the
// reports never go to the child, and the decision does not read them).
func (ev *Evaluator) sandboxed(ctx context.Context, job string, req Request) (*Result, error) {
	w, err := toWire(req)
	if err != nil {
		return nil, err
	}
	var out wireResult
	if err := ev.Sandbox.Run(ctx, job, w, &out); err != nil {
		return nil, sandboxErr(err)
	}
	if out.Side != nil {
		return nil, out.Side
	}
	if out.Result == nil {
		return nil, fmt.Errorf("%w: %s: empty answer", sandbox.ErrChild, job)
	}
	b := out.Result
	res := &Result{BaseCommit: b.BaseCommit, HeadCommit: b.HeadCommit, Base: b.Base.repository(), Head: b.Head.repository(),
		Effect: b.Effect, Input: b.Input, Decision: b.Decision, Approvers: b.Approvers, EvidenceSource: b.EvidenceSource}
	if len(req.Reports) > 0 {
		if err := res.addPlanDelta(ctx, req); err != nil {
			return nil, err
		}
	}
	return res, nil
}

type wireDir struct {
	Dir string    `json:"dir"`
	Now time.Time `json:"now"`
}

type wireDirResult struct {
	Repo   *wireRepo       `json:"repo,omitempty"`
	Errors baseline.Errors `json:"errors,omitempty"`
}

func runLoadDir(ctx context.Context, in json.RawMessage) (any, error) {
	var w wireDir
	if err := json.Unmarshal(in, &w); err != nil {
		return nil, err
	}
	r, err := baseline.LoadDir(ctx, w.Dir, baseline.Options{Now: w.Now})
	var verrs baseline.Errors
	if errors.As(err, &verrs) {
		return wireDirResult{Errors: verrs}, nil
	}
	if err != nil {
		return nil, err
	}
	return wireDirResult{Repo: toWireRepo(r)}, nil
}

// LoadDir is baseline.LoadDir (a checkout, e.g. a pull request's head in
// CI), in the evaluator's sandbox when it has one: baseline.Errors when
// the repository does not validate, a *LimitError when it is too expensive
// to evaluate.
func (ev *Evaluator) LoadDir(ctx context.Context, dir string, now time.Time) (*baseline.Repository, error) {
	if ev.Sandbox == nil {
		return baseline.LoadDir(ctx, dir, baseline.Options{Now: now})
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var out wireDirResult
	if err := ev.Sandbox.Run(ctx, jobLoadDir, wireDir{Dir: abs, Now: now}, &out); err != nil {
		return nil, sandboxErr(err)
	}
	if len(out.Errors) > 0 {
		return nil, out.Errors
	}
	if r := out.Repo.repository(); r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("%w: %s: empty answer", sandbox.ErrChild, jobLoadDir)
}

// sandboxErr maps the sandbox's errors to this package's.
func sandboxErr(err error) error {
	var le *sandbox.LimitError
	if errors.As(err, &le) {
		return &LimitError{Err: le}
	}
	var je *sandbox.JobError
	if errors.As(err, &je) {
		// Errors cross the process boundary as text; the one the callers
		// branch on (refused evidence, exit 4) is restored.
		if rest, ok := strings.CutPrefix(je.Msg, ErrEvidence.Error()+": "); ok {
			return fmt.Errorf("%w: %s", ErrEvidence, rest)
		}
		return errors.New(je.Msg)
	}
	return err
}
