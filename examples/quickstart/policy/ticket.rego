# A repository policy: promotions to prod should name the change ticket
# they belong to, as a pull request label "change:<ticket>". It warns and
# does not fail the gate. Repository policies live in packages under
# patchbay; they see the same input as the built-in ones.
package patchbay.repo.ticket

warn contains {
	"id": "repo.ticket.missing",
	"msg": sprintf("ring prod: promotion to baseline %s has no change ticket label (change:<ticket>)", [m.to]),
} if {
	some m in input.change.rings_moved
	m.ring == "prod"
	not has_ticket
}

has_ticket if {
	some label in input.pr.labels
	startswith(label, "change:")
	count(label) > count("change:")
}
