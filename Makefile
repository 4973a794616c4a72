# make run  : set up and serve the admin, the API and one worker on SQLite (Ctrl-C stops all)
# make test : set up and run the whole suite on PostgreSQL
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ADDR ?= 127.0.0.1:8000
TEST_PROCESSES ?= 4

.PHONY: install run test lint format bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The worker runs in a process group of its own (set -m), out of reach of the terminal's
# Ctrl-C, which stops the server; the EXIT trap then sends the worker one SIGTERM, a graceful
# stop, and waits for it. A second Ctrl-C meanwhile is passed on: it stops the worker at once.
run: $(STAMP)
	@export DEBUG=$${DEBUG:-1}; \
	$(BIN)/python manage.py migrate --noinput -v 0 && \
	$(BIN)/python manage.py createadmin --url http://$(ADDR)/admin/ && \
	$(BIN)/python manage.py ensure_cleanup_job && \
	{ set -m; $(BIN)/python manage.py runworker & worker=$$!; set +m; \
	  trap 'trap "kill -INT $$worker" INT; kill -TERM $$worker 2>/dev/null; \
	    while kill -0 $$worker 2>/dev/null; do wait $$worker; done' EXIT; \
	  $(BIN)/python manage.py runserver $(ADDR) --noreload; }

test: $(STAMP)
	@bash tests/install_browser.sh
	$(BIN)/python -m tests.pgserver -- $(BIN)/python -m pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m tests.pgserver -- $(BIN)/python -m bench

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* .pytest_cache .ruff_cache test-artifacts
