package gate

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one Rego test.
type TestResult struct {
	// File is the path of the test's file.
	File string `json:"file"`
	// Name is the test's full name, e.g. data.patchbay.promotion_test.test_frozen.
	Name string `json:"name"`
	// Result is PASS, FAIL, ERROR or SKIPPED.
	Result string `json:"result"`
	// Error is the error of an erroring test.
	Error string `json:"error,omitempty"`
	// Duration is how long the test ran; not encoded, so that output is
	// reproducible.
	Duration time.Duration `json:"-"`
}

// RunTests compiles all files (policies and *_test.rego tests) together and
// runs every test with OPA's tester, the engine behind `opa test`, with the
// capabilities the gate evaluates with (no nondeterministic built-ins). A parse
// or compile error is returned as an error wrapping ErrPolicy. Results are
// sorted by file and name.
func RunTests(ctx context.Context, files []File) ([]TestResult, error) {
	mods := make(map[string]*ast.Module, len(files))
	for _, f := range files {
		m, err := ast.ParseModuleWithOpts(f.Path, string(f.Content), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
		}
		mods[f.Path] = m
	}
	compiler := ast.NewCompiler().WithCapabilities(capabilities())
	ch, err := tester.NewRunner().SetCompiler(compiler).SetModules(mods).RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{Name: r.Package + "." + r.Name, Duration: r.Duration}
		if r.Location != nil {
			tr.File = r.Location.File
		}
		switch {
		case r.Error != nil:
			tr.Result, tr.Error = "ERROR", r.Error.Error()
		case r.Skip:
			tr.Result = "SKIPPED"
		case r.Fail:
			tr.Result = "FAIL"
		default:
			tr.Result = "PASS"
		}
		out = append(out, tr)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}
