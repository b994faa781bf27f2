"""The demo Deribit chains (BTC and ETH) list like the exchange: strikes are added, never removed, and the raw volume
check still catches a chain that really halves.

Issue 12 measured the old simulator halving overnight (878 instruments on 2023-03-10, 440 on 2023-03-11, same
expiries): its strike grid switched at a price threshold and a backfill failed `raw_row_volume`. These tests walk
the model's listing over every nightly snapshot from the first partition to yesterday, without a pipeline run.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from pipelines.checks.raw_checks import raw_volume_in_band
from pipelines.demo.api import DemoApi
from pipelines.demo.ether import ETH_OPTIONS, EtherMarket
from pipelines.demo.fetcher import DemoFetcher, scheduled_fetch_time
from pipelines.demo.market import MarketModel
from pipelines.demo.options import OptionChainModel
from pipelines.ingest.raw_loader import RAW_SCHEMA, ensure_raw_table
from pipelines.quality import rules as q
from pipelines.sources import deribit, deribit_reference

FIRST_PARTITION = dt.date(2020, 1, 1)


def _btc_chain() -> OptionChainModel:
    return OptionChainModel(MarketModel())


def _eth_chain() -> OptionChainModel:
    return OptionChainModel(EtherMarket(MarketModel()), ETH_OPTIONS)


# currency: (a fresh model, the strike grid every strike is on, the raw table whose volume band applies)
CHAINS = {
    "BTC": (_btc_chain, int(q.DERIBIT_STRIKE_GRID_USD), "deribit__option_book_summary"),
    "ETH": (_eth_chain, 5, "deribit__eth_option_book_summary"),  # the demo's finest ETH step is $5
}


def _nightly(day: dt.date) -> dt.datetime:
    return scheduled_fetch_time(day).replace(tzinfo=None)


def _ms(moment: dt.datetime) -> int:
    return (moment - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1)


@pytest.fixture(scope="module", params=sorted(CHAINS))
def walk(request):
    """The chain's currency, the days, and {expiry code: (strikes, added ms)} of every nightly snapshot,
    2020-01-01 .. yesterday (today's UTC date)."""
    options = CHAINS[request.param][0]()
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    days = [FIRST_PARTITION + dt.timedelta(days=i) for i in range((yesterday - FIRST_PARTITION).days + 1)]
    snapshots = []
    for day in days:
        snapshots.append({x.expiry.code: (x.strikes, x.created_ms) for x in options.listing(_nightly(day))})
    return request.param, days, snapshots


def test_no_listed_strike_disappears_before_its_expiry_and_counts_change_only_by_listings(walk):
    currency, days, snapshots = walk
    grid = CHAINS[currency][1]
    assert len(days) >= 2100  # 2020-01-01 .. at least 2025-10
    for day, before, after in zip(days[1:], snapshots, snapshots[1:]):
        expired = 0
        for code, (strikes, added) in before.items():
            if code not in after:
                expired += 2 * len(strikes)  # a call and a put per strike
                continue
            kept, kept_added = after[code]
            # every strike stays, and keeps the time it was listed
            index = np.searchsorted(kept, strikes)
            assert np.all(index < len(kept)) and np.array_equal(kept[np.minimum(index, len(kept) - 1)], strikes), \
                (day, code, sorted(set(strikes.tolist()) - set(kept.tolist()))[:5])
            assert np.array_equal(kept_added[index], added), (day, code)
        count_before = 2 * sum(len(s) for s, _ in before.values())
        count_after = 2 * sum(len(s) for s, _ in after.values())
        assert count_before - count_after <= expired, (day, count_before, count_after, expired)
        for code, (strikes, added) in after.items():
            assert np.all(strikes % grid == 0) and np.all(np.diff(strikes) > 0), (day, code)
            assert np.all(added <= _ms(_nightly(day))), (day, code)  # nothing from the future


def test_every_window_passes_the_raw_volume_band(walk):
    """Each night's instrument count against each of the 14 nights before it, inside the band the check applies to
    their median: then any backfill window's trailing median (a subset of those nights) passes too."""
    currency, days, snapshots = walk
    counts = np.array([2 * sum(len(s) for s, _ in snap.values()) for snap in snapshots])
    band = q.RULES[CHAINS[currency][2]].volume
    assert band == q.RULES["deribit__option_instruments"].volume
    worst_low = worst_high = (1.0, None)
    for lag in range(1, q.VOLUME_TRAILING_DAYS + 1):
        ratio = counts[lag:] / counts[:-lag]
        i, j = int(ratio.argmin()), int(ratio.argmax())
        worst_low = min(worst_low, (float(ratio[i]), days[i + lag]), key=lambda x: x[0])
        worst_high = max(worst_high, (float(ratio[j]), days[j + lag]), key=lambda x: x[0])
    assert band.low < worst_low[0] and worst_high[0] < band.high, (worst_low, worst_high)
    if currency != "BTC":
        return
    # the night: no halving at 2023-03-11
    k = days.index(dt.date(2023, 3, 11))
    assert 0.9 < counts[k] / counts[k - 1] < 1.1, counts[k - 1 : k + 1]


def test_the_listing_depends_on_the_moment_asked_only(walk):
    currency, days, snapshots = walk
    for k in (0, 450, 1170, len(days) - 1):  # a fresh model, asked about one night alone
        fresh = {x.expiry.code: (x.strikes, x.created_ms) for x in CHAINS[currency][0]().listing(_nightly(days[k]))}
        assert fresh.keys() == snapshots[k].keys()
        assert all(np.array_equal(fresh[c][0], snapshots[k][c][0]) and np.array_equal(fresh[c][1], snapshots[k][c][1])
                   for c in fresh)


def test_strikes_are_added_as_the_price_moves_and_get_instruments_dates_them():
    """28NOV25 listed on 2025-08-25 around $101k; the price rose to ~$126k, then fell to ~$89k: strikes were added
    above and below the listing's, each dated by get_instruments at the close that reached it."""
    api = DemoApi()
    day = dt.date(2025, 11, 21)
    now = scheduled_fetch_time(day)
    rows = deribit_reference.OPTION_INSTRUMENTS.parse(
        DemoFetcher(api).fetch(deribit_reference.OPTION_INSTRUMENTS.build_request(day)).body, day, now).to_pylist()
    expiry_rows = [r for r in rows if r["instrument_name"].startswith("BTC-28NOV25-")]
    first = min(r["creation_time"] for r in expiry_rows)
    added = [r for r in expiry_rows if r["creation_time"] > first]
    assert added and all(r["creation_time"].hour == 0 for r in added)  # added after a daily close
    assert all(r["creation_time"] <= now.replace(tzinfo=None) for r in expiry_rows)
    # the strikes the listing had are the ones around the price then; added ones reach where the price went since
    listed_close = api.market.close(first.date() - dt.timedelta(days=1))
    lowest_added = min(r["strike"] for r in added)
    at_listing = [r["strike"] for r in expiry_rows if r["creation_time"] == first]
    assert lowest_added < 0.92 * listed_close and lowest_added < min(at_listing)
    assert max(r["strike"] for r in added) > max(at_listing)
    # the book summary quotes exactly those instruments
    book = deribit.OPTION_BOOK_SUMMARY.parse(
        DemoFetcher(api).fetch(deribit.OPTION_BOOK_SUMMARY.build_request(day)).body, day, now).to_pylist()
    assert sorted(r["instrument_name"] for r in book) == sorted(r["instrument_name"] for r in rows)


# ---- the raw volume check keeps guarding ------------------------------------------------------------------------

HALVED_DAY = dt.date(2023, 3, 11)
WINDOW = [HALVED_DAY - dt.timedelta(days=i) for i in range(19, -1, -1)]  # 2023-02-20 .. 2023-03-11


def _load(conn: duckdb.DuckDBPyConnection, spec, day: dt.date, body: bytes, now: dt.datetime) -> int:
    table = spec.parse(body, day, now)
    conn.register("parsed", table)
    conn.execute(f'DELETE FROM {RAW_SCHEMA}."{spec.raw_table}" WHERE partition_date = ?', [day]).fetchall()
    conn.execute(f'INSERT INTO {RAW_SCHEMA}."{spec.raw_table}" SELECT *, ?, ? FROM parsed',
                 [f"landing/{spec.source}/{spec.dataset}/date={day}", now.replace(tzinfo=None)]).fetchall()
    conn.unregister("parsed")
    return table.num_rows


@pytest.mark.parametrize("spec", [deribit.OPTION_BOOK_SUMMARY, deribit_reference.OPTION_INSTRUMENTS],
                         ids=lambda s: s.name)
def test_the_volume_check_passes_the_listing_and_still_fails_a_chain_that_really_halves(spec):
    fetcher = DemoFetcher()
    conn = duckdb.connect()
    ensure_raw_table(conn, spec)
    bodies = {}
    for day in WINDOW:
        got = fetcher.fetch(spec.build_request(day))
        assert got.status == 200
        bodies[day] = (got.body, got.fetched_at)
        _load(conn, spec, day, got.body, got.fetched_at)
    start, end = WINDOW[0], HALVED_DAY + dt.timedelta(days=1)
    ordinary = raw_volume_in_band(conn, spec, start, end)
    assert ordinary.passed, ordinary.description  # the backfill of issue 12 failed here

    # A real anomaly: the exchange answers with half its instruments (every other one of the same body).
    body, fetched_at = bodies[HALVED_DAY]
    envelope = json.loads(body)
    envelope["result"] = envelope["result"][::2]
    halved = _load(conn, spec, HALVED_DAY, json.dumps(envelope).encode(), fetched_at)
    median = float(np.median([conn.execute(f'SELECT count(*) FROM {RAW_SCHEMA}."{spec.raw_table}" '
                                            "WHERE partition_date = ?", [d]).fetchall()[0][0]
                              for d in WINDOW[-15:-1]]))
    odd = raw_volume_in_band(conn, spec, start, end)
    assert not odd.passed
    assert f"{HALVED_DAY}: {halved} rows vs median {median}" in odd.description, odd.description
    assert json.loads(odd.metadata["anomalous_days"][0])["partition_date"] == str(HALVED_DAY)
