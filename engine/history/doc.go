// Package history owns compliance over time: it turns a host's plan into
// the per-rule states the store keeps (a row only when a state changes),
// a fleet plan into daily roll-ups per ring, stream and fleet, and the
// recorded changes into the measures management and auditors ask for —
// time to remediate, SLA attainment per cycle, exceptions and their age,
// hosts that regressed. The measures are defined in measures.md.
//
// It reads plans (engine/plan) and the repository model (engine/baseline)
// and writes through engine/store. It must not import engine/server,
// engine/rollout or anything that serves or renders.
package history
