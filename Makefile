# The two commands of the README: `make lab` and `make test`. Both set up .venv
# (and node_modules for the JS type check) themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: lab test test-lowest bench lint format clean gateways

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

# Jupyter Kernel Gateway and Enterprise Gateway, each in its own venv (their
# jupyter-server and jupyter-client versions differ from ours and from each other's):
# the tests and benchmarks run them on loopback. Each venv's `python3` kernelspec runs
# .venv's Python, which has ipykernel and notebook_actions.
KG_VENV := .venv-kg
EG_VENV := .venv-eg
KERNEL_JSON := {"argv": ["$(CURDIR)/$(BIN)/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Python 3 (notebook-actions)", "language": "python"}

# A gateway's own venv ($(1)) with its package ($(2)), and a kernelspec for .venv's python.
define gateway_venv
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet '$(2)'
	mkdir -p $(1)/share/jupyter/kernels/python3
	echo '$(KERNEL_JSON)' > $(1)/share/jupyter/kernels/python3/kernel.json
	touch $(1)/.installed
endef

$(KG_VENV)/.installed: | $(BIN)/python
	$(call gateway_venv,$(KG_VENV),jupyter-kernel-gateway==3.0.*)

$(EG_VENV)/.installed: | $(BIN)/python
	$(call gateway_venv,$(EG_VENV),jupyter-enterprise-gateway==3.3.*)

# EG's kernel launcher for its remote process proxies (the distributed-kernel tests run it
# on their ssh hosts): only in the sdist, not in the wheel.
EG_LAUNCHER := $(EG_VENV)/share/enterprise-gateway/launch_ipykernel.py

$(EG_LAUNCHER): $(EG_VENV)/.installed
	rm -rf $(EG_VENV)/sdist && mkdir -p $(EG_VENV)/sdist $(dir $@)
	$(BIN)/python -m pip download --quiet --no-binary :all: --no-deps 'jupyter_enterprise_gateway==3.3.*' -d $(EG_VENV)/sdist
	tar -xzf $(EG_VENV)/sdist/jupyter_enterprise_gateway-*.tar.gz -C $(EG_VENV)/sdist --strip-components=1 --wildcards '*/etc/kernel-launchers/python/scripts/launch_ipykernel.py'
	cp $(EG_VENV)/sdist/etc/kernel-launchers/python/scripts/launch_ipykernel.py $@
	rm -rf $(EG_VENV)/sdist

gateways: $(KG_VENV)/.installed $(EG_VENV)/.installed $(EG_LAUNCHER)

# The lowest versions pyproject.toml allows, in a venv of their own (.venv keeps the newest):
# each runtime dependency pinned to its floor (.ci/floors.py), the rest (their dependencies,
# the test tools) at the newest versions that install beside them. A floor that cannot be
# installed with the others fails the install; one the code outgrew fails the tests. The
# kernel tests run there, and the server tests that reach each dependency's API (jupyter-server
# and tornado: HTTP, serve, the app page; mcp; nbconvert) without doubling `make test`'s time.
LOWEST := .venv-lowest
LOWEST_TOOLS := 'pytest<9.2' pytest-asyncio pytest-timeout 'pytest-jupyter[server]' hypothesis requests psutil
LOWEST_TESTS := tests/kernel $(addprefix tests/server/,test_extension.py test_invoke.py test_listing.py \
	test_uploads.py test_multipart.py test_streaming.py test_mcp.py test_serve.py test_app_page.py)

$(LOWEST)/.installed: pyproject.toml .ci/floors.py
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet uv
	$(LOWEST)/bin/python .ci/floors.py > $(LOWEST)/floors.txt
	$(LOWEST)/bin/uv pip install --quiet --python $(LOWEST)/bin/python -c $(LOWEST)/floors.txt -e . $(LOWEST_TOOLS)
	touch $@

# anyio's pytest plugin (unused here) at the floors' anyio predates the newest pytest:
# importing it warns, and warnings are errors.
test-lowest: $(LOWEST)/.installed
	$(LOWEST)/bin/python -m pytest -p no:anyio $(LOWEST_TESTS)

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

test: lint gateways test-lowest
	$(BIN)/python -m pytest

bench: $(VENV)/.test gateways
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(KG_VENV) $(EG_VENV) $(LOWEST) node_modules .pytest_cache .mypy_cache .ruff_cache

# What `make lint` checks, applied.
format: $(VENV)/.test node_modules/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	npx --no-install biome check --write .
