package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReusableWorkflow keeps the reusable workflow and the quickstart's use
// of it honest: actions pinned by commit SHA, a workflow_call trigger, and
// every patchbay command and flag the workflow runs exists in this CLI.
func TestReusableWorkflow(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", ".github", "workflows", "patchbay.yml"))
	if err != nil {
		t.Fatal(err)
	}
	wf := string(b)
	if !strings.Contains(wf, "\n  workflow_call:\n") {
		t.Error("the reusable workflow has no workflow_call trigger")
	}
	uses := regexp.MustCompile(`(?m)^\s*-?\s*uses: (\S+)`).FindAllStringSubmatch(wf, -1)
	if len(uses) == 0 {
		t.Fatal("no actions used")
	}
	for _, u := range uses {
		if !regexp.MustCompile(`^[\w.-]+/[\w.-]+@[0-9a-f]{40}$`).MatchString(u[1]) {
			t.Errorf("action %s is not pinned by commit SHA", u[1])
		}
	}
	root := (&app{}).newRootCmd()
	// Each step builds args=(...) and runs `patchbay <command> "${args[@]}"`.
	steps := regexp.MustCompile(`(?s)args=\(([^)]*)\).*?(?:args\+=\(([^)]*)\).*?)*patchbay ([a-z ]+?) "\$\{args\[@\]\}"`).FindAllStringSubmatch(wf, -1)
	seen := map[string]bool{}
	for _, s := range steps {
		path := strings.Fields(s[3])
		seen[strings.Join(path, " ")] = true
		cmd, rest, err := root.Find(path)
		if err != nil || len(rest) != 0 {
			t.Errorf("patchbay %s: not a command", s[3])
			continue
		}
		var args string
		for _, a := range regexp.MustCompile(`args\+?=\(([^)]*)\)`).FindAllStringSubmatch(s[0], -1) {
			args += " " + a[1]
		}
		for _, flag := range regexp.MustCompile(`(?:^|\s)(--?[a-zA-Z][\w-]*)`).FindAllStringSubmatch(args, -1) {
			name := strings.TrimLeft(flag[1], "-")
			if strings.HasPrefix(flag[1], "--") && cmd.Flags().Lookup(name) == nil || !strings.HasPrefix(flag[1], "--") && cmd.Flags().ShorthandLookup(name) == nil {
				t.Errorf("patchbay %s: no flag %s", s[3], flag[1])
			}
		}
	}
	for _, c := range []string{"diff", "gate", "github comment"} {
		if !seen[c] {
			t.Errorf("the workflow does not run patchbay %s", c)
		}
	}
	for _, c := range []string{"patchbay validate -C", "patchbay policy test -C"} {
		if !strings.Contains(wf, c) {
			t.Errorf("the workflow does not run %s", c)
		}
	}
	ex, err := os.ReadFile(filepath.Join("..", "..", "examples", "quickstart", ".github", "workflows", "patchbay.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ex), "uses: patchbay/patchbay/.github/workflows/patchbay.yml@") {
		t.Error("the quickstart does not use the reusable workflow")
	}
}

// TestWorkflowTrustFromBase (issue 12, item 5): the reusable workflow read
// its trust: key file from the pull request's checkout, so a pull request
// could bring the key its own evidence is checked with. The key is now
// read from the base branch's commit into a file outside the checkout.
func TestWorkflowTrustFromBase(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", ".github", "workflows", "patchbay.yml"))
	if err != nil {
		t.Fatal(err)
	}
	wf := string(b)
	if strings.Contains(wf, `--trust "$TRUST"`) {
		t.Error(`the workflow passes --trust "$TRUST", a path in the pull request's checkout`)
	}
	if !strings.Contains(wf, `git show "origin/$BASE_REF:$TRUST" > "$RUNNER_TEMP/patchbay-trust.pem"`) {
		t.Error("the workflow does not read the trusted key from the base branch")
	}
	if n := strings.Count(wf, `--trust "$RUNNER_TEMP/patchbay-trust.pem"`); n != 2 {
		t.Errorf("%d steps pass the base's key, want 2 (gate, github comment)", n)
	}
}
