// Package cycle runs the proposal cycles of config.cycles: binding,
// repeatable "match the fleet against the advisory feeds and propose the
// fixes as a pull request" runs, each for one period.
//
// A calendar cycle (schedule: every month on the nth weekday, every week
// on a weekday, every day; at a time in a time zone) has one period per
// occurrence, keyed by the occurrence's date ("2026-12-08"); [Current]
// finds the latest occurrence at or before now, so a server that was down
// at the occurrence catches up when it comes back. A KEV cycle (kev:
// within: "24h") proposes only the fixes of KEV-listed advisories; its
// period is keyed by the newest dateAdded of the KEV entries covered and a
// digest of their ids, so a new KEV entry makes a new period and an
// unchanged catalogue does not.
//
// [Run] matches, ranks and proposes (engine/advisory), writes the pull
// request body (the rules, what is left out, the plan delta if the first
// ring pinned the proposal, the ranked advisories) and opens the pull
// request through the GitHub Git Data API ([github.OpenProposal]) on the
// branch patchbay/cycle/<name>/<period>. The branch is the idempotency
// key: a run for a period whose branch exists (a restart, another
// replica) finds the pull request instead of opening a second one. Every
// run returns an [audit.CycleProposal] predicate saying what it did, for
// the caller to sign and publish (the server sends it through the rollout
// controller's outbox, on the main-branch commit the proposal was
// computed from).
//
// It imports advisory, baseline, inventory, plan, render, audit and
// github; it must not import server, store, rollout or cmd.
package cycle
