"""Publish the marts as a read-only copy for BI: a separate DuckDB file plus one Parquet file per table, as one
version that readers switch to at a single instant.

DuckDB allows one read-write process or many readers of a file, never both, so BI tools must not open the
pipeline's file. This copies the tables of the given schemas out of the pipeline's file (opened READ-ONLY, after
the writer has closed it) into a new version folder, and switches one symlink to it:

    <serving>/versions/000007/warehouse.duckdb        the DuckDB copy (plus serving.publication, see below)
    <serving>/versions/000007/parquet/<table>.parquet the same tables, one Parquet file each
    <serving>/versions/000007/manifest.json           version, source run, rows, size and sha256 of every file
    <serving>/current -> versions/000007               the commit point: replaced by one os.replace
    <serving>/warehouse.duckdb -> current/warehouse.duckdb   the names BI tools open, fixed links that resolve
    <serving>/parquet -> current/parquet                     through `current`, so the DuckDB copy, the Parquet
    <serving>/current.json -> current/manifest.json          set and the manifest always name ONE version

Order of a publish (the rename of `current` is the commit point), under a lock on the serving folder:
  1. sweep what a killed publish left: `.<name>.<pid>.tmp` folders and files, versions never switched to;
  2. build `versions/.<id>.<pid>.tmp/`: ATTACH the source READ_ONLY, CREATE TABLE … AS SELECT per table, export
     each table to Parquet (the same snapshot), record the version in the copy, CHECKPOINT, write the manifest;
  3. flush it and rename it to `versions/<id>` (not yet visible: nothing points at it);
  4. point `current` at it: a new symlink renamed over the old one;
  5. delete the versions older than the last `keep_versions`.
A kill anywhere before step 4 leaves the previous version whole behind every name BI opens; a kill after it
leaves the new one. A reader that has a file open keeps reading it (POSIX keeps an unlinked file's inode), and a
reader that resolved `current` once (current.json says which version) can read every file of that version for
the next `keep_versions - 1` publishes, e.g. DuckDB's read_parquet, which re-opens its files during a query.

The copy records its version: `serving.publication` (one row: version, version_id, published_at in UTC,
source_run, source_db, tables, rows) and `serving.published_tables` (per table: rows and the Parquet file's
size and sha256). `publication_consistent` checks them against the manifest and the files (the crash tests and
the kill harness call it).

A serving folder from before versions (a plain warehouse.duckdb and parquet/) is adopted on the next publish:
its files are hard-linked into a version of their own, `current` points at it, and each name is then swapped
for its link, so a reader sees the same bytes throughout. The `parquet` folder is swapped for its link with
Linux's renameat2(RENAME_EXCHANGE); where that is missing it is moved aside and the link created at once (the
name is then absent for microseconds, once per warehouse).

Decisions:
  * Only base tables are copied. Views (none in marts today) are skipped and reported: their SQL refers to
    schemas (staging, raw) the serving copy does not have.
  * The tables are whatever the source's catalog holds at publish time: a mart not built yet (the gamma tables
    before the numpy asset first ran) is simply not in this version, nor is its Parquet file, so the Parquet
    folder always mirrors the DuckDB copy. A schema missing from the source is skipped and reported (e.g.
    before the first dbt run).
  * A WAL left beside the source by a killed writer is read (DuckDB replays it in memory on a read-only
    attach, tried) and left in place for the next writer.
  * No table at all in the given schemas raises NothingToPublish and keeps the previous copy: an empty
    publication over a good one would blank every dashboard because of, say, a wrong source path.
    `allow_empty=True` publishes a valid file holding just the (empty) schemas.
  * Rows are copied ORDER BY ALL, so the copy and the Parquet files depend on the tables' contents only, not on
    the physical order incremental delete+insert left in the source (a backfill in another order gives the
    same Parquet bytes). Constraints (NOT NULL) are not copied: the readers never write.
  * Parquet: zstd, DuckDB's writer; its footer holds `created_by DuckDB version …` and no timestamp, so the
    same tables give byte-identical files (tested). The DuckDB copy is not byte-identical between publishes:
    66 bytes of its first block differ (a random database identifier and the header checksums), and it holds
    its version and publication time; so does the manifest.
  * The copy is written in DuckDB 1.0's storage format (SERVING_STORAGE_VERSION), which every DuckDB since 1.0
    reads, whatever the pipeline's DuckDB writes by default (tests/test_bi_clients.py).
  * Links are relative, so the tree can be moved or mounted elsewhere; copy it with its links (`cp -a`). A copy
    that followed them (plain dirs and files) is adopted again like a folder from before versions.
  * One publisher at a time: an exclusive flock on the serving folder (released by the kernel if the publisher
    is killed); a second publisher waits for it, up to LOCK_WAIT_S.

Measured on the demo warehouse (17 marts, 98k rows, 6.0 MB copy, 2 threads): ATTACH + CREATE TABLE AS 0.25 s,
with ORDER BY ALL 0.30 s, the Arrow round trip (read-only connection → to_arrow_table → register → CREATE TABLE
AS) 0.32 s and more code; the whole publish with the Parquet export and fsyncs 0.27 s on an idle machine,
0.45 s with other jobs running. Versions (sha256 of every file, manifest, links) cost nothing measurable: 17
tables of 6k rows published in 0.34–0.63 s, 0.48–0.60 s before them, on 2 cores shared with other jobs;
`publication_consistent` reads and hashes every file, 0.5–0.8 s there.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.atomic_files import LockBusy, flock_exclusive, fsync_dir, fsync_file
from pipelines.duckdb_tables import string_literal

SERVING_FILE = "warehouse.duckdb"
PARQUET_DIR = "parquet"
VERSIONS_DIR = "versions"
CURRENT = "current"  # the symlink whose rename is the commit point
CURRENT_MANIFEST = "current.json"
MANIFEST = "manifest.json"
PUBLICATION_SCHEMA = "serving"  # in the DuckDB copy: publication, published_tables
KEEP_VERSIONS = 3  # the current one and two before it, for readers that resolved `current` a while ago
LOCK_WAIT_S = 120.0
# The DuckDB storage format of the copy, which every DuckDB since 1.0 reads, set explicitly: a DuckDB's default
# follows its release (2.0 writes its own, which the clients BI users have refuse: "version number 69 ... can only
# read 64/68"). The clients: the CLI from PyPI, Node's @duckdb/node-api 1.5, Python packages 1.1-2.0 and the drivers
# that bundle them (tests/test_bi_clients.py opens the copy with each). The Parquet files need nothing.
SERVING_STORAGE_VERSION = "v1.0.0"
# The names BI opens, each a fixed relative link through `current`.
BI_LINKS = {SERVING_FILE: f"{CURRENT}/{SERVING_FILE}", PARQUET_DIR: f"{CURRENT}/{PARQUET_DIR}",
            CURRENT_MANIFEST: f"{CURRENT}/{MANIFEST}"}
_SOURCE_ALIAS = "publish_source"  # the ATTACH alias of the pipeline's file inside the new file's connection

# Catalog names we splice into SQL must be plain identifiers (they are also quoted, belt and braces).
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Temporary names (atomic_files.temp_path_beside and the version being built): `.<name>.<pid>.tmp`.
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp(?:\.wal)?$")
_VERSION_NAME = re.compile(r"^\d{6,}$")


class PublishError(RuntimeError):
    pass


class NothingToPublish(PublishError):
    pass


@dataclass(frozen=True)
class PublishedTable:
    schema: str
    table: str
    rows: int
    parquet_path: Path
    parquet_bytes: int

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass(frozen=True)
class PublishReport:
    duckdb_path: Path  # the name BI opens (<serving>/warehouse.duckdb)
    duckdb_bytes: int
    tables: tuple[PublishedTable, ...]
    skipped: tuple[str, ...] = ()  # "<schema>: not in the source", "<schema>.<view>: view"
    removed_parquet: tuple[str, ...] = ()  # Parquet files of the previous version's tables no longer published
    duration_s: float = 0.0
    version: int = 0
    version_dir: Path | None = None  # <serving>/versions/<id>, the files that do not change
    swept: tuple[str, ...] = ()  # what killed publishes had left, removed first

    @property
    def rows(self) -> dict[str, int]:
        return {t.qualified: t.rows for t in self.tables}

    @property
    def parquet_bytes(self) -> int:
        return sum(t.parquet_bytes for t in self.tables)

    def metadata(self) -> dict[str, object]:
        """Plain values for Dagster's materialisation metadata."""
        return {
            "serving_duckdb": str(self.duckdb_path),
            "version": self.version,
            "version_dir": str(self.version_dir),
            "duckdb_bytes": self.duckdb_bytes,
            "parquet_bytes": self.parquet_bytes,
            "tables": len(self.tables),
            "rows": sum(t.rows for t in self.tables),
            "rows_per_table": self.rows,
            "skipped": list(self.skipped),
            "swept": list(self.swept),
            "duration_s": round(self.duration_s, 3),
        }


