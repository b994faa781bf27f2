"""Lake maintenance: what a DuckLake needs now and then so that it stays fast and its storage does not only grow.

Every write of the pipeline (a window's delete+insert) adds Parquet files, delete files and a snapshot; nothing is
ever removed by a write. `maintain` (the `lake_maintenance` job, weekly in lake mode; `make lake-maintain`):

1. rewrites the files with half or more of their rows deleted (DELETE_THRESHOLD), and merges adjacent small files of
   each table into larger ones (ducklake_rewrite_data_files, ducklake_merge_adjacent_files);
2. expires the snapshots older than `keep` (time travel reaches back that far, no further);
3. deletes the files no remaining snapshot needs (ducklake_cleanup_old_files), and the files in the data path the
   catalog never recorded, older than `orphan_age` (a writer killed after writing its files but before its commit
   leaves such files: ducklake_delete_orphaned_files).

It holds every write lock of the lake while it runs (pipelines/lake/locks.py): a merge rewrites files a writer's
delete would conflict with. Readers are not blocked: they read the snapshot they started on."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import duckdb

# A file whose rows are deleted at least this much is rewritten with its live rows. DuckLake's default (0.95) never
# rewrites the nightly's files: each night's 3-day window deletes 2 of the 3 days of the previous night's file.
DELETE_THRESHOLD = 0.5
# Time travel kept by default: a week of snapshots (a 3-day demo run writes about 90).
DEFAULT_KEEP = dt.timedelta(days=7)
# A file the catalog does not know is deleted only past this age: younger, it may be an in-flight writer's.
DEFAULT_ORPHAN_AGE = dt.timedelta(hours=1)


@dataclass(frozen=True)
class LakeFootprint:
    snapshots: int
    data_files: int
    delete_files: int
    bytes: int

    def text(self) -> str:
        return (f"{self.snapshots:,} snapshots, {self.data_files:,} data files and {self.delete_files:,} delete "
                f"files, {self.bytes / 2**20:,.1f} MiB")


@dataclass(frozen=True)
class MaintenanceReport:
    before: LakeFootprint
    after: LakeFootprint
    seconds: float
    old_files_deleted: int  # files no kept snapshot needs
    orphans_deleted: int  # files the catalog never recorded

    def line(self) -> str:
        return (f"lake maintenance in {self.seconds:.1f} s: {self.before.text()} → {self.after.text()}; deleted "
                f"{self.old_files_deleted:,} replaced and {self.orphans_deleted:,} orphaned file(s)")


def footprint(conn: duckdb.DuckDBPyConnection, alias: str) -> LakeFootprint:
    (snapshots,) = conn.execute("SELECT count(*) FROM ducklake_snapshots(?)", [alias]).fetchone()
    files, deletes, size = conn.execute(
        "SELECT coalesce(sum(file_count), 0), coalesce(sum(delete_file_count), 0), "
        "coalesce(sum(file_size_bytes + delete_file_size_bytes), 0) FROM ducklake_table_info(?)", [alias]).fetchone()
    return LakeFootprint(snapshots, int(files), int(deletes), int(size))


def maintain(conn: duckdb.DuckDBPyConnection, alias: str, keep: dt.timedelta = DEFAULT_KEEP,
             orphan_age: dt.timedelta = DEFAULT_ORPHAN_AGE, now: dt.datetime | None = None) -> MaintenanceReport:
    """Merge, expire, clean up (the module's steps) on the lake attached as `alias`, writable."""
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    before = footprint(conn, alias)
    conn.execute("CALL ducklake_rewrite_data_files(?, delete_threshold => ?)", [alias, DELETE_THRESHOLD])
    conn.execute("CALL ducklake_merge_adjacent_files(?)", [alias])
    conn.execute("CALL ducklake_expire_snapshots(?, older_than => ?)", [alias, now - keep])
    old = conn.execute("CALL ducklake_cleanup_old_files(?, cleanup_all => true)", [alias]).fetchall()
    orphans = conn.execute("CALL ducklake_delete_orphaned_files(?, older_than => ?)", [alias, now - orphan_age]
                           ).fetchall()
    return MaintenanceReport(before, footprint(conn, alias), time.perf_counter() - started, len(old), len(orphans))


def maintain_warehouse(settings, keep: dt.timedelta = DEFAULT_KEEP) -> MaintenanceReport:
    """`maintain` on the lake of `settings` (BTCW_WAREHOUSE=lake), every write lock held."""
    from pipelines import engine  # the engine opens the lake; this module only says what to do with it
    from pipelines.lake.connect import LAKE_ALIAS, LakeConfigError

    if not engine.is_lake(settings):
        raise LakeConfigError("lake maintenance needs BTCW_WAREHOUSE=lake (a DuckDB file needs none)")
    with engine.write_lock(settings, engine.ALL_WRITES, "lake maintenance"), engine.connect(settings) as conn:
        return maintain(conn, LAKE_ALIAS, keep=keep)
