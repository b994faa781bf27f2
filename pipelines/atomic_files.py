"""Write a file aside, then rename it over the target: a reader opens the old file or the new one, never half.

os.replace is atomic on POSIX when both names are in the same folder (same file system), so every temporary
file is created beside its target. A process that already has the old file open keeps reading the old inode.
"""

from __future__ import annotations

import os
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
