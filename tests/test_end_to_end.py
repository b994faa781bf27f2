"""Real Dagster runs (extracts, dbt build, numpy gamma) into a temporary warehouse, in demo and replay modes."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest
from dagster._core.utils import make_new_run_id
from bi_clients.clients import assert_every_client_reads_the_copy

from pipelines.assets.gamma_exposure import reports_dir
from pipelines.cli import planned_events
from pipelines.dbt_project import DBT_PROJECT_DIR
from pipelines.metadata import round_float
from pipelines.progress import run_with_progress
from pipelines.runner import materialize_range, range_job
from pipelines.settings import Settings, SourceMode
from pipelines.sources.registry import DATASETS

pytestmark = pytest.mark.e2e

FIRST, LAST = dt.date(2025, 11, 19), dt.date(2025, 11, 21)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(3)]
# Marts with rows on every day (events and retargets happen only on some days).
MARTS = ("fct_btc_price_daily", "fct_spot_ohlcv_daily", "fct_derivatives_daily", "fct_liquidations_daily",
         "fct_prediction_market_daily", "fct_hashrate_daily", "fct_pool_share_daily", "fct_miner_revenue_daily",
         "fct_option_chain_snapshot", "fct_gamma_exposure_by_strike", "fct_gamma_summary_daily", "mart_market_daily",
         "fct_option_vol_surface", "fct_option_vol_daily", "fct_dvol_daily", "fct_hashprice_daily",
         "fct_miner_breakeven_daily")


def snapshot_tables(duckdb_path, schemas=("raw", "marts")) -> dict[str, list[tuple]]:
    """Every table's rows without lineage columns (the only ones starting with '_'), in a stable order."""
    with duckdb.connect(str(duckdb_path), read_only=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN (SELECT unnest(?)) AND table_type = 'BASE TABLE' ORDER BY ALL",
            [list(schemas)],
        ).fetchall()
        result = {}
        for schema, table in tables:
            columns = [c for (c,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
                "ORDER BY ordinal_position", [schema, table]).fetchall() if not c.startswith("_")]
            select = ", ".join(f'"{c}"' for c in columns)
            result[f"{schema}.{table}"] = conn.execute(f'SELECT {select} FROM {schema}."{table}" ORDER BY ALL').fetchall()
        return result


def data_tables(settings: Settings) -> dict[str, list[tuple]]:
    """Raw and mart tables, without the load's own records (raw.load_log and raw.quarantine note every attempt)."""
    tables = snapshot_tables(settings.duckdb_path)
    return {name: rows for name, rows in tables.items() if name not in ("raw.load_log", "raw.quarantine")}


def run(settings: Settings) -> dg.ExecuteInProcessResult:
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(settings, FIRST, LAST, instance)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


PROGRESS: dict[str, str] = {}  # the demo run's progress lines, as a CI log shows them (not a terminal)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's three days in one real run, followed by the CLI's progress line (pipelines/progress.py)."""
    settings = Settings(source_mode=SourceMode.DEMO, warehouse_dir=tmp_path_factory.mktemp("wh"),
                        start_date=dt.date(2025, 10, 1))
    job, run_id, out = range_job(settings), make_new_run_id(), io.StringIO()
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_with_progress(lambda: materialize_range(settings, FIRST, LAST, instance, run_id=run_id, job=job),
                                   instance, run_id, total_steps=len(job.graph.nodes), out=out,
                                   planned=planned_events(job, len(DAYS)))
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    PROGRESS["demo"] = out.getvalue()
    return settings, result, snapshot_tables(settings.duckdb_path)


def test_every_mart_has_rows_for_every_day(demo):
    settings, _, tables = demo
    for mart in MARTS:
        days = {row[0] for row in tables[f"marts.{mart}"]}
        assert days == set(DAYS), mart
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        prices = conn.sql("SELECT * FROM marts.fct_btc_price_daily").fetchall()
        hashrate = conn.sql("SELECT hashrate_ehs, hashrate_7d_avg_ehs, days_in_7d_avg, difficulty "
                            "FROM marts.fct_hashrate_daily").fetchall()
    for date, open_, high, low, close, source_count, divergence in prices:
        assert source_count == 2
        assert low <= min(open_, close) <= max(open_, close) <= high
        assert 20_000 < close < 300_000
        assert 0 <= divergence < 1
    for hashrate_ehs, avg7, days_in_avg, difficulty in hashrate:
        assert 100 < hashrate_ehs < 5_000 and 100 < avg7 < 5_000 and difficulty > 1e12
        assert 1 <= days_in_avg <= 7


def test_liquidations_are_market_wide_every_day_with_coverage_and_every_order_is_in_the_serving_copy(demo):
    """The streams' three venues plus 'all' on every day, each with a whole day of stream coverage (the demo lands
    the collector's files), and the event-level table published for BI with every order of the daily mart."""
    settings, _, _ = demo
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        daily = conn.execute("SELECT date, exchange, orders, stream_covered_s, throttled, long_share_pct "
                             "FROM marts.fct_liquidations_daily ORDER BY ALL").fetchall()
    assert {(d, e) for d, e, *_ in daily} == {(d, e) for d in DAYS for e in ("all", "binance", "bybit", "okx")}
    assert all(covered == 86400 for _d, _e, _n, covered, _t, _l in daily)
    assert {e: t for _d, e, _n, _c, t, _l in daily} == {"all": True, "binance": True, "bybit": False, "okx": True}
    # The demo's report says on its page that the data is simulated.
    assert "Simulated data: " in (settings.tree_dir / "reports" / f"{LAST}.html").read_text(encoding="utf-8")
    serving = settings.tree_dir / "serving" / "warehouse.duckdb"
    with duckdb.connect(str(serving), read_only=True) as conn:
        events = dict(conn.execute("SELECT date, count(*) FROM marts.fct_liquidation_events GROUP BY 1").fetchall())
    assert events == {d: n for d, e, n, *_ in daily if e == "all"}


