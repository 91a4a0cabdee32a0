package patchbay.promotion_test

import data.patchbay.approvals
import data.patchbay.fixture
import data.patchbay.promotion

ids(set) := {f.id | some f in set}

test_valid_promotion_passes if {
	count(promotion.deny) == 0 with input as fixture.promotion
	count(promotion.missing) == 0 with input as fixture.promotion
	count(approvals.deny) == 0 with input as fixture.promotion
}

test_stale_approval_does_not_count if {
	reviews := [fixture.approve("alice"), object.union(fixture.approve("bob"), {"commit_id": fixture.old})]
	inp := object.union(fixture.promotion, {"reviews": reviews})
	promotion.deny == {{
		"id": "promotion.approvals.insufficient",
		"msg": "ring pilot: 1 of 2 required approvals from sre on head commit c0ffee00c0ff (counted: alice)",
	}} with input as inp
	"approvals.stale" in ids(approvals.warn) with input as inp
}

test_author_approval_does_not_count if {
	inp := object.union(fixture.promotion, {"pr": {"author": "bob", "last_pusher": "alice"}})
	"promotion.approvals.insufficient" in ids(promotion.deny) with input as inp
	"approvals.author" in ids(approvals.warn) with input as inp
	"approvals.pusher" in ids(approvals.warn) with input as inp
}

test_dismissed_approval_does_not_count if {
	dismissed := object.union(fixture.approve("bob"), {"state": "DISMISSED", "submitted_at": "2026-11-26T08:30:00Z"})
	inp := object.union(fixture.promotion, {"reviews": array.concat(fixture.promotion.reviews, [dismissed])})
	"promotion.approvals.insufficient" in ids(promotion.deny) with input as inp
}

test_missing_evidence_is_missing_not_denied if {
	inp := object.union(fixture.promotion, {"evidence": []})
	promotion.missing == {{"id": "promotion.evidence.missing", "msg": "ring pilot: no verification record of baseline 2026-12 in ring canary"}} with input as inp
	count(promotion.deny) == 0 with input as inp
}

test_not_pinned_by_previous_ring if {
	inp := fixture.moved({"to": "2027-01"})
	promotion.deny == {{"id": "promotion.evidence.not_pinned", "msg": "ring pilot: baseline 2027-01 is not pinned by the previous ring canary (it pins 2026-12)"}} with input as inp
}

test_evidence_without_tested_set if {
	ev := [object.remove(fixture.promotion.evidence[0], ["tested_set"])]
	inp := object.union(fixture.promotion, {"evidence": ev})
	promotion.deny == {{"id": "promotion.evidence.tested_set", "msg": "ring pilot: the verification record of baseline 2026-12 in ring canary names no tested set (the exact versions its hosts ran); run the baseline in ring canary again so that its ring.verified records one"}} with input as inp
}

test_evidence_with_empty_tested_set if {
	ev := [object.union(fixture.promotion.evidence[0], {"tested_set": []})]
	inp := object.union(fixture.promotion, {"evidence": ev})
	ids(promotion.deny) == {"promotion.evidence.tested_set"} with input as inp
}

test_evidence_for_another_digest if {
	inp := fixture.moved({"to_digest": "sha256:other"})
	ids(promotion.deny) == {"promotion.evidence.digest"} with input as inp
}

test_success_rate_below_previous_threshold if {
	ev := [object.union(fixture.promotion.evidence[0], {"success_rate": 0.97})]
	inp := object.union(fixture.promotion, {"evidence": ev})
	promotion.deny == {{"id": "promotion.evidence.success_rate", "msg": "ring pilot: baseline 2026-12 succeeded in ring canary at rate 0.97, below that ring's threshold 1"}} with input as inp
}

test_latest_record_counts if {
	older := object.union(fixture.promotion.evidence[0], {"success_rate": 0.5, "verified_at": "2026-11-20T09:00:00Z"})
	inp := object.union(fixture.promotion, {"evidence": [older, fixture.promotion.evidence[0]]})
	count(promotion.deny) == 0 with input as inp
}

