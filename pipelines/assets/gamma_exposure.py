"""The numpy asset: dealer gamma exposure per snapshot day, eight tables and a picture.

One step reads the run's window of marts.fct_option_chain_snapshot (BTC and ETH) in one query, computes for every
day and currency the tables of pipelines/analytics/gamma_daily.py (each table has a `currency` column), audits them,
replaces the window's rows of all eight tables in one DuckDB transaction (a reader never sees a day's summary without
its profile), then writes the BTC chain's picture of every day to <tree>/reports/gamma/<YYYY-MM-DD>.png (the daily
report's; ETH's figures are in the tables and the metadata, its picture is not drawn: it would double this step's
time); each day's materialisation carries its own figures and picture file, and the window's last day shows its
picture.

Tables built by an older release (no `currency` column, no assumption columns, or a gamma table missing beside the
others): the first run of this code rebuilds all eight from every day of the chain mart (BTC as before, and ETH
wherever the mart has its chain) in one transaction, and says so in its log.

The assumptions (BTCW_GAMMA_* settings: dealer convention, near-expiry policy, level band, flip-move threshold) are
read from the warehouse resource's settings and recorded on every row. The flip events of a day compare it with the
day before, so a run also rewrites the events of the day after its window (from that day's stored summary).

Where a backfill's time goes: the pictures were ~90% of this step (82 days profiled, 0.7-1 s of CPU a day in
matplotlib: two draws for constrained layout, a Rectangle artist per bar).  render_gamma_png now draws once with
fixed margins and the bars as one collection: ~0.19-0.23 s a day (median, 10 days x 5, on this 2-core machine
shared with a busy neighbour; ~0.74 s before, side by side on the same days), most of it matplotlib rasterising text,
next to ~50 ms for a day's numbers (mostly the profile kernel) and the read, the audit and the write.  A window of
more than BTCW_GAMMA_CHUNK_DAYS days has its numbers and pictures computed in chunks by up to BTCW_GAMMA_WORKERS
processes side by side (pipelines/analytics/gamma_chunks.py); the audit and the one transaction stay here, and the
tables are the same whatever the workers.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at definition time.
import csv
import datetime as dt
import os
import tempfile
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa

from pipelines.analytics.gamma_daily import (
    BY_EXPIRY_STRIKE_SCHEMA,
    BY_STRIKE_SCHEMA,
    CHAIN_COLUMNS,
    COLUMN_DOCS,
    DOWNSIDE_SCHEMA,
    FLIP_EVENTS_SCHEMA,
    LEVEL_BANDS_SCHEMA,
    PROFILE_SCHEMA,
    REGIME_BANDS_SCHEMA,
    SUMMARY_SCHEMA,
    Assumptions,
    GammaDay,
    flip_events,
    split_by_day,
)
from pipelines.analytics.gamma_chunks import ChunkPlan, GammaWindow, compute_in_chunks
from pipelines.analytics.gamma_plot import markdown_image
from pipelines.checks.gamma_checks import gamma_tables_reconcile, gex_totals_finite
from pipelines.checks.outcome import CheckOutcome
from pipelines.duckdb_tables import column_definitions, replace_declared_windows, transaction
from pipelines.engine import GAMMA_WRITES
from pipelines.ingest.extract import days_in_window
from pipelines.metadata import record_partitions, tidy
from pipelines.partitions import window_dates
from pipelines.resources import WarehouseResource

CHAIN_KEY = dg.AssetKey(["marts", "fct_option_chain_snapshot"])
BY_STRIKE_KEY = dg.AssetKey(["marts", "fct_gamma_exposure_by_strike"])
BY_EXPIRY_STRIKE_KEY = dg.AssetKey(["marts", "fct_gamma_exposure_by_expiry_strike"])
PROFILE_KEY = dg.AssetKey(["marts", "fct_gamma_profile"])
REGIME_BANDS_KEY = dg.AssetKey(["marts", "fct_gamma_regime_bands"])
SUMMARY_KEY = dg.AssetKey(["marts", "fct_gamma_summary_daily"])
LEVEL_BANDS_KEY = dg.AssetKey(["marts", "fct_gamma_level_bands"])
DOWNSIDE_KEY = dg.AssetKey(["marts", "fct_gamma_downside_daily"])
FLIP_EVENTS_KEY = dg.AssetKey(["marts", "fct_gamma_flip_events"])
GAMMA_KEYS = (BY_STRIKE_KEY, BY_EXPIRY_STRIKE_KEY, PROFILE_KEY, REGIME_BANDS_KEY, SUMMARY_KEY, LEVEL_BANDS_KEY,
              DOWNSIDE_KEY, FLIP_EVENTS_KEY)
FINITE_CHECK = "gex_totals_finite"
RECONCILE_CHECK = "gamma_tables_reconcile"

# table -> (schema, key columns: NOT NULL and unique per day)
TABLES: dict[str, tuple[pa.Schema, tuple[str, ...]]] = {
    "marts.fct_gamma_exposure_by_strike": (BY_STRIKE_SCHEMA, ("snapshot_date", "currency", "strike")),
    "marts.fct_gamma_exposure_by_expiry_strike": (BY_EXPIRY_STRIKE_SCHEMA,
                                                  ("snapshot_date", "currency", "expiry_date", "strike")),
    "marts.fct_gamma_profile": (PROFILE_SCHEMA, ("snapshot_date", "currency", "price_level_usd")),
    "marts.fct_gamma_regime_bands": (REGIME_BANDS_SCHEMA, ("snapshot_date", "currency", "low_usd")),
    "marts.fct_gamma_summary_daily": (SUMMARY_SCHEMA, ("snapshot_date", "currency")),
    "marts.fct_gamma_level_bands": (LEVEL_BANDS_SCHEMA, ("snapshot_date", "currency", "level_usd")),
    "marts.fct_gamma_downside_daily": (DOWNSIDE_SCHEMA, ("snapshot_date", "currency")),
    "marts.fct_gamma_flip_events": (FLIP_EVENTS_SCHEMA, ("snapshot_date", "currency", "event")),
}
FLIP_EVENTS_TABLE = "marts.fct_gamma_flip_events"  # computed across days (flip_events), not in GammaDay
_FIELD = {  # GammaDay attribute of each table
    "marts.fct_gamma_exposure_by_strike": "by_strike",
    "marts.fct_gamma_exposure_by_expiry_strike": "by_expiry_strike",
    "marts.fct_gamma_profile": "profile",
    "marts.fct_gamma_regime_bands": "regime_bands",
    "marts.fct_gamma_summary_daily": "summary",
    "marts.fct_gamma_level_bands": "level_bands",
    "marts.fct_gamma_downside_daily": "downside",
}
TABLE_OF_KEY = {key: f"{key.path[0]}.{key.path[1]}" for key in GAMMA_KEYS}

# The whole window in one query: one DuckDB round trip and one Arrow conversion per run instead of one per day.
# Ordered by (day, currency, instrument) so that each day's and currency's slice has the row order a per-day query of
# that currency had (the sums, so every figure, are bit for bit the same).
_CHAIN_QUERY = f"""
    SELECT snapshot_date, currency, {", ".join(CHAIN_COLUMNS)}
    FROM marts.fct_option_chain_snapshot
    WHERE snapshot_date >= ? AND snapshot_date < ?
    ORDER BY snapshot_date, currency, instrument_name
