# The two commands of a fresh machine: `make run` (gateway on the embedded default) and
# `make test` (installs what the tests start for real, then the whole suite).
GO ?= go

.PHONY: run test test-deps build vet bench

run:
	$(GO) run ./cmd/deflectd

test: test-deps
	$(GO) vet ./...
	$(GO) test -race -timeout 25m ./...
	$(GO) test -run 'DoesNotAllocate' ./ivr/media/   # allocation checks: built only without -race
	bash deploy/loadtest/smoke.sh

test-deps:
	bash deploy/scripts/install-test-deps.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o deflectd ./cmd/deflectd

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
