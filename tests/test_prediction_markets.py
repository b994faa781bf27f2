"""Prediction markets over time: a market resolves, the next month's ladder lists, nothing fails; and the warn-level
check that says what is missing.

The e2e runs are real Dagster materialisations in demo mode (dbt included): the window of issue 12's report
(2026-02-10 … 11, after the January market resolved), a window across the resolution of the headline market
(2026-01-17 … 19), and one before any configured market listed (an empty prediction mart is not stale).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import pytest

from pipelines.assets.prediction_checks import FOLLOWED_CHECK, run_days
from pipelines.checks.prediction_checks import markets_followed
from pipelines.demo.prediction import DEMO_MARKET
from pipelines.runner import materialize_range
from pipelines.sources.polymarket import MARKETS_SCHEMA
from pipelines.sources.prediction_config import parse_config

CONFIG = parse_config(
    'grace_days = 3\n'
    '[[series]]\nname = "monthly"\nevent_slug = "what-price-will-bitcoin-hit-in-{month}-{year}"\n'
    'first_month = "2026-01"\nlist_ahead_months = 1\n'
    f'[[market]]\nslug = "{DEMO_MARKET.slug}"\nlisted = 2025-09-03\nends = 2026-02-01\nheadline = true\n'
)


def markets_table(conn: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    columns = ", ".join(f"{f.name} {'DATE' if f.name in ('partition_date', 'period_start', 'period_end') else 'VARCHAR'}"
                        for f in MARKETS_SCHEMA)
    conn.execute(f"CREATE TABLE raw.polymarket__markets ({columns})")
    conn.execute("ALTER TABLE raw.polymarket__markets ALTER resolved_at TYPE TIMESTAMP")
    for row in rows:
        full = {f.name: row.get(f.name) for f in MARKETS_SCHEMA}
        conn.execute(f"INSERT INTO raw.polymarket__markets VALUES ({', '.join('?' * len(full))})", list(full.values()))


def test_the_check_names_a_missing_market_an_unlisted_event_and_what_resolved():
    day1, day2 = dt.date(2026, 1, 18), dt.date(2026, 1, 19)
    with duckdb.connect() as conn:
        markets_table(conn, [
            {"partition_date": day1, "slug": DEMO_MARKET.slug, "event_slug": DEMO_MARKET.event_slug},
            {"partition_date": day2, "slug": DEMO_MARKET.slug, "event_slug": DEMO_MARKET.event_slug,
             "resolved_outcome": "yes", "resolved_at": dt.datetime(2026, 1, 18, 14, 51)},
            # day 2: the headline is there, but no market of January's event (an event with no markets)
        ])
        conn.execute("UPDATE raw.polymarket__markets SET event_slug = NULL WHERE partition_date = ?", [day2])
        outcome = markets_followed(conn, CONFIG, [day1, day2])
    assert not outcome.passed
    assert ("2026-01-19: event what-price-will-bitcoin-hit-in-january-2026 not listed although its month has begun"
            in outcome.description)
    assert "2026-01-18:" not in outcome.description  # day 1 has both
    assert outcome.metadata["resolved"] == [f"{DEMO_MARKET.slug} resolved yes at 2026-01-18 14:51 UTC"]
    assert "\n" not in outcome.description


def test_the_check_names_a_market_gone_and_a_failed_snapshot_and_passes_on_an_empty_warehouse():
    day = dt.date(2026, 1, 20)
    with duckdb.connect() as conn:
        markets_table(conn, [{"partition_date": day, "slug": "will-bitcoin-dip-to-80000-in-january-2026",
                              "event_slug": DEMO_MARKET.event_slug}])
        outcome = markets_followed(conn, CONFIG, [day])
        assert not outcome.passed and f"{day}: market {DEMO_MARKET.slug} not found" in outcome.description
        conn.execute("CREATE TABLE raw.load_log (dataset VARCHAR, partition_date DATE, status VARCHAR, reason VARCHAR)")
        conn.execute("INSERT INTO raw.load_log VALUES ('polymarket__markets', ?, 'failed', 'HTTP 503')", [day])
        outcome = markets_followed(conn, CONFIG, [day])
        assert outcome.description.endswith(f"{day}: snapshot failed (HTTP 503)")
    with duckdb.connect() as conn:
        assert markets_followed(conn, CONFIG, []).passed  # a run with no covered day


def test_run_days_come_from_the_run_tags():
    assert run_days({"dagster/asset_partition_range_start": "2026-01-30",
                     "dagster/asset_partition_range_end": "2026-02-01"}) == [
        dt.date(2026, 1, 30), dt.date(2026, 1, 31), dt.date(2026, 2, 1)]
    assert run_days({"dagster/partition": "2026-01-30"}) == [dt.date(2026, 1, 30)]
    assert run_days({}) == []


# ---- real runs ---------------------------------------------------------------------------------------------------


def demo_run(tmp_path, first: dt.date, last: dt.date) -> tuple[dg.ExecuteInProcessResult, object]:
    from pipelines.settings import Settings, SourceMode

    settings = Settings(source_mode=SourceMode.DEMO, warehouse_dir=tmp_path, start_date=first)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(settings, first, last, instance)
    failures = [e.message for e in result.all_events if e.is_failure]
    failed_checks = [e.description for e in result.get_asset_check_evaluations()
                     if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    assert result.success and not failed_checks, (failures, failed_checks)
    return result, settings


def followed_check(result: dg.ExecuteInProcessResult):
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == FOLLOWED_CHECK]
    return evaluation


@pytest.mark.e2e
def test_after_the_headline_market_resolved_the_nightly_keeps_going(tmp_path):
    """Issue 12's repro: `make backfill START=2026-02-10 END=2026-02-11` failed on the resolved January market."""
    result, settings = demo_run(tmp_path, dt.date(2026, 2, 10), dt.date(2026, 2, 11))
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        periods = conn.execute("SELECT DISTINCT period_start FROM marts.fct_prediction_market_daily "
                               "ORDER BY 1").fetchall()
        headline = conn.execute("SELECT count(*) FROM marts.fct_prediction_market_daily WHERE is_headline").fetchone()
        dashboard = conn.execute("SELECT date, yes_probability FROM marts.mart_market_daily ORDER BY date").fetchall()
        february = conn.execute(
            "SELECT date, threshold_usd, direction, yes_probability, yes_probability_source, price_points "
            "FROM marts.fct_prediction_market_daily WHERE period_start = date '2026-02-01' ORDER BY ALL").fetchall()
    # February's ladder (and March's, listed on the 25th of February, not yet) is followed; January's is done
    assert periods == [(dt.date(2026, 2, 1),)] and headline == (0,)
    assert dashboard == [(dt.date(2026, 2, 10), None), (dt.date(2026, 2, 11), None)]  # the headline is over
    assert february and all(0 <= p <= 1 and source in ("prices_history", "gamma_snapshot")
                            for _, _, _, p, source, _ in february)
    assert {d for d, *_ in february} == {dt.date(2026, 2, 10), dt.date(2026, 2, 11)}
    assert followed_check(result).passed


