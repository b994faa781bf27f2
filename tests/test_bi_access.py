"""BI tools reach the serving copy read-only: through SQLAlchemy (duckdb-engine, what Superset and other
SQLAlchemy-based tools use) in both URL forms the README gives, and through duckdb's own read-only connection
(what `duckdb -readonly` does) in another process at the same time. A connection sees the file it opened: a
pooled one keeps answering from the previous publication, so long-lived BI processes should not pool."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from pipelines.serving.publish import publish_serving, serving_duckdb_path


@pytest.fixture
def serving_file(tmp_path):
    """A small stand-in for <tree>/serving/warehouse.duckdb: one mart, three days."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA marts")
        conn.execute("CREATE TABLE marts.mart_market_daily AS "
                     "SELECT DATE '2025-11-19' + i::INTEGER AS date, 90000.0 - i AS close FROM range(3) r(i)")
    return path


def read_only_engines(path):
    return {
        "connect_args": sa.create_engine(f"duckdb:///{path}", connect_args={"read_only": True}),
        "url_query": sa.create_engine(f"duckdb:///{path}?access_mode=read_only"),
    }


@pytest.mark.parametrize("form", ["connect_args", "url_query"])
def test_sqlalchemy_read_only_engine_reads_and_refuses_writes(serving_file, form):
    engine = read_only_engines(serving_file)[form]
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT date, close FROM marts.mart_market_daily ORDER BY date")).all()
            assert [str(d) for d, _ in rows] == ["2025-11-19", "2025-11-20", "2025-11-21"]
            with pytest.raises(sa.exc.DBAPIError, match="read-only"):
                conn.execute(sa.text("INSERT INTO marts.mart_market_daily VALUES (DATE '2025-11-22', 1.0)"))
    finally:
        engine.dispose()


def test_a_sqlalchemy_reader_and_a_duckdb_reader_in_another_process_share_the_file(serving_file):
    """What a dashboard and an analyst's CLI do together: both read-only, neither locks the other out. (A writer
    in another process would be refused while they read: that is why BI gets a copy, never the pipeline's file.)"""
    engine = read_only_engines(serving_file)["connect_args"]
    cli_equivalent = ("import duckdb, sys\n"
                      "with duckdb.connect(sys.argv[1], read_only=True) as conn:\n"
                      "    print(conn.execute('SELECT max(date) FROM marts.mart_market_daily').fetchone()[0])\n")
    writer = "import duckdb, sys\nduckdb.connect(sys.argv[1]).close()\n"
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM marts.mart_market_daily")).scalar_one() == 3
            reader = subprocess.run([sys.executable, "-c", cli_equivalent, str(serving_file)],
                                    capture_output=True, text=True, check=False)
            assert (reader.returncode, reader.stdout.strip()) == (0, "2025-11-21"), reader.stderr
            refused = subprocess.run([sys.executable, "-c", writer, str(serving_file)],
                                     capture_output=True, text=True, check=False)
            assert refused.returncode != 0 and "lock" in refused.stderr, refused.stderr
    finally:
        engine.dispose()


def test_pandas_reads_through_the_read_only_engine(serving_file):
    engine = read_only_engines(serving_file)["url_query"]
    try:
        frame = pd.read_sql("SELECT * FROM marts.mart_market_daily ORDER BY date", engine)
    finally:
        engine.dispose()
    assert list(frame.columns) == ["date", "close"] and len(frame) == 3


def test_a_pooled_connection_keeps_the_old_publication_and_an_unpooled_engine_sees_each_new_one(tmp_path):
    """The publish renames a new file over the old one; an open connection keeps reading the old file. SQLAlchemy's
    default pool keeps connections open between queries, so a BI server must use NullPool (Superset does by
    default) or reconnect to see the next publication."""
    source, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving"

    def publish(days: int) -> None:
        with duckdb.connect(str(source)) as conn:
            conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
            conn.execute("CREATE OR REPLACE TABLE marts.mart_market_daily AS "
                         "SELECT DATE '2025-11-19' + i::INTEGER AS date FROM range(?) r(i)", [days])
        publish_serving(source, serving, duckdb_config={"threads": "1"})

    publish(2)
    url = f"duckdb:///{serving_duckdb_path(tmp_path)}"
    pooled = sa.create_engine(url, connect_args={"read_only": True})
    unpooled = sa.create_engine(url, connect_args={"read_only": True}, poolclass=NullPool)
    days = sa.text("SELECT count(*) FROM marts.mart_market_daily")
    try:
        with pooled.connect() as conn:
            assert conn.execute(days).scalar_one() == 2
        publish(3)
        with pooled.connect() as conn:  # the pool hands back the connection opened on the old file
            assert conn.execute(days).scalar_one() == 2
        pooled.dispose()  # closes it (and, in this process, DuckDB's cached instance of the old file)
        with pooled.connect() as conn:
            assert conn.execute(days).scalar_one() == 3
        pooled.dispose()
        for published in (4, 5):
            publish(published)
            with unpooled.connect() as conn:
                assert conn.execute(days).scalar_one() == published
    finally:
        pooled.dispose()
        unpooled.dispose()
