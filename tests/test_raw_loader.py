"""The raw load of a window: atomic partition replacement, quarantine, reject threshold, load log."""

import datetime as dt
import json

import duckdb
import pyarrow as pa
import pytest

from pipelines.ingest.archive import LandingArchive
from pipelines.ingest.body_source import ReplayBodySource
from pipelines.ingest.errors import ParseError
from pipelines.ingest.extract import load_window
from pipelines.ingest.fetcher import FetchedBody, FetchRequest
from pipelines.ingest.raw_loader import create_table_sql, validate_rows
from pipelines.quality import rules as q
from pipelines.sources.spec import DatasetSpec

DAY = dt.date(2025, 11, 20)
NEXT = DAY + dt.timedelta(days=1)
AT = dt.datetime(2025, 11, 22, 0, 30, tzinfo=dt.UTC)
SCHEMA = pa.schema([("partition_date", pa.date32()), ("open_time", pa.timestamp("us")), ("close", pa.float64())])


def parse(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    """Test wire format: [[iso open_time, close], …]."""
    try:
        points = json.loads(body)
    except json.JSONDecodeError as error:
        raise ParseError("testsrc", "candles", day, f"not JSON: {error}") from None
    return pa.table({"partition_date": [day] * len(points),
                     "open_time": [dt.datetime.fromisoformat(t) for t, _ in points],
                     "close": [c for _, c in points]}, schema=SCHEMA)


SPEC = DatasetSpec(
    source="testsrc",
    dataset="candles",
    description="test",
    raw_schema=SCHEMA,
    key_columns=("partition_date", "open_time"),
    build_request=lambda day: FetchRequest("testsrc", "candles", day, "https://example.invalid"),
    parse=parse,
    event_time_column="open_time",
)


@pytest.fixture(autouse=True)
def declared_rules(monkeypatch):
    monkeypatch.setitem(q.RULES, SPEC.raw_table, q.DatasetRules((q.Between("close", 0, strict_min=True, why="positive"),)))


def land(archive: LandingArchive, day: dt.date, closes: list[float], hour: int = 0, minute: int = 0,
         body: bytes | None = None) -> None:
    points = [(dt.datetime.combine(day, dt.time(hour + i)).isoformat(), c) for i, c in enumerate(closes)]
    fetched_at = AT + dt.timedelta(days=(day - DAY).days, minutes=minute)
    archive.write(FetchedBody(SPEC.build_request(day), 200, body or json.dumps(points).encode(), fetched_at))


def load(conn, archive, tmp_path, days, threshold=0.25, hours=0):
    return load_window(SPEC, days, ReplayBodySource(archive), conn, tmp_path,
                       AT + dt.timedelta(hours=hours), threshold)


def content(conn):
    return conn.execute("SELECT * EXCLUDE (_loaded_at) FROM raw.testsrc__candles ORDER BY ALL").fetchall()


def table_sums(conn) -> dict[str, object]:
    return {t: conn.execute(f"SELECT count(*), sum(hash(COLUMNS(* EXCLUDE (_loaded_at)))) FROM {t}").fetchall()
            for t in ("raw.testsrc__candles",)}


def test_ddl_declares_keys_not_null_and_lineage():
    sql = create_table_sql(SPEC)
    assert '"partition_date" DATE NOT NULL' in sql and '"close" DOUBLE,' in sql
    assert '"_landing_file" VARCHAR NOT NULL' in sql and '"_loaded_at" TIMESTAMP NOT NULL' in sql


def test_reload_replaces_only_its_partitions_and_is_idempotent(tmp_path):
    archive = LandingArchive(tmp_path / "landing")
    land(archive, DAY, [1.0, 2.0])
    land(archive, NEXT, [5.0])
    conn = duckdb.connect()
    load(conn, archive, tmp_path, [DAY, NEXT])
    first = content(conn)
    load(conn, archive, tmp_path, [DAY, NEXT], hours=1)
    assert content(conn) == first
    land(archive, DAY, [3.0], minute=5)  # a newer body for DAY only
    load(conn, archive, tmp_path, [DAY])
    assert [r[2] for r in content(conn)] == [3.0, 5.0]
    log = conn.execute("SELECT partition_date, status, rows_landed, rows_loaded FROM raw.load_log ORDER BY 1").fetchall()
    assert log == [(DAY, "loaded", 1, 1), (NEXT, "loaded", 1, 1)]


def test_bad_rows_are_quarantined_with_reasons_and_the_rest_loads(tmp_path):
    archive = LandingArchive(tmp_path / "landing")
    # 8 rows: a negative close, an exact repeat, and a row from the next day; 3/8 = 37.5% > 25%: rejected …
    land(archive, DAY, [1.0, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    conn = duckdb.connect()
    first = load(conn, archive, tmp_path, [DAY])
    assert [d.status for d in first.days] == ["loaded"] and first.days[0].rows_quarantined == 1
    reasons = conn.execute("SELECT row_number, reason, row_json FROM raw.quarantine").fetchall()
    assert reasons[0][0] == 2 and "positive" in reasons[0][1] and '"close": -3.0' in reasons[0][2]
    assert [r[2] for r in content(conn)] == [1.0, 2.0, 4.0, 5.0, 6.0, 7.0, 8.0]

    before = content(conn)
    points = [(dt.datetime.combine(DAY, dt.time(i)).isoformat(), float(i + 1)) for i in range(6)]
    points += [points[0], (dt.datetime.combine(NEXT, dt.time(1)).isoformat(), 9.0), (points[1][0], 99.0)]
    land(archive, DAY, [], body=json.dumps(points).encode(), minute=5)
    second = load(conn, archive, tmp_path, [DAY], threshold=0.25)
    assert second.days[0].status == "rejected"
    assert content(conn) == before  # raw untouched: the partition keeps its previous rows
    reasons = dict(conn.execute("SELECT row_number, reason FROM raw.quarantine ORDER BY 1").fetchall())
    assert "exact duplicate" in reasons[6]
    assert "inside the partition's UTC day" in reasons[7]
    assert "one row per key" in reasons[1] and "one row per key" in reasons[8]  # a conflict: both copies
    assert conn.execute("SELECT status, rows_quarantined FROM raw.load_log").fetchall() == [("rejected", 4)]


def test_a_day_that_does_not_parse_fails_alone_and_changes_nothing(tmp_path):
    archive = LandingArchive(tmp_path / "landing")
    land(archive, DAY, [1.0])
    land(archive, NEXT, [2.0])
    conn = duckdb.connect()
    load(conn, archive, tmp_path, [DAY, NEXT])
    before = table_sums(conn)
    land(archive, DAY, [], body=b'[["2025-11-20T00:00:00", 1.0', minute=5)  # truncated
    land(archive, NEXT, [7.0], minute=5)
    result = load(conn, archive, tmp_path, [DAY, NEXT])
    failed = [d for d in result.days if d.status == "failed"]
    assert [d.day for d in failed] == [DAY] and "testsrc/candles for 2025-11-20: invalid JSON" in failed[0].reason
    assert failed[0].landing_file.endswith("T003500Z.json.gz")  # the bad body stays archived, and is named
    assert content(conn)[0][2] == 1.0 and content(conn)[1][2] == 7.0  # DAY kept; NEXT loaded
    assert table_sums(conn) != before


def test_the_contract_at_ingestion_refuses_what_the_quarantine_must_have_caught():
    with pytest.raises(ParseError, match=r"testsrc/candles for 2025-11-20: duplicate keys"):
        validate_rows(SPEC, DAY, pa.concat_tables([parse(b'[["2025-11-20T00:00:00", 7.0]]', DAY, AT)] * 2))
    with pytest.raises(ParseError, match="rows for other partitions"):
        validate_rows(SPEC, DAY, parse(b'[["2025-11-23T00:00:00", 7.0]]', NEXT + dt.timedelta(days=2), AT))
    with pytest.raises(ParseError, match="parsed schema"):
        validate_rows(SPEC, DAY, pa.table({"partition_date": [DAY], "close": [1.0]}))


def test_an_archived_body_altered_after_landing_fails_its_day_by_name(tmp_path):
    archive = LandingArchive(tmp_path / "landing")
    land(archive, DAY, [1.0])
    body = next((tmp_path / "landing").rglob("*.json.gz"))
    body.chmod(0o644)
    body.write_bytes(__import__("gzip").compress(b'[["2025-11-20T00:00:00", 2.0]]'))
    conn = duckdb.connect()
    result = load(conn, archive, tmp_path, [DAY])
    assert result.days[0].status == "failed"
    assert "testsrc/candles for 2025-11-20" in result.days[0].reason and "sha256" in result.days[0].reason
