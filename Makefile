# The two commands of the README, and the developer's helpers.
# Everything a fresh machine lacks is set up on the way: the virtualenv and the
# Python packages here, exactly as requirements.lock pins them (with hashes);
# the Kafka jars and the ClickHouse server package by `chorus services up`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHORUS := $(BIN)/chorus
PYTEST_ARGS ?=
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver

.PHONY: demo test lint format lock services-up services-down clean

# The lock holds every package, build tools included, so the project installs
# without build isolation and nothing unpinned is fetched.
$(VENV)/.installed: requirements.lock setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

# Re-resolve every dependency to its newest release within setup.cfg's ranges.
# docs/operations.md says what must pass before the new lock is committed.
lock: $(VENV)/.installed
	$(BIN)/uv pip compile setup.cfg infra/python/build-requirements.in \
		--extra test --extra dev --upgrade --generate-hashes \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
		--custom-compile-command 'make lock' --output-file requirements.lock

demo: $(VENV)/.installed
	$(CHORUS) demo

# Debian's chromium renders the dashboard, and its chromedriver lets Selenium drive
# the workspace, in the browser tests (the two packages come in matching versions).
$(CHROMIUM) $(CHROMEDRIVER):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver; \
	else \
		echo "the browser tests need Debian's chromium and chromium-driver: sudo apt-get install chromium chromium-driver" >&2; exit 1; \
	fi

test: $(VENV)/.installed $(CHROMIUM) $(CHROMEDRIVER) lint
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
