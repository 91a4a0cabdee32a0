package gate_test

import (
	"context"
	"encoding/json"
	"os/exec"
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

// TestOPACLIAgrees runs `opa test` on the built-in policies (when the opa
// CLI is on PATH) and wants the same tests with the same outcomes as
// RunTests, the engine of `patchbay policy test`.
func TestOPACLIAgrees(t *testing.T) {
	opa, err := exec.LookPath("opa")
	if err != nil {
		t.Skip("opa CLI not on PATH")
	}
	root := fixture.Root(t)
	cmd := exec.Command(opa, "test", "--format", "json", "policies/")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("opa test: %v\n%s", err, out)
	}
	var opaResults []struct {
		Location struct {
			File string `json:"file"`
		} `json:"location"`
		Package string          `json:"package"`
		Name    string          `json:"name"`
		Fail    bool            `json:"fail"`
		Error   json.RawMessage `json:"error"`
		Skip    bool            `json:"skip"`
	}
	if err := json.Unmarshal(out, &opaResults); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, r := range opaResults {
		res := "PASS"
		switch {
		case len(r.Error) > 0:
			res = "ERROR"
		case r.Skip:
			res = "SKIPPED"
		case r.Fail:
			res = "FAIL"
		}
		want[r.Location.File+" "+r.Package+"."+r.Name] = res
	}
	files, err := gate.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	res, err := gate.RunTests(context.Background(), files)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range res {
		got[r.File+" "+r.Name] = r.Result
	}
	if len(want) == 0 {
		t.Fatal("opa test ran no tests")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("opa test (-) and RunTests (+) disagree:\n%s", diff)
	}
}