def test_the_serving_copy_opens_in_the_clients_bi_users_have(demo, tmp_path):
    """Every mart of a real run, published, read by DuckDB's Python packages 1.1-1.5, its CLI and its Node.js client
    (tests/test_bi_clients.py, README › Clients tested): the same rows as the pipeline's DuckDB reads."""
    settings, _, _ = demo
    names = assert_every_client_reads_the_copy(settings.tree_dir / "serving", tmp_path)
    assert len(names) >= 6, names


def test_gamma_summary_is_finite_and_consistent_with_by_strike(demo):
    """Per day and currency (BTC and ETH every demo day): the total is the by-strike sum, the walls are strikes."""
    _, _, tables = demo
    by_strike = tables["marts.fct_gamma_exposure_by_strike"]
    summaries = tables["marts.fct_gamma_summary_daily"]
    assert sorted((r[0], r[1]) for r in summaries) == [(d, c) for d in DAYS for c in ("BTC", "ETH")]
    for day, currency, spot, total, zero_gamma, call_wall, put_wall, regime, near, used, excluded, *_ in summaries:
        strikes = [r for r in by_strike if (r[0], r[1]) == (day, currency)]
        assert math.isclose(total, sum(r[5] for r in strikes), rel_tol=1e-9)
        assert all(math.isclose(r[3] + r[4], r[5], rel_tol=1e-9, abs_tol=1e-6) for r in strikes)
        assert regime == ("long_gamma" if total >= 0 else "short_gamma")
        assert used > 100 and excluded >= 0
        assert call_wall in {r[2] for r in strikes} and put_wall in {r[2] for r in strikes}
        assert zero_gamma is None or 0.5 * spot <= zero_gamma <= 1.5 * spot
        assert (1_000 < spot < 10_000) if currency == "ETH" else (20_000 < spot < 300_000)


def test_landing_archive_holds_every_body_in_the_fixed_layout(demo):
    """A now-only source lands one body per day; a range-capable one, one body for the window's days."""
    settings, _, _ = demo
    for day in DAYS:
        folder = settings.landing_dir / "deribit/option_book_summary" / f"date={day.isoformat()}"
        fetched_at = (day + dt.timedelta(days=1)).strftime("%Y%m%dT003000Z")
        assert (folder / f"{fetched_at}.json.gz").is_file()
        assert (folder / f"{fetched_at}.meta.json").is_file()
    fetched_at = (LAST + dt.timedelta(days=1)).strftime("%Y%m%dT003000Z")
    for dataset in ("binance/spot_klines_1d", "mempool/hashrate", "binance/funding_rate"):
        assert not list((settings.landing_dir / dataset).glob("date=*"))
        folder = settings.landing_dir / dataset / f"range={FIRST.isoformat()}_{LAST.isoformat()}"
        assert sorted(p.name for p in folder.iterdir()) == [f"{fetched_at}.json.gz", f"{fetched_at}.meta.json"]


def test_every_check_ran_and_passed(demo):
    _, result, _ = demo
    evaluations = result.get_asset_check_evaluations()
    names = {(e.asset_key.to_user_string(), e.check_name) for e in evaluations}
    assert ("raw/binance__spot_klines_1d", "landing_bodies_parsed") in names
    for check in ("raw_expectations", "raw_rejects_within_threshold", "raw_row_volume"):
        assert ("raw/deribit__option_book_summary", check) in names
    assert ("staging/stg_binance__spot_klines_1d", "reconcile_binance_close_with_coinbase") in names
    assert ("staging/stg_mempool__blocks", "rows_reconcile_mempool__blocks") in names
    assert ("marts/fct_gamma_summary_daily", "gex_totals_finite") in names
    assert ("serving/warehouse", "marts_fresh") in names
    assert any(e.asset_key.path[0] == "marts" and e.check_name.startswith("unique_combination") for e in evaluations)
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed]
    assert failed == []


def materializations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], list[dict]]:
    """{(asset, day): [each materialization's metadata, as plain values]}."""
    out: dict[tuple[str, str], list[dict]] = {}
    for event in result.get_asset_materialization_events():
        m = event.materialization
        out.setdefault((m.asset_key.to_user_string(), m.partition), []).append(
            {k: v.value for k, v in m.metadata.items()})
    return out


def rows_by_day(conn, relation: str, column: str) -> dict[str, int]:
    return {d.isoformat(): n for d, n in conn.execute(
        f'SELECT {column}, count(*) FROM {relation} WHERE {column} BETWEEN ? AND ? GROUP BY 1', [FIRST, LAST]).fetchall()}


