"""The demo's mining endpoints: mempool.space blocks (+ timestamp lookup) and blockchain.com's hash-rate chart.
Deterministic bodies in the real wire format that parse, never leak the future, and tell the mining story."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import struct
from collections import Counter
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pytest

from pipelines.demo import endpoints_mining as em
from pipelines.demo.api import DemoApi
from pipelines.demo.fetcher import scheduled_fetch_time
from pipelines.demo.market import MarketModel
from pipelines.demo.mining import MiningModel
from pipelines.ingest.extract import stitch_pages
from pipelines.sources import blockchain_com, mempool, mempool_blocks

UTC = dt.timezone.utc
WINDOW = [dt.date(2025, 10, 1) + dt.timedelta(days=i) for i in range(52)]  # 2025-10-01 .. 2025-11-21
STORY_DAYS = (dt.date(2020, 6, 1), dt.date(2025, 10, 1), dt.date(2025, 11, 21))
BLOCKS = mempool_blocks.BLOCKS
HASH_RATE = blockchain_com.HASH_RATE
MEMPOOL = "https://mempool.space/api/v1/"
CHART = "https://api.blockchain.info/charts/hash-rate"


def respond(api: DemoApi, url: str, params: dict[str, str], now: dt.datetime) -> tuple[int, bytes]:
    """Route like DemoApi once ROUTES are wired in: this module's paths first, then the API's own."""
    path = urlsplit(url).path.rstrip("/")
    for pattern, handler in em.ROUTES:
        if match := pattern.fullmatch(path):
            return handler(match, dict(params), now, api)
    return api.respond(url, params, now)


def get_json(api: DemoApi, url: str, now: dt.datetime, params: dict[str, str] | None = None):
    status, body = respond(api, url, params or {}, now)
    assert status == 200, body[:200]
    return json.loads(body)


def walk(api: DemoApi, day: dt.date) -> tuple[pa.Table, int]:
    """The blocks of `day` as the nightly run gets them: every page of the walk, parsed and stitched."""
    now = scheduled_fetch_time(day)
    request, tables = BLOCKS.build_request(day), []
    while request is not None:
        status, body = respond(api, request.url, request.params, now)
        assert status == 200, body[:200]
        tables.append(BLOCKS.parse(body, day, now))
        request = BLOCKS.next_page(request, body)
        assert len(tables) <= BLOCKS.max_pages
    return stitch_pages(BLOCKS, day, tables).sort_by("height"), len(tables)


@pytest.fixture(scope="module")
def api() -> DemoApi:
    return DemoApi()


@pytest.fixture(scope="module")
def window(api):
    """Per window day: parsed blocks, mempool's daily hash rate (nightly 1m body) and blockchain.com's point."""
    out = {"blocks": [], "pages": [], "mempool_hs": [], "blockchain_hs": []}
    for day in WINDOW:
        table, pages = walk(api, day)
        out["blocks"].append(table.to_pylist())
        out["pages"].append(pages)
        now = scheduled_fetch_time(day)
        request = mempool.build_hashrate_request(day, today=lambda: now.date())
        status, body = respond(api, request.url, request.params, now)
        out["mempool_hs"].append(mempool.HASHRATE.parse(body, day, now).column("avg_hashrate_hs")[0].as_py())
        request = HASH_RATE.build_request(day)
        status, body = respond(api, request.url, request.params, now)
        out["blockchain_hs"].append(HASH_RATE.parse(body, day, now).column("hashrate_ths")[0].as_py() * 1e12)
    return out


# ---- bodies: determinism, wire format, parsing ---------------------------------------------------------------


def test_same_request_gives_the_same_bytes_even_from_fresh_models(api):
    now = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)
    requests = [
        (MEMPOOL + "mining/blocks/timestamp/1763769599", {}),
        (MEMPOOL + "blocks/924400", {}),
        (MEMPOOL + "blocks", {}),
        (CHART, {"timespan": "30days", "format": "json", "sampled": "false"}),
    ]
    fresh = DemoApi(market=MarketModel(), mining=MiningModel())
    for url, params in requests:
        first = respond(api, url, params, now)
        assert first == respond(api, url, params, now) == respond(fresh, url, params, now)
        assert first[0] == 200


@pytest.mark.parametrize("day", STORY_DAYS, ids=str)
def test_the_walk_parses_and_reconciles_with_the_mining_model(api, day):
    table, pages = walk(api, day)
    rows = table.to_pylist()
    # blocks are assigned to days by timestamp; the day's count and work are the model's (mempool hash rate)
    assert len(rows) == api.mining.blocks(day) and 10 <= pages <= 16
    work = sum(r["difficulty"] for r in rows) * 2**32 / 86_400
    assert work == pytest.approx(api.mining.observed_hashrate(day), rel=1e-12)
    for r in rows:
        assert r["block_time"].date() == day
        assert r["reward_sats"] == r["subsidy_sats"] + r["total_fees_sats"]
        assert r["subsidy_sats"] == mempool_blocks.subsidy_sats(r["height"])
        assert 0 < r["weight"] <= 4_000_000 and r["tx_count"] >= 1
    assert {r["subsidy_sats"] for r in rows} == {625_000_000 if day.year == 2020 else 312_500_000}


def test_block_pages_look_like_mempool(api):
    now = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)
    page = get_json(api, MEMPOOL + "blocks/924400", now)
    assert [b["height"] for b in page] == list(range(924400, 924385, -1))
    expected_keys = ["id", "height", "version", "timestamp", "bits", "nonce", "difficulty", "merkle_root",
                     "tx_count", "size", "weight", "previousblockhash", "mediantime", "stale", "extras"]
    for upper, lower in zip(page, page[1:]):
        assert list(upper) == expected_keys
        assert upper["previousblockhash"] == lower["id"]  # a chain
    for b in page:
        target = int(em.MAX_TARGET / b["difficulty"])
        assert int(b["id"], 16) < target and b["id"].startswith("0" * 19)  # proof of work at this difficulty
        bits = b["bits"]
        assert (bits & 0xFFFFFF) * 256 ** ((bits >> 24) - 3) == pytest.approx(target, rel=1e-4)
        header = bytes.fromhex(b["extras"]["header"])  # the 80-byte header, little-endian fields
        assert len(header) == 80 and header[4:36][::-1].hex() == b["previousblockhash"]
        assert header[36:68][::-1].hex() == b["merkle_root"]
        assert struct.unpack("<IIII", header[:4] + header[68:]) == (b["version"], b["timestamp"], bits, b["nonce"])
        extras = b["extras"]
        assert set(extras["pool"]) == {"id", "name", "slug", "minerNames"}
        assert isinstance(extras["reward"], int) and isinstance(extras["totalFees"], int)
        assert isinstance(b["difficulty"], float) and isinstance(b["timestamp"], int)
    # consensus: a timestamp is above the median of the 11 blocks before it
    chain = get_json(api, MEMPOOL + "blocks/924385", now) + get_json(api, MEMPOOL + "blocks/924370", now)
    stamps = {b["height"]: b["timestamp"] for b in page + chain}
    for h in range(924381, 924401):
        assert stamps[h] > statistics.median(stamps[h - k] for k in range(1, 12))


def test_pages_above_the_tip_shrink_like_mempools(api):
    now = dt.datetime(2025, 11, 21, 13, 17, tzinfo=UTC)
    tip_page = get_json(api, MEMPOOL + "blocks", now)
    tip = tip_page[0]["height"]
    assert len(tip_page) == 15 and all(b["timestamp"] <= now.timestamp() for b in tip_page)
    assert [b["height"] for b in get_json(api, MEMPOOL + f"blocks/{tip + 4}", now)] == list(range(tip, tip - 11, -1))
    assert get_json(api, MEMPOOL + f"blocks/{tip + 15}", now) == []
    assert get_json(api, MEMPOOL + "blocks/abc", now) == []  # parseInt("abc") is NaN: mempool answers []
    assert get_json(api, MEMPOOL + f"blocks/{tip - 3}x", now)[0]["height"] == tip - 3  # parseInt reads digits
    # the chain of the demo starts in 2019: below it a page is short, then empty
    first = api.mining.first_block_height
    assert [b["height"] for b in get_json(api, MEMPOOL + f"blocks/{first + 2}", now)] == [first + 2, first + 1, first]
    assert get_json(api, MEMPOOL + f"blocks/{first - 1}", now) == []


def test_nothing_after_now(api):
    for now in (dt.datetime(2025, 11, 21, 13, 17, 5, tzinfo=UTC), dt.datetime(2025, 10, 22, 0, 0, 2, tzinfo=UTC)):
        now_s = int(now.timestamp())
        tip_page = get_json(api, MEMPOOL + "blocks", now)
        assert max(b["timestamp"] for b in tip_page) <= now_s
        assert tip_page[0]["height"] == em.visible_tip(api.mining, now_s)
        assert api.mining.tip_at(now_s) - 1 <= tip_page[0]["height"] <= api.mining.tip_at(now_s)
        # a lookup after now answers the newest served block, never a later one
        found = get_json(api, MEMPOOL + f"mining/blocks/timestamp/{now_s + 3600}", now)
        assert found["height"] <= tip_page[0]["height"]
        # blockchain.com: only days that are over
        values = get_json(api, CHART, now, {"timespan": "5days", "sampled": "false"})["values"]
        assert values[-1]["x"] + 86_400 <= now_s < values[-1]["x"] + 2 * 86_400
    status, body = respond(api, MEMPOOL + "mining/blocks/timestamp/1900000000", {}, now)
    assert (status, body) == (500, b"Invalid timestamp, value must be Unix seconds")  # more than a day ahead
    for bad in ("1763769599000x", "0123", "-5"):
        assert respond(api, MEMPOOL + f"mining/blocks/timestamp/{bad}", {}, now)[0] == 500
    status, body = respond(api, MEMPOOL + "mining/blocks/timestamp/1500000000", {}, now)  # before the demo chain
    assert (status, body) == (500, b"No block was found before timestamp 1500000000")


def test_the_lookup_agrees_with_the_pages(api):
    now = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)
    heights = range(924250, 924480)
    stamps = {}
    for start in range(heights.stop, heights.start, -15):
        stamps.update({b["height"]: b["timestamp"] for b in get_json(api, MEMPOOL + f"blocks/{start}", now)})
    for ts in list(range(1763700000, 1763769600, 3_301)) + [1763769599]:
        found = get_json(api, MEMPOOL + f"mining/blocks/timestamp/{ts}", now)
        best = max((t, h) for h, t in stamps.items() if t <= ts)  # latest stamp, highest height on a tie
        assert (found["height"], found["hash"]) == (best[1], em.block_hash(api.mining, best[1]))
        stamp = dt.datetime.strptime(found["timestamp"], "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=UTC)
        assert int(stamp.timestamp()) == best[0]


def test_miner_timestamps_cross_midnight_and_consecutive_days_stitch_without_gaps(api):
    # the last block mined on 2025-09-02 is stamped on 09-03 and the first of 09-03 on 09-02
    days = [dt.date(2025, 9, 1) + dt.timedelta(days=i) for i in range(5)]
    tables = [walk(api, d)[0] for d in days]
    per_day = [t.column("height").to_pylist() for t in tables]
    union = [h for heights in per_day for h in heights]
    assert len(union) == len(set(union))  # no block in two days
    lo, hi = min(union), max(union)
    truth = dict(zip(range(lo - 20, hi + 21), em.stamped_times(api.mining, lo - 20, hi + 20)))
    start, end = (int(dt.datetime.combine(d, dt.time(), UTC).timestamp())
                  for d in (days[0], days[-1] + dt.timedelta(days=1)))
    assert set(union) == {h for h, t in truth.items() if start <= t < end}  # none missing
    # a day whose blocks are not one run of heights: a block stamped before midnight above one stamped after
    assert any(heights != list(range(heights[0], heights[-1] + 1)) for heights in per_day)
    out_of_order = sum(truth[h] < truth[h - 1] for h in range(lo - 19, hi + 21))
    assert 0 < out_of_order / (hi - lo + 40) < 0.05


# ---- blockchain.com -------------------------------------------------------------------------------------------


def test_hash_rate_chart_honours_its_params(api):
    now = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)
    body = get_json(api, CHART, now, {"timespan": "3days", "start": "2025-11-20", "format": "json", "sampled": "false"})
    assert list(body) == ["status", "name", "unit", "period", "description", "values"]
    assert (body["status"], body["unit"], body["period"]) == ("ok", "Hash Rate TH/s", "day")
    day_s = 86_400
    nov20 = int(dt.datetime(2025, 11, 20, tzinfo=UTC).timestamp())
    assert [v["x"] for v in body["values"]] == [nov20, nov20 + day_s]  # Nov 22 is not over yet: not served
    assert all(isinstance(v["y"], float) for v in body["values"])
    # without start: the span ending with the last complete day; sampled thins long spans to ~1.5k points
    last30 = get_json(api, CHART, now, {"timespan": "30days"})["values"]
    assert len(last30) == 30 and last30[-1]["x"] == nov20 + day_s
    assert last30[-2:] == body["values"]
    every = get_json(api, CHART, now, {"timespan": "all", "sampled": "false"})["values"]
    thin = get_json(api, CHART, now, {"timespan": "all"})["values"]
    assert len(every) > 2000 and len(thin) <= 1500 and thin[0] == every[0]
    assert every[0]["x"] == int(dt.datetime(2019, 6, 1, tzinfo=UTC).timestamp())  # the demo chain's first day
    # a 7-day rolling average, as the chart page offers
    rolled = get_json(api, CHART, now, {"timespan": "30days", "rollingAverage": "7days"})["values"]
    assert rolled[-1]["y"] == pytest.approx(sum(v["y"] for v in last30[-7:]) / 7, rel=1e-12)
    csv = respond(api, CHART, {"timespan": "3days", "start": "2025-11-20", "format": "csv"}, now)[1].decode()
    assert csv.splitlines()[0].startswith("2025-11-20 00:00:00,")
    status, body = respond(api, CHART, {"timespan": "fortnight"}, now)
    assert status == 400 and json.loads(body)["status"] == "error"


def test_the_hash_rate_request_of_each_story_day_parses(api):
    for day in STORY_DAYS:
        now = scheduled_fetch_time(day)
        request = HASH_RATE.build_request(day)
        status, body = respond(api, request.url, request.params, now)
        row = HASH_RATE.parse(body, day, now).to_pylist()[0]
        assert row["point_time"] == dt.datetime.combine(day, dt.time())
        # blockchain.com's smoothing of the same blocks: close to mempool's daily figure
        assert row["hashrate_ths"] * 1e12 == pytest.approx(api.mining.observed_hashrate(day), rel=0.2)


def test_the_demo_hashrate_answers_every_period_the_request_can_choose(api):
    """mempool/hashrate backfill: whatever period the request picks for a day, the demo serves the same row."""
    day = dt.date(2025, 10, 15)
    nightly = scheduled_fetch_time(day)
    status, body = respond(api, mempool.HASHRATE_URL, {}, nightly)
    expected = mempool.HASHRATE.parse(body, day, nightly).to_pylist()
    seen = set()
    for age in (1, 3, 20, 40, 120, 300, 500, 1000, 1400, 1600):
        fetch = dt.datetime.combine(day + dt.timedelta(days=age), dt.time(23, 59), tzinfo=UTC)
        request = mempool.build_hashrate_request(day, today=lambda f=fetch: f.date())
        seen.add(request.url.rsplit("/", 1)[1])
        status, body = respond(api, request.url, request.params, fetch)
        assert status == 200
        assert mempool.HASHRATE.parse(body, day, fetch).to_pylist() == expected, request.url
    assert seen == {"1m", "3m", "6m", "1y", "2y", "3y", "4y", "all"}


# ---- the story over the default window ------------------------------------------------------------------------


def test_blocks_every_ten_minutes_on_average(window):
    counts = np.array([len(rows) for rows in window["blocks"]])
    assert 135 <= counts.mean() <= 153 and counts.std() > 5  # ~144 a day, Poisson
    assert max(window["pages"]) <= 16


def test_pool_shares(window, api):
    top_shares, top_pools = [], Counter()
    for rows in window["blocks"]:
        counts = Counter(r["pool_name"] for r in rows)
        shares = {pool: n / len(rows) for pool, n in counts.items()}
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)  # every block has a pool
        pool, share = max(shares.items(), key=lambda kv: kv[1])
        top_shares.append(share)
        top_pools[pool] += 1
    assert 0.25 <= np.mean(top_shares) <= 0.35
    assert top_pools.most_common(1)[0][0] == "Foundry USA" and len(top_pools) <= 3
    pools = {r["pool_slug"] for rows in window["blocks"] for r in rows}
    assert {"foundryusa", "antpool", "viabtc", "f2pool", "marapool", "spiderpool", "luxor", "unknown"} <= pools
    # shares drift: the 2020 chain had another leader
    counts_2020 = Counter(r["pool_name"] for r in walk(api, dt.date(2020, 6, 1))[0].to_pylist())
    assert counts_2020.most_common(1)[0][0] != "Foundry USA"


def test_two_estimates_of_the_hash_rate_agree(window):
    mp, bc = np.array(window["mempool_hs"]), np.array(window["blockchain_hs"])
    within = np.abs(bc / mp - 1) < 0.10
    assert within.mean() >= 0.90
    assert not np.array_equal(mp, bc)  # a second estimate, not a copy
    # both show the fall from the October peak
    assert bc[-7:].mean() < 0.92 * bc[10:25].max()


def test_miner_revenue(window, api):
    rows = [r for day_rows in window["blocks"] for r in day_rows]
    assert {r["subsidy_sats"] for r in rows} == {312_500_000}  # 3.125 BTC after height 840,000
    fees = np.array([r["total_fees_sats"] for r in rows]) / 1e8
    assert 0.005 < np.median(fees) < 0.1  # a quiet 2025 fee market: a few hundredths of a BTC per block
    assert fees.max() > 8 * np.median(fees)  # heavy tailed
    # busier weeks (bigger market moves) pay more fees
    daily_fees = [np.mean([r["total_fees_sats"] for r in day_rows]) for day_rows in window["blocks"]]
    activity = [np.mean([abs(api.market.daily_return(d - dt.timedelta(days=k))) for k in range(1, 8)])
                for d in WINDOW]
    assert np.corrcoef(daily_fees, activity)[0, 1] > 0.3


# ---- blockchain.com's miners' revenue: the second hashprice route ---------------------------------------------

REVENUE_CHART = "https://api.blockchain.info/charts/miners-revenue"
MINERS_REVENUE = blockchain_com.MINERS_REVENUE
HALVING = dt.date(2024, 4, 20)
AROUND_HALVING = [HALVING + dt.timedelta(days=k) for k in range(-14, 15)]


def chart_point(api: DemoApi, spec, day: dt.date, column: str) -> float:
    """The day's point as the nightly run gets it: its own request, parsed."""
    now = scheduled_fetch_time(day)
    request = spec.build_request(day)
    status, body = respond(api, request.url, request.params, now)
    assert status == 200, body[:200]
    return spec.parse(body, day, now).column(column)[0].as_py()


