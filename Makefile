# wsharness: `make demo` runs the main job, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
CHECK_TREE := build/check
SYSTEM_TOOLS := chromium nginx prometheus promtool docker-compose java
APT_PACKAGES := chromium nginx prometheus docker-compose default-jre-headless

.PHONY: install system-deps peers demo test lint check-tree format clean

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian packages the tests drive for real (browser, load balancer, Prometheus,
# compose validation).  Installed only when one of them is missing.
system-deps:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

# Node servers the tests start as peers nobody here wrote (tests/peers): npm ci from
# the committed package-lock.json, into tests/peers/node_modules only.
PEERS_STAMP := tests/peers/node_modules/.installed-stamp

peers: $(PEERS_STAMP)

$(PEERS_STAMP): tests/peers/package.json tests/peers/package-lock.json
	@command -v npm >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	cd tests/peers && npm ci --no-audit --no-fund --loglevel=error
	touch $(PEERS_STAMP)

demo: install
	$(PY) -m wsharness.demo

# ruff; mypy (strict on the contract and the cores, see pyproject.toml); the import
# contracts (layers, no cycles).  mypy and import-linter read the package through
# $(CHECK_TREE), links that put server/ and telemetry/ where the package has them.
lint: install check-tree
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(CHECK_TREE)/wsharness tests benchmarks loadtests
	cd $(CHECK_TREE) && $(abspath $(VENV))/bin/lint-imports $(CURDIR)/pyproject.toml

check-tree:
	@rm -rf $(CHECK_TREE) && mkdir -p $(CHECK_TREE)/wsharness
	@for entry in wsharness/*; do \
	  [ "$${entry##*/}" = __pycache__ ] || ln -s "$(CURDIR)/$$entry" $(CHECK_TREE)/wsharness/; \
	done
	@ln -s "$(CURDIR)/server" $(CHECK_TREE)/wsharness/server
	@ln -s "$(CURDIR)/telemetry" $(CHECK_TREE)/wsharness/telemetry

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install system-deps peers lint
	$(PY) -m pytest

clean:
	rm -rf $(VENV) results build *.egg-info
