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

# date_ns is defined only for a valid calendar date: the gate evaluates
# with strict built-in errors, so time.parse_ns must never see a string it
# cannot parse (an error fails the whole decision).
date_ns(d) := time.parse_ns("2006-01-02", d) if valid_date(d)

valid_date(d) if {
	is_string(d)
	regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`, d)
	parts := split(d, "-")
	m := to_number(parts[1])
	day := to_number(parts[2])
	m >= 1
	m <= 12
	day >= 1
	day <= month_days(to_number(parts[0]), m)
}

month_days(y, 2) := 29 if leap(y)

month_days(y, 2) := 28 if not leap(y)

month_days(_, m) := 30 if m in {4, 6, 9, 11}

month_days(_, m) := 31 if m in {1, 3, 5, 7, 8, 10, 12}

leap(y) if {
	y % 4 == 0
	y % 100 != 0
}

leap(y) if y % 400 == 0

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
