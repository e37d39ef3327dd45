PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint typecheck bench fuzz chaos clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/tokenbill dev

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Spending, purchases, reads and a subscription wave, each against a baseline of the same run
# (own PostgreSQL, Temporal, API and workers). E.g. BENCH_ARGS="--only purchases".
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# schemathesis against the app's own OpenAPI schema, one credential per permission set (own
# PostgreSQL and Temporal dev server); exits non-zero on any 5xx, schema break or refused change.
fuzz: $(STAMP)
	$(BIN)/python -m fuzz $(FUZZ_ARGS)

# Money rules under faults: worker SIGKILLs, a PostgreSQL restart, an API kill, gateway faults.
chaos: $(STAMP)
	$(BIN)/python -m chaos $(CHAOS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
