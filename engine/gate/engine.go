package gate

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Result is the outcome of a gate decision.
type Result string

// The gate's results.
const (
	// Pass: every rule ran and none denied.
	Pass Result = "pass"
	// Fail: a rule denied, or the policies could not be evaluated.
	Fail Result = "fail"
	// Inconclusive: no rule denied but evidence is missing.
	Inconclusive Result = "inconclusive"
)

// Finding is one deny, warn or missing message.
type Finding struct {
	// ID is the stable rule id, e.g. "promotion.approvals.insufficient".
	ID string `json:"id"`
	// Msg is the message for people.
	Msg string `json:"msg"`
	// Package is the Rego package that reported it, e.g. "patchbay.promotion".
	Package string `json:"package"`
}

// Decision is the gate's verdict with every reason and the manifest of
// what was evaluated.
type Decision struct {
	Result Result `json:"result"`
	// Deny fail the gate; Warn are shown only; Missing name absent
	// evidence (inconclusive). Each sorted by id, message, package.
	Deny    []Finding `json:"deny"`
	Warn    []Finding `json:"warn"`
	Missing []Finding `json:"missing"`
	// Errors are why the policies could not be evaluated (compile errors,
	// no rules, evaluation errors); any error fails the gate.
	Errors   []string `json:"errors"`
	Manifest Manifest `json:"manifest"`
}

// Manifest records what a decision evaluated.
type Manifest struct {
	// BundleDigest is the SHA-256 over the policy files' digests and paths.
	BundleDigest string `json:"bundle_digest"`
	// Files are the policy files (tests excluded) and their digests.
	Files []FileDigest `json:"files"`
	// RulesEvaluated counts the reporting rules (deny, warn, missing per
	// package) whose results the evaluation produced.
	RulesEvaluated int `json:"rules_evaluated"`
	// InputDigest is "sha256:" and the SHA-256 of the canonical input JSON.
	InputDigest string `json:"input_digest"`
}

// reporting is one reporting rule: a package path and a kind.
type reporting struct {
	pkg  []string // e.g. ["patchbay", "promotion"]
	kind string   // deny, warn or missing
	// name is pkg joined by dots, e.g. "patchbay.promotion".
	name string
}

// DecisionBudget is how long one decision may evaluate. A decision that
// takes longer fails (ErrBudget): a loop in a policy denies, it does not
// hang the gate.
const DecisionBudget = 5 * time.Second

// Engine evaluates one policy bundle with a query prepared once. It is safe
// for concurrent use.
type Engine struct {
	// budget is the decision time budget (DecisionBudget; tests shorten it).
	budget    time.Duration
	query     rego.PreparedEvalQuery
	queryText string
	rules     []reporting
	files     []FileDigest
	digest    string
	brokenBy  error
	// parts are the last decision's input parts (see partTemplate),
	// indexed by partConfig and on; nil before the first.
	parts [nParts]atomic.Pointer[partTemplate]
	// terms is how many terms the last decision's input value took (see
	// inputValue).
	terms atomic.Int32
}

