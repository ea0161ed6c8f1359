# Each target creates .venv with the project and its test extras when missing,
# so on a fresh machine any one of them is the only command needed.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python

.PHONY: venv run test fuzz demo bench lint clean chromium postgresql redis

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/mcu-sim serve

test: lint chromium postgresql redis
	$(PY) -m pytest -q

# The fuzzing suite with the `fuzz` hypothesis profile (3,000 examples a test instead of the
# 100 of `make test`; tests/fuzz_profiles.py): several minutes. A failure prints the shrunk
# request or message and the seed to replay it (pytest --hypothesis-seed=N).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q --hypothesis-show-statistics \
		tests/test_fuzz_soap.py tests/test_fuzz_signalling.py tests/test_fuzz_dial_in.py \
		tests/test_fuzz_sip.py

# Debian's Chromium for the browser terminal (tests/test_browser.py, `mcu-sim demo --browser`),
# driven by the Python package playwright (test extras) through executable_path: no
# `playwright install` download. Installed once, as root, when missing; skipped when present.
CHROMIUM := /usr/bin/chromium

chromium: $(CHROMIUM)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; \
	else \
		echo "make chromium: not root; install Debian's chromium (apt-get install chromium)" >&2; \
		exit 1; \
	fi

# Debian's PostgreSQL server for the store tests on PostgreSQL (tests/postgres_server.py runs
# its own cluster from these binaries on a loopback port; no system service is started or
# needed) and for gateways sharing one store ([store] url, docs/deployment.md). Installed once,
# as root, when missing; skipped when present.
POSTGRES_BIN := $(firstword $(wildcard /usr/lib/postgresql/*/bin/postgres))

postgresql:
	@if [ -n "$(POSTGRES_BIN)" ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }; \
	else \
		echo "make postgresql: not root; install Debian's postgresql (apt-get install postgresql)" >&2; \
		exit 1; \
	fi

# Debian's Redis server for the media nodes' tests (tests/redis_server.py runs its own
# redis-server on a loopback port in a temporary directory; no system service is needed) and
# for a platform of media nodes (`mcu-sim node`, `mcu-sim serve --redis`: docs/deployment.md).
# Installed once, as root, when missing; skipped when present.
REDIS_SERVER := /usr/bin/redis-server

redis: $(REDIS_SERVER)

$(REDIS_SERVER):
	@if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server; }; \
	else \
		echo "make redis: not root; install Debian's redis-server (apt-get install redis-server)" >&2; \
		exit 1; \
	fi

demo: $(STAMP)
	$(VENV)/bin/mcu-sim demo

bench: $(STAMP)
	$(PY) -m benchmarks

lint: $(STAMP)
	$(VENV)/bin/ruff check app mcu gateway terminals rtc rtp sip benchmarks tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) data
