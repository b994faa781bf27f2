"""Hourly polls of OKX liquidation orders end to end.

(a) The schedule's polls of a cascade day sent through the real LiveFetcher over HTTP to the demo APIs served on
127.0.0.1, the server's clock and the fetcher's driven tick by tick: every order the demo stream emitted that day
is in raw.okx__liquidation_orders exactly once, though the polls overlap.
(b) A real Dagster materialisation (the okx extract, its staging views and the liquidation mart, dbt build with
its tests) of a cascade day whose polls failed for twelve hours: the poll after the outage runs out at the feed's
row cap, orders are lost, the run succeeds, the warn-level check liquidation_polls_complete fails naming the day,
and the mart's coverage columns say what happened.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from urllib.parse import urlsplit

import dagster as dg
import duckdb
import pytest

from pipelines.assets.extracts import POLLS_CHECK
from pipelines.definitions import build_definitions
from pipelines.demo.api import DemoApi
from pipelines.demo.endpoints_derivatives import derivatives_model
from pipelines.demo.fetcher import DemoFetcher, scheduled_fetch_time
from pipelines.demo.liquidation_feeds import default_feeds
from pipelines.demo.server import DemoApiServer
from pipelines.ingest.archive import LandingArchive
from pipelines.ingest.body_source import FetchingBodySource
from pipelines.ingest.extract import load_window
from pipelines.ingest.fetcher import FetchedBody, FetchRequest
from pipelines.ingest.polls import PollReader
from pipelines.ingest.stream_days import SCHEMAS as STREAM_TABLES
from pipelines.live.fetcher import LiveFetcher
from pipelines.live.http_client import HttpPolicy
from pipelines.polling.cadence import DEFAULT_POLL_CRON
from pipelines.polling.poller import poll_once, scheduled_times
from pipelines.settings import Settings, SourceMode
from pipelines.sources.okx import LIQUIDATION_ORDERS as SPEC

UTC = dt.UTC
CASCADE = dt.date(2025, 10, 11)  # 1558 demo orders, 399 of them between 12:00 and 13:00: past the feed's cap of 1000
EMITTED_ON_CASCADE = 1558


class Clock:
    """The simulated time both ends read: the demo server answers as of it, LiveFetcher stamps fetches with it."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def emitted(api: DemoApi, day: dt.date) -> list[int]:
    """The ms timestamps of every liquidation order the demo stream emitted on `day`, in order."""
    return derivatives_model(api).liquidation_events(day).ts.tolist()


def raw_stamps(conn: duckdb.DuckDBPyConnection, day: dt.date) -> list[int]:
    rows = conn.execute("SELECT ts FROM raw.okx__liquidation_orders WHERE partition_date = ? ORDER BY ts",
                        [day]).fetchall()
    return [int(ts.replace(tzinfo=UTC).timestamp() * 1000) for (ts,) in rows]


# ---- (a) the live client over HTTP ------------------------------------------------------------------------------