// New parses, compiles and prepares the bundle's policies (test files are
// ignored). The files MUST be read from the base commit of the change being
// judged: the built-in policies and the repository's policy/*.rego there.
//
// A bundle that cannot be used — a parse or compile error, a package
// outside patchbay, a repository file in a built-in package, no reporting
// rule or no deny rule, a built-in reporting rule missing — still yields an
// Engine: its Decide always fails, with the reason in Decision.Errors, and
// Err returns it. New returns an error only when ctx ends.
func New(ctx context.Context, b Bundle) (*Engine, error) {
	files := append([]File(nil), b.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	e := &Engine{budget: DecisionBudget}
	e.files, e.digest = digests(files)

	var opts []func(*rego.Rego)
	seen := map[string]bool{}
	// builtinPkgs are the packages of built-in files: a repository file
	// may not add rules to them (it could widen lib.valid_approvers).
	builtinPkgs := map[string]bool{}
	for _, f := range files {
		if f.IsTest() || !strings.HasPrefix(f.Path, BuiltinPrefix) {
			continue
		}
		if m, err := ast.ParseModuleWithOpts(f.Path, string(f.Content), ast.ParserOptions{RegoVersion: ast.RegoV1}); err == nil {
			builtinPkgs[m.Package.Path.String()] = true
		}
	}
	for _, f := range files {
		if f.IsTest() {
			continue
		}
		m, err := ast.ParseModuleWithOpts(f.Path, string(f.Content), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			e.brokenBy = fmt.Errorf("%w: %w", ErrPolicy, err)
			return e, nil
		}
		pkg, err := packagePath(m)
		if err != nil {
			e.brokenBy = fmt.Errorf("%w: %s: %w", ErrPolicy, f.Path, err)
			return e, nil
		}
		if !strings.HasPrefix(f.Path, BuiltinPrefix) && builtinPkgs[m.Package.Path.String()] {
			e.brokenBy = fmt.Errorf("%w: %s: package %s is a built-in package; repository policies need their own (e.g. package patchbay.repo.ticket)", ErrPolicy, f.Path, strings.Join(pkg, "."))
			return e, nil
		}
		for _, r := range m.Rules {
			name := ruleName(r)
			k := strings.Join(pkg, ".") + "." + name
			if !isKind(name) || seen[k] {
				continue
			}
			seen[k] = true
			e.rules = append(e.rules, reporting{pkg: pkg, kind: name, name: strings.Join(pkg, ".")})
		}
		opts = append(opts, rego.ParsedModule(m))
	}
	sort.Slice(e.rules, func(i, j int) bool {
		a, b := strings.Join(e.rules[i].pkg, "."), strings.Join(e.rules[j].pkg, ".")
		if a != b {
			return a < b
		}
		return e.rules[i].kind < e.rules[j].kind
	})
	if len(e.rules) == 0 || !hasDeny(e.rules) {
		e.brokenBy = fmt.Errorf("%w: the bundle has no deny rule in a package under patchbay", ErrNoRules)
		return e, nil
	}
	if err := requireBuiltin(seen); err != nil {
		e.brokenBy = err
		return e, nil
	}
	body := make(ast.Body, 0, len(e.rules))
	for _, r := range e.rules {
		ref := ast.Ref{ast.DefaultRootDocument}
		for _, p := range r.pkg {
			ref = append(ref, ast.StringTerm(p))
		}
		ref = append(ref, ast.StringTerm(r.kind))
		body = append(body, ast.NewExpr(ast.NewTerm(ref)))
	}
	e.queryText = body.String()
	// Keep results as Rego terms: collect reads them without converting
	// the whole result to Go values first.
	// Strict built-in errors: a built-in that fails (division by zero, a
	// malformed time) aborts the evaluation and fails the decision,
	// instead of leaving its rule undefined — a deny rule that errs must
	// not let the change pass.
	opts = append(opts, rego.StrictBuiltinErrors(true), rego.Capabilities(capabilities()), rego.ParsedQuery(body), rego.GenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }))
	q, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("prepare policies: %w", ctx.Err())
		}
		e.brokenBy = fmt.Errorf("%w: %w", ErrPolicy, err)
		return e, nil
	}
	e.query = q
	return e, nil
}

// Query returns the prepared query: one expression per reporting rule, in
// the order of the manifest count (e.g. "data.patchbay.approvals.deny;
// ..."); empty when the engine is broken. `opa bench` with this query and
// the same files and input measures the same evaluation.
func (e *Engine) Query() string { return e.queryText }

// Err returns why the engine's decisions always fail, or nil.
func (e *Engine) Err() error { return e.brokenBy }

// Files returns the policy files (tests excluded) and their digests.
func (e *Engine) Files() []FileDigest { return e.files }

// Rules returns the number of reporting rules (deny, warn, missing per
// package) the engine evaluates.
func (e *Engine) Rules() int { return len(e.rules) }

