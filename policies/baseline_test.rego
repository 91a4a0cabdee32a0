package patchbay.baseline_test

import data.patchbay.baseline
import data.patchbay.fixture

ids(set) := {f.id | some f in set}

test_valid_change_passes if {
	count(baseline.deny) == 0 with input as fixture.promotion
}

test_pinned_baseline_is_immutable if {
	inp := object.union(fixture.promotion, {"change": {"baselines": [{"id": "2026-11", "status": "changed", "base_digest": "sha256:a", "head_digest": "sha256:b", "rules": []}]}})
	baseline.deny == {{"id": "baseline.immutable", "msg": "baseline 2026-11 is pinned by pilot at the base commit and must not change (digest sha256:a at base, sha256:b at head)"}} with input as inp
}

test_pinned_baseline_not_removed if {
	inp := object.union(fixture.promotion, {"change": {"baselines": [{"id": "2026-10", "status": "removed", "base_digest": "sha256:a", "head_digest": "", "rules": []}]}})
	baseline.deny == {{"id": "baseline.immutable", "msg": "baseline 2026-10 is pinned by prod at the base commit and must not be removed"}} with input as inp
}

test_unpinned_baseline_may_change if {
	inp := object.union(fixture.promotion, {"change": {"baselines": [{"id": "2027-01", "status": "changed", "base_digest": "sha256:a", "head_digest": "sha256:b", "rules": []}]}})
	count(baseline.deny) == 0 with input as inp
}

rule(r) := object.union({"stream": "debian-12", "kind": "package", "name": "openssl", "min": "", "pin": "", "hold": false, "hold_reason": "", "block": []}, r)

test_hold_needs_reason if {
	inp := object.union(fixture.promotion, {"change": {"baselines": [{"id": "2027-01", "status": "added", "base_digest": "", "head_digest": "sha256:b", "rules": [rule({"hold": true, "hold_reason": " "}), rule({"name": "curl", "hold": true, "hold_reason": "vendor"})]}]}})
	baseline.deny == {{"id": "baseline.hold.reason", "msg": "baseline 2027-01: debian-12 package openssl is held without a reason"}} with input as inp
}

test_pin_not_blocked if {
	inp := object.union(fixture.promotion, {"change": {"baselines": [{"id": "2027-01", "status": "added", "base_digest": "", "head_digest": "sha256:b", "rules": [rule({"pin": "1.2-1", "block": ["1.1-1", "1.2-1"]}), rule({"name": "curl", "pin": "8.0-1", "block": ["7.0-1"]})]}]}})
	baseline.deny == {{"id": "baseline.pin.blocked", "msg": "baseline 2027-01: debian-12 package openssl pins 1.2-1, which it also blocks"}} with input as inp
}

lowered := {"stream": "debian-12", "kind": "source", "name": "openssl", "old_min": "3.0.15-1~deb12u1", "new_min": "3.0.9-1", "cmp": -1, "allow_downgrade_reason": ""}

test_floor_lowered if {
	inp := fixture.moved({"floors": [lowered]})
	baseline.deny == {{"id": "baseline.floor.lowered", "msg": "ring pilot: baseline 2026-12 lowers the floor of debian-12 source openssl from 3.0.15-1~deb12u1 to 3.0.9-1 without allowDowngrade"}} with input as inp
}

test_floor_lowered_with_allow_downgrade if {
	inp := fixture.moved({"floors": [object.union(lowered, {"allow_downgrade_reason": "regression in 3.0.15"})]})
	count(baseline.deny) == 0 with input as inp
}

test_floor_removed if {
	inp := fixture.moved({"floors": [object.union(lowered, {"new_min": ""})]})
	baseline.deny == {{"id": "baseline.floor.lowered", "msg": "ring pilot: baseline 2026-12 removes the floor 3.0.15-1~deb12u1 of debian-12 source openssl without allowDowngrade"}} with input as inp
}

test_equal_floor_passes if {
	inp := fixture.moved({"floors": [object.union(lowered, {"new_min": "3.0.15-1~deb12u1", "cmp": 0})]})
	count(baseline.deny) == 0 with input as inp
}
