"""Live mode end to end against real HTTP on 127.0.0.1: the demo APIs served by a local server, with faults.

Every registered dataset goes through LiveFetcher (retries, rate limits, envelope checks), the landing
archive and its parser, exactly as in production; only the hosts are redirected to the local server.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from urllib.parse import urlsplit

import duckdb
import pytest

from pipelines.demo.server import DemoApiServer, Reply
from pipelines.ingest.archive import LandingArchive
from pipelines.ingest.body_source import FetchingBodySource, ReplayBodySource
from pipelines.ingest.errors import FetchError
from pipelines.ingest.extract import load_window
from pipelines.live.fetcher import LiveFetcher
from pipelines.live.http_client import HttpPolicy
from pipelines.polling.poller import poll_once
from pipelines.sources.registry import DATASETS, get_dataset

DAY = dt.date(2025, 11, 20)
NIGHTLY = dt.datetime(2025, 11, 21, 0, 30, tzinfo=dt.UTC)


def origins() -> set[str]:
    found = set()
    for spec in DATASETS:
        parts = urlsplit(spec.endpoint_url or spec.build_request(DAY).url)
        found.add(f"{parts.scheme}://{parts.netloc}")
    return found


def live_fetcher(server: DemoApiServer, now: dt.datetime, sleeps: list[float]) -> LiveFetcher:
    policy = HttpPolicy(read_timeout=5, max_attempts=4, base_backoff=0.5, max_backoff=4,
                        host_rates={}, default_rate=math.inf)
    return LiveFetcher(policy, now=lambda: now, sleep=sleeps.append, rng=random.Random(7),
                       base_urls={origin: server.base_url for origin in origins()})


def flaky(path: str, attempt: int) -> Reply | None:
    """Every path: a 500, then a 429 asking for 2 s, then the real answer."""
    if attempt == 1:
        return Reply(500, b'{"error":"internal"}')
    if attempt == 2:
        return Reply(429, b'{"error":"slow down"}', {"Retry-After": "2"})
    return None


@pytest.mark.parametrize("spec", DATASETS, ids=lambda s: s.name)
def test_every_dataset_survives_transient_faults_and_loads(spec, tmp_path):
    sleeps: list[float] = []
    with DemoApiServer(lambda: NIGHTLY, faults=flaky) as server:
        source = FetchingBodySource(live_fetcher(server, NIGHTLY, sleeps), LandingArchive(tmp_path / "landing"))
        if spec.poll is not None:  # a rolling source's day is read from its polls: the nightly sends one
            assert poll_once(source, spec, NIGHTLY).ok
        with duckdb.connect() as conn:
            if spec.bind is not None:  # its requests come from another dataset's rows: load those first
                for name in spec.upstream:
                    load_window(get_dataset(*name.split("/")), [DAY], source, conn, tmp_path, NIGHTLY, 0.0)
                spec = spec.bind(conn, [DAY])
            load = load_window(spec, [DAY], source, conn, tmp_path, NIGHTLY, reject_threshold=0.0)
            stored = conn.execute(f'SELECT count(*) FROM raw."{spec.raw_table}"').fetchone()[0]
    assert [d.status for d in load.days] == ["loaded"] and load.quarantined.num_rows == 0
    assert load.rows_loaded == stored
    if spec.name != "okx/liquidation_orders":  # a calm hour can have no liquidation at all
        assert load.rows_loaded > 0
    assert 2.0 in sleeps  # Retry-After honoured
    archive = LandingArchive(tmp_path / "landing")
    if spec.poll is not None:  # the poll landed under the date it was sent
        (fetch,), cut_short = archive.polls(spec.source, spec.dataset, NIGHTLY.date())
        assert cut_short == []
    else:
        fetch = archive.newest_fetch(spec.source, spec.dataset, DAY)
    assert all(page.status == 200 for page in fetch.pages)  # the body that was parsed is the one archived


def test_a_persistent_error_is_archived_and_named(tmp_path):
    spec = get_dataset("deribit", "option_book_summary")
    always_503 = lambda path, attempt: Reply(503, b"<html><body>Service Unavailable</body></html>")  # noqa: E731
    sleeps: list[float] = []
    archive = LandingArchive(tmp_path)
    with DemoApiServer(lambda: NIGHTLY, faults=always_503) as server:
        source = FetchingBodySource(live_fetcher(server, NIGHTLY, sleeps), archive)
        with pytest.raises(FetchError, match=r"deribit/option_book_summary for 2025-11-20: HTTP 503"):
            source.obtain(spec, DAY)
        assert server.hits["/api/v2/public/get_book_summary_by_currency"] == 4  # max_attempts
    assert len(sleeps) == 3
    assert b"Service Unavailable" in archive.newest("deribit", "option_book_summary", DAY).read_body()


def test_an_html_page_with_status_200_is_not_data(tmp_path):
    spec = get_dataset("binance", "spot_klines_1d")
    html = lambda path, attempt: Reply(200, b"<!DOCTYPE html><html><title>Just a moment...</title></html>")  # noqa: E731
    archive = LandingArchive(tmp_path)
    with DemoApiServer(lambda: NIGHTLY, faults=html) as server:
        source = FetchingBodySource(live_fetcher(server, NIGHTLY, []), archive)
        with pytest.raises(FetchError, match=r"binance/spot_klines_1d for 2025-11-20: .*HTML"):
            source.obtain(spec, DAY)
    assert archive.newest("binance", "spot_klines_1d", DAY).read_body().startswith(b"<!DOCTYPE html>")


def test_a_now_only_dataset_for_a_past_day_comes_from_the_archive_or_fails(tmp_path):
    spec = get_dataset("deribit", "option_book_summary")
    archive = LandingArchive(tmp_path)
    week_later = NIGHTLY + dt.timedelta(days=7)
    with DemoApiServer(lambda: week_later) as server:
        late = FetchingBodySource(live_fetcher(server, week_later, []), archive)
        with pytest.raises(FetchError, match="serves only the present .*no archived snapshot for 2025-11-20"):
            late.obtain(spec, DAY)
        assert server.hits == {}  # today's chain was never asked for, so never stamped with a past date
    with DemoApiServer(lambda: NIGHTLY) as server:
        on_time = FetchingBodySource(live_fetcher(server, NIGHTLY, []), archive).obtain(spec, DAY)
    with DemoApiServer(lambda: week_later) as server:
        again = FetchingBodySource(live_fetcher(server, week_later, []), archive).obtain(spec, DAY)
        assert server.hits == {}
    assert again == on_time == ReplayBodySource(archive).obtain(spec, DAY)
