package gate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// benchInput is the benchmark's input (testdata/promotion-input.json).
func benchInput(t testing.TB) Input {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "promotion-input.json"))
	if err != nil {
		t.Fatal(err)
	}
	var in Input
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatal(err)
	}
	return in
}

// templateValue is what Decide gives the evaluation for in: the value
// built through e's template.
func templateValue(t *testing.T, e *Engine, in Input) (Input, []byte, bool) {
	t.Helper()
	norm := in.normalized()
	canon, base, lossy, err := norm.canonicalJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	return norm, canon[base[0]:base[1]], lossy
}

// TestBaseTemplateInvalidation decides a sequence of inputs whose config
// and rings change one byte at a time (and change back) and wants each
// value to equal the value built from scratch: a template is reused only
// for the very same config and rings. The pair of group names that are
// not valid UTF-8 encode to the same JSON; without the lossy check the
// second would get the first's value.
func TestBaseTemplateInvalidation(t *testing.T) {
	e := &Engine{}
	base := benchInput(t)
	edits := []struct {
		name     string
		edit     func(*Input)
		wantsHit bool
	}{
		{"first", func(*Input) {}, false},
		{"same base parts", func(in *Input) { in.PR.Number++; in.Change.Files = []string{"x"} }, true},
		{"approver removed", func(in *Input) { in.Config.Approvers["sre"] = []string{"alice", "carol"} }, false},
		{"back", func(*Input) {}, false},
		{"same again", func(*Input) {}, true},
		{"group renamed", func(in *Input) {
			in.Config.Approvers["srf"] = in.Config.Approvers["sre"]
			delete(in.Config.Approvers, "sre")
		}, false},
		{"max days", func(in *Input) { in.Config.Exceptions.MaxDays = 91 }, false},
		{"policy owners", func(in *Input) { in.Config.PolicyOwners = "policy-ownerz" }, false},
		{"required approvals", func(in *Input) { in.Rings[1].Approvals.Required = 3 }, false},
		{"threshold", func(in *Input) { in.Rings[2].SuccessThreshold = 0.981 }, false},
		{"freeze", func(in *Input) { in.Rings[2].Freeze[0].To = "2027-01-05" }, false},
		{"ring order", func(in *Input) { in.Rings[0], in.Rings[1] = in.Rings[1], in.Rings[0] }, false},
		{"no rings", func(in *Input) { in.Rings = nil }, false},
		{"invalid UTF-8 ff", func(in *Input) { in.Config.Approvers = map[string][]string{"g\xff": {"a"}} }, false},
		{"invalid UTF-8 fe", func(in *Input) { in.Config.Approvers = map[string][]string{"g\xfe": {"a"}} }, false},
	}
	for _, x := range edits {
		in := benchInput(t)
		in.Rings[2].Freeze = append([]Freeze(nil), base.Rings[2].Freeze...)
		x.edit(&in)
		norm, baseJSON, lossy := templateValue(t, e, in)
		before := e.base.Load()
		got := e.inputValue(norm, baseJSON, lossy)
		if want := norm.value(); got.Compare(want) != 0 {
			t.Fatalf("%s: the value differs from one built from scratch:\n got %v\nwant %v", x.name, got, want)
		}
		if hit := before != nil && e.base.Load() == before && !lossy; hit != x.wantsHit {
			t.Errorf("%s: template reused %v, want %v", x.name, hit, x.wantsHit)
		}
	}
}

