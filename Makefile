PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test tools lint typecheck bench fuzz chaos capacity clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/tokenbill dev

# The whole suite on the embedded PostgreSQL 18; then the database-level tests and a short chaos
# run on the system PostgreSQL (15 here) when it answers (.ci/run requires it).
test: $(STAMP) tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(BIN)/python -m tests.on_external_postgres $(EXTERNAL_POSTGRES_ARGS)

# System tools the tests drive: HAProxy, the TLS proxy in front of Temporal in the mutual-TLS test.
# Installed from Debian's packages when missing and this is root; otherwise we say what to install.
tools:
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q haproxy >/dev/null || { apt-get update -q >/dev/null && \
	      apt-get install -y -q haproxy >/dev/null; }; \
	  else echo "make test needs HAProxy (Debian: sudo apt-get install haproxy)" >&2; exit 1; fi; }

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

# What a population of organisations needs (API processes, workers, Temporal actions, database
# nodes), from the measurements under bench/results/ (docs/scaling.md). E.g.
# CAPACITY_ARGS="--all" or "--organizations 100000 --zipf-exponent 1.2"; --help lists the rest.
capacity: $(STAMP)
	$(BIN)/python -m capacity $(CAPACITY_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
