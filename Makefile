# The two commands of the README: `make run` and `make test`.
GO ?= go

.PHONY: run test bench build vet
run:
	$(GO) run ./cmd/kazna serve

test:
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3s ./eventstore/... ./stellar/...

build:
	$(GO) build -o kazna ./cmd/kazna

vet:
	$(GO) vet ./...
