// Package rollout owns the execution of merged changes: it turns a new
// commit on the main branch into one rollout per ring whose pinned baseline
// changed, releases the ring's non-compliant hosts in waves bounded by the
// ring's maxConcurrency, inside its maintenance windows and outside its
// freezes, halts when failures exceed maxErrors, and — once the ring has
// soaked — writes the signed ring.verified record that the next
// promotion's gate reads as evidence.
//
// # Trigger
//
// The controller polls the main branch and processes new first-parent
// commits oldest first (a cursor in the store). A ring whose pinned
// baseline (id or digest) differs from its last rollout — or, for a ring
// that never had one, from the commit's first parent — gets one rollout
// bound to that commit and digest; the first start adopts the head as it
// is. A commit that does not validate starts nothing and is listed
// (Controller.List). Hint (from the GitHub integration) only wakes the
// controller early and supplies the pull request's facts for change.merged;
// without it they come from the newest gate.decision on the merged head,
// else from the merge message.
//
// # Windows and estimates
//
// A wave starts, and a host gets actions, only inside its ring's
// maintenance window (ScheduleAt; time zone aware, no windows = always
// open) and never on a freeze date. A host whose actions (ActionEstimate
// each, RebootEstimate for a reboot) would not end before the window
// closes gets none; its assignment's hold and notBefore say why and when.
//
// # Driving it
//
// Run ticks every Options.Tick on every replica; the one holding the store
// lease is the leader. Step runs exactly one tick, and Options.Now injects
// the clock, so tests and demos drive rollouts deterministically and fast.
// Assignment (the server's Assigner), List, Show, Pause, Resume, Abort and
// Hint work on any replica.
//
// # State machine
//
// A rollout is in one of these states (store.Rollout.State):
//
//	running    waves are being released; hosts of the current wave get work
//	paused     an admin paused it: no host starts (patchbay rollout pause)
//	halted     failures exceeded maxErrors: no host starts until resume or abort
//	completed  every host finished and the success rate met successThreshold;
//	           the ring is soaking
//	verified   the soak passed; ring.verified was written (terminal)
//	failed     every host finished but the success rate is below
//	           successThreshold (terminal)
//	aborted    an admin aborted it (terminal)
//	superseded a newer merge moved the same ring on (terminal)
//	unreviewed the commit was not reviewed: no passing gate.decision
//	           about it (or its merged head) in an audit trail that
//	           verifies against the trusted keys (the parent commit's
//	           config.trustedKeys, the controller's signer, Config.TrustedKeys),
//	           and no merged pull request with counted approvals (the
//	           GitHub hint). A direct push to main lands here. No host
//	           starts until an admin approves it (patchbay rollout approve
//	           ID --reason ...).
//
// Transitions, and the audit record each one writes:
//
//	(new commit)          → running     change.merged (once per commit), rollout.started
//	(new commit, not reviewed) → unreviewed  rollout.unreviewed (why)
//	unreviewed → running  (admin approve, reason)      rollout.approved{actor, reason}, rollout.started
//	unreviewed → superseded (a newer merge)            rollout.finished{cancelled}
//	running  → running    (a wave ends) rollout.wave
//	running  → halted     (failures > maxErrors)       rollout.wave{halted: true}
//	running  → paused     (admin)                      rollout.wave{halted: true}
//	paused, halted → running (admin resume)            rollout.wave{halted: false}
//	running  → completed  (no host left)               rollout.finished{succeeded}
//	running  → failed     (no host left, below threshold) rollout.finished{failed}
//	completed → verified  (soak passed)                ring.verified
//	completed stays       (the rollout changed no host) no ring.verified: a ring
//	                      that ran nothing proved nothing
//	running, paused, halted → aborted (admin)          rollout.finished{cancelled}
//	running, paused, halted, completed → superseded    rollout.finished{cancelled}
//
// The audit package's record kinds are used unchanged: pause and resume are
// rollout.wave records for the current wave with halted true and false.
// Resume raises the error budget: failures counted before the resume do
// not count against maxErrors again.
//
// A rollout covers the ring's hosts that are not compliant with its
// baseline when it starts; while it runs, hosts that report later (or fall
// out of compliance) join it as pending hosts (Options.JoinEvery).
//
// A rollout's hosts (store.RolloutHost) move pending → running (assigned to
// a wave) → succeeded | failed | timedout, or pending → cancelled when the
// rollout is aborted or superseded. A host is finished when a step result
// is recorded for every action it was expected to run (the step table's
// idempotency key is host, baseline digest, action: a redelivered result
// changes nothing); it failed as soon as one result failed; it timed out
// when its step went silent (see Controller.deadline: no fetch of its
// actions within Options.PickupTimeout, no heartbeat for the ring's
// strategy.stepTimeout — plus Options.RebootGrace after a "rebooting"
// heartbeat), and in any case when its wave ran longer than
// Options.WaveTimeout. A host whose agent runs in dry-run mode
// (store.Host.DryRunAt) never takes a wave slot: a running one that has
// not started is handed back (pending) and its slot given to the next
// host; when only such hosts are left they end as skipped.
//
// # Exactly once, crashes and several replicas
//
// Every controller write is one store transaction (store.Store.Apply)
// under the controller lease's fencing token: a deposed leader's late write
// is refused. Each transition inserts its audit record into an outbox
// table in the same transaction; the leader writes outbox entries to the
// Git notes and marks them written. Rollout ids are ring + commit, so a
// commit processed twice (a crash before the processed-commit cursor moved)
// creates nothing twice. A controller that restarts reads everything from
// the store and continues; finished hosts are never assigned again, and
// actions with a recorded result are left out of assignments.
//
// Git notes are not in the store's transaction, so every outbox entry is
// written with audit.Writer.WriteOnce: inside the notes ref's
// compare-and-swap it checks that the note does not already hold an equal
// record (a predecessor — or this leader in an earlier term — wrote it and
// was deposed before marking the entry), so two leaders whose terms
// overlap still write it once. A holder whose lease lapsed and who takes
// it again starts a new term (a new fencing token).
//
// # Publishing
//
// With Options.Remote (serve --repo) the leader publishes instead of only
// writing local notes: fetch the remote's refs/notes/patchbay, make the
// local ref the remote's, re-chain the pending entries onto the remote
// head (skipping those already there), push (a compare-and-swap on the
// remote ref), mark them written only once the push is acknowledged, and
// on a lost race start again after a backoff. The chain head is the
// remote's, whatever the number of replicas. A repository lease
// (gitrepo.LeaseRef, see holdRepo) keeps a second deployment on another
// database from running the same rollouts.
//
// # Imports
//
// rollout imports engine/store, plan, baseline, audit, gitrepo, inventory
// and api (wire types of assignments and rollout views). It must not
// import server, github or cmd, and it never reads the environment.
package rollout