def serving_dir(tree_dir: Path) -> Path:
    """Where a tree's publication lives: `<tree>/serving` (beside the pipeline's warehouse.duckdb)."""
    return Path(tree_dir) / "serving"


def serving_duckdb_path(tree_dir: Path) -> Path:
    return serving_dir(tree_dir) / SERVING_FILE


def version_name(version: int) -> str:
    return f"{version:06d}"


def validate_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise PublishError(f"{name!r} is not a plain SQL identifier")
    return name


def quote(*names: str) -> str:
    return ".".join(f'"{validate_identifier(n)}"' for n in names)


@dataclass(frozen=True)
class SourceCatalog:
    tables: tuple[tuple[str, str], ...]  # (schema, table), sorted
    skipped: tuple[str, ...]
    schemas: tuple[str, ...] = field(default=())  # the requested schemas present in the source


def read_catalog(conn: duckdb.DuckDBPyConnection, catalog: str, schemas: Sequence[str]) -> SourceCatalog:
    """The base tables of `schemas` in the attached database `catalog`; views and missing schemas as skipped."""
    present = {
        row[0]
        for row in conn.execute(
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ?", [catalog]
        ).fetchall()
    }
    tables: list[tuple[str, str]] = []
    skipped: list[str] = []
    for schema in schemas:
        if schema not in present:
            skipped.append(f"{schema}: not in the source")
            continue
        for (name,) in conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? ORDER BY table_name",
            [catalog, schema],
        ).fetchall():
            tables.append((schema, name))
        for (name,) in conn.execute(
            "SELECT view_name FROM duckdb_views() WHERE database_name = ? AND schema_name = ? AND NOT internal "
            "ORDER BY view_name",
            [catalog, schema],
        ).fetchall():
            skipped.append(f"{schema}.{name}: view, not copied")
    return SourceCatalog(tuple(tables), tuple(skipped), tuple(s for s in schemas if s in present))


