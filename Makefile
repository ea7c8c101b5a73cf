# Two commands do everything on a fresh clone: `make run` and `make test`.
VENV := .venv
STAMP := $(VENV)/.installed-stamp
GRIDDERMS := $(VENV)/bin/gridderms
PY := $(VENV)/bin/python

.PHONY: run powerflow-demo test lint typecheck imports bench mutate clean setup

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

## run: set up, then serve the API on 127.0.0.1:8000 with the demo feeder cigre-mv-der loaded,
## its DERs registered and dispatched for the next 4 h from now (re-dispatched every 15 min);
## prints the URL and a demo API key.
## The SQLite database lives in .cache/service (GRIDDERMS_DATABASE_URL to use PostgreSQL).
run: $(STAMP)
	GRIDDERMS_DATA_DIR=$${GRIDDERMS_DATA_DIR:-$(CURDIR)/.cache/service} $(VENV)/bin/gridderms-service demo

## powerflow-demo: the command-line demo (AC power flow on the demo feeder)
powerflow-demo: $(STAMP)
	$(GRIDDERMS) powerflow cigre-mv-der

## test: set up, then lint, type-check, check the import layering and run the test suite on
## TEST_WORKERS processes (pytest-xdist; a test file stays on one worker, so its servers start
## once), then the tests marked `serial` (wall-clock latency bounds) alone;
## `make test TEST_WORKERS=0` runs everything in one process
TEST_WORKERS ?= 3
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial"
	$(PY) -m pytest -m serial

lint: $(STAMP)
	$(PY) -m ruff check .

typecheck: $(STAMP)
	$(PY) -m mypy

## imports: the import contracts of pyproject.toml [tool.importlinter] (import-linter): the
## layers scada_bridge | api -> gridderms -> solvers -> network_models, and persistence (with
## its migration environment) below the service layer
imports: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache

## bench: the benchmarks (each prints a table and writes JSON under benchmarks/results/)
bench: $(STAMP)
	$(PY) benchmarks/powerflow_timeseries.py
	$(PY) benchmarks/dispatch.py
	$(PY) benchmarks/hosting_capacity.py
	$(PY) benchmarks/api_load.py
	$(PY) benchmarks/dnp3_poll.py

## mutate: mutation testing (mutmut, minutes; not part of `make test`) of the API keys and roles
## (gridderms/service/auth.py, api/deps.py), the schedule activation (store_result, decide) and
## the AC-check tolerances, each against its fast tests; prints the surviving mutants and a
## killed/survived table; fails when a mutant of the auth code survives.
## `make mutate AREAS=auth` for one area (auth, activation, ac-check).
mutate: $(STAMP)
	$(PY) scripts/mutate.py $(AREAS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
