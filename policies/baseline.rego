# Package patchbay.baseline judges the hygiene of the baselines a change
# adds, changes or removes, and of the floors of the rings it moves:
#   - a baseline pinned by any ring at the base commit is immutable: its
#     digest at the head equals the base's, and it is not removed;
#   - every hold has a reason;
#   - a pinned version is not also blocked;
#   - a moved ring never lowers a floor it had (no silent downgrade): the
#     comparison is precomputed by the input builder (floors[].cmp, the
#     new floor against the old by the stream's version ordering), and a
#     lower or removed floor needs allowDowngrade with a reason.
package patchbay.baseline

pinned_by[id] contains r.name if {
	some r in input.rings
	id := r.baseline
}

# deny: a pinned baseline changed.
deny contains {
	"id": "baseline.immutable",
	"msg": sprintf("baseline %s is pinned by %s at the base commit and must not change (digest %s at base, %s at head)", [b.id, concat(", ", sort(pinned_by[b.id])), b.base_digest, b.head_digest]),
} if {
	some b in input.change.baselines
	b.status == "changed"
	pinned_by[b.id]
	b.head_digest != b.base_digest
}

# deny: a pinned baseline removed.
deny contains {
	"id": "baseline.immutable",
	"msg": sprintf("baseline %s is pinned by %s at the base commit and must not be removed", [b.id, concat(", ", sort(pinned_by[b.id]))]),
} if {
	some b in input.change.baselines
	b.status == "removed"
	pinned_by[b.id]
}

# head_rules are the rules of the baselines the change adds or changes.
head_rules contains [b.id, r] if {
	some b in input.change.baselines
	b.status != "removed"
	some r in b.rules
}

# deny: a hold without a reason.
deny contains {
	"id": "baseline.hold.reason",
	"msg": sprintf("baseline %s: %s %s %s is held without a reason", [id, r.stream, r.kind, r.name]),
} if {
	some [id, r] in head_rules
	r.hold
	trim_space(object.get(r, "hold_reason", "")) == ""
}

# deny: a pinned version that the same rule blocks.
deny contains {
	"id": "baseline.pin.blocked",
	"msg": sprintf("baseline %s: %s %s %s pins %s, which it also blocks", [id, r.stream, r.kind, r.name, r.pin]),
} if {
	some [id, r] in head_rules
	r.pin != ""
	r.pin in r.block
}

# deny: a lowered floor without allowDowngrade.
deny contains {
	"id": "baseline.floor.lowered",
	"msg": sprintf("ring %s: baseline %s lowers the floor of %s %s %s from %s to %s without allowDowngrade", [m.ring, m.to, f.stream, f.kind, f.name, f.old_min, f.new_min]),
} if {
	some m in input.change.rings_moved
	some f in m.floors
	f.cmp < 0
	f.new_min != ""
	trim_space(object.get(f, "allow_downgrade_reason", "")) == ""
}

# deny: a removed floor without allowDowngrade.
deny contains {
	"id": "baseline.floor.lowered",
	"msg": sprintf("ring %s: baseline %s removes the floor %s of %s %s %s without allowDowngrade", [m.ring, m.to, f.old_min, f.stream, f.kind, f.name]),
} if {
	some m in input.change.rings_moved
	some f in m.floors
	f.new_min == ""
	trim_space(object.get(f, "allow_downgrade_reason", "")) == ""
}
