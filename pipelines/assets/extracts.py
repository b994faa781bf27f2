"""One Dagster asset per dataset: source → landing archive → raw.<source>__<dataset> (+ raw.quarantine)."""


import datetime as dt
from collections import Counter

import dagster as dg

from pipelines import engine
from pipelines.engine import RAW_WRITES
from pipelines.checks.landing_checks import landing_bodies_parsed, rejects_within_threshold
from pipelines.checks.outcome import CheckOutcome
from pipelines.checks.raw_checks import raw_expectations, raw_volume_in_band
from pipelines.ingest.archive import LandingArchive
from pipelines.ingest.extract import days_in_window, load_window
from pipelines.ingest.load_log import LOADED
from pipelines.metadata import record_partitions, tidy
from pipelines.partitions import window_dates
from pipelines.polling.cadence import DEFAULT_POLL_CRON, max_expected_gap
from pipelines.polling.poller import poll_once, simulate_schedule
from pipelines.resources import WarehouseResource
from pipelines.settings import Settings, SourceMode
from pipelines.sources.spec import DatasetSpec

LANDING_CHECK = "landing_bodies_parsed"
REJECTS_CHECK = "raw_rejects_within_threshold"
EXPECTATIONS_CHECK = "raw_expectations"
VOLUME_CHECK = "raw_row_volume"
POLLS_CHECK = "liquidation_polls_complete"


def raw_asset_key(spec: DatasetSpec) -> dg.AssetKey:
    # Matches dbt's source('raw', '<source>__<dataset>'), so dagster-dbt links the models to it.
    return dg.AssetKey(["raw", spec.raw_table])


def to_check_result(outcome: CheckOutcome, asset_key: dg.AssetKey, name: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=outcome.description,
        metadata=tidy(outcome.metadata),
    )


def extract_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    # Blocking: a failed check fails the step, so dbt, the numpy asset and the BI publish do not run on it.
    described = {
        LANDING_CHECK: "each day's archived body matches its sha256, is data (no error envelope, no HTML) and parses",
        REJECTS_CHECK: "rows refused by the quality rules go to raw.quarantine; a day above the threshold fails",
        EXPECTATIONS_CHECK: "the dataset's Great Expectations suite on the window's raw rows (read-only connection)",
        VOLUME_CHECK: "each day's row count within a band around the median of its trailing 14 days",
    }
    return [dg.AssetCheckSpec(name, asset=key, blocking=True, description=text) for name, text in described.items()]


def polls_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    # Not blocking, WARN: a possibly incomplete day is still the best data there is; dbt, gamma and the BI publish
    # go on, and the day's coverage columns (raw.load_log, marts.fct_liquidations_daily) say what may be missing.
    return dg.AssetCheckSpec(POLLS_CHECK, asset=key, blocking=False, description=(
        "each day was covered by polls: none ran out at the source's row cap, and no gap between consecutive "
        "polls exceeds the poll interval plus slack (warn only)"))


def polls_outcome(spec: DatasetSpec, load, cron: str) -> CheckOutcome:
    """WARN when a day's polls may have missed rows: a poll ran out at the row cap, or polls failed for longer
    than the schedule's interval allows. One line per day: the day and the reason."""
    limit = max_expected_gap(cron)
    # Loaded days only: a failed day already fails the blocking landing check, with its reason.
    covered = [d for d in load.days if d.coverage is not None and d.status == LOADED]
    lines = [f"{spec.name} {d.day}: " + "; ".join(d.coverage.problems(limit))
             for d in covered if d.coverage.problems(limit)]
    if lines:
        return CheckOutcome(False, f"{len(lines)} day(s) possibly incomplete: " + " | ".join(lines),
                            {"days_possibly_incomplete": len(lines), "max_gap_allowed_s": int(limit.total_seconds())})
    return CheckOutcome(True, f"{spec.name}: {len(covered)} day(s) covered by polls without a capped poll or a gap "
                              f"over {limit}", {"days": len(covered), "max_gap_allowed_s": int(limit.total_seconds())})


def _asked(spec: DatasetSpec, day: dt.date, settings: Settings) -> bool:
    """Whether the run asks `spec` for `day`. A day before the dataset's archive starts (`archived_since`) is asked
    only when the demo simulates it or a snapshot of it is archived all the same (an archive built elsewhere)."""
    if spec.covers(day):
        return True
    if not spec.covers(day, simulated=True):
        return False
    return (settings.source_mode is SourceMode.DEMO
            or LandingArchive(settings.landing_dir).newest_fetch(spec.source, spec.dataset, day) is not None)


