# floodwarn — two commands: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8765

.PHONY: install demo test test-slow bench lint stations demo-data clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: install
	$(BIN)/floodwarn demo --port $(PORT)

test: install
	$(BIN)/python -m pytest -m "not slow"

test-slow: install
	$(BIN)/python -m pytest -m slow

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check floodwarn kernels tests bench stations

stations: install
	$(BIN)/python stations/build_catalog.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