def test_hourly_live_polls_over_http_keep_every_order_of_a_cascade_day_exactly_once(tmp_path):
    started = time.perf_counter()
    api = DemoApi()
    clock = Clock(dt.datetime(2025, 10, 10, 23, 0, tzinfo=UTC))
    archive = LandingArchive(tmp_path / "landing")
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(SPEC.poll.build_request.__globals__["LIQUIDATION_ORDERS_URL"]))
    policy = HttpPolicy(read_timeout=5, max_attempts=2, base_backoff=0.1, max_backoff=0.2, host_rates={},
                        default_rate=math.inf)
    times = scheduled_times(DEFAULT_POLL_CRON, [CASCADE], scheduled_fetch_time)
    # the 23:05 tick before the day, the previous night's fetch at 00:30, its 24 hourly ticks, the 00:05 tick after
    # it and the nightly fetch at 00:30
    assert len(times) == 28 and times[0] == dt.datetime(2025, 10, 10, 23, 5, tzinfo=UTC)
    with DemoApiServer(clock, api=api) as server, \
            LiveFetcher(policy, now=clock, sleep=lambda s: None, rng=random.Random(7),
                        base_urls={origin: server.base_url}) as fetcher:
        body_source = FetchingBodySource(fetcher, archive)
        reader = PollReader(archive, SPEC)
        outcomes = []
        for at in times:
            clock.now = at  # the hourly job wakes up: the server answers as of now, the fetcher stamps now
            outcomes.append(poll_once(body_source, SPEC, at, reader))
        requests = server.hits["/api/v5/public/liquidation-orders"]
        with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
            load = load_window(SPEC, [CASCADE], body_source, conn, tmp_path, clock.now, 0.0)
            stamps = raw_stamps(conn, CASCADE)
            distinct = conn.execute("SELECT count(*) FROM (SELECT DISTINCT * EXCLUDE (_landing_file, _loaded_at) "
                                    "FROM raw.okx__liquidation_orders)").fetchone()[0]
            log = conn.execute("SELECT status, polls, polls_failed, longest_poll_gap_s, uncovered_s, row_cap_hit "
                               "FROM raw.load_log WHERE dataset = 'okx__liquidation_orders'").fetchall()
    assert all(o.ok for o in outcomes) and [o.capped for o in outcomes].count(True) == 1  # 23:05: 24 h of 10-10
    # every page went over HTTP and was archived as it came: the same pages the archive holds
    complete, cut = archive.polls("okx", "liquidation_orders", CASCADE)
    assert not cut and requests == sum(o.pages for o in outcomes)
    assert all(page.meta["url"].startswith("https://www.okx.com/") for fetch in complete for page in fetch.pages)
    # the polls overlap (each reaches 10 min behind the one before, the first 24 h back): orders were served twice
    served_on_the_day = sum(len([k for k in SPEC.poll.served_keys(page.read_body())
                                 if dt.datetime.fromtimestamp(k[0] / 1000, UTC).date() == CASCADE])
                            for fetch in complete for page in fetch.pages)
    assert served_on_the_day > EMITTED_ON_CASCADE
    # ... and each is in raw once: every order the demo stream emitted that day, no other
    truth = emitted(api, CASCADE)
    assert len(truth) == EMITTED_ON_CASCADE
    assert stamps == truth and distinct == len(stamps) == load.rows_loaded
    assert log == [("loaded", 27, 0, 3600, 0, False)]
    print(f"\n(a) {len(times)} polls, {requests} HTTP requests, {served_on_the_day} orders of the day served, "
          f"{len(stamps)} in raw: {time.perf_counter() - started:.1f} s")


# ---- (b) a real Dagster run ---------------------------------------------------------------------------------------


OUTAGE = (dt.datetime(2025, 10, 11, 11, 0, tzinfo=UTC), dt.datetime(2025, 10, 11, 23, 0, tzinfo=UTC))
LAST_BEFORE_OUTAGE = dt.datetime(2025, 10, 11, 10, 5, tzinfo=UTC)
AFTER_OUTAGE = dt.datetime(2025, 10, 11, 23, 5, tzinfo=UTC)
SELECTED = [dg.AssetKey(["raw", "okx__liquidation_orders"]), dg.AssetKey(["staging", "stg_okx__liquidation_orders"]),
            dg.AssetKey(["staging", "stg_okx__liquidation_coverage"]), dg.AssetKey(["marts", "fct_liquidations_daily"]),
            # The streams' daily load (the demo lands the collector's files) and the events mart the daily one reads.
            *(dg.AssetKey(["raw", table]) for table in STREAM_TABLES),
            dg.AssetKey(["staging", "stg_liquidation_stream__orders"]),
            dg.AssetKey(["staging", "stg_liquidation_stream__coverage"]),
            dg.AssetKey(["marts", "fct_liquidation_events"])]


class Unavailable:
    """What the hourly job got during the outage: HTTP 503 for every poll (its body archived like any other)."""

    def __init__(self, inner: DemoFetcher):
        self.inner = inner

    def fetch(self, request: FetchRequest) -> FetchedBody:
        return FetchedBody(request, 503, b"<html><body>503 Service Temporarily Unavailable</body></html>",
                           request.poll.at)

    def request_time(self, day):
        return self.inner.request_time(day)

    def serves_present_of(self, day):
        return True


