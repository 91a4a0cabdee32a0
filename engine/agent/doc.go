// Package agent owns patchbay-agent's work on a host: credentials from
// enrollment, the API client (hash-first reports, assignments, results)
// with retries, backoff and jitter, the loop collect → report → fetch
// assignment → apply → re-collect → report the post-state → send results,
// the package-manager executors (apt, dnf, apk and a dry run that prints
// their commands), the post-state check that decides success (versions
// compared with engine/vercmp, never the exit status of a command), and the
// on-disk spool that delivers results exactly once across restarts, and
// the heartbeats that tell the server a step is alive (see AGENT.md).
//
// It is linked into the small agent binary: it may import engine/api,
// engine/inventory, engine/vercmp and the standard library only — never
// baseline (CUE), plan, store, server, OPA or go-github.
package agent
