"""The liquidation streams' daily load as Dagster assets: the collector's hourly files → raw (issue 14).

One multi-asset, three raw tables written in one transaction (pipelines.ingest.stream_days): the orders, the
coverage per venue and day, and the coverage per hour. In demo mode the run first lands the window's frames as if
the collector had run (pipelines.demo.stream_landing: the same writer, the same files); live, the collector
(`make collect`) writes them and the run only reads; replay reads what is archived.
"""

import dagster as dg

from pipelines.engine import RAW_WRITES
from pipelines.ingest.extract import days_in_window
from pipelines.ingest.load_log import FAILED, LOADED
from pipelines.ingest.stream_days import COVERAGE_TABLE, HOURS_TABLE, ORDERS_TABLE, VenueDay, load_stream_window
from pipelines.metadata import record_partitions
from pipelines.partitions import window_dates
from pipelines.resources import WarehouseResource
from pipelines.settings import SourceMode

ORDERS_KEY = dg.AssetKey(["raw", ORDERS_TABLE])
COVERAGE_KEY = dg.AssetKey(["raw", COVERAGE_TABLE])
HOURS_KEY = dg.AssetKey(["raw", HOURS_TABLE])
PARSED_CHECK = "stream_frames_parsed"
COVERAGE_CHECK = "stream_coverage_complete"
# A day's feed is called complete when no more than this is uncovered (reconnects take seconds; a venue's daily
# maintenance disconnect, a minute or two).
MAX_UNCOVERED_S = 300


def parsed_outcome(results: list[VenueDay]) -> tuple[bool, str]:
    bad = [v for v in results if v.status != LOADED]
    if bad:
        return False, f"{len(bad)} venue-day(s) not loaded: " + " | ".join(v.line() for v in bad)
    quarantined = sum(len(v.quarantined) for v in results)
    return True, (f"{len(results)} venue-day(s) loaded, {quarantined} frame(s) or order(s) quarantined "
                  "(raw.quarantine, dataset liquidation_stream__<venue>)")


def uncovered_s(v: VenueDay) -> float | None:
    """Seconds of the venue's day the stream archive did not cover; None when the day was not read."""
    return None if v.status == FAILED or v.cover is None else 86400 - v.cover.covered_seconds


def coverage_outcome(results: list[VenueDay]) -> tuple[list[str], str]:
    """The venue-days with more than MAX_UNCOVERED_S uncovered, one line each, and the check's description."""
    lines = []
    for v in results:
        uncovered = uncovered_s(v)
        if uncovered is None:
            continue
        if uncovered > MAX_UNCOVERED_S:
            reasons = sorted({g.reason for g in v.cover.gaps})
            lines.append(f"{v.venue} {v.day}: {uncovered:,.0f} s uncovered ({', '.join(reasons)}; longest gap "
                         f"{max(g.seconds for g in v.cover.gaps):,.0f} s)")
    if lines:
        return lines, f"{len(lines)} venue-day(s) with gaps over {MAX_UNCOVERED_S} s: " + " | ".join(lines)
    return lines, f"{len(results)} venue-day(s), none with more than {MAX_UNCOVERED_S} s uncovered"


