"""Backfills ask range-capable sources for many days per request: the layout, the lookup, and the equivalence with
asking day by day (same rows for every day, from the demo APIs' real wire formats)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from pipelines.demo.fetcher import DemoFetcher, scheduled_fetch_time
from pipelines.ingest.archive import LandingArchive
from pipelines.ingest.body_source import FetchingBodySource, ReplayBodySource, consecutive_chunks
from pipelines.ingest.errors import FetchError
from pipelines.ingest.extract import days_in_window
from pipelines.ingest.fetcher import FetchedBody, FetchRequest
from pipelines.sources.registry import DATASETS, get_dataset
from pipelines.sources.spec import DatasetSpec

FIRST, LAST = dt.date(2025, 9, 1), dt.date(2025, 11, 21)
KLINES = get_dataset("binance", "spot_klines_1d")
RANGED = [spec for spec in DATASETS if spec.asks_ranges]


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# ---- requests ----------------------------------------------------------------------------------------------------

def test_a_one_day_range_is_a_day_request():
    request = FetchRequest("binance", "spot_klines_1d", FIRST, "https://x.invalid", last_day=FIRST)
    assert request.last_day is None and request.through == FIRST and request.span_days == 1
    with pytest.raises(ValueError, match="before it starts"):
        FetchRequest("binance", "spot_klines_1d", LAST, "https://x.invalid", last_day=FIRST)


def test_the_range_capable_datasets_are_the_backfillable_ones_whose_api_serves_a_window():
    assert {spec.name for spec in RANGED} == {
        "binance/spot_klines_1d", "coinbase/spot_candles_1d", "mempool/hashrate", "blockchain_com/hash_rate",
        "blockchain_com/miners_revenue",
        "binance/funding_rate", "binance/top_trader_long_short_ratio", "binance/global_long_short_ratio",
        "bybit/open_interest_1d", "deribit/btc_dvol", "deribit/eth_dvol", "binance/top_trader_position_ratio",
        "binance/taker_volume", "binance/open_interest_day", "bybit/open_interest_day", "okx/open_interest_day",
    }
    # mempool's blocks are paged 15 at a time whatever the window: a range would not save a request.
    # Polymarket's prices history asks one page per followed market alive on the day (their tokens come from the
    # warehouse's Gamma snapshots), one UTC day each: a range would mix markets listed or resolved within it.
    assert not get_dataset("polymarket", "prices_history").asks_ranges
    assert not get_dataset("mempool", "blocks").asks_ranges
    assert all(spec.backfillable for spec in RANGED)


@pytest.mark.parametrize("spec", RANGED, ids=lambda s: s.name)
def test_a_range_of_one_day_asks_exactly_what_the_day_request_asks(spec: DatasetSpec):
    at = scheduled_fetch_time(LAST)
    assert spec.range_request_for(LAST, LAST, at) == spec.request_for(LAST, at)


@pytest.mark.parametrize("spec", RANGED, ids=lambda s: s.name)
def test_a_range_request_names_its_days_and_refuses_more_than_one_request_holds(spec: DatasetSpec):
    first = LAST - dt.timedelta(days=spec.max_range_days - 1)
    request = spec.range_request_for(first, LAST, scheduled_fetch_time(LAST))
    assert (request.day, request.through) == (first, LAST)
    with pytest.raises(ValueError, match="no single request"):
        spec.range_request_for(first - dt.timedelta(days=1), LAST, scheduled_fetch_time(LAST))


def test_a_spec_with_a_range_builder_must_say_how_many_days_a_request_holds():
    with pytest.raises(ValueError, match="max_range_days"):
        dataclasses.replace(KLINES, max_range_days=1)
    with pytest.raises(ValueError, match="max_range_days"):
        dataclasses.replace(KLINES, build_range_request=None)
    with pytest.raises(ValueError, match="only the present"):
        dataclasses.replace(KLINES, backfillable=False)


@pytest.mark.parametrize(
    ("days", "most", "expected"),
    [
        ([], 5, []),
        (["2025-01-01"], 5, [["2025-01-01"]]),
        (["2025-01-01", "2025-01-02", "2025-01-03"], 2, [["2025-01-01", "2025-01-02"], ["2025-01-03"]]),
        (["2025-01-01", "2025-01-03", "2025-01-04"], 5, [["2025-01-01"], ["2025-01-03", "2025-01-04"]]),
        (["2024-12-31", "2025-01-01"], 1000, [["2024-12-31", "2025-01-01"]]),
    ],
)
def test_consecutive_chunks(days, most, expected):
    assert consecutive_chunks([_d(d) for d in days], most) == [[_d(d) for d in chunk] for chunk in expected]


# ---- the archive -------------------------------------------------------------------------------------------------

class _CountingFetcher(DemoFetcher):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[FetchRequest] = []

    def fetch(self, request: FetchRequest) -> FetchedBody:
        self.requests.append(request)
        return super().fetch(request)


def test_a_window_is_asked_for_in_ranges_landed_once_under_the_days_they_cover(tmp_path):
    fetcher, archive = _CountingFetcher(), LandingArchive(tmp_path)
    days = days_in_window(FIRST, LAST + dt.timedelta(days=1))
    answers = FetchingBodySource(fetcher, archive).obtain_window(KLINES, days)
    assert [(r.day, r.through) for r in fetcher.requests] == [(FIRST, LAST)]
    assert list(answers) == days and len({a.stem for a in answers.values()}) == 1
    folder = tmp_path / "binance/spot_klines_1d" / f"range={FIRST}_{LAST}"
    assert sorted(p.name for p in folder.iterdir()) == ["20251122T003000Z.json.gz", "20251122T003000Z.meta.json"]
    meta = answers[FIRST].first.meta
    assert (meta["date"], meta["last_date"]) == (FIRST.isoformat(), LAST.isoformat())
    # Replay finds every day of the range in it; nothing is fetched.
    replayed = ReplayBodySource(archive).obtain_window(KLINES, days)
    assert replayed == answers


def test_the_ratio_endpoints_30_day_history_cuts_a_window_into_28_day_requests(tmp_path):
    fetcher = _CountingFetcher()
    spec = get_dataset("binance", "top_trader_long_short_ratio")
    days = days_in_window(FIRST, LAST + dt.timedelta(days=1))  # 82 days
    answers = FetchingBodySource(fetcher, LandingArchive(tmp_path)).obtain_window(spec, days)
    assert [r.span_days for r in fetcher.requests] == [28, 28, 26]
    assert all(not isinstance(answer, Exception) for answer in answers.values())


def test_the_newest_fetch_answers_for_a_day_and_on_a_tie_the_days_own(tmp_path):
    archive = LandingArchive(tmp_path)
    source = FetchingBodySource(DemoFetcher(), archive)
    in_range = source.obtain_window(KLINES, [LAST - dt.timedelta(days=1), LAST])[LAST]
    own = source.obtain(KLINES, LAST)  # fetched at the same simulated moment, under date=
    assert in_range.first.path.parent.name.startswith("range=") and own.first.path.parent.name.startswith("date=")
    assert archive.newest_fetch("binance", "spot_klines_1d", LAST) == own
    assert archive.newest_fetch("binance", "spot_klines_1d", LAST - dt.timedelta(days=1)) == in_range
    later = source.obtain_window(KLINES, [LAST, LAST + dt.timedelta(days=1)])[LAST]  # fetched a day later
    assert archive.newest_fetch("binance", "spot_klines_1d", LAST) == later
    assert [f.stem for f in archive.fetches("binance", "spot_klines_1d", LAST)] == [
        "20251122T003000Z", "20251122T003000Z", "20251123T003000Z"]


class _FailingFetcher(DemoFetcher):
    def fetch(self, request: FetchRequest) -> FetchedBody:
        body = b'{"code":-1003,"msg":"Too many requests"}'
        return FetchedBody(request, 429, body, scheduled_fetch_time(request.through))


def test_a_failed_range_fails_each_of_its_days_naming_the_range_and_keeps_the_body(tmp_path):
    archive = LandingArchive(tmp_path)
    days = [LAST - dt.timedelta(days=2), LAST - dt.timedelta(days=1), LAST]
    answers = FetchingBodySource(_FailingFetcher(), archive).obtain_window(KLINES, days)
    for day in days:
        error = answers[day]
        assert isinstance(error, FetchError) and error.day == day
        assert f"binance/spot_klines_1d for {day}" in str(error)
        assert f"range request {days[0]} … {LAST}: HTTP 429" in str(error)
    assert archive.newest("binance", "spot_klines_1d", days[0]).read_body().startswith(b'{"code":-1003')


def test_a_range_whose_answer_needs_a_second_page_is_refused(tmp_path):
    def next_page(request, body):
        return dataclasses.replace(request, params={**request.params, "page": "2"})

    paged = dataclasses.replace(KLINES, next_page=next_page)
    days = [FIRST, FIRST + dt.timedelta(days=1)]
    answers = FetchingBodySource(DemoFetcher(), LandingArchive(tmp_path)).obtain_window(paged, days)
    assert "needs more than one page" in str(answers[FIRST])


# ---- the same rows whichever way a day is asked for ------------------------------------------------------------

def _parse(spec: DatasetSpec, page, day: dt.date, fetched_at: dt.datetime):
    """A page's rows of `day`, read as the extract reads them (with the page's request params where the body does
    not say what was asked)."""
    if spec.parse_takes_params:
        return spec.parse(page.read_body(), day, fetched_at, page.meta["params"])
    return spec.parse(page.read_body(), day, fetched_at)


@pytest.mark.parametrize("spec", RANGED, ids=lambda s: s.name)
def test_every_day_parses_to_the_same_rows_from_a_range_as_from_its_own_request(spec: DatasetSpec, tmp_path):
    days = [d for d in days_in_window(FIRST, LAST + dt.timedelta(days=1)) if spec.covers(d)]
    assert days, f"{spec.name} has no day in the window"
    ranged = FetchingBodySource(DemoFetcher(), LandingArchive(tmp_path / "ranged")).obtain_window(spec, days)
    own = FetchingBodySource(DemoFetcher(), LandingArchive(tmp_path / "own"))
    assert len({fetch.stem + str(fetch.first.path.parent) for fetch in ranged.values()}) < len(days)
    for day in days:
        by_range, by_day = ranged[day], own.obtain(spec, day)
        from_range = _parse(spec, by_range.first, day, by_range.fetched_at)
        from_day = _parse(spec, by_day.first, day, by_day.fetched_at)
        assert from_range.equals(from_day), (spec.name, day)
