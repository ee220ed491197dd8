# Two commands for a fresh machine with only Python and pip:
#   make demo   install Corridor and run its main job on the embedded default (SQLite)
#   make test   install the test dependencies and run the whole test suite
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

$(BIN)/corridor:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"

.PHONY: install demo test test-slow bench
install: $(BIN)/corridor

demo: install
	$(BIN)/corridor demo

test: install
	$(BIN)/python -m pytest

test-slow: install
	$(BIN)/python -m pytest tests/slow --run-slow

bench: install
	$(BIN)/python bench/event_store.py
