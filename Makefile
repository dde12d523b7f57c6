SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
# Extra arguments for the benchmark, e.g. make bench BENCH_ARGS="--scenarios single,batch --concurrency 128"
BENCH_ARGS ?=
# Extra arguments for the chaos suite, e.g. make chaos CHAOS_ARGS="--scenarios 1,3,7 --soak-minutes 5"
CHAOS_ARGS ?=

.PHONY: help services deploy-tools validate-deploy migrate test fmt lint run stop status bench chaos

help:
	@echo "make services  start local Redis and MariaDB when needed (SKIP_SERVICES=1 to skip)"
	@echo "make deploy-tools  install nginx + njs and the deployment validators (.venv-deploy) when needed"
	@echo "make validate-deploy  check docker-compose.yml, .env.example and deploy/k8s offline"
	@echo "make migrate   create the database of DATABASE_URL if missing and apply every migration"
	@echo "make test      deployment files, fmt check, clippy, every test, the chaos suite's short profile"
	@echo "make run       build and start ingest, worker and reporting-api in the background"
	@echo "make stop      stop what make run started"
	@echo "make bench     print the performance figures (BENCH_ARGS=...)"
	@echo "make chaos     the fault-injection suite, long profile with the 30-minute soak (CHAOS_ARGS=...)"
	@echo "make fmt       format the code"
	@echo "make lint      clippy with warnings as errors"

services:
	@scripts/services.sh

deploy-tools:
	@scripts/deploy-tools.sh

validate-deploy: deploy-tools
	@scripts/validate-deploy.sh

migrate: services
	@scripts/migrate.sh

test: services deploy-tools
	@scripts/db.sh drop-test-databases
	@scripts/validate-deploy.sh
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		echo "+ $(CARGO) test --workspace --doc"; \
		$(CARGO) test --workspace --doc; \
		echo "+ $(CARGO) nextest run --workspace"; \
		$(CARGO) nextest run --workspace; \
	else \
		echo "+ $(CARGO) test --workspace (cargo-nextest is not installed)"; \
		$(CARGO) test --workspace; \
	fi
	$(CARGO) build --bins
	$(CARGO) run --quiet --bin clicks-chaos -- --profile short
	@scripts/conformance.sh
	@scripts/dashboard-test.sh
	@echo "make test: all green"

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

run:
	@scripts/run.sh start

stop:
	@scripts/run.sh stop

status:
	@scripts/run.sh status

bench: services
	$(CARGO) build --release --bins
	target/release/clicks-bench $(BENCH_ARGS)

chaos:
	$(CARGO) build --release --bins
	target/release/clicks-chaos --profile long $(CHAOS_ARGS)
