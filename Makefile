# ForgeFlow developer commands. Each target installs what it needs into .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# checkov and the SAM translator pin boto3/pydantic versions the project cannot share: their own venv.
TOOLS_VENV  := .venv-tools
TOOLS_BIN   := $(TOOLS_VENV)/bin
TOOLS_STAMP := $(TOOLS_VENV)/.installed-stamp
IAC_TOOLS   := checkov==3.3.30 aws-sam-translator==1.115.0
# aws-sam-cli pins its own pydantic and boto3 (it would downgrade the project's): a tool venv of its own.
SAM_VENV  := .venv-sam
SAM_BIN   := $(SAM_VENV)/bin
SAM_STAMP := $(SAM_VENV)/.installed-stamp
SAM_CLI   := aws-sam-cli==1.170.0
SAM       := SAM_CLI_TELEMETRY=0 $(SAM_BIN)/sam
# The two source roots (layers/forgeflow, tools) make setuptools' editable install use its meta-path finder,
# whose exit always warns "Editable installation." (setuptools/command/editable_wheel.py, _select_strategy and
# _TopLevelFinder.__exit__; _LinkTree, i.e. editable_mode=strict, warns the same). editable_mode=compat would
# put only the project root on sys.path (`package_dir.get("", ".")`), where neither package is. So this one
# informational warning is filtered, by its message, on the editable pip line only: every other warning shows.
EDITABLE_QUIET := PYTHONWARNINGS="ignore:Editable installation"
# Two cores on the reference machine: run the suite on both.
PYTEST_WORKERS ?= 2

.PHONY: demo test install lint typecheck cfn-lint checkov sam-build pytest bench mutate constraints constraints-tools constraints-sam clean test-sdk

$(STAMP): pyproject.toml setup.cfg constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(EDITABLE_QUIET) $(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(STAMP)

$(TOOLS_STAMP): constraints-tools.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_BIN)/python -m pip install --quiet --upgrade pip
	$(TOOLS_BIN)/python -m pip install --quiet -c constraints-tools.txt $(IAC_TOOLS)
	touch $@

$(SAM_STAMP): constraints-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_BIN)/python -m pip install --quiet --upgrade pip
	$(SAM_BIN)/python -m pip install --quiet -c constraints-sam.txt $(SAM_CLI)
	touch $@

## demo: run the whole pipeline end to end on the embedded local AWS, on the shipped example dataset
## (exit 3 is a verdict, not a failure: the run completed and the forgetting gate said "regressed", which the
## local stand-in does say of the example's default 75/25 mix, docs/local.md; make fails only on 1 or 2)
demo: $(STAMP)
	$(BIN)/forgeflow local run --example; status=$$?; \
	if [ $$status -eq 3 ]; then echo "demo: the run completed; verdict regressed (exit 3), see docs/local.md"; \
	else exit $$status; fi

## test: lint, format check, type check, template lint and checkov, sam validate + build, then every test
## (the artifact tests in tests/artifact/ fail instead of skipping when the build is missing)
test: export FORGEFLOW_REQUIRE_BUILD = 1
test: $(STAMP) lint typecheck cfn-lint checkov sam-build pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

cfn-lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml

## checkov: the SAM-expanded template (build/template.cfn.json) against checkov; skips only in .checkov.yaml
checkov: $(TOOLS_STAMP)
	$(TOOLS_BIN)/python tools/iac/sam_expand.py template.yaml build/template.cfn.json
	$(TOOLS_BIN)/checkov -f build/template.cfn.json --config-file .checkov.yaml

## sam-build: `sam validate --lint` and `sam build` of template.yaml into .aws-sam/build, offline and without
## Docker: the makefile builds (layers/forgeflow/Makefile, functions/Makefile) fetch Lambda-platform wheels
## (arm64, CPython 3.12) with the tool venv's pip, pinned by constraints.txt; pip's cache keeps rebuilds fast.
sam-build: $(SAM_STAMP)
	$(SAM) validate --lint
	rm -rf .aws-sam/build
	PIP="$(CURDIR)/$(SAM_BIN)/python -m pip" PIP_CONSTRAINT="$(CURDIR)/constraints.txt" $(SAM) build --no-cached

pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

## bench: the performance figures the issues ask for (see bench/), with their baselines
bench: $(STAMP)
	$(EDITABLE_QUIET) $(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/mix.py
	$(BIN)/python bench/cold_imports.py
	$(BIN)/python bench/metrics.py

## test-sdk: opt-in, not part of `make test`: ForgeFlow's job requests against the SageMaker SDK's, offline.
## Own venv and lock (constraints-sdk.txt): the SDK is large and its dependency tree conflicts with constraints.txt.
SDK_VENV := .venv-sdk
test-sdk:
	$(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(EDITABLE_QUIET) $(SDK_VENV)/bin/python -m pip install --quiet -c constraints-sdk.txt -e '.[sdk]'
	FORGEFLOW_SDK_TESTS=1 $(SDK_VENV)/bin/pytest -q tests/sdk

## mutate: mutation testing of the core rules (slow; never part of `make test`), see docs/mutation.md.
## MUTATE_ARGS: modules and options, e.g. MUTATE_ARGS="mixing/apportion.py --budget 600"
MUTATE_ARGS ?=
mutate: $(STAMP)
	$(EDITABLE_QUIET) $(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,mutate]'
	$(BIN)/python tools/mutate.py $(MUTATE_ARGS)

constraints: $(STAMP)
	{ echo "# Exact versions of every package the dev environment installs (pip install -c constraints.txt)."; \
	  echo "# Regenerate with: make constraints"; \
	  $(BIN)/pip freeze --exclude-editable | grep -vi '^forgeflow'; } > constraints.txt

constraints-tools: $(TOOLS_STAMP)
	{ echo "# Exact versions of .venv-tools (make checkov): checkov and the SAM translator pin boto3 1.35 and"; \
	  echo "# pydantic 2.13, which the project's pins (constraints.txt) cannot share. Regenerate with: make constraints-tools"; \
	  $(TOOLS_BIN)/pip freeze; } > constraints-tools.txt

constraints-sam: $(SAM_STAMP)
	{ echo "# Exact versions of .venv-sam (make sam-build): aws-sam-cli pins pydantic and boto3 versions the"; \
	  echo "# project's pins (constraints.txt) cannot share. Regenerate with: make constraints-sam"; \
	  $(SAM_BIN)/pip freeze; } > constraints-sam.txt

clean:
	rm -rf $(VENV) $(SDK_VENV) $(TOOLS_VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis build .forgeflow
