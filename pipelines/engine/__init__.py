"""Connections to the warehouse, whichever kind it is (Settings.warehouse, BTCW_WAREHOUSE).

    with engine.connect(settings) as conn:          # raw.…, staging.…, marts.… resolve in either kind
        conn.execute("SELECT … FROM marts.mart_market_daily")

duckdb: the file <tree>/warehouse.duckdb, opened as it always was. lake: an in-memory DuckDB with the tree's DuckLake
attached as `lake` and made the default catalog (USE lake), so the same unqualified SQL reads and writes the lake.
Everything that opens the warehouse goes through here; nothing else needs to know which kind it is."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pipelines.settings import Settings, WarehouseKind

# The write locks (write_lock): every raw table with its quarantine and the shared load log; the models dbt builds;
# the five gamma tables; the two volatility-surface tables. Lake maintenance takes all of them.
RAW_WRITES, DBT_WRITES, GAMMA_WRITES, VOL_WRITES = "raw", "dbt", "gamma", "vol"
ALL_WRITES = (RAW_WRITES, DBT_WRITES, GAMMA_WRITES, VOL_WRITES)

if TYPE_CHECKING:  # duckdb loads when a connection is made: the CLI imports this module before it prints anything
    import duckdb


class NoWarehouseYet(RuntimeError):
    """A reader opened a lake no writer has created yet (a file that does not exist is DuckDB's own error)."""


def is_lake(settings: Settings) -> bool:
    return settings.warehouse is WarehouseKind.LAKE


def lake_config(settings: Settings):
    from pipelines.lake.connect import LakeConfig  # the lake's modules load only when it is used

    return LakeConfig.for_tree(settings.source_mode.tree)


def describe(settings: Settings) -> str:
    """The warehouse in a message: its file, or where the lake is."""
    return lake_config(settings).describe() if is_lake(settings) else str(settings.duckdb_path)


def exists(settings: Settings) -> bool:
    """Whether there is a warehouse to read. A lake is made by its first attach; its tables may still be missing,
    as they are in a new file."""
    return True if is_lake(settings) else settings.duckdb_path.exists()


def attach_source(settings: Settings, conn: duckdb.DuckDBPyConnection, alias: str) -> None:
    """Attach the warehouse read-only to another connection under `alias` (the serving copy reads it so)."""
    if is_lake(settings):
        from pipelines.lake.connect import attach_lake

        attach_lake(conn, lake_config(settings), alias=alias, read_only=True)
    else:
        from pipelines.duckdb_tables import string_literal

        conn.execute(f"ATTACH {string_literal(settings.duckdb_path)} AS {alias} (READ_ONLY)")


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection to the warehouse, closed on leaving the block."""
    import duckdb

    if is_lake(settings):
        from pipelines.lake.connect import LAKE_ALIAS, attach_lake

        settings.temp_dir.mkdir(parents=True, exist_ok=True)  # DuckDB spills there; the lake has no local file
        conn = duckdb.connect(config=settings.duckdb_config())
        config = lake_config(settings)
        try:
            attach_lake(conn, config, alias=LAKE_ALIAS, read_only=read_only)
            conn.execute(f"USE {LAKE_ALIAS}")
        except duckdb.Error as error:
            conn.close()
            if read_only and "creating a new DuckLake is explicitly disabled" in str(error):
                raise NoWarehouseYet(f"{config.describe()} has no warehouse yet: nothing was written to it (run a "
                                     "backfill first)") from error
            raise
        except BaseException:
            conn.close()
            raise
    else:
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(str(settings.duckdb_path), read_only=read_only, config=settings.duckdb_config())
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def write_lock(settings: Settings, names: Iterable[str], holder: str) -> Iterator[None]:
    """Hold the write locks `names` (of ALL_WRITES: what a step replaces rows of) for the block. A file has
    one writer already (the tree's writer lock, pipelines/runs/writer_lock.py): nothing to take. A lake's writers
    may be anywhere: PostgreSQL advisory locks in its catalog database (pipelines/lake/locks.py)."""
    if not is_lake(settings):
        yield
        return
    from pipelines.lake.locks import write_locks

    with write_locks(lake_config(settings), names, holder):
        yield
