package gate

import "errors"

// Sentinel errors. A Decision carries their text; the engine never passes
// a gate because of them.
var (
	// ErrNoRules means the bundle has no rule that reports deny, warn or
	// missing (or none that reports deny): nothing would be checked.
	ErrNoRules = errors.New("no policy rules to evaluate")
	// ErrPolicy means a policy file failed to parse or compile, or is not
	// in a package under patchbay.
	ErrPolicy = errors.New("policy error")
	// ErrEval means evaluating the policies failed or produced a malformed
	// finding.
	ErrEval = errors.New("policy evaluation failed")
	// ErrBudget means evaluating the policies took longer than the
	// decision's time budget (DecisionBudget); the decision fails.
	ErrBudget = errors.New("policy evaluation exceeded its time budget")
)
