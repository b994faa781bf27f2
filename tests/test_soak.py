"""The soak (pipelines/soak): live mode against the demo APIs on 127.0.0.1, on a simulated clock, night by night.

The e2e test runs a short soak, by default 7 nights from 2026-01-28: across a month end and the January prediction
market's resolution on 2026-01-31 (and the listing of February's). BTCW_SOAK_START / BTCW_SOAK_NIGHTS change it.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest

from pipelines.demo.server import DemoApiServer
from pipelines.ingest.archive import LandingArchive
from pipelines.ingest.errors import FetchError
from pipelines.ingest.fetcher import FetchRequest
from pipelines.resources import RedirectedOnly, body_source_for, live_origins
from pipelines.runner import RangeError, materialize_range
from pipelines.settings import Settings, SourceMode
from pipelines.soak.harness import SoakError, night_instant, run_soak
from pipelines.soak.polls import poll_times
from pipelines.sources.registry import get_dataset

AT = dt.datetime(2026, 1, 1, 0, 30, tzinfo=dt.UTC)


def live_settings(tmp_path, base_url: str, at: dt.datetime = AT) -> Settings:
    return Settings(source_mode=SourceMode.LIVE, warehouse_dir=tmp_path, live_base_url=base_url, simulated_now=at)


def test_redirected_live_fetches_hit_the_local_server_and_carry_the_simulated_time(tmp_path):
    spec = get_dataset("binance", "spot_klines_1d")
    with DemoApiServer(lambda: AT) as server:
        source = body_source_for(live_settings(tmp_path, server.base_url))
        fetch = source.obtain(spec, AT.date() - dt.timedelta(days=1))
        assert server.hits == {"/api/v3/klines": 1}
    assert fetch.fetched_at == AT  # stamped by the simulated clock, not the machine's
    assert fetch.first.meta["url"].startswith("https://data-api.binance.vision/")  # the real URL is what is archived
    assert LandingArchive(tmp_path / "live" / "landing").newest_fetch(spec.source, spec.dataset, dt.date(2025, 12, 31))


def test_every_registry_origin_is_redirected_and_any_other_is_refused(tmp_path):
    origins = live_origins(AT)
    assert {"https://www.okx.com", "https://www.deribit.com", "https://mempool.space",
            "https://clob.polymarket.com"} <= origins
    source = body_source_for(live_settings(tmp_path, "http://127.0.0.1:9"))
    assert isinstance(source.fetcher, RedirectedOnly)
    stray = FetchRequest("okx", "liquidation_orders", AT.date(), "https://www.okx.example/api/v5/x")
    with pytest.raises(FetchError, match=r"okx/liquidation_orders for 2026-01-01: https://www.okx.example is not "
                                         r"redirected to BTCW_LIVE_BASE_URL"):
        source.fetcher.fetch(stray)


def test_the_range_check_reads_the_simulated_clock(tmp_path):
    settings = Settings(warehouse_dir=tmp_path, simulated_now=AT)
    with pytest.raises(RangeError, match=r"END 2026-01-01 has not closed yet \(UTC today is 2026-01-01\)"):
        materialize_range(settings, dt.date(2025, 12, 31), dt.date(2026, 1, 1), instance=None)


def test_polls_fall_on_the_cron_between_two_nights():
    times = poll_times("5 * * * *", night_instant(dt.date(2026, 1, 30)), night_instant(dt.date(2026, 1, 31)))
    assert len(times) == 24 and times[0] == dt.datetime(2026, 1, 31, 1, 5, tzinfo=dt.UTC)
    assert times[-1] == dt.datetime(2026, 2, 1, 0, 5, tzinfo=dt.UTC)


def test_a_soak_refuses_a_warehouse_that_is_not_empty(tmp_path):
    (tmp_path / "something").write_text("x")
    with pytest.raises(SoakError, match="is not empty: a soak starts from an empty warehouse"):
        run_soak(dt.date(2026, 1, 28), 7, tmp_path)


@pytest.mark.e2e
def test_a_week_of_nights_across_a_month_end_and_a_market_resolution(tmp_path, capsys):
    start = dt.date.fromisoformat(os.environ.get("BTCW_SOAK_START", "2026-01-28"))
    nights = int(os.environ.get("BTCW_SOAK_NIGHTS", "7"))
    started = time.perf_counter()
    report = run_soak(start, nights, tmp_path / "soak")
    seconds = time.perf_counter() - started
    text = "\n".join(report.lines())
    with capsys.disabled():
        print(f"\n{text}\nsoak test wall time: {seconds:.0f} s for {nights} nights")

    assert len(report.runs) == nights and not report.failed_runs, text
    # The schedule's own windows: the first night loads its first day only, later ones up to three days.
    assert (report.runs[0].first, report.runs[0].last) == (start, start)
    assert all((run.last - run.first).days == min(i, 2) for i, run in enumerate(report.runs))
    # Polls on every tick between the nights, and none failed.
    assert len(report.polls) >= 24 * nights and not any(t.failed for t in report.polls)
    # Every liquidation order the demo stream emitted is in raw exactly once, and counted by the mart.
    assert report.ledger.total("emitted") > 0 and report.ledger.exact, text
    assert report.ledger.total("loaded") == report.ledger.total("emitted") == report.ledger.total("mart_orders")
    assert report.raw_rows["okx__liquidation_orders"] == report.ledger.total("emitted")
    # The marts of every backfillable dataset equal one backfill of the same days; now-only ones are excluded.
    plan = report.plan
    assert {"fct_btc_price_daily", "fct_spot_ohlcv_daily", "fct_hashrate_daily", "fct_pool_share_daily",
            "fct_miner_revenue_daily", "fct_derivatives_daily"} <= set(plan.marts)
    assert {"fct_liquidations_daily", "fct_option_chain_snapshot", "mart_market_daily"} <= set(plan.excluded_marts)
    assert "okx/liquidation_orders" in plan.excluded_datasets
    assert report.backfill.success, text
    assert [d.mart for d in report.diffs] == list(plan.marts) and all(d.equal for d in report.diffs), text
    assert all(d.soak_rows > 0 for d in report.diffs if d.mart != "fct_difficulty_adjustments"
               and d.mart != "fct_price_level_events")
    assert report.passed