"""
PICTURE_CURRENCY = "BTC"  # the chain whose picture is drawn (<day>.png) and whose figures keep their metadata names

_DESCRIPTIONS = {
    BY_STRIKE_KEY: "Dealer GEX (USD per 1% move) by strike per snapshot day, calls, puts and net, with OI.",
    BY_EXPIRY_STRIKE_KEY: "Dealer GEX (USD per 1% move) by expiry and strike per snapshot day; sums to by strike.",
    PROFILE_KEY: "Total net GEX if spot moved to each level: 0.5x-1.5x spot in 0.25% steps, plus exact crossings.",
    REGIME_BANDS_KEY: "Price ranges (0.5x-1.5x spot) where dealers are long / short gamma, edges at exact crossings.",
    SUMMARY_KEY: "Per day: spot, total net GEX (with and without same-day expiries), gross GEX, zero-gamma level, "
                 "call/put walls, regime, near-spot concentration.",
    LEVEL_BANDS_KEY: "Net and gross GEX (USD per 1% move) of the strikes within +/- BTCW_GAMMA_LEVEL_BAND_PCT of a "
                     "level: spot, zero gamma, the configured price levels, round numbers within 10% of spot.",
    DOWNSIDE_KEY: "Below the flip: the short-gamma band, its peak, the acceleration zone (short gamma >= half its "
                  "peak), the largest put-OI strike below it and the downside target range (that strike to the "
                  "zone's low edge).",
    FLIP_EVENTS_KEY: "Days spot crossed the zero-gamma level (down/up) and days the level moved more than "
                     "BTCW_GAMMA_FLIP_MOVE_PCT from the day before.",
}

# The price levels of marts.fct_price_level_events (a dbt seed): BTC levels, each gets a level band in BTC's rows.
PRICE_LEVELS_CSV = Path(__file__).resolve().parents[2] / "dbt" / "seeds" / "price_levels.csv"
CONFIGURED_LEVELS_CURRENCY = "BTC"


def configured_levels(path: Path = PRICE_LEVELS_CSV) -> tuple[tuple[float, str], ...]:
    """((level_usd, level_label), ...) of the seed marts.fct_price_level_events reads; a bad file is one line."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return tuple((float(row["level_usd"]), row["level_label"]) for row in csv.DictReader(handle))
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise RuntimeError(f"price levels {path}: not readable as level_usd,level_kind,level_label ({error})") from None


