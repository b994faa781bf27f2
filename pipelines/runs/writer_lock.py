"""One writer per warehouse tree at a time, told in one line.

DuckDB lets one process hold its file read-write; a second `make backfill` beside a first one used to start, fail
step after step on "Could not set lock on file", then crash while summarising. The CLI now takes an advisory lock
(`flock`) on `<tree>/.writer.lock` for the whole run and refuses at once, naming the holder, when another run has it.
The kernel releases the lock when its process dies, however it dies: a killed run never leaves the warehouse locked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from pipelines.atomic_files import LockBusy, flock_exclusive

LOCK_NAME = ".writer.lock"


class WarehouseBusyError(RuntimeError):
    """The warehouse cannot be opened for writing now: another program holds it (or, as the subclass below, its
    file is in a storage format this DuckDB cannot read). Told in one line by the CLI."""


class WarehouseFormatError(WarehouseBusyError):
    pass


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    return f"pid {info.get('pid', '?')} ({info.get('what', '?')}, since {info.get('since', '?')})"


@contextlib.contextmanager
def writer_lock(tree_dir: Path, what: str) -> Iterator[None]:
    """Hold the tree's writer lock while the block runs; WarehouseBusyError (one line) when another run holds it."""
    tree_dir.mkdir(parents=True, exist_ok=True)
    path = tree_dir / LOCK_NAME
    try:
        fd = flock_exclusive(path, wait_s=0, create=True)
    except LockBusy:
        raise WarehouseBusyError(
            f"the warehouse {tree_dir} is being written by {_holder(path)}: wait for that run to end (or stop "
            f"it), then run again") from None
    try:
        since = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "what": what, "since": since}).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# "Trying to read a database file with version number 69, but we can only read versions between 64 and 68".
_NEWER_FORMAT = re.compile(r"database file with version number (?P<found>\d+), but we can only read")
_DUCKDB_HOLDER = re.compile(r"[Cc]onflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def ensure_duckdb_writable(duckdb_path: Path) -> None:
    """Open the pipeline's DuckDB file for writing once, before a run starts: when another program holds it (a BI
    tool or a notebook opened it read-write, or read-only while we need to write), WarehouseBusyError says so in
    one line, instead of every step of the run failing with the same DuckDB lock error."""
    import duckdb

    try:
        duckdb.connect(str(duckdb_path)).close()
    except duckdb.IOException as error:
        text = str(error)
        newer = _NEWER_FORMAT.search(text)
        if newer:
            raise WarehouseFormatError(
                f"the warehouse {duckdb_path} was written by a newer DuckDB (storage version number "
                f"{newer['found']}) than this project's {duckdb.__version__} reads: move it aside and rebuild it, "
                "`make run` for the demo, `BTCW_SOURCE_MODE=replay make backfill START=… END=…` for a live "
                "warehouse, whose landing archive holds every body (README › Upgrading from DuckDB 2.0)") from None
        found = _DUCKDB_HOLDER.search(text)
        if found is None and "could not set lock" not in text.lower():  # not "block", as in a corrupt file's error
            raise
        holder = f"{found['program']} (PID {found['pid']})" if found else "another program"
        raise WarehouseBusyError(
            f"the warehouse {duckdb_path} is open in {holder}: close it there (BI tools and notebooks should read the "
            "serving copy, <tree>/serving/warehouse.duckdb: README › Querying the warehouse), then run "
            "again") from None
