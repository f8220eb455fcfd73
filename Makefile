# The two commands a newcomer needs: `make demo` (runs the bridge locally on the embedded default)
# and `make test` (the whole test suite). `make check` = lint + types + tests, what CI runs.
PY ?= python3

.PHONY: install demo test test-fast lint typecheck check bench

install:
	$(PY) -m pip install -q -e '.[dev]'

demo:
	$(PY) -m pip install -q -e '.[demo]'
	$(PY) -m peoplesync_dev.demo

test: install
	$(PY) -m pytest -q

test-fast:
	$(PY) -m pytest -q -m "not slow" tests/unit

lint: install
	$(PY) -m ruff check layers functions tests bench tools

typecheck: install
	$(PY) -m mypy

check: lint typecheck test

bench:
	$(PY) bench/engine_throughput.py
