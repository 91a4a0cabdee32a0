# Package patchbay.lib holds the helpers the built-in policies share: who
# approved the pull request's current head commit, and who blocks it.
# It reports no findings of its own.
package patchbay.lib

# deciding are the reviews that set a user's review state. A COMMENTED
# review does not change it (as on GitHub); a DISMISSED one withdraws it.
deciding := [r |
	some r in input.reviews
	r.state in {"APPROVED", "CHANGES_REQUESTED", "DISMISSED"}
]

# latest[login] is the user's latest deciding review: the latest by
# submitted_at, and of two at the same instant the later one in the list.
latest[login] := r if {
	some i, r in deciding
	login := r.user.login
	not superseded(i, r)
}

superseded(i, r) if {
	some j, s in deciding
	j != i
	s.user.login == r.user.login
	newer(j, s, i, r)
}

newer(_, s, _, r) if time.parse_rfc3339_ns(s.submitted_at) > time.parse_rfc3339_ns(r.submitted_at)

newer(j, s, i, r) if {
	time.parse_rfc3339_ns(s.submitted_at) == time.parse_rfc3339_ns(r.submitted_at)
	j > i
}

# approved are the users whose latest review approves, on any commit.
approved contains login if {
	some login, r in latest
	r.state == "APPROVED"
}

# stale are the users whose approval is on an older commit than the head.
stale contains login if {
	some login in approved
	latest[login].commit_id != input.pr.head_sha
}

# valid_approvers are the users whose latest review approves the head
# commit, other than the pull request's author and its last pusher.
valid_approvers contains login if {
	some login in approved
	latest[login].commit_id == input.pr.head_sha
	login != input.pr.author
	login != input.pr.last_pusher
}

# changes_requested are the users whose latest review requests changes.
changes_requested contains login if {
	some login, r in latest
	r.state == "CHANGES_REQUESTED"
}

# members returns the members of the named approver groups.
members(groups) := {m |
	some g in groups
	some m in input.config.approvers[g]
}

# names renders a set of logins sorted and comma-separated, or "none".
names(s) := concat(", ", sort(s)) if count(s) > 0

names(s) := "none" if count(s) == 0

# now_ns is the evaluation time in nanoseconds since the epoch.
now_ns := time.parse_rfc3339_ns(input.now)

# today is the UTC date of the evaluation time, YYYY-MM-DD.
today := substring(input.now, 0, 10)

# short abbreviates a commit id to 12 characters.
short(sha) := substring(sha, 0, 12)
