"""Command line for the Makefile: `run` (the demo window), `backfill START END`, `summary`.

Each materialises every asset for a date range in ONE Dagster run (single-run backfill policy), so dbt is
invoked once for the whole window.

Dagster, dbt and the assets are imported where they are needed, not here: `run` and `backfill` show what they are
doing (pipelines/progress.py) from their first second on a terminal, before those imports.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pipelines import engine
from pipelines.progress import ProgressLine
from pipelines.runs.signals import answer_stop_signals
from pipelines.runs.writer_lock import WarehouseBusyError, ensure_duckdb_writable, writer_lock
from pipelines.settings import DEMO_START_DATE, Settings, SettingsError

if TYPE_CHECKING:
    import dagster as dg

# `make run`'s window; its first day is demo mode's first partition (pipelines/settings.py).
DEMO_WINDOW = (DEMO_START_DATE, dt.date(2025, 11, 21))
# Past this many days a range is announced with what it will cost before it starts (README › Performance: a year's
# single run is measured there); nothing stops it: a long backfill is legitimate, a typo in START should be visible.
LONG_RANGE_DAYS = 400
SECONDS_PER_DAY_MEASURED = 2.7


def main(argv: list[str] | None = None) -> int:
    answer_stop_signals()
    parser = argparse.ArgumentParser(prog="python -m pipelines.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help=f"materialise the demo window {DEMO_WINDOW[0]} … {DEMO_WINDOW[1]}")
    backfill = commands.add_parser("backfill", help="materialise START … END (inclusive) in one run")
    backfill.add_argument("start", type=dt.date.fromisoformat)
    backfill.add_argument("end", type=dt.date.fromisoformat)
    failing = commands.add_parser(
        "failing-rows", help="run one dbt test over a window and keep its failing rows in the warehouse "
                             "(schema dbt_test__audit): the command a failed dbt check's line names")
    failing.add_argument("check", help="the check's name, as the failed-check line prints it")
    failing.add_argument("start", type=dt.date.fromisoformat)
    failing.add_argument("end", type=dt.date.fromisoformat)
    commands.add_parser("audit", help="run every dbt data test over ALL history (a run's tests judge only the days "
                                      "it may have rewritten)")
    commands.add_parser("summary", help="print rows per mart and the last day's headline")
    commands.add_parser("poll", help="poll every rolling source now (OKX liquidation orders): what the hourly "
                                     "schedule does, into the landing archive only")
    args = parser.parse_args(argv)

    # The run's line, from now: on a terminal it says what is loading at once (and is erased if a setting or the
    # range is refused); a log gets its first line once they are accepted, so a refusal stays its one line.
    progress = ProgressLine(sys.stderr) if args.command in ("run", "backfill") else None
    if progress is not None and progress.tty:
        progress.phase("starting: loading Dagster, reading the settings")
    import dagster as dg

    # BackfillPolicy.single_run() is marked beta in this Dagster release; the warning is noise for make users.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    try:
        settings = Settings.from_env()
        if engine.is_lake(settings):
            engine.lake_config(settings)  # BTCW_LAKE_* read now: one missing is this one line, not a failed step each
    except SettingsError as error:
        _refuse(progress, f"{args.command}: {error}")
        return 2
    if args.command == "poll":
        return _poll(settings)
    if args.command == "failing-rows":
        return _failing_rows(settings, args.check, args.start, args.end)
    if args.command == "audit":
        return _audit(settings)
    if args.command in ("run", "backfill"):
        from pipelines.dbt_project import ManifestMissing
        from pipelines.progress import backfill_summary
        from pipelines.runner import RangeError, validate_range
        from pipelines.runs.instance import open_instance
        from pipelines.runs.orphans import sweep_orphaned_runs

        first, last = DEMO_WINDOW if args.command == "run" else (args.start, args.end)
        try:
            validate_range(settings, first, last, settings.now().date())  # refused before anything is announced
        except RangeError as error:
            _refuse(progress, f"{args.command}: {error}")
            return 2
        progress.erase()
        print(f"Materialising every asset for {first} … {last} ({settings.source_mode.value} mode) in one run",
              flush=True)
        started = settings.now()
        try:
            _announce_long_range(args.command, first, last)
            with sole_writer(settings, f"{args.command} {first} {last}"):  # a refusal stays its one line: before
                progress.phase("opening the run history (the Dagster instance)")
                with open_instance() as instance:
                    for line in sweep_orphaned_runs(instance):
                        progress.message(f"{args.command}: {line}")
                    result, seconds = _materialize_with_progress(settings, first, last, instance, progress)
        except (WarehouseBusyError, ManifestMissing) as error:
            _refuse(progress, f"{args.command}: {error}")
            return 2
        finally:
            progress.close()
        print(backfill_summary(settings, first, last, result, seconds, since=started))
        if not result.success:
            print("Run failed: see the failed checks above, the errors logged during the run, and the run in "
                  "the Dagster UI (`make dev`); README › Data quality › Reading a failed check.", file=sys.stderr)
            return 1
    from pipelines.summary import format_summary

    print(format_summary(settings))
    return 0


@contextlib.contextmanager
def sole_writer(settings: Settings, what: str) -> Iterator[None]:
    """A DuckDB file takes one writing process: hold the tree's writer lock and check the file opens for writing
    (a refusal is one line, WarehouseBusyError). A lake takes many writers at once: nothing to hold here (its
    tables' writes are serialised where they happen, pipelines/lake/locks.py)."""
    if engine.is_lake(settings):
        yield
        return
    with writer_lock(settings.tree_dir, what):
        ensure_duckdb_writable(settings.duckdb_path)
        yield


def _refuse(progress: ProgressLine | None, line: str) -> None:
    """A refused setting or range: its one line on stderr (the terminal's progress line erased first)."""
    if progress is not None:
        progress.erase()
        progress.close()
    print(line, file=sys.stderr)


def _announce_long_range(command: str, first: dt.date, last: dt.date) -> None:
    days = (last - first).days + 1
    if days > LONG_RANGE_DAYS:
        print(f"{command}: {days:,} days in one run ({first} … {last}): expect about "
              f"{days * SECONDS_PER_DAY_MEASURED / 3600:,.1f} h (~{SECONDS_PER_DAY_MEASURED} s per day measured); "
              "Ctrl-C stops it, and a rerun reads back what already landed", file=sys.stderr)


def _failing_rows(settings: Settings, check: str, first: dt.date, last: dt.date) -> int:
    """`dbt test --select <check> --store-failures` over [first, last], with the warehouse and window a run gives
    dbt and the writer lock (it writes dbt_test__audit.<check>). Exit: dbt's."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9_]+", check):
        print(f"failing-rows: {check!r} is not a check name (letters, digits, underscores)", file=sys.stderr)
        return 2
    if last < first:
        print(f"failing-rows: END {last} is before START {first}", file=sys.stderr)
        return 2
    code = _dbt_test(settings, "failing-rows", ["--select", check, "--store-failures"], (first, last),
                     holder=f"failing-rows {check}")
    if code is None:
        return 2
    if code:
        print(f"failing-rows: the failing rows of {check} are in the table dbt_test__audit.{check} of "
              f"{engine.describe(settings)} (see the query dbt printed above)", file=sys.stderr)
    return code


def _audit(settings: Settings) -> int:
    """`dbt test` over all history: a run's data tests judge the days it may have rewritten (dbt/macros/
    test_scope.sql); this is the full sweep, dbt's unit tests included. Exit: dbt's."""
    code = _dbt_test(settings, "audit", [], None)
    if code is None:
        return 2
    where = engine.describe(settings)
    if code:
        print(f"audit: a data test failed over all history of {where} (dbt's lines above name it and its rows; "
              "`make failing-rows CHECK=<test> START=… END=…` keeps them)", file=sys.stderr)
    else:
        print(f"audit: every data test passed over all history of {where} (warnings, if any, are listed above)")
    return code


def _dbt_test(settings: Settings, command: str, args: list[str], window: tuple[dt.date, dt.date] | None,
              holder: str | None = None) -> int | None:
    """`dbt test <args>` outside a run, as a run gives dbt its warehouse: the window [first, last] (None: every day
    there can be), the writer lock (dbt opens the file to write), and the warehouse's own target folder for dbt's
    files, never dbt/target, whose manifest every run's definitions read (one half-written by dbt broke a run that
    started meanwhile). dbt's exit; None, after one line, when there is no warehouse or another process writes it."""
    import os
    import subprocess

    from pipelines.dbt_project import DBT_PROJECT_DIR, WINDOW_VARIABLES, dbt_env, dbt_executable, dbt_target_path

    if not engine.exists(settings):
        print(f"{command}: no warehouse at {settings.duckdb_path} (BTCW_WAREHOUSE_DIR, BTCW_SOURCE_MODE)",
              file=sys.stderr)
        return None
    bounds = (window[0].isoformat(), (window[1] + dt.timedelta(days=1)).isoformat()) if window else ()
    inherited = {name: value for name, value in os.environ.items() if name not in WINDOW_VARIABLES}
    env = {**inherited, **dbt_env(settings, *bounds)}
    try:
        with sole_writer(settings, holder or command):
            return subprocess.run([dbt_executable(), "test", *args, "--target-path", str(dbt_target_path(settings))],
                                  cwd=DBT_PROJECT_DIR, env=env).returncode
    except WarehouseBusyError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return None


