package patchbay.exception_test

import data.patchbay.exception
import data.patchbay.fixture

ids(set) := {f.id | some f in set}

valid := {
	"id": "billing-openssl", "status": "added", "owner": "billing-team",
	"reason": "vendor library fails with the newer build",
	"compensating_control": "payments VLAN only",
	"granted": "2026-11-20", "expires": "2027-02-15", "kev": false,
}

with_exception(e) := object.union(fixture.promotion, {"change": {"rings_moved": [], "exceptions": [object.union(valid, e)]}})

test_valid_exception_passes if {
	count(exception.deny) == 0 with input as with_exception({})
}

test_owner_reason_control_required if {
	exception.deny == {
		{"id": "exception.owner", "msg": "exception billing-openssl has no owner"},
		{"id": "exception.reason", "msg": "exception billing-openssl has no reason"},
		{"id": "exception.compensating_control", "msg": "exception billing-openssl has no compensating control"},
	} with input as with_exception({"owner": "", "reason": " ", "compensating_control": ""})
}

test_expired if {
	exception.deny == {{"id": "exception.expired", "msg": "exception billing-openssl expired on 2026-11-25"}} with input as with_exception({"expires": "2026-11-25", "granted": "2026-11-01"})
}

test_expires_today_is_still_valid if {
	count(exception.deny) == 0 with input as with_exception({"expires": "2026-11-26"})
}

test_invalid_expiry if {
	ids(exception.deny) == {"exception.expires.invalid"} with input as with_exception({"expires": ""})
}

# Dates the gate cannot parse are denied as invalid, never an evaluation
# error (the gate runs with strict built-in errors).
test_impossible_dates_are_invalid if {
	ids(exception.deny) == {"exception.expires.invalid"} with input as with_exception({"expires": "2027-02-30"})
	ids(exception.deny) == {"exception.expires.invalid"} with input as with_exception({"expires": "2027-13-01"})
	ids(exception.deny) == {"exception.expires.invalid"} with input as with_exception({"expires": "27-02-01"})
	ids(exception.deny) == {"exception.expires.invalid"} with input as with_exception({"expires": 20270201})
	exception.valid_date("2028-02-29")
	not exception.valid_date("2027-02-29")
	not exception.valid_date("2100-02-29")
	exception.valid_date("2000-02-29")
}

test_too_long if {
	exception.deny == {{"id": "exception.too_long", "msg": "exception billing-openssl lasts 91 days (from 2026-11-20 to 2027-02-19); the maximum is 90"}} with input as with_exception({"expires": "2027-02-19"})
	count(exception.deny) == 0 with input as with_exception({"expires": "2027-02-18"})
}

test_kev_needs_security_approval if {
	exception.deny == {{"id": "exception.kev.security_approval", "msg": "exception billing-openssl waives a KEV finding and needs an approval from a member of security on head commit c0ffee00c0ff"}} with input as with_exception({"kev": true})
	approved := object.union(with_exception({"kev": true}), {"reviews": [fixture.approve("sec2")]})
	count(exception.deny) == 0 with input as approved
}

test_granted_in_the_future_is_refused if {
	# a 156-day waiver: granted next month for 89 days would count from
	# today if a future grant were active; it is refused instead
	exception.deny == {{"id": "exception.granted.future", "msg": "exception billing-openssl is granted on 2027-01-01, after today 2026-11-26; grant it when it starts (it does not count before)"}} with input as with_exception({"granted": "2027-01-01", "expires": "2027-03-31"})
}
