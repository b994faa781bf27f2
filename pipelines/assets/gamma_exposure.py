"""The numpy asset: dealer gamma exposure by strike and the daily summary, per snapshot day."""


import datetime as dt

import dagster as dg
import numpy as np
import pyarrow as pa

from pipelines.analytics.gamma_daily import BY_STRIKE_SCHEMA, SUMMARY_SCHEMA, ChainArrays, gamma_tables_for_day
from pipelines.checks.gamma_checks import gex_totals_finite
from pipelines.duckdb_tables import column_definitions, replace_date_window
from pipelines.ingest.extract import days_in_window
from pipelines.partitions import window_dates
from pipelines.resources import WarehouseResource

CHAIN_KEY = dg.AssetKey(["marts", "fct_option_chain_snapshot"])
BY_STRIKE_KEY = dg.AssetKey(["marts", "fct_gamma_exposure_by_strike"])
SUMMARY_KEY = dg.AssetKey(["marts", "fct_gamma_summary_daily"])
FINITE_CHECK = "gex_totals_finite"

_TABLES = {
    "marts.fct_gamma_exposure_by_strike": (BY_STRIKE_SCHEMA, ("snapshot_date", "strike")),
    "marts.fct_gamma_summary_daily": (SUMMARY_SCHEMA, ("snapshot_date",)),
}

_CHAIN_QUERY = """
    SELECT snapshot_date, strike, time_to_expiry_years, option_type, open_interest_btc, mark_iv,
           forward_usd, index_usd
    FROM marts.fct_option_chain_snapshot
    WHERE snapshot_date = ?
    ORDER BY instrument_name
"""


def build_gamma_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="gamma_exposure",
        specs=[
            dg.AssetSpec(BY_STRIKE_KEY, deps=[CHAIN_KEY], group_name="marts", kinds={"numpy", "duckdb"},
                         description="Dealer GEX (USD per 1% move) by strike per snapshot day, calls, puts and net."),
            dg.AssetSpec(SUMMARY_KEY, deps=[CHAIN_KEY], group_name="marts", kinds={"numpy", "duckdb"},
                         description="Per day: spot, total net GEX, zero-gamma level, call/put walls, regime."),
        ],
        check_specs=[
            dg.AssetCheckSpec(FINITE_CHECK, asset=SUMMARY_KEY, blocking=True,
                              description="every GEX total of the window is finite and every day has a summary"),
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def gamma_exposure(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        start, end = window_dates(context)
        by_strike_parts: list[pa.Table] = []
        summary_parts: list[pa.Table] = []
        with warehouse.connect() as conn:
            for day in days_in_window(start, end):
                chain = conn.sql(_CHAIN_QUERY, params=[day]).to_arrow_table()
                if chain.num_rows == 0:
                    raise RuntimeError(f"marts.fct_option_chain_snapshot has no rows for {day}: nothing to compute")
                by_strike, summary = gamma_tables_for_day(day, ChainArrays.from_table(chain))
                by_strike_parts.append(by_strike)
                summary_parts.append(summary)
            by_strike_all = pa.concat_tables(by_strike_parts) if by_strike_parts else BY_STRIKE_SCHEMA.empty_table()
            summary_all = pa.concat_tables(summary_parts) if summary_parts else SUMMARY_SCHEMA.empty_table()
            conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
            for table, rows in (("marts.fct_gamma_exposure_by_strike", by_strike_all),
                                ("marts.fct_gamma_summary_daily", summary_all)):
                schema, keys = _TABLES[table]
                conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(column_definitions(schema, keys))})")
                replace_date_window(conn, table, "snapshot_date", start, end, rows)
        outcome = gex_totals_finite(summary_all, by_strike_all, days_in_window(start, end))
        last = summary_all.slice(summary_all.num_rows - 1).to_pylist()[0] if summary_all.num_rows else {}
        yield dg.MaterializeResult(asset_key=BY_STRIKE_KEY, metadata={"rows": by_strike_all.num_rows})
        yield dg.MaterializeResult(
            asset_key=SUMMARY_KEY,
            metadata={
                "rows": summary_all.num_rows,
                "last_day": str(last.get("snapshot_date", "")),
                "last_total_net_gex_usd": _finite_or_none(last.get("total_net_gex_usd")),
                "last_zero_gamma_usd": _finite_or_none(last.get("zero_gamma_usd")),
            },
        )
        yield dg.AssetCheckResult(
            asset_key=SUMMARY_KEY, check_name=FINITE_CHECK, passed=outcome.passed,
            description=outcome.description, metadata=outcome.metadata,
        )

    return gamma_exposure


def _finite_or_none(value: float | None) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None