def _poll(settings: Settings) -> int:
    """One poll of every rolling source at the run's clock (BTCW_SIMULATED_NOW or now), one line each; exit 1 when a
    poll failed (its body, if any came back, is archived)."""
    from pipelines.polling.poller import poll_now
    from pipelines.settings import SourceMode

    if settings.source_mode is SourceMode.REPLAY:
        print("poll: replay mode sends no request; set BTCW_SOURCE_MODE=live (or demo)", file=sys.stderr)
        return 2
    outcomes = poll_now(settings)
    for outcome in outcomes:
        print(outcome.line(), file=sys.stdout if outcome.ok else sys.stderr)
    return 0 if all(o.ok for o in outcomes) else 1


def planned_events(job: dg.JobDefinition, days: int) -> int:
    """The planned events a run of `days` days writes before its first step: one per check, and one per asset, or
    one per asset and day without DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS (pipelines/runner.py)."""
    import os

    from dagster._utils.tags import get_boolean_tag_value

    from pipelines.runner import PLANNED_EVENTS_ENV

    graph = job.asset_layer.asset_graph
    per_asset = 1 if get_boolean_tag_value(os.environ.get(PLANNED_EVENTS_ENV)) else days
    return len(graph.materializable_asset_keys) * per_asset + len(graph.asset_check_keys)


