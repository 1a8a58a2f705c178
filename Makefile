# Two commands for a fresh machine: `make demo` and `make test` (each installs what it needs).
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed

# Embedded demo: Prefect's own database and home under ./var, the API on loopback.
DEMO_ENV := PATH="$(BIN):$$PATH" \
	PREFECT_HOME="$(CURDIR)/var/prefect" \
	PREFECT_API_URL=http://127.0.0.1:4200/api \
	PREFECT_UI_URL=http://127.0.0.1:4200 \
	PREFECT_SERVER_ANALYTICS_ENABLED=false \
	SWITCHYARD_FETCH__ALLOWED_NETWORKS=127.0.0.1/32

.PHONY: install migrate demo test lint format bench pools deploy worker clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

install: $(STAMP)

migrate: install
	$(BIN)/python -m db.migrate

# The Procfile's processes under deployments/up.py: Ctrl-C stops them all cleanly (logs in var/logs).
demo: migrate
	@mkdir -p var
	@exec env $(DEMO_ENV) $(BIN)/python -m deployments.up

test: install
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench.pages
	$(BIN)/python -m bench.mailing --messages 10000 --latency-ms 50
	$(BIN)/python -m bench.brief
	$(BIN)/python -m bench.brief --analysis-only --articles 10000
	$(BIN)/python -m bench.growth sync --accounts 1
	$(BIN)/python -m bench.growth sync --accounts 20 --min-followers 25000
	$(BIN)/python -m bench.growth actions --batch 200

# Production path (see docs/operations.md): pools and deployments on the server in PREFECT_API_URL.
pools: install
	$(BIN)/python -m deployments.pools

deploy: pools
	$(BIN)/prefect --no-prompt deploy --all

# A worker: the late runs of the sweeps skipped first (after downtime each sweep runs once), flow
# runs sending heartbeats as often as the crash automation of `make pools` expects, and the pool asked
# for runs every second (Prefect's default is 10 s; a run then starts 1.5-3 s after it is submitted).
worker: install
	$(BIN)/python -m deployments.late_runs
	PREFECT_FLOWS_HEARTBEAT_FREQUENCY=$${SWITCHYARD_SERVE__HEARTBEAT_SECONDS:-30} \
	PREFECT_WORKER_QUERY_SECONDS=$${PREFECT_WORKER_QUERY_SECONDS:-1} \
		$(BIN)/prefect worker start --pool $${POOL:-collect}

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
