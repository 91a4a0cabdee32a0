# Tests of patchbay.governance: one or more per row of the README table
# "What needs whose approval".
package patchbay.governance_test

import data.patchbay.fixture
import data.patchbay.governance

ids(set) := {f.id | some f in set}

with_reviews(inp, logins) := object.union(inp, {"reviews": [fixture.approve(l) | some l in logins]})

loosen := fixture.changed([{"class": "ring_policy", "path": "rings/prod.cue", "subject": "prod", "field": "approvals", "direction": "loosening", "detail": "approvals.required 2 → 0"}])

test_promotion_needs_nothing_more if {
	count(governance.deny) == 0 with input as fixture.promotion
}

test_ring_loosening_needs_ring_approvals_and_policy_owner if {
	governance.deny == {
		{"id": "governance.ring_policy.approvals", "msg": "ring prod: its rollout rules change (approvals.required 2 → 0 in rings/prod.cue) and need 2 approvals from sre, security on head commit c0ffee00c0ff (counted: none)"},
		{"id": "governance.ring_policy.policy_owner", "msg": "ring prod: its rollout rules loosen (approvals.required 2 → 0) and need an approval from a member of policy-owners on head commit c0ffee00c0ff (counted: none)"},
	} with input as with_reviews(loosen, [])
	ids(governance.deny) == {"governance.ring_policy.policy_owner"} with input as with_reviews(loosen, ["alice", "bob"])
	ids(governance.deny) == {"governance.ring_policy.approvals"} with input as with_reviews(loosen, ["owner"])
	count(governance.deny) == 0 with input as with_reviews(loosen, ["alice", "bob", "owner"])
}

test_every_ring_field_loosening_needs_policy_owner if {
	every field in ["strategy", "windows", "freeze", "soak", "threshold", "reboot", "selector", "min_hosts", "ring"] {
		inp := fixture.changed([{"class": "ring_policy", "path": "rings/prod.cue", "subject": "prod", "field": field, "direction": "loosening", "detail": field}])
		ids(governance.deny) == {"governance.ring_policy.policy_owner"} with input as with_reviews(inp, ["alice", "bob"])
	}
}

test_ring_tightening_needs_ring_approvals_only if {
	inp := fixture.changed([{"class": "ring_policy", "path": "rings/pilot.cue", "subject": "pilot", "field": "soak", "direction": "tightening", "detail": "soak 72h → 96h"}])
	governance.deny == {{"id": "governance.ring_policy.approvals", "msg": "ring pilot: its rollout rules change (soak 72h → 96h in rings/pilot.cue) and need 2 approvals from sre on head commit c0ffee00c0ff (counted: alice)"}} with input as with_reviews(inp, ["alice"])
	count(governance.deny) == 0 with input as with_reviews(inp, ["alice", "bob"])
}

exception(direction) := fixture.changed([{"class": "exception", "path": "exceptions/billing.cue", "subject": "billing-openssl", "direction": direction, "owner": "sec1", "detail": "d"}])

test_new_or_extended_exception_needs_independent_security if {
	every d in ["added", "extended", "widened", "changed"] {
		ids(governance.deny) == {"governance.exception.security"} with input as with_reviews(exception(d), [])
		# the exception's owner does not count
		ids(governance.deny) == {"governance.exception.security"} with input as with_reviews(exception(d), ["sec1"])
		count(governance.deny) == 0 with input as with_reviews(exception(d), ["sec2"])
	}
	# the author does not count either
	authored := object.union(with_reviews(exception("added"), ["sec2"]), {"pr": {"author": "sec2"}})
	ids(governance.deny) == {"governance.exception.security"} with input as authored
	# an owner that is a group: its members do not count
	grouped := fixture.changed([{"class": "exception", "path": "exceptions/billing.cue", "subject": "billing-openssl", "direction": "added", "owner": "security", "detail": "d"}])
	ids(governance.deny) == {"governance.exception.security"} with input as with_reviews(grouped, ["sec2", "sec3"])
}

test_exception_message_names_rule_owner_and_author if {
	governance.deny == {{"id": "governance.exception.security", "msg": "exception billing-openssl is added (d) and needs an approval from a member of security who is neither its owner sec1 nor the author dave, on head commit c0ffee00c0ff (counted: none)"}} with input as with_reviews(exception("added"), ["sec1"])
}

test_removed_or_narrowed_exception_needs_nothing if {
	count(governance.deny) == 0 with input as with_reviews(exception("removed"), [])
	count(governance.deny) == 0 with input as with_reviews(exception("narrowed"), [])
}

test_config_policy_workflow_need_policy_owner if {
	every c in [
		{"class": "config", "path": "patchbay.cue", "subject": "config", "field": "trusted_keys", "detail": "config trusted_keys changed"},
		{"class": "repo_policy", "path": "policy/ticket.rego", "detail": "file changed"},
		{"class": "workflow", "path": ".github/workflows/patchbay.yml", "detail": "file changed"},
	] {
		inp := fixture.changed([c])
		ids(governance.deny) == {"governance.policy_owner"} with input as with_reviews(inp, ["alice", "bob", "sec1"])
		count(governance.deny) == 0 with input as with_reviews(inp, ["owner"])
	}
	inp := fixture.changed([{"class": "workflow", "path": ".github/workflows/patchbay.yml", "detail": "file changed"}])
	governance.deny == {{"id": "governance.policy_owner", "msg": "workflow .github/workflows/patchbay.yml (file changed): needs an approval from a member of policy-owners on head commit c0ffee00c0ff (counted: none)"}} with input as inp
}

test_unclassified_file_needs_policy_owner if {
	inp := object.union(fixture.promotion, {"change": {"files": ["rings/pilot.cue", "somewhere/else.txt"]}})
	governance.deny == {{"id": "governance.policy_owner", "msg": "unclassified somewhere/else.txt: needs an approval from a member of policy-owners on head commit c0ffee00c0ff (counted: none)"}} with input as inp
}

test_cosmetic_and_baseline_need_nothing_here if {
	inp := fixture.changed([
		{"class": "cosmetic", "path": "README.md", "detail": "file changed"},
		{"class": "baseline", "path": "baselines/2027-01.cue", "subject": "2027-01", "direction": "added", "detail": "baseline 2027-01 added"},
	])
	count(governance.deny) == 0 with input as with_reviews(inp, [])
}
