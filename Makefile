# The two commands a newcomer needs: `make demo` (runs the bridge locally on the bundled demo) and `make test`
# (the whole test suite). `make check` = lint + types + tests, what CI runs (.ci/run).
#
# Everything is installed into a virtualenv, .venv/ in the checkout, made on first use: a distribution's own
# Python (Debian 12, Ubuntu 23.04+) refuses `pip install` outside one ("externally-managed-environment").
# Use the CLI afterwards with `. .venv/bin/activate` (or .venv/bin/peoplesync). PY picks the Python that makes
# the virtualenv (3.11 or newer); VENV its folder.
PY ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: install demo test test-fast lint typecheck check bench venv

# The virtualenv. Debian ships `venv` in a separate package (python3-venv): as root, it is installed here.
$(PYTHON):
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "peoplesync needs Python 3.11 or newer; $(PY) is $$($(PY) --version 2>&1). Use PY=python3.12 make ..." >&2; exit 1; }
	@$(PY) -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing python3-venv (Debian's venv module)"; \
	    apt-get install -y -qq python3-venv >/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }; \
	    $(PY) -m venv $(VENV); \
	  else echo "$(PY) -m venv failed: install your distribution's venv package (Debian: apt-get install python3-venv)" >&2; exit 1; fi; }
	@$(PYTHON) -m pip install -q --upgrade pip

venv: $(PYTHON)

# Installed again only when pyproject.toml changes (the stamp files record the last install of each extra).
$(VENV)/.installed-demo: $(PYTHON) pyproject.toml
	$(PYTHON) -m pip install -q -e '.[demo]'
	@touch $@

$(VENV)/.installed-dev: $(PYTHON) pyproject.toml
	$(PYTHON) -m pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed-demo

install: $(VENV)/.installed-dev

demo: $(VENV)/.installed-demo
	$(PYTHON) -m peoplesync_dev.demo

test: install
	$(PYTHON) -m pytest -q

test-fast: install
	$(PYTHON) -m pytest -q -m "not slow" tests/unit

lint: install
	$(PYTHON) -m ruff check layers functions tests bench tools

typecheck: install
	$(PYTHON) -m mypy

check: lint typecheck test

bench: install
	$(PYTHON) bench/engine_throughput.py
