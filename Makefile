# The two commands of the README, and the developer's helpers.
# Everything a fresh machine lacks is set up on the way: the virtualenv and the
# Python packages here; the Kafka jars and the ClickHouse server package by
# `chorus services up`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHORUS := $(BIN)/chorus
PYTEST_ARGS ?=
CHROMIUM := /usr/bin/chromium

.PHONY: demo test lint format services-up services-down clean

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dev]'
	touch $@

demo: $(VENV)/.installed
	$(CHORUS) demo

# Debian's chromium renders the dashboard in the browser test.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	else \
		echo "the browser test needs Debian's chromium: sudo apt-get install chromium" >&2; exit 1; \
	fi

test: $(VENV)/.installed $(CHROMIUM) lint
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
