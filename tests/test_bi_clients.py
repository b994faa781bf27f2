"""The serving copy opens read-only in the DuckDB clients BI users have installed, and each sees the same tables
and Parquet files as the pipeline's own DuckDB: Python packages 1.1-1.5, the DuckDB CLI from PyPI and Node's
@duckdb/node-api (tests/bi_clients/clients.py; `make bi-clients` installs them, `make test` does it first).

The demo warehouse's own serving copy, every mart of a real run, is checked the same way in tests/test_end_to_end.py.
Without the clients the tests skip, naming what is missing; BTCW_REQUIRE_BI_CLIENTS=1 (.ci/run) fails instead."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent / "reporting"))
from bi_clients.clients import assert_every_client_reads_the_copy  # noqa: E402
from report_warehouse import build_report_warehouse  # noqa: E402

from pipelines.serving.publish import SERVING_STORAGE_VERSION, publish_serving  # noqa: E402


def test_every_client_opens_the_published_copy_and_reads_the_same_tables(tmp_path):
    """The report's marts (gamma tables with their pipeline schemas, prices, mining, the dashboard row: DATE,
    TIMESTAMP, DOUBLE, BIGINT, VARCHAR, BOOLEAN, NULLs) plus a table of the other types DuckDB marts may hold."""
    source = build_report_warehouse(tmp_path / "pipeline.duckdb")
    with duckdb.connect(str(source)) as conn:
        conn.execute("CREATE TABLE marts.other_types AS SELECT i::INTEGER AS i, (i * 1e12)::HUGEINT AS big, "
                     "(i / 7)::DECIMAL(18, 6) AS dec, TIMESTAMPTZ '2025-11-21 12:00:00+00' + i * INTERVAL 1 HOUR "
                     "AS at, [i, i + 1] AS list, {'a': i, 'b': 'x' || i} AS struct, i % 2 = 0 AS even, "
                     "CASE WHEN i = 2 THEN NULL ELSE 0.1 * i END AS maybe FROM range(5) r(i)")
    serving = tmp_path / "serving"
    publish_serving(source, serving)
    names = assert_every_client_reads_the_copy(serving, tmp_path)
    assert any(name.startswith("duckdb CLI") for name in names) and any(name.startswith("python duckdb 1.1") for name
                                                                        in names), names


def test_the_copy_is_written_in_the_storage_format_of_duckdb_1_0(tmp_path):
    """What makes the copy readable by every DuckDB since 1.0, whichever format the pipeline's DuckDB writes by
    default (1.5's default is 1.0's format; 2.0's default is its own)."""
    source = build_report_warehouse(tmp_path / "pipeline.duckdb", with_gamma=False)
    publish_serving(source, tmp_path / "serving")

    def storage_version(path: Path) -> str:
        with duckdb.connect(str(path), read_only=True) as conn:
            ((tags,),) = conn.execute("SELECT tags FROM duckdb_databases() WHERE path = ?", [str(path)]).fetchall()
        return tags["storage_version"]

    assert storage_version((tmp_path / "serving" / "warehouse.duckdb").resolve()) == f"{SERVING_STORAGE_VERSION}+"
