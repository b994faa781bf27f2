"""Hourly polls of OKX liquidation orders: the demo feed rolls off like OKX's (24 h, newest 1000), polls keep every
order of a cascade day exactly once, a nightly fetch alone is truncated and flagged, and hours of failed polls show
as a gap of the right length in the day's coverage."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from pipelines.demo.api import DemoApi
from pipelines.demo.endpoints_derivatives import derivatives_model
from pipelines.demo.fetcher import DemoFetcher, scheduled_fetch_time
from pipelines.ingest.archive import LandingArchive
from pipelines.ingest.body_source import FetchingBodySource
from pipelines.ingest.extract import load_window
from pipelines.ingest.fetcher import FetchedBody, FetchRequest
from pipelines.ingest.polls import PollReader
from pipelines.polling.cadence import DEFAULT_POLL_CRON, max_expected_gap
from pipelines.polling.poller import poll_once, poll_rolling_sources, simulate_schedule
from pipelines.settings import Settings, SettingsError
from pipelines.sources.okx import LIQUIDATION_ORDERS as SPEC

UTC = dt.UTC
CASCADE = dt.date(2025, 10, 11)  # 1558 simulated OKX liquidations: more than the feed's cap of 1000


@pytest.fixture(scope="module")
def api() -> DemoApi:
    return DemoApi()


def source(tmp_path, fetcher) -> FetchingBodySource:
    return FetchingBodySource(fetcher, LandingArchive(tmp_path / "landing"))


def load(tmp_path, body_source, day: dt.date):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        result = load_window(SPEC, [day], body_source, conn, tmp_path, dt.datetime(2026, 1, 1, tzinfo=UTC), 0.02)
        stamps = [int(t.replace(tzinfo=UTC).timestamp() * 1000) for (t,) in
                  conn.execute("SELECT ts FROM raw.okx__liquidation_orders ORDER BY ts").fetchall()]
        log = conn.execute("SELECT polls, polls_failed, longest_poll_gap_s, uncovered_s, row_cap_hit, first_event_at "
                           "FROM raw.load_log").fetchone()
    return result.days[0], stamps, log


def test_the_demo_feed_serves_the_last_24_h_and_its_newest_1000_orders(api):
    now = dt.datetime(2025, 10, 11, 23, 0, tzinfo=UTC)
    request = SPEC.poll.build_request(__import__("pipelines.ingest.fetcher", fromlist=["PollWindow"]).PollWindow(
        now, now - dt.timedelta(hours=24)))
    fetcher = DemoFetcher(api)
    served: set = set()
    while request is not None:
        body = fetcher.fetch(request).body
        served.update(SPEC.poll.served_keys(body))
        request = SPEC.next_page(request, body)
    now_ms = int(now.timestamp() * 1000)
    assert len(served) == 1000  # the cap: the cascade hours alone hold more
    assert min(k[0] for k in served) > now_ms - 24 * 3_600_000
    events = derivatives_model(api).liquidation_events(CASCADE).ts
    assert sorted(k[0] for k in served) == sorted(events[events <= now_ms][-1000:].tolist())
    # asked past the cap, or past 24 h, the feed is empty
    past = {"instType": "SWAP", "instFamily": "BTC-USDT", "state": "filled", "after": str(min(k[0] for k in served))}
    _, body = api.respond(SPEC.poll.build_request.__globals__["LIQUIDATION_ORDERS_URL"], past, now)
    assert json.loads(body)["data"] == []


def test_a_cascade_day_arrives_whole_from_hourly_polls_each_order_once(tmp_path, api):
    body_source = source(tmp_path, DemoFetcher(api))
    outcomes = simulate_schedule(body_source, SPEC, [CASCADE], DEFAULT_POLL_CRON)
    # 23:05 the day before, the previous night's fetch at 00:30, every hour of the day, 00:05 and the nightly fetch
    # at 00:30 the day after; each reaches back to the schedule's previous send (a tick or a nightly fetch, less 10
    # minutes), whatever was run before, so none comes near the cap (at most ~550 orders an hour in the demo)
    assert len(outcomes) == 28 and all(o.ok and not o.capped for o in outcomes)
    assert outcomes[0].at == dt.datetime(2025, 10, 10, 23, 5, tzinfo=UTC)
    assert outcomes[1].at == dt.datetime(2025, 10, 11, 0, 5, tzinfo=UTC)
    assert outcomes[2].at == dt.datetime(2025, 10, 11, 0, 30, tzinfo=UTC)
    assert [o.since for o in outcomes[:4]] == [dt.datetime(2025, 10, 10, 21, 55, tzinfo=UTC),
                                               dt.datetime(2025, 10, 10, 22, 55, tzinfo=UTC),
                                               dt.datetime(2025, 10, 10, 23, 55, tzinfo=UTC),
                                               dt.datetime(2025, 10, 11, 0, 20, tzinfo=UTC)]  # 01:05: after 00:30
    assert simulate_schedule(body_source, SPEC, [CASCADE], DEFAULT_POLL_CRON) == []  # write-once: nothing resent
    day, stamps, log = load(tmp_path, body_source, CASCADE)
    emitted = derivatives_model(api).liquidation_events(CASCADE).ts.tolist()
    assert stamps == emitted and len(emitted) == 1558  # every order, exactly once, though polls overlap 10 min
    polls, failed, gap, uncovered, capped, first = log
    assert (polls, failed, gap, uncovered, capped) == (27, 0, 3600, 0, False)  # 23:05 ends before the day
    assert first == dt.datetime(2025, 10, 11, 0, 0) + dt.timedelta(milliseconds=emitted[0] % 86_400_000)
    assert day.coverage.problems(max_expected_gap(DEFAULT_POLL_CRON)) == []


def test_without_hourly_polls_the_nightly_fetch_is_truncated_and_flagged(tmp_path, api):
    body_source = source(tmp_path, DemoFetcher(api))
    outcome = poll_once(body_source, SPEC, scheduled_fetch_time(CASCADE))  # the nightly fetch, nothing before it
    assert outcome.ok and outcome.capped and outcome.rows == 1000 and "row cap 1000" in outcome.line()
    day, stamps, log = load(tmp_path, body_source, CASCADE)
    assert len(stamps) < 1000 < 1558
    polls, failed, gap, uncovered, capped, _ = log
    assert polls == 1 and capped and uncovered > 12 * 3600
    problems = day.coverage.problems(max_expected_gap(DEFAULT_POLL_CRON))
    assert any("row cap" in p for p in problems) and any("may be lost" in p for p in problems)


class FailingHours:
    """The demo fetcher, but every request sent in [start, end) answers HTTP 503 (the body is still archived)."""

    def __init__(self, inner: DemoFetcher, start: dt.datetime, end: dt.datetime):
        self.inner, self.start, self.end = inner, start, end

    def fetch(self, request: FetchRequest) -> FetchedBody:
        got = self.inner.fetch(request)
        if request.poll and self.start <= request.poll.at < self.end:
            return FetchedBody(request, 503, b"<html>503 Service Unavailable</html>", got.fetched_at)
        return got

    def request_time(self, day):
        return self.inner.request_time(day)

    def serves_present_of(self, day):
        return True


def test_the_simulated_polls_of_a_day_do_not_depend_on_which_days_ran_before(tmp_path, api):
    """A backfill in any order ends in the same tables: the day after, run first or second, has the same polls."""
    alone = source(tmp_path / "alone", DemoFetcher(api))
    simulate_schedule(alone, SPEC, [CASCADE], DEFAULT_POLL_CRON)
    after = source(tmp_path / "after", DemoFetcher(api))
    simulate_schedule(after, SPEC, [CASCADE + dt.timedelta(days=1)], DEFAULT_POLL_CRON)  # the day after, first
    simulate_schedule(after, SPEC, [CASCADE - dt.timedelta(days=1)], DEFAULT_POLL_CRON)
    simulate_schedule(after, SPEC, [CASCADE], DEFAULT_POLL_CRON)
    assert load(tmp_path / "alone", alone, CASCADE)[1:] == load(tmp_path / "after", after, CASCADE)[1:]


def test_hours_of_failed_polls_are_a_gap_of_that_length_and_lose_nothing(tmp_path, api, caplog):
    down = dt.datetime(2025, 10, 11, 3, 0, tzinfo=UTC), dt.datetime(2025, 10, 11, 8, 0, tzinfo=UTC)
    body_source = source(tmp_path, FailingHours(DemoFetcher(api), *down))
    outcomes = simulate_schedule(body_source, SPEC, [CASCADE], DEFAULT_POLL_CRON)
    failed = [o for o in outcomes if not o.ok]
    assert [o.at.hour for o in failed] == [3, 4, 5, 6, 7]
    assert "okx/liquidation_orders poll at 2025-10-11T03:05:00Z (day 2025-10-11) FAILED: HTTP 503" in failed[0].line()
    # every failed body is archived under its poll date
    archived, _cut = body_source.archive.polls("okx", "liquidation_orders", CASCADE)
    assert sum(f.first.status == 503 for f in archived) == 5
    day, stamps, log = load(tmp_path, body_source, CASCADE)
    polls, failed_count, gap, uncovered, capped, _ = log
    # 02:05 → 08:05: the poll after the outage reaches back over it (to the last tick not archived as failed, 02:05;
    # ~6 h of orders, under the cap that day)
    assert (failed_count, gap, uncovered, capped) == (5, 6 * 3600, 0, False)
    assert stamps == derivatives_model(api).liquidation_events(CASCADE).ts.tolist()
    problems = day.coverage.problems(max_expected_gap(DEFAULT_POLL_CRON))
    assert problems == ["longest gap between polls 6:00:00 (2025-10-11T02:05Z to 2025-10-11T08:05Z) is over "
                        "1:15:00, 5 failed poll(s)"]


def test_polls_of_every_rolling_source_at_a_given_clock(tmp_path, api):
    body_source = source(tmp_path, DemoFetcher(api))
    at = dt.datetime(2025, 11, 20, 12, 5, tzinfo=UTC)
    [first] = poll_rolling_sources(body_source, at)
    [second] = poll_rolling_sources(body_source, at + dt.timedelta(hours=1))
    assert first.ok and first.since == at - dt.timedelta(hours=24)  # nothing before: the whole retention
    assert second.since == at - dt.timedelta(minutes=10)  # the previous poll minus the overlap
    assert (tmp_path / first.landing_file).exists() and "poll=2025-11-20" in first.landing_file
    meta = json.loads((tmp_path / first.landing_file.replace(".json.gz", ".meta.json")).read_text())
    assert meta["poll_at"] == "2025-11-20T12:05:00+00:00" and meta["poll_since"] == "2025-11-19T12:05:00+00:00"
    with pytest.raises(ValueError, match="timezone-aware"):
        poll_rolling_sources(body_source, at.replace(tzinfo=None))
    assert PollReader(body_source.archive, SPEC).newest_ok_before(at + dt.timedelta(hours=2)).at == second.at


def test_the_poll_cron_setting_is_validated():
    assert Settings.from_env({}).poll_cron == "5 * * * *"
    assert Settings.from_env({"BTCW_POLL_CRON": "*/30  * * * *"}).poll_cron == "*/30 * * * *"
    with pytest.raises(SettingsError, match=r"^BTCW_POLL_CRON='hourly' is not a 5-field cron schedule"):
        Settings.from_env({"BTCW_POLL_CRON": "hourly"})
    assert max_expected_gap("*/30 * * * *") == dt.timedelta(minutes=45)


def test_poll_now_polls_at_the_runs_clock_into_the_modes_tree(tmp_path, capsys):
    """What the hourly job, `make poll` and the soak's ticks send: one poll of every rolling source at settings.now()."""
    from pipelines.cli import main
    from pipelines.polling.poller import poll_now
    from pipelines.settings import SourceMode

    at = dt.datetime(2025, 10, 11, 12, 5, tzinfo=UTC)
    settings = Settings(source_mode=SourceMode.DEMO, warehouse_dir=tmp_path, simulated_now=at)
    (outcome,) = poll_now(settings)
    assert outcome.ok and outcome.at == at and outcome.spec is SPEC
    (fetch,), _ = LandingArchive(settings.landing_dir).polls("okx", "liquidation_orders", CASCADE)
    assert fetch.first.meta["poll_at"] == at.isoformat()
    with pytest.raises(ValueError, match="replay mode sends no request"):
        poll_now(Settings(source_mode=SourceMode.REPLAY, warehouse_dir=tmp_path))
    env = {"BTCW_SOURCE_MODE": "demo", "BTCW_WAREHOUSE_DIR": str(tmp_path / "cli"),
           "BTCW_SIMULATED_NOW": "2025-10-11T13:05:00Z"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert main(["poll"]) == 0
    assert "okx/liquidation_orders poll at 2025-10-11T13:05:00Z" in capsys.readouterr().out
