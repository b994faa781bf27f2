"""Prediction markets: is every configured market followed, and which resolved? (warn-level, never blocking)

A market that resolved, was delisted or is missing must not stop a run (the nightly would stop dbt, gamma and the
BI publish every night after), but someone should hear of it: this check lists, per day of the window, the
configured single markets not found in that day's snapshot, the configured monthly events not listed although
their month has begun, the markets that resolved, and the days whose snapshot failed. Plain data in, CheckOutcome
out: no Dagster here.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from pipelines.checks.outcome import CheckOutcome
from pipelines.sources.prediction_config import PredictionConfig, month_start

MARKETS_DATASET = "polymarket__markets"


def _table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND "
                             "table_name = ?", [schema, table]).fetchone()[0])


def markets_followed(conn: duckdb.DuckDBPyConnection, config: PredictionConfig, days: list[dt.date]) -> CheckOutcome:
    seen: dict[dt.date, set[str]] = {day: set() for day in days}
    events: dict[dt.date, set[str]] = {day: set() for day in days}
    resolved: list[tuple[str, str, dt.datetime]] = []
    failed: dict[dt.date, str] = {}
    if days and _table_exists(conn, "raw", MARKETS_DATASET):
        for day, slug, event_slug in conn.execute(
            f"SELECT partition_date, slug, event_slug FROM raw.{MARKETS_DATASET} "
            "WHERE partition_date BETWEEN ? AND ?", [min(days), max(days)]
        ).fetchall():
            if day in seen:
                seen[day].add(slug)
                if event_slug:
                    events[day].add(event_slug)
        resolved = conn.execute(
            f"SELECT slug, any_value(resolved_outcome), min(resolved_at) FROM raw.{MARKETS_DATASET} "
            "WHERE resolved_at IS NOT NULL AND cast(resolved_at AS DATE) BETWEEN ? AND ? GROUP BY slug ORDER BY 3",
            [min(days), max(days)],
        ).fetchall()
    if days and _table_exists(conn, "raw", "load_log"):
        failed = dict(conn.execute(
            "SELECT partition_date, reason FROM raw.load_log WHERE dataset = ? AND status <> 'loaded' "
            "AND partition_date BETWEEN ? AND ?", [MARKETS_DATASET, min(days), max(days)],
        ).fetchall())

    problems: list[str] = []
    per_day: dict[str, dict[str, object]] = {}
    for day in days:
        missing = [m.slug for m in config.markets if m.asked_on(day, config.grace_days) and m.slug not in seen[day]]
        unlisted = [
            series.slug_of(*month)
            for series in config.series
            for month in series.months_asked(day, config.grace_days)
            if day >= month_start(*month) and series.slug_of(*month) not in events[day]
        ]
        if day in failed:
            problems.append(f"{day}: snapshot failed ({failed[day][:160]})")
        else:
            problems += [f"{day}: market {slug} not found (not listed, delisted, or a wrong slug)" for slug in missing]
            problems += [f"{day}: event {slug} not listed although its month has begun" for slug in unlisted]
        per_day[day.isoformat()] = {"markets": len(seen[day]), "missing": missing, "unlisted_events": unlisted,
                                    "failed": day in failed}
    resolutions = [f"{slug} resolved {outcome} at {at:%Y-%m-%d %H:%M} UTC" for slug, outcome, at in resolved]
    metadata = {"days": per_day, "resolved": resolutions}
    if problems:
        head = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
        return CheckOutcome(False, f"polymarket/markets: {len(problems)} gap(s) in the followed markets: {head}",
                            metadata)
    followed = sum(len(s) for s in seen.values())
    text = f"polymarket/markets: every configured market and event followed ({followed} market-days)"
    return CheckOutcome(True, text + (f"; {len(resolutions)} resolved: " + "; ".join(resolutions[:5])
                                      if resolutions else ""), metadata)
