"""Kill a real `python -m pipelines.cli backfill` at a chosen moment of its run, then check what it left.

The moment is chosen by the events the run writes to its Dagster instance (a step starting, the n-th
materialization of a step), never by sleeping: the harness reads the run's event log while the run goes on and
sends SIGKILL to the whole process group (the CLI, and dbt under it) as soon as the trigger is seen. The instance is
the project's own dagster.yaml in a scratch DAGSTER_HOME, so the run history, the queue's view of the run and the
orphan sweep are the ones an operator has.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType

from pipelines.ingest.archive import audit_archive
from pipelines.runs.instance import instance_dirs, storage_creation_lock
from pipelines.runs.orphans import IN_PROGRESS, PID_TAG
from pipelines.serving.publish import publication_consistent
from pipelines.soak.compare import compare_marts

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOT_STARTED_YET = (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING)
Trigger = Callable[[list[dg.EventLogEntry]], bool]


def step_started(step: str) -> Trigger:
    def seen(events: list[dg.EventLogEntry]) -> bool:
        return any(e.dagster_event and e.dagster_event.event_type == DagsterEventType.STEP_START
                   and e.dagster_event.step_key == step for e in events)
    seen.__name__ = f"start of {step}"
    return seen


def materializations_of(step: str, count: int) -> Trigger:
    def seen(events: list[dg.EventLogEntry]) -> bool:
        return sum(1 for e in events if e.dagster_event
                   and e.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION
                   and e.dagster_event.step_key == step) >= count
    seen.__name__ = f"{count} materializations of {step}"
    return seen


@dataclass
class Warehouse:
    """One scratch project: its DAGSTER_HOME (the project's dagster.yaml) and its BTCW warehouse."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tree(self) -> Path:
        return self.root / "warehouse" / "demo"

    @property
    def duckdb_path(self) -> Path:
        return self.tree / "warehouse.duckdb"

    def env(self, **extra: str) -> dict[str, str]:
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / "dagster.yaml", self.home / "dagster.yaml")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BTCW_", "DAGSTER_"))}
        return {**env, "DAGSTER_HOME": str(self.home), "BTCW_WAREHOUSE_DIR": str(self.root / "warehouse"),
                "BTCW_SOURCE_MODE": "demo", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **extra}

    @contextlib.contextmanager
    def instance(self) -> Iterator[dg.DagsterInstance]:
        saved = {k: os.environ.get(k) for k in instance_dirs(self.home)}
        os.environ.update(instance_dirs(self.home))
        try:
            with storage_creation_lock():
                instance = dg.DagsterInstance.from_config(str(self.home))
            with instance:
                yield instance
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def command(self, first: str, last: str, wrapper: str | None = None) -> list[str]:
        if wrapper is None:
            return [sys.executable, "-m", "pipelines.cli", "backfill", first, last]
        return [sys.executable, "-c", wrapper, "backfill", first, last]

    def run(self, first: str, last: str, wrapper: str | None = None, **env: str) -> subprocess.CompletedProcess:
        """One whole run, to its end."""
        return subprocess.run(self.command(first, last, wrapper), cwd=self.root, env=self.env(**env),
                              capture_output=True, text=True, timeout=1800)

    def run_and_kill(self, first: str, last: str, trigger: Trigger, poll_s: float = 0.05) -> list[str]:
        """Start a run; kill -9 its process group when `trigger` holds for its events. Returns the events' types seen
        up to the kill (for the failure message)."""
        # The instance's storage is created by whichever process opens it first, under the lock the CLI takes too
        # (pipelines.runs.instance.storage_creation_lock): at the same moment, it was stamped twice.
        process = subprocess.Popen(self.command(first, last), cwd=self.root, env=self.env(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        try:
            with self.instance() as instance:
                run_id, cursor, events = None, None, []
                while process.poll() is None:
                    if run_id is None:
                        runs = [r for r in instance.get_runs(limit=5) if r.tags.get(PID_TAG) == str(process.pid)]
                        run_id = runs[0].run_id if runs else None
                    # Its event log (a SQLite file of its own) is created by the run while it writes its planned
                    # events; reading it before the run has started would create it from here at the same time.
                    record = instance.get_run_by_id(run_id) if run_id is not None else None
                    if record is not None and record.status not in NOT_STARTED_YET:
                        # Only the events written since the last look (a cursor): re-reading the whole log at each
                        # look took long enough for a short last step to end, and the run with it, before the kill.
                        page = instance.get_records_for_run(run_id, cursor=cursor, limit=10_000)
                        cursor = page.cursor
                        events += [r.event_log_entry for r in page.records]
                        if trigger(events):
                            os.killpg(process.pid, signal.SIGKILL)
                            process.wait(timeout=60)
                            return [e.dagster_event.event_type_value for e in events if e.dagster_event]
                    time.sleep(poll_s)
            raise AssertionError(f"the run ended (exit {process.returncode}) before the {trigger.__name__}: "
                                 f"{process.stderr.read()[-2000:] if process.stderr else ''}")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=60)

    def runs_in_progress(self) -> list[str]:
        with self.instance() as instance:
            return [f"{r.run_id[:8]} {r.status.value}" for r in instance.get_runs(
                filters=dg.RunsFilter(statuses=list(IN_PROGRESS)))]

    def problems_against(self, reference: Warehouse) -> list[str]:
        """Everything that differs from an uninterrupted run, or that a crash must never leave; empty when whole."""
        problems = list(audit_archive(self.tree / "landing"))
        problems += publication_consistent(self.tree)
        problems += [f"run left in progress: {r}" for r in self.runs_in_progress()]
        marts = reference.marts()
        missing = sorted(set(marts) - set(self.marts()))
        problems += [f"mart missing after the rerun: {m}" for m in missing]
        problems += [d.line() for d in compare_marts(self.duckdb_path, reference.duckdb_path, tuple(marts))
                     if not d.equal]
        return problems

    def marts(self) -> list[str]:
        import duckdb

        with duckdb.connect(str(self.duckdb_path), read_only=True) as conn:
            return [r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1").fetchall()]


def uninterrupted(root: Path, first: str, last: str) -> Warehouse:
    """One whole run of [first, last] into a new scratch project at `root`: the reference a test compares with."""
    warehouse = Warehouse(root)
    done = warehouse.run(first, last)
    assert done.returncode == 0, done.stderr[-3000:]
    return warehouse