@pytest.mark.e2e
def test_a_window_across_the_resolution_records_it_and_one_before_any_listing_is_empty_not_stale(tmp_path):
    result, settings = demo_run(tmp_path / "resolution", dt.date(2026, 1, 17), dt.date(2026, 1, 19))
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT date, yes_probability, resolved_outcome, resolved_at FROM marts.fct_prediction_market_daily "
            "WHERE threshold_usd = 100000 AND direction = 'reach' AND period_start = date '2026-01-01' ORDER BY date"
        ).fetchall()
    # the demo path reaches $100k on 2026-01-18 (a Binance 1m high): resolved YES that day, its last row (the
    # January event, open for its other rungs, still lists it as closed on the 19th)
    assert [r[0] for r in rows] == [dt.date(2026, 1, 17), dt.date(2026, 1, 18)]
    assert rows[0][2] is None and rows[0][1] < 1
    assert rows[1][2] == "yes" and rows[1][3].date() == dt.date(2026, 1, 18) and rows[1][1] > 0.99
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        assert conn.execute("SELECT closed, resolved_outcome FROM raw.polymarket__markets WHERE slug = ? AND "
                            "partition_date = date '2026-01-19'", [DEMO_MARKET.slug]).fetchall() == [(True, "yes")]
    assert "resolved yes" in followed_check(result).description

    result, settings = demo_run(tmp_path / "before", dt.date(2025, 6, 1), dt.date(2025, 6, 2))
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM marts.fct_prediction_market_daily").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM raw.load_log WHERE dataset = 'polymarket__markets' "
                            "AND status = 'loaded' AND rows_loaded = 0").fetchone() == (2,)
    fresh = [e for e in result.get_asset_check_evaluations() if e.check_name == "marts_fresh"]
    assert fresh and fresh[0].passed
