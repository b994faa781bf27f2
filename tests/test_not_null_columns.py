"""The `not_null_columns` dbt test (dbt/macros/test_not_null_columns.sql): one test per model for all its non-null
columns, where there was a `not_null` per column. It fails on a null in any listed column on a day the run may
rewrite, keeps the failing rows with `null_columns` naming the null ones, and ignores days outside the window like
every generic test. Real `dbt test` on a small DuckDB file holding the relation it reads (as in
tests/test_reconciliation_tests.py); the two cases share one target folder, so the second parses partially."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines.dbt_project import DBT_PROJECT_DIR

DBT = Path(sys.executable).parent / "dbt"
TEST = "not_null_stg_deribit__index_price"
MIN_DATE, MAX_DATE = dt.date(2025, 11, 1), dt.date(2025, 11, 4)
NOV1, NOV2, NOV3 = (dt.date(2025, 11, 1) + dt.timedelta(days=i) for i in range(3))
# Nulls on a day no run over the window rewrites (it rewrites the day before the window too): never reported.
OUTSIDE = [(dt.date(2025, 10, 30), None, None)]


def run_test(workdir: Path, rows: list[tuple]) -> tuple[dict, list[dict]]:
    db = workdir / "index.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute("create schema if not exists staging")
        conn.execute("drop schema if exists dbt_test__audit cascade")
        conn.execute("create or replace table staging.stg_deribit__index_price "
                     "(snapshot_date date, index_usd double, index_name varchar)")
        conn.executemany("insert into staging.stg_deribit__index_price values (?, ?, ?)", rows + OUTSIDE)
    variables = json.dumps({"duckdb_path": str(db), "duckdb_temp_directory": str(workdir / "duckdb_tmp"),
                            "min_date": MIN_DATE.isoformat(), "max_date": MAX_DATE.isoformat()})
    done = subprocess.run(
        [str(DBT), "test", "--select", TEST, "--store-failures", "--vars", variables,
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs")],
        capture_output=True, text=True, timeout=300)
    results = json.loads((workdir / "target" / "run_results.json").read_text())["results"]
    assert len(results) == 1, done.stdout
    failing: list[dict] = []
    if results[0]["status"] != "pass":
        with duckdb.connect(str(db), read_only=True) as conn:
            cursor = conn.execute(f"select * from dbt_test__audit.{TEST} order by snapshot_date")
            names = [d[0] for d in cursor.description]
            failing = [dict(zip(names, row)) for row in cursor.fetchall()]
    return results[0], failing


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("not_null_columns")


def test_the_model_lists_its_non_null_columns_in_one_test():
    models = yaml.safe_load((DBT_PROJECT_DIR / "models" / "staging" / "deribit" / "_deribit.yml").read_text())
    model = next(m for m in models["models"] if m["name"] == "stg_deribit__index_price")
    tests = [t["not_null_columns"] for t in model["data_tests"] if "not_null_columns" in t]
    assert tests == [{"name": TEST, "arguments": {"columns": ["snapshot_date", "index_usd"]}}]


def test_complete_days_pass_and_nulls_outside_the_window_are_ignored(workdir):
    result, failing = run_test(workdir, [(NOV1, 100.0, "btc_usd"), (NOV2, 101.0, None), (NOV3, 99.0, "btc_usd")])
    assert (result["status"], failing) == ("pass", [])  # index_name is not listed: its null is no failure


def test_a_null_in_any_listed_column_fails_and_the_row_names_it(workdir):
    result, failing = run_test(workdir, [(NOV1, 100.0, "btc_usd"), (NOV2, None, "btc_usd"), (NOV3, 99.0, None)])
    assert result["status"] == "fail" and result["failures"] == 1
    assert [(row["null_columns"], row["snapshot_date"]) for row in failing] == [("index_usd", NOV2)]


def test_a_row_with_no_day_is_judged_by_every_run(workdir):
    """A null window column falls on no day: the test scope keeps such rows (dbt/macros/test_scope.sql), or the
    not-null test of the window column could never fail in a run."""
    result, failing = run_test(workdir, [(NOV1, 100.0, "btc_usd"), (None, 101.0, "btc_usd")])
    assert result["status"] == "fail" and result["failures"] == 1
    assert [(row["null_columns"], row["index_usd"]) for row in failing] == [("snapshot_date", 101.0)]
