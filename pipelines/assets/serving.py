"""The BI publish: after every successful run, a read-only copy of the marts (DuckDB + Parquet) for readers.

It depends on every mart, so a failed blocking check anywhere upstream (landing, raw suites, dbt tests, the gamma
audit) skips it and BI keeps reading the previous publication.
"""

import datetime as dt
import functools
import json

import dagster as dg
import duckdb

from pipelines import engine
from pipelines.assets.extracts import to_check_result
from pipelines.checks.freshness import mart_freshness
from pipelines.checks.outcome import CheckOutcome
from pipelines.ingest.extract import days_in_window
from pipelines.metadata import record_partitions, tidy
from pipelines.partitions import window_dates
from pipelines.resources import WarehouseResource
from pipelines.serving.publish import AttachedSource, publish_serving, serving_dir, serving_duckdb_path

SERVING_KEY = dg.AssetKey(["serving", "warehouse"])
FRESHNESS_CHECK = "marts_fresh"
# Marts with a row for every day (event marts such as level breaks and retargets have rows only on some days).
DAILY_MARTS = ("fct_btc_price_daily", "fct_spot_ohlcv_daily", "fct_derivatives_daily", "fct_liquidations_daily",
               "fct_hashrate_daily", "fct_pool_share_daily", "fct_miner_revenue_daily", "fct_dvol_daily",
               "fct_hashprice_daily", "fct_miner_breakeven_daily",
               "mart_market_daily")
# Marts with a row for every day on which their source had something to follow: the prediction mart has rows only
# while a configured market is listed (none before the first listing, none between a resolution and the next
# listing). Such a mart is checked when its raw table holds rows for the last day it must reach, else skipped.
FOLLOWED_MARTS = {"fct_prediction_market_daily": "polymarket__markets"}
SNAPSHOT_MARTS = ("fct_option_chain_snapshot", "fct_gamma_exposure_by_strike", "fct_gamma_summary_daily",
                  "fct_option_vol_daily")
SCHEDULE_TAG = "dagster/schedule_name"


def freshness_as_of(tags: dict[str, str], window_end: dt.date, today: dt.date) -> dt.date:
    """A scheduled run answers to the wall clock (the nightly of D+1 must leave D in every mart); a manual run or
    a backfill answers for its own window (its last day must have reached every mart)."""
    return today if SCHEDULE_TAG in tags else window_end


def build_serving_asset(partitions_def: dg.PartitionsDefinition, mart_keys: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=SERVING_KEY,
        deps=mart_keys,
        group_name="serving",
        kinds={"duckdb", "parquet"},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="Read-only copy of every mart for BI: `<tree>/serving/warehouse.duckdb` and "
                    "`serving/parquet/<table>.parquet`, one version at a time (`serving/versions/<id>`, switched by "
                    "one rename of `serving/current`); readers never wait for the pipeline.",
        check_specs=[dg.AssetCheckSpec(
            FRESHNESS_CHECK, asset=SERVING_KEY,
            description="every daily mart's newest day is at most one day behind (the nightly's date, or the "
                        "run window's end)")],
    )
    def serving_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        settings = warehouse.settings
        start, end = window_dates(context)
        # No connection of this process is open on the pipeline's file here: publish attaches it read-only (a lake
        # the same way, at its newest snapshot). The version records the run that built it and the run's clock
        # (settings.now(), like loaded_at).
        source = (AttachedSource(engine.describe(settings), functools.partial(engine.attach_source, settings))
                  if engine.is_lake(settings) else settings.duckdb_path)
        report = publish_serving(source, serving_dir(settings.tree_dir),
                                 duckdb_config=settings.duckdb_config(), source_run=context.run_id,
                                 published_at=settings.now())
        if report.swept:
            context.log.info(f"swept what an interrupted publish left: {', '.join(report.swept)}")
        context.log.info(f"published version {report.version} ({len(report.tables)} marts, "
                         f"{sum(report.rows.values())} rows) in {report.duration_s:.2f} s to {report.version_dir}")
        # The publication's totals (bytes, tables, rows, time) are the step's: its log. Each day's materialization
        # says what of that day was published, and in which version.
        context.log.info(f"publication: {json.dumps(tidy(report.metadata()), default=str)}")
        path = serving_duckdb_path(settings.tree_dir)
        published = published_rows_per_day(path, start, end)
        record_partitions(context, {day: {"rows_published": sum(published.get(day, {}).values()),
                                          "tables_with_rows": len(published.get(day, {})),
                                          "version": report.version, "serving_duckdb": dg.MetadataValue.path(str(path))}
                                    for day in days_in_window(start, end)})
        yield dg.MaterializeResult()
        as_of = freshness_as_of(context.run.tags, end, settings.now().date())
        with warehouse.connect(read_only=True) as conn:
            followed = [m for m, raw in FOLLOWED_MARTS.items() if _followed_on(conn, raw, as_of - dt.timedelta(days=1))]
            daily = mart_freshness(conn, [("marts", m) for m in (*DAILY_MARTS, *followed)], as_of=as_of)
            snapshots = mart_freshness(conn, [("marts", m) for m in SNAPSHOT_MARTS], as_of=as_of,
                                       date_column="snapshot_date")
        outcome = CheckOutcome(
            daily.passed and snapshots.passed, f"{daily.description} | {snapshots.description}",
            {"as_of": as_of.isoformat(), "marts": {**daily.metadata["marts"], **snapshots.metadata["marts"]}},
        )
        yield to_check_result(outcome, SERVING_KEY, FRESHNESS_CHECK)

    return serving_warehouse


DAY_COLUMNS = ("date", "snapshot_date")  # the marts' day column (dbt's unique keys, the gamma tables')


def published_rows_per_day(serving_path, start: dt.date, end: dt.date) -> dict[dt.date, dict[str, int]]:
    """{day: {table: rows of that day}} in the serving copy for the days of [start, end), read as a BI reader reads
    it (read-only): every published table with a day column, one GROUP BY each."""
    out: dict[dt.date, dict[str, int]] = {}
    with duckdb.connect(str(serving_path), read_only=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name, min(column_name) FROM information_schema.columns "
            "WHERE column_name IN (SELECT unnest(?)) GROUP BY ALL ORDER BY ALL", [list(DAY_COLUMNS)]).fetchall()
        for schema, table, column in tables:
            # Names from the copy's own catalogue, quoted; the bounds are parameters.
            for day, rows in conn.execute(f'SELECT "{column}", count(*) FROM "{schema}"."{table}" WHERE "{column}" '
                                          f'>= ? AND "{column}" < ? GROUP BY 1', [start, end]).fetchall():
                out.setdefault(day, {})[f"{schema}.{table}"] = rows
    return out


def _followed_on(conn, raw_table: str, day: dt.date) -> bool:
    """Whether raw.<raw_table> holds rows of `day` (a market was followed that day), so its mart must reach it."""
    exists = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND "
                          "table_name = ?", [raw_table]).fetchone()[0]
    if not exists:
        return False
    # raw_table is one of FOLLOWED_MARTS' literal values, never user input.
    return conn.execute(f'SELECT count(*) > 0 FROM raw."{raw_table}" WHERE partition_date = ?', [day]).fetchone()[0]
