// Package store owns the patchbay server's persistence: hosts and their
// tokens, package sets stored once per distinct set hash, bounded report
// history, plan snapshots, enrollment and admin tokens, webhook delivery ids,
// rollouts with idempotent host steps, the rollout controller's state
// (per-rollout progress, hosts with their wave and outcome, an outbox of
// transitions still to be audited, named marks such as the processed-commit
// cursor; all written through Apply, one transaction checked against a
// fencing token), and leader leases with fencing tokens.
//
// One API, two backends behind the concrete *Store: SQLite (modernc.org/sqlite,
// no cgo; the default, embedded) and PostgreSQL (github.com/jackc/pgx/v5 through
// database/sql, for several server replicas). Open picks the backend from the
// URL scheme, applies the embedded schema migrations under a migration lock
// (pg_advisory_lock on PostgreSQL, BEGIN IMMEDIATE on SQLite) and returns a
// ready store.
//
// Package sets are opaque bytes keyed by the caller's hash string: the store
// does not parse them and must not import engine/inventory (nor any other
// engine package); consumers declare the small interfaces they need over
// *Store. The store never reads the environment; clocks and limits come in
// through Options.
//
// Durability: SaveReport returns only after the transaction holding the host
// update, the history row and (when new) the package set has committed.
// Concurrent SaveReport calls are group-committed (Options.MaxBatch): a
// writer goroutine (one on SQLite, two on PostgreSQL, each host always on
// the same one) runs the waiting reports in one transaction, each under
// its own savepoint, so one failing report rolls back alone and the others
// share one fsync (SQLite) or WAL flush (PostgreSQL). On PostgreSQL the
// batch is pipelined: one round trip per report.
package store
