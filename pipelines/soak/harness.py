"""The soak's loop: one simulated clock, the demo APIs on 127.0.0.1, hourly polls, the nightly run requests."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import dagster as dg
import duckdb
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

import pipelines.runner  # noqa: F401 — sets the ranged runs' planned-events default (why: pipelines/runner.py)
from pipelines.assets.serving import SCHEDULE_TAG
from pipelines.dbt_project import environ
from pipelines.definitions import build_definitions
from pipelines.demo.endpoints_derivatives import derivatives_model
from pipelines.demo.server import DemoApiServer
from pipelines.schedules import NIGHTLY_JOB
from pipelines.settings import Settings, SourceMode
from pipelines.soak.compare import BackfillPlan, MartDiff, compare_marts, plan_backfill
from pipelines.soak.ledger import LiquidationLedger, liquidation_ledger
from pipelines.soak.polls import TickPolls, poll_at, poll_times

NIGHTLY_AT = dt.time(0, 30)  # the schedule's cron, "30 0 * * *" UTC
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class SoakError(ValueError):
    pass


class SimulatedClock:
    """The one clock of the soak: the demo server answers at it, live fetches are stamped with it."""

    def __init__(self, at: dt.datetime):
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


@dataclass(frozen=True)
class NightRun:
    at: dt.datetime
    first: dt.date | None
    last: dt.date | None
    success: bool
    seconds: float
    failed_steps: tuple[str, ...] = ()
    failed_checks: tuple[str, ...] = ()
    skipped: str = ""  # the schedule asked for no run (its reason)

    def line(self) -> str:
        head = f"night {self.at:%Y-%m-%d %H:%MZ} window {self.first} … {self.last}: "
        if self.skipped:
            return head + f"SKIPPED by the schedule: {self.skipped}"
        if self.success:
            return head + f"ok in {self.seconds:.0f} s"
        parts = [f"steps {', '.join(self.failed_steps)}" if self.failed_steps else "",
                 f"checks {'; '.join(self.failed_checks)}" if self.failed_checks else ""]
        return head + f"FAILED in {self.seconds:.0f} s: " + " | ".join(p for p in parts if p)


@dataclass
class SoakReport:
    start: dt.date
    nights: int
    warehouse: Path
    poll_cron: str
    runs: list[NightRun] = field(default_factory=list)
    polls: list[TickPolls] = field(default_factory=list)
    raw_rows: dict[str, int] = field(default_factory=dict)
    mart_rows: dict[str, int] = field(default_factory=dict)
    ledger: LiquidationLedger | None = None
    plan: BackfillPlan | None = None
    backfill: NightRun | None = None
    diffs: list[MartDiff] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed_runs(self) -> list[NightRun]:
        return [run for run in self.runs if not run.success]

    @property
    def marts_equal(self) -> bool | None:
        if self.plan is None:
            return None
        return self.backfill is not None and self.backfill.success and all(d.equal for d in self.diffs)

    @property
    def passed(self) -> bool:
        return (not self.failed_runs and len(self.runs) == self.nights and self.ledger is not None
                and self.ledger.exact and self.marts_equal is not False)

    def lines(self) -> list[str]:
        last = self.start + dt.timedelta(days=self.nights - 1)
        out = [
            f"soak {self.start} … {last}: nights run {len(self.runs)}, failed runs {len(self.failed_runs)}, "
            f"wall time {self.seconds:.0f} s ({self.seconds / 60:.1f} min)",
            *(f"  {run.line()}" for run in self.failed_runs),
            f"polls between the nights (cron {self.poll_cron!r}): {len(self.polls)} ticks, "
            f"{sum(len(t.outcomes) for t in self.polls)} polls, {sum(len(t.failed) for t in self.polls)} failed, "
            f"{sum(o.capped for t in self.polls for o in t.outcomes)} ran out at the row cap",
            *(f"  {o.line()}" for t in self.polls for o in t.failed),
            "rows per raw table:",
            *(f"  raw.{name}: {rows}" for name, rows in self.raw_rows.items()),
            "rows per mart:",
            *(f"  marts.{name}: {rows}" for name, rows in self.mart_rows.items()),
            *(self.ledger.lines() if self.ledger else ["liquidation orders: no ledger (no night ran)"]),
        ]
        if self.plan is not None:
            out += ["comparison with one backfill of the same days:", *(f"  {line}" for line in self.plan.lines())]
            if self.backfill is not None:
                out.append(f"  backfill {self.backfill.first} … {self.backfill.last} at "
                           f"{self.backfill.at:%Y-%m-%d %H:%MZ}: {self.backfill.line().split(': ', 1)[1]}")
            out += [d.line() for d in self.diffs]
            equal = sum(d.equal for d in self.diffs)
            out.append(f"  marts equal to the backfill: {equal} of {len(self.diffs)}")
        out.append("SOAK PASSED" if self.passed else "SOAK FAILED")
        return out


def night_instant(day: dt.date) -> dt.datetime:
    """The nightly that loads `day` runs at 00:30 UTC the day after."""
    return dt.datetime.combine(day + DAY, NIGHTLY_AT, tzinfo=dt.UTC)


def run_soak(
    start: dt.date,
    nights: int,
    warehouse: Path,
    *,
    compare: bool = True,
    out: TextIO | None = None,
) -> SoakReport:
    out = out or sys.stdout
    if nights < 1:
        raise SoakError(f"soak: --nights {nights} must be at least 1")
    warehouse = warehouse.expanduser().resolve()
    if warehouse.exists() and any(warehouse.iterdir()):
        raise SoakError(f"soak: {warehouse} is not empty: a soak starts from an empty warehouse (delete it or pass "
                        "another --warehouse)")
    warnings.filterwarnings("ignore", category=dg.BetaWarning)  # BackfillPolicy.single_run: noise for the output
    warnings.filterwarnings("ignore", message=".*get_schedule_def will return.*")
    started = time.perf_counter()
    clock = SimulatedClock(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC))
    poll_cron = Settings.from_env().poll_cron  # BTCW_POLL_CRON, as the deployment's schedule would read it
    report = SoakReport(start, nights, warehouse, poll_cron)
    print(f"soak: {nights} night(s) from {start}, warehouse {warehouse}, polls on {poll_cron!r}", file=out, flush=True)
    with DemoApiServer(clock) as server, _instance(warehouse / "dagster") as instance:
        base = Settings(source_mode=SourceMode.LIVE, warehouse_dir=warehouse / "soak", start_date=start,
                        live_base_url=server.base_url, simulated_now=clock.at, poll_cron=poll_cron)
        # The deployment starts polling the hour before its first day: that poll reaches into the day.
        previous = clock.at - HOUR
        for night in range(nights):
            day = start + dt.timedelta(days=night)
            for at in poll_times(poll_cron, previous, night_instant(day)):
                clock.at = at
                report.polls.append(poll_at(dataclasses.replace(base, simulated_now=at)))
            clock.at = previous = night_instant(day)
            run = run_nightly(dataclasses.replace(base, simulated_now=clock.at), instance)
            report.runs.append(run)
            print(run.line(), file=out, flush=True)
        last = start + dt.timedelta(days=nights - 1)
        days = [start + dt.timedelta(days=i) for i in range(nights)]
        db = base.duckdb_path
        report.raw_rows, report.mart_rows = table_rows(db, "raw"), table_rows(db, "marts")
        report.ledger = liquidation_ledger(derivatives_model(server.api), days, db) if db.exists() else None
        if compare:
            clock.at = night_instant(last) + HOUR
            backfill = dataclasses.replace(base, warehouse_dir=warehouse / "backfill", simulated_now=clock.at)
            print(f"backfill of {start} … {last} at {clock.at:%Y-%m-%d %H:%MZ} into {backfill.tree_dir}",
                  file=out, flush=True)
            report.plan, report.backfill = run_backfill(backfill, start, last, instance, warehouse / "probe")
            if report.backfill.success:
                report.diffs = compare_marts(db, backfill.duckdb_path, report.plan.marts)
    report.seconds = time.perf_counter() - started
    return report


@contextlib.contextmanager
def _instance(directory: Path):
    """The soak's own Dagster instance (SQLite under the warehouse): its runs stay inspectable, apart from the
    project's instance."""
    directory.mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.local_temp(str(directory), overrides={"telemetry": {"enabled": False}}) as instance:
        yield instance


