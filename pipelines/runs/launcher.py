"""Dagster's default run launcher, plus the health check its run monitoring needs to fail orphaned runs.

The default launcher cannot say whether a run's worker is alive, so Dagster's run monitoring (dagster.yaml ›
run_monitoring) can only time runs out. This one answers from the process recorded for the run
(pipelines.runs.orphans): a worker that no longer exists on this host is FAILED, and the monitoring daemon marks the
run failed within a poll interval, whether the daemon launched it or `make backfill` ran it in its own process.
"""

from __future__ import annotations

from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus

from pipelines.runs.orphans import orphan_message, run_process


class ProcessCheckingRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        process = run_process(self._instance, run)
        # Not recorded yet (the worker is starting) or on another host: healthy as far as anyone here can tell;
        # run_monitoring's start_timeout_seconds covers a worker that never starts.
        if process is None or not process.is_gone():
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, orphan_message(run, process))
