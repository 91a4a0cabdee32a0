// Package policies holds patchbay's built-in promotion-gate policies, written
// in Rego v1, and their Rego unit tests, embedded in the binary:
//
//   - patchbay.promotion: previous-ring evidence, soak, approvals, freezes and
//     the emergency lane for every ring a change moves;
//   - patchbay.baseline: immutability of pinned baselines, hold reasons,
//     pinned-and-blocked versions, no silent floor downgrade;
//   - patchbay.exception: owner, reason, compensating control, expiry and
//     KEV approvals of added or changed exceptions;
//   - patchbay.approvals: changes requested, policy-owner approval of policy
//     and configuration changes, approvals that do not count;
//   - patchbay.lib: shared helpers (valid approvers of the head commit).
//
// Each reporting package defines deny, warn and missing: sets of objects
// {"id": "<stable rule id>", "msg": "<message>"}. The input document is
// described in engine/gate. This package holds files only; it imports no
// patchbay package and must not (engine/gate reads it).
package policies

import (
	"embed"
	"io/fs"
)

//go:embed *.rego
var files embed.FS

// FS returns the built-in policy files, tests (*_test.rego) included, at the
// root of the file system.
func FS() fs.FS { return files }
