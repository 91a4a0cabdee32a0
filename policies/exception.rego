# Package patchbay.exception judges the exceptions a change adds or
# changes: owner, reason and compensating control present; an expiry that
# is valid, in the future and at most config.exceptions.max_days after the
# grant (or after today when no grant date is given); and an exception to
# a KEV finding approved by a member of the security group on the head
# commit.
package patchbay.exception

import data.patchbay.lib

day_ns := 86400000000000

changed contains e if {
	some e in input.change.exceptions
	e.status != "removed"
}

deny contains {
	"id": "exception.owner",
	"msg": sprintf("exception %s has no owner", [e.id]),
} if {
	some e in changed
	trim_space(object.get(e, "owner", "")) == ""
}

deny contains {
	"id": "exception.reason",
	"msg": sprintf("exception %s has no reason", [e.id]),
} if {
	some e in changed
	trim_space(object.get(e, "reason", "")) == ""
}

deny contains {
	"id": "exception.compensating_control",
	"msg": sprintf("exception %s has no compensating control", [e.id]),
} if {
	some e in changed
	trim_space(object.get(e, "compensating_control", "")) == ""
}

date_ns(d) := time.parse_ns("2006-01-02", d)

deny contains {
	"id": "exception.expires.invalid",
	"msg": sprintf("exception %s has no valid expiry date (got %q)", [e.id, object.get(e, "expires", "")]),
} if {
	some e in changed
	not date_ns(object.get(e, "expires", ""))
}

# An exception expires at the end of its expiry date (UTC).
deny contains {
	"id": "exception.expired",
	"msg": sprintf("exception %s expired on %s", [e.id, e.expires]),
} if {
	some e in changed
	date_ns(e.expires) + day_ns <= lib.now_ns
}

# deny: an exception granted in the future. Exceptions count only from
# their grant date; one approved today for a later start would run longer
# than anyone reviewed (today → expiry), so it is refused.
deny contains {
	"id": "exception.granted.future",
	"msg": sprintf("exception %s is granted on %s, after today %s; grant it when it starts (it does not count before)", [e.id, e.granted, lib.today]),
} if {
	some e in changed
	object.get(e, "granted", "") > lib.today
}

start(e) := e.granted if object.get(e, "granted", "") != ""

start(e) := lib.today if object.get(e, "granted", "") == ""

deny contains {
	"id": "exception.too_long",
	"msg": sprintf("exception %s lasts %d days (from %s to %s); the maximum is %d", [e.id, days, start(e), e.expires, input.config.exceptions.max_days]),
} if {
	some e in changed
	days := floor((date_ns(e.expires) - date_ns(start(e))) / day_ns)
	days > input.config.exceptions.max_days
}

deny contains {
	"id": "exception.kev.security_approval",
	"msg": sprintf("exception %s waives a KEV finding and needs an approval from a member of %s on head commit %s", [e.id, input.config.security, lib.short(input.pr.head_sha)]),
} if {
	some e in changed
	e.kev
	count(lib.valid_approvers & lib.members([input.config.security])) == 0
}
