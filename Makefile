# The two commands of the README: `make lab` and `make test`. Both set up .venv
# (and node_modules for the JS type check) themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: lab test bench lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Editable install with JupyterLab; the server extension is enabled explicitly too,
# because an editable install may skip hatch's shared-data files.
# JupyterLab's settings for this project (lab/overrides.json: no news prompt, no update
# check, which would only fail on a closed network), in the venv's app settings.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

$(VENV)/.lab: pyproject.toml lab/overrides.json | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	$(BIN)/jupyter server extension enable --sys-prefix notebook_actions
	install -D -m 644 lab/overrides.json $(LAB_SETTINGS)
	touch $@

$(VENV)/.test: pyproject.toml lab/overrides.json | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/jupyter server extension enable --sys-prefix notebook_actions
	install -D -m 644 lab/overrides.json $(LAB_SETTINGS)
	touch $@ $(VENV)/.lab

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(VENV)/.lab
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ALLOW_ROOT)

lint: $(VENV)/.test node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	npx --no-install tsc -p jsconfig.json
	npx --no-install biome ci .

test: lint
	$(BIN)/python -m pytest

bench: $(VENV)/.test
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache

# What `make lint` checks, applied.
format: $(VENV)/.test node_modules/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	npx --no-install biome check --write .