// requireBuiltin fails unless every reporting rule of the built-in
// policies is among the bundle's (seen, keyed "package.kind"): a bundle
// that forgot the built-in policies would otherwise pass on repository
// policies alone.
func requireBuiltin(seen map[string]bool) error {
	files, err := Builtin()
	if err != nil {
		return err
	}
	var missing []string
	for _, f := range files {
		if f.IsTest() {
			continue
		}
		m, err := ast.ParseModuleWithOpts(f.Path, string(f.Content), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return fmt.Errorf("%w: built-in %w", ErrPolicy, err)
		}
		pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
		for _, r := range m.Rules {
			name := ruleName(r)
			if k := pkg + "." + name; isKind(name) && !seen[k] && !slices.Contains(missing, k) {
				missing = append(missing, k)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: the bundle lacks the built-in policies (%s); build it with WithBuiltin", ErrPolicy, strings.Join(missing, ", "))
	}
	return nil
}

// ruleName is the first name of a rule's head: "deny" for
// "deny contains x if ...".
func ruleName(r *ast.Rule) string {
	if len(r.Head.Reference) > 0 {
		return r.Head.Reference[0].String()
	}
	return r.Head.Name.String()
}

// isKind reports whether name is a reporting rule's name.
func isKind(name string) bool {
	return name == "deny" || name == "warn" || name == "missing"
}

// capabilities are OPA's built-in functions less the nondeterministic ones
// (time.now_ns, http.send, rand.intn, net.lookup_ip_addr, opa.runtime,
// uuid.rfc4122, ...): a decision depends on its input alone, and a policy
// cannot reach the network. Using one is a compile error.
func capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	kept := c.Builtins[:0]
	for _, b := range c.Builtins {
		if !b.Nondeterministic {
			kept = append(kept, b)
		}
	}
	c.Builtins = kept
	return c
}

func hasDeny(rules []reporting) bool {
	for _, r := range rules {
		if r.kind == "deny" {
			return true
		}
	}
	return false
}

// packagePath returns the module's package path without "data", e.g.
// ["patchbay", "promotion"]; it must start with patchbay, which the
// prepared query evaluates.
func packagePath(m *ast.Module) ([]string, error) {
	var parts []string
	for _, t := range m.Package.Path[1:] {
		s, ok := t.Value.(ast.String)
		if !ok {
			return nil, fmt.Errorf("package %s: not a plain path", m.Package.Path)
		}
		parts = append(parts, string(s))
	}
	if len(parts) < 2 || parts[0] != "patchbay" {
		return nil, fmt.Errorf("package %s: policies must be in a package under patchbay (e.g. package patchbay.repo.ticket)", strings.TrimPrefix(m.Package.Path.String(), "data."))
	}
	return parts, nil
}

// Decide evaluates the policies on in and returns the decision. Missing
// evidence makes it inconclusive; any deny, policy error or evaluation
// error makes it fail; it passes only when every reporting rule produced a
// result and none denied. Decide returns an error only when ctx ends.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, fmt.Errorf("decide: %w", err)
	}
	d := Decision{
		Deny: []Finding{}, Warn: []Finding{}, Missing: []Finding{}, Errors: []string{},
		Manifest: Manifest{BundleDigest: e.digest, Files: e.files},
	}
	norm := in.normalizedView()
	buf := canonBuffers.Get().(*[]byte)
	canon, parts, err := norm.canonicalJSON((*buf)[:0])
	defer putCanonBuffer(buf, canon)
	if err != nil {
		return fail(d, fmt.Errorf("%w: encode input: %w", ErrEval, err)), nil
	}
	sum := sha256.Sum256(canon)
	d.Manifest.InputDigest = inputDigest(sum)
	if e.brokenBy != nil {
		return fail(d, e.brokenBy), nil
	}
	value := e.inputValue(norm, canon, parts)
	// The evaluation stops when ctx ends or the budget is spent. Both
	// cancel it through one topdown.Cancel given to the query, so that it
	// does not start a goroutine per evaluation to watch a context (what
	// OPA does for a context that can end), and nothing runs until one of
	// them fires.
	cancel := topdown.NewCancel()
	var overBudget atomic.Bool
	budget := time.AfterFunc(e.budget, func() { overBudget.Store(true); cancel.Cancel() })
	// A context that can never end (Done is nil, e.g. Background) needs
	// no watcher.
	stopCtx := func() bool { return false }
	if ctx.Done() != nil {
		stopCtx = context.AfterFunc(ctx, cancel.Cancel)
	}
	rs, err := e.query.Eval(ctx, rego.EvalParsedInput(value), rego.EvalExternalCancel(cancel))
	budget.Stop()
	stopCtx()
	if err != nil {
		if ctx.Err() != nil {
			return Decision{}, fmt.Errorf("evaluate policies: %w", ctx.Err())
		}
		if overBudget.Load() {
			return fail(d, fmt.Errorf("%w of %s (a policy loops or is too slow)", ErrBudget, e.budget)), nil
		}
		return fail(d, fmt.Errorf("%w: %w", ErrEval, err)), nil
	}
	if len(rs) != 1 || len(rs[0].Expressions) != len(e.rules) {
		return fail(d, fmt.Errorf("%w: a reporting rule is undefined (%s)", ErrEval, e.queryText)), nil
	}
	var errs []error
	for i, r := range e.rules {
		findings, err := collect(rs[0].Expressions[i].Value, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.Manifest.RulesEvaluated++
		switch r.kind {
		case "deny":
			d.Deny = append(d.Deny, findings...)
		case "warn":
			d.Warn = append(d.Warn, findings...)
		case "missing":
			d.Missing = append(d.Missing, findings...)
		}
	}
	for _, s := range [][]Finding{d.Deny, d.Warn, d.Missing} {
		sortFindings(s)
	}
	switch {
	case len(errs) > 0:
		return fail(d, errors.Join(errs...)), nil
	case d.Manifest.RulesEvaluated == 0:
		return fail(d, ErrNoRules), nil
	case len(d.Deny) > 0:
		d.Result = Fail
	case len(d.Missing) > 0:
		d.Result = Inconclusive
	default:
		d.Result = Pass
	}
	return d, nil
}

