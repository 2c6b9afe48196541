# lmforge — `make run` runs the whole chain on the built-in default corpus; `make test` runs the tests.
# Both create (or reuse) the virtual environment in $(VENV) and install what they need.

VENV      ?= .venv
PYTHON    ?= python3
PY        := $(VENV)/bin/python
WORKSPACE ?= workspace
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint format bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml setup.py $(wildcard pipeline/*/_*.c)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# A local CPU build of torch, where the machine has one in pip's find-links, keeps the install small;
	@# elsewhere this step does nothing and pyproject's torch range applies.
	-$(PY) -m pip install -q --no-index --no-deps "torch==2.13.0" 2>/dev/null
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

install: $(VENV)/.installed  ## Create the venv and install lmforge with its dev tools

run: install  ## Run the main job on the built-in default corpus (WORKSPACE=workspace)
	$(VENV)/bin/lmforge run --workspace $(WORKSPACE)

test: install  ## Run the test suite
	$(PY) -m pytest -q $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

lint: install  ## ruff check + format check
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: install  ## ruff format + autofix
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: install  ## Benchmarks (needs the bench extra: pip install -e '.[bench]')
	$(PY) -m pip install -q -e ".[dev,bench]"
	for b in curate privacy dedup dedup_scale tokenizer loader train e2e; do [ -f bench/$$b.py ] && $(PY) bench/$$b.py; done

clean:  ## Remove the venv and the default workspace
	rm -rf $(VENV) $(WORKSPACE)
