# Two commands do everything on a fresh clone: `make run` and `make test`.
VENV := .venv
STAMP := $(VENV)/.installed-stamp
GRIDDERMS := $(VENV)/bin/gridderms
PY := $(VENV)/bin/python

.PHONY: run test lint typecheck bench clean setup

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

## run: set up, then run the main job on the built-in demo feeder
run: $(STAMP)
	$(GRIDDERMS) powerflow cigre-mv-der

## test: set up, then lint, type-check and run the test suite
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .

typecheck: $(STAMP)
	$(PY) -m mypy

## bench: the benchmarks (print a table, write JSON under benchmarks/results/)
bench: $(STAMP)
	$(PY) benchmarks/powerflow_timeseries.py
	$(PY) benchmarks/dispatch.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
