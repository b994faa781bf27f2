# Everything runs from a project-local virtualenv (.venv) created on first use.
# Needs only Python >= 3.11 and make; dependencies come pinned from requirements.lock.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANIFEST := dbt/target/manifest.json
WEB := pipelines/quality/web
WEB_STAMP := $(WEB)/node_modules/.installed
DBT_SOURCES := $(shell find dbt -path dbt/target -prune -o -type f \( -name '*.sql' -o -name '*.yml' \) -print)

# The Dagster instance (dagster.yaml) lives at the project root; its storage goes under warehouse/.
export DAGSTER_HOME := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export UV_COMPILE_BYTECODE := 1
# One planned-materialization event per asset for a ranged run, not one per asset per partition (why, and what it
# costs: pipelines/runner.py). Exported here because `make dev`'s daemon and webserver create the UI's backfills
# and scheduled runs, and they never import pipelines.runner, which sets it for the runs it creates itself.
# `?=`: a value from the caller's environment wins.
DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS ?= true
export DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS

START ?=
END ?=
DATE ?=
NIGHTS ?=
WAREHOUSE ?=
PURGE ?=

# The values a caller gives (make backfill START=… END=…) reach recipes only through the environment, as
# "$$ARG_START" and so on, never pasted into a recipe's text: there the shell would run a value such as
# '2025-10-21;touch x' as a command. $(value …) keeps the text as typed, and the originals are unexported because
# make expands a variable it exports: a '$(shell …)' inside START would run while make set up the environment.
# PYTHON is left as it is: it names the command to run, by design.
export ARG_START := $(value START)
export ARG_END := $(value END)
export ARG_DATE := $(value DATE)
export ARG_NIGHTS := $(value NIGHTS)
export ARG_WAREHOUSE := $(value WAREHOUSE)
export ARG_CHECK := $(value CHECK)
export ARG_PURGE := $(value PURGE)
unexport START END DATE NIGHTS WAREHOUSE PURGE

.PHONY: run test dev backfill audit soak summary report docs quality-docs quality-web-assets bench bench-year bench-lake manifest install clean-venv help poll collect note failing-rows bi-clients lake-up lake-down lake-status lake-maintain

help:
	@echo "make run       - set up .venv and materialise the demo window 2025-10-01 … 2025-11-21, then print a summary"
	@echo "make test      - set up .venv and run the test suite"
	@echo "make dev       - Dagster UI on http://127.0.0.1:3000"
	@echo "make backfill START=YYYY-MM-DD END=YYYY-MM-DD - one run for the range (honours BTCW_* settings)"
	@echo "make soak NIGHTS=N START=YYYY-MM-DD - N nightly runs in live mode against the demo APIs on 127.0.0.1 (simulated clock, polls), then compared with one backfill"
	@echo "make summary   - rows per mart and the last day's headline"
	@echo "make audit     - every dbt data test over ALL history (a run's tests judge only the days it may have rewritten)"
	@echo "make failing-rows CHECK=<check> START=… END=… - rerun a failed dbt check and keep its failing rows (dbt_test__audit.<check>)"
	@echo "make poll      - poll every rolling source now (OKX liquidation orders) into the landing archive"
	@echo "make collect   - run the liquidation stream collector (Binance, Bybit, OKX websockets; BTCW_SOURCE_MODE=live) until stopped"
	@echo "make report [DATE=YYYY-MM-DD] - static HTML report of a day (default: every day) into <warehouse>/<mode>/reports/"
	@echo "make note [DATE=YYYY-MM-DD] - the day's market note (Markdown, written from the marts by fixed rules) into <warehouse>/<mode>/notes/ and printed"
	@echo "make docs      - dbt docs (catalog of the demo warehouse) into dbt/target/docs, offline"
	@echo "make quality-docs [START=… END=…] - Great Expectations Data Docs of the raw stage into <warehouse>/<mode>/quality/"
	@echo "make quality-web-assets - the CSS/JS the Data Docs load, from npm (pipelines/quality/web, needs npm), so that they render offline"
	@echo "make bench     - speed and memory benchmarks, side by side in one run, with the CPU they ran on"
	@echo "make bench-year - a year backfilled in one run against per-day runs and the nightly (an hour or more)"
	@echo "make bench-lake - the warehouse past one machine: a window into the file, the lake by 1 worker, by 2 at once; the gamma step on a year by 1 and 2 worker processes (~25 min)"
	@echo "make lake-up   - start the lake's local PostgreSQL (catalog) and SeaweedFS S3 server on 127.0.0.1, under <warehouse>/lake"
	@echo "make lake-down [PURGE=1] - stop them (PURGE=1 also deletes the lake: data, logs, state, credentials)"
	@echo "make lake-status - whether the lake's servers run, their ports and folders"
	@echo "make lake-maintain - merge the lake's small files, expire snapshots older than 7 days, delete unneeded files (BTCW_WAREHOUSE=lake)"
	@echo "make bi-clients - the DuckDB clients BI users have (Python 1.1-2.0, CLI, Node.js) into build/bi-clients, for the tests"
	@echo "make install   - set up .venv from requirements.lock (every target does it first)"
	@echo "make manifest  - parse the dbt project (dbt/target/manifest.json, read by the Dagster definitions)"
	@echo "make clean-venv - remove .venv"

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# The dbt manifest is prepared at build time, never parsed when the definitions are imported.
$(MANIFEST): $(STAMP) $(DBT_SOURCES)
	cd dbt && ../$(BIN)/dbt parse --quiet