def test_each_day_has_one_materialization_with_that_days_own_figures(demo):
    """A ranged run: every asset has exactly one materialization per day, whose metadata is that day's, equal to
    what the warehouse holds for the day; the window's totals are on none of them (the step's log has them)."""
    settings, result, _ = demo
    mats = materializations(result)
    asset_keys = result.job_def.asset_layer.asset_graph.materializable_asset_keys
    assert set(mats) == {(k.to_user_string(), d.isoformat()) for k in asset_keys for d in DAYS}
    assert {len(events) for events in mats.values()} == {1}
    md = {key: events[0] for key, events in mats.items()}
    window_totals = {"days", "days_by_status", "days_with_nothing_to_ask", "rows_per_table", "duckdb_bytes",
                     "last_day", "last_total_net_gex_usd", "Execution Duration"}
    assert not [key for key, figures in md.items() if window_totals & set(figures)]
    days = [d.isoformat() for d in DAYS]
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        for spec in DATASETS:  # the extracts: the day's rows in its raw table and its load_log status
            held = rows_by_day(conn, f'raw."{spec.raw_table}"', "partition_date")
            assert {d: md[(f"raw/{spec.raw_table}", d)]["rows_loaded"] for d in days} == {d: held.get(d, 0)
                                                                                         for d in days}, spec.name
            assert {md[(f"raw/{spec.raw_table}", d)]["status"] for d in days} == {"loaded"}, spec.name
        for table, figure in (("liquidation_stream__orders", "orders_loaded"), ("liquidation_stream__coverage",
                                                                                "venue_days"),
                              ("liquidation_stream__hours", "hours")):
            assert {d: md[(f"raw/{table}", d)][figure] for d in days} == rows_by_day(conn, f"raw.{table}",
                                                                                      "partition_date"), table
        day_columns = dict(conn.execute(
            "SELECT table_schema || '/' || table_name, min(column_name) FROM information_schema.columns "
            "WHERE table_schema IN ('staging', 'marts') AND column_name IN ('date', 'snapshot_date') GROUP BY 1"
        ).fetchall())
        models = {key for key, _ in md if key.split("/")[0] in ("staging", "marts")}
        counted = [key for key in models if key in day_columns]
        assert len(counted) >= 30  # dbt's models and the gamma tables: each day's rows in the model
        for key in counted:
            schema, name = key.split("/")
            held = rows_by_day(conn, f'{schema}."{name}"', day_columns[key])
            assert {d: md[(key, d)]["rows"] for d in days} == {d: held.get(d, 0) for d in days}, key
        summary = {(row[0].isoformat(), row[1]): row for row in conn.execute(
            "SELECT snapshot_date, currency, spot_usd, total_net_gex_usd, zero_gamma_usd "
            "FROM marts.fct_gamma_summary_daily WHERE snapshot_date BETWEEN ? AND ?", [FIRST, LAST]).fetchall()}
    for d in days:
        figures = md[("marts/fct_gamma_summary_daily", d)]
        for currency, prefix in (("BTC", ""), ("ETH", "eth_")):  # BTC's figures keep their names
            _, _, spot, total, zero_gamma = summary[(d, currency)]
            assert (figures[f"{prefix}spot_usd"], figures[f"{prefix}total_net_gex_usd"]) == (round(spot, 2),
                                                                                          round(total, 2))
            assert figures[f"{prefix}zero_gamma_usd"] == (None if zero_gamma is None else round(zero_gamma, 2))
        assert figures["picture_file"] == str(settings.tree_dir / "reports" / "gamma" / f"{d}.png")
        assert "eth_picture_file" not in figures  # BTC's picture only
        assert ("picture" in figures) == (d == days[-1])  # the picture itself on the last day only
        report = md[("reports/daily_html", d)]
        assert report["rendered"] and report["report"] == str(settings.tree_dir / "reports" / f"{d}.html")
        assert any(k.startswith("plot_") for k in report) == (d == days[-1])
    with duckdb.connect(str(settings.tree_dir / "serving" / "warehouse.duckdb"), read_only=True) as conn:
        published = {d: 0 for d in days}
        for schema, table, column in conn.execute(
                "SELECT table_schema, table_name, min(column_name) FROM information_schema.columns WHERE "
                "column_name IN ('date', 'snapshot_date') GROUP BY ALL").fetchall():
            for d, n in rows_by_day(conn, f'{schema}."{table}"', column).items():
                published[d] += n
    assert {d: md[("serving/warehouse", d)]["rows_published"] for d in days} == published
    # The days differ, and so do their figures: a series per day in the UI's Plots tab, not a flat line.
    for key, figure in (("raw/deribit__option_book_summary", "rows_loaded"), ("raw/mempool__blocks", "rows_loaded"),
                        ("raw/liquidation_stream__orders", "orders_loaded"), ("marts/fct_option_chain_snapshot", "rows"),
                        ("marts/fct_gamma_summary_daily", "total_net_gex_usd"), ("serving/warehouse", "rows_published")):
        assert len({md[(key, d)][figure] for d in days}) == len(days), (key, [md[(key, d)][figure] for d in days])