@pytest.fixture(scope="module")
def outage_run(tmp_path_factory):
    started = time.perf_counter()
    settings = Settings(source_mode=SourceMode.DEMO, warehouse_dir=tmp_path_factory.mktemp("wh"),
                        start_date=dt.date(2025, 10, 1))
    # The hourly job ran during the outage and failed: its polls are archived (write-once) before the nightly run.
    down = FetchingBodySource(Unavailable(DemoFetcher()), LandingArchive(settings.landing_dir))
    failed = [poll_once(down, SPEC, at) for at in scheduled_times(DEFAULT_POLL_CRON, [CASCADE], scheduled_fetch_time)
              if OUTAGE[0] <= at < OUTAGE[1]]
    assert len(failed) == 12 and not any(o.ok for o in failed)
    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        # The demo run sends the schedule's other polls itself (those not archived: the outage's are), then reads
        # the day from every archived poll; dbt builds the two staging views and the mart, with their tests.
        result = dg.materialize(list(defs.assets), selection=SELECTED, partition_key=CASCADE.isoformat(),
                                instance=instance, resources=defs.resources, raise_on_error=False)
    seconds = time.perf_counter() - started
    print(f"\n(b) okx extract + dbt (2 staging views, the mart, their tests) for {CASCADE}: {seconds:.1f} s")
    return settings, result


@pytest.mark.e2e
def test_a_twelve_hour_outage_on_a_cascade_day_warns_and_the_mart_says_what_is_missing(outage_run):
    settings, result = outage_run
    assert result.success, [str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure]
    materialized = {e.materialization.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == set(SELECTED)
    evaluations = result.get_asset_check_evaluations()
    failed = [(e.asset_key.to_user_string(), e.check_name, e.severity) for e in evaluations if not e.passed]
    # the only failed check is the warn-level one; every blocking check (landing, volume, dbt tests) passed
    assert failed == [("raw/okx__liquidation_orders", POLLS_CHECK, dg.AssetCheckSeverity.WARN)]
    names = {e.check_name for e in evaluations}
    assert {"exchange_liquidations_coverage_consistent", "exchange_liquidations_coverage_recorded",
            "unique_combination_stg_okx__liquidation_coverage_date"} <= names
    (warning,) = [e for e in evaluations if e.check_name == POLLS_CHECK]
    assert warning.description.startswith("1 day(s) possibly incomplete: okx/liquidation_orders 2025-10-11: ")
    assert "ran out at the row cap (possible truncation; first sent 2025-10-11T23:05Z)" in warning.description
    assert ("longest gap between polls 13:00:00 (2025-10-11T10:05Z to 2025-10-11T23:05Z) is over 1:15:00, "
            "12 failed poll(s)") in warning.description
    assert "orders there may be lost" in warning.description

    # The poll after the outage reached back to 10:05 minus the overlap but ran out at the cap first: it covers
    # only from its oldest order; everything between 10:05 and that order was served by no poll.
    (after,) = [r for r in PollReader(LandingArchive(settings.landing_dir), SPEC).sent_on(CASCADE)
                if r.at == AFTER_OUTAGE]
    assert after.ok and after.capped and after.rows == 1000
    hole_ms = int(LAST_BEFORE_OUTAGE.timestamp() * 1000), int(after.covered_from.timestamp() * 1000)
    truth = emitted(DemoApi(), CASCADE)
    lost = [ts for ts in truth if hole_ms[0] <= ts < hole_ms[1]]
    assert 0 < len(lost) < 399  # part of the 12:00 hour's cascade (and the 10:00 hour's few orders)
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        assert raw_stamps(conn, CASCADE) == [ts for ts in truth if ts not in set(lost)]
        mart = {row[0]: row[1:] for row in conn.execute(
            "SELECT exchange, orders, orders_from_poll, polls, polls_failed, first_event_at, last_event_at, "
            "longest_poll_gap_s, uncovered_s, row_cap_hit FROM marts.fct_liquidations_daily WHERE date = ?",
            [CASCADE]).fetchall()}
    uncovered = int((after.covered_from - LAST_BEFORE_OUTAGE).total_seconds())
    first, last = (dt.datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None) for ms in (truth[0], truth[-1]))
    # the previous night's fetch at 00:30, 00:05 … 10:05 (11), 23:05, then 00:05 and the nightly fetch at 00:30 the
    # day after: 15 ok polls
    polls = (15, 12, first, last, 13 * 3600, uncovered, True)
    # The OKX stream (the demo's collector files) delivered every order of the day, those the polls lost included:
    # the mart counts each once (orders_from_poll 0: no polled order the stream lacked), and the poll coverage
    # still says what the polls alone missed.
    streamed = default_feeds().totals("okx", CASCADE, pushed=True)["all"].orders
    assert streamed > EMITTED_ON_CASCADE  # the stream carries the inverse swap too
    assert mart["okx"] == (streamed, 0, *polls)
    assert set(mart) == {"binance", "bybit", "okx", "all"} and mart["all"][2:] == polls  # only OKX is polled
    assert uncovered > 3600
