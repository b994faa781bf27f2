"""The cross-source reconciliation dbt tests (the `reconciles_with` macro) pass on agreeing sources and fail on a
day off by more than its tolerance, naming the day.

Each case builds a small DuckDB file holding only the relations the tests read (the staging views, as plain
tables), then runs the real `dbt test` on it in a subprocess with --store-failures, and reads back the status
of each test (run_results.json) and the failing rows (dbt_test__audit.<test>). Both cases share one DuckDB path
and target dir, so the second dbt call parses partially (~6 s after a ~11 s first parse).
"""

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


def write_relations(path: Path, rows_by_table: dict[str, list[tuple]]) -> None:
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema if not exists staging")
        conn.execute("drop schema if exists dbt_test__audit cascade")  # failures of a previous case
        for table, columns in COLUMNS.items():
            conn.execute(f"create or replace table staging.{table} "
                         f"({', '.join(f'{c} {t}' for c, t in columns.items())})")
            rows = rows_by_table[table] + OUTSIDE_WINDOW[table]
            conn.executemany(f"insert into staging.{table} values ({', '.join('?' for _ in columns)})", rows)


class Reconciler:
    """Runs the three reconciliation tests on a DuckDB file rebuilt for each case."""

    def __init__(self, workdir: Path):
        self.db = workdir / "reconcile.duckdb"
        self.target = workdir / "target"
        self.vars = json.dumps({"duckdb_path": str(self.db), "duckdb_temp_directory": str(workdir / "duckdb_tmp"),
                                "min_date": MIN_DATE.isoformat(), "max_date": MAX_DATE.isoformat()})
        self.workdir = workdir

    def run(self, rows_by_table: dict[str, list[tuple]]) -> tuple[dict[str, dict], dict[str, list[dict]]]:
        """Per test: its run result ({status, failures, severity}) and its stored failing rows."""
        write_relations(self.db, rows_by_table)
        proc = subprocess.run(
            [str(DBT), "test", "--select", CLOSE, INDEX, HASHRATE, "--store-failures", "--vars", self.vars,
             "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
             "--target-path", str(self.target), "--log-path", str(self.workdir / "logs")],
            capture_output=True, text=True, timeout=300,
        )
        results_file = self.target / "run_results.json"
        assert results_file.exists(), f"dbt test did not run:\n{proc.stdout}\n{proc.stderr}"
        manifest = json.loads((self.target / "manifest.json").read_text())
        results = {}
        for r in json.loads(results_file.read_text())["results"]:
            node = manifest["nodes"][r["unique_id"]]
            results[node["name"]] = {"status": r["status"], "failures": r["failures"],
                                     "severity": node["config"]["severity"].lower(), "message": r["message"]}
        assert set(results) == {CLOSE, INDEX, HASHRATE}, proc.stdout
        failing = {}
        with duckdb.connect(str(self.db), read_only=True) as conn:
            for name, result in results.items():
                if result["status"] == "pass":
                    continue
                cur = conn.execute(f"select * from dbt_test__audit.{name} order by date")
                columns = [d[0] for d in cur.description]
                failing[name] = [dict(zip(columns, row)) for row in cur.fetchall()]
        return results, failing


@pytest.fixture(scope="module")
def reconciler(tmp_path_factory) -> Reconciler:
    return Reconciler(tmp_path_factory.mktemp("reconcile"))


def test_agreeing_sources_pass_and_days_outside_the_window_are_ignored(reconciler):
    results, failing = reconciler.run(AGREEING)
    assert {name: r["status"] for name, r in results.items()} == {CLOSE: "pass", INDEX: "pass", HASHRATE: "pass"}
    assert failing == {}


def test_a_day_beyond_the_tolerance_fails_and_is_named(reconciler):
    results, failing = reconciler.run(DISAGREEING)
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