def test_the_market_note_of_every_day_states_the_marts_figures(demo):
    """The notes asset writes every day's note from the serving copy; the break day's says what the marts say,
    checked against figures recomputed here from other tables (the liquidation events, the chain's own spot)."""
    settings, result, _ = demo
    notes = settings.tree_dir / "notes"
    assert sorted(p.name for p in notes.iterdir()) == [f"{d}.md" for d in DAYS]
    md = {key: events[0] for key, events in materializations(result).items()}
    assert {md[("reports/market_note", d.isoformat())]["note"] for d in DAYS} == {str(notes / f"{d}.md") for d in DAYS}
    day = dt.date(2025, 11, 20)
    text = (notes / f"{day}.md").read_text()
    assert text.startswith(f"# Market note, {day}") and "Simulated data" in text
    with duckdb.connect(str(settings.tree_dir / "serving" / "warehouse.duckdb"), read_only=True) as conn:
        (close, previous), = conn.execute(
            "SELECT close, lag(close) OVER (ORDER BY date) FROM marts.fct_btc_price_daily WHERE date IN (?, ?) "
            "ORDER BY date DESC LIMIT 1", [day - dt.timedelta(days=1), day]).fetchall()
        (total, longs), = conn.execute(
            "SELECT sum(notional_usd), sum(notional_usd) FILTER (WHERE liquidated_position = 'long') "
            "FROM marts.fct_liquidation_events WHERE date = ?", [day]).fetchall()
        (spot, zero, total_gex), = conn.execute(
            "SELECT spot_usd, zero_gamma_usd, total_net_gex_usd FROM marts.fct_gamma_summary_daily "
            "WHERE currency = 'BTC' AND snapshot_date = ?", [day]).fetchall()
    assert f"BTC closed at ${close:,.0f} (consolidated across exchanges), down {(1 - close / previous) * 100:.1f}% " \
           f"on the day" in text
    assert "It closed below $92,000, a configured level" in text
    assert f"${total / 1e6:,.1f}M of BTC positions were liquidated on Binance, Bybit and OKX, mostly longs " \
           f"({longs / total * 100:.0f}% longs)" in text
    assert f"total net GEX {'+' if total_gex > 0 else '−'}${abs(total_gex) / 1e6:,.1f}M per 1% move, with spot " \
           f"at ${spot:,.0f}" in text
    assert f"The zero-gamma level (the flip) sat at ${zero:,.0f}" in text
    # Gamma around the configured level nearest spot, recomputed from the per-strike table and the levels' seed.
    seed = (Path(__file__).resolve().parents[1] / "dbt" / "seeds" / "price_levels.csv").read_text().splitlines()[1:]
    level = min((int(line.split(",")[0]) for line in seed), key=lambda x: (abs(x - spot), x))
    with duckdb.connect(str(settings.tree_dir / "serving" / "warehouse.duckdb"), read_only=True) as conn:
        (net, gross, oi), = conn.execute(
            "SELECT sum(call_gex_usd + put_gex_usd), sum(abs(call_gex_usd) + abs(put_gex_usd)), sum(call_oi + put_oi) "
            "FROM marts.fct_gamma_exposure_by_strike WHERE currency = 'BTC' AND snapshot_date = ? "
            "AND strike BETWEEN ? AND ?", [day, level * 0.99, level * 1.01]).fetchall()
    assert f"Within ±1% of ${level:,}, the configured level nearest spot, dealers' net GEX was " \
           f"{'+' if net > 0 else '−'}${abs(net) / 1e6:,.1f}M per 1% move (gross ${gross / 1e6:,.1f}M), on " \
           f"{oi:,.0f} BTC of open interest" in text
    # The acceleration zone, recomputed by its rule from the profile: the short band whose top is the flip, the level
    # of lowest net GEX in it, and the run of levels around it at no more than half that GEX.
    with duckdb.connect(str(settings.tree_dir / "serving" / "warehouse.duckdb"), read_only=True) as conn:
        (band_low,), = conn.execute(
            "SELECT low_usd FROM marts.fct_gamma_regime_bands WHERE currency = 'BTC' AND snapshot_date = ? "
            "AND regime = 'short_gamma' AND high_usd = ?", [day, zero]).fetchall()
        profile = conn.execute(
            "SELECT price_level_usd, net_gex_usd FROM marts.fct_gamma_profile WHERE currency = 'BTC' "
            "AND snapshot_date = ? AND price_level_usd BETWEEN ? AND ? ORDER BY price_level_usd",
            [day, band_low, zero]).fetchall()
    peak = min(range(len(profile)), key=lambda i: (profile[i][1], i))
    lo = hi = peak
    while lo > 0 and profile[lo - 1][1] <= profile[peak][1] / 2:
        lo -= 1
    while hi < len(profile) - 1 and profile[hi + 1][1] <= profile[peak][1] / 2:
        hi += 1
    assert f"Below the flip dealers are most short gamma at ${profile[peak][0]:,.0f} " \
           f"(−${abs(profile[peak][1]) / 1e6:,.1f}M per 1% move); the acceleration zone, where their hedging sells " \
           f"into a fall at least half as hard as there, runs from ${profile[hi][0]:,.0f} down to " \
           f"${profile[lo][0]:,.0f}." in text
    assert text.count("- **Q") >= 16  # the queries, listed


def readme_guide_queries() -> list[tuple[str, str]]:
    """(the question's heading, one statement) for every SQL block of the README's analyst's guide and of its
    questions on the serving copy."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    sections = [text[text.index("## Analyst's guide"):text.index("### The day's market note")],
                text[text.index("### The analyst's questions on the serving copy"):text.index("## Past one machine")]]
    out = []
    for section in sections:
        heading = ""
        for part in re.split(r"```sql\n(.*?)```", section, flags=re.S)[:-1]:
            if part.lstrip().startswith("select") or part.lstrip().startswith("with"):
                out += [(heading, sql.strip()) for sql in part.split(";") if sql.strip()]
            else:
                headings = re.findall(r"^\*\*(.+?)\*\*", part, re.M | re.S)
                heading = headings[-1] if headings else heading
    return out


def test_every_query_of_the_readme_guide_runs_on_the_serving_copy(demo):
    """The guide's questions are asked of the serving copy as a BI user would: every statement binds and runs (a
    renamed column or a dropped mart fails here), and those about the window's days return rows."""
    settings, _, _ = demo
    queries = readme_guide_queries()
    assert len(queries) >= 25
    with duckdb.connect(str(settings.tree_dir / "serving" / "warehouse.duckdb"), read_only=True) as conn:
        answered = 0
        for heading, sql in queries:
            try:
                rows = conn.execute(sql).fetchall()
            except duckdb.Error as error:
                raise AssertionError(f"README guide, {heading!r}: {str(error).splitlines()[0]}\n{sql}") from None
            answered += bool(rows)
    assert answered >= len(queries) // 2  # many ask for days the three-day window holds