def _materialize_with_progress(
    settings: Settings, first: dt.date, last: dt.date, instance: dg.DagsterInstance, progress: ProgressLine
) -> tuple[dg.ExecuteInProcessResult, float]:
    from dagster._core.utils import make_new_run_id

    from pipelines.progress import run_with_progress
    from pipelines.runner import materialize_range, range_job
    from pipelines.runs.orphans import process_tags

    progress.phase("loading the pipeline's code (dagster-dbt, dbt, the assets)")
    import pipelines.definitions  # noqa: F401 — the slow import, shown as its own phase (range_job uses it)

    progress.phase("building the definitions (assets, checks, the dbt manifest)")
    job = range_job(settings)
    run_id = make_new_run_id()
    started = time.perf_counter()
    # Warnings and errors still print (above the bar); step-by-step INFO lines and dbt's own output (which
    # dagster-dbt writes to stdout) would bury it, so dbt's output goes to a log file instead.
    log = settings.tree_dir / "logs" / f"{first}_{last}_{run_id[:8]}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as sink, contextlib.redirect_stdout(sink):
        result = run_with_progress(
            lambda: materialize_range(settings, first, last, instance, log_level="WARNING", run_id=run_id, job=job,
                                      tags=process_tags()),
            instance, run_id, total_steps=len(job.graph.nodes), line=progress,
            planned=planned_events(job, (last - first).days + 1),
        )
    progress.close()
    print(f"dbt output: {log}")
    return result, time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