manifest: $(MANIFEST)

run: $(MANIFEST)
	$(BIN)/python -m pipelines.cli run

# The liquidation stream collector (pipelines/collector): long-running, one process for every venue; SIGTERM or Ctrl-C
# stops it and seals its hourly files. A service manager restarts it (README › Liquidation streams).
collect: $(STAMP)
	$(BIN)/python -m pipelines.collector

# What the hourly schedule does (BTCW_POLL_CRON), once: e.g. from cron when the Dagster daemon is not running.
poll: $(STAMP)
	$(BIN)/python -m pipelines.cli poll

test: $(MANIFEST) bi-clients $(WEB_STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile

# The DuckDB clients BI users have, for tests/test_bi_clients.py: the serving copy must open in each (README › BI).
# Outside .venv, which holds the DuckDB the pipeline writes with: Python packages 1.1-2.0 (one folder each, pip
# --target), the CLI from PyPI (duckdb-cli) and the Node.js client (tests/bi_clients/package.json, when npm exists).
BI_PYTHON_DUCKDB := 1.1.3 1.2.2 1.3.2 1.4.4 1.5.6 2.0.1
BI_DUCKDB_CLI := 1.5.6
BI_CLIENTS := build/bi-clients
bi-clients: $(STAMP)
	@for v in $(BI_PYTHON_DUCKDB); do d=$(BI_CLIENTS)/python-duckdb-$$v; test -f $$d/.installed || { \
	    $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --target $$d duckdb==$$v && touch $$d/.installed; } || exit 1; done
	@for v in $(BI_DUCKDB_CLI); do d=$(BI_CLIENTS)/duckdb-cli-$$v; test -f $$d/.installed || { \
	    $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --target $$d duckdb-cli==$$v && touch $$d/.installed; } || exit 1; done
	@if command -v npm >/dev/null; then \
	    test tests/bi_clients/node_modules/.package-lock.json -nt tests/bi_clients/package-lock.json || \
	    npm ci --prefix tests/bi_clients --no-audit --no-fund --silent; \
	else echo "bi-clients: no npm here: the Node.js client is not installed (its test is skipped)"; fi

# The DuckLake warehouse's local servers (issue 16, pipelines/lake): PostgreSQL for the catalog and SeaweedFS for
# the S3 storage, every port on 127.0.0.1, data, logs and state (ports, PIDs, credentials; mode 0600) under
# <warehouse>/lake. Up twice is fine; down leaves the data unless PURGE=1.
lake-up: $(STAMP)
	$(BIN)/python -m pipelines.lake up

lake-down: $(STAMP)
	@case "$$ARG_PURGE" in "" | 0) set -- ;; 1) set -- --purge ;; *) echo "usage: make lake-down [PURGE=1]" >&2; exit 2 ;; esac; \
	$(BIN)/python -m pipelines.lake down "$$@"

lake-status: $(STAMP)
	$(BIN)/python -m pipelines.lake status

lake-maintain: $(STAMP)
	$(BIN)/python -m pipelines.lake maintain

# dagster.yaml takes its storage folders from these (absolute, so that the run history is one place whichever
# directory a command starts in); pipelines.cli fills them in itself (pipelines/runs/instance.py), `dagster dev`
# does not. Only here: a test's scratch DAGSTER_HOME must not inherit the project's folders. A caller's value wins.
dev: export BTCW_DAGSTER_DIR ?= $(CURDIR)/warehouse/dagster
dev: export BTCW_DAGSTER_STORAGE_DIR ?= $(CURDIR)/warehouse/dagster/storage
dev: export BTCW_DAGSTER_COMPUTE_LOGS_DIR ?= $(CURDIR)/warehouse/dagster/compute_logs
dev: $(MANIFEST)
	@echo "Schedules start stopped (Dagster's default): turn 'nightly' and 'hourly_polls' on in the UI (Automation)."
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