def test_every_float_in_the_metadata_is_rounded_for_reading(demo):
    """Money to the cent, anything else to 6 significant digits (pipelines/metadata.py), in every materialization
    and check of the run: nothing like 0.30000000000000004 or 672412345.1234567 reaches the UI."""
    _, result, _ = demo
    floats: list[tuple[str, float]] = []

    def collect(key: str, value) -> None:
        value = getattr(value, "value", value) if isinstance(value, dg.MetadataValue) else value
        value = value.data if isinstance(value, dg.JsonMetadataValue) else value
        if isinstance(value, float):
            floats.append((key, value))
        elif isinstance(value, dict):
            for k, v in value.items():
                collect(str(k), v)
        elif isinstance(value, list):
            for v in value:
                collect(key, v)

    for event in result.get_asset_materialization_events():
        for key, value in event.materialization.metadata.items():
            collect(key, value)
    for evaluation in result.get_asset_check_evaluations():
        for key, value in evaluation.metadata.items():
            collect(key, value)
    money = [(k, v) for k, v in floats if k.endswith("_usd")]
    assert len(money) >= 3 * 5 and len(floats) > len(money)  # the gamma summary's money, and dbt's check timings
    assert [(k, v) for k, v in money if not math.isfinite(v) or round(v, 2) != v] == []
    assert [(k, v) for k, v in floats if (k, v) not in money and float(f"{v:.6g}") != v] == []
    assert all(round_float(v, k.endswith("_usd")) == v for k, v in floats)


def test_the_progress_line_said_what_ran_and_followed_dbts_nodes(demo):
    """The demo run as the CLI's line showed it in a log (not a terminal): the run's creation, every step started,
    and in each dbt step dbt's own count, one line per tenth of its nodes, up to all of them."""
    lines = [re.sub(r"^\d+:\d\d ", "", line) for line in PROGRESS["demo"].splitlines()]
    steps = len(range_job(demo[0]).graph.nodes)
    assert lines[0].startswith("creating the run") and lines[-1] == f"[{steps}/{steps}] done"
    started = [line.split("] ")[1] for line in lines if re.fullmatch(rf"\[\d+/{steps}\] [a-z_]+", line)]
    assert {"liquidation_streams", "dbt_models", "gamma_exposure", "dbt_dashboard", "serving__warehouse"} <= set(started)
    for step in ("dbt_models", "dbt_dashboard"):
        counts = [tuple(map(int, m.groups())) for line in lines
                  if (m := re.search(rf"\] {step}: dbt (\d+)/(\d+)", line))]
        done, total = zip(*counts)
        assert len(set(total)) == 1 and done[-1] == total[0] and list(done) == sorted(done), counts
        assert {n * 10 // total[0] for n in done} == set(range(11)) or total[0] < 10, counts


def test_materialising_the_same_partitions_again_leaves_identical_tables(demo):
    settings, _, before = demo
    run(settings)
    assert snapshot_tables(settings.duckdb_path) == before


@pytest.fixture(scope="module")
def replayed(demo, tmp_path_factory):
    """The demo's landing archive copied into an empty live tree and replayed: nothing else, nothing fetched. Its
    gamma is computed a day per chunk by two worker processes (the demo's in the run's process): the marts and the
    pictures must still be the demo's."""
    settings = demo[0]
    root = tmp_path_factory.mktemp("replayed")
    shutil.copytree(settings.landing_dir, root / "live" / "landing")
    replay = Settings(source_mode=SourceMode.REPLAY, warehouse_dir=root, start_date=settings.start_date,
                      gamma_workers=2, gamma_chunk_days=1)
    run(replay)
    return replay


def test_replay_reproduces_the_marts_from_the_archive_alone(demo, replayed):
    assert snapshot_tables(replayed.duckdb_path) == demo[2]


def test_gamma_pictures_drawn_by_worker_processes_are_the_in_process_ones(demo, replayed):
    drawn = {path.name: path.read_bytes() for path in reports_dir(replayed.tree_dir).glob("*.png")}
    assert sorted(drawn) == [f"{day.isoformat()}.png" for day in DAYS]
    assert drawn == {name: (reports_dir(demo[0].tree_dir) / name).read_bytes() for name in drawn}


def test_replay_without_archive_fails_naming_what_is_missing(tmp_path):
    replay = Settings(source_mode=SourceMode.REPLAY, warehouse_dir=tmp_path, start_date=dt.date(2025, 10, 1))
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(replay, FIRST, FIRST, instance)
    assert not result.success
    assert "for 2025-11-19: replay found no archived body" in _failed_checks(result)["landing_bodies_parsed"]


def _copy_of(replayed: Settings, root) -> Settings:
    """A private copy of the replayed tree (archive and warehouse), for a test that feeds it bad input."""
    shutil.copytree(replayed.tree_dir, root / "live")
    return Settings(source_mode=SourceMode.REPLAY, warehouse_dir=root, start_date=replayed.start_date)


def _archive_newer_body(settings: Settings, dataset: str, day: dt.date, body: bytes) -> None:
    from pipelines.ingest.archive import LandingArchive
    from pipelines.ingest.fetcher import FetchedBody, FetchRequest

    source, name = dataset.split("/")
    request = FetchRequest(source, name, day, "https://example.invalid/injected-by-test")
    later = dt.datetime.combine(day + dt.timedelta(days=2), dt.time(), tzinfo=dt.UTC)
    LandingArchive(settings.landing_dir).write(FetchedBody(request, 200, body, later))


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events() for e in [e.materialization]}


