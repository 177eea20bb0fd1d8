# ForgeFlow developer commands. Each target installs what it needs into .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Two cores on the reference machine: run the suite on both.
PYTEST_WORKERS ?= 2

.PHONY: demo test install lint typecheck cfn-lint pytest bench constraints clean test-sdk

$(STAMP): pyproject.toml setup.cfg constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(STAMP)

## demo: run the whole pipeline end to end on the embedded local AWS, on the shipped example dataset
demo: $(STAMP)
	$(BIN)/forgeflow local run --example

## test: lint, format check, type check, template lint, then every test
test: $(STAMP) lint typecheck cfn-lint pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

cfn-lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml

pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

## bench: the performance figures the issues ask for (see bench/), with their baselines
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/mix.py

## test-sdk: opt-in, not part of `make test`: ForgeFlow's job requests against the SageMaker SDK's, offline.
## Own venv and lock (constraints-sdk.txt): the SDK is large and its dependency tree conflicts with constraints.txt.
SDK_VENV := .venv-sdk
test-sdk:
	$(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SDK_VENV)/bin/python -m pip install --quiet -c constraints-sdk.txt -e '.[sdk]'
	FORGEFLOW_SDK_TESTS=1 $(SDK_VENV)/bin/pytest -q tests/sdk

constraints: $(STAMP)
	{ echo "# Exact versions of every package the dev environment installs (pip install -c constraints.txt)."; \
	  echo "# Regenerate with: make constraints"; \
	  $(BIN)/pip freeze --exclude-editable | grep -vi '^forgeflow'; } > constraints.txt

clean:
	rm -rf $(VENV) $(SDK_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build .forgeflow