backfill: $(MANIFEST)
	@test -n "$$ARG_START" -a -n "$$ARG_END" || { echo "usage: make backfill START=YYYY-MM-DD END=YYYY-MM-DD"; exit 2; }
	$(BIN)/python -m pipelines.cli backfill -- "$$ARG_START" "$$ARG_END"

# The nightly schedule's own run requests, night after night, against the demo APIs served locally (pipelines/soak).
soak: $(MANIFEST)
	@test -n "$$ARG_NIGHTS" -a -n "$$ARG_START" || { echo "usage: make soak NIGHTS=N START=YYYY-MM-DD [WAREHOUSE=DIR]"; exit 2; }
	$(BIN)/python -m pipelines.soak --nights="$$ARG_NIGHTS" --start="$$ARG_START" $${ARG_WAREHOUSE:+--warehouse="$$ARG_WAREHOUSE"}

summary: $(STAMP)
	$(BIN)/python -m pipelines.cli summary

report: $(STAMP)
	$(BIN)/python -m pipelines.reporting.cli $${ARG_DATE:+--date="$$ARG_DATE"} $$(test -n "$$ARG_DATE" || echo --all)

note: $(STAMP)
	$(BIN)/python -m pipelines.reporting.cli --note $${ARG_DATE:+--date="$$ARG_DATE"} $$(test -n "$$ARG_DATE" || echo --all)

# Speed and memory, measured side by side in one run (never as timed assertions in tests).
bench: $(MANIFEST)
	$(BIN)/python -m bench.gamma_kernel
	$(BIN)/python -m bench.event_log
	$(BIN)/python -m bench.backfill --quick
	$(BIN)/python -m bench.gzip_bomb
	$(BIN)/python -m bench.demo_bodies

# The year: one run for 365 days against per-day runs (7 measured, extrapolated) and the nightly; an hour or more.
bench-year: $(MANIFEST)
	$(BIN)/python -m bench.backfill

# The same window into the embedded file, the lake with one worker, the lake with two at once (starts its own lakes);
# then the gamma step on a year of both chains, by 1 and 2 worker processes, into the file and the lake: one snapshot
# a day, then hourly (~13M option rows).
bench-lake: $(MANIFEST)
	$(BIN)/python -m bench.lake_scaling
	$(BIN)/python -m bench.gamma_scaling
	$(BIN)/python -m bench.gamma_scaling --hourly

# Every data test over all history (a run's tests judge the days it may have rewritten: dbt/macros/test_scope.sql).
audit: $(MANIFEST)
	$(BIN)/python -m pipelines.cli audit

# The warehouse's path reaches dbt's profile through its environment (BTCW_DBT_DUCKDB_PATH, as in a run), not pasted
# into --vars' YAML, where a quote in BTCW_WAREHOUSE_DIR would break it; a bad setting stops here in one line.
# A failed dbt check's rows, kept in the warehouse (dbt_test__audit.<CHECK>): the command its failed-check line names.
failing-rows: $(MANIFEST)
	@test -n "$$ARG_CHECK" -a -n "$$ARG_START" -a -n "$$ARG_END" || { echo "usage: make failing-rows CHECK=<check> START=YYYY-MM-DD END=YYYY-MM-DD"; exit 2; }
	$(BIN)/python -m pipelines.cli failing-rows -- "$$ARG_CHECK" "$$ARG_START" "$$ARG_END"

docs: $(MANIFEST)
	duckdb_path=$$($(BIN)/python -m pipelines.settings duckdb_path) && cd dbt && \
		BTCW_DBT_DUCKDB_PATH="$$duckdb_path" ../$(BIN)/dbt docs generate --target-path target/docs
	@echo "open dbt/target/docs/index.html (or: cd dbt && ../$(BIN)/dbt docs serve --target-path target/docs --host 127.0.0.1)"

# The CSS/JS the Data Docs pages load from CDNs, installed from npm at the exact versions the URLs name (the lock file
# pins them, the newest 5.x/6.x where a URL names only a major) and copied into the site, so that it renders offline.
# Reinstalled only when the lock file changes (the stamp is inside node_modules: deleting the folder reinstalls).
# --omit=optional: vega-tooltip's optional native rollup binary; --ignore-scripts: only files are used, nothing runs.
$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "quality-web-assets: npm is not installed (Debian: apt-get install nodejs npm)" >&2; exit 2; }
	cd $(WEB) && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund
	touch $@

quality-web-assets: $(WEB_STAMP)

quality-docs: $(STAMP) $(WEB_STAMP)
	$(BIN)/python -m pipelines.quality.data_docs $${ARG_START:+--start="$$ARG_START"} $${ARG_END:+--end="$$ARG_END"}

clean-venv:
	rm -rf $(VENV)
