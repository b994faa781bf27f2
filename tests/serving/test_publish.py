"""publish_serving: a read-only DuckDB copy and Parquet files of the marts, replaced atomically."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.serving import publish as publish_module
from pipelines.serving.publish import (
    SERVING_FILE,
    NothingToPublish,
    PublishError,
    check_parquet_names,
    publication_consistent,
    publish_serving,
    serving_duckdb_path,
    sweep_leftovers,
)

CONFIG = {"threads": "2", "memory_limit": "1GB"}


def make_source(path: Path, version: int = 1, *, reverse: bool = False) -> Path:
    """marts.prices (version + 2 rows), marts.events (one row naming the version), a view in marts and a raw
    table: only the two marts tables are published."""
    rows = [(f"2025-11-{day:02d}", 90_000.0 + 100 * day + version, f"v{version}") for day in range(1, version + 3)]
    if reverse:
        rows.reverse()
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
        conn.execute("CREATE OR REPLACE TABLE marts.prices (date DATE NOT NULL, close DOUBLE, tag VARCHAR)")
        conn.executemany("INSERT INTO marts.prices VALUES (?, ?, ?)", rows)
        conn.execute(
            "CREATE OR REPLACE TABLE marts.events AS SELECT ? AS version, 'break_down' AS direction", [version]
        )
        conn.execute("CREATE OR REPLACE VIEW marts.latest AS SELECT max(date) AS date FROM marts.prices")
        conn.execute("CREATE OR REPLACE TABLE raw.bodies AS SELECT 'secret' AS body")
    return path


def serving_rows(serving: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(serving / SERVING_FILE), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


def test_publish_copies_the_marts_tables_only(tmp_path):
    source = make_source(tmp_path / "warehouse.duckdb")
    serving = tmp_path / "serving"

    report = publish_serving(source, serving, duckdb_config=CONFIG)

    assert [t.qualified for t in report.tables] == ["marts.events", "marts.prices"]
    assert report.rows == {"marts.events": 1, "marts.prices": 3}
    assert report.skipped == ("marts.latest: view, not copied",)
    assert report.duckdb_path == serving / SERVING_FILE
    assert report.duckdb_bytes == (serving / SERVING_FILE).stat().st_size
    parquet = serving / "parquet"
    assert report.parquet_bytes == sum((parquet / f"{t}.parquet").stat().st_size for t in ("events", "prices"))
    assert report.duration_s > 0
    assert report.metadata()["rows"] == 4
    assert serving_rows(serving, "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 1, 2") == [
        ("marts", "events"),
        ("marts", "prices"),
        ("serving", "publication"),  # the copy's record of its version, checked against the Parquet set
        ("serving", "published_tables"),
    ]
    assert report.version == 1 and report.version_dir == serving / "versions" / "000001"
    assert serving_rows(serving, "SELECT version, tables, rows FROM serving.publication") == [(1, 2, 4)]
    assert serving_rows(serving, "SELECT count(*), max(tag) FROM marts.prices") == [(3, "v1")]
    assert sorted(p.name for p in (serving / "parquet").iterdir()) == ["events.parquet", "prices.parquet"]
    assert leftovers(serving) == []


def test_republish_shows_the_new_data(tmp_path):
    source = make_source(tmp_path / "warehouse.duckdb", version=1)
    serving = tmp_path / "serving"
    publish_serving(source, serving, duckdb_config=CONFIG)

    make_source(source, version=5)
    report = publish_serving(source, serving, duckdb_config=CONFIG)

    assert report.rows == {"marts.events": 1, "marts.prices": 7}
    assert serving_rows(serving, "SELECT version FROM marts.events") == [(5,)]
    assert pq.read_table(serving / "parquet" / "prices.parquet").num_rows == 7


def test_a_reader_with_the_old_copy_open_keeps_reading_it(tmp_path):
    """os.replace swaps the name; the open file (inode) stays the old version for its reader."""
    source = make_source(tmp_path / "warehouse.duckdb", version=1)
    serving = tmp_path / "serving"
    publish_serving(source, serving, duckdb_config=CONFIG)
    old_reader = duckdb.connect(str(serving / SERVING_FILE), read_only=True)
    try:
        make_source(source, version=2)
        publish_serving(source, serving, duckdb_config=CONFIG)
        assert old_reader.execute("SELECT version FROM marts.events").fetchall() == [(1,)]
    finally:
        old_reader.close()
    # DuckDB caches open databases by path within a process: the new version shows once the old one is closed.
    assert serving_rows(serving, "SELECT version FROM marts.events") == [(2,)]


def test_parquet_round_trip_equals_the_table(tmp_path):
    source = make_source(tmp_path / "warehouse.duckdb", version=3)
    serving = tmp_path / "serving"
    publish_serving(source, serving, duckdb_config=CONFIG)

    with duckdb.connect(str(source), read_only=True) as conn:
        expected = conn.sql("SELECT * FROM marts.prices ORDER BY ALL").to_arrow_table()
    table = pq.read_table(serving / "parquet" / "prices.parquet")
    assert table.schema.names == expected.schema.names
    assert table.equals(expected.cast(table.schema))
    assert [f.type for f in table.schema] == [f.type for f in expected.schema]
    metadata = pq.ParquetFile(serving / "parquet" / "prices.parquet").metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_parquet_is_byte_identical_for_the_same_contents_in_any_physical_order(tmp_path):
    first = tmp_path / "first"
    second = tmp_path / "second"
    publish_serving(make_source(tmp_path / "a.duckdb", 4), first, duckdb_config=CONFIG)
    publish_serving(make_source(tmp_path / "b.duckdb", 4, reverse=True), second, duckdb_config=CONFIG)
    again = publish_serving(make_source(tmp_path / "a.duckdb", 4), first, duckdb_config=CONFIG)

    for table in again.tables:
        name = table.parquet_path.name
        assert (first / "parquet" / name).read_bytes() == (second / "parquet" / name).read_bytes()


def test_failure_while_copying_keeps_the_previous_copy_and_leaves_no_temp_file(tmp_path, monkeypatch):
    source = make_source(tmp_path / "warehouse.duckdb", version=1)
    serving = tmp_path / "serving"
    publish_serving(source, serving, duckdb_config=CONFIG)
    before = {p.name: p.read_bytes() for p in (serving / "parquet").iterdir()}
    make_source(source, version=2)

    real_copy = publish_module.copy_table

    def copy_then_fail(conn, schema, table):
        if table == "prices":  # the second table: the first one is already in the temporary file
            raise RuntimeError("disk full (simulated)")
        real_copy(conn, schema, table)

    monkeypatch.setattr(publish_module, "copy_table", copy_then_fail)
    with pytest.raises(RuntimeError, match="simulated"):
        publish_serving(source, serving, duckdb_config=CONFIG)

    assert serving_rows(serving, "SELECT version FROM marts.events") == [(1,)]
    assert {p.name: p.read_bytes() for p in (serving / "parquet").iterdir()} == before
    assert leftovers(serving) == []


def test_failure_while_exporting_parquet_keeps_the_previous_publication(tmp_path, monkeypatch):
    source = make_source(tmp_path / "warehouse.duckdb", version=1)
    serving = tmp_path / "serving"
    publish_serving(source, serving, duckdb_config=CONFIG)
    make_source(source, version=2)
    real_export = publish_module.export_parquet

    def export_then_fail(conn, schema, table, path):
        real_export(conn, schema, table, path)  # a finished temporary Parquet file is left to clean up
        if table == "prices":
            raise OSError("no space left on device (simulated)")

    monkeypatch.setattr(publish_module, "export_parquet", export_then_fail)
    with pytest.raises(OSError, match="simulated"):
        publish_serving(source, serving, duckdb_config=CONFIG)

    assert serving_rows(serving, "SELECT version FROM marts.events") == [(1,)]
    assert pq.read_table(serving / "parquet" / "events.parquet").column("version").to_pylist() == [1]
    assert leftovers(serving) == []


def test_first_publish_failing_leaves_nothing(tmp_path, monkeypatch):
    source = make_source(tmp_path / "warehouse.duckdb")
    serving = tmp_path / "serving"

    def fail(*_args):
        raise RuntimeError("boom")

    monkeypatch.setattr(publish_module, "switch_current", fail)
    with pytest.raises(RuntimeError, match="boom"):
        publish_serving(source, serving, duckdb_config=CONFIG)
    assert not (serving / SERVING_FILE).exists()
    assert leftovers(serving) == []
    assert list((serving / "versions").iterdir()) == []  # the finished version that never became current


def test_a_missing_schema_is_skipped_and_reported(tmp_path):
    source = make_source(tmp_path / "warehouse.duckdb")
    report = publish_serving(source, tmp_path / "serving", schemas=("marts", "analytics"), duckdb_config=CONFIG)
    assert "analytics: not in the source" in report.skipped
    assert set(report.rows) == {"marts.events", "marts.prices"}


def test_no_table_to_publish_keeps_the_previous_copy_unless_empty_is_allowed(tmp_path):
    source = make_source(tmp_path / "warehouse.duckdb")
    serving = tmp_path / "serving"
    publish_serving(source, serving, duckdb_config=CONFIG)
    empty = tmp_path / "empty.duckdb"
    with duckdb.connect(str(empty)) as conn:
        conn.execute("CREATE SCHEMA marts")

    with pytest.raises(NothingToPublish):
        publish_serving(empty, serving, duckdb_config=CONFIG)
    assert serving_rows(serving, "SELECT count(*) FROM marts.prices") == [(3,)]
    assert leftovers(serving) == []

    report = publish_serving(empty, serving, duckdb_config=CONFIG, allow_empty=True)
    assert report.tables == ()
    assert serving_rows(serving, "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'marts'") == [(1,)]
    assert serving_rows(serving, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts'") == [(0,)]
    assert serving_rows(serving, "SELECT tables, rows FROM serving.publication") == [(0, 0)]
    assert publication_consistent(tmp_path) == []
    # The Parquet folder mirrors the copy: the tables that are gone lose their files.
    assert sorted(report.removed_parquet) == ["events.parquet", "prices.parquet"]
    assert list((serving / "parquet").iterdir()) == []


def test_a_dropped_table_loses_its_parquet_file(tmp_path):
    source = make_source(tmp_path / "warehouse.duckdb")
    serving = tmp_path / "serving"
    publish_serving(source, serving, duckdb_config=CONFIG)
    with duckdb.connect(str(source)) as conn:
        conn.execute("DROP TABLE marts.events")
    report = publish_serving(source, serving, duckdb_config=CONFIG)
    assert report.removed_parquet == ("events.parquet",)
    assert sorted(p.name for p in (serving / "parquet").iterdir()) == ["prices.parquet"]


def test_bad_inputs_are_refused_before_anything_is_written(tmp_path):
    source = make_source(tmp_path / "warehouse.duckdb")
    with pytest.raises(PublishError, match="identifier"):
        publish_serving(source, tmp_path / "serving", schemas=('marts"; DROP TABLE x; --',))
    with pytest.raises(PublishError, match="does not exist"):
        publish_serving(tmp_path / "missing.duckdb", tmp_path / "serving")
    assert not (tmp_path / "serving").exists()


def test_parquet_names_must_not_collide_across_schemas():
    check_parquet_names([("marts", "a"), ("marts", "b")])
    with pytest.raises(PublishError, match="collide"):
        check_parquet_names([("marts", "a"), ("extra", "a")])


def test_the_sweep_removes_temporary_names_and_versions_never_made_current(tmp_path):
    """Run under the publish lock, so a temporary name is a dead publisher's whatever its pid."""
    serving = tmp_path / "serving"
    publish_serving(make_source(tmp_path / "warehouse.duckdb"), serving, duckdb_config=CONFIG)
    versions = serving / "versions"
    for name in [".warehouse.duckdb.111.tmp", ".warehouse.duckdb.111.tmp.wal", f".x.parquet.{2**22 + 1}.tmp"]:
        (serving / name).write_bytes(b"")
    (versions / ".000002.111.tmp" / "parquet").mkdir(parents=True)  # a version being built
    (versions / "000003").mkdir()  # built, renamed, never made current
    kept = ["warehouse.duckdb.abc.tmp", ".warehouse.duckdb.abc.tmp", "notes.txt"]  # not ours: left alone
    for name in kept:
        (serving / name).write_bytes(b"")

    swept = sweep_leftovers(serving)

    assert swept == [".warehouse.duckdb.111.tmp", ".warehouse.duckdb.111.tmp.wal", f".x.parquet.{2**22 + 1}.tmp",
                     "versions/.000002.111.tmp", "versions/000003"]
    assert sorted(p.name for p in versions.iterdir()) == ["000001"]
    assert all((serving / name).exists() for name in kept)