test_soak_not_reached if {
	# 2 h at verification + 22 h since = 24 h, pilot needs 72 h
	ev := [object.union(fixture.promotion.evidence[0], {"soak_hours": 2, "verified_at": "2026-11-25T11:00:00Z"})]
	inp := object.union(fixture.promotion, {"evidence": ev})
	promotion.deny == {{"id": "promotion.evidence.soak", "msg": "ring pilot: baseline 2026-12 soaked 24h in ring canary, needs 72h"}} with input as inp
}

test_frozen if {
	inp := object.union(fixture.promotion, {"now": "2026-12-20T09:00:00Z", "change": {"rings_moved": [{"ring": "prod", "from": "2026-10", "to": "2026-11", "to_digest": "sha256:d11", "floors": []}]}})
	{"id": "promotion.freeze", "msg": "ring prod is frozen from 2026-12-18 to 2027-01-04: year-end change freeze"} in promotion.deny with input as inp
}

test_first_ring_needs_approvals_only if {
	inp := object.union(fixture.promotion, {"evidence": [], "change": {"rings_moved": [{"ring": "canary", "from": "2026-12", "to": "2027-01", "to_digest": "sha256:d01", "floors": []}]}})
	count(promotion.deny) == 0 with input as inp
	count(promotion.missing) == 0 with input as inp
	noapprovals := object.union(inp, {"reviews": []})
	promotion.deny == {{"id": "promotion.approvals.insufficient", "msg": "ring canary: 0 of 1 required approvals from sre on head commit c0ffee00c0ff (counted: none)"}} with input as noapprovals
}

test_unknown_ring if {
	inp := fixture.moved({"ring": "staging"})
	ids(promotion.deny) == {"promotion.ring.unknown"} with input as inp
}

emergency := object.union(fixture.moved({"to": "2027-01", "to_digest": "sha256:d01"}), {"pr": {"labels": ["emergency"]}, "evidence": []})

test_emergency_with_two_security_approvers if {
	inp := object.union(emergency, {"reviews": array.concat(fixture.promotion.reviews, [fixture.approve("sec1"), fixture.approve("sec2")])})
	count(promotion.deny) == 0 with input as inp
	count(promotion.missing) == 0 with input as inp
	promotion.warn == {{"id": "promotion.emergency", "msg": "ring pilot: emergency promotion to baseline 2027-01; previous-ring evidence and soak skipped"}} with input as inp
}

test_emergency_without_two_security_approvers if {
	inp := object.union(emergency, {"reviews": array.concat(fixture.promotion.reviews, [fixture.approve("sec1")])})
	{"id": "promotion.emergency.approvals", "msg": "the emergency lane needs approvals from 2 members of security on head commit c0ffee00c0ff (counted: sec1)"} in promotion.deny with input as inp
	"promotion.evidence.not_pinned" in ids(promotion.deny) with input as inp
	"promotion.emergency" in ids(promotion.warn) with input as inp
}

test_evidence_from_no_host_proves_nothing if {
	ev := [object.union(fixture.promotion.evidence[0], {"hosts_total": 0, "hosts_changed": 0})]
	promotion.deny == {{"id": "promotion.evidence.hosts", "msg": "ring pilot: the verification record of baseline 2026-12 in ring canary covers 0 hosts and changed 0; ring canary needs at least 1 changed host (a rollout that changed nothing proves nothing)"}} with input as object.union(fixture.promotion, {"evidence": ev})
}

test_evidence_needs_min_hosts_changed if {
	prod := fixture.moved({"ring": "prod", "from": "2026-10", "to": "2026-11", "to_digest": "sha256:d11"})
	ev := [{"ring": "pilot", "baseline": "2026-11", "baseline_digest": "sha256:d11", "commit": fixture.old, "success_rate": 1, "soak_hours": 200, "verified_at": "2026-11-20T09:00:00Z", "hosts_total": 5, "hosts_changed": 1, "tested_set": [{"stream": "debian-12", "package": "openssl", "version": "3.0.17-1~deb12u2", "hosts": 1}]}]
	inp := object.union(prod, {"evidence": ev, "reviews": [fixture.approve("alice"), fixture.approve("sec1")]})
	count(promotion.deny) == 0 with input as inp
	# pilot wants 3 changed hosts
	rings := [object.union(r, {"min_hosts": 3}) | some r in fixture.promotion.rings]
	"promotion.evidence.hosts" in ids(promotion.deny) with input as object.union(inp, {"rings": rings})
}
