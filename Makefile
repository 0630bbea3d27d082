# The two commands of a fresh machine: `make run` (gateway on the embedded default) and
# `make test` (installs what the tests start for real, then the whole suite).
GO ?= go
# nomsgpack: gin without its MessagePack codec, which deflectd never uses (≈ 2 MiB less resident
# binary; BENCHMARKS.md). The load harness builds with the same flags.
BUILD_FLAGS ?= -buildvcs=auto -trimpath -tags nomsgpack -ldflags "-s -w"

.PHONY: run test test-deps build vet bench

run:
	$(GO) run ./cmd/deflectd

test: test-deps
	$(GO) vet ./...
	$(GO) test -race -timeout 25m ./...
	$(GO) test -run 'DoesNotAllocate' ./ivr/media/   # allocation checks: built only without -race
	bash deploy/scripts/cold-smoke.sh   # the load smoke from an empty build cache, as on a fresh machine

test-deps:
	bash deploy/scripts/install-test-deps.sh

build:
	CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o deflectd ./cmd/deflectd

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
