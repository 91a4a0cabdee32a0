#!/usr/bin/env bash
# gate-mutations.sh: removes each built-in policy rule (or the condition that
# makes it fire) in turn and checks that the Go tests through Engine.Decide
# fail. Prints "killed" or "SURVIVED" per mutation; exits 1 if any survived.
# Each mutation is a perl substitution on one policy file, restored after.
#
#   scripts/gate-mutations.sh      # about 2 minutes on 2 busy cores
set -uo pipefail
cd "$(dirname "$0")/.."

backup=$(mktemp)
trap 'rm -f "$backup"' EXIT
survived=0

mutate() { # file label perl-expression
	local f=policies/$1 label=$2 expr=$3
	cp "$f" "$backup"
	perl -0pi -e "$expr" "$f"
	if cmp -s "$f" "$backup"; then
		echo "NOCHANGE $label (the mutation no longer matches the policy)"
		survived=1
	elif go test -count=1 -run 'TestDecide' ./engine/gate/ >/dev/null 2>&1; then
		echo "SURVIVED $label"
		survived=1
	else
		echo "killed   $label"
	fi
	cp "$backup" "$f"
}

mutate lib.rego stale_approval 's/\tlatest\[login\].commit_id == input.pr.head_sha\n//'
mutate lib.rego author_approval 's/\tlogin != input.pr.author\n//'
mutate lib.rego pusher_approval 's/\tlogin != input.pr.last_pusher\n//'
mutate lib.rego latest_review_wins 's/\tnot superseded\(i, r\)\n//'
mutate approvals.rego approvals.changes_requested 's/deny contains \{\n\t"id": "approvals.changes_requested".*?\n\}\n//s'
mutate approvals.rego approvals.policy_owner 's/deny contains \{\n\t"id": "approvals.policy_owner".*?\n\}\n//s'
mutate approvals.rego approvals.head_mismatch 's/\tinput.pr.head_sha != input.head.commit\n/\tfalse\n/'
mutate promotion.rego promotion.evidence.missing 's/missing contains \{.*?\n\}\n//s'
mutate promotion.rego promotion.evidence.success_rate 's/\tr.success_rate < prev.success_threshold\n/\tfalse\n/'
mutate promotion.rego promotion.evidence.soak 's/\tsoaked_hours\(r\) < ring.soak_hours\n/\tfalse\n/'
mutate promotion.rego promotion.freeze 's/\tlib.today <= f.to\n/\tfalse\n/'
mutate promotion.rego promotion.evidence.not_pinned 's/\tprev.baseline != m.to\n/\tfalse\n/'
mutate promotion.rego promotion.evidence.digest 's/\tnot record\(prev.name, m.to, m.to_digest\)\n/\tfalse\n/'
mutate promotion.rego promotion.ring.unknown 's/\tnot ring_index\[m.ring\]\n/\tfalse\n/'
mutate promotion.rego promotion.approvals.insufficient 's/\tcount\(got\) < ring.approvals.required\n/\tfalse\n/'
mutate promotion.rego emergency_two_security 's/\tcount\(security_approvers\) >= 2\n//'
mutate promotion.rego emergency_skips_evidence 's/\tnot emergency_granted\n\tsome \[m, ring\] in moves/\tsome [m, ring] in moves/'
mutate promotion.rego promotion.emergency 's/warn contains \{.*?\n\}\n//s'
mutate baseline.rego baseline.immutable 's/\tb.head_digest != b.base_digest\n/\tfalse\n/'
mutate baseline.rego baseline.immutable_removed 's/\tb.status == "removed"\n\tpinned_by\[b.id\]\n/\tfalse\n/'
mutate baseline.rego baseline.hold.reason 's/\tr.hold\n/\tfalse\n/'
mutate baseline.rego baseline.pin.blocked 's/\tr.pin in r.block\n/\tfalse\n/'
mutate baseline.rego baseline.floor.lowered 's/\tf.cmp < 0\n/\tfalse\n/'
mutate baseline.rego baseline.floor.removed 's/\tf.new_min == ""\n/\tfalse\n/'
mutate exception.rego exception.owner 's/trim_space\(object.get\(e, "owner", ""\)\) == ""/false/'
mutate exception.rego exception.reason 's/trim_space\(object.get\(e, "reason", ""\)\) == ""/false/'
mutate exception.rego exception.compensating_control 's/trim_space\(object.get\(e, "compensating_control", ""\)\) == ""/false/'
mutate exception.rego exception.expires.invalid 's/\tnot date_ns\(object.get\(e, "expires", ""\)\)\n/\tfalse\n/'
mutate exception.rego exception.expired 's/\tdate_ns\(e.expires\) \+ day_ns <= lib.now_ns\n/\tfalse\n/'
mutate exception.rego exception.too_long 's/\tdays > input.config.exceptions.max_days\n/\tfalse\n/'
mutate exception.rego exception.kev.security_approval 's/\te.kev\n\tcount/\tfalse\n\tcount/'

exit $survived
