"""Bad input, tried (issue 6): malformed bodies of every dataset, replayed through the real extract assets.

Each case archives a corrupted body as a newer fetch of one demo day, materializes that dataset's extract asset,
and expects one of four defined outcomes:
- FAILED: the day is not loaded; the failed `landing_bodies_parsed` check and raw.load_log name
  "<source>/<dataset>", the date and the case's reason (the run fails: the check is blocking);
- REJECTED: the bad rows are in raw.quarantine with the case's reason, the day is above the reject threshold and
  not loaded; the failed `raw_rejects_within_threshold` check names dataset and date (the run fails);
- QUARANTINED: ADDED bad rows are in raw.quarantine with the case's reason, the unchanged good rows load (the run
  succeeds);
- ACCEPTED: a field the parser does not read is ignored and the day loads the same rows (the run succeeds).
In every case the corrupted body stays in the landing archive (sha256 as recorded), every table but the
quarantine and the load log keeps its content, and archiving the good body again makes the next run succeed
with the original content.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest

from bad_input import (
    Corrupt,
    Warehouse,
    archive_fetch,
    edit,
    fingerprints,
    good_bodies,
    materialize,
    query,
    relative,
    replay_warehouse,
    rewrite,
    truncate,
    whole_body,
)
from pipelines.assets.extracts import LANDING_CHECK, REJECTS_CHECK
from pipelines.ingest import body_source
from pipelines.ingest.archive import LandingArchive, sha256_hex
from pipelines.ingest.body_source import FetchingBodySource, ReplayBodySource
from pipelines.ingest.errors import FetchError
from pipelines.ingest.fetcher import FetchedBody
from pipelines.sources.registry import DATASETS, get_dataset

DAY = dt.date(2025, 11, 20)
DAY_S = 1763596800  # 2025-11-20 00:00 UTC, unix seconds
DAY_MS = DAY_S * 1000
WEEK_US = 7 * 86_400 * 1_000_000
SPECS = {spec.name: spec for spec in DATASETS}

FAILED, REJECTED, QUARANTINED, ACCEPTED = "failed", "rejected", "quarantined", "accepted"


@dataclass(frozen=True)
class Case:
    id: str
    dataset: str  # "<source>/<dataset>"
    corrupt: Corrupt  # the good fetch's page bodies -> the corrupted fetch's page bodies
    outcome: str
    reason: str  # in the check's description and the log (FAILED), or in every quarantine reason
    status: int = 200
    quarantined: int = 1  # rows quarantined (REJECTED, QUARANTINED)


# ---- edits of the demo documents --------------------------------------------------------------------------------

Change = Callable[[Any], None]


def put(select: Callable[[Any], Any], key: object, value: object) -> Change:
    def change(doc: Any) -> None:
        select(doc)[key] = value

    return change


def scale(select: Callable[[Any], Any], key: object, factor: float) -> Change:
    def change(doc: Any) -> None:
        select(doc)[key] *= factor

    return change


def shift(select: Callable[[Any], Any], key: object, delta: int) -> Change:
    def change(doc: Any) -> None:
        select(doc)[key] += delta

    return change


def drop(select: Callable[[Any], Any], key: object) -> Change:
    def change(doc: Any) -> None:
        del select(doc)[key]

    return change


def both(*changes: Change) -> Change:
    def change(doc: Any) -> None:
        for one in changes:
            one(doc)

    return change


def first(doc: list) -> Any:
    return doc[0]


def row_with(rows: list[dict], key: str, value: object) -> dict:
    [row] = [r for r in rows if r[key] == value]
    return row


def hashrate_of_day(doc: dict) -> dict:
    return row_with(doc["hashrates"], "timestamp", DAY_S + 86_400)  # mempool labels a day by the midnight ending it


def hash_rate_point_of_day(doc: dict) -> dict:
    return row_with(doc["values"], "x", DAY_S)  # blockchain.com labels a day by its start


def chain_option(**changes: object) -> Change:
    """Add a copy of the chain's first option with `changes`: a bad row next to the unchanged good ones."""

    def change(doc: dict) -> None:
        doc["result"].append({**copy.deepcopy(doc["result"][0]), **changes})

    return change


