package patchbay.repo.ticket_test

import data.patchbay.repo.ticket

prod := {"change": {"rings_moved": [{"ring": "prod", "from": "2026-10", "to": "2026-11"}]}, "pr": {"labels": []}}

test_prod_without_ticket_warns if {
	ticket.warn == {{
		"id": "repo.ticket.missing",
		"msg": "ring prod: promotion to baseline 2026-11 has no change ticket label (change:<ticket>)",
	}} with input as prod
}

test_prod_with_ticket_is_quiet if {
	count(ticket.warn) == 0 with input as object.union(prod, {"pr": {"labels": ["change:CHG-1234"]}})
}

test_empty_ticket_warns if {
	count(ticket.warn) == 1 with input as object.union(prod, {"pr": {"labels": ["change:"]}})
}

test_other_rings_are_quiet if {
	count(ticket.warn) == 0 with input as {"change": {"rings_moved": [{"ring": "pilot", "to": "2026-11"}]}, "pr": {"labels": []}}
}
