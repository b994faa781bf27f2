"""The cross-source reconciliation dbt tests (the `reconciles_with` macro) pass on agreeing sources and fail on a
day off by more than its tolerance, naming the day.

Each case writes the staging relations the tests read (as plain tables) to a small DuckDB file and runs the real
`dbt test` on it (tests/dbt_harness.py): each test's status, and the failing rows it stored.
"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from pipelines.dbt_project import DBT_PROJECT_DIR
from tests.dbt_harness import DbtTestHarness

CLOSE, INDEX, HASHRATE = (
    "reconcile_binance_close_with_coinbase",
    "reconcile_deribit_index_with_coinbase_close",
    "reconcile_blockchain_com_hashrate_with_mempool",
)
# The run's window is [Nov 1, Nov 4): Oct 31 and Nov 4 are outside it, and carry wild values in both cases.
MIN_DATE, MAX_DATE = dt.date(2025, 11, 1), dt.date(2025, 11, 4)
OCT31, NOV1, NOV2, NOV3, NOV4 = (dt.date(2025, 10, 31) + dt.timedelta(days=i) for i in range(5))

# name -> ({column: type}, rows): the staging relations with the columns the tests read.
COLUMNS = {
    "stg_binance__spot_klines_1d": {"date": "date", "close": "double"},
    "stg_coinbase__spot_candles_1d": {"date": "date", "close": "double"},
    "stg_deribit__index_price": {"snapshot_date": "date", "index_usd": "double"},
    "stg_mempool__hashrate": {"date": "date", "hashrate_ehs": "double"},
    "stg_blockchain_com__hash_rate": {"date": "date", "hashrate_ehs": "double"},
}
OUTSIDE_WINDOW = {  # off by 50% or more, on the days just outside the window: never reported
    "stg_binance__spot_klines_1d": [(OCT31, 150.0), (NOV4, 150.0)],
    "stg_coinbase__spot_candles_1d": [(OCT31, 100.0), (NOV4, 100.0)],
    "stg_deribit__index_price": [(OCT31, 50.0), (NOV4, 50.0)],
    "stg_mempool__hashrate": [(OCT31, 1000.0), (NOV4, 1000.0)],
    "stg_blockchain_com__hash_rate": [(OCT31, 2000.0), (NOV4, 2000.0)],
}
AGREEING = {
    # 0.9% apart on Nov 1; Nov 3 has no Binance close but a null one (left to not_null, not compared)
    "stg_binance__spot_klines_1d": [(NOV1, 100.9), (NOV2, 99.5), (NOV3, None)],
    "stg_coinbase__spot_candles_1d": [(NOV1, 100.0), (NOV2, 100.0), (NOV3, 100.0)],
    # 0.95% below Coinbase's close of its day; no snapshot on Nov 2 (a day in one source only)
    "stg_deribit__index_price": [(NOV1, 99.05), (NOV3, 100.5)],
    # within 10% on Nov 1 and 2; blockchain.com has no Nov 3
    "stg_mempool__hashrate": [(NOV1, 1000.0), (NOV2, 1000.0), (NOV3, 1000.0)],
    "stg_blockchain_com__hash_rate": [(NOV1, 1095.0), (NOV2, 910.0)],
}
DISAGREEING = {
    "stg_binance__spot_klines_1d": [(NOV1, 100.5), (NOV2, 101.1), (NOV3, 99.5)],  # Nov 2: 1.1% off
    "stg_coinbase__spot_candles_1d": [(NOV1, 100.0), (NOV2, 100.0), (NOV3, 100.0)],
    "stg_deribit__index_price": [(NOV1, 100.2), (NOV3, 98.8)],  # Nov 3: 1.2% off
    # Nov 1: a zero reference must fail (not divide into a null that passes); Nov 2: 11.1% off
    "stg_mempool__hashrate": [(NOV1, 0.0), (NOV2, 1000.0), (NOV3, 1000.0)],
    "stg_blockchain_com__hash_rate": [(NOV1, 900.0), (NOV2, 1111.0), (NOV3, 1090.0)],
}
EXPECTED_FAILING_DAYS = {CLOSE: [NOV2], INDEX: [NOV3], HASHRATE: [NOV1, NOV2]}


@pytest.fixture(scope="module")
def reconciler(tmp_path_factory) -> DbtTestHarness:
    return DbtTestHarness(tmp_path_factory.mktemp("reconcile"), MIN_DATE, MAX_DATE)


def run(reconciler: DbtTestHarness, rows_by_table: dict[str, list[tuple]]) -> tuple[dict, dict]:
    """The three reconciliation tests on the relations holding `rows_by_table` (and the days outside the window)."""
    reconciler.write({table: (columns, rows_by_table[table] + OUTSIDE_WINDOW[table])
                      for table, columns in COLUMNS.items()})
    return reconciler.run([CLOSE, INDEX, HASHRATE], order_by="date")


def test_agreeing_sources_pass_and_days_outside_the_window_are_ignored(reconciler):
    results, failing = run(reconciler, AGREEING)
    assert {name: r["status"] for name, r in results.items()} == {CLOSE: "pass", INDEX: "pass", HASHRATE: "pass"}
    assert failing == {}


def test_a_day_beyond_the_tolerance_fails_and_is_named(reconciler):
    results, failing = run(reconciler, DISAGREEING)
    # The close stops the build (error); index and hash rate warn at these tolerances (see their yml) and stop
    # the build only at their wider error tolerances.
    assert results[CLOSE]["severity"] == "error"
    for name, days in EXPECTED_FAILING_DAYS.items():
        expected_status = "fail" if results[name]["severity"] == "error" else "warn"
        assert results[name]["status"] == expected_status, results[name]
        assert results[name]["failures"] == len(days)
        assert [row["date"] for row in failing[name]] == days, failing[name]

    tolerances = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    (close,) = failing[CLOSE]
    assert (close["value"], close["reference"]) == (101.1, 100.0)
    assert close["relative_difference"] == pytest.approx(0.011)
    assert close["tolerance"] == tolerances["reconcile_close_tolerance"] == 0.01
    (index,) = failing[INDEX]
    assert (index["value"], index["reference"]) == (98.8, 100.0)
    assert index["tolerance"] == tolerances["reconcile_index_tolerance"]
    zero, off = failing[HASHRATE]
    assert (zero["value"], zero["reference"], zero["relative_difference"]) == (900.0, 0.0, None)
    assert off["relative_difference"] == pytest.approx(0.111)
    assert off["tolerance"] == tolerances["reconcile_hashrate_tolerance"] == 0.1
