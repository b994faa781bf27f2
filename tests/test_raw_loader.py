import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from pipelines.checks.raw_checks import raw_keys_unique_and_in_day
from pipelines.ingest.errors import ParseError
from pipelines.ingest.fetcher import FetchRequest
from pipelines.ingest.raw_loader import create_table_sql, replace_partition
from pipelines.sources.spec import DatasetSpec

DAY = dt.date(2025, 11, 20)
SCHEMA = pa.schema([("partition_date", pa.date32()), ("open_time", pa.timestamp("us")), ("close", pa.float64())])
SPEC = DatasetSpec(
    source="testsrc",
    dataset="candles",
    description="test",
    raw_schema=SCHEMA,
    key_columns=("partition_date", "open_time"),
    build_request=lambda day: FetchRequest("testsrc", "candles", day, "https://example.invalid"),
    parse=lambda body, day, at: pa.table({}),
    event_time_column="open_time",
)


def rows(day: dt.date, *closes: float, hour: int = 0) -> pa.Table:
    times = [dt.datetime.combine(day, dt.time(hour + i)) for i in range(len(closes))]
    return pa.table({"partition_date": [day] * len(closes), "open_time": times, "close": list(closes)}, schema=SCHEMA)


def content(conn):
    return conn.execute("SELECT * EXCLUDE (_loaded_at) FROM raw.testsrc__candles ORDER BY ALL").fetchall()


def test_ddl_declares_keys_not_null_and_lineage():
    sql = create_table_sql(SPEC)
    assert '"partition_date" DATE NOT NULL' in sql and '"close" DOUBLE,' in sql
    assert '"_landing_file" VARCHAR NOT NULL' in sql and '"_loaded_at" TIMESTAMP NOT NULL' in sql


def test_reload_replaces_only_its_partition_and_is_idempotent():
    conn = duckdb.connect()
    at = dt.datetime(2025, 11, 21, tzinfo=dt.UTC)
    replace_partition(conn, SPEC, DAY, rows(DAY, 1.0, 2.0), "landing/a", at)
    other = DAY + dt.timedelta(days=1)
    replace_partition(conn, SPEC, other, rows(other, 5.0), "landing/b", at)
    first = content(conn)
    replace_partition(conn, SPEC, DAY, rows(DAY, 1.0, 2.0), "landing/a", at + dt.timedelta(hours=1))
    assert content(conn) == first
    replace_partition(conn, SPEC, DAY, rows(DAY, 3.0), "landing/c", at)
    assert [r[2] for r in content(conn)] == [3.0, 5.0]


def test_bad_rows_leave_the_previous_partition_intact():
    conn = duckdb.connect()
    at = dt.datetime(2025, 11, 21, tzinfo=dt.UTC)
    replace_partition(conn, SPEC, DAY, rows(DAY, 1.0), "landing/a", at)
    before = content(conn)
    duplicated = pa.concat_tables([rows(DAY, 7.0), rows(DAY, 8.0)])
    with pytest.raises(ParseError, match=r"testsrc/candles for 2025-11-20: duplicate keys"):
        replace_partition(conn, SPEC, DAY, duplicated, "landing/bad", at)
    wrong_day = rows(DAY + dt.timedelta(days=3), 9.0)
    with pytest.raises(ParseError, match="rows for other partitions"):
        replace_partition(conn, SPEC, DAY, wrong_day, "landing/bad", at)
    wrong_schema = pa.table({"partition_date": [DAY], "close": [1.0]})
    with pytest.raises(ParseError, match="parsed schema"):
        replace_partition(conn, SPEC, DAY, wrong_schema, "landing/bad", at)
    assert content(conn) == before


def test_raw_check_flags_timestamps_outside_the_day():
    conn = duckdb.connect()
    at = dt.datetime(2025, 11, 21, tzinfo=dt.UTC)
    replace_partition(conn, SPEC, DAY, rows(DAY, 1.0, 2.0), "landing/a", at)
    assert raw_keys_unique_and_in_day(conn, SPEC, DAY, DAY + dt.timedelta(days=1)).passed
    conn.execute("UPDATE raw.testsrc__candles SET open_time = open_time + INTERVAL 1 DAY WHERE close = 2.0")
    outcome = raw_keys_unique_and_in_day(conn, SPEC, DAY, DAY + dt.timedelta(days=1))
    assert not outcome.passed
    assert "outside the partition's UTC day" in outcome.description
