// Package gate owns the promotion gate: it evaluates the built-in policies
// (package policies) and a patch repository's own policy/*.rego with OPA on
// the effect of a change, and returns a Decision — pass, fail or
// inconclusive — with every deny, warn and missing message and an
// evaluation manifest.
//
// Use it in two steps: New prepares the policy bundle once (parse, compile,
// prepare the query data.patchbay); Engine.Decide evaluates one Input with
// the prepared query. An Engine is safe for concurrent use.
//
//	b, _ := gate.WithBuiltin(repoPolicyFilesAtBase)
//	eng, err := gate.New(ctx, b)
//	d, err := eng.Decide(ctx, in)
//
// # Contract: the base commit decides
//
// The policy files, Input.Config and Input.Rings MUST be read from the BASE
// commit of the change, never from its head: a pull request is judged by
// the rules it would replace. Input.Change.Classes classify every changed
// file and field (ChangeClass); package patchbay.governance says whose
// approval each class needs (ring loosening: the ring's approvals and a
// policy owner; tightening: the ring's; new or extended exceptions: an
// independent security approver; config, policy/ and workflow files: a
// policy owner; an unclassified file: a policy owner).
//
// # Fail closed
//
// A policy that does not parse or compile, a repository policy outside a
// package under patchbay or inside a built-in package, a bundle without any
// deny rule or without the built-in policies, a policy using a
// nondeterministic built-in (time.now_ns, http.send, ...), a reporting rule
// without a result, a malformed finding or an evaluation error: the
// decision is fail with the reason in Decision.Errors. Missing evidence
// (a missing message, no deny) is inconclusive. Only a decision in which
// every reporting rule produced a result and none denied passes.
//
// # Rules evaluated
//
// A reporting rule is a rule named deny, warn or missing in a package under
// data.patchbay; each (package, name) counts once. New finds them in the
// parsed modules; Decide counts those whose value the evaluation of
// data.patchbay produced (Manifest.RulesEvaluated) and fails the decision
// if any is absent, so that a rule that was not evaluated cannot pass
// silently. Findings are objects {"id": "...", "msg": "..."}; a bare
// string is accepted from repository policies, with the id
// "<package without patchbay.>.<kind>".
//
// # Determinism
//
// The input is encoded once to canonical JSON (struct field order, sorted
// map keys, UTC times, empty arrays rather than null); its SHA-256 is the
// input digest. Findings are sorted by id, message and package. The same
// bundle and input give the same decision, byte for byte.
//
// # Input document
//
// The JSON the policies see as input (Go: Input):
//
//	{
//	  "base":   {"commit": "<sha>"},
//	  "head":   {"commit": "<sha>"},
//	  "now":    "2026-11-26T09:00:00Z",              // RFC 3339, UTC
//	  "config": {                                      // base commit
//	    "approvers": {"<group>": ["<login>", ...]},
//	    "policy_owners": "policy-owners",
//	    "security": "security",
//	    "exceptions": {"max_days": 90}
//	  },
//	  "rings": [                                       // base commit, promotion order
//	    {"name": "pilot", "baseline": "<id pinned at base>",
//	     "soak_hours": 72, "success_threshold": 0.95,
//	     "approvals": {"required": 2, "groups": ["sre"]},
//	     "freeze": [{"from": "2026-12-18", "to": "2027-01-04", "reason": "..."}],
//	     "min_hosts": 1}
//	  ],
//	  "change": {
//	    "rings_moved": [
//	      {"ring": "pilot", "from": "<id>", "to": "<id>", "to_digest": "sha256:...",
//	       "floors": [{"stream": "debian-12", "kind": "package|source", "name": "openssl",
//	                   "old_min": "...", "new_min": "... or empty", "cmp": -1,
//	                   "allow_downgrade_reason": ""}]}
//	    ],
//	    "baselines": [
//	      {"id": "<id>", "status": "added|changed|removed",
//	       "base_digest": "sha256:... or empty", "head_digest": "sha256:... or empty",
//	       "rules": [{"stream", "kind", "name", "min", "pin", "hold": bool,
//	                  "hold_reason", "block": ["<version>", ...]}]}
//	    ],
//	    "exceptions": [
//	      {"id", "status": "added|changed|removed", "owner", "reason",
//	       "compensating_control", "granted": "YYYY-MM-DD", "expires": "YYYY-MM-DD",
//	       "kev": bool}
//	    ],
//	    "files": ["rings/pilot.cue", ...],
//	    "classes": [                                   // every file covered at least once
//	      {"class": "promotion|ring_policy|exception|config|repo_policy|workflow|baseline|cosmetic",
//	       "path": "rings/prod.cue", "subject": "prod", "field": "approvals",
//	       "direction": "loosening|tightening|added|extended|widened|changed|narrowed|removed",
//	       "owner": "<exception owner>", "detail": "approvals.required 2 → 0"}
//	    ],
//	    "effect_digest": "sha256:..."
//	  },
//	  "pr": {"number": 42, "author": "<login>", "last_pusher": "<login>",
//	         "labels": ["emergency", ...], "head_sha": "<sha>",    // head_sha == head.commit
//	         "base_ref": "main"},
//	  "reviews": [                                     // GitHub API shape
//	    {"user": {"login": "<login>"}, "state": "APPROVED|CHANGES_REQUESTED|COMMENTED|DISMISSED",
//	     "commit_id": "<sha>", "submitted_at": "RFC 3339"}
//	  ],
//	  "evidence": [                                    // ring verification records
//	    {"ring": "canary", "baseline": "<id>", "baseline_digest": "sha256:...",
//	     "commit": "<sha>", "success_rate": 0.99, "soak_hours": 30,
//	     "verified_at": "RFC 3339", "hosts_total": 4, "hosts_changed": 3,
//	     "tested_set": [{"stream": "debian-12", "package": "openssl",
//	                     "version": "3.0.17-1~deb12u2", "hosts": 3}, ...]}
//	  ]
//	}
//
// Versions cannot be compared in Rego; the input builder precomputes floor
// comparisons with FloorChanges and a CompareFunc (VercmpFunc wraps
// engine/vercmp).
//
// gate imports only engine/vercmp (a pure leaf), the embedded policies and
// OPA. It must not import engine/baseline or any other patchbay package:
// the caller converts its model into an Input.
package gate
