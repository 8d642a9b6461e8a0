# fincert — the two commands of the quick start are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export FINCERT_HOME ?= $(CURDIR)/fincert-data

# Debian packages the test suite drives: the openssl CLI (interop), PostgreSQL client tools
# (pg_dump for the "no plaintext resident numbers" scan).
APT_TEST_PACKAGES := openssl postgresql-client

.PHONY: run test install install-test system-test-packages bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

# pypinksign pins pyasn1==0.6.1 while pkilint needs a newer pyasn1; pypinksign works with
# either, so it is installed without its pins (it is only a test peer, never a runtime dep).
$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e '.[test]'
	$(PIP) install -q --no-deps 'pypinksign==0.5.4'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test system-test-packages

system-test-packages:
	@missing=""; for p in $(APT_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi

run: install
	$(VENV)/bin/fincert init --demo
	$(VENV)/bin/fincert serve --host 127.0.0.1 --port 8000

test: install-test
	$(VENV)/bin/pytest -n 2 -q

bench: install-test
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) fincert-data .pytest_cache