def taker_sells_tenth_of_buys(doc: list) -> None:
    """Sell volume a tenth of the buys, the ratio sent consistently: a row the parser reads, the rules refuse."""
    row = doc[0]
    row["sellVol"] = f"{float(row['buyVol']) / 10:.4f}"
    row["buySellRatio"] = f"{float(row['buyVol']) / float(row['sellVol']):.4f}"


def okx_oi_hundredfold(doc: dict) -> None:
    """The day's start row a hundred times larger in contracts, coins and USD alike (consistent, implausible)."""
    row = doc["data"][-1]
    row[1] = str(int(row[1]) * 100)
    row[2] = f"{float(row[2]) * 100:.2f}"
    row[3] = f"{float(row[3]) * 100:.4f}"


def dvol_candle(doc: dict) -> list:
    return doc["result"]["data"][0]


def dvol_in_fractions(doc: dict) -> None:
    """The day's open, high, low and close as fractions (0.55) instead of percent (55)."""
    candle = dvol_candle(doc)
    candle[1:] = [v / 100 for v in candle[1:]]


def funding_print(**changes: object) -> Change:
    """Add a print at 04:00, between the day's 8-hourly prints."""

    def change(doc: list) -> None:
        doc.append({**doc[0], "fundingTime": DAY_MS + 4 * 3_600_000 + 7, **changes})

    return change


def okx_first_detail(doc: dict) -> dict:
    return doc["data"][0]["details"][0]


def pad_description(size: int) -> Corrupt:
    """A valid market document of `size` bytes: its description, a field the parser does not read, padded."""

    def corrupt(pages: list[bytes]) -> list[bytes]:
        body = pages[0]
        at = body.index(b'"description":"') + len(b'"description":"')
        return [body[:at] + b"x" * (size - len(body)) + body[at:]]

    return corrupt


HTML_200 = (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
            b"<body>Checking your browser before accessing the site.</body></html>")
STRIKE_ON_GRID = "BTC-28NOV25-91125-C"  # a strike the demo chain does not list, on Deribit's $125 grid

