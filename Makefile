# The two commands in the README: `make start` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: start test bench install lint

$(BIN)/clinicbot: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ClinicBot needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(BIN)/clinicbot

install: $(BIN)/clinicbot

## Set up, migrate SQLite, add the demo clinic, and run web + worker with the console sender.
start: install
	SMS_BACKEND=console $(BIN)/clinicbot db upgrade
	SMS_BACKEND=console $(BIN)/clinicbot demo
	SMS_BACKEND=console PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

## Set up and run the whole suite: lint, content check, tests on SQLite and on PostgreSQL.
test:
	bash scripts/test

## Benchmark the Twilio webhook against a bare Flask app under gunicorn + wrk, reminder dispatch
## against the bare Twilio SDK, and the schedule import against a bare bulk insert (SQLite,
## PostgreSQL). BENCH_ARGS go to all three (e.g. --sqlite-only); BENCH_WEBHOOK_ARGS,
## BENCH_DISPATCH_ARGS and BENCH_IMPORT_ARGS to one each (e.g. --json FILE).
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python scripts/bench_webhook.py $(BENCH_ARGS) $(BENCH_WEBHOOK_ARGS)
	$(BIN)/python scripts/bench_dispatch.py $(BENCH_ARGS) $(BENCH_DISPATCH_ARGS)
	$(BIN)/python scripts/bench_import.py $(BENCH_ARGS) $(BENCH_IMPORT_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
