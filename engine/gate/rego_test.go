package gate_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/internal/fixture"
)

// TestBuiltinRegoTests runs the built-in policies' Rego tests.
func TestBuiltinRegoTests(t *testing.T) {
	files, err := gate.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	res, err := gate.RunTests(context.Background(), files)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) < 20 {
		t.Errorf("%d Rego tests ran, want at least 20", len(res))
	}
	for _, r := range res {
		if r.Result != "PASS" {
			t.Errorf("%s: %s %s %s", r.File, r.Name, r.Result, r.Error)
		}
	}
}

// TestOPACLIAgrees runs `opa test` (when the opa CLI is on PATH) on the
// built-in policies, alone and with the quickstart's repository policies,
// and wants the same tests with the same outcomes as RunTests, the engine
// of `patchbay policy test`.
func TestOPACLIAgrees(t *testing.T) {
	opa, err := exec.LookPath("opa")
	if err != nil {
		t.Skip("opa CLI not on PATH")
	}
	builtinFiles, err := gate.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		example string // an example repository whose policy/ is added
	}{
		{name: "built-in"},
		{name: "quickstart", example: "examples/quickstart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"test", "--format", "json", "policies/"}
			files := builtinFiles
			if tt.example != "" {
				args = append(args, tt.example+"/policy/")
				files = append(append([]gate.File(nil), builtinFiles...), repoPolicies(t, tt.example)...)
			}
			want := opaTest(t, opa, args, tt.example)
			res, err := gate.RunTests(context.Background(), files)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, r := range res {
				got[r.File+" "+r.Name] = r.Result
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("opa test (-) and RunTests (+) disagree:\n%s", diff)
			}
		})
	}
}

// opaTest runs the opa CLI at the module root and returns "file name" →
// PASS, FAIL, ERROR or SKIPPED, with example/ stripped from file paths.
func opaTest(t *testing.T, opa string, args []string, example string) map[string]string {
	t.Helper()
	cmd := exec.Command(opa, args...)
	cmd.Dir = fixture.Root(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("opa %v: %v\n%s", args, err, out)
	}
	var results []struct {
		Location struct {
			File string `json:"file"`
		} `json:"location"`
		Package string          `json:"package"`
		Name    string          `json:"name"`
		Fail    bool            `json:"fail"`
		Error   json.RawMessage `json:"error"`
		Skip    bool            `json:"skip"`
	}
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("opa test ran no tests")
	}
	m := map[string]string{}
	for _, r := range results {
		res := "PASS"
		switch {
		case len(r.Error) > 0:
			res = "ERROR"
		case r.Skip:
			res = "SKIPPED"
		case r.Fail:
			res = "FAIL"
		}
		file := r.Location.File
		if example != "" {
			file = strings.TrimPrefix(file, example+"/")
		}
		m[file+" "+r.Package+"."+r.Name] = res
	}
	return m
}
