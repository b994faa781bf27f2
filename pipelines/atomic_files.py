"""Write a file aside, then rename it over the target: a reader opens the old file or the new one, never half.

os.replace is atomic on POSIX when both names are in the same folder (same file system), so every temporary
file is created beside its target. A process that already has the old file open keeps reading the old inode.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def temp_path_beside(target: Path, tag: str | None = None) -> Path:
    """`.<name>.<tag>.tmp` in the target's folder; the tag defaults to this process's id so two processes
    never write the same temporary file (and a leftover says which process left it)."""
    tag = str(os.getpid()) if tag is None else tag
    return target.parent / f".{target.name}.{tag}.tmp"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (a temporary file named after a dead writer is a crash's leftover).
    A reused pid reads as alive: its leftover is then kept, never one still being written removed."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make renames in the folder durable: without it a power cut can bring back the old name."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(temp: Path, target: Path) -> None:
    """Flush the finished temporary file, rename it over the target, flush the folder."""
    fsync_file(temp)
    os.replace(temp, target)
    fsync_dir(target.parent)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_beside(target)
    try:
        temp.write_bytes(data)
        replace_durably(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# ---- write-once files (the landing archive and the stream archive) -----------------------------------------
# A file is written to a temporary `.incoming-<pid>-*` beside its name, flushed, then hard-linked into place:
# link() never overwrites, so a name once taken keeps its bytes, and a reader never sees half a file.

TEMP_PREFIX = ".incoming-"
# `.incoming-<pid>-<random>`; older code named them `.incoming-<random>` (no pid): those are taken for a dead
# writer's once older than any write could last.
TEMP_NAME = re.compile(rf"^{re.escape(TEMP_PREFIX)}(?:(?P<pid>\d+)-)?")
LEGACY_TEMP_AGE_S = 3600


def write_temp(directory: Path, data: bytes) -> str:
    """`data` in a flushed, read-only temporary file of `directory` named after this process."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{TEMP_PREFIX}{os.getpid()}-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o444)  # archived bodies are never edited in place
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_exclusive(path: Path, data: bytes, flush_folder: bool = True) -> bool:
    """Write `data` to `path` only if `path` does not exist. Returns False if it already existed.

    The bytes go to a temporary file first and are then hard-linked into place: readers never see a
    half-written file, and link() fails if the name is taken, so nothing is ever overwritten.
    The folder is flushed after the link (a power cut cannot take the name back) unless the caller flushes it.
    """
    tmp = write_temp(path.parent, data)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        if flush_folder:
            fsync_dir(path.parent)
        return True
    finally:
        os.unlink(tmp)


def replace_with(path: Path, data: bytes) -> None:
    """Put `data` at `path` whether or not the name is taken (only for a sidecar whose body was never linked)."""
    tmp = write_temp(path.parent, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class LockBusy(Exception):
    """Another process holds the lock (and did not let go within the wait asked)."""


def flock_exclusive(path: Path, wait_s: float | None = None, create: bool = False) -> int:
    """Open `path` (a folder, or a file: created with `create`) and take an exclusive flock on it; returns the
    descriptor, whose closing releases the lock (and the kernel does when the holder dies, kill -9 included, so a
    crash never leaves it held). `wait_s`: None waits as long as it takes, 0 not at all, else up to that many
    seconds; LockBusy when it is still held."""
    if create:
        flags = os.O_RDWR | os.O_CREAT
    else:
        flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    fd = os.open(path, flags, 0o644)
    try:
        if wait_s is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return fd
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(str(path)) from None
                time.sleep(0.05)
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def folder_lock(directory: Path, wait_s: float | None = None) -> Iterator[None]:
    """One writer at a time in a folder, across processes: flock on the folder itself (no lock file to leave
    behind). LockBusy after `wait_s` (None: wait as long as it takes)."""
    fd = flock_exclusive(directory, wait_s)
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


def make_dirs_durably(directory: Path) -> None:
    """mkdir -p, flushing each parent that gains a folder (else a power cut can lose the folder and its files)."""
    missing = []
    while not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        fsync_dir(folder.parent)


def stale_temp(path: Path, now: float | None = None) -> bool:
    """A temporary file whose writer is gone: its pid is dead, or (older code's name, no pid) it is an hour old."""
    match = TEMP_NAME.match(path.name)
    if match is None:
        return False
    if match["pid"] is None:
        try:
            return (now or time.time()) - path.lstat().st_mtime > LEGACY_TEMP_AGE_S
        except FileNotFoundError:
            return False
    pid = int(match["pid"])
    return pid != os.getpid() and not pid_alive(pid)
