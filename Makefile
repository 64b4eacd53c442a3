# asvp: the two commands are `make demo` and `make test`.
GO      ?= go
BIN     := bin/asvp
DEMO_OUT ?= out/demo

.PHONY: all setup setup-test build demo fidelity slurm-e2e test vet fuzz bench clean

all: build

## setup: install ONNX Runtime, the backbone and Fashion-MNIST (idempotent, pinned by sha256)
setup:
	bash scripts/setup.sh

setup-test:
	bash scripts/setup.sh --test

## build: compile the CLI to bin/asvp
build:
	$(GO) build -o $(BIN) ./cmd/asvp

## demo: set up, build, and run the main job on Fashion-MNIST with the default backbone
demo: setup build
	bash scripts/demo.sh $(DEMO_OUT)

## fidelity: the longer experiment (not in CI, about an hour on 2 cores); writes docs/fidelity.md
fidelity: setup build
	bash scripts/fidelity.sh

## slurm-e2e: the Slurm examples on a single-node cluster it starts and stops (installs slurm and munge;
## root; not in CI: about 5-8 min on 2 cores, see README); leaves nothing running, even on failure
slurm-e2e: setup build
	bash scripts/slurm-e2e.sh

## test: set up, vet, and run every test against the real ONNX Runtime library
test: setup-test build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

## bench: whole-program figures for BENCHMARKS.md
bench: setup build
	bash scripts/bench.sh

clean:
	rm -rf bin out
