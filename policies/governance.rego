# Package patchbay.governance says whose approval each class of change
# needs. The input builder classifies every changed file and field
# (input.change.classes, see gate.ChangeClass); this package requires:
#
#   ring_policy loosening   → the ring's own approvals (from the base
#                             commit) and one approval from policy owners
#   ring_policy tightening  → the ring's own approvals
#   exception added, extended, widened or changed
#                           → one approval from security by someone who
#                             is neither the exception's owner nor the
#                             pull request's author (nor its last pusher)
#   config, repo_policy, workflow
#                           → one approval from policy owners
#   a changed file that no class covers
#                           → one approval from policy owners (fail closed)
#
# Promotions are judged by patchbay.promotion; baseline content by
# patchbay.baseline; cosmetic changes and removed or narrowed exceptions
# need nothing more. Every message names the rule, what asked for it and
# who counted.
package patchbay.governance

import data.patchbay.lib

classes := object.get(input.change, "classes", [])

ring_index[name] := i if {
	some i, r in input.rings
	name := r.name
}

owners := lib.valid_approvers & lib.members([input.config.policy_owners])

# ring_changes[name] are the ring_policy classes of a ring at the base.
ring_changes[name] contains c if {
	some c in classes
	c.class == "ring_policy"
	name := c.subject
}

loosened(name) if {
	some c in ring_changes[name]
	c.direction != "tightening"
}

# what(cs) lists the changes for a message: "approvals.required 2 → 0; soak 72h → 0h".
what(cs) := concat("; ", sort({c.detail | some c in cs}))

# deny: a ring's rules change without the ring's own approvals (base).
deny contains {
	"id": "governance.ring_policy.approvals",
	"msg": sprintf("ring %s: its rollout rules change (%s in %s) and need %d approvals from %s on head commit %s (counted: %s)", [
		name, what(cs), concat(", ", sort({c.path | some c in cs})), ring.approvals.required,
		concat(", ", ring.approvals.groups), lib.short(input.pr.head_sha), lib.names(got),
	]),
} if {
	some name, cs in ring_changes
	ring := input.rings[ring_index[name]]
	got := lib.valid_approvers & lib.members(ring.approvals.groups)
	count(got) < ring.approvals.required
}

# deny: a ring's rules loosen without a policy owner.
deny contains {
	"id": "governance.ring_policy.policy_owner",
	"msg": sprintf("ring %s: its rollout rules loosen (%s) and need an approval from a member of %s on head commit %s (counted: %s)", [
		name, what({c | some c in cs; c.direction != "tightening"}), input.config.policy_owners, lib.short(input.pr.head_sha), lib.names(owners),
	]),
} if {
	some name, cs in ring_changes
	loosened(name)
	count(owners) == 0
}

# exception_needs_security are the exception classes that grant more.
exception_needs_security contains c if {
	some c in classes
	c.class == "exception"
	c.direction in {"added", "extended", "widened", "changed"}
}

# independent_security(c) are the security approvers of the head commit
# who are not the exception's owner (as a login or a group's member).
independent_security(c) := {login |
	some login in lib.valid_approvers & lib.members([input.config.security])
	login != c.owner
	not login in lib.members([c.owner])
}

# deny: an exception is granted or extended without an independent
# security approval.
deny contains {
	"id": "governance.exception.security",
	"msg": sprintf("exception %s is %s (%s) and needs an approval from a member of %s who is neither its owner %s nor the author %s, on head commit %s (counted: %s)", [
		c.subject, c.direction, c.detail, input.config.security, c.owner, input.pr.author,
		lib.short(input.pr.head_sha), lib.names(independent_security(c)),
	]),
} if {
	some c in exception_needs_security
	count(independent_security(c)) == 0
}

owner_classes := {"config", "repo_policy", "workflow"}

# owner_needed are the classes that need a policy owner: config, policies,
# workflows, and any changed file no class covers.
owner_needed contains sprintf("%s %s (%s)", [c.class, c.path, c.detail]) if {
	some c in classes
	c.class in owner_classes
}

owner_needed contains sprintf("unclassified %s", [f]) if {
	some f in input.change.files
	not covered(f)
}

covered(f) if {
	some c in classes
	c.path == f
}

# deny: config, policy or workflow changes without a policy owner.
deny contains {
	"id": "governance.policy_owner",
	"msg": sprintf("%s: needs an approval from a member of %s on head commit %s (counted: none)", [
		concat("; ", sort(owner_needed)), input.config.policy_owners, lib.short(input.pr.head_sha),
	]),
} if {
	count(owner_needed) > 0
	count(owners) == 0
}
