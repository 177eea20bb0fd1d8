# ForgeFlow developer commands. Each target installs what it needs into .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Two cores on the reference machine: run the suite on both.
PYTEST_WORKERS ?= 2

.PHONY: demo test install lint typecheck cfn-lint pytest bench mutate constraints clean

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

## mutate: mutation testing of the core rules (slow; never part of `make test`), see docs/mutation.md.
## MUTATE_ARGS: modules and options, e.g. MUTATE_ARGS="mixing/apportion.py --budget 600"
MUTATE_ARGS ?=
mutate: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,mutate]'
	$(BIN)/python tools/mutate.py $(MUTATE_ARGS)

constraints: $(STAMP)
	{ echo "# Exact versions of every package the dev environment installs (pip install -c constraints.txt)."; \
	  echo "# Regenerate with: make constraints"; \
	  $(BIN)/pip freeze --exclude-editable | grep -vi '^forgeflow'; } > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build .forgeflow
