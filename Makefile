# Everyday commands. `make run` and `make test` set everything up on first use and are
# idempotent: the venv is created and filled only when missing or when pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FOLDER ?=
# The desktop bundle is built in a venv of its own, so that it can hold CPU-only torch wheels (about
# 4 GB smaller than the CUDA ones PyPI gives on Linux). BUNDLE_TORCH= (empty) keeps PyPI's torch;
# BUNDLE_TORCH="torch==2.13.0+cpu torchvision==0.28.0" takes wheels pip finds in its find-links.
BUNDLE_VENV ?= .venv-bundle
BUNDLE_TORCH ?= torch torchvision --index-url https://download.pytorch.org/whl/cpu
BUNDLE_DIR := dist/bundle

.PHONY: run test lint bench format clean-venv dist bundle install-desktop

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,faces,cluster]'
	@sh tools/ensure_system_libs.sh
	@touch $(STAMP)

run: $(STAMP)
	$(PY) main.py $(FOLDER)

# ruff (style), import-linter (the layering contracts in pyproject.toml), mypy (typed core and facade).
lint: $(STAMP)
	$(PY) -m ruff check clipgallery tests bench tools packaging main.py
	$(VENV)/bin/lint-imports
	$(PY) -m mypy

test: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/index_throughput.py

# sdist and wheel in dist/ (setuptools from the dev venv: no download, no isolated build env).
dist: $(STAMP)
	$(PY) -m build --no-isolation --outdir dist .

# A one-folder PyInstaller build in dist/bundle/clipgallery, then the installed-app smoke checks on it.
# Heavy (minutes, about 1 GB with CPU-only torch), not run by CI; figures in README.md.
bundle: $(STAMP)
	@test -x $(BUNDLE_VENV)/bin/python || $(PYTHON) -m venv $(BUNDLE_VENV)
	$(BUNDLE_VENV)/bin/python -m pip install -q --upgrade pip
	@if [ -n "$(BUNDLE_TORCH)" ]; then $(BUNDLE_VENV)/bin/python -m pip install -q $(BUNDLE_TORCH); fi
	$(BUNDLE_VENV)/bin/python -m pip install -q '.[bundle]'
	$(BUNDLE_VENV)/bin/python -m PyInstaller --noconfirm --distpath $(BUNDLE_DIR) --workpath build/pyinstaller \
		packaging/clipgallery.spec
	$(PY) packaging/smoke.py $(BUNDLE_DIR)/clipgallery/clipgallery

# The application menu entry for this checkout's venv (the same as `clipgallery install-desktop`).
install-desktop: $(STAMP)
	$(VENV)/bin/clipgallery install-desktop

format: $(STAMP)
	$(PY) -m ruff check --fix clipgallery tests bench tools packaging main.py

clean-venv:
	rm -rf $(VENV)