def parquet_name(table: str) -> str:
    return f"{table}.parquet"


def check_parquet_names(tables: Sequence[tuple[str, str]]) -> None:
    """Parquet files are named by table only (BI tools see `fct_x.parquet`): two schemas with the same table
    name would overwrite each other, so refuse that publication instead."""
    seen: dict[str, str] = {}
    for schema, table in tables:
        if table in seen:
            raise PublishError(f"table {table!r} is in schemas {seen[table]!r} and {schema!r}: Parquet names collide")
        seen[table] = schema


def file_digest(path: Path) -> dict[str, object]:
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return {"bytes": path.stat().st_size, "sha256": digest}


# --- the version folder -------------------------------------------------------------------------------------


def current_version(serving: Path) -> int | None:
    """The version `<serving>/current` points at, or None (nothing published yet, or a layout from before)."""
    link = serving / CURRENT
    if not link.is_symlink():
        return None
    target = Path(os.readlink(link))
    if target.parent != Path(VERSIONS_DIR) or not _VERSION_NAME.match(target.name) or not link.is_dir():
        return None
    return int(target.name)


def _version_numbers(versions: Path) -> list[int]:
    if not versions.is_dir():
        return []
    return sorted(int(p.name) for p in versions.iterdir() if _VERSION_NAME.match(p.name) and p.is_dir())


def _temp_beside(path: Path) -> Path:
    return path.parent / f".{path.name}.{os.getpid()}.tmp"