def test_error_envelope_fails_its_extract_names_it_and_stops_downstream(replayed, tmp_path):
    replay = _copy_of(replayed, tmp_path)
    before = data_tables(replay)
    envelope = b'{"jsonrpc":"2.0","id":7,"error":{"code":10028,"message":"too_many_requests"},"testnet":false}'
    _archive_newer_body(replay, "deribit/option_book_summary", LAST, envelope)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(replay, FIRST, LAST, instance)
    assert not result.success
    errors = _failed_checks(result)["landing_bodies_parsed"]
    assert "deribit/option_book_summary for 2025-11-21" in errors and "10028" in errors
    assert "marts/fct_gamma_summary_daily" not in _materialized(result)
    assert "marts/fct_option_chain_snapshot" not in _materialized(result)
    assert data_tables(replay) == before  # nothing lost, nothing half-loaded


def _published(settings: Settings) -> bytes:
    return (settings.tree_dir / "serving" / "warehouse.duckdb").read_bytes()


def _failed_checks(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return {e.check_name: e.description or "" for e in result.get_asset_check_evaluations() if not e.passed}


def test_raw_stage_a_refused_row_stops_dbt_numpy_and_the_publish(replayed, tmp_path):
    """Raw stage: the only row of a day breaks a rule → quarantined, the day is not loaded, the check fails."""
    import json

    from pipelines.ingest.archive import LandingArchive

    replay = _copy_of(replayed, tmp_path)
    before, published = data_tables(replay), _published(replay)
    doc = json.loads(LandingArchive(replay.landing_dir).newest("mempool", "hashrate", LAST).read_body())
    label = int(dt.datetime.combine(LAST + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC).timestamp())
    for point in doc["hashrates"]:
        if point["timestamp"] == label:  # mempool labels a day with the midnight that ends it
            point["avgHashrate"] /= 1e6  # a unit slip: parses as a positive number, far from what difficulty implies
    _archive_newer_body(replay, "mempool/hashrate", LAST, json.dumps(doc).encode())
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(replay, FIRST, LAST, instance)
    assert not result.success
    assert "hash rate within 2× of difficulty's" in _failed_checks(result)["raw_rejects_within_threshold"]
    materialized = _materialized(result)
    assert not {"staging/stg_mempool__hashrate", "marts/fct_hashrate_daily", "marts/fct_gamma_summary_daily",
                "serving/warehouse"} & materialized
    quarantine = snapshot_tables(replay.duckdb_path)["raw.quarantine"]
    assert [row[-1] for row in quarantine if row[0] == "mempool__hashrate"][0].startswith("hash rate within 2×")
    assert data_tables(replay) == before and _published(replay) == published


def test_failing_dbt_test_blocks_the_marts_the_numpy_asset_and_the_publish(replayed, tmp_path):
    """Staging stage: a Coinbase close 5% away from Binance's passes every raw rule but not reconciliation."""
    import json

    from pipelines.ingest.archive import LandingArchive

    replay = _copy_of(replayed, tmp_path)
    marts_before, published = snapshot_tables(replay.duckdb_path, schemas=("marts",)), _published(replay)
    candles = json.loads(LandingArchive(replay.landing_dir).newest("coinbase", "spot_candles_1d", LAST).read_body())
    day_start = int(dt.datetime.combine(LAST, dt.time(), tzinfo=dt.UTC).timestamp())
    for candle in candles:  # [time, low, high, open, close, volume]
        if candle[0] == day_start:
            candle[4] *= 1.05
            candle[2] = max(candle[2], candle[4])
    _archive_newer_body(replay, "coinbase/spot_candles_1d", LAST, json.dumps(candles).encode())
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(replay, FIRST, LAST, instance)
    assert not result.success
    assert "reconcile_binance_close_with_coinbase" in _failed_checks(result)
    materialized = _materialized(result)
    assert not {"marts/fct_btc_price_daily", "marts/fct_gamma_summary_daily", "serving/warehouse"} & materialized
    assert snapshot_tables(replay.duckdb_path, schemas=("marts",)) == marts_before
    assert _published(replay) == published
    # The command the failed check's line names keeps the failing rows (here the day whose closes disagree).
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BTCW_")},
           "BTCW_WAREHOUSE_DIR": str(replay.warehouse_dir), "BTCW_SOURCE_MODE": "replay"}
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "failing-rows",
                           "reconcile_binance_close_with_coinbase", FIRST.isoformat(), LAST.isoformat()],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    with duckdb.connect(str(replay.duckdb_path), read_only=True) as conn:
        rows = conn.execute("SELECT * FROM dbt_test__audit.reconcile_binance_close_with_coinbase").fetchall()
    assert [row[0] for row in rows] == [LAST]  # (date, value, reference, relative_difference, tolerance)


