"""Runs whose process is gone: found by the process that ran them, and marked failed so the queue moves on.

A run started by `make backfill`/`make run` executes inside the CLI's own process; one launched by the daemon (the
nightly schedule, the UI) runs in a worker process the code server starts. A `kill -9`, an OOM kill or a power cut
ends that process without a word to Dagster's storage: the run stays STARTED forever, and with the run queue's
writer lane limited to one run, no later run (nor the schedule's) is ever dequeued again.

So every run records which process runs it — the CLI tags its runs with `btcw/host`, `btcw/pid` and the process's
start time; a daemon-launched worker is named by Dagster's own "Started process for run (pid: N)" engine event — and
a run in progress whose process no longer exists on this host is an orphan. They are swept (reported failed, with a
message saying why) at the start of every CLI run and by the daemon's run monitoring (pipelines.runs.launcher,
dagster.yaml › run_monitoring), every minute while `make dev` runs. A run recorded on another host is never judged.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType

from pipelines.atomic_files import pid_alive

HOST_TAG = "btcw/host"
PID_TAG = "btcw/pid"
PID_STARTED_TAG = "btcw/pid_started"
# In progress as far as the queue is concerned (CANCELING still holds its slot; NOT_STARTED is a run created whose
# process died before it began: swept too, so the run list says what happened to it).
IN_PROGRESS = (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
               dg.DagsterRunStatus.CANCELING)
WORKER_STARTED_PREFIX = "Started process for run (pid: "


def process_started_at(pid: int) -> float | None:
    """The UNIX time a process started (Linux /proc), or None when unknown (no /proc, or no such process).

    Guards against pid reuse: a pid alive now but started after the run began is another process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    # Field 22 of stat (the 20th after the command's closing parenthesis): start time in clock ticks since boot.
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_tags() -> dict[str, str]:
    """The tags naming this process, for a run it executes in itself (the CLI's execute_in_process)."""
    started = process_started_at(os.getpid())
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()),
            **({PID_STARTED_TAG: f"{started:.2f}"} if started is not None else {})}


@dataclass(frozen=True)
class RunProcess:
    """The process a run executes in, as recorded: its host (None: this instance's, the default launcher's),
    pid, and the earliest moment it can have started (its own start time, or the run's creation)."""

    host: str | None
    pid: int
    not_before: float | None

    def is_gone(self, alive: Callable[[int], bool] = pid_alive,
                started_at: Callable[[int], float | None] = process_started_at) -> bool | None:
        """True when the process has certainly ended; None when it cannot be judged from here (another host)."""
        if self.host is not None and self.host != socket.gethostname():
            return None
        if not alive(self.pid):
            return True
        started = started_at(self.pid)
        # Clock ticks round the start time; a second's slack never mistakes the run's own process for a newer one.
        return started is not None and self.not_before is not None and started > self.not_before + 1.0


def run_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunProcess | None:
    """Which process runs `run`: the CLI's tags, else the worker the default run launcher started (its engine
    event); None when neither is recorded yet (a queued run, or a worker still starting)."""
    tags = run.tags
    if PID_TAG in tags:
        started = tags.get(PID_STARTED_TAG)
        return RunProcess(tags.get(HOST_TAG), int(tags[PID_TAG]), float(started) if started else None)
    for record in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
        message = record.dagster_event.message or ""
        if message.startswith(WORKER_STARTED_PREFIX):
            pid = int(message[len(WORKER_STARTED_PREFIX):].split(")", 1)[0])
            return RunProcess(None, pid, record.timestamp)
    return None


def orphan_message(run: dg.DagsterRun, process: RunProcess) -> str:
    return (f"run {run.run_id[:8]} ({run.job_name}) was left {run.status.value} by process {process.pid}, which no "
            f"longer exists (killed, crashed or the machine restarted); marked failed so queued and scheduled runs "
            f"can start. Rerun its window: whatever it wrote is replaced by the next run of those days.")


def sweep_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every run in progress whose process is gone; returns one line per run swept."""
    swept = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=list(IN_PROGRESS))):
        run = record.dagster_run
        process = run_process(instance, run)
        if process is None or not process.is_gone():
            continue
        message = orphan_message(run, process)
        instance.report_run_failed(run, message)
        swept.append(message)
    return swept
