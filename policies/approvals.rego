# Package patchbay.approvals judges the pull request's reviews as a whole:
# a pending "changes requested" blocks every change, and approvals that
# do not count are reported. Who must approve which class of change is
# patchbay.governance's.
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
