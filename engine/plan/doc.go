// Package plan computes desired × reported: for every host report and the
// rules of the baseline its ring pins, a compliance state per rule, the
// actions that would make the host compliant, a risk score and an SLA
// deadline per finding, and roll-ups per ring, per stream and for the fleet.
//
// It is pure: no I/O, no clock (Input.Now), no randomness. Hosts with the same
// package-set hash, stream and ring share one computation; host-specific
// facts (exceptions, a pending reboot, staleness) are applied afterwards, so
// the result is identical to computing each host alone.
//
// States (per host and rule):
//
//	INSTALLED                 the installed version satisfies the rule exactly (= min or = pin)
//	INSTALLED_OTHER           newer than the floor (min rules)
//	INSTALLED_PENDING_REBOOT  satisfied on disk, the host must reboot, and the rule asks for a reboot
//	MISSING                   below the floor, not the pinned version, or absent when the rule is required
//	BLOCKED_VERSION           a recalled (blocked) version is installed
//	HELD                      a hold rule, and the package is installed
//	EXCEPTED                  would not comply, but an active exception covers the host
//	NOT_APPLICABLE            the package is not installed and the rule does not require it
//
// Source-package rules apply to every installed binary built from that source
// and compare the binary's source version, never its binary version.
//
// Risk of a finding (0–100): severity (critical 40, high 30, medium 20,
// low 10), +25 when the rule fixes a KEV-listed vulnerability, +15 when the
// deadline has passed, +10 when a recalled version is installed. The deadline
// is the clock start (the rule's published date, else the baseline's created
// date) plus the strictest applicable SLA tier (severity, or kev when the
// rule is KEV and that is stricter); DeadlineBy records which tier set it.
//
// It may import engine/baseline, engine/inventory and engine/vercmp only.
package plan