def run_nightly(settings: Settings, instance: dg.DagsterInstance) -> NightRun:
    """Evaluate the nightly schedule at the settings' instant and execute its run request(s) in this process."""
    at = settings.now()
    started = time.perf_counter()
    defs = build_definitions(settings)
    schedule = defs.get_schedule_def("nightly")
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=at) as context:
        tick = schedule.evaluate_tick(context)
    requests = tick.run_requests or []
    if not requests:
        return NightRun(at, None, None, True, time.perf_counter() - started, skipped=str(tick.skip_message))
    # The nightly job is every asset (AssetSelection.all()) with a retry policy of 15 minutes and more
    # (schedules.NIGHTLY_RETRY). execute_in_process ignores executor config, so retries cannot be turned off there,
    # and a retry would sleep real minutes while the simulated clock stands still, asking the same server the same
    # question: the soak runs the same assets without the policy, and counts a failure as one.
    nightly = defs.get_job_def(schedule.job_name)
    job = defs.resolve_implicit_global_asset_job_def()
    if set(nightly.asset_layer.selected_asset_keys) != set(job.asset_layer.selected_asset_keys):
        raise SoakError(f"the {NIGHTLY_JOB} job no longer selects every asset: the soak would not run what it runs")
    # The daemon tags a scheduled run with its schedule: freshness then answers to the (simulated) clock.
    runs = [_execute(job, {**request.tags, SCHEDULE_TAG: schedule.name}, settings, instance, started)
            for request in requests]
    if len(runs) == 1:
        return runs[0]
    return NightRun(at, runs[0].first, runs[-1].last, all(r.success for r in runs), time.perf_counter() - started,
                    tuple(s for r in runs for s in r.failed_steps), tuple(c for r in runs for c in r.failed_checks))