def build_extract_asset(spec: DatasetSpec, partitions_def: dg.PartitionsDefinition,
                        poll_cron: str = DEFAULT_POLL_CRON) -> dg.AssetsDefinition:
    key = raw_asset_key(spec)

    @dg.asset(
        key=key,
        description=spec.description,
        group_name="raw",
        kinds={"duckdb", "python"},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=extract_check_specs(key) + ([polls_check_spec(key)] if spec.poll else []),
        metadata={"source": spec.source, "dataset": spec.dataset, "raw_table": f"raw.{spec.raw_table}"},
        # A dataset whose requests come from another's rows (CLOB tokens from Gamma's markets) runs after it.
        deps=[dg.AssetKey(["raw", name.replace("/", "__")]) for name in spec.upstream],
    )
    def _extract(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        start, end = window_dates(context)
        settings = warehouse.settings
        days = days_in_window(start, end)
        run_spec = spec
        if spec.bind is not None:  # this run's requests depend on what the warehouse holds (read, then closed)
            if engine.exists(settings):
                with warehouse.connect(read_only=True) as conn:
                    run_spec = spec.bind(conn, days)
            else:
                run_spec = spec.bind(None, days)
        covered = [day for day in days if _asked(run_spec, day, settings)]
        if len(covered) < len(days):
            context.log.info(f"{spec.name}: {len(days) - len(covered)} day(s) with nothing to ask for (before "
                             f"{spec.available_from or spec.archived_since}, when the source's history or its "
                             "archive starts, or no followed market alive): skipped")
        body_source = warehouse.body_source()
        if spec.poll is not None and covered:
            _send_polls(context, spec, covered, body_source, settings.source_mode, poll_cron)
        with warehouse.connect() as conn:
            load = load_window(run_spec, covered, body_source, conn, settings.tree_dir, settings.now(),
                               settings.reject_threshold,
                               writing=lambda: warehouse.writing(RAW_WRITES, f"{spec.name} [{start}, {end})"))
        # The writer is closed: the audit reads what was committed, as any reader would.
        with warehouse.connect(read_only=True) as conn:
            expectations = raw_expectations(conn, spec, start, end)
            volume = raw_volume_in_band(conn, spec, start, end)
        landing = landing_bodies_parsed(spec.name, load)
        rejects = rejects_within_threshold(spec.name, load, settings.reject_threshold)
        for outcome in (landing, rejects, expectations, volume):
            if not outcome.passed:
                context.log.error(outcome.description)
        # The window's totals are the step's (its log); each day's own figures go on that day's materialization.
        statuses = Counter(d.status for d in load.days)
        if len(covered) < len(days):
            statuses[NOTHING_TO_ASK] = len(days) - len(covered)
        context.log.info(f"{spec.name}: loaded {load.rows_loaded} rows over {len(load.days)} day(s), quarantined "
                         f"{load.quarantined.num_rows}; days: "
                         + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())))
        record_partitions(context, extract_day_metadata(load, days, start, end, settings.source_mode), key)
        yield dg.MaterializeResult()
        yield to_check_result(landing, key, LANDING_CHECK)
        yield to_check_result(rejects, key, REJECTS_CHECK)
        yield to_check_result(expectations, key, EXPECTATIONS_CHECK)
        yield to_check_result(volume, key, VOLUME_CHECK)
        if spec.poll is not None:
            polls = polls_outcome(spec, load, poll_cron)
            if not polls.passed:
                context.log.warning(polls.description)
            yield dg.AssetCheckResult(asset_key=key, check_name=POLLS_CHECK, passed=polls.passed,
                                      severity=dg.AssetCheckSeverity.WARN, description=polls.description,
                                      metadata=tidy(polls.metadata))

    return _extract


NOTHING_TO_ASK = "nothing to ask"  # a day before the source's history, or with no followed market alive


def extract_day_metadata(load, days: list[dt.date], start: dt.date, end: dt.date,
                         mode: SourceMode) -> dict[dt.date, dict[str, object]]:
    """Each day's own figures: its status in raw.load_log and the rows it landed, loaded and quarantined."""
    by_day = {d.day: d for d in load.days}
    out: dict[dt.date, dict[str, object]] = {}
    for day in days:
        d = by_day.get(day)
        figures: dict[str, object] = {
            "status": d.status if d else NOTHING_TO_ASK,
            "rows_landed": d.rows_landed if d else 0,
            "rows_loaded": d.rows_loaded if d else 0,
            "rows_quarantined": d.rows_quarantined if d else 0,
        }
        if d is not None and d.landing_file:
            figures["landing_file"] = d.landing_file
        if d is not None and d.reason:
            figures["reason"] = d.reason
        out[day] = {**figures, "window": f"[{start}, {end})", "source_mode": mode.value}
    return out


def _send_polls(context, spec: DatasetSpec, days: list[dt.date], body_source, mode: SourceMode, cron: str) -> None:
    """The run's own polls of a rolling source, before its days are read from every archived poll.

    Demo: the schedule's polls of the window's days, as if it had run (only those not archived yet). Live: one poll
    now, the nightly fetch (the hourly schedule sent the others). Replay: nothing is sent."""
    if mode is SourceMode.DEMO:
        outcomes = simulate_schedule(body_source, spec, days, cron)
    elif mode is SourceMode.LIVE:
        outcomes = [poll_once(body_source, spec, body_source.fetcher.request_time(days[-1]))]
    else:
        return
    for outcome in outcomes:
        if not outcome.ok or outcome.capped:
            context.log.warning(outcome.line())
    context.log.info(f"{spec.name}: {len(outcomes)} poll(s) sent, {sum(not o.ok for o in outcomes)} failed")
