"""The Dagster instance the CLI runs on: the project's dagster.yaml (DAGSTER_HOME), storage at absolute paths.

dagster.yaml reads its storage folders from BTCW_DAGSTER_* variables; they default to <DAGSTER_HOME>/warehouse/dagster
(the Makefile exports the same), so the run history is one place whichever directory a command runs from.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

# variable -> folder under <DAGSTER_HOME>/warehouse/dagster
INSTANCE_DIRS = {
    "BTCW_DAGSTER_DIR": ".",
    "BTCW_DAGSTER_STORAGE_DIR": "storage",
    "BTCW_DAGSTER_COMPUTE_LOGS_DIR": "compute_logs",
}


def instance_dirs(home: Path) -> dict[str, str]:
    base = Path(home).resolve() / "warehouse" / "dagster"
    return {name: str((base / sub).resolve()) for name, sub in INSTANCE_DIRS.items()}


def set_instance_dirs(env: MutableMapping[str, str] | None = None) -> None:
    """Fill in the storage variables dagster.yaml needs from DAGSTER_HOME (a value already set wins)."""
    env = os.environ if env is None else env
    home = env.get("DAGSTER_HOME")
    if home:
        for name, value in instance_dirs(Path(home)).items():
            env.setdefault(name, value)


@contextmanager
def storage_creation_lock(env: MutableMapping[str, str] | None = None) -> Iterator[None]:
    """Held while an instance is opened: opening one creates its SQLite storage when it is missing, and two
    processes doing that at once on a new DAGSTER_HOME collide ("Version table 'alembic_version' has more than one
    head present"), so the second waits for the first (an exclusive flock on <BTCW_DAGSTER_DIR>/.storage.lock,
    released when the file closes, a killed holder's too). Dagster's own processes (dagster dev, the daemon) do not
    take it."""
    env = os.environ if env is None else env
    folder = Path(env["BTCW_DAGSTER_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".storage.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def open_instance() -> dg.DagsterInstance:
    """The persistent instance under DAGSTER_HOME, else an ephemeral one (runs are then not kept)."""
    if not os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.ephemeral()
    set_instance_dirs()
    with storage_creation_lock():
        return dg.DagsterInstance.get()
