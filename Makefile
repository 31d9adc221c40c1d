# The two commands of the README: `make demo` and `make test`. Each installs what it needs.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test lint format bench system-deps node-deps clean

demo: system-deps $(VENV)/.installed
	$(BIN)/prodready demo

test: system-deps node-deps $(VENV)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

format: $(VENV)/.installed
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: system-deps $(VENV)/.installed
	$(BIN)/python bench/catalog_scale.py

system-deps:
	@scripts/install-system-deps.sh

node-deps:
	@scripts/install-node-deps.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

clean:
	rm -rf $(VENV) prodready-report .pytest_cache .ruff_cache .mypy_cache
