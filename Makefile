# Marketplace Billing. `make run` serves the API locally; `make test` runs every test.
# Both set up what they need first (scripts/bootstrap: .venv, .venv-sam and .venv-scan, pinned).
.DEFAULT_GOAL := help
PY := .venv/bin/python
SAM := SAM_CLI_TELEMETRY=0 .venv-sam/bin/sam
CHECKOV := BC_SKIP_MAPPING=TRUE .venv-scan/bin/checkov
ROLE ?= marketplace:admin
ORG ?=
RESIDENCY ?= us
ENV ?= default

.PHONY: help setup run token test test-fast validate scan build deploy bench clean

help:
	@echo "make run                               serve the API on http://127.0.0.1:3000 (BILLING_PORT)"
	@echo "make token ROLE=... ORG=... RESIDENCY=...  print a bearer token for the local stack"
	@echo "make test                              all tests: unit, integration, e2e, sam validate + build, checkov scan"
	@echo "make test-fast                         unit + integration + e2e, without the SAM CLI or the scanner"
	@echo "make scan                              checkov over template.yaml (skips and reasons: .checkov.yaml)"
	@echo "make bench                             the performance targets of DESIGN.md, as ratios"
	@echo "make deploy ENV=sandbox                sam build && sam deploy --config-env ENV"

setup:
	@bash scripts/bootstrap all

run:  # serving needs only the service's environment, not the SAM CLI or the scanner
	@bash scripts/bootstrap service
	@$(PY) -m local_stack

token:
	@bash scripts/bootstrap service
	@$(PY) -m local_stack.token --role "$(ROLE)" --org "$(ORG)" --residency "$(RESIDENCY)"

test: setup
	$(PY) -m pytest

test-fast:
	@bash scripts/bootstrap service
	$(PY) -m pytest -m "not build and not scan"

validate: setup
	$(SAM) validate --lint

scan:
	@bash scripts/bootstrap scan
	$(CHECKOV) --config-file .checkov.yaml

build: setup
	$(SAM) build

deploy: build
	$(SAM) deploy --config-env $(ENV)

clean:
	rm -rf .aws-sam .pytest_cache .hypothesis

bench:
	@bash scripts/bootstrap service
	@$(PY) bench/benchmark.py
