"""The demo's ETH option chain: Deribit's ETH chain beside the BTC one, on a price that moves with BTC.

Its layout is checked the way tests/test_demo_source.py checks the BTC chain's (names, expiry calendar, strike
steps, forward, currencies), against the ETH index the same demo serves, and the parser of the ETH dataset reads it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re

import numpy as np
import pytest

from pipelines.demo.api import DemoApi
from pipelines.demo.fetcher import scheduled_fetch_time
from pipelines.demo.options import MONTHS
from pipelines.ingest.errors import ParseError
from pipelines.sources import deribit

UTC = dt.timezone.utc
DAY = dt.date(2025, 11, 21)
BOOK = deribit.BOOK_SUMMARY_URL
INSTRUMENTS = "https://www.deribit.com/api/v2/public/get_instruments"
INDEX = "https://www.deribit.com/api/v2/public/get_index_price"
ETH_NAME = re.compile(r"ETH-([1-9][0-9]?)([A-Z]{3})([0-9]{2})-([0-9]+)-([CP])")


@pytest.fixture(scope="module")
def api() -> DemoApi:
    return DemoApi()


def _result(api: DemoApi, url: str, params: dict, now: dt.datetime):
    status, body = api.respond(url, params, now)
    assert status == 200, body[:200]
    return json.loads(body)["result"]


def _expiry_and_strike(name: str) -> tuple[dt.datetime, int]:
    m = ETH_NAME.fullmatch(name)
    assert m, name
    return dt.datetime(2000 + int(m[3]), MONTHS.index(m[2]) + 1, int(m[1]), 8), int(m[4])


def test_eth_chain_layout_and_its_index(api):
    now = scheduled_fetch_time(DAY)
    rows = _result(api, BOOK, {"currency": "ETH", "kind": "option"}, now)
    btc = _result(api, BOOK, {"currency": "BTC", "kind": "option"}, now)
    assert 300 <= len(rows) <= 1500
    index = _result(api, INDEX, {"index_name": "eth_usd"}, now)["index_price"]
    btc_index = _result(api, INDEX, {"index_name": "btc_usd"}, now)["index_price"]
    assert 0.015 < index / btc_index < 0.08  # ETH/BTC in its historical range
    expiries: dict[dt.datetime, set[int]] = {}
    for r in rows:
        expiry, strike = _expiry_and_strike(r["instrument_name"])
        expiries.setdefault(expiry, set()).add(strike)
        code = r["instrument_name"].split("-")[1]
        assert r["underlying_index"] in (f"SYN.ETH-{code}", f"ETH-{code}")
        assert r["estimated_delivery_price"] == pytest.approx(index, abs=0.011)  # the same moment's index
        assert 0 < r["underlying_price"] / index - 1 < 0.05
        assert r["quote_currency"] == r["base_currency"] == "ETH"
        assert r["creation_timestamp"] == btc[0]["creation_timestamp"]
    # the same expiry calendar as BTC's (Deribit lists both on one schedule)
    btc_expiries = {r["instrument_name"].split("-")[1] for r in btc}
    assert {r["instrument_name"].split("-")[1] for r in rows} == btc_expiries
    # strikes on ETH's finer grid: 25 apart at the money on a daily near $3,000; coarser further out
    near = sorted(expiries[min(expiries)])
    atm = [k for k in near if abs(math.log(k / index)) < 0.03]
    assert index > 1_500 and np.diff(atm).max() == 25 and all(k % 25 == 0 for k in atm)
    assert all(k % 5 == 0 for strikes in expiries.values() for k in strikes)
    # open interest in ETH: several times the BTC chain's coins, as on Deribit
    assert sum(r["open_interest"] for r in rows) > 2 * sum(r["open_interest"] for r in btc)


def test_any_currency_answers_both_chains_and_instruments_list_the_eth_chain(api):
    now = scheduled_fetch_time(DAY)
    eth = _result(api, BOOK, {"currency": "ETH", "kind": "option"}, now)
    btc = _result(api, BOOK, {"currency": "BTC", "kind": "option"}, now)
    both = _result(api, BOOK, {"currency": "any", "kind": "option"}, now)
    assert sorted(r["instrument_name"] for r in both) == sorted(r["instrument_name"] for r in eth + btc)
    listed = _result(api, INSTRUMENTS, {"currency": "ETH", "kind": "option"}, now)
    assert sorted(r["instrument_name"] for r in listed) == sorted(r["instrument_name"] for r in eth)
    assert {(r["price_index"], r["base_currency"], r["settlement_currency"]) for r in listed} == {
        ("eth_usd", "ETH", "ETH")}
    ids = [r["instrument_id"] for r in listed]
    btc_ids = {r["instrument_id"] for r in _result(api, INSTRUMENTS, {"currency": "BTC", "kind": "option"}, now)}
    assert len(set(ids)) == len(ids) and not set(ids) & btc_ids


def test_the_eth_dataset_parses_the_eth_chain_and_refuses_the_btc_one(api):
    now = scheduled_fetch_time(DAY)
    spec = deribit.ETH_OPTION_BOOK_SUMMARY
    request = spec.build_request(DAY)
    assert (request.dataset, request.params) == ("eth_option_book_summary", {"currency": "ETH", "kind": "option"})
    status, body = api.respond(request.url, request.params, now)
    table = spec.parse(body, DAY, now)
    assert table.num_rows > 300 and set(table.column("base_currency").to_pylist()) == {"ETH"}
    _, btc_body = api.respond(BOOK, {"currency": "BTC", "kind": "option"}, now)
    with pytest.raises(ParseError, match=r"deribit/eth_option_book_summary for 2025-11-21: no ETH option rows"):
        spec.parse(btc_body, DAY, now)


def test_eth_moves_with_btc_and_the_selloff_is_eths_too(api):
    eth, btc = api.eth_options.market, api.market
    first, last = dt.date(2025, 10, 6), dt.date(2025, 11, 21)
    eth_returns = np.diff(np.log(eth.closes(first, last)))
    btc_returns = np.diff(np.log(btc.closes(first, last)))
    assert np.corrcoef(eth_returns, btc_returns)[0, 1] > 0.7
    assert eth.close(last) < 0.85 * eth.close(first)  # BTC's autumn slide, in ETH
    # the intraday index joins the closes: at 24:00 it is the day's close
    midnight = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), UTC)
    assert eth.index_at(midnight) == pytest.approx(eth.close(last), rel=1e-12)


def test_the_eth_chain_is_asked_from_its_first_archived_day_except_in_the_demo():
    """No live or replayed warehouse can hold an ETH snapshot from before the project archived one: those days are
    skipped, not failed; the demo serves every day's present, so it asks them."""
    spec = deribit.ETH_OPTION_BOOK_SUMMARY
    assert spec.archived_since == dt.date(2026, 12, 2)
    assert not spec.covers(DAY) and spec.covers(DAY, simulated=True)
    assert spec.covers(dt.date(2026, 12, 2)) and spec.covers(dt.date(2026, 12, 2), simulated=True)
    assert deribit.OPTION_BOOK_SUMMARY.covers(DAY)  # the BTC chain's days stay asked (and fail when not archived)