// inputDigest is "sha256:" and sum in hex, in one allocation.
func inputDigest(sum [sha256.Size]byte) string {
	const prefix = "sha256:"
	var b [len(prefix) + 2*sha256.Size]byte
	copy(b[:], prefix)
	hex.Encode(b[len(prefix):], sum[:])
	return string(b[:])
}

// Canonical returns in as the policies see it: times in UTC and empty
// arrays rather than null. Its JSON encoding is the canonical input whose
// SHA-256 is the manifest's input digest.
func Canonical(in Input) Input { return in.normalized() }

func fail(d Decision, err error) Decision {
	d.Result = Fail
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != "" {
			d.Errors = append(d.Errors, line)
		}
	}
	return d
}

// collect reads one reporting rule's findings out of its value (a Rego
// term). A finding is an object {"id", "msg"} or a bare string, whose id is
// then the package path without "patchbay." and the kind.
func collect(v any, r reporting) ([]Finding, error) {
	pkg := r.name
	t, _ := v.(*ast.Term)
	if t == nil {
		return nil, fmt.Errorf("%w: %s.%s was not evaluated", ErrEval, pkg, r.kind)
	}
	set, ok := t.Value.(ast.Set)
	if !ok {
		return nil, fmt.Errorf("%w: %s.%s is not a set (partial set rule wanted)", ErrEval, pkg, r.kind)
	}
	if set.Len() == 0 {
		// The usual case. Foreach's closure below escapes (Set is an
		// interface), so it and what it captures cost three allocations.
		return nil, nil
	}
	out := make([]Finding, 0, set.Len())
	var err error
	set.Foreach(func(x *ast.Term) {
		if err != nil {
			return
		}
		switch f := x.Value.(type) {
		case ast.String:
			out = append(out, Finding{ID: strings.TrimPrefix(pkg, "patchbay.") + "." + r.kind, Msg: string(f), Package: pkg})
		case ast.Object:
			id, _ := stringField(f, "id")
			msg, _ := stringField(f, "msg")
			if id == "" || msg == "" {
				err = fmt.Errorf("%w: %s.%s: a finding needs a string id and msg, got %v", ErrEval, pkg, r.kind, f)
				return
			}
			out = append(out, Finding{ID: id, Msg: msg, Package: pkg})
		default:
			err = fmt.Errorf("%w: %s.%s: a finding must be an object {id, msg} or a string, got %v", ErrEval, pkg, r.kind, x)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func stringField(o ast.Object, key string) (string, bool) {
	t := o.Get(ast.InternedTerm(key))
	if t == nil {
		return "", false
	}
	s, ok := t.Value.(ast.String)
	return string(s), ok
}

func sortFindings(s []Finding) {
	slices.SortFunc(s, func(a, b Finding) int {
		return cmp.Or(strings.Compare(a.ID, b.ID), strings.Compare(a.Msg, b.Msg), strings.Compare(a.Package, b.Package))
	})
}