def test_a_run_tests_the_days_it_may_rewrite_and_the_audit_tests_all_history(replayed, tmp_path):
    """Data tests judge the days a run may rewrite (dbt/macros/test_scope.sql): a bad row planted on FIRST, two days
    before LAST, is not the business of a nightly over LAST (which never rewrites FIRST), and `audit` (`make audit`)
    over all history finds it, naming the test."""
    replay = _copy_of(replayed, tmp_path)
    with duckdb.connect(str(replay.duckdb_path)) as conn:
        conn.execute("UPDATE marts.fct_btc_price_daily SET source_count = 0 WHERE date = ?", [FIRST])
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(replay, LAST, LAST, instance)
    assert result.success, _failed_checks(result)
    with duckdb.connect(str(replay.duckdb_path), read_only=True) as conn:
        assert conn.execute("SELECT source_count FROM marts.fct_btc_price_daily WHERE date = ?",
                            [FIRST]).fetchone() == (0,)  # still there: the run neither rewrote nor judged it
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BTCW_")},
           "BTCW_WAREHOUSE_DIR": str(replay.warehouse_dir), "BTCW_SOURCE_MODE": "replay"}
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "audit"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    # dbt's result line of each failure: the two tests that judge a day's exchange count, both on the planted day
    failed = {line.split(" FAIL ", 1)[1].split()[1] for line in done.stdout.splitlines() if " FAIL " in line}
    assert failed == {"at_least_fct_btc_price_daily_source_count__1", "exchange_spot_matches_consolidated_price"}
    assert done.stderr.strip().splitlines()[-1].startswith("audit: a data test failed over all history of ")
    # The audit also runs the project's dbt unit tests, which runs leave out (pipelines/dbt_project.py): all passed.
    unit_tests = len(json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())["unit_tests"])
    assert unit_tests
    assert re.search(rf"Finished running .*\b{unit_tests} unit tests\b", done.stdout), done.stdout[-2000:]


def test_failing_gamma_check_leaves_gamma_tables_and_stops_the_dashboard_and_publish(replayed, tmp_path, monkeypatch):
    """Numpy stage: its audit runs before it writes; a failure keeps the old tables and blocks what follows."""
    from pipelines.assets import gamma_exposure
    from pipelines.checks.outcome import CheckOutcome

    replay = _copy_of(replayed, tmp_path)
    marts_before, published = snapshot_tables(replay.duckdb_path, schemas=("marts",)), _published(replay)
    monkeypatch.setattr(gamma_exposure, "gamma_tables_reconcile",
                        lambda *tables: CheckOutcome(False, "by-expiry sums differ from by-strike on 2025-11-21"))
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(replay, FIRST, LAST, instance)
    assert not result.success
    assert "by-expiry sums differ" in _failed_checks(result)["gamma_tables_reconcile"]
    materialized = _materialized(result)
    assert "marts/fct_option_chain_snapshot" in materialized  # dbt ran; the numpy asset's outputs did not land
    assert not {"marts/fct_gamma_summary_daily", "marts/mart_market_daily", "serving/warehouse"} & materialized
    assert snapshot_tables(replay.duckdb_path, schemas=("marts",)) == marts_before
    assert _published(replay) == published