CASES = [
    # binance/spot_klines_1d: one positional array of 12 fields per kline, numbers as strings, times in ms
    Case("klines-truncated-json", "binance/spot_klines_1d", truncate(), FAILED, "invalid JSON: Unterminated string"),
    Case("klines-error-envelope", "binance/spot_klines_1d", whole_body(b'{"code":-1121,"msg":"Invalid symbol."}'),
         FAILED, "error envelope -1121 Invalid symbol."),
    Case("klines-extra-field-refused", "binance/spot_klines_1d", edit(lambda doc: doc[0].append("0")),
         FAILED, "kline #0 is not an array of 12 fields"),
    Case("klines-number-where-string", "binance/spot_klines_1d", edit(put(first, 1, 92004.49)),
         FAILED, "field open must be a decimal string, got float 92004.49"),
    Case("klines-high-below-low", "binance/spot_klines_1d", edit(put(first, 2, "80000.00000000")),
         FAILED, "inconsistent OHLC: open 92004.49, high 80000.0, low 88752.35"),
    # coinbase/spot_candles_1d: [time, low, high, open, close, volume] as JSON numbers, newest first
    Case("candles-html-page-200", "coinbase/spot_candles_1d", whole_body(HTML_200),
         FAILED, "HTML page where JSON was expected (title 'Just a moment...')"),
    Case("candles-strings-where-numbers", "coinbase/spot_candles_1d",
         rewrite(lambda doc: [[str(v) for v in row] for row in doc]), FAILED, "time must be a JSON integer, got str"),
    # mempool/hashrate: {hashrates: [{timestamp, avgHashrate}], difficulty: [...], currentHashrate, ...}
    Case("hashrate-missing-field", "mempool/hashrate", edit(drop(hashrate_of_day, "avgHashrate")),
         FAILED, "missing field 'avgHashrate' in hashrates[30]"),
    Case("hashrate-nan", "mempool/hashrate", edit(put(hashrate_of_day, "avgHashrate", float("nan"))),
         FAILED, "non-finite number NaN in JSON"),
    Case("hashrate-in-eh-per-s", "mempool/hashrate", edit(scale(hashrate_of_day, "avgHashrate", 1e-18)),
         REJECTED, "hash rate within 2× of difficulty's"),
    # mempool/blocks: paged; a timestamp lookup, then pages of 15 blocks (page index 3 is the third block page)
    Case("blocks-page-truncated", "mempool/blocks", truncate(page=3), FAILED, "invalid JSON"),
    Case("blocks-duplicated-block", "mempool/blocks", edit(lambda doc: doc.insert(1, doc[0]), page=3),
         FAILED, "blocks are not consecutive heights in descending order"),
    # blockchain_com/hash_rate: {"status": "ok", "unit": "Hash Rate TH/s", "period": "day", "values": [{x, y}]}
    Case("hash-rate-error-envelope", "blockchain_com/hash_rate",
         whole_body(b'{"status":"error","error":"Chart hash-rate not available"}'),
         FAILED, "error envelope status='error' Chart hash-rate not available"),
    Case("hash-rate-in-h-per-s", "blockchain_com/hash_rate", edit(scale(hash_rate_point_of_day, "y", 1e12)),
         REJECTED, "hash rate in a plausible TH/s band"),
    # blockchain_com/miners_revenue: the same chart envelope, {"unit": "USD", "values": [{x, y (USD a day)}]}
    Case("miners-revenue-fees-chart-in-btc", "blockchain_com/miners_revenue",
         edit(both(put(lambda doc: doc, "unit", "BTC"), put(lambda doc: doc, "name", "Transaction Fees"))),
         FAILED, "unit 'BTC' is not USD: not the miners-revenue chart?"),
    Case("miners-revenue-in-cents", "blockchain_com/miners_revenue", edit(scale(hash_rate_point_of_day, "y", 100)),
         REJECTED, "miners' revenue in a plausible USD-a-day band"),
    # deribit/option_book_summary: JSON-RPC, ~800 options of one snapshot
    Case("chain-eth-option", "deribit/option_book_summary",
         edit(chain_option(instrument_name="ETH-28NOV25-3000-C", base_currency="ETH")),
         QUARANTINED, "the BTC option chain"),
    Case("chain-negative-open-interest", "deribit/option_book_summary",
         edit(chain_option(instrument_name=STRIKE_ON_GRID, open_interest=-5.0)),
         QUARANTINED, "open interest is not negative"),
    Case("chain-iv-zero-and-10000-percent", "deribit/option_book_summary",
         edit(both(chain_option(instrument_name=STRIKE_ON_GRID, mark_iv=0.0),
                   chain_option(instrument_name="BTC-28NOV25-91375-C", mark_iv=10_000.0))),
         QUARANTINED, "mark IV in (0, 500]%", quarantined=2),
    Case("chain-expired-instrument", "deribit/option_book_summary",
         edit(chain_option(instrument_name="BTC-14NOV25-90000-C")),
         QUARANTINED, "a listed option has not expired"),
    Case("chain-infinity", "deribit/option_book_summary", edit(put(lambda d: d["result"][5], "mark_iv", float("inf"))),
         FAILED, "non-finite number Infinity in JSON"),
    Case("chain-duplicated-row", "deribit/option_book_summary", edit(chain_option()),
         FAILED, "instrument BTC-30JAN26-102000-C appears twice"),  # the demo chain's first option that night
    Case("chain-row-from-another-day", "deribit/option_book_summary",
         edit(chain_option(instrument_name=STRIKE_ON_GRID, creation_timestamp=DAY_MS - 6 * 86_400_000)),
         FAILED, f"snapshot taken at 2025-11-14T00:00:00.000Z ({STRIKE_ON_GRID}.creation_timestamp): a snapshot "
                 "of 2025-11-20 must be taken between"),
    # deribit/eth_option_book_summary: the same JSON-RPC shape, ETH options (archived in a replay tree here, so the
    # days before the dataset's archive start are asked: the archive holds them)
    Case("eth-chain-btc-option", "deribit/eth_option_book_summary",
         edit(chain_option(instrument_name="BTC-28NOV25-91125-C", base_currency="BTC")),
         QUARANTINED, "the ETH option chain"),
    Case("eth-chain-negative-open-interest", "deribit/eth_option_book_summary",
         edit(chain_option(instrument_name="ETH-28NOV25-3005-C", open_interest=-5.0)),
         QUARANTINED, "open interest is not negative"),
    Case("eth-chain-only-btc-options", "deribit/eth_option_book_summary",
         edit(lambda doc: [row.update(instrument_name="BTC" + row["instrument_name"][3:]) for row in doc["result"]]),
         FAILED, "no ETH option rows named ETH-<D><MON><YY>-<strike>-<C|P>"),
    # binance/funding_rate: [{symbol, fundingTime, fundingRate, markPrice}], numbers as strings
    Case("funding-ethusdt-print", "binance/funding_rate", edit(funding_print(symbol="ETHUSDT")),
         FAILED, "print #3 is for symbol 'ETHUSDT', expected BTCUSDT"),
    Case("funding-microseconds", "binance/funding_rate", edit(scale(lambda d: d[1], "fundingTime", 1000)),
         FAILED, "print #1 fundingTime 1763625600008000 looks like microseconds, expected milliseconds"),
    Case("funding-extra-field-ignored", "binance/funding_rate",
         edit(lambda doc: [row.__setitem__("fundingIntervalHours", 8) for row in doc]), ACCEPTED, ""),
    Case("funding-rate-as-percent", "binance/funding_rate", edit(funding_print(fundingRate="0.36269")),
         REJECTED, "funding rate within ±5% per interval"),
    # binance long/short account ratios: [{symbol, longShortRatio, longAccount, shortAccount, timestamp}]
    Case("top-ratio-share-above-1", "binance/top_trader_long_short_ratio",
         edit(both(put(first, "longAccount", "1.4868"), put(first, "shortAccount", "-0.4868"))),
         FAILED, "out-of-range shares: longAccount 1.4868"),
    Case("global-ratio-empty", "binance/global_long_short_ratio", whole_body(b"[]"),
         FAILED, "no row stamped 2025-11-20T00:00:00.000Z (day absent) among 0 rows"),
    Case("global-ratio-stamped-another-day", "binance/global_long_short_ratio",
         edit(put(first, "timestamp", DAY_MS - 86_400_000)),
         FAILED, "no row stamped 2025-11-20T00:00:00.000Z (day absent) among 1 rows"),
    # bybit/open_interest_1d: {retCode, retMsg, result: {symbol, category, list: [{openInterest, timestamp}]}}
    Case("open-interest-negative", "bybit/open_interest_1d",
         edit(put(lambda d: d["result"]["list"][0], "openInterest", "-52224.969")),
         FAILED, "negative openInterest -52224.969"),
    Case("open-interest-error-envelope", "bybit/open_interest_1d",
         whole_body(b'{"retCode":10006,"retMsg":"Too many visits!","result":{},"retExtInfo":{},"time":1763685000000}'),
         FAILED, "error envelope 10006 Too many visits!"),
    Case("open-interest-http-503", "bybit/open_interest_1d", whole_body(HTML_200), FAILED, "HTTP 503", status=503),
    # binance/top_trader_position_ratio: the account ratios' shape, position shares in longAccount/shortAccount
    Case("position-ratio-shares-not-one", "binance/top_trader_position_ratio",
         edit(put(first, "shortAccount", "0.3")), FAILED, "+ shortAccount 0.3 is not 1"),
    # binance/taker_volume: [{buySellRatio, buyVol, sellVol, timestamp}], no symbol
    Case("taker-ratio-not-buy-over-sell", "binance/taker_volume", edit(put(first, "buySellRatio", "2.0000")),
         FAILED, "buySellRatio 2.0 is not buyVol / sellVol"),
    Case("taker-sells-tenth-of-buys", "binance/taker_volume", edit(taker_sells_tenth_of_buys),
         REJECTED, "taker buys within 5x of sells"),
    # binance/open_interest_day: [{symbol, sumOpenInterest, sumOpenInterestValue, timestamp}], the day's 00:00 and
    # the next day's
    Case("binance-oi-end-of-day-missing", "binance/open_interest_day", edit(lambda doc: doc.pop()),
         FAILED, "no row stamped 2025-11-21T00:00:00.000Z (day absent) among 1 rows"),
    Case("binance-oi-usd-in-btc-field", "binance/open_interest_day",
         edit(lambda doc: doc[1].update(sumOpenInterest=doc[1]["sumOpenInterestValue"])),
         FAILED, "row #1 sumOpenInterestValue / sumOpenInterest = 1.00 USD per BTC is not a BTC price"),
    # bybit/open_interest_day: open_interest_1d's envelope, the rows stamped the day's 00:00 and the next (newest first)
    Case("bybit-oi-end-of-day-missing", "bybit/open_interest_day", edit(lambda doc: doc["result"]["list"].pop(0)),
         FAILED, "no row stamped 2025-11-21T00:00:00.000Z (the day's end) among 1 rows"),
    # okx/open_interest_day: {code, msg, data: [[ts, oi, oiCcy, oiUsd]]}, hourly, newest first
    Case("okx-oi-contracts-as-coins", "okx/open_interest_day",
         edit(lambda doc: doc["data"][-1].__setitem__(2, doc["data"][-1][1])),
         FAILED, "data[24] oi 2812114.0 contracts x ctVal 0.01 is not oiCcy 2812114.0 BTC"),
    Case("okx-oi-hundredfold", "okx/open_interest_day", edit(okx_oi_hundredfold),
         REJECTED, "open interest in [0, 2,000,000] BTC"),
    # okx/liquidation_orders: paged {code, msg, data: [{instId, details: [{side, posSide, bkPx, sz, ts}]}]}
    Case("liquidations-error-envelope-page-2", "okx/liquidation_orders",
         lambda pages: [pages[0], b'{"code":"50011","msg":"Too Many Requests","data":[]}'],
         FAILED, "error envelope 50011 Too Many Requests"),
    Case("liquidations-empty", "okx/liquidation_orders", whole_body(b'{"code":"0","msg":"","data":[]}'),
         FAILED, "held no rows"),
    Case("liquidations-eth-swap", "okx/liquidation_orders",
         edit(put(lambda d: d["data"][0], "instId", "ETH-USDT-SWAP")),
         FAILED, "data[0] instrument 'ETH-USDT-SWAP' has no known contract value"),
    # deribit/option_instruments: JSON-RPC, ~800 listed options
    Case("instruments-eth-option", "deribit/option_instruments",
         edit(lambda doc: doc["result"].append({**doc["result"][0], "instrument_name": "ETH-28NOV25-3000-C"})),
         FAILED, "'ETH-28NOV25-3000-C' is an option but not a BTC option"),
    # deribit/index_price: {"result": {index_price, estimated_delivery_price}, "usOut": µs, ...}
    Case("index-error-envelope", "deribit/index_price",
         whole_body(b'{"jsonrpc":"2.0","error":{"code":10028,"message":"too_many_requests"},"testnet":false}'),
         FAILED, "error envelope 10028 too_many_requests"),
    Case("index-snapshot-from-another-day", "deribit/index_price", edit(shift(lambda d: d, "usOut", -WEEK_US)),
         FAILED, "snapshot taken at 2025-11-14T00:30:00.000Z (usOut): a snapshot of 2025-11-20 must be taken between"),
    # deribit/btc_dvol: JSON-RPC {"result": {"data": [[timestamp ms, open, high, low, close]], "continuation": null}}
    Case("dvol-error-envelope", "deribit/btc_dvol",
         whole_body(b'{"jsonrpc":"2.0","error":{"code":10028,"message":"too_many_requests"},"testnet":false}'),
         FAILED, "error envelope 10028 too_many_requests"),
    Case("dvol-high-below-low", "deribit/btc_dvol", edit(put(dvol_candle, 2, 1.0)),
         FAILED, "inconsistent OHLC: open 41.99, high 1.0, low 41.23, close 41.87"),
    Case("dvol-candle-of-another-day", "deribit/btc_dvol",
         edit(lambda doc: doc["result"]["data"].insert(0, [DAY_MS - 86_400_000, *dvol_candle(doc)[1:]])),
         FAILED, "data[0] stamped 2025-11-19T00:00:00.000Z is outside the window asked"),
    # deribit/eth_dvol: the same shape, ETH's index
    Case("eth-dvol-in-fractions", "deribit/eth_dvol", edit(dvol_in_fractions),
         REJECTED, "a volatility index in (5, 500) percent"),
    Case("eth-dvol-missing-data", "deribit/eth_dvol", edit(drop(lambda d: d["result"], "data")),
         FAILED, "missing field 'data' in result"),
    Case("eth-dvol-nan-close", "deribit/eth_dvol", edit(put(dvol_candle, 4, float("nan"))),
         FAILED, "non-finite number NaN in JSON"),
    # polymarket/markets: one page per configured event or market, [{slug, markets: [{id, conditionId, outcomes,
    # outcomePrices: "[\"0.25\", \"0.75\"]", ...}]}] for an event (page 1: the month's ladder)
    Case("market-probability-above-1", "polymarket/markets",
         edit(put(lambda doc: doc[0]["markets"][0], "outcomePrices", '["1.2", "-0.2"]')),
         FAILED, "YES price 1.2 is outside [0, 1]"),
    Case("market-50-mb-body", "polymarket/markets", pad_description(50 * 2**20),
         FAILED, "body of 52,428,800 bytes is over the 16,777,216-byte limit: not parsed"),
    Case("market-answer-for-another-event", "polymarket/markets", edit(put(first, "slug", "some-other-event")),
         FAILED, "asked for event 'what-price-will-bitcoin-hit-in-november-2025', the answer is event "
                 "'some-other-event'"),
    Case("market-rung-with-two-faces", "polymarket/markets",
         edit(lambda doc: doc[0]["markets"].append({**doc[0]["markets"][0], "question": "Another question?"})),
         FAILED, "appears twice with different fields"),
    # polymarket/prices_history: {"history": [{t, p}]}, hourly points
    Case("history-probability-above-1", "polymarket/prices_history",
         edit(lambda doc: doc["history"].append({"t": DAY_S + 1800, "p": 1.5})),
         FAILED, "history[25].p = 1.5 is outside [0, 1]"),
]