// TestDecideTemplateConcurrent decides inputs with three different
// configs and rings (and so different findings) from many goroutines at
// once on one engine, its template changing under them, and wants each
// decision to be the one a fresh engine, without a template, gives that
// input. Run with -race: the template's terms are read by concurrent
// evaluations.
func TestDecideTemplateConcurrent(t *testing.T) {
	files, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	engine := func() *Engine {
		e, err := New(context.Background(), Bundle{Files: files})
		if err != nil || e.Err() != nil {
			t.Fatal(err, e.Err())
		}
		return e
	}
	ins := []Input{benchInput(t), benchInput(t), benchInput(t)}
	ins[1].Config.Approvers["sre"] = []string{"carol"}
	ins[2].Rings[1].Approvals.Required = 5
	want := make([]string, len(ins))
	for i, in := range ins {
		d, err := engine().Decide(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(d)
		want[i] = string(b)
		if (i == 0) != (d.Result == Pass) || (i > 0 && len(d.Deny) == 0) {
			t.Fatalf("input %d: %s, deny %v; the test needs input 0 to pass and the others, whose config or rings differ, to be denied", i, d.Result, d.Deny)
		}
	}
	e := engine()
	for i, in := range ins { // sequentially: each replaces the template
		d, err := e.Decide(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(d); string(b) != want[i] {
			t.Errorf("input %d after input %d: decision %s, fresh engine %s", i, (i+len(ins)-1)%len(ins), b, want[i])
		}
	}
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 6 {
				i := (g + j) % len(ins)
				d, err := e.Decide(context.Background(), ins[i])
				if err != nil {
					t.Error(err)
					return
				}
				if b, _ := json.Marshal(d); string(b) != want[i] {
					t.Errorf("input %d: decision %s, fresh engine %s", i, b, want[i])
				}
			}
		}()
	}
	wg.Wait()
}

// TestInputAllocations bounds the allocations of a decision's Go side on
// the benchmark input with the template in place (normalizing, the
// canonical JSON, the value): everything but the evaluation. With
// json.Marshal and the whole value built per decision it took 286; with
// the template and the shared lists, 154.
func TestInputAllocations(t *testing.T) {
	e := &Engine{}
	norm := benchInput(t).normalized()
	buf := make([]byte, 0, 4096)
	run := func() {
		n := norm.normalizedView()
		canon, base, lossy, err := n.canonicalJSON(buf[:0])
		if err != nil {
			t.Fatal(err)
		}
		_ = e.inputValue(n, canon[base[0]:base[1]], lossy)
	}
	run()
	if n := testing.AllocsPerRun(20, run); n > 160 {
		t.Errorf("the input took %.0f allocations, want at most 160", n)
	}
	// Bytes too: 11,530 per decision while the first slab of terms was
	// always 128 (the value takes 68), 10,138 with it sized by the last
	// decision.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 20 {
		run()
	}
	runtime.ReadMemStats(&after)
	if b := (after.TotalAlloc - before.TotalAlloc) / 20; b > 10600 {
		t.Errorf("the input took %d bytes, want at most 10,600", b)
	}
}

// TestDecideAllocationsOverEvaluation bounds what Decide allocates beyond
// its input's Go side (TestInputAllocations) and the evaluation itself, on
// the benchmark input (a pass with every reporting rule empty): the budget
// timer and its cancel, the digest string, reading the findings. It was 38:
// reading an empty finding set took three allocations per reporting rule
// (Foreach's escaping closure), sorting the findings one per kind, the
// digest two and the context watcher two for a context that cannot end.
// Now it is 6.
func TestDecideAllocationsOverEvaluation(t *testing.T) {
	files, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(context.Background(), Bundle{Files: files})
	if err != nil || e.Err() != nil {
		t.Fatal(err, e.Err())
	}
	in := benchInput(t)
	ctx := context.Background()
	if d, err := e.Decide(ctx, in); err != nil || d.Result != Pass {
		t.Fatalf("decision %s, err %v, errors %v", d.Result, err, d.Errors)
	}
	decide := testing.AllocsPerRun(20, func() { _, _ = e.Decide(ctx, in) })
	norm := in.normalizedView()
	buf := make([]byte, 0, 4096)
	canon, base, lossy, err := norm.canonicalJSON(buf)
	if err != nil {
		t.Fatal(err)
	}
	value := e.inputValue(norm, canon[base[0]:base[1]], lossy)
	goSide := testing.AllocsPerRun(20, func() {
		n := in.normalizedView()
		c, b, l, _ := n.canonicalJSON(buf[:0])
		_ = e.inputValue(n, c[b[0]:b[1]], l)
	})
	eval := testing.AllocsPerRun(20, func() {
		_, _ = e.query.Eval(ctx, rego.EvalParsedInput(value), rego.EvalExternalCancel(topdown.NewCancel()))
	})
	t.Logf("Decide %.0f allocations, Go side %.0f, evaluation %.0f", decide, goSide, eval)
	if over := decide - goSide - eval; over > 8 {
		t.Errorf("Decide took %.0f allocations: %.0f more than its input's Go side (%.0f) and the evaluation (%.0f), want at most 8", decide, over, goSide, eval)
	}
}
