"""The demo source: deterministic wire-format bodies that parse, never leak the future, and tell the story."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from pipelines.demo.api import DemoApi
from pipelines.demo.fetcher import DemoFetcher, scheduled_fetch_time
from pipelines.demo.market import MarketModel
from pipelines.demo.mining import MiningModel
from pipelines.demo.options import MONTHS, OptionChainModel
from pipelines.ingest.errors import ParseError
from pipelines.sources.registry import DATASETS, get_dataset

# The datasets whose requests exist without a warehouse (polymarket/prices_history asks for the markets loaded).
SPECS = [spec for spec in DATASETS if spec.bind is None]

UTC = dt.timezone.utc
WINDOW = [dt.date(2025, 10, 1) + dt.timedelta(days=i) for i in range(52)]  # 2025-10-01 .. 2025-11-21
PROJECT = Path(__file__).resolve().parents[1]

BINANCE = "https://data-api.binance.vision/api/v3/klines"
COINBASE = "https://api.exchange.coinbase.com/products/BTC-USD/candles"
MEMPOOL = "https://mempool.space/api/v1/mining/hashrate/"
DERIBIT = "https://www.deribit.com/api/v2/public/get_book_summary_by_currency"
OPTION_NAME = re.compile(r"BTC-([1-9][0-9]?)([A-Z]{3})([0-9]{2})-([0-9]+)-([CP])")


@pytest.fixture(scope="module")
def fetcher() -> DemoFetcher:
    return DemoFetcher()


def fetch_parsed(fetcher: DemoFetcher, source: str, dataset: str, day: dt.date) -> list[dict]:
    spec = get_dataset(source, dataset)
    got = fetcher.fetch(spec.build_request(day))
    assert got.status == 200, got.body[:200]
    return spec.parse(got.body, day, got.fetched_at).to_pylist()


@pytest.fixture(scope="module")
def window(fetcher):
    """Parsed rows of the demo window (plus 6 days before it for 7-day averages)."""
    days = [WINDOW[0] - dt.timedelta(days=6 - i) for i in range(6)] + WINDOW
    return {
        "days": days,
        "binance": [fetch_parsed(fetcher, "binance", "spot_klines_1d", d)[0] for d in days],
        "coinbase": [fetch_parsed(fetcher, "coinbase", "spot_candles_1d", d)[0] for d in days],
        "hashrate": [fetch_parsed(fetcher, "mempool", "hashrate", d)[0] for d in days],
    }


def parse_name(name: str) -> tuple[dt.datetime, int, bool]:
    m = OPTION_NAME.fullmatch(name)
    assert m, name
    expiry = dt.datetime(2000 + int(m[3]), MONTHS.index(m[2]) + 1, int(m[1]), 8)
    return expiry, int(m[4]), m[5] == "C"


# ---- the fetcher and determinism ---------------------------------------------------------------------------


def test_fetched_at_is_the_nightly_schedule_time(fetcher):
    day = dt.date(2025, 11, 21)
    got = fetcher.fetch(get_dataset("binance", "spot_klines_1d").build_request(day))
    assert got.fetched_at == dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC) == scheduled_fetch_time(day)
    assert got.fetched_at.tzinfo is not None and got.request.day == day


def test_same_request_gives_the_same_bytes_even_from_fresh_models():
    now = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)
    requests = [
        (BINANCE, {"symbol": "BTCUSDT", "interval": "1h", "limit": "30"}),
        (COINBASE, {"granularity": "86400"}),
        (MEMPOOL + "3m", {}),
        (DERIBIT, {"currency": "BTC", "kind": "option"}),
    ]
    shared = DemoApi()
    market = MarketModel()
    fresh = DemoApi(market, MiningModel(), OptionChainModel(market))
    # fill the fresh caches in another order first
    fresh.respond(BINANCE, {"symbol": "BTCUSDT", "interval": "1d", "startTime": "1577836800000"}, now)
    for url, params in requests:
        first = shared.respond(url, params, now)
        assert shared.respond(url, params, now) == first
        assert fresh.respond(url, params, now) == first


def test_bodies_are_identical_in_another_process(fetcher):
    # Seeds come from SHA-256 of label + date, never from Python's salted hash(): a new process (with a
    # different hash seed, filling its caches in another order) must produce the same bytes.
    day = dt.date(2025, 11, 21)
    script = (
        "import datetime as dt, hashlib\n"
        "from pipelines.demo.fetcher import DemoFetcher\n"
        "from pipelines.sources.registry import DATASETS\n"
        "f = DemoFetcher()\n"
        "f.fetch(DATASETS[0].build_request(dt.date(2020, 1, 1)))\n"
        "for spec in reversed([s for s in DATASETS if s.bind is None]):\n"
        "    print(spec.name, hashlib.sha256(f.fetch(spec.build_request(dt.date(2025, 11, 21))).body).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin", "TZ": "America/New_York"},  # bodies never depend on the TZ
    ).stdout.split("\n")
    theirs = dict(line.split() for line in out if line)
    ours = {spec.name: hashlib.sha256(fetcher.fetch(spec.build_request(day)).body).hexdigest() for spec in SPECS}
    assert theirs == ours


@pytest.mark.parametrize("day", [dt.date(2025, 10, 1), dt.date(2025, 11, 1), dt.date(2025, 11, 21)])
def test_every_demo_body_parses_with_its_dataset_parser(tmp_path, day):
    """Every registered dataset, through the same fetch → archive → parse → stitch path as a run."""
    from pipelines.ingest.archive import LandingArchive
    from pipelines.ingest.body_source import FetchingBodySource
    from pipelines.ingest.extract import load_window
    from pipelines.polling.cadence import DEFAULT_POLL_CRON
    from pipelines.polling.poller import simulate_schedule

    source = FetchingBodySource(DemoFetcher(), LandingArchive(tmp_path / "landing"))
    conn = duckdb.connect()
    for spec in DATASETS:
        if spec.poll is not None:  # a rolling source's day is read from the polls the schedule sends
            simulate_schedule(source, spec, [day], DEFAULT_POLL_CRON)
        if spec.bind is not None:  # its requests come from the markets loaded just before
            spec = spec.bind(conn, [day])
        load_window(spec, [day], source, conn, tmp_path, scheduled_fetch_time(day), reject_threshold=1.0)
        table = conn.execute(f'SELECT * EXCLUDE (_landing_file, _loaded_at) FROM raw."{spec.raw_table}"'
                             ).to_arrow_table()
        assert table.schema.names == spec.raw_schema.names, spec.name
        assert table.num_rows >= 1 and set(table.column("partition_date").to_pylist()) == {day}, spec.name
        if spec.event_time_column:
            start = dt.datetime(day.year, day.month, day.day)
            events = table.column(spec.event_time_column).to_pylist()
            assert all(start <= e < start + dt.timedelta(days=1) for e in events), spec.name


# ---- never after now ---------------------------------------------------------------------------------------

NOWS = [dt.datetime(2025, 11, 21, 13, 7, 21, 500000, tzinfo=UTC), dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)]


@pytest.mark.parametrize("now", NOWS, ids=str)
def test_nothing_after_now(now):
    api = DemoApi()
    now_ms = int(now.timestamp() * 1000)
    for interval, limit in (("1m", "1000"), ("1h", "50"), ("1d", "5")):
        rows = json.loads(api.respond(BINANCE, {"symbol": "BTCUSDT", "interval": interval, "limit": limit}, now)[1])
        assert len(rows) == int(limit) and all(r[0] < now_ms for r in rows)
        # the last candle is the one trading at `now` (open, its closeTime ahead, as on Binance), unless `now`
        # falls exactly on a boundary; every earlier one has closed
        assert rows[-1][0] < now_ms <= rows[-1][6] + 1 and all(r[6] < now_ms for r in rows[:-1])
    for granularity in ("300", "86400"):
        rows = json.loads(api.respond(COINBASE, {"granularity": granularity}, now)[1])
        assert len(rows) == 300 and all(r[0] * 1000 < now_ms for r in rows)
        assert [r[0] for r in rows] == sorted((r[0] for r in rows), reverse=True)  # newest first
    body = json.loads(api.respond(MEMPOOL + "all", {}, now)[1])
    assert body["hashrates"][-1]["timestamp"] * 1000 <= now_ms
    assert body["hashrates"][-1]["timestamp"] == int(dt.datetime.combine(now.date(), dt.time(), UTC).timestamp())
    assert all(a["time"] * 1000 <= now_ms for a in body["difficulty"])
    body = json.loads(api.respond(DERIBIT, {"currency": "BTC", "kind": "option"}, now)[1])
    assert body["usOut"] <= now_ms * 1000 and body["usIn"] == body["usOut"] - body["usDiff"]
    assert all(r["creation_timestamp"] <= now_ms for r in body["result"])
    assert all(parse_name(r["instrument_name"])[0] > now.replace(tzinfo=None) for r in body["result"])


def test_open_candle_holds_only_the_past_and_is_refused_by_the_parser():
    api = DemoApi()
    day = dt.date(2025, 11, 20)
    start_ms = str(int(dt.datetime.combine(day, dt.time(), UTC).timestamp() * 1000))
    ask = {"symbol": "BTCUSDT", "interval": "1d", "startTime": start_ms}
    noon = dt.datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
    partial = json.loads(api.respond(BINANCE, ask, noon)[1])[0]
    final = json.loads(api.respond(BINANCE, ask, dt.datetime(2025, 11, 23, tzinfo=UTC))[1])[0]
    minutes = json.loads(api.respond(BINANCE, {"symbol": "BTCUSDT", "interval": "1m", "startTime": start_ms,
                                                "limit": "720"}, noon)[1])
    # the half-day candle is exactly the aggregate of the minutes before noon: no later price leaks in
    assert float(partial[2]) == max(float(m[2]) for m in minutes) <= float(final[2])
    assert float(partial[3]) == min(float(m[3]) for m in minutes) >= float(final[3])
    assert partial[4] == minutes[-1][4] and partial[8] == sum(m[8] for m in minutes) < final[8]
    assert partial[0] == final[0] and partial[1] == final[1]
    spec = get_dataset("binance", "spot_klines_1d")
    with pytest.raises(ParseError, match="candle still open"):
        spec.parse(json.dumps([partial]).encode(), day, noon)
    # closed candles do not change when asked later
    later = json.loads(api.respond(BINANCE, dict(ask, limit="1"), dt.datetime(2026, 1, 1, tzinfo=UTC))[1])[0]
    assert later == final


def test_pipeline_coinbase_body_holds_the_days_bucket_and_a_window_ending_at_midnight_the_next_days(fetcher):
    day = dt.date(2025, 11, 21)
    spec = get_dataset("coinbase", "spot_candles_1d")
    got = fetcher.fetch(spec.build_request(day))
    start = int(dt.datetime.combine(day, dt.time(), UTC).timestamp())
    assert [r[0] for r in json.loads(got.body)] == [start]  # one bucket asked, one served
    # A window ending at the next midnight counts (and is served) the bucket opening there: the next day's open
    # candle, 30 minutes old. The parser keeps the day's own.
    status, body = fetcher.api.respond(spec.build_request(day).url, {
        "granularity": "86400", "start": str(start), "end": str(start + 86400)}, got.fetched_at)
    rows = json.loads(body)
    assert status == 200 and [r[0] for r in rows] == [start + 86400, start]
    assert rows[0][5] < rows[1][5] / 10
    assert spec.parse(body, day, got.fetched_at).equals(spec.parse(got.body, day, got.fetched_at))


# ---- API behaviour -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params", "status", "error"),
    [
        ("https://data-api.binance.vision/api/v3/nothing", {}, 404, {"code": -5000}),
        ("http://127.0.0.1:8000/api/v3/ticker", {}, 404, {"code": -5000}),
        ("https://api.exchange.coinbase.com/products/BTC-USD/trades", {}, 404, {"message": "NotFound"}),
        ("https://api.exchange.coinbase.com/products/ETH-USD/candles", {"granularity": "86400"}, 404,
         {"message": "NotFound"}),
        ("https://mempool.space/api/v1/mining/pools/1w", {}, 404, {"error": "Not Found"}),
        ("https://www.deribit.com/api/v2/public/get_everything", {}, 404, {"code": -32601}),
        ("https://example.com/", {}, 404, {"error": "Not Found"}),
        (BINANCE, {"symbol": "ETHUSDT", "interval": "1d"}, 400, {"code": -1121}),
        (BINANCE, {"symbol": "BTCUSDT"}, 400, {"code": -1102}),
        (BINANCE, {"symbol": "BTCUSDT", "interval": "1d", "limit": "1001"}, 400, {"code": -1130}),
        (BINANCE, {"symbol": "BTCUSDT", "interval": "1d", "startTime": "2", "endTime": "1"}, 400, {"code": -1023}),
        (COINBASE, {"granularity": "120"}, 400, {"message": "Unsupported granularity"}),
        (COINBASE, {"granularity": "3600", "start": "2025-01-01", "end": "2025-02-01"}, 400, {}),
        (DERIBIT, {"currency": "XRP"}, 400, {"code": -32602}),
        (DERIBIT, {}, 400, {"code": -32602}),
    ],
)
def test_unknown_paths_and_bad_params_answer_in_the_apis_error_envelopes(url, params, status, error):
    got_status, body = DemoApi().respond(url, params, dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC))
    assert got_status == status
    payload = json.loads(body)
    flat = payload.get("error", payload) if isinstance(payload.get("error"), dict) else payload
    for key, value in error.items():
        assert flat[key] == value


def test_binance_honours_start_end_and_limit():
    api = DemoApi()
    now = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)
    start = int(dt.datetime(2025, 10, 1, tzinfo=UTC).timestamp() * 1000)
    rows = json.loads(api.respond(BINANCE, {"symbol": "BTCUSDT", "interval": "1d", "startTime": str(start),
                                            "limit": "10"}, now)[1])
    assert [r[0] for r in rows] == [start + i * 86_400_000 for i in range(10)]
    rows = json.loads(api.respond(BINANCE, {"symbol": "BTCUSDT", "interval": "1d", "startTime": str(start),
                                            "endTime": str(start + 3 * 86_400_000 - 1)}, now)[1])
    assert len(rows) == 3
    assert all(rows[i][1] == rows[i - 1][4] for i in range(1, 3))  # a day opens at the previous close
    rows = json.loads(api.respond(BINANCE, {"symbol": "BTCUSDT", "interval": "1d", "endTime": str(start),
                                            "limit": "2"}, now)[1])
    assert [r[0] for r in rows] == [start - 86_400_000, start]
    listing = int(dt.datetime(2017, 8, 17, tzinfo=UTC).timestamp() * 1000)
    rows = json.loads(
        api.respond(BINANCE, {"symbol": "BTCUSDT", "interval": "1d", "startTime": "0", "limit": "2"}, now)[1]
    )
    assert rows[0][0] == listing  # nothing before the pair was listed


def test_mempool_period_filters_like_the_api():
    api = DemoApi()
    now = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)
    counts = {
        p: len(json.loads(api.respond(MEMPOOL + p, {}, now)[1])["hashrates"]) for p in ("1w", "1m", "3m", "1y", "zz")
    }
    assert counts["1w"] == 7 and counts["1m"] == 31 and counts["3m"] == 92 and counts["1y"] == 365
    assert counts["zz"] > 2000  # an unknown period means no filter (all days since the demo genesis)


# ---- the story over the default window ---------------------------------------------------------------------


def test_price_story(window):
    days, bn, cb = window["days"], window["binance"], window["coinbase"]
    i0 = days.index(WINDOW[0])
    closes = [r["close"] for r in bn[i0:]]
    assert 108_000 <= closes[0] <= 132_000  # ~$120k on 2025-10-01
    assert closes[-1] < 92_000  # below $92k by 2025-11-21 ...
    first_below = WINDOW[next(i for i, c in enumerate(closes) if c < 92_000)]
    assert first_below >= dt.date(2025, 11, 1)  # ... after drifting down through it in November
    assert max(closes[:15]) == max(closes)  # the top is early in October
    for b, c in zip(bn, cb):
        assert abs(b["close"] / c["close"] - 1) < 0.005  # venues agree within half a percent
        for row in (b, c):
            assert row["high"] >= max(row["open"], row["close"]) and row["low"] <= min(row["open"], row["close"])
    assert all(bn[i]["open"] == bn[i - 1]["close"] for i in range(1, len(bn)))
    # the selloff is more volatile than the run-up
    log_returns = np.diff(np.log([r["close"] for r in bn]))
    assert np.std(log_returns[-30:]) > np.std(log_returns[:12])
    # volume rises with the size of the move
    volumes = np.array([r["volume_btc"] for r in bn[1:]])
    assert np.corrcoef(volumes, np.abs(log_returns))[0, 1] > 0.4


def test_hashrate_story(window):
    days, rows = window["days"], window["hashrate"]
    ehs = np.array([r["avg_hashrate_hs"] for r in rows]) / 1e18
    avg7 = np.convolve(ehs, np.ones(7) / 7, mode="valid")  # avg7[k] ends on days[k + 6] = WINDOW[k]
    peak = int(np.argmax(avg7))
    assert dt.date(2025, 10, 15) <= WINDOW[peak] <= dt.date(2025, 10, 23)
    drawdown = 1 - avg7[-1] / avg7[peak]
    assert 0.10 <= drawdown <= 0.20
    assert avg7[-1] < 1000 < avg7[peak]
    # mempool's daily figure is blocks x difficulty x 2^32 / 86400: whole blocks, ~144 a day on average
    blocks = np.array([r["avg_hashrate_hs"] * 86400 / (r["difficulty"] * 2**32) for r in rows])
    whole = np.abs(blocks - np.round(blocks)) < 1e-6
    assert whole.mean() > 0.75  # the other days mix two difficulties (a retarget that day)
    assert 125 <= blocks.mean() <= 165 and blocks.std() > 5  # Poisson, not a constant


def test_difficulty_retargets_every_2016_blocks():
    body = json.loads(DemoApi().respond(MEMPOOL + "1y", {}, dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC))[1])
    adjustments = body["difficulty"]
    assert len(adjustments) >= 20
    for prev, cur in zip(adjustments, adjustments[1:]):
        assert cur["height"] - prev["height"] == 2016
        assert 8 <= (cur["time"] - prev["time"]) / 86400 <= 20
        assert cur["adjustment"] == pytest.approx(cur["difficulty"] / prev["difficulty"], rel=1e-5)
        assert 0.25 <= cur["adjustment"] <= 4
    assert body["currentDifficulty"] == adjustments[-1]["difficulty"]
    assert 800e18 < body["currentHashrate"] < 1200e18


# ---- the option chain --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain_nov21(fetcher):
    day = dt.date(2025, 11, 21)
    got = fetcher.fetch(get_dataset("deribit", "option_book_summary").build_request(day))
    return json.loads(got.body)["result"], got.fetched_at.replace(tzinfo=None)


def test_chain_layout(chain_nov21):
    rows, now = chain_nov21
    assert 300 <= len(rows) <= 1100
    spot = rows[0]["estimated_delivery_price"]
    expiries: dict[dt.datetime, set[int]] = {}
    for r in rows:
        expiry, strike, _ = parse_name(r["instrument_name"])
        expiries.setdefault(expiry, set()).add(strike)
        assert strike % 500 == 0
        code = r["instrument_name"].split("-")[1]
        assert r["underlying_index"] in (f"SYN.BTC-{code}", f"BTC-{code}")
        assert 0 < r["underlying_price"] / spot - 1 < 0.05  # forward: a small contango basis
        assert r["quote_currency"] == r["base_currency"] == "BTC" and r["interest_rate"] == 0.0
    dates = sorted(expiries)
    assert dates[:4] == [dt.datetime(2025, 11, d, 8) for d in (22, 23, 24, 25)]  # dailies
    assert {d for d in dates if d.weekday() != 4} == set(dates[:4]) - {dt.datetime(2025, 11, 28, 8)}
    assert dt.datetime(2025, 12, 26, 8) in dates and dt.datetime(2026, 3, 27, 8) in dates  # quarterlies
    futures = {r["underlying_index"] for r in rows if not r["underlying_index"].startswith("SYN.")}
    assert futures >= {"BTC-26DEC25", "BTC-27MAR26"}
    assert any(r["instrument_name"].startswith("BTC-5DEC25-") for r in rows)  # no zero padding
    near = sorted(expiries[dates[0]])
    atm = [k for k in near if abs(math.log(k / spot)) < 0.03]
    assert np.diff(atm).max() == 500  # 500 steps at the money on a daily
    for expiry, strikes in expiries.items():
        far = sorted(k for k in strikes if abs(math.log(k / spot)) > 0.4)
        assert all(k % 1000 == 0 for k in far) and (len(far) < 2 or np.diff(far).min() >= 2000)


def test_smile_and_quotes(chain_nov21, window):
    rows, now = chain_nov21
    spot = rows[0]["estimated_delivery_price"]
    monthly = [r for r in rows if r["instrument_name"].startswith("BTC-26DEC25-")]
    iv = {parse_name(r["instrument_name"])[1]: r["mark_iv"] for r in monthly if r["instrument_name"].endswith("-P")}
    def iv_near(k: float) -> float:
        return iv[min(iv, key=lambda s: abs(s - k))]
    assert iv_near(0.75 * spot) > iv_near(spot) > iv_near(1.25 * spot) * 0.97  # put skew
    closes = np.array([r["close"] for r in window["binance"]][-22:])
    realised = float(np.std(np.diff(np.log(closes)), ddof=1) * math.sqrt(365)) * 100
    weekly_atm = [r["mark_iv"] for r in rows if r["instrument_name"].startswith("BTC-28NOV25-")
                  and abs(parse_name(r["instrument_name"])[1] / spot - 1) < 0.01]
    assert 0.8 * realised < np.mean(weekly_atm) < 1.5 * realised  # ATM IV follows realised vol
    bids = [r for r in rows if r["bid_price"] is not None]
    assert all(r["ask_price"] is None or r["bid_price"] < r["ask_price"] for r in bids)
    deep = [r for r in rows if r["mark_price"] < 0.0002]
    assert deep and all(r["bid_price"] is None for r in deep)  # deep OTM: no bid, null not 0
    assert any(r["last"] is None for r in rows) and any(r["volume"] is None for r in rows)
    assert all(r["mid_price"] is None or r["bid_price"] is not None for r in rows)


def _net_gex_profile(rows: list[dict], now: dt.datetime, levels: np.ndarray) -> tuple[np.ndarray, dict[int, float]]:
    """Independent plain implementation of ../shared/docs/gamma.md (standard dealer convention)."""
    spot = rows[0]["estimated_delivery_price"]
    k, f, sig, t, oi, sign = [], [], [], [], [], []
    for r in rows:
        expiry, strike, is_call = parse_name(r["instrument_name"])
        years = (expiry - now).total_seconds() / (365 * 86400)
        if r["open_interest"] > 0 and r["mark_iv"] > 0 and years > 0:
            k.append(strike); f.append(r["underlying_price"]); sig.append(r["mark_iv"] / 100)
            t.append(years); oi.append(r["open_interest"]); sign.append(1.0 if is_call else -1.0)
    k, f, sig, t, oi, sign = map(np.array, (k, f, sig, t, oi, sign))
    vol = sig * np.sqrt(t)
    def gex(fwd: np.ndarray) -> np.ndarray:
        d1 = (np.log(fwd / k) + vol**2 / 2) / vol
        return sign * oi * fwd * np.exp(-d1**2 / 2) / math.sqrt(2 * math.pi) * 0.01 / vol
    profile = np.array([gex(f * level / spot).sum() for level in levels])
    by_strike: dict[int, float] = {}
    for strike, g in zip(k, gex(f)):
        by_strike[int(strike)] = by_strike.get(int(strike), 0.0) + g
    return profile, by_strike


def test_dealer_gamma_clusters_where_price_traded_and_flips_below_spot(chain_nov21):
    rows, now = chain_nov21
    spot = rows[0]["estimated_delivery_price"]
    levels = spot * np.exp(np.linspace(-0.3, 0.3, 1201))
    profile, by_strike = _net_gex_profile(rows, now, levels)
    crossings = [i for i in range(1, len(levels)) if (profile[i - 1] > 0) != (profile[i] > 0)]
    assert crossings
    nearest = min(crossings, key=lambda i: abs(levels[i] - spot))
    zero_gamma = levels[nearest]
    assert 0.94 * spot < zero_gamma < 0.995 * spot  # dealers long gamma at spot, short a few % below
    assert profile[np.searchsorted(levels, spot)] > 0 and profile[np.searchsorted(levels, 0.9 * spot)] < 0
    top_strike = max(by_strike, key=lambda s: abs(by_strike[s]))
    assert 88_000 <= top_strike <= 95_000  # where the price traded in the last weeks
