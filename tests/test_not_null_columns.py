"""The `not_null_columns` dbt test (dbt/macros/test_not_null_columns.sql): one test per model for all its non-null
columns, where there was a `not_null` per column. It fails on a null in any listed column on a day the run may
rewrite, keeps the failing rows with `null_columns` naming the null ones, and ignores days outside the window like
every generic test. Real `dbt test` on a small DuckDB file holding the relation it reads (tests/dbt_harness.py)."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from pipelines.dbt_project import DBT_PROJECT_DIR
from tests.dbt_harness import DbtTestHarness

TEST = "not_null_stg_deribit__index_price"
MIN_DATE, MAX_DATE = dt.date(2025, 11, 1), dt.date(2025, 11, 4)
NOV1, NOV2, NOV3 = (dt.date(2025, 11, 1) + dt.timedelta(days=i) for i in range(3))
# Nulls on a day no run over the window rewrites (it rewrites the day before the window too): never reported.
OUTSIDE = [(dt.date(2025, 10, 30), None, None)]
COLUMNS = {"snapshot_date": "date", "index_usd": "double", "index_name": "varchar"}


def run_test(harness: DbtTestHarness, rows: list[tuple]) -> tuple[dict, list[dict]]:
    harness.write({"stg_deribit__index_price": (COLUMNS, rows + OUTSIDE)})
    results, failing = harness.run([TEST], order_by="snapshot_date")
    return results[TEST], failing.get(TEST, [])


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> DbtTestHarness:
    return DbtTestHarness(tmp_path_factory.mktemp("not_null_columns"), MIN_DATE, MAX_DATE)


def test_the_model_lists_its_non_null_columns_in_one_test():
    models = yaml.safe_load((DBT_PROJECT_DIR / "models" / "staging" / "deribit" / "_deribit.yml").read_text())
    model = next(m for m in models["models"] if m["name"] == "stg_deribit__index_price")
    tests = [t["not_null_columns"] for t in model["data_tests"] if "not_null_columns" in t]
    assert tests == [{"name": TEST, "arguments": {"columns": ["snapshot_date", "index_usd"]}}]


def test_complete_days_pass_and_nulls_outside_the_window_are_ignored(harness):
    result, failing = run_test(harness, [(NOV1, 100.0, "btc_usd"), (NOV2, 101.0, None), (NOV3, 99.0, "btc_usd")])
    assert (result["status"], failing) == ("pass", [])  # index_name is not listed: its null is no failure


def test_a_null_in_any_listed_column_fails_and_the_row_names_it(harness):
    result, failing = run_test(harness, [(NOV1, 100.0, "btc_usd"), (NOV2, None, "btc_usd"), (NOV3, 99.0, None)])
    assert result["status"] == "fail" and result["failures"] == 1
    assert [(row["null_columns"], row["snapshot_date"]) for row in failing] == [("index_usd", NOV2)]


def test_a_row_with_no_day_is_judged_by_every_run(harness):
    """A null window column falls on no day: the test scope keeps such rows (dbt/macros/test_scope.sql), or the
    not-null test of the window column could never fail in a run."""
    result, failing = run_test(harness, [(NOV1, 100.0, "btc_usd"), (None, 101.0, "btc_usd")])
    assert result["status"] == "fail" and result["failures"] == 1
    assert [(row["null_columns"], row["index_usd"]) for row in failing] == [("snapshot_date", 101.0)]
