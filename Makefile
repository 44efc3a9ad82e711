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

.PHONY: help setup run token test test-fast test-frontend fuzz format validate scan build deploy bench clean

help:  ## list every target with what it does
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)$$/\1\t\2/' | \
		awk -F'\t' '{ printf "  make %-12s %s\n", $$1, $$2 }'

setup:  ## set up the venvs, frontend/node_modules, the storefront build and Chromium (skipped when nothing changed)
	@bash scripts/bootstrap all

run:  ## serve the API and the storefront on http://127.0.0.1:3000 (BILLING_PORT); builds the storefront when changed
	@bash scripts/bootstrap service
	@bash scripts/bootstrap storefront
	@$(PY) -m local_stack

token:  ## print a local bearer token: make token ROLE=... ORG=... RESIDENCY=...
	@bash scripts/bootstrap service
	@$(PY) -m local_stack.token --role "$(ROLE)" --org "$(ORG)" --residency "$(RESIDENCY)"

test: setup  ## every test: unit, integration, e2e, style, Schemathesis, sam validate + build, checkov, storefront
	$(PY) -m pytest

test-fast:  ## unit + integration + e2e + style, without the SAM CLI, the scanner, Schemathesis or the storefront
	@bash scripts/bootstrap service
	$(PY) -m pytest -m "not build and not scan and not fuzz and not frontend"

test-frontend:  ## the storefront alone: API types vs OpenAPI, vitest, Playwright against the local stack
	@bash scripts/bootstrap service
	@bash scripts/bootstrap storefront
	@bash scripts/bootstrap browser
	$(PY) -m pytest -m frontend

fuzz:  ## Schemathesis against the local stack (BILLING_FUZZ_SEED, BILLING_FUZZ_EXAMPLES)
	@bash scripts/bootstrap service
	@bash scripts/bootstrap fuzz
	$(PY) -m pytest -m fuzz -s

format:  ## apply the formatter and the linter's fixes (rules: ruff.toml)
	@bash scripts/bootstrap service
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

validate: setup  ## sam validate --lint
	$(SAM) validate --lint

scan:  ## checkov over template.yaml (skips and their reasons: .checkov.yaml)
	@bash scripts/bootstrap scan
	$(CHECKOV) --config-file .checkov.yaml

build: setup  ## sam build (no container)
	$(SAM) build

deploy: build  ## sam build && sam deploy --config-env ENV (ENV=sandbox|prod|...), then upload the storefront
	@bash scripts/bootstrap storefront
	.venv-sam/bin/python scripts/storefront_csp.py --env $(ENV) > .aws-sam/storefront-overrides.txt
	$(SAM) deploy --config-env $(ENV) --parameter-overrides "$$(cat .aws-sam/storefront-overrides.txt)"
	.venv-sam/bin/python scripts/upload_storefront.py --env $(ENV)

clean:  ## remove build and test caches
	rm -rf .aws-sam .pytest_cache .hypothesis frontend/.next frontend/out frontend/test-results

bench:  ## the performance targets of DESIGN.md, as ratios on this machine
	@bash scripts/bootstrap service
	@$(PY) bench/benchmark.py
