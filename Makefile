# Two commands for a fresh machine: `make demo` and `make test` (each installs what it needs).
PYTHON ?= python3
# test processes (pytest-xdist): the suite waits on servers as much as it computes
TEST_WORKERS ?= 3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed

# Embedded demo: Prefect's own database and home under ./var, the API on loopback. The Prefect
# server's housekeeping loops run less often than Prefect's defaults (5-20 s; the scheduler's every
# 5 min: it keeps at least an hour of runs ahead, and reading the schedules walks the time-zone
# database each time) and the pause service, which nothing here uses, is off: idle CPU
# (docs/architecture.md, "Idle and overload").
DEMO_ENV := PATH="$(BIN):$$PATH" \
	PREFECT_HOME="$(CURDIR)/var/prefect" \
	PREFECT_API_URL=http://127.0.0.1:4200/api \
	PREFECT_UI_URL=http://127.0.0.1:4200 \
	PREFECT_SERVER_ANALYTICS_ENABLED=false \
	PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED=false \
	PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS=30 \
	PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_LOOP_SECONDS=60 \
	PREFECT_SERVER_SERVICES_FOREMAN_LOOP_SECONDS=60 \
	PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS=60 \
	PREFECT_SERVER_SERVICES_CLEANUP_RECONCILER_LOOP_SECONDS=60 \
	PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS=300 \
	PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS=60 \
	SWITCHYARD_FETCH__ALLOWED_NETWORKS=127.0.0.1/32

# `make cluster`: the production shape on one machine (Procfile.cluster, docs/operations.md). Every
# CLUSTER_* variable can be given on the command line or in the environment.
CLUSTER_DATABASE_URL ?= postgresql+psycopg2://postgres@127.0.0.1:5432/switchyard
CLUSTER_PREFECT_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/prefect
CLUSTER_PREFECT_HOME ?= $(CURDIR)/var/cluster/prefect
CLUSTER_PREFECT_PORT ?= 4200
CLUSTER_SANDBOX_PORT ?= 8001
CLUSTER_SMTP_PORT ?= 8025
CLUSTER_LIMIT_COLLECT ?= 4
CLUSTER_LIMIT_ACTIONS ?= 4
CLUSTER_LIMIT_MAILING ?= 2
CLUSTER_LIMIT_ANALYSIS ?= 1
CLUSTER_MAILING_FAN_OUT ?= 1
# sender processes per dispatch run (one per core); the senders of every run of the machine together
# stay within SWITCHYARD_MAILING__SENDERS_PER_MACHINE (the CPU count), however many runs and workers
CLUSTER_MAILING_SENDERS ?= $(shell nproc 2>/dev/null || echo 1)
CLUSTER_RESTART_SECONDS ?= 5
CLUSTER_SANDBOX := http://127.0.0.1:$(CLUSTER_SANDBOX_PORT)
CLUSTER_ENV := PATH="$(BIN):$$PATH" \
	PREFECT_HOME="$(CLUSTER_PREFECT_HOME)" \
	PREFECT_API_URL=http://127.0.0.1:$(CLUSTER_PREFECT_PORT)/api \
	PREFECT_UI_URL=http://127.0.0.1:$(CLUSTER_PREFECT_PORT) \
	SWITCHYARD_PREFECT_UI_URL=http://127.0.0.1:$(CLUSTER_PREFECT_PORT) \
	PREFECT_SERVER_DATABASE_CONNECTION_URL="$(CLUSTER_PREFECT_DATABASE_URL)" \
	PREFECT_SERVER_ANALYTICS_ENABLED=false \
	SWITCHYARD_DATABASE_URL="$(CLUSTER_DATABASE_URL)" \
	SWITCHYARD_DATA_DIR="$(CURDIR)/var/cluster" \
	SWITCHYARD_SANDBOX__PORT=$(CLUSTER_SANDBOX_PORT) \
	SWITCHYARD_SANDBOX__SMTP_PORT=$(CLUSTER_SMTP_PORT) \
	SWITCHYARD_REPORT__SMTP_PORT=$(CLUSTER_SMTP_PORT) \
	SWITCHYARD_GATEWAY__BASE_URL=$(CLUSTER_SANDBOX)/gateway \
	SWITCHYARD_NETWORK__BASE_URL=$(CLUSTER_SANDBOX)/network \
	SWITCHYARD_MICROBLOG__BASE_URL=$(CLUSTER_SANDBOX)/microblog \
	$(foreach p,WEIBO WEIXIN XIAOHONGSHU DOUYIN BILIBILI,SWITCHYARD_PLATFORMS__$(p)__BASE_URL=$(CLUSTER_SANDBOX)/platforms/$(shell echo $(p) | tr A-Z a-z)) \
	SWITCHYARD_FETCH__ALLOWED_NETWORKS=127.0.0.1/32 \
	CLUSTER_PREFECT_PORT=$(CLUSTER_PREFECT_PORT) \
	CLUSTER_LIMIT_COLLECT=$(CLUSTER_LIMIT_COLLECT) CLUSTER_LIMIT_ACTIONS=$(CLUSTER_LIMIT_ACTIONS) \
	CLUSTER_LIMIT_MAILING=$(CLUSTER_LIMIT_MAILING) CLUSTER_LIMIT_ANALYSIS=$(CLUSTER_LIMIT_ANALYSIS) \
	CLUSTER_MAILING_FAN_OUT=$(CLUSTER_MAILING_FAN_OUT) CLUSTER_MAILING_SENDERS=$(CLUSTER_MAILING_SENDERS) \
	CLUSTER_RESTART_SECONDS=$(CLUSTER_RESTART_SECONDS)

.PHONY: install migrate demo cluster test lint format bench pools deploy worker clean

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

# Prefect server and the app on PostgreSQL (both must answer: a clear error otherwise), the app
# migrated before anything starts, then Procfile.cluster under deployments/up.py (Ctrl-C stops all).
cluster: install
	@mkdir -p var/cluster
	@env $(CLUSTER_ENV) $(BIN)/python -m deployments.cluster check
	env $(CLUSTER_ENV) $(BIN)/python -m db.migrate
	@exec env $(CLUSTER_ENV) $(BIN)/python -m deployments.up Procfile.cluster

test: install
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15

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

# A process worker (deployments/worker.py: each flow run forked from a process that imported Prefect and
# the pool's flows; SWITCHYARD_WORKER__WARM_STARTS=false for Prefect's own start): the late runs of the
# sweeps skipped first (after downtime each sweep runs once), flow runs sending heartbeats as often as
# the crash automation of `make pools` expects, and the pool asked for runs every second (Prefect's
# default is 10 s). LIMIT: flow runs at once (empty: no limit).
worker: install
	$(BIN)/python -m deployments.late_runs
	PREFECT_FLOWS_HEARTBEAT_FREQUENCY=$${SWITCHYARD_SERVE__HEARTBEAT_SECONDS:-30} \
	PREFECT_WORKER_QUERY_SECONDS=$${PREFECT_WORKER_QUERY_SECONDS:-1} \
		$(BIN)/python -m deployments.worker --pool $${POOL:-collect} $${LIMIT:+--limit $$LIMIT}

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
