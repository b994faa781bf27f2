"""The `bounds` dbt test (dbt/macros/test_bounds.sql): one test per model for all its bounded columns, where there
was an `at_least` or `at_most` per column. Bounds are inclusive; a row breaking any of them fails the test on a day
the run may rewrite, and is kept with `broken_bounds` naming each bound it breaks; nulls and days outside the window
are not its business. Real `dbt test` on a small DuckDB file holding the relation it reads (tests/dbt_harness.py)."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from pipelines.dbt_project import DBT_PROJECT_DIR
from tests.dbt_harness import DbtTestHarness

TEST = "bounds_fct_hashrate_daily"
MIN_DATE, MAX_DATE = dt.date(2025, 11, 1), dt.date(2025, 11, 4)
NOV1, NOV2, NOV3 = (dt.date(2025, 11, 1) + dt.timedelta(days=i) for i in range(3))
COLUMNS = {"date": "date", "hashrate_ehs": "double", "days_in_7d_avg": "integer", "days_since_peak": "integer",
           "drawdown_from_peak_pct": "double"}
# Every bound broken on a day no run over the window rewrites (it rewrites the day before the window too).
OUTSIDE = [(dt.date(2025, 10, 30), -1.0, 0, -1, 5.0)]


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> DbtTestHarness:
    return DbtTestHarness(tmp_path_factory.mktemp("bounds"), MIN_DATE, MAX_DATE)


def run_test(harness: DbtTestHarness, rows: list[tuple]) -> tuple[dict, list[dict]]:
    harness.write({"fct_hashrate_daily": (COLUMNS, rows + OUTSIDE)}, schema="marts")
    results, failing = harness.run([TEST], order_by="date")
    return results[TEST], failing.get(TEST, [])


def test_the_model_lists_its_bounded_columns_in_one_test():
    models = yaml.safe_load((DBT_PROJECT_DIR / "models" / "marts" / "mining" / "fct_hashrate_daily.yml").read_text())
    (model,) = models["models"]
    tests = [t["bounds"] for t in model["data_tests"] if "bounds" in t]
    assert tests == [{"name": TEST, "arguments": {"columns": {
        "hashrate_ehs": {"at_least": 0}, "days_in_7d_avg": {"at_least": 1, "at_most": 7},
        "days_since_peak": {"at_least": 0, "at_most": 364}, "drawdown_from_peak_pct": {"at_most": 0}}}}]
    assert not any(set(t) & {"at_least", "at_most"} for c in model["columns"] for t in c.get("data_tests", []))


def test_rows_on_their_bounds_pass_and_nulls_and_days_outside_the_window_are_ignored(harness):
    result, failing = run_test(harness, [(NOV1, 0.0, 1, 0, 0.0), (NOV2, 700.0, 7, 364, -30.0),
                                         (NOV3, None, None, None, None)])
    assert (result["status"], failing) == ("pass", [])


def test_a_row_out_of_bounds_fails_and_names_every_bound_it_breaks(harness):
    result, failing = run_test(harness, [(NOV1, 700.0, 7, 0, 0.0), (NOV2, -0.5, 8, 12, -1.0),
                                         (NOV3, 650.0, 3, 365, 0.1)])
    assert result["status"] == "fail" and result["failures"] == 2
    assert [(row["date"], row["broken_bounds"]) for row in failing] == [
        (NOV2, "hashrate_ehs < 0, days_in_7d_avg > 7"),
        (NOV3, "days_since_peak > 364, drawdown_from_peak_pct > 0"),
    ]


def test_a_misspelt_bound_is_a_compile_error_not_a_silent_pass(harness):
    misspelt = "{{ test_bounds(ref('fct_hashrate_daily'), {'hashrate_ehs': {'at_lest': 0}}) }}"
    done = harness.dbt("compile", "--inline", misspelt)
    assert done.returncode != 0
    assert "column hashrate_ehs takes at_least and/or at_most" in done.stdout + done.stderr, done.stdout[-2000:]
