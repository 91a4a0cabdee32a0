# Package patchbay.approvals judges the pull request's reviews as a whole:
# a pending "changes requested" blocks every change, a change to the
# policies or the repository configuration needs a policy owner, and
# approvals that do not count are reported.
package patchbay.approvals

import data.patchbay.lib

# deny: the latest review of some user requests changes.
deny contains {
	"id": "approvals.changes_requested",
	"msg": sprintf("%s requested changes (latest review)", [login]),
} if {
	some login in lib.changes_requested
}

# deny: the pull request's head is not the commit being judged, so its
# approvals are not about this change.
deny contains {
	"id": "approvals.head_mismatch",
	"msg": sprintf("the pull request's head %s is not the judged head commit %s; approvals cannot bind this change", [lib.short(input.pr.head_sha), lib.short(input.head.commit)]),
} if {
	input.pr.head_sha != input.head.commit
}

# deny: policy/ or patchbay.cue changes without a policy owner's approval.
deny contains {
	"id": "approvals.policy_owner",
	"msg": sprintf("the change touches policy/ or patchbay.cue and needs an approval from a member of %s on head commit %s", [input.config.policy_owners, lib.short(input.pr.head_sha)]),
} if {
	policy_change
	count(lib.valid_approvers & lib.members([input.config.policy_owners])) == 0
}

policy_change if {
	some f in input.change.files
	startswith(f, "policy/")
}

policy_change if "patchbay.cue" in input.change.files

# warn: approvals that do not count, and why.
warn contains {
	"id": "approvals.stale",
	"msg": sprintf("approval by %s is on commit %s, not on head commit %s; it does not count", [login, lib.short(lib.latest[login].commit_id), lib.short(input.pr.head_sha)]),
} if {
	some login in lib.stale
}

warn contains {
	"id": "approvals.author",
	"msg": sprintf("approval by %s does not count: %s is the author of the pull request", [login, login]),
} if {
	some login in lib.approved
	login == input.pr.author
}

warn contains {
	"id": "approvals.pusher",
	"msg": sprintf("approval by %s does not count: %s pushed the last commit", [login, login]),
} if {
	some login in lib.approved
	login == input.pr.last_pusher
	login != input.pr.author
}
