package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the agent small: it must not link OPA, CUE, go-github,
// nor the server-side engine packages.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{"engine/api": true, "engine/agent": true, "engine/inventory": true, "engine/vercmp": true, "engine/plural": true, "engine/cli": true}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"cuelang.org", "open-policy-agent", "google/go-github"} {
			if strings.Contains(dep, bad) {
				t.Errorf("patchbay-agent links %s", dep)
			}
		}
		if rest, ok := strings.CutPrefix(dep, "github.com/patchbay/patchbay/"); ok && strings.HasPrefix(rest, "engine/") && !allowed[rest] {
			t.Errorf("patchbay-agent links %s; it may use engine/api, agent, inventory, vercmp, plural and cli only", dep)
		}
	}
}
