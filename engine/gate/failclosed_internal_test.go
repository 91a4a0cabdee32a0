package gate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// engineWith prepares the built-in policies plus one repository policy.
func engineWith(t *testing.T, policy string) *Engine {
	t.Helper()
	b, err := WithBuiltin([]File{{Path: "policy/repo.rego", Content: []byte(policy)}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if e.Err() != nil {
		t.Fatalf("engine: %v", e.Err())
	}
	return e
}

// passingInput is a change every built-in rule passes: nothing moved,
// nothing changed.
func passingInput() Input {
	return Input{Now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC), Head: Commit{Commit: "c0ffee"}, PR: PullRequest{Number: 1, HeadSHA: "c0ffee"}}
}

// TestBuiltinErrorInDenyFails: a deny rule whose built-in call fails at
// run time (division by zero) fails the decision. Without strict built-in
// errors the rule would be undefined and the change would pass.
func TestBuiltinErrorInDenyFails(t *testing.T) {
	ok, err := engineWith(t, "package patchbay.repo.ok\n\ndeny contains \"never\" if false\n").Decide(context.Background(), passingInput())
	if err != nil || ok.Result != Pass {
		t.Fatalf("control: %s %v %v %v, want pass", ok.Result, ok.Errors, ok.Deny, err)
	}
	e := engineWith(t, `package patchbay.repo.ratio

deny contains "too many labels per file" if {
	1 / count(input.pr.labels) > 3
}
`)
	d, err := e.Decide(context.Background(), passingInput())
	if err != nil {
		t.Fatal(err)
	}
	if d.Result != Fail || len(d.Errors) == 0 || !strings.Contains(strings.Join(d.Errors, "\n"), "divide by zero") {
		t.Fatalf("result %s, errors %q; want fail naming the division by zero", d.Result, d.Errors)
	}
}

// TestDecisionBudget: a policy that loops (8e9 iterations) fails the
// decision when the time budget is spent, and says so.
func TestDecisionBudget(t *testing.T) {
	e := engineWith(t, `package patchbay.repo.loop

deny contains "never" if {
	some i in numbers.range(1, 2000)
	some j in numbers.range(1, 2000)
	some k in numbers.range(1, 2000)
	i * j * k == -1
}
`)
	e.budget = 300 * time.Millisecond
	start := time.Now()
	d, err := e.Decide(context.Background(), passingInput())
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the decision took %s", took)
	}
	if d.Result != Fail || !strings.Contains(strings.Join(d.Errors, "\n"), ErrBudget.Error()) {
		t.Fatalf("result %s, errors %q; want fail with %q", d.Result, d.Errors, ErrBudget)
	}
	// The caller's own cancellation is still an error, not a decision.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	e.budget = time.Minute
	if _, err := e.Decide(ctx, passingInput()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Decide with the caller's deadline: %v, want context.DeadlineExceeded", err)
	}
}