def column_schema(key: dg.AssetKey) -> dg.TableSchema:
    """The table's columns with their types and meanings (COLUMN_DOCS), shown in the Dagster UI."""
    schema, keys = TABLES[TABLE_OF_KEY[key]]
    return dg.TableSchema(columns=[
        dg.TableColumn(field.name, str(field.type), description=COLUMN_DOCS[field.name],
                       constraints=dg.TableColumnConstraints(nullable=field.name not in keys))
        for field in schema])


def reports_dir(tree_dir: Path) -> Path:
    return Path(tree_dir) / "reports" / "gamma"


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write aside in the same folder, then rename: a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_windows(conn: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table], start: dt.date, end: dt.date) -> None:
    """Create the tables if needed and replace the rows of [start, end) of every one of them in ONE transaction; the
    flip events' of [start, end] (the day after the window compares with the window's last day)."""
    replace_declared_windows(conn, TABLES, tables, "snapshot_date", start, end,
                             windows={FLIP_EVENTS_TABLE: (start, end + dt.timedelta(days=1))})


def rebuild_tables(conn: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Drop the gamma tables and create them anew holding `tables`, in ONE transaction (readers see the old tables or
    the new ones): how tables of an older layout are upgraded."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
    with transaction(conn):
        for table, (schema, keys) in TABLES.items():
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE TABLE {table} ({', '.join(column_definitions(schema, keys))})")
            conn.register("incoming_rows", tables[table])
            conn.execute(f"INSERT INTO {table} SELECT * FROM incoming_rows")
            conn.unregister("incoming_rows")


def outdated_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """The gamma tables that exist with other columns than this code writes (built by an older release), and, when
    any gamma table exists, those missing (added by a newer release): all are rebuilt from the chain mart."""
    found: dict[str, list[str]] = {}
    for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'marts' "
            "AND table_catalog = current_database() ORDER BY table_name, ordinal_position").fetchall():
        found.setdefault(f"marts.{table}", []).append(column)
    if not any(table in found for table in TABLES):
        return []  # a new warehouse: the tables are created by the first write
    return [table for table, (schema, _) in TABLES.items() if found.get(table) != schema.names]


def stored_summaries(conn: duckdb.DuckDBPyConnection, days: list[dt.date]) -> list[dict]:
    """The stored summary rows of the day before and the day after ``days`` (the neighbours the window's flip events
    compare with), when the summary table exists."""
    if not days or not conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts' "
            "AND table_name = 'fct_gamma_summary_daily' AND table_catalog = current_database()").fetchone()[0]:
        return []
    return conn.sql(
        "SELECT snapshot_date, currency, spot_usd, zero_gamma_usd FROM marts.fct_gamma_summary_daily "
        "WHERE snapshot_date IN (?, ?) ORDER BY snapshot_date, currency",
        params=[days[0] - dt.timedelta(days=1), days[-1] + dt.timedelta(days=1)]).to_arrow_table().to_pylist()


def chain_days(conn: duckdb.DuckDBPyConnection) -> list[dt.date]:
    """Every snapshot day the chain mart holds, ascending."""
    return [day for (day,) in conn.execute(
        "SELECT DISTINCT snapshot_date FROM marts.fct_option_chain_snapshot ORDER BY 1").fetchall()]