def two_routes(api: DemoApi, days: list[dt.date], blocks: list[list[dict]] | None = None) -> dict[str, np.ndarray]:
    """Per day, computed here from the parsed bodies: the blocks' rewards (BTC) and the hashprice of each route,
    (a) sources.md §3.4: Σ rewards × the day's reference close / mempool's hash rate in PH/s;
    (b) blockchain.com: miners-revenue / hash-rate in PH/s."""
    out = {k: [] for k in ("rewards_btc", "close", "revenue_usd", "blocks_route", "chart_route")}
    for i, day in enumerate(days):
        rows = blocks[i] if blocks is not None else walk(api, day)[0].to_pylist()
        rewards_btc = sum(r["reward_sats"] for r in rows) / 1e8
        now = scheduled_fetch_time(day)
        request = mempool.build_hashrate_request(day, today=lambda: now.date())
        status, body = respond(api, request.url, request.params, now)
        mempool_phs = mempool.HASHRATE.parse(body, day, now).column("avg_hashrate_hs")[0].as_py() / 1e15
        revenue_usd = chart_point(api, MINERS_REVENUE, day, "revenue_usd")
        chart_phs = chart_point(api, HASH_RATE, day, "hashrate_ths") / 1e3
        close = api.market.close(day)
        out["rewards_btc"].append(rewards_btc)
        out["close"].append(close)
        out["revenue_usd"].append(revenue_usd)
        out["blocks_route"].append(rewards_btc * close / mempool_phs)
        out["chart_route"].append(revenue_usd / chart_phs)
    return {k: np.array(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def halving_routes(api):
    return two_routes(api, AROUND_HALVING)


def test_miners_revenue_chart_honours_its_params(api):
    now = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)
    body = get_json(api, REVENUE_CHART, now, {"timespan": "3days", "start": "2025-11-20", "format": "json",
                                               "sampled": "false"})
    assert list(body) == ["status", "name", "unit", "period", "description", "values"]
    assert (body["status"], body["name"], body["unit"], body["period"]) == ("ok", "Miners Revenue", "USD", "day")
    nov20 = int(dt.datetime(2025, 11, 20, tzinfo=UTC).timestamp())
    assert [v["x"] for v in body["values"]] == [nov20, nov20 + 86_400]  # Nov 22 is not over yet
    # the value is the model's: the day's subsidies plus expected fees, at the reference close
    day = dt.date(2025, 11, 20)
    assert body["values"][0]["y"] == em.miners_revenue_usd(api.mining, api.market, day)
    every = get_json(api, REVENUE_CHART, now, {"timespan": "all", "sampled": "false"})["values"]
    assert every[0]["x"] == int(dt.datetime(2019, 6, 1, tzinfo=UTC).timestamp())  # the demo chain's first day
    rolled = get_json(api, REVENUE_CHART, now, {"timespan": "30days", "rollingAverage": "7days"})["values"]
    last30 = get_json(api, REVENUE_CHART, now, {"timespan": "30days"})["values"]
    assert rolled[-1]["y"] == pytest.approx(sum(v["y"] for v in last30[-7:]) / 7, rel=1e-12)
    status, body = respond(api, REVENUE_CHART, {"timespan": "fortnight"}, now)
    assert status == 400 and json.loads(body)["status"] == "error"


def test_a_years_range_request_serves_every_day_back_to_the_halving(api):
    """The backfill's request (a year of days plus a day of margin each side) answers every day it asks."""
    first, last = dt.date(2024, 3, 1), dt.date(2025, 2, 28)
    request = blockchain_com.build_miners_revenue_range_request(first, last)
    now = scheduled_fetch_time(dt.date(2025, 11, 21))
    status, body = respond(api, request.url, request.params, now)
    assert status == 200
    days = [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
    values = [MINERS_REVENUE.parse(body, day, now).column("revenue_usd")[0].as_py() for day in days]
    assert len(values) == 365 and min(values) > 0
    assert values[days.index(HALVING)] == em.miners_revenue_usd(api.mining, api.market, HALVING)


def test_the_fee_factor_is_the_mean_of_the_blocks_fees(window, api):
    """FEE_MEAN_FACTOR, derived from block_json's draws, against the window's ~7,500 walked blocks: their fees
    over the era's level × the week's busy factor average to it (the spikes' heavy tail leaves ~1.5% of noise)."""
    ratios = [r["total_fees_sats"] / 1e8 / (em.fee_level_btc(day) * em.busy_factor(api.market, day))
              for day, rows in zip(WINDOW, window["blocks"]) for r in rows]
    assert len(ratios) > 7000
    assert np.mean(ratios) == pytest.approx(em.FEE_MEAN_FACTOR, rel=0.06)


def test_the_two_hashprice_routes_agree_in_the_november_window(window, api):
    routes = two_routes(api, WINDOW, window["blocks"])
    # revenue: the same blocks' subsidies, fees at their expectation instead of their draws (~1% of 2025 revenue)
    revenue_ratio = routes["revenue_usd"] / (routes["rewards_btc"] * routes["close"])
    assert np.all(np.abs(revenue_ratio - 1) < 0.03)
    # hashprice: blockchain.com's hash rate smooths the day's Poisson noise with the two days before, so a day
    # differs by up to ~15%; a week's mean agrees within a few percent, and neither route copies the other
    ratio = routes["chart_route"] / routes["blocks_route"]
    assert np.mean(np.abs(ratio - 1) < 0.10) >= 0.85 and np.all(np.abs(ratio - 1) < 0.25)
    weekly = [routes["chart_route"][i:i + 7].mean() / routes["blocks_route"][i:i + 7].mean()
              for i in range(0, len(WINDOW) - 6, 7)]
    assert np.all(np.abs(np.array(weekly) - 1) < 0.05)
    assert not np.allclose(routes["chart_route"], routes["blocks_route"], rtol=1e-6)
    # the demo's November: ~$40-60 per PH/s per day
    assert 30 < routes["chart_route"][-7:].mean() < 60


def test_the_halving_halves_the_subsidy_in_both_routes(halving_routes, api):
    routes, days = halving_routes, AROUND_HALVING
    h = days.index(HALVING)
    revenue_ratio = routes["revenue_usd"] / (routes["rewards_btc"] * routes["close"])
    assert np.all(np.abs(revenue_ratio - 1) < 0.06)  # the halving rush: fees ~20% of revenue, drawn vs expected
    before, after = slice(h - 14, h), slice(h + 1, h + 15)
    for route in ("blocks_route", "chart_route"):
        drop = routes[route][after].mean() / routes[route][before].mean()
        assert 0.35 < drop < 0.75, (route, drop)  # half the subsidy, some of it back in fees and price
    weekly = routes["chart_route"][before].mean() / routes["blocks_route"][before].mean()
    assert abs(weekly - 1) < 0.05
    # the halving day holds blocks of both epochs; the chart's revenue counts each height's own subsidy
    first, n = api.mining.first_height(HALVING), api.mining.blocks(HALVING)
    assert first < 840_000 < first + n
    subsidy = sum(em.subsidy_sats(hgt) for hgt in range(first, first + n)) / 1e8
    assert subsidy == (840_000 - first) * 6.25 + (first + n - 840_000) * 3.125
