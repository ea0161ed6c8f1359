# Each target creates .venv with the project and its test extras when missing,
# so on a fresh machine any one of them is the only command needed.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python

.PHONY: venv run test demo bench lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/mcu-sim serve

test: lint
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/mcu-sim demo

bench: $(STAMP)
	$(PY) -m benchmarks

lint: $(STAMP)
	$(VENV)/bin/ruff check app mcu gateway terminals rtc benchmarks tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) data
