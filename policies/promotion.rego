# Package patchbay.promotion judges every ring the change moves to another
# baseline. A ring may pin baseline B only if
#   - the previous ring pins B at the base commit, and its latest
#     verification record for B (same digest) shows a success rate at least
#     the PREVIOUS ring's successThreshold (the ring that ran it sets the
#     bar), and B has soaked at least the promoted ring's soak: the record's
#     soak_hours plus the time since it was verified;
#   - that record's rollout covered at least one host and changed at
#     least the previous ring's min_hosts (default 1);
#   - the ring's required number of distinct approvers from its approver
#     groups approved the head commit (see patchbay.lib);
#   - no freeze of the ring covers today (UTC).
# The first ring has no previous ring: it needs approvals only. The
# emergency lane (label "emergency", approved by two members of the
# security group) skips the previous-ring evidence and the soak, and is
# always reported with a warning.
package patchbay.promotion

import data.patchbay.lib

ring_index[name] := i if {
	some i, r in input.rings
	name := r.name
}

# moves pairs each moved ring with its configuration at the base commit.
moves contains [m, input.rings[ring_index[m.ring]]] if {
	some m in input.change.rings_moved
}

emergency if "emergency" in input.pr.labels

security_approvers := lib.valid_approvers & lib.members([input.config.security])

emergency_granted if {
	emergency
	count(security_approvers) >= 2
}

# deny: a moved ring that the base commit does not know.
deny contains {
	"id": "promotion.ring.unknown",
	"msg": sprintf("ring %s is not a ring of the base commit", [m.ring]),
} if {
	some m in input.change.rings_moved
	not ring_index[m.ring]
}

# deny: too few valid approvals from the ring's approver groups.
deny contains {
	"id": "promotion.approvals.insufficient",
	"msg": sprintf("ring %s: %d of %d required approvals from %s on head commit %s (counted: %s)", [
		ring.name, count(got), ring.approvals.required,
		concat(", ", ring.approvals.groups), lib.short(input.pr.head_sha), lib.names(got),
	]),
} if {
	some [_, ring] in moves
	got := lib.valid_approvers & lib.members(ring.approvals.groups)
	count(got) < ring.approvals.required
}

# deny: a freeze of the ring covers today.
deny contains {
	"id": "promotion.freeze",
	"msg": sprintf("ring %s is frozen from %s to %s: %s", [ring.name, f.from, f.to, f.reason]),
} if {
	some [_, ring] in moves
	some f in ring.freeze
	f.from <= lib.today
	lib.today <= f.to
}

# previous[ring] is the ring before it in promotion order.
previous[m.ring] := input.rings[ring_index[m.ring] - 1] if {
	some m in input.change.rings_moved
	ring_index[m.ring] > 0
}

# evidence_checked holds the moves judged on previous-ring evidence.
evidence_checked contains [m, ring, previous[m.ring]] if {
	not emergency_granted
	some [m, ring] in moves
}

# deny: the previous ring does not pin the baseline.
deny contains {
	"id": "promotion.evidence.not_pinned",
	"msg": sprintf("ring %s: baseline %s is not pinned by the previous ring %s (it pins %s)", [ring.name, m.to, prev.name, prev.baseline]),
} if {
	some [m, ring, prev] in evidence_checked
	prev.baseline != m.to
}

# records returns the verification records of a baseline in a ring.
records(ring, baseline) := [e |
	some e in input.evidence
	e.ring == ring
	e.baseline == baseline
]

# missing: the previous ring pins the baseline but there is no record.
missing contains {
	"id": "promotion.evidence.missing",
	"msg": sprintf("ring %s: no verification record of baseline %s in ring %s", [ring.name, m.to, prev.name]),
} if {
	some [m, ring, prev] in evidence_checked
	prev.baseline == m.to
	count(records(prev.name, m.to)) == 0
}

# deny: the records are for another content of the baseline.
deny contains {
	"id": "promotion.evidence.digest",
	"msg": sprintf("ring %s: the verification records of baseline %s in ring %s are for another digest than %s", [ring.name, m.to, prev.name, m.to_digest]),
} if {
	some [m, ring, prev] in evidence_checked
	prev.baseline == m.to
	count(records(prev.name, m.to)) > 0
	not record(prev.name, m.to, m.to_digest)
}