def test_gamma_tables_of_the_btc_only_layout_are_rebuilt_by_the_next_nightly(replayed, tmp_path):
    """A warehouse built before gamma per currency: its tables have no currency column and name the OI in BTC.
    The next run (one day) rebuilds all of them from every day of the chain mart: BTC's rows exactly as before on the days
    outside its window, ETH's added on every day, and its log says what it rebuilt."""
    from pipelines.assets.gamma_exposure import TABLES

    replay = _copy_of(replayed, tmp_path)
    with duckdb.connect(str(replay.duckdb_path)) as conn:
        before = {t: conn.sql(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
        for table in TABLES:  # the layout of the release before: BTC rows only, no currency, OI columns in BTC
            conn.execute(f"CREATE TABLE {table}_old AS SELECT * EXCLUDE (currency) FROM {table} "
                         "WHERE currency = 'BTC'")
            for column in ("call_oi", "put_oi"):
                if column in [c for (c,) in conn.execute(f"SELECT column_name FROM (DESCRIBE {table}_old)").fetchall()]:
                    conn.execute(f"ALTER TABLE {table}_old RENAME COLUMN {column} TO {column}_btc")
            conn.execute(f"DROP TABLE {table}")
            conn.execute(f"ALTER TABLE {table}_old RENAME TO {table.split('.')[1]}")
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(replay, LAST, LAST, instance)
        logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert any("had the layout of an older release (or were missing): all 8 gamma tables rebuilt from the 3 "
               f"day(s) of marts.fct_option_chain_snapshot ({FIRST} … {LAST})" in m for m in logs)
    with duckdb.connect(str(replay.duckdb_path), read_only=True) as conn:
        after = {t: conn.sql(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
    assert after == before  # every day, both currencies, exactly what an uninterrupted run of this code wrote


def test_failing_vol_surface_audit_leaves_its_tables_and_stops_the_publish(replayed, tmp_path, monkeypatch):
    """The volatility-surface step audits before it writes, like gamma: a failure keeps both tables as they were."""
    from pipelines.assets import vol_surface
    from pipelines.checks.outcome import CheckOutcome

    replay = _copy_of(replayed, tmp_path)
    marts_before, published = snapshot_tables(replay.duckdb_path, schemas=("marts",)), _published(replay)
    monkeypatch.setattr(vol_surface, "vol_surface_sane",
                        lambda *args: CheckOutcome(False, "2025-11-21 ETH: 1 atm_iv outside (0, 500]"))
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(replay, FIRST, LAST, instance)
    assert not result.success
    assert "2025-11-21 ETH: 1 atm_iv outside" in _failed_checks(result)["vol_surface_sane"]
    materialized = _materialized(result)
    assert {"marts/fct_option_chain_snapshot", "marts/fct_gamma_summary_daily"} <= materialized
    assert not {"marts/fct_option_vol_surface", "marts/fct_option_vol_daily", "serving/warehouse"} & materialized
    assert snapshot_tables(replay.duckdb_path, schemas=("marts",)) == marts_before
    assert _published(replay) == published


def test_vol_term_structure_recovers_the_demo_models_30_day_atm_iv(demo):
    """The demo prices every option off a known ATM term structure (OptionChainModel.atm_iv) and a known skew: the
    30-day ATM IV read back from the chain mart sits within half a vol point of the model's own, for BTC and ETH,
    and the skew (puts richer) shows as a negative 25-delta risk reversal."""
    from pipelines.demo.api import DemoApi

    settings, _, _ = demo
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        daily = conn.sql("SELECT snapshot_date, currency, atm_iv_30d, rr_25d_30d, bf_25d_30d, atm_iv_7d, atm_iv_90d "
                         "FROM marts.fct_option_vol_daily ORDER BY ALL").fetchall()
        stamps = dict(conn.execute("SELECT snapshot_date || currency, max(snapshot_ts) FROM "
                                   "marts.fct_option_chain_snapshot GROUP BY ALL").fetchall())
    assert [(d, c) for d, c, *_ in daily] == [(d, c) for d in DAYS for c in ("BTC", "ETH")]
    api = DemoApi()
    for day, currency, atm30, rr30, bf30, atm7, atm90 in daily:
        (model,) = api.option_chains(currency)
        want = 100 * float(model.atm_iv(stamps[f"{day}{currency}"], np.array([30 / 365]))[0])
        assert abs(atm30 - want) < 0.5, (day, currency, atm30, want)
        assert rr30 < 0 and bf30 > 0 and min(atm7, atm90) > 0, (day, currency, rr30, bf30)


def test_open_interest_of_every_exchange_has_its_change_on_every_day_the_last_included(demo):
    """Issue 18: the newest day's open-interest change is no longer null. For Binance, Bybit and OKX on every day of
    the run, LAST included, the mart's start, end and change in BTC and USD equal the values read here, with plain
    JSON, from the archived raw bodies: the rows stamped at the day's 00:00 and the next day's (Bybit's USD at the
    mean of Binance's and Coinbase's daily open and close, from their raw tables)."""
    import gzip
    import json

    settings, _, _ = demo
    midnight = {day: int(dt.datetime.combine(day, dt.time(), dt.timezone.utc).timestamp() * 1000)
                for day in DAYS + [LAST + dt.timedelta(days=1)]}

    def bodies(dataset: str) -> list:
        files = sorted((settings.landing_dir / dataset).glob("*/*.json.gz"))
        assert files, dataset
        return [json.loads(gzip.decompress(f.read_bytes())) for f in files]

    stamped: dict[str, dict[int, tuple[float, float | None]]] = {"binance": {}, "bybit": {}, "okx": {}}
    for body in bodies("binance/open_interest_day"):
        for row in body:
            stamped["binance"][int(row["timestamp"])] = (float(row["sumOpenInterest"]),
                                                         float(row["sumOpenInterestValue"]))
    for body in bodies("bybit/open_interest_day"):
        for row in body["result"]["list"]:
            stamped["bybit"][int(row["timestamp"])] = (float(row["openInterest"]), None)
    for body in bodies("okx/open_interest_day"):
        for ts, _contracts, coins, usd in body["data"]:
            stamped["okx"][int(ts)] = (float(coins), float(usd))
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        prices = {}
        for table in ("binance__spot_klines_1d", "coinbase__spot_candles_1d"):
            for day, open_, close in conn.execute(f"SELECT partition_date, open, close FROM raw.{table}").fetchall():
                prices.setdefault(day, []).append((open_, close))
        mart = {(d, x): rest for d, x, *rest in conn.execute(
            "SELECT date, exchange, open_interest_start_btc, open_interest_btc, open_interest_change_btc, "
            "open_interest_start_usd, open_interest_usd, open_interest_change_usd, open_interest_change_pct "
            "FROM marts.fct_derivatives_daily WHERE exchange IN ('binance', 'bybit', 'okx')").fetchall()}
    for exchange in ("binance", "bybit", "okx"):
        for day in DAYS:
            (start_btc, start_usd), (end_btc, end_usd) = (stamped[exchange][midnight[day]],
                                                          stamped[exchange][midnight[day + dt.timedelta(days=1)]])
            if exchange == "bybit":
                opens, closes = zip(*prices[day])
                start_usd, end_usd = start_btc * sum(opens) / len(opens), end_btc * sum(closes) / len(closes)
            got = mart[(day, exchange)]
            assert None not in got, (day, exchange, got)
            want = (start_btc, end_btc, end_btc - start_btc, start_usd, end_usd, end_usd - start_usd,
                    (end_btc / start_btc - 1) * 100)
            assert got == pytest.approx(want, rel=1e-12, abs=1e-6), (day, exchange)
    # the newest day is known from its own partition, not from a later one (none was loaded)
    assert max(d for d, _ in mart) == LAST and all(mart[(LAST, x)][2] is not None for x in ("binance", "bybit", "okx"))


def test_backfilling_days_in_any_order_gives_the_same_marts(demo, tmp_path):
    """Rolling figures (7-day averages, peaks, lags) must come out the same whatever order days are built in,
    and a day asked for on its own (its own request to each source) the same as within a window's range request."""
    settings = demo[0]
    per_day = Settings(source_mode=SourceMode.DEMO, warehouse_dir=tmp_path, start_date=settings.start_date)
    for day in (LAST, FIRST, FIRST + dt.timedelta(days=1)):
        with dg.DagsterInstance.ephemeral() as instance:
            result = materialize_range(per_day, day, day, instance)
        assert result.success
    assert list((per_day.landing_dir / "binance/spot_klines_1d").glob("date=*"))  # asked day by day
    assert not list((per_day.landing_dir / "binance/spot_klines_1d").glob("range=*"))
    assert data_tables(per_day) == data_tables(settings)
