package gate_test

import (
	"context"
	"testing"

	"github.com/patchbay/patchbay/engine/gate"
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
