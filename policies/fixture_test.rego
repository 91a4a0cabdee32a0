# Package patchbay.fixture holds the inputs the policy tests start from:
# a valid promotion of ring pilot to baseline 2026-12 that passes every
# built-in policy. Each test changes one thing.
package patchbay.fixture

head := "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"

old := "0ld0000000000000000000000000000000000000"

approve(login) := {"user": {"login": login}, "state": "APPROVED", "commit_id": head, "submitted_at": "2026-11-26T08:00:00Z"}

promotion := {
	"now": "2026-11-26T09:00:00Z",
	"base": {"commit": "ba5e000000000000000000000000000000000000"},
	"head": {"commit": head},
	"config": {
		"approvers": {
			"sre": ["alice", "bob", "carol"],
			"security": ["sec1", "sec2", "sec3"],
			"policy-owners": ["owner"],
		},
		"policy_owners": "policy-owners",
		"security": "security",
		"exceptions": {"max_days": 90},
	},
	"rings": [
		{"name": "canary", "baseline": "2026-12", "soak_hours": 24, "success_threshold": 1, "approvals": {"required": 1, "groups": ["sre"]}, "freeze": [], "min_hosts": 1},
		{"name": "pilot", "baseline": "2026-11", "soak_hours": 72, "success_threshold": 0.95, "approvals": {"required": 2, "groups": ["sre"]}, "freeze": [], "min_hosts": 1},
		{"name": "prod", "baseline": "2026-10", "soak_hours": 168, "success_threshold": 0.98, "approvals": {"required": 2, "groups": ["sre", "security"]}, "freeze": [{"from": "2026-12-18", "to": "2027-01-04", "reason": "year-end change freeze"}], "min_hosts": 2},
	],
	"change": {
		"rings_moved": [{
			"ring": "pilot", "from": "2026-11", "to": "2026-12", "to_digest": "sha256:d12",
			"floors": [{"stream": "debian-12", "kind": "package", "name": "openssl", "old_min": "3.0.15-1~deb12u1", "new_min": "3.0.17-1~deb12u2", "cmp": 1, "allow_downgrade_reason": ""}],
		}],
		"baselines": [],
		"exceptions": [],
		"files": ["rings/pilot.cue"],
		"classes": [class({"class": "promotion", "path": "rings/pilot.cue", "subject": "pilot", "field": "baseline", "detail": "baseline 2026-11 → 2026-12"})],
		"effect_digest": "sha256:effect",
	},
	"pr": {"number": 42, "author": "dave", "last_pusher": "dave", "labels": [], "head_sha": head, "base_ref": "main"},
	"reviews": [approve("alice"), approve("bob")],
	"evidence": [{"ring": "canary", "baseline": "2026-12", "baseline_digest": "sha256:d12", "commit": "ca0000000000000000000000000000000000000a", "success_rate": 1, "soak_hours": 30, "verified_at": "2026-11-24T09:00:00Z", "hosts_total": 4, "hosts_changed": 3, "tested_set": [{"stream": "debian-12", "package": "openssl", "version": "3.0.17-1~deb12u2", "hosts": 3}]}],
}

# class returns a change class with the fields not given empty.
class(c) := object.union({"class": "", "path": "", "subject": "", "field": "", "direction": "", "owner": "", "detail": ""}, c)

# changed returns the promotion fixture changing only the given classes
# (and their files), with no ring moved.
changed(cs) := object.union(promotion, {"change": {"rings_moved": [], "classes": [class(c) | some c in cs], "files": sort({c.path | some c in cs})}})

# moved returns the promotion fixture with its moved ring replaced.
moved(m) := object.union(promotion, {"change": {"rings_moved": [object.union(promotion.change.rings_moved[0], m)]}})
