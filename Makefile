# wsharness: `make demo` runs the main job, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SYSTEM_TOOLS := chromium nginx prometheus promtool docker-compose java
APT_PACKAGES := chromium nginx prometheus docker-compose default-jre-headless

.PHONY: install system-deps peers demo test lint format clean

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

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install system-deps peers lint
	$(PY) -m pytest

clean:
	rm -rf $(VENV) results build *.egg-info
