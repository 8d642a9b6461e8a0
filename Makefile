# fincert — the two commands of the quick start are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export FINCERT_HOME ?= $(CURDIR)/fincert-data

# Debian packages the test suite drives: the openssl CLI (interop), PostgreSQL client tools
# (pg_dump for the "no plaintext resident numbers" scan), Chromium and Korean fonts for the
# browser tests (Playwright drives /usr/bin/chromium; it never downloads a browser), SoftHSM2
# for the PKCS#11 key backend (FINCERT_KEY_BACKEND=pkcs11) against a real token module.
APT_TEST_PACKAGES := openssl postgresql-client chromium fonts-nanum softhsm2

# axe-core (accessibility checks in the browser tests) from the npm registry, kept out of git.
AXE_VERSION := 4.14.1
AXE_JS := .cache/node_modules/axe-core/axe.min.js
# node-forge builds CSRs and PKCS#12 files in the browser; its minified file is committed under
# src/fincert/web/static/vendor/ with its licence, and `make vendor-js` refreshes it.
FORGE_VERSION := 1.4.3

.PHONY: run test install install-test system-test-packages bench clean vendor-js

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

# pypinksign pins pyasn1==0.6.1 while pkilint needs a newer pyasn1; pypinksign works with
# either, so it is installed without its pins (it is only a test peer, never a runtime dep).
$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e '.[test,hsm]'
	$(PIP) install -q --no-deps 'pypinksign==0.5.4'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test system-test-packages $(AXE_JS)

$(AXE_JS):
	@command -v npm >/dev/null || { echo "installing npm"; apt-get install -y -qq npm || sudo apt-get install -y -qq npm; }
	npm install --no-save --no-audit --no-fund --prefix .cache axe-core@$(AXE_VERSION)

vendor-js:
	mkdir -p .cache/forge && cd .cache/forge && npm pack node-forge@$(FORGE_VERSION) && tar xzf node-forge-$(FORGE_VERSION).tgz
	cp .cache/forge/package/dist/forge.min.js src/fincert/web/static/vendor/forge.min.js
	cp .cache/forge/package/LICENSE src/fincert/web/static/vendor/forge.LICENSE

system-test-packages:
	@missing=""; for p in $(APT_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi

# Demo mode: sample institutions, the message outbox page, demo OTP/security cards and console
# operators. Open http://localhost:8000 (WebAuthn needs "localhost", not 127.0.0.1).
run: install
	$(VENV)/bin/fincert init --demo
	FINCERT_DEMO=1 FINCERT_PUBLIC_URL=http://localhost:8000 $(VENV)/bin/fincert serve --host 127.0.0.1 --port 8000

test: install-test
	$(VENV)/bin/pytest -n 2 -q

# wrk, the load generator of the OCSP benchmark (bench/va.py falls back to a slower Python one
# without it), installed by the same apt logic as the test packages.
APT_BENCH_PACKAGES := wrk softhsm2

bench: install-test
	@$(MAKE) --no-print-directory system-test-packages APT_TEST_PACKAGES="$(APT_BENCH_PACKAGES)"
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) fincert-data .pytest_cache .cache
