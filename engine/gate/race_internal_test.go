//go:build race

package gate

// raceEnabled: this test binary runs under the race detector, whose
// sync.Pool drops a quarter of what is put back, so allocation counts of
// pooled paths vary from run to run.
const raceEnabled = true