def test_publish_sweeps_what_a_killed_publish_left(tmp_path):
    source = make_source(tmp_path / "warehouse.duckdb")
    serving = tmp_path / "serving"
    (serving / "parquet").mkdir(parents=True)
    dead_pid = 2**22 + 1  # above Linux's pid_max default ceiling (4,194,304): never a live process
    (serving / f".warehouse.duckdb.{dead_pid}.tmp").write_bytes(b"half a file")
    (serving / "parquet" / f".prices.parquet.{dead_pid}.tmp").write_bytes(b"half a file")
    publish_serving(source, serving, duckdb_config=CONFIG)
    assert leftovers(serving) == []


def test_serving_path_of_a_tree(tmp_path):
    assert serving_duckdb_path(tmp_path / "demo") == tmp_path / "demo" / "serving" / "warehouse.duckdb"


def test_a_path_with_quotes_and_spaces_is_attached_and_exported(tmp_path):
    """ATTACH and COPY … TO take the paths as literals (DuckDB 1.5 has no parameter there): a quote in a folder's
    name must neither break nor change the statement."""
    folder = tmp_path / "it's a \"warehouse\"; DROP TABLE x"
    folder.mkdir()
    source = folder / "pipeline.duckdb"
    with duckdb.connect(str(source)) as conn:
        conn.execute("CREATE SCHEMA marts")
        conn.execute("CREATE TABLE marts.t AS SELECT 1 AS a")
    report = publish_serving(source, folder / "serving")
    assert report.rows == {"marts.t": 1}
    assert pq.read_table(folder / "serving" / "parquet" / "t.parquet").to_pylist() == [{"a": 1}]
