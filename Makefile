# TelcoPulse: `make run` runs the whole pipeline locally, `make test` runs the tests.
# Both start with `make setup`, which installs whatever is missing and is cheap when nothing is.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
TP := $(BIN)/telcopulse
INPUT ?=
SIMULATE_RATE ?=
PYTEST_ARGS ?=

.PHONY: setup run test test-faults dq-report bench bench-smoke lint synth package clean

setup: $(VENV)/.installed node_modules/.installed .cache/spark-jars/.resolved

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json .npmrc
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

.cache/spark-jars/.resolved: pipelines/spark.py | $(VENV)/.installed
	$(TP) setup-jars
	touch $@

run: setup
	$(TP) start $(if $(INPUT),--csv $(INPUT),) $(if $(SIMULATE_RATE),--simulate-rate $(SIMULATE_RATE),)

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

test-faults: setup
	$(BIN)/pytest -m slow $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy pipelines catalog

clean:
	rm -rf .telcopulse build

# The benchmark: full run (minutes; on a quiet machine) -> bench/results/<date>.json and .png;
# the smoke run (under a minute, temporary homes) -> build/bench-smoke/, for CI.
bench: setup
	$(TP) bench

bench-smoke: setup
	$(TP) bench --smoke

dq-report: setup
	$(TP) dq-report --out build/dq-report

# AWS: build the Glue/Lambda packages, synthesize the CDK app offline (see deploy/README.md).
package: setup
	$(MAKE) -C deploy package

synth: setup
	$(MAKE) -C deploy synth
