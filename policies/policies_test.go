package policies_test

import (
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/policies"
)

// TestEveryPolicyHasTests wants a *_test.rego beside every policy file.
func TestEveryPolicyHasTests(t *testing.T) {
	names, err := fs.Glob(policies.FS(), "*.rego")
	if err != nil {
		t.Fatal(err)
	}
	var policyFiles int
	for _, n := range names {
		if strings.HasSuffix(n, "_test.rego") {
			continue
		}
		policyFiles++
		if test := strings.TrimSuffix(n, ".rego") + "_test.rego"; !slices.Contains(names, test) {
			t.Errorf("%s has no %s", n, test)
		}
	}
	if policyFiles < 5 {
		t.Errorf("%d policy files embedded, want promotion, baseline, exception, approvals and lib", policyFiles)
	}
}