def compute_window(conn: duckdb.DuckDBPyConnection, days: list[dt.date], assumptions: Assumptions = Assumptions(),
                   plan: ChunkPlan = ChunkPlan(), picture_days: frozenset[dt.date] = frozenset()) -> GammaWindow:
    """The per-day tables of every day of ``days`` (ascending) and every currency its chain has, from one read of the
    chain mart over [days[0], days[-1]], computed in chunks as ``plan`` says; BTC's picture of each of
    ``picture_days``."""
    if not days:
        return GammaWindow()
    chains = conn.sql(_CHAIN_QUERY, params=[days[0], days[-1] + dt.timedelta(days=1)]).to_arrow_table()
    empty = [day for day, chain in zip(days, split_by_day(chains, days)) if chain.num_rows == 0]
    if empty:
        raise RuntimeError(f"marts.fct_option_chain_snapshot has no rows for {empty[0]}: nothing to compute")
    return compute_in_chunks(chains, days, plan, assumptions=assumptions, configured_levels=configured_levels(),
                             levels_currency=CONFIGURED_LEVELS_CURRENCY, picture_days=picture_days,
                             picture_currency=PICTURE_CURRENCY)


def concat_days(results: list[tuple[dt.date, str, GammaDay]], neighbours: list[dict] = (),
                assumptions: Assumptions = Assumptions()) -> dict[str, pa.Table]:
    """Every table's rows of ``results``; the flip events of their days and of a stored day right after them
    (``neighbours``: stored summary rows of the days before and after, see stored_summaries)."""
    out = {}
    for table, (schema, _) in TABLES.items():
        if table == FLIP_EVENTS_TABLE:
            continue
        parts = [getattr(result, _FIELD[table]) for _, _, result in results]
        out[table] = pa.concat_tables(parts) if parts else schema.empty_table()
    computed = out["marts.fct_gamma_summary_daily"].select(["snapshot_date", "currency", "spot_usd",
                                                            "zero_gamma_usd"]).to_pylist()
    have = {(r["snapshot_date"], r["currency"]) for r in computed}
    out[FLIP_EVENTS_TABLE] = flip_events(
        computed + [r for r in neighbours if (r["snapshot_date"], r["currency"]) not in have], assumptions)
    return {table: out[table] for table in TABLES}


def audit(tables: dict[str, pa.Table], days: list[dt.date]) -> tuple[tuple[str, CheckOutcome], ...]:
    """The step's two checks on the tables computed for ``days``, before anything is written: (name, outcome)."""
    summary, by_strike = tables["marts.fct_gamma_summary_daily"], tables["marts.fct_gamma_exposure_by_strike"]
    return ((FINITE_CHECK, gex_totals_finite(summary, by_strike, days)),
            (RECONCILE_CHECK, gamma_tables_reconcile(
                summary, by_strike, tables["marts.fct_gamma_exposure_by_expiry_strike"],
                tables["marts.fct_gamma_profile"], tables["marts.fct_gamma_regime_bands"],
                tables["marts.fct_gamma_level_bands"], tables["marts.fct_gamma_downside_daily"])))


