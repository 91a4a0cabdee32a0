package patchbay.lib_test

import data.patchbay.fixture
import data.patchbay.lib

review(login, state, commit, at) := {"user": {"login": login}, "state": state, "commit_id": commit, "submitted_at": at}

test_latest_review_per_user if {
	reviews := [
		review("alice", "APPROVED", fixture.head, "2026-11-26T08:00:00Z"),
		review("alice", "CHANGES_REQUESTED", fixture.head, "2026-11-26T07:00:00Z"),
		review("bob", "CHANGES_REQUESTED", fixture.old, "2026-11-25T08:00:00Z"),
		review("bob", "COMMENTED", fixture.head, "2026-11-26T08:30:00Z"),
	]
	inp := object.union(fixture.promotion, {"reviews": reviews})
	lib.valid_approvers == {"alice"} with input as inp
	lib.changes_requested == {"bob"} with input as inp
}

test_same_instant_later_in_list_wins if {
	reviews := [
		review("alice", "APPROVED", fixture.head, "2026-11-26T08:00:00Z"),
		review("alice", "DISMISSED", fixture.head, "2026-11-26T08:00:00Z"),
	]
	count(lib.valid_approvers) == 0 with input as object.union(fixture.promotion, {"reviews": reviews})
}

test_members if {
	lib.members(["sre", "policy-owners", "no-such-group"]) == {"alice", "bob", "carol", "owner"} with input as fixture.promotion
}

test_names if {
	lib.names({"b", "a"}) == "a, b"
	lib.names(set()) == "none"
}