# Known defects outside the files this corpus may change: the case stays, expected to fail until fixed.


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Warehouse:
    with dg.DagsterInstance.ephemeral() as instance:
        w = replay_warehouse(tmp_path_factory.mktemp("bad_input"), DAY, DATASETS, instance)
        result = materialize(w, list(w.assets))
        # Blocking (ERROR) checks only: the good OKX day is one fetch at 00:31, so the WARN coverage check says
        # the day's first half hour was polled by nobody, as it should.
        failed = [e.description for e in result.get_asset_check_evaluations()
                  if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
        assert result.success and not failed, failed
        w.original = fingerprints(w)
        yield w


def test_the_corpus_spreads_32_cases_or_more_over_every_dataset():
    assert len(CASES) >= 32
    assert {c.dataset for c in CASES} == set(SPECS)
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_body(warehouse: Warehouse, case: Case):
    w, spec = warehouse, SPECS[case.dataset]
    table = f"raw.{spec.raw_table}"
    before = fingerprints(w)
    good = good_bodies(w, spec)
    bad_bodies = case.corrupt(list(good))
    bad = archive_fetch(w, spec, bad_bodies, case.status)
    try:
        result = materialize(w, [spec.name])
        during = fingerprints(w)
        [(status, why, landing_file)] = query(
            w, "SELECT status, reason, landing_file FROM raw.load_log WHERE dataset = ? AND partition_date = ?",
            [spec.raw_table, DAY])
        reasons = [r for (r,) in query(w, "SELECT reason FROM raw.quarantine WHERE dataset = ? "
                                          "AND partition_date = ? ORDER BY row_number", [spec.raw_table, DAY])]
    finally:
        # The next good run: the good body archived again as a newer fetch, and replayed.
        recovery = archive_fetch(w, spec, good)
        recovered = materialize(w, [spec.name])

    # The corrupted body stays archived, byte for byte as recorded, and the log names it.
    for page, body in zip(bad.pages, bad_bodies, strict=True):
        assert page.read_body() == body and page.meta["sha256"] == sha256_hex(body)
    assert landing_file == relative(w, bad)

    failed = {e.check_name: e.description for e in result.get_asset_check_evaluations() if not e.passed}
    named = f"{spec.name} for {DAY.isoformat()}: "
    if case.outcome == FAILED:
        assert not result.success and set(failed) == {LANDING_CHECK}, failed
        assert named in failed[LANDING_CHECK] and case.reason in failed[LANDING_CHECK], failed[LANDING_CHECK]
        assert status == "failed" and why.startswith(named) and case.reason in why and not reasons, (status, why)
    elif case.outcome == REJECTED:
        assert not result.success and set(failed) == {REJECTS_CHECK}, failed
        assert named in failed[REJECTS_CHECK] and "raw partition left as it was" in failed[REJECTS_CHECK]
        assert status == "rejected" and len(reasons) == case.quarantined, (status, reasons)
        assert all(case.reason in r for r in reasons), reasons
    elif case.outcome == QUARANTINED:
        assert result.success and not failed, failed
        assert status == "loaded" and len(reasons) == case.quarantined, (status, reasons)
        assert all(case.reason in r for r in reasons), reasons
    else:
        assert result.success and not failed and status == "loaded" and not reasons, (failed, reasons)

    # Every table kept its content; a day loaded again from the bad fetch's good rows names that fetch.
    if status == "loaded":
        before = {**before, table: {**before[table], "lineage": during[table]["lineage"]}}
    assert during == before
    # The next good run succeeds, with the original content, from the good body archived last.
    assert recovered.success, [e.description for e in recovered.get_asset_check_evaluations() if not e.passed]
    after = fingerprints(w)
    assert {t: f["content"] for t, f in after.items()} == {t: f["content"] for t, f in w.original.items()}
    assert query(w, f"SELECT DISTINCT _landing_file FROM {table} WHERE partition_date = ?", [DAY]) == [
        (relative(w, recovery),)]


# ---- the body size limit, without Dagster ------------------------------------------------------------------------


def _klines_body(archive: LandingArchive, body: bytes) -> None:
    spec = get_dataset("binance", "spot_klines_1d")
    at = dt.datetime(2025, 11, 21, 0, 30, tzinfo=dt.UTC)
    archive.write(FetchedBody(spec.build_request(DAY), 200, body, at))


def test_replay_refuses_a_body_over_the_limit_from_its_sidecar_without_reading_it(tmp_path, monkeypatch):
    monkeypatch.setattr(body_source, "MAX_BODY_BYTES", 10)
    archive = LandingArchive(tmp_path)
    _klines_body(archive, b"[" + b" " * 10 + b"]")
    newest = archive.newest("binance", "spot_klines_1d", DAY)
    newest.path.chmod(0o644)
    newest.path.write_bytes(b"not gzip: never read")  # a read would fail on it; the size check comes first
    with pytest.raises(FetchError, match=r"^binance/spot_klines_1d for 2025-11-20: body of 12 bytes is over the "
                                         r"10-byte limit: not parsed \(body archived at .+\.json\.gz\)$"):
        ReplayBodySource(archive).obtain(get_dataset("binance", "spot_klines_1d"), DAY)


def test_a_fetched_body_over_the_limit_is_archived_then_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(body_source, "MAX_BODY_BYTES", 10)

    class Fetcher:
        def fetch(self, request):
            return FetchedBody(request, 200, b"[" + b"0," * 10 + b"0]", dt.datetime(2025, 11, 21, 0, 30, tzinfo=dt.UTC))

        def request_time(self, day):
            return dt.datetime(2025, 11, 21, 0, 30, tzinfo=dt.UTC)

        def serves_present_of(self, day):
            return True

    archive = LandingArchive(tmp_path)
    with pytest.raises(FetchError, match="body of 23 bytes is over the 10-byte limit"):
        FetchingBodySource(Fetcher(), archive).obtain(get_dataset("binance", "spot_klines_1d"), DAY)
    assert archive.newest("binance", "spot_klines_1d", DAY).read_body() == b"[" + b"0," * 10 + b"0]"
