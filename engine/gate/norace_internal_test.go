//go:build !race

package gate

// raceEnabled: see race_internal_test.go.
const raceEnabled = false
