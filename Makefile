# Everyday commands. `make run` and `make test` set everything up on first use and are
# idempotent: the venv is created and filled only when missing or when pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FOLDER ?=

.PHONY: run test lint bench format clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@sh tools/ensure_system_libs.sh
	@touch $(STAMP)

run: $(STAMP)
	$(PY) main.py $(FOLDER)

# ruff (style), import-linter (the layering contracts in pyproject.toml), mypy (typed core and facade).
lint: $(STAMP)
	$(PY) -m ruff check clipgallery tests bench tools main.py
	$(VENV)/bin/lint-imports
	$(PY) -m mypy

test: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/index_throughput.py

format: $(STAMP)
	$(PY) -m ruff check --fix clipgallery tests bench tools main.py

clean-venv:
	rm -rf $(VENV)
