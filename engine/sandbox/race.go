//go:build race

package sandbox

// raceEnabled: this binary runs under the race detector, whose runtime
// reserves large address ranges and dies with SIGSEGV, not Go's "out of
// memory", when the child's address-space limit refuses a mapping.
const raceEnabled = true
