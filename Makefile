# The two commands a new user needs: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: setup demo serve test lint catalogs clean

setup: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: setup
	$(BIN)/leadloop demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint
	LEADLOOP_TEST_DATABASE=sqlite $(BIN)/python -m pytest
	LEADLOOP_TEST_DATABASE=postgresql $(BIN)/python -m pytest

catalogs: setup
	$(BIN)/python -m locales.update

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
