// Package baseline owns the desired-state model of a patch repository: it
// loads patchbay.cue, baselines/, rings/ and exceptions/ from a directory or
// any fs.FS, validates them against the embedded CUE schemas and patchbay's
// own cross-checks, and computes baseline digests.
//
// Every problem is reported as an Error naming file:line:col (relative to the
// repository root), the data path and one line of what is wrong; a broken
// file never hides errors in other files. Time-dependent checks (exception
// expiry) take `now` from the caller; the package never reads the clock.
//
// It may import engine/vercmp and engine/inventory only; it must not import
// plan, gate, rollout, store, server or cmd.
package baseline