def run_backfill(settings: Settings, first: dt.date, last: dt.date, instance: dg.DagsterInstance,
                 scratch: Path) -> tuple[BackfillPlan, NightRun]:
    started = time.perf_counter()
    defs = build_definitions(settings)
    plan = plan_backfill(defs, settings, first, scratch)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(plan.selection))
    tags = {ASSET_PARTITION_RANGE_START_TAG: first.isoformat(), ASSET_PARTITION_RANGE_END_TAG: last.isoformat()}
    # dbt builds the selected models with the tests of ANY selected model by default ("eager"), including tests
    # that also read an unselected one (a Deribit index vs Coinbase close reconciliation): "cautious" keeps the
    # tests whose every parent is selected. dbt reads it from its environment, which it inherits from this process.
    with environ({"DBT_INDIRECT_SELECTION": "cautious"}):
        return plan, _execute(job, tags, settings, instance, started)


def _execute(job: dg.JobDefinition, tags: dict[str, str], settings: Settings, instance: dg.DagsterInstance,
             started: float) -> NightRun:
    first = dt.date.fromisoformat(tags[ASSET_PARTITION_RANGE_START_TAG])
    last = dt.date.fromisoformat(tags[ASSET_PARTITION_RANGE_END_TAG])
    # dbt (through dagster-dbt) writes its progress to stdout: into the night's log, not the soak's output.
    log = settings.tree_dir / "logs" / f"run_{settings.now():%Y%m%dT%H%M}_{first}_{last}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as sink, contextlib.redirect_stdout(sink):
        result = job.execute_in_process(instance=instance, tags=tags, run_config=RUN_CONFIG, raise_on_error=False)
    failed_steps = tuple(
        f"{event.step_key} ({_first_line(event.event_specific_data.error.message)})"
        for event in result.get_step_failure_events()
    )
    failed_checks = tuple(
        f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name} ({_first_line(evaluation.description)})"
        for evaluation in result.get_asset_check_evaluations() if not evaluation.passed
    )
    return NightRun(settings.now(), first, last, result.success, time.perf_counter() - started, failed_steps,
                    failed_checks)


def _first_line(text: str | None, limit: int = 240) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def table_rows(duckdb_path: Path, schema: str) -> dict[str, int]:
    """Rows of every table of `schema` (names from the catalog, checked before they are quoted into SQL)."""
    if not duckdb_path.exists():
        return {}
    with duckdb.connect(str(duckdb_path), read_only=True) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE' "
            "ORDER BY table_name", [schema]).fetchall()]
        rows = {}
        for name in names:
            if not _IDENTIFIER.fullmatch(name) or not _IDENTIFIER.fullmatch(schema):
                raise ValueError(f"not a plain table name: {schema}.{name}")
            rows[name] = conn.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0]
    return rows
