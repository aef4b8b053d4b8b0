# otelcol-analytics — `make help` lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

GO          ?= go
TOOLS_DIR   := $(CURDIR)/.tools
OCB_VERSION := v0.165.0
OCB         := $(TOOLS_DIR)/builder
GOLANGCI_VERSION := v2.15.0
GOLANGCI    := $(TOOLS_DIR)/golangci-lint
BIN         := bin/otelcol-analytics
CONFIG      ?= otelcol-config.yaml
GO_SOURCES  := $(shell find . \( -name '*.go' -o -name '*.sql' -o -name '*.yaml' -o -name '*.js' -o -name '*.html' \) -not -path './build/*' -not -path './.tools/*' -not -path './data/*') go.mod go.sum

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(OCB):
	GOBIN=$(TOOLS_DIR) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)

.PHONY: tools
tools: $(OCB) ## Install the pinned tools (ocb) into .tools/

$(BIN): builder-config.yaml $(GO_SOURCES) | $(OCB)
	$(OCB) --config builder-config.yaml
	mkdir -p bin
	cp build/otelcol-analytics $(BIN)

.PHONY: build
build: $(BIN) ## Build bin/otelcol-analytics with ocb (installs ocb if missing) and the commands in cmd/
	$(GO) build -o bin/ ./cmd/...

.PHONY: services
services: ## Make sure PostgreSQL and Redis answer (start or install them)
	bash scripts/ensure-services.sh

.PHONY: run
run: build services ## Build, ensure PostgreSQL and Redis, run the collector in the foreground
	$(BIN) --config $(CONFIG)

DEMO_FLAGS ?=

.PHONY: demo
demo: build services ## Self-checking demo: collector + a simulated month, case study checked field by field (DEMO_FLAGS='--keep-running --scale 50 --month 2025-12')
	bin/demo $(DEMO_FLAGS)

.PHONY: test
test: build ## Run every test (needs PostgreSQL and Redis: `make services`)
	$(GO) vet ./...
	OTELCOL_ANALYTICS_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 30m ./...
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 20s ./receiver/trackreceiver/

FAULTS_PARALLEL ?= 2

.PHONY: faults
faults: build ## Fault and abuse suite on the built collector, full variants, two scenarios at a time, then the decoders' fuzzers (docs/guarantees.md)
	OTELCOL_ANALYTICS_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -parallel $(FAULTS_PARALLEL) -timeout 30m -run 'TestFault|TestAbuse' ./internal/faults/ -faults.full
	$(GO) test -run '^$$' -fuzz FuzzOTLPJSON -fuzztime 60s ./internal/faults/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./receiver/trackreceiver/

.PHONY: test-scale
test-scale: build ## Scale tests (docs/scaling.md): a Redis Cluster through a failover and a killed master, analytics-stats on a PostgreSQL hot standby, partitions at scale, 10M events by default (OTELCOL_SCALE_PART_EVENTS; internal/scale)
	OTELCOL_SCALE=1 OTELCOL_ANALYTICS_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -p 1 -timeout 90m -run 'TestScale|TestPartitions|TestNewClientCluster' ./internal/scale/ ./internal/counters/

.PHONY: bench
bench: ## Run the benchmarks (see BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

BENCH_E2E_FLAGS ?=

.PHONY: bench-e2e
bench-e2e: build ## End-to-end benchmark of the built collector, default config (BENCH_E2E_FLAGS='-events 200000 -cpuprofile cpu.pprof'; see BENCHMARKS.md)
	bin/bench-e2e $(BENCH_E2E_FLAGS)

.PHONY: generate
generate: ## Run go generate
	$(GO) generate ./...

.PHONY: fmt
fmt: ## Format the code with what `make lint` checks (golangci-lint fmt: gofumpt, goimports); gofmt -s if it cannot be installed
	@if $(MAKE) -s $(GOLANGCI) 2>/dev/null; then $(GOLANGCI) fmt ./...; else echo "golangci-lint $(GOLANGCI_VERSION) could not be installed; running gofmt -s only"; gofmt -s -w $$(find . -name '*.go' -not -path './build/*' -not -path './.tools/*'); fi

$(GOLANGCI):
	GOBIN=$(TOOLS_DIR) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

.PHONY: lint
lint: ## go vet, gofmt check, and golangci-lint when it can be installed
	$(GO) vet ./...
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './build/*' -not -path './.tools/*')); if [ -n "$$out" ]; then echo "not gofmt-clean:"; echo "$$out"; exit 1; fi
	@if $(MAKE) -s $(GOLANGCI) 2>/dev/null; then $(GOLANGCI) run ./...; else echo "golangci-lint $(GOLANGCI_VERSION) could not be installed; ran go vet and gofmt only"; fi

.PHONY: clean
clean: ## Remove build output
	rm -rf bin build
