# The two commands of the README: `make run` and `make test`.
GO ?= go

.PHONY: run test bench loadgen build vet
run:
	$(GO) run ./cmd/kazna serve

test:
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3s ./eventstore/... ./stellar/...
	$(GO) test -run '^$$' -bench . -benchtime 1x ./projections/

# Transfers end to end through the HTTP API, on an embedded node of its own (docs/BENCHMARKS.md).
loadgen:
	$(GO) run ./cmd/kazna loadgen --customers 100 --workers 20 --duration 60s

build:
	$(GO) build -o kazna ./cmd/kazna

vet:
	$(GO) vet ./...
