#!/usr/bin/env bash
# bench-gate.sh: one gate decision with the prepared query (BenchmarkDecide in
# engine/gate) against `opa bench` on the same policies, query and input,
# alternating ROUNDS times so that both see the same machine load. Prints
# every sample, the medians, the minimums and their ratios (target: Decide
# <= 1.5x opa bench).
#
# Two Go numbers: "decide" is BenchmarkDecide (a plain b.Loop: everything,
# GC included, is timed); "decide-opa-timing" is
# BenchmarkDecideTimedLikeOPABench, timed the way `opa bench` times (timer
# started and stopped around each call). The second is the like-for-like
# comparison; both include what opa bench does not do: building the input
# value, its canonical JSON and digest, and reading the findings.
#
#   scripts/bench-gate.sh            # or: make bench-gate
#   ROUNDS=7 BENCHTIME=3s OPA=/path/to/opa scripts/bench-gate.sh
#
# Needs the opa CLI (go install github.com/open-policy-agent/opa@v1.22.3).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
BENCHTIME=${BENCHTIME:-2s}
OPA=${OPA:-opa}
if ! command -v "$OPA" >/dev/null; then
	echo "bench-gate: $OPA not found; install it with: go install github.com/open-policy-agent/opa@v1.22.3" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/gate.test" ./engine/gate/
query=$(cat engine/gate/testdata/builtin-query.txt)
input=engine/gate/testdata/promotion-input.json

echo "opa: $("$OPA" version | head -1)"
echo "query: $query"
for i in $(seq "$ROUNDS"); do
	(cd engine/gate && "$tmp/gate.test" -test.run '^$' -test.bench '^BenchmarkDecide' -test.benchmem -test.benchtime="$BENCHTIME") |
		awk '/^BenchmarkDecide-/ {print "decide", $3, $5, $7; fflush()}
		     /^BenchmarkDecideTimedLikeOPABench-/ {print "decide-opa-timing", $3, $5, $7; fflush()}' | tee -a "$tmp/go"
	"$OPA" bench --format gobench --benchmem --metrics=false -d policies/ --ignore '*_test.rego' -i "$input" "$query" |
		awk '/^Benchmark/ {print "opa-bench", $3, $5, $7; fflush()}' | tee -a "$tmp/opa"
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
minimum() { sort -n | head -1; }
om=$(awk '{print $2}' "$tmp/opa" | median)
on=$(awk '{print $2}' "$tmp/opa" | minimum)
echo "opa bench: median $om ns/op, min $on ns/op"
for name in decide decide-opa-timing; do
	pm=$(awk -v n="$name" '$1 == n {print $2}' "$tmp/go" | median)
	pn=$(awk -v n="$name" '$1 == n {print $2}' "$tmp/go" | minimum)
	awk -v n="$name" -v pm="$pm" -v om="$om" -v pn="$pn" -v on="$on" 'BEGIN {
		printf "%s: median %d ns/op, min %d ns/op; ratio to opa bench: median %.2f, min %.2f (target <= 1.50)\n", n, pm, pn, pm / om, pn / on
	}'
done
