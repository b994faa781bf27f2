"""The numpy asset beside gamma: the implied-volatility surface per day and currency (BTC and ETH).

One step reads the run's window of marts.fct_option_chain_snapshot (both currencies) in one query, computes per day
the per-expiry smile figures (ATM IV, 25-delta wings, risk reversal, butterfly) and the constant-maturity term
structure (pipelines/analytics/vol_surface.py), audits them, and replaces the window's rows of both tables in one
transaction under the `vol` write lock. A window whose figures fail the audit is not written: the tables keep
their previous rows."""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at definition time.
import datetime as dt

import dagster as dg
import duckdb
import pyarrow as pa

from pipelines.analytics.gamma_daily import split_by_day
from pipelines.analytics.vol_surface import DAILY_SCHEMA, SURFACE_COLUMNS, SURFACE_SCHEMA, vol_tables_for_day
from pipelines.checks.vol_checks import vol_surface_sane
from pipelines.duckdb_tables import replace_declared_windows
from pipelines.engine import VOL_WRITES
from pipelines.ingest.extract import days_in_window
from pipelines.metadata import record_partitions, tidy
from pipelines.partitions import window_dates
from pipelines.resources import WarehouseResource

CHAIN_KEY = dg.AssetKey(["marts", "fct_option_chain_snapshot"])
SURFACE_KEY = dg.AssetKey(["marts", "fct_option_vol_surface"])
DAILY_KEY = dg.AssetKey(["marts", "fct_option_vol_daily"])
VOL_KEYS = (SURFACE_KEY, DAILY_KEY)
SANE_CHECK = "vol_surface_sane"

# table -> (schema, key columns: NOT NULL and unique)
TABLES: dict[str, tuple[pa.Schema, tuple[str, ...]]] = {
    "marts.fct_option_vol_surface": (SURFACE_SCHEMA, ("snapshot_date", "currency", "expiry_date")),
    "marts.fct_option_vol_daily": (DAILY_SCHEMA, ("snapshot_date", "currency")),
}
_TABLE_OF_KEY = {key: f"{key.path[0]}.{key.path[1]}" for key in VOL_KEYS}

_CHAIN_QUERY = f"""
    SELECT snapshot_date, {", ".join(SURFACE_COLUMNS)}
    FROM marts.fct_option_chain_snapshot
    WHERE snapshot_date >= ? AND snapshot_date < ?
    ORDER BY snapshot_date, currency, instrument_name
"""

_DESCRIPTIONS = {
    SURFACE_KEY: "Per day, currency and expiry: forward, ATM IV, 25-delta call/put IV, risk reversal and butterfly "
                 "(vol points).",
    DAILY_KEY: "Per day and currency: ATM IV at 7/30/90 days (total-variance interpolation), 30-day 25-delta risk "
               "reversal and butterfly, 30-90 day term slope (vol points).",
}


class VolSurfaceAuditError(Exception):
    """The computed volatility tables failed their audit and were not written."""


def compute_window(conn: duckdb.DuckDBPyConnection, days: list[dt.date]) -> tuple[dict[str, pa.Table],
                                                                                   dict[dt.date, set[str]]]:
    """Both tables for the window's days (from one read of the chain), and each day's currencies."""
    if not days:
        return {table: schema.empty_table() for table, (schema, _) in TABLES.items()}, {}
    chains = conn.sql(_CHAIN_QUERY, params=[days[0], days[-1] + dt.timedelta(days=1)]).to_arrow_table()
    surfaces, dailies, currencies = [], [], {}
    for day, chain in zip(days, split_by_day(chains, days)):
        surface, daily = vol_tables_for_day(day, chain)
        surfaces.append(surface)
        dailies.append(daily)
        currencies[day] = {c for c in chain.column("currency").to_pylist() if c is not None}
    return {"marts.fct_option_vol_surface": pa.concat_tables(surfaces),
            "marts.fct_option_vol_daily": pa.concat_tables(dailies)}, currencies


def replace_windows(conn: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table], start: dt.date, end: dt.date) -> None:
    """Create the tables if needed and replace the rows of [start, end) of both in ONE transaction."""
    replace_declared_windows(conn, TABLES, tables, "snapshot_date", start, end)


def build_vol_surface_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="option_vol_surface",
        specs=[
            dg.AssetSpec(key, deps=[CHAIN_KEY], group_name="marts", kinds={"numpy", "duckdb"},
                         description=_DESCRIPTIONS[key])
            for key in VOL_KEYS
        ],
        check_specs=[
            dg.AssetCheckSpec(SANE_CHECK, asset=DAILY_KEY, blocking=True,
                              description="every IV finite and in (0, 500] vol points, a term-structure row per "
                                          "day and currency of the chain, RR and BF equal to what the wings give"),
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def option_vol_surface(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        start, end = window_dates(context)
        days = days_in_window(start, end)
        with warehouse.connect() as conn:
            tables, currencies = compute_window(conn, days)
            outcome = vol_surface_sane(tables["marts.fct_option_vol_surface"], tables["marts.fct_option_vol_daily"],
                                       currencies)
            result = dg.AssetCheckResult(
                asset_key=DAILY_KEY, check_name=SANE_CHECK, passed=outcome.passed,
                severity=dg.AssetCheckSeverity.ERROR, description=outcome.description,
                metadata=tidy(outcome.metadata),
            )
            if not outcome.passed:
                yield result
                raise VolSurfaceAuditError(f"volatility surface for [{start}, {end}) not written: "
                                           f"{outcome.description}")
            with warehouse.writing(VOL_WRITES, f"volatility surface [{start}, {end})"):
                replace_windows(conn, tables, start, end)
        context.log.info(f"volatility surface for {len(days)} day(s) [{start}, {end}): "
                         + ", ".join(f"{tables[_TABLE_OF_KEY[k]].num_rows} rows of {k.path[1]}" for k in VOL_KEYS))
        for key, per_day in vol_day_metadata(tables, days).items():
            record_partitions(context, per_day, key)
            yield dg.MaterializeResult(asset_key=key)
        yield result

    return option_vol_surface


def vol_day_metadata(tables: dict[str, pa.Table], days: list[dt.date]) -> dict[dg.AssetKey, dict[dt.date, dict]]:
    """{asset key: {day: figures}}: each table's rows of the day; the daily table's 30-day figures per currency."""
    out: dict[dg.AssetKey, dict[dt.date, dict]] = {key: {day: {"rows": 0} for day in days} for key in VOL_KEYS}
    for key in VOL_KEYS:
        for row in tables[_TABLE_OF_KEY[key]].select(["snapshot_date"]).to_pylist():
            out[key][row["snapshot_date"]]["rows"] += 1
    for row in tables["marts.fct_option_vol_daily"].to_pylist():
        cur = row["currency"].lower()
        out[DAILY_KEY][row["snapshot_date"]].update({
            f"{cur}_atm_iv_30d": row["atm_iv_30d"], f"{cur}_rr_25d_30d": row["rr_25d_30d"],
            f"{cur}_term_slope_30_90": row["term_slope_30_90"],
        })
    return out