# record is the latest verification record of the baseline's digest in the
# ring (latest verified_at; of equal ones the later in the list).
record(ring, baseline, digest) := rs[best[1]] if {
	rs := [e | some e in records(ring, baseline); e.baseline_digest == digest]
	count(rs) > 0
	best := max([[time.parse_rfc3339_ns(e.verified_at), i] | some i, e in rs])
}

# deny: the success rate is below the previous ring's threshold.
deny contains {
	"id": "promotion.evidence.success_rate",
	"msg": sprintf("ring %s: baseline %s succeeded in ring %s at rate %v, below that ring's threshold %v", [ring.name, m.to, prev.name, r.success_rate, prev.success_threshold]),
} if {
	some [m, ring, prev] in evidence_checked
	prev.baseline == m.to
	r := record(prev.name, m.to, m.to_digest)
	r.success_rate < prev.success_threshold
}

# enough_hosts: the record's rollout covered at least one host and changed
# at least the previous ring's min_hosts (at least 1).
enough_hosts(r, prev) if {
	r.hosts_total >= 1
	r.hosts_changed >= max([1, object.get(prev, "min_hosts", 1)])
}

# deny: the record's rollout ran on no host, or changed too few.
deny contains {
	"id": "promotion.evidence.hosts",
	"msg": sprintf("ring %s: the verification record of baseline %s in ring %s covers %d hosts and changed %d; ring %s needs at least %d changed host%s (a rollout that changed nothing proves nothing)", [
		ring.name, m.to, prev.name, r.hosts_total, r.hosts_changed, prev.name, want, plural,
	]),
} if {
	some [m, ring, prev] in evidence_checked
	prev.baseline == m.to
	r := record(prev.name, m.to, m.to_digest)
	not enough_hosts(r, prev)
	want := max([1, object.get(prev, "min_hosts", 1)])
	plural := {true: "s", false: ""}[want != 1]
}

# deny: the verification record names no tested set: it does not say which
# exact versions the previous ring ran, so the promotion could not be bound
# to them ("tested before live"). A new pass of the previous ring writes one.
deny contains {
	"id": "promotion.evidence.tested_set",
	"msg": sprintf("ring %s: the verification record of baseline %s in ring %s names no tested set (the exact versions its hosts ran); run the baseline in ring %s again so that its ring.verified records one", [ring.name, m.to, prev.name, prev.name]),
} if {
	some [m, ring, prev] in evidence_checked
	prev.baseline == m.to
	r := record(prev.name, m.to, m.to_digest)
	count(object.get(r, "tested_set", [])) == 0
}

# soaked_hours is how long the record's baseline has run in its ring.
soaked_hours(r) := r.soak_hours + max([0, (lib.now_ns - time.parse_rfc3339_ns(r.verified_at)) / 3600000000000])

# deny: the baseline has not soaked long enough in the previous ring.
deny contains {
	"id": "promotion.evidence.soak",
	"msg": sprintf("ring %s: baseline %s soaked %vh in ring %s, needs %vh", [ring.name, m.to, floor(soaked_hours(r)), prev.name, ring.soak_hours]),
} if {
	some [m, ring, prev] in evidence_checked
	prev.baseline == m.to
	r := record(prev.name, m.to, m.to_digest)
	soaked_hours(r) < ring.soak_hours
}

# deny: the emergency label without two security approvals.
deny contains {
	"id": "promotion.emergency.approvals",
	"msg": sprintf("the emergency lane needs approvals from 2 members of %s on head commit %s (counted: %s)", [input.config.security, lib.short(input.pr.head_sha), lib.names(security_approvers)]),
} if {
	emergency
	count(input.change.rings_moved) > 0
	not emergency_granted
}

# warn: every promotion under the emergency label is reported as one.
warn contains {
	"id": "promotion.emergency",
	"msg": sprintf("ring %s: emergency promotion to baseline %s; previous-ring evidence and soak %s", [m.ring, m.to, skipped]),
} if {
	emergency
	some m in input.change.rings_moved
	skipped := lane_outcome
}

lane_outcome := "skipped" if emergency_granted

lane_outcome := "not skipped (the lane was not granted)" if not emergency_granted
