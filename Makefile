# The two commands of the README, and the developer's helpers.
# Everything a fresh machine lacks is set up on the way: the virtualenv and the
# Python packages here; the Kafka jars and the ClickHouse server package by
# `chorus services up`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHORUS := $(BIN)/chorus
PYTEST_ARGS ?=

.PHONY: demo test lint format services-up services-down clean

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dev]'
	touch $@

demo: $(VENV)/.installed
	$(CHORUS) demo

test: $(VENV)/.installed lint
	$(CHORUS) services run -- $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pipeline agents schemas bench tests

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

services-up: $(VENV)/.installed
	$(CHORUS) services up

services-down: $(VENV)/.installed
	$(CHORUS) services down

clean:
	-$(CHORUS) services down
	rm -rf .chorus
