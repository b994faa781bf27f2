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
from collections.abc import Iterator
from pathlib import Path

from pipelines.atomic_files import LockBusy, flock_exclusive

LOCK_NAME = ".writer.lock"


class WarehouseBusyError(RuntimeError):
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
