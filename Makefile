# The Makefile is the contract: CI calls only these targets.
GO            ?= go
STATICCHECK   ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
PKGS          ?= ./...
BENCHTIME     ?= 1s

.PHONY: all build test lint fmt-check vet staticcheck toolchain-check bench bench-plan1m bench-gate bench-audit-log check clean

all: build

build:
	$(GO) build -o bin/ ./cmd/...

## test: the whole suite with the race detector (README's test command); go
## test's own ok/FAIL lines, then every skipped test with its reason.
## REQUIRE_RUN: a regular expression; a skip whose reason matches fails the run
## (.ci/run sets it for the tests CI must run).
REQUIRE_RUN   ?=
test:
	$(GO) run .ci/testsum.go -go "$(GO)" -require '$(REQUIRE_RUN)' -- -race -count=1 -timeout 30m $(PKGS)

## lint: formatting, vet, staticcheck and the toolchain ceiling
lint: fmt-check vet staticcheck toolchain-check

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) run $(STATICCHECK) $(PKGS)

## toolchain-check: neither go.mod nor any dependency may require a newer Go than this machine has
toolchain-check:
	@bash .ci/toolchain-check

## bench: every benchmark, with allocations
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) $(PKGS)

## bench-plan1m: the 1,000,000-host plan (about 1 GiB and a few minutes to generate), opt-in
bench-plan1m:
	$(GO) test -run='^$$' -bench='BenchmarkPlan1M|BenchmarkPlanScale' -benchtime=2x -timeout=60m ./engine/plan -args -plan1m

## bench-gate: one gate decision (prepared query) against `opa bench` on the same policies and input
bench-gate:
	bash .ci/bench-gate

## bench-audit-log: `patchbay audit log` (cold and warm cache) against `git log --notes` on 10,000 commits, whole processes
bench-audit-log:
	bash .ci/bench-audit-log

check: lint test

clean:
	rm -rf bin/
