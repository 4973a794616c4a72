# make run          : set up and serve the admin, the API and one worker on PostgreSQL: the
#                     DATABASE_URL one, else the embedded server with its data in .pgdata/
#                     (kept across runs; Ctrl-C stops all of it, the embedded server too)
# make test         : set up and run the whole suite on PostgreSQL (Django 5.2 LTS)
# make test-django6 : the same on Django 6.0 and Python 3.12, in .venv-django6
# make clean-db     : delete the embedded server's data (.pgdata/); `make clean` keeps it
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The Django release this virtualenv is pinned to, installed with the project.
DJANGO ?= Django>=5.2,<5.3
ADDR ?= 127.0.0.1:8000
TEST_PROCESSES ?= 4
# The embedded PostgreSQL's data, used by `make run` when DATABASE_URL is not set.
PGDATA_DIR ?= .pgdata
# Python 3.12 for the Django 6.0 stack: python3.12 on PATH, else pyenv's newest 3.12.
PYENV_VERSIONS = $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions
DJANGO6_PYTHON ?= $(firstword $(foreach p,python3.12 \
	$(lastword $(sort $(wildcard $(PYENV_VERSIONS)/3.12*/bin/python3.12))),\
	$(if $(shell $(p) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null \
	| grep -x 3.12),$(p))))

.PHONY: install run test test-django6 lint format bench clean clean-db

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(if $(DJANGO),'$(DJANGO)')
	@touch $(STAMP)

install: $(STAMP)

# Everything runs under scheduler_project.embedded_db, which passes DATABASE_URL on or starts
# the embedded server, exports its URL, and stops it once the commands have ended. The
# worker runs in a process group of its own (set -m), out of reach of the terminal's Ctrl-C,
# which stops the server; the EXIT trap then sends the worker one SIGTERM, a graceful stop,
# and waits for it. A second Ctrl-C meanwhile is passed on: it stops the worker at once.
run: $(STAMP)
	@$(BIN)/python -m scheduler_project.embedded_db --data $(PGDATA_DIR) -- $(SHELL) -c '\
	export DEBUG=$${DEBUG:-1} ALLOW_REGISTRATION=$${ALLOW_REGISTRATION:-1}; \
	case "$${ALLOW_REGISTRATION,,}" in 1|true|yes|on|y) echo "Registration is on for this local server" \
	  "(POST /api/v1/auth/register); ALLOW_REGISTRATION=0 make run turns it off.";; esac; \
	$(BIN)/python manage.py migrate --noinput -v 0 && \
	{ [ -z "$${SCHEDULER_DATABASE_URL:-}" ] || \
	  $(BIN)/python manage.py migrate --database scheduler --noinput -v 0; } && \
	$(BIN)/python manage.py createadmin --url http://$(ADDR)/admin/ && \
	$(BIN)/python manage.py ensure_cleanup_job && \
	{ set -m; $(BIN)/python manage.py runworker & worker=$$!; set +m; \
	  trap "trap \"kill -INT $$worker\" INT; kill -TERM $$worker 2>/dev/null; \
	    while kill -0 $$worker 2>/dev/null; do wait $$worker; done" EXIT; \
	  $(BIN)/python manage.py runserver $(ADDR) --noreload; }'

test: $(STAMP)
	@bash tests/install_system.sh
	@$(BIN)/python -c 'import django, sys; \
		print(f"tests: Django {django.get_version()} on Python {sys.version.split()[0]}")'
	$(BIN)/python -m tests.pgserver -- $(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist worksteal $(PYTEST_ARGS)

test-django6:
	@test -n "$(DJANGO6_PYTHON)" || { echo "make test-django6: no Python 3.12 found" \
		"(install it, or set DJANGO6_PYTHON=/path/to/python3.12)"; exit 2; }
	$(MAKE) test PYTHON=$(DJANGO6_PYTHON) VENV=.venv-django6 DJANGO='Django>=6.0,<6.1'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m tests.pgserver -- $(BIN)/python -m bench

clean:
	rm -rf $(VENV) .venv-django6 .pytest_cache .ruff_cache test-artifacts

# Refused while a `make run` uses the data; a server left running in it is stopped first.
clean-db:
	@if [ -x $(BIN)/python ]; then \
		$(BIN)/python -m scheduler_project.embedded_db --data $(PGDATA_DIR) --delete; \
	else rm -rf $(PGDATA_DIR); fi