def build_gamma_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="gamma_exposure",
        specs=[
            dg.AssetSpec(key, deps=[CHAIN_KEY], group_name="marts", kinds={"numpy", "duckdb"},
                         description=_DESCRIPTIONS[key], metadata={"dagster/column_schema": column_schema(key)})
            for key in GAMMA_KEYS
        ],
        check_specs=[
            dg.AssetCheckSpec(FINITE_CHECK, asset=SUMMARY_KEY, blocking=True,
                              description="every GEX total of the window is finite and every day has a summary"),
            dg.AssetCheckSpec(RECONCILE_CHECK, asset=SUMMARY_KEY, blocking=True,
                              description="by-expiry sums equal by-strike; profile at spot equals the total; "
                                          "regime bands tile the profile grid and agree with its sign; level "
                                          "bands equal by-strike sums; totals with/without same-day expiries "
                                          "agree with the policy; downside rows follow the flip"),
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def gamma_exposure(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        start, end = window_dates(context)
        days = days_in_window(start, end)
        assumptions = Assumptions.from_settings(warehouse.settings)
        with warehouse.connect() as conn:
            outdated = outdated_tables(conn)
            # Tables of an older layout are rebuilt whole, from every day the chain mart holds (and the window's).
            computed = sorted(set(chain_days(conn)) | set(days)) if outdated else days
            # A rebuilt day outside the window keeps its picture (BTC's figures are unchanged): only the window's
            # are drawn.
            window = compute_window(conn, computed, assumptions, ChunkPlan.from_settings(warehouse.settings),
                                    picture_days=frozenset(days))
            results = window.days
            tables = concat_days(results, [] if outdated else stored_summaries(conn, computed), assumptions)
            # Audit before publishing: tables that fail their checks are never written, so the marts keep their
            # previous rows and the dashboard mart and the BI publish, which depend on these, do not run.
            checks = audit(tables, computed)
            if not all(outcome.passed for _, outcome in checks):
                yield from _check_results(checks)
                failed = "; ".join(o.description for _, o in checks if not o.passed)
                raise GammaAuditError(f"gamma exposure for [{start}, {end}) not written: {failed}")
            with warehouse.writing(GAMMA_WRITES, f"gamma exposure [{start}, {end})"):
                if outdated:
                    rebuild_tables(conn, tables)
                else:
                    replace_windows(conn, tables, start, end)
        if outdated:
            context.log.warning(f"{', '.join(outdated)} had the layout of an older release (or were missing): "
                                f"all {len(TABLES)} gamma tables rebuilt from the {len(computed)} day(s) of "
                                f"marts.fct_option_chain_snapshot ({computed[0]} … {computed[-1]})")

        folder = reports_dir(warehouse.settings.tree_dir)
        pictures: dict[dt.date, Path] = {}
        for day, png in sorted(window.pictures.items()):
            pictures[day] = folder / f"{day.isoformat()}.png"
            write_bytes_atomic(pictures[day], png)
        # the last day's picture is shown in its metadata (only its bytes are kept: a year's would be ~36 MB)
        last_png = window.pictures[max(window.pictures)] if window.pictures else b""

        # The window's totals are the step's (its log); each day's own figures go on that day's materialization.
        context.log.info(f"gamma exposure for {len(days)} day(s) [{start}, {end}): "
                         + ", ".join(f"{tables[TABLE_OF_KEY[k]].num_rows} rows of {k.path[1]}" for k in GAMMA_KEYS)
                         + f"; pictures in {folder}")
        wanted = set(days)
        in_window = [r for r in results if r[0] in wanted]
        for key, per_day in gamma_day_metadata(in_window, pictures, last_png, tables[FLIP_EVENTS_TABLE]).items():
            record_partitions(context, per_day, key)
            yield dg.MaterializeResult(asset_key=key)
        yield from _check_results(checks)

    return gamma_exposure


class GammaAuditError(Exception):
    """The computed gamma tables failed their checks and were not written."""


def gamma_day_metadata(results: list[tuple[dt.date, str, GammaDay]], pictures: dict[dt.date, Path],
                       last_png: bytes, events: pa.Table | None = None) -> dict[dg.AssetKey, dict[dt.date, dict]]:
    """{asset key: {day: that day's figures}}: each table's rows of the day (every currency); the summary's figures
    of the day, BTC's under their names and another currency's prefixed (`eth_zero_gamma_usd`); BTC's picture file.
    The picture itself is shown on the window's last day only: one PNG per day in the run's events would weigh
    ~100 KB a day (a year's backfill: ~36 MB of event log); `picture_file` names every day's."""
    out: dict[dg.AssetKey, dict[dt.date, dict]] = {key: {} for key in GAMMA_KEYS}
    last = max((day for day, _, _ in results), default=None)
    for day, currency, result in results:
        for key in GAMMA_KEYS:
            entry = out[key].setdefault(day, {"rows": 0})
            if key != FLIP_EVENTS_KEY:
                entry["rows"] += getattr(result, _FIELD[TABLE_OF_KEY[key]]).num_rows
            elif currency == PICTURE_CURRENCY and events is not None:  # once a day: every currency's events
                entry["rows"] = sum(1 for d in events.column("snapshot_date").to_pylist() if d == day)
        row = result.summary.to_pylist()[0] if result.summary.num_rows else {}
        summary = out[SUMMARY_KEY][day]
        prefix = "" if currency == PICTURE_CURRENCY else f"{currency.lower()}_"
        for column in ("spot_usd", "total_net_gex_usd", "zero_gamma_usd", "call_wall_usd", "put_wall_usd",
                       "gex_within_2pct_of_spot_usd"):
            summary[prefix + column] = _finite_or_none(row.get(column))
        summary.update({f"{prefix}regime": row.get("regime"), f"{prefix}rows_used": row.get("rows_used"),
                        f"{prefix}rows_excluded": row.get("rows_excluded")})
        if currency != PICTURE_CURRENCY:
            continue
        summary["picture_file"] = dg.MetadataValue.path(str(pictures[day]))
        if day == last:
            summary["picture"] = dg.MetadataValue.md(markdown_image(last_png, f"Dealer gamma exposure {day.isoformat()}"))
    return out


def _check_results(checks):
    for name, outcome in checks:
        yield dg.AssetCheckResult(
            asset_key=SUMMARY_KEY, check_name=name, passed=outcome.passed,
            severity=dg.AssetCheckSeverity.ERROR, description=outcome.description, metadata=tidy(outcome.metadata),
        )


def _finite_or_none(value: float | None) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None
