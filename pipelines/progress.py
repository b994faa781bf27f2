"""A progress bar over the steps of one Dagster run, and the summary printed when a backfill ends."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import TextIO

import dagster as dg
import duckdb
from dagster._core.events import DagsterEventType

FINISHED = {DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE, DagsterEventType.STEP_SKIPPED}
WATCHED = FINISHED | {DagsterEventType.STEP_START}


def step_progress(instance: dg.DagsterInstance, run_id: str) -> tuple[int, str | None, list[str]]:
    """(steps finished, the step running now, steps that failed), from the run's event log."""
    finished, failed, running = 0, [], None
    for record in instance.all_logs(run_id, of_type=WATCHED):
        event = record.dagster_event
        if event.event_type in FINISHED:
            finished += 1
            running = None if running == event.step_key else running
            if event.event_type == DagsterEventType.STEP_FAILURE:
                failed.append(event.step_key)
        else:
            running = event.step_key
    return finished, running, failed


def run_with_progress(
    work: Callable[[], dg.ExecuteInProcessResult],
    instance: dg.DagsterInstance,
    run_id: str,
    total_steps: int,
    out: TextIO,
    poll_s: float = 0.5,
) -> dg.ExecuteInProcessResult:
    """Run `work` (the run `run_id`) in a thread while a bar on `out` follows its steps."""
    from tqdm import tqdm

    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=target, name=f"run-{run_id[:8]}")
    worker.start()
    with tqdm(total=total_steps, unit="step", file=out, dynamic_ncols=True) as bar:
        while worker.is_alive():
            worker.join(poll_s)
            finished, running, failed = step_progress(instance, run_id)
            bar.n = finished
            bar.set_postfix_str((running or "") + (f" | failed: {', '.join(failed)}" if failed else ""))
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def backfill_summary(duckdb_path, first: dt.date, last: dt.date, result: dg.ExecuteInProcessResult,
                     seconds: float, since: dt.datetime | None = None) -> str:
    """Days and rows per dataset from raw.load_log, failed checks, and the wall time. `since`: when the run started
    (its clock, settings.now()): only the log rows this run wrote count, so a run that failed before loading a
    dataset does not print an earlier run's figures as its own."""
    days = (last - first).days + 1
    lines = [f"{'succeeded' if result.success else 'FAILED'}: {first} … {last} ({days} days) in one run, "
             f"{seconds:,.1f} s ({seconds / days:,.2f} s per day)"]
    failed = [f"[{e.severity.value.lower()}] {e.asset_key.to_user_string()} › {e.check_name}: "
              + (e.description or f"a dbt test failed; its failing rows: `make failing-rows CHECK={e.check_name} "
                                  f"START={first} END={last}`")
              for e in result.get_asset_check_evaluations() if not e.passed]
    try:
        logged_since = (since.astimezone(dt.UTC).replace(tzinfo=None) if since is not None
                        else dt.datetime(1970, 1, 1))
        with duckdb.connect(str(duckdb_path), read_only=True) as conn:
            rows = conn.execute(
                "SELECT dataset, count(*) FILTER (status = 'loaded'), count(*) FILTER (status <> 'loaded'), "
                "sum(rows_loaded), sum(rows_quarantined) FROM raw.load_log "
                "WHERE partition_date BETWEEN ? AND ? AND _logged_at >= ? GROUP BY dataset ORDER BY dataset",
                [first, last, logged_since],
            ).fetchall()
    except duckdb.Error as error:
        # Another process holding the file (or a run that failed before raw.load_log existed): the run's own outcome
        # above still stands; a traceback here would hide it.
        reason = str(error).splitlines()[0]
        lines.append(f"  rows per dataset unavailable: {duckdb_path} could not be read ({reason})")
        rows = None
    if rows == []:
        lines.append("  no dataset was loaded by this run (raw.load_log holds no row of it for these days)")
    if rows:
        lines.append(f"  {'dataset':<40} {'days ok':>8} {'not ok':>7} {'rows':>10} {'quarantined':>12}")
        lines += [f"  {d:<40} {ok:>8} {bad:>7} {n:>10,} {q:>12,}" for d, ok, bad, n, q in rows]
    if failed:
        lines.append(f"  {len(failed)} failed check(s):")
        lines += [f"    {line}" for line in failed[:20]]
    return "\n".join(lines)