def build_stream_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec(ORDERS_KEY, group_name="raw", kinds={"duckdb", "python"}, description=(
                "Liquidation orders of the BTC contracts followed on Binance, Bybit and OKX, read from the stream "
                "archive's hourly files (one row per order, de-duplicated by order_key)."),
                partitions_def=partitions_def),
            dg.AssetSpec(COVERAGE_KEY, group_name="raw", kinds={"duckdb", "python"}, description=(
                "How the stream archive covered each venue's day: seconds covered, gaps and their reasons, frames, "
                "duplicates, quarantined frames, throttled feed."), partitions_def=partitions_def),
            dg.AssetSpec(HOURS_KEY, group_name="raw", kinds={"duckdb", "python"}, description=(
                "Seconds covered, frames and orders per venue and UTC hour."), partitions_def=partitions_def),
        ],
        check_specs=[
            dg.AssetCheckSpec(PARSED_CHECK, asset=ORDERS_KEY, blocking=True, description=(
                "every venue-day's archive was read and at most the reject threshold of its frames quarantined")),
            dg.AssetCheckSpec(COVERAGE_CHECK, asset=ORDERS_KEY, blocking=False, description=(
                f"each venue's day was covered but for at most {MAX_UNCOVERED_S} s (warn only: the coverage "
                "columns say what may be missing)")),
        ],
        backfill_policy=dg.BackfillPolicy.single_run(),
        name="liquidation_streams",
    )
    def _streams(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        start, end = window_dates(context)
        settings = warehouse.settings
        days = days_in_window(start, end)
        if settings.source_mode is SourceMode.DEMO:
            from pipelines.demo.stream_landing import land_demo_window  # demo only: the live code path never loads it

            landed = land_demo_window(settings.landing_dir, days)
            context.log.info(f"demo: {sum(d.frames for d in landed)} frames landed in "
                             f"{sum(d.hours_landed for d in landed)} hourly files as the collector would have "
                             f"({sum(d.hours_kept for d in landed)} hours already archived, kept)")
        with warehouse.connect() as conn:
            results = load_stream_window(
                conn, settings.landing_dir, settings.tree_dir, days, settings.now(), settings.reject_threshold,
                writing=lambda: warehouse.writing(RAW_WRITES, f"liquidation streams [{start}, {end})"))
        for v in results:
            (context.log.info if v.status == LOADED else context.log.error)(v.line())
        parsed_ok, parsed_text = parsed_outcome(results)
        incomplete, covered_text = coverage_outcome(results)
        covered_ok = not incomplete
        if not covered_ok:
            context.log.warning(covered_text)
        loaded = [v for v in results if v.status == LOADED]
        # The window's totals are the step's (its log); each day's own figures go on that day's materialization.
        context.log.info(f"{len(days)} day(s): {sum(len(v.orders) for v in loaded)} orders from {len(loaded)} of "
                         f"{len(results)} venue-day(s) loaded, {sum(v.duplicates for v in loaded)} duplicates dropped, "
                         f"{sum(len(v.quarantined) for v in results)} quarantined, {len(incomplete)} venue-day(s) "
                         f"with over {MAX_UNCOVERED_S} s uncovered")
        for key, per_day in stream_day_metadata(results, days, f"[{start}, {end})", settings.source_mode).items():
            record_partitions(context, per_day, key)
            yield dg.MaterializeResult(asset_key=key)
        yield dg.AssetCheckResult(asset_key=ORDERS_KEY, check_name=PARSED_CHECK, passed=parsed_ok,
                                  severity=dg.AssetCheckSeverity.ERROR, description=parsed_text)
        yield dg.AssetCheckResult(asset_key=ORDERS_KEY, check_name=COVERAGE_CHECK, passed=covered_ok,
                                  severity=dg.AssetCheckSeverity.WARN, description=covered_text)

    return _streams


def stream_day_metadata(results: list[VenueDay], days, window: str, mode: SourceMode) -> dict[dg.AssetKey, dict]:
    """{asset key: {day: that day's figures}}: what each of the three raw tables holds of the day, and how the
    stream archive covered it."""
    out: dict[dg.AssetKey, dict] = {ORDERS_KEY: {}, COVERAGE_KEY: {}, HOURS_KEY: {}}
    for day in days:
        venues = [v for v in results if v.day == day]
        loaded = [v for v in venues if v.status == LOADED]
        gaps = [s for s in map(uncovered_s, venues) if s is not None]
        common = {"window": window, "source_mode": mode.value}
        out[ORDERS_KEY][day] = {"orders_loaded": sum(len(v.orders) for v in loaded),
                                "duplicates_dropped": sum(v.duplicates for v in loaded),
                                "quarantined": sum(len(v.quarantined) for v in venues),
                                "venues_loaded": len(loaded), "venues_not_loaded": len(venues) - len(loaded), **common}
        out[COVERAGE_KEY][day] = {"venue_days": len(venues),
                                  "venue_days_incomplete": sum(s > MAX_UNCOVERED_S for s in gaps),
                                  "uncovered_s": sum(gaps), **common}
        out[HOURS_KEY][day] = {"hours": 24 * len(loaded), **common}
    return out
