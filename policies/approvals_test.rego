package patchbay.approvals_test

import data.patchbay.approvals
import data.patchbay.fixture
import data.patchbay.promotion

ids(set) := {f.id | some f in set}

test_no_findings_on_valid_promotion if {
	count(approvals.deny) == 0 with input as fixture.promotion
	count(approvals.warn) == 0 with input as fixture.promotion
}

test_stale_approval_is_reported if {
	reviews := [fixture.approve("alice"), object.union(fixture.approve("bob"), {"commit_id": fixture.old})]
	approvals.warn == {{
		"id": "approvals.stale",
		"msg": "approval by bob is on commit 0ld000000000, not on head commit c0ffee00c0ff; it does not count",
	}} with input as object.union(fixture.promotion, {"reviews": reviews})
}

test_author_and_pusher_approvals_are_reported if {
	approvals.warn == {
		{"id": "approvals.author", "msg": "approval by bob does not count: bob is the author of the pull request"},
		{"id": "approvals.pusher", "msg": "approval by alice does not count: alice pushed the last commit"},
	} with input as object.union(fixture.promotion, {"pr": {"author": "bob", "last_pusher": "alice"}})
}

test_latest_review_wins if {
	later := object.union(fixture.approve("bob"), {"state": "CHANGES_REQUESTED", "submitted_at": "2026-11-26T08:30:00Z"})
	inp := object.union(fixture.promotion, {"reviews": array.concat(fixture.promotion.reviews, [later])})
	approvals.deny == {{"id": "approvals.changes_requested", "msg": "bob requested changes (latest review)"}} with input as inp

	# a later approval lifts it again; a comment does not change anything
	again := object.union(fixture.approve("bob"), {"submitted_at": "2026-11-26T08:45:00Z"})
	comment := object.union(fixture.approve("bob"), {"state": "COMMENTED", "submitted_at": "2026-11-26T08:50:00Z"})
	inp2 := object.union(fixture.promotion, {"reviews": array.concat(fixture.promotion.reviews, [later, again, comment])})
	count(approvals.deny) == 0 with input as inp2
	count(promotion.deny) == 0 with input as inp2
}

test_pr_head_must_be_judged_head if {
	inp := object.union(fixture.promotion, {"head": {"commit": fixture.old}})
	approvals.deny == {{"id": "approvals.head_mismatch", "msg": "the pull request's head c0ffee00c0ff is not the judged head commit 0ld000000000; approvals cannot bind this change"}} with input as inp
}