def _remove(path: Path) -> None:
    """Delete a file, link or folder; a folder is first renamed to a temporary name, so that `versions/<id>`
    is whole or absent even if a kill stops the deletion half-way (the next sweep finishes it)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return
    if not _TEMP_NAME.match(path.name):
        doomed = _temp_beside(path)
        os.rename(path, doomed)
        path = doomed
    shutil.rmtree(path)


def sweep_leftovers(serving: Path) -> list[str]:
    """Remove what killed publishes left (call with the publish lock held, so no other publisher is at work):
    temporary files and folders (`.<name>.<pid>.tmp`, the version being built, a version being deleted, the
    old layout's temporary files) and versions that were built but never made current."""
    removed = []
    folders = [serving, serving / VERSIONS_DIR]
    if (serving / PARQUET_DIR).is_dir() and not (serving / PARQUET_DIR).is_symlink():
        folders.append(serving / PARQUET_DIR)  # the layout from before versions
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if _TEMP_NAME.match(path.name):
                _remove(path)
                removed.append(str(path.relative_to(serving)))
    current = current_version(serving)
    for number in _version_numbers(serving / VERSIONS_DIR):
        if current is None or number > current:
            _remove(serving / VERSIONS_DIR / version_name(number))
            removed.append(f"{VERSIONS_DIR}/{version_name(number)}")
    if removed:
        for folder in folders:
            if folder.is_dir():
                fsync_dir(folder)
    return removed


def _build_copy(
    staging: Path,
    source_db: Path | AttachedSource,
    schemas: Sequence[str],
    duckdb_config: Mapping[str, str],
    allow_empty: bool,
    record: Mapping[str, object],
) -> tuple[SourceCatalog, dict[tuple[str, str], int], dict[str, dict[str, object]]]:
    """Fill `staging/warehouse.duckdb` from the source (attached read-only; one connection, so the catalog and
    the rows are read from the same state), export each copied table to `staging/parquet/`, and record the
    version and the Parquet files in the copy's `serving` schema."""
    rows: dict[tuple[str, str], int] = {}
    parquet_files: dict[str, dict[str, object]] = {}
    (staging / PARQUET_DIR).mkdir()
    conn = duckdb.connect(str(staging / SERVING_FILE),
                          config={**duckdb_config, "storage_compatibility_version": SERVING_STORAGE_VERSION})
    try:
        if isinstance(source_db, AttachedSource):
            source_db.attach(conn, _SOURCE_ALIAS)
        else:
            conn.execute(f"ATTACH {string_literal(source_db)} AS {_SOURCE_ALIAS} (READ_ONLY)")
        catalog = read_catalog(conn, _SOURCE_ALIAS, schemas)
        if not catalog.tables and not allow_empty:
            raise NothingToPublish(
                f"no table in schema(s) {', '.join(schemas)} of {source_db}; the previous publication stays"
            )
        check_parquet_names(catalog.tables)
        for schema in catalog.schemas:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        for schema, table in catalog.tables:
            copy_table(conn, schema, table)
            ((rows[(schema, table)],),) = conn.execute(f"SELECT count(*) FROM {quote(schema, table)}").fetchall()
        conn.execute(f"DETACH {_SOURCE_ALIAS}")
        for schema, table in catalog.tables:
            path = staging / PARQUET_DIR / parquet_name(table)
            export_parquet(conn, schema, table, path)
            parquet_files[table] = file_digest(path)
        record_publication(conn, record, [
            (schema, table, rows[(schema, table)], f"{PARQUET_DIR}/{parquet_name(table)}",
             parquet_files[table]["bytes"], parquet_files[table]["sha256"])
            for schema, table in catalog.tables
        ])
        conn.execute("CHECKPOINT")  # everything in the main file, no WAL beside it
    finally:
        conn.close()
    return catalog, rows, parquet_files


def copy_table(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> None:
    conn.execute(
        f"CREATE TABLE {quote(schema, table)} AS "
        f"SELECT * FROM {_SOURCE_ALIAS}.{quote(schema, table)} ORDER BY ALL"
    )


def export_parquet(conn: duckdb.DuckDBPyConnection, schema: str, table: str, path: Path) -> None:
    # The copy's rows are already in ORDER BY ALL order and DuckDB keeps insertion order on a plain scan.
    conn.execute(
        f"COPY (SELECT * FROM {quote(schema, table)}) TO {string_literal(path)} (FORMAT parquet, COMPRESSION zstd)"
    )


def record_publication(conn: duckdb.DuckDBPyConnection, record: Mapping[str, object],
                       tables: Sequence[tuple[str, str, int, str, object, object]]) -> None:
    """The copy says which version it is and which Parquet bytes go with it, so the two can be checked."""
    schema = quote(PUBLICATION_SCHEMA)
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"CREATE TABLE {schema}.publication (version INTEGER, version_id VARCHAR, published_at TIMESTAMP, "
                 "source_run VARCHAR, source_db VARCHAR, tables INTEGER, rows BIGINT)")
    conn.execute(f"INSERT INTO {schema}.publication VALUES (?, ?, ?, ?, ?, ?, ?)", [
        record["version"], record["version_id"], record["published_at_utc"], record["source_run"],
        record["source_db"], len(tables), sum(t[2] for t in tables)])
    conn.execute(f"CREATE TABLE {schema}.published_tables (schema_name VARCHAR, table_name VARCHAR, rows BIGINT, "
                 "parquet_file VARCHAR, parquet_bytes BIGINT, parquet_sha256 VARCHAR)")
    if tables:
        conn.executemany(f"INSERT INTO {schema}.published_tables VALUES (?, ?, ?, ?, ?, ?)", [list(t) for t in tables])


def write_manifest(staging: Path, manifest: Mapping[str, object]) -> None:
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def commit_version(staging: Path, final: Path) -> None:
    """Flush every file of the finished version, then give it its final name (nothing points at it yet)."""
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            fsync_file(path)
    fsync_dir(staging / PARQUET_DIR)
    fsync_dir(staging)
    os.rename(staging, final)  # fails rather than merge if `final` exists
    fsync_dir(final.parent)


def point_link(link: Path, target: str) -> None:
    """Make `link` a symlink to `target` in one rename: a reader resolves the old target or the new one. A real
    folder in the way (the layout from before versions, a copy that followed the links) is moved aside first."""
    if link.is_symlink() and os.readlink(link) == target:
        return
    temp = _temp_beside(link)
    temp.unlink(missing_ok=True)
    os.symlink(target, temp)
    if link.is_dir() and not link.is_symlink():
        # rename(2) cannot put a link over a folder: swap the two names in one call where the kernel can
        # (Linux renameat2), else move the folder aside first (the name is then absent for microseconds).
        if not _exchange(temp, link):
            aside = link.parent / f".{link.name}-old.{os.getpid()}.tmp"
            os.rename(link, aside)
            os.replace(temp, link)
            temp = aside
        fsync_dir(link.parent)
        shutil.rmtree(temp)  # the folder, now under the temporary name
    else:
        os.replace(temp, link)
    fsync_dir(link.parent)


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two names atomically (renameat2 RENAME_EXCHANGE); False where the C library, the kernel or the file
    system does not offer it."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), str(b))


def switch_current(serving: Path, version: int) -> None:
    """The commit point: `current` names the new version for every reader that opens a name from now on."""
    point_link(serving / CURRENT, f"{VERSIONS_DIR}/{version_name(version)}")


def ensure_bi_links(serving: Path) -> None:
    """The names BI opens resolve through `current` (a no-op once they do)."""
    for name, target in BI_LINKS.items():
        point_link(serving / name, target)


def adopt_legacy_publication(serving: Path, version: int) -> bool:
    """A serving folder from before versions (a plain warehouse.duckdb, parquet/) becomes version `version`, by
    hard links, so each name keeps its bytes when it is swapped for its link. False if there is nothing to
    adopt."""
    legacy_db = serving / SERVING_FILE
    if legacy_db.is_symlink() or not legacy_db.is_file():
        return False
    staging = serving / VERSIONS_DIR / f".{version_name(version)}.{os.getpid()}.tmp"
    (staging / PARQUET_DIR).mkdir(parents=True)
    try:
        os.link(legacy_db, staging / SERVING_FILE)
        tables = []
        legacy_parquet = serving / PARQUET_DIR
        if legacy_parquet.is_dir() and not legacy_parquet.is_symlink():
            for path in sorted(legacy_parquet.glob("*.parquet")):
                os.link(path, staging / PARQUET_DIR / path.name)
                tables.append({"table": path.name.removesuffix(".parquet"), "rows": _parquet_rows(path),
                               "parquet": f"{PARQUET_DIR}/{path.name}", **file_digest(path)})
        write_manifest(staging, {
            "version": version, "version_id": version_name(version), "legacy": True,
            "note": "adopted from a publication made before versions; its DuckDB copy records no version",
            "duckdb": {"file": SERVING_FILE, **file_digest(legacy_db)}, "tables": tables,
        })
        commit_version(staging, serving / VERSIONS_DIR / version_name(version))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    switch_current(serving, version)
    ensure_bi_links(serving)
    return True


def prune_versions(serving: Path, keep: int) -> list[str]:
    """Delete all but the last `keep` versions up to the current one. Readers with a file of a deleted version
    open keep reading it; only a reader that opens a file by a deleted version's path would miss it."""
    current = current_version(serving)
    if current is None:
        return []
    older = [n for n in _version_numbers(serving / VERSIONS_DIR) if n <= current]
    doomed = older[:-keep] if len(older) > keep else []
    for number in doomed:
        _remove(serving / VERSIONS_DIR / version_name(number))
    if doomed:
        fsync_dir(serving / VERSIONS_DIR)
    return [version_name(n) for n in doomed]


@contextlib.contextmanager
def publish_lock(serving: Path, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """One publisher at a time per serving folder: an exclusive flock on the folder itself (atomic_files)."""
    try:
        fd = flock_exclusive(serving, wait_s)
    except LockBusy:
        raise PublishError(
            f"another process has been publishing into {serving} for over {wait_s:.0f} s (it holds the folder's "
            "lock); wait for it to finish or stop it, then publish again") from None
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


@dataclass(frozen=True)
class AttachedSource:
    """A source that is not a DuckDB file (the lake, pipelines/engine): `attach(conn, alias)` attaches it read-only;
    `name` is what the copy and the messages record."""

    name: str
    attach: Callable[[duckdb.DuckDBPyConnection, str], None]

    def __str__(self) -> str:
        return self.name


def publish_serving(
    source_db: Path | AttachedSource,
    serving_dir: Path,
    schemas: Sequence[str] = ("marts",),
    duckdb_config: Mapping[str, str] | None = None,
    *,
    allow_empty: bool = False,
    source_run: str | None = None,
    published_at: dt.datetime | None = None,
    keep_versions: int = KEEP_VERSIONS,
) -> PublishReport:
    """Copy every base table of `schemas` from `source_db` (opened read-only; its writer must be closed) into a
    new version `serving_dir/versions/<id>/` and make it current: `serving_dir/warehouse.duckdb` and
    `serving_dir/parquet/<table>.parquet` then name its files. `source_run` (the Dagster run) and
    `published_at` (default: now, UTC) are recorded in the copy and the manifest."""
    started = time.perf_counter()
    source_db = source_db if isinstance(source_db, AttachedSource) else Path(source_db)
    serving_dir = Path(serving_dir)
    for schema in schemas:
        validate_identifier(schema)
        if schema == PUBLICATION_SCHEMA:
            raise PublishError(f"schema {schema!r} is the copy's own record of its version; it cannot be published")
    if keep_versions < 1:
        raise PublishError(f"keep_versions={keep_versions}: at least the current version must be kept")
    if isinstance(source_db, Path) and not source_db.is_file():
        raise PublishError(f"source DuckDB file {source_db} does not exist")
    published_at = published_at or dt.datetime.now(dt.UTC)
    if published_at.tzinfo is None:
        raise PublishError(f"published_at={published_at.isoformat()} has no time zone; pass an aware datetime")
    serving_dir.mkdir(parents=True, exist_ok=True)
    versions = serving_dir / VERSIONS_DIR

    with publish_lock(serving_dir):
        # Numbers only grow, even past versions a crash left and the sweep removes.
        number = max(_version_numbers(versions), default=0) + 1
        swept = sweep_leftovers(serving_dir)
        versions.mkdir(exist_ok=True)
        if current_version(serving_dir) is None and adopt_legacy_publication(serving_dir, number):
            number += 1
        previous = read_manifest(versions / version_name(current_version(serving_dir) or 0))
        staging = versions / f".{version_name(number)}.{os.getpid()}.tmp"
        record = {
            "version": number, "version_id": version_name(number),
            "published_at": published_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "published_at_utc": published_at.astimezone(dt.UTC).replace(tzinfo=None),
            "source_run": source_run, "source_db": str(source_db),
        }
        try:
            staging.mkdir()
            catalog, rows, parquet_files = _build_copy(staging, source_db, schemas, duckdb_config or {},
                                                       allow_empty, record)
            if (staging / f"{SERVING_FILE}.wal").exists():
                raise PublishError(f"{staging / SERVING_FILE}.wal left after CHECKPOINT and close: the copy is not "
                                   "self-contained")
            write_manifest(staging, {
                **{k: v for k, v in record.items() if k != "published_at_utc"},
                "duckdb": {"file": SERVING_FILE, **file_digest(staging / SERVING_FILE)},
                "tables": [{"schema": schema, "table": table, "rows": rows[(schema, table)],
                            "parquet": f"{PARQUET_DIR}/{parquet_name(table)}", **parquet_files[table]}
                           for schema, table in catalog.tables],
                "skipped": list(catalog.skipped),
            })
            commit_version(staging, versions / version_name(number))
            switch_current(serving_dir, number)
        except BaseException:
            # A failure, not a kill (a kill leaves this to the next publish's sweep): the previous version stays.
            shutil.rmtree(staging, ignore_errors=True)
            if current_version(serving_dir) != number:
                shutil.rmtree(versions / version_name(number), ignore_errors=True)
            raise
        ensure_bi_links(serving_dir)
        prune_versions(serving_dir, keep_versions)

    published = {parquet_name(table) for _, table in catalog.tables}
    before = {Path(t["parquet"]).name for t in (previous or {}).get("tables", [])}
    version_dir = versions / version_name(number)
    tables = tuple(
        PublishedTable(
            schema=schema,
            table=table,
            rows=rows[(schema, table)],
            parquet_path=serving_dir / PARQUET_DIR / parquet_name(table),
            parquet_bytes=int(parquet_files[table]["bytes"]),
        )
        for schema, table in catalog.tables
    )
    return PublishReport(
        duckdb_path=serving_dir / SERVING_FILE,
        duckdb_bytes=(version_dir / SERVING_FILE).stat().st_size,
        tables=tables,
        skipped=catalog.skipped,
        removed_parquet=tuple(sorted(before - published)),
        duration_s=time.perf_counter() - started,
        version=number,
        version_dir=version_dir,
        swept=tuple(swept),
    )


# --- checking a publication ---------------------------------------------------------------------------------


def read_manifest(version_dir: Path) -> dict | None:
    try:
        return json.loads((version_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _parquet_rows(path: Path) -> int | None:
    """The row count in a Parquet file's footer; None if it has no readable footer."""
    try:
        with duckdb.connect() as conn:
            return conn.execute("SELECT num_rows FROM parquet_file_metadata(?)", [str(path)]).fetchone()[0]
    except duckdb.Error:
        return None


def publication_consistent(tree_dir: Path) -> list[str]:
    """Whether what BI opens in `<tree>/serving` is ONE version: [] if the DuckDB copy, the Parquet set and the
    manifest agree (or nothing is published yet), else one line per disagreement."""
    serving = serving_dir(tree_dir)
    if not serving.exists():
        return []
    version = current_version(serving)
    if version is None:
        if any((serving / name).exists() for name in BI_LINKS):
            return [f"{serving}: no `{CURRENT}` link to a version (a layout from before versions, or a copy that "
                    "followed the links): nothing records which version the files are; the next publish adopts them"]
        return []
    version_dir = serving / VERSIONS_DIR / version_name(version)
    label = f"{serving}: version {version_name(version)}"
    problems = []
    for name, target in BI_LINKS.items():
        link = serving / name
        if not (link.is_symlink() and os.readlink(link) == target):
            problems.append(f"{label}: {name} is not the link {name} -> {target}, so it may not be this version")
    manifest = read_manifest(version_dir)
    if manifest is None:
        return [*problems, f"{label}: {MANIFEST} missing or unreadable"]
    if manifest.get("version") != version:
        problems.append(f"{label}: {MANIFEST} says version {manifest.get('version')}")
    if manifest.get("legacy"):
        problems.append(f"{label}: adopted from a publication made before versions; its DuckDB copy records no "
                        "version, so its agreement with the Parquet set cannot be checked (the next publish "
                        "replaces it)")
        return problems

    duckdb_file = version_dir / SERVING_FILE
    if file_digest(duckdb_file) != {k: manifest["duckdb"][k] for k in ("bytes", "sha256")}:
        problems.append(f"{label}: {SERVING_FILE} differs from the size/sha256 in {MANIFEST}")
    # The resolved path, not <serving>/warehouse.duckdb: DuckDB shares an instance per path within a process, and
    # a caller holding an older version open under that name would answer for it.
    try:
        with duckdb.connect(str(duckdb_file.resolve()), read_only=True) as conn:
            recorded = conn.execute(
                f"SELECT version FROM {quote(PUBLICATION_SCHEMA)}.publication").fetchall()
            recorded_tables = {
                row[1]: row for row in conn.execute(
                    "SELECT schema_name, table_name, rows, parquet_file, parquet_bytes, parquet_sha256 "
                    f"FROM {quote(PUBLICATION_SCHEMA)}.published_tables").fetchall()}
            copied = {}
            for schema, table in conn.execute(
                    "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name <> ? ORDER BY ALL",
                    [PUBLICATION_SCHEMA]).fetchall():
                copied[table] = (schema, conn.execute(f"SELECT count(*) FROM {quote(schema, table)}").fetchone()[0])
    except duckdb.Error as error:
        return [*problems, f"{label}: the DuckDB copy cannot be read: {str(error).splitlines()[0]}"]
    if recorded != [(version,)]:
        problems.append(f"{label}: the DuckDB copy's {PUBLICATION_SCHEMA}.publication says {recorded}")

    listed = {t["table"]: t for t in manifest.get("tables", [])}
    for table in sorted(set(listed) | set(copied) | set(recorded_tables)):
        entry = listed.get(table)
        if entry is None:
            problems.append(f"{label}: table {table} is in the DuckDB copy but not in {MANIFEST}")
            continue
        if table not in copied:
            problems.append(f"{label}: table {table} is in {MANIFEST} but not in the DuckDB copy")
        elif copied[table] != (entry["schema"], entry["rows"]):
            problems.append(f"{label}: {table} has {copied[table][1]} rows in the DuckDB copy, {entry['rows']} in "
                            f"{MANIFEST}")
        expected = (entry["schema"], table, entry["rows"], entry["parquet"], entry["bytes"], entry["sha256"])
        if recorded_tables.get(table) != expected:
            problems.append(f"{label}: the DuckDB copy records {table} as {recorded_tables.get(table)}, "
                            f"{MANIFEST} as {expected}")

    # The Parquet set as BI lists it (through the links), against the manifest.
    parquet = serving / PARQUET_DIR
    present = {p.name for p in parquet.glob("*.parquet")} if parquet.is_dir() else set()
    wanted = {Path(t["parquet"]).name: t for t in listed.values()}
    for name in sorted(present - set(wanted)):
        problems.append(f"{label}: {PARQUET_DIR}/{name} is not in {MANIFEST}")
    for name, entry in sorted(wanted.items()):
        path = parquet / name
        if name not in present:
            problems.append(f"{label}: {PARQUET_DIR}/{name} is missing")
        elif file_digest(path) != {"bytes": entry["bytes"], "sha256": entry["sha256"]}:
            problems.append(f"{label}: {PARQUET_DIR}/{name} differs from the size/sha256 in {MANIFEST}")
        elif _parquet_rows(path) != entry["rows"]:
            problems.append(f"{label}: {PARQUET_DIR}/{name} has {_parquet_rows(path)} rows, {entry['rows']} in "
                            f"{MANIFEST}")
    return problems
