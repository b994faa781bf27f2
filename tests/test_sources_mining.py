"""Mining datasets: mempool/blocks (a paged walk down the heights), blockchain_com/hash_rate, and the period
choice that lets mempool/hashrate serve any past day. Real recorded bodies, documented shapes, every error."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.ingest.errors import ParseError
from pipelines.ingest.extract import stitch_pages
from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources import blockchain_com, mempool, mempool_blocks
from pipelines.sources.spec import PARTITION_COLUMN

UTC = dt.timezone.utc
LATE = dt.datetime(2030, 1, 1, tzinfo=UTC)
NOV21 = dt.date(2025, 11, 21)
BLOCKS = mempool_blocks.BLOCKS
HASH_RATE = blockchain_com.HASH_RATE
MINING_DATASETS = (*mempool_blocks.DATASETS, *blockchain_com.DATASETS)


def s(day: dt.date, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC).timestamp())


def parse_error(spec, body: bytes | str, day: dt.date, fetched_at: dt.datetime = LATE) -> str:
    """Parse and return the ParseError message, asserting it names source/dataset and the date."""
    if isinstance(body, str):
        body = body.encode()
    with pytest.raises(ParseError) as info:
        spec.parse(body, day, fetched_at)
    message = str(info.value)
    assert message.startswith(f"{spec.source}/{spec.dataset} for {day.isoformat()}: ")
    assert (info.value.source, info.value.dataset, info.value.day) == (spec.source, spec.dataset, day)
    return message


# ---- specs and requests ------------------------------------------------------------------------------------


def test_specs_are_the_contract():
    ts, f64, i64, text = pa.timestamp("us"), pa.float64(), pa.int64(), pa.string()
    assert BLOCKS.raw_schema == pa.schema(
        [(PARTITION_COLUMN, pa.date32()), ("height", i64), ("block_hash", text), ("block_time", ts), ("tx_count", i64),
         ("size_bytes", i64), ("weight", i64), ("difficulty", f64), ("reward_sats", i64), ("total_fees_sats", i64),
         ("subsidy_sats", i64), ("pool_name", text), ("pool_slug", text)]
    )
    assert HASH_RATE.raw_schema == pa.schema(
        [(PARTITION_COLUMN, pa.date32()), ("point_time", ts), ("hashrate_ths", f64)]
    )
    assert (BLOCKS.name, BLOCKS.key_columns, BLOCKS.event_time_column) == (
        "mempool/blocks", (PARTITION_COLUMN, "height"), "block_time")
    assert (HASH_RATE.name, HASH_RATE.key_columns, HASH_RATE.event_time_column) == (
        "blockchain_com/hash_rate", (PARTITION_COLUMN,), "point_time")
    assert BLOCKS.next_page is not None and HASH_RATE.next_page is None
    for spec in MINING_DATASETS:
        assert spec.backfillable and spec.history and spec.available_from == dt.date(2009, 1, 3)
        assert spec.description and "\n" not in spec.description and len(spec.description) < 140
        assert all(isinstance(v, str) for v in spec.build_request(NOV21).params.values())
    # mempool/hashrate keeps its raw schema
    assert mempool.HASHRATE.raw_schema.names == [PARTITION_COLUMN, "label_time", "avg_hashrate_hs", "difficulty"]


def test_request_builders_use_the_documented_urls():
    r = BLOCKS.build_request(NOV21)
    # the last second of the day: the lookup answers the last block stamped at or before it
    assert (r.source, r.dataset, r.day) == ("mempool", "blocks", NOV21)
    assert (r.url, r.params) == ("https://mempool.space/api/v1/mining/blocks/timestamp/1763769599", {})
    assert 1763769599 == s(NOV21 + dt.timedelta(days=1)) - 1
    r = HASH_RATE.build_request(NOV21)
    assert r.url == "https://api.blockchain.info/charts/hash-rate"
    assert r.params == {"timespan": "3days", "start": "2025-11-20", "format": "json", "sampled": "false"}


# ---- mempool/hashrate: a period for any past day ------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "fetch_date", "period"),
    [
        (dt.date(2025, 11, 21), dt.date(2025, 11, 22), "1m"),  # nightly: the newest complete day
        (dt.date(2025, 11, 21), dt.date(2025, 11, 21), "1m"),  # not over yet: the parser refuses it
        (dt.date(2025, 11, 19), dt.date(2025, 11, 22), "1m"),  # window from 10-23 <= label 11-20 - 28 d
        (dt.date(2025, 11, 18), dt.date(2025, 11, 22), "3m"),
        (dt.date(2025, 9, 19), dt.date(2025, 11, 22), "3m"),  # window from 08-23 <= label 09-20 - 28 d
        (dt.date(2025, 9, 18), dt.date(2025, 11, 22), "6m"),
        (dt.date(2025, 3, 1), dt.date(2025, 11, 22), "1y"),
        (dt.date(2025, 11, 21), dt.date(2026, 11, 25), "2y"),
        (dt.date(2022, 6, 1), dt.date(2025, 11, 22), "4y"),
        (dt.date(2020, 6, 1), dt.date(2025, 11, 22), "all"),
        (dt.date(2009, 1, 9), dt.date(2025, 11, 22), "all"),
    ],
)
def test_hashrate_period_is_the_smallest_window_holding_the_day_and_its_retarget(day, fetch_date, period):
    assert mempool.hashrate_period(day, fetch_date) == period
    r = mempool.build_hashrate_request(day, today=lambda: fetch_date)
    assert (r.url, r.params) == (f"https://mempool.space/api/v1/mining/hashrate/{period}", {})


MONTHS = dict(mempool.HASHRATE_PERIODS)


@given(st.dates(dt.date(2009, 1, 3), dt.date(2035, 1, 1)), st.integers(2, 9000))
def test_hashrate_period_covers_and_is_minimal(day, age_days):
    fetch_date = day + dt.timedelta(days=age_days)
    period = mempool.hashrate_period(day, fetch_date)
    need_from = day + dt.timedelta(days=1 - mempool.RETARGET_MARGIN_DAYS)
    end_of_fetch_date = fetch_date + dt.timedelta(days=1)
    names = [name for name, _ in mempool.HASHRATE_PERIODS]
    smaller = names if period == "all" else names[: names.index(period)]
    # no smaller period holds the day and its retarget, whenever on the fetch date it is asked
    for name in smaller:
        assert mempool._months_before(end_of_fetch_date, MONTHS[name]) > need_from
    if period != "all":
        assert mempool._months_before(end_of_fetch_date, MONTHS[period]) <= need_from


def test_hashrate_request_reads_the_clock_when_built():
    dates = iter([dt.date(2025, 11, 22), dt.date(2026, 1, 15)])
    clock = lambda: next(dates)  # noqa: E731
    assert mempool.build_hashrate_request(NOV21, today=clock).url.endswith("/1m")
    assert mempool.build_hashrate_request(NOV21, today=clock).url.endswith("/3m")
    # the registered spec uses the system clock
    before = mempool.utc_today()
    url = mempool.HASHRATE.build_request(NOV21).url
    assert url.rsplit("/", 1)[1] in {mempool.hashrate_period(NOV21, before),
                                     mempool.hashrate_period(NOV21, mempool.utc_today())}


def test_hashrate_parser_picks_the_day_from_a_long_period_body():
    # a "2y"/"all" answer is the same shape, longer: the row labelled by the midnight ending the day
    days = [NOV21 - dt.timedelta(days=i) for i in range(400)][::-1]
    body = json.dumps({
        "hashrates": [{"timestamp": s(d + dt.timedelta(days=1)), "avgHashrate": 1e21 + i * 1e17}
                      for i, d in enumerate(days)],
        "difficulty": [{"time": s(dt.date(2025, 3, 1), 5), "height": 885_024, "difficulty": 110e12, "adjustment": 1.01},
                       {"time": s(dt.date(2025, 3, 14), 9), "height": 887_040, "difficulty": 112e12,
                        "adjustment": 1.02}],
        "currentHashrate": 1e21, "currentDifficulty": 150e12,
    }).encode()
    row = mempool.HASHRATE.parse(body, dt.date(2025, 3, 10), LATE).to_pylist()[0]
    assert row["label_time"] == dt.datetime(2025, 3, 11) and row["difficulty"] == 110e12
    assert row["avg_hashrate_hs"] == 1e21 + days.index(dt.date(2025, 3, 10)) * 1e17


# ---- mempool/blocks: real recorded blocks --------------------------------------------------------------------


def recorded_page(real_fixtures) -> list[dict]:
    """The recording's blocks (websocket init, /v1/blocks shape) as a /v1/blocks page: descending heights."""
    blocks = json.loads((real_fixtures / "mempool" / "ws_init_blocks.json").read_text())["blocks"]
    return sorted(blocks, key=lambda b: -b["height"])


def test_blocks_parse_the_real_recorded_blocks(real_fixtures):
    page = recorded_page(real_fixtures)
    day = dt.date(2025, 4, 1)
    table = BLOCKS.parse(json.dumps(page).encode(), day, LATE)
    assert table.schema == BLOCKS.raw_schema and table.num_rows == 8
    rows = table.to_pylist()
    assert [r["height"] for r in rows] == list(range(890440, 890448))  # sorted by key
    first = rows[0]
    assert first == {
        PARTITION_COLUMN: day, "height": 890440,
        "block_hash": "0000000000000000000079f5b74b6533abb0b1ece06570d8d157b5bebd1460b4",
        "block_time": dt.datetime(2025, 4, 1, 19, 27, 57), "tx_count": 3823, "size_bytes": 1578209,
        "weight": 3993461, "difficulty": 113757508810854.0, "reward_sats": 319838750, "total_fees_sats": 7338750,
        "subsidy_sats": 312_500_000, "pool_name": "ViaBTC", "pool_slug": "viabtc",
    }
    # every recorded reward is the 3.125 BTC subsidy of the epoch plus the block's fees
    assert {r["subsidy_sats"] for r in rows} == {312_500_000}
    assert {r["pool_slug"] for r in rows} == {"viabtc", "foundryusa", "antpool", "secpool", "braiinspool"}
    # the same page read for another day keeps nothing: blocks belong to the day of their timestamp
    assert BLOCKS.parse(json.dumps(page).encode(), dt.date(2025, 4, 2), LATE).num_rows == 0


def test_blocks_refuse_the_recording_in_websocket_order(real_fixtures):
    ascending = list(reversed(recorded_page(real_fixtures)))
    message = parse_error(BLOCKS, json.dumps(ascending), dt.date(2025, 4, 1))
    assert "not consecutive heights in descending order (890440 then 890441)" in message


# ---- mempool/blocks: the walk over a chain with miner-set timestamps ----------------------------------------


def block(height: int, stamp: int, fees: int = 1_000_000, pool: str = "Foundry USA") -> dict:
    return {
        "id": f"{height:064x}", "height": height, "timestamp": stamp, "tx_count": 3000, "size": 1_600_000,
        "weight": 3_993_000, "difficulty": 150e12, "stale": False,
        "extras": {"reward": 312_500_000 + fees, "totalFees": fees,
                   "pool": {"id": 111, "name": pool, "slug": pool.lower().replace(" ", "")}},
    }


class FakeChain:
    """mempool's two endpoints over a chain of (height -> timestamp), with the real paging rules."""

    def __init__(self, stamps: dict[int, int], tip: int):
        self.stamps, self.tip, self.requests = stamps, tip, []

    def respond(self, request: FetchRequest) -> bytes:
        self.requests.append(request.url)
        tail = request.url.rsplit("/", 1)[1]
        if request.url.startswith(mempool_blocks.TIMESTAMP_URL):
            ts = int(tail)
            best = max((t, h) for h, t in self.stamps.items() if t <= ts and h <= self.tip)
            when = dt.datetime.fromtimestamp(best[0], UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            return json.dumps({"height": best[1], "hash": f"{best[1]:064x}", "timestamp": when}).encode()
        start, limit = int(tail), 15
        if start > self.tip:  # mempool's $getBlocks: the page shrinks by the excess
            limit -= start - self.tip
            start = self.tip
        heights = [h for h in range(start, start - limit, -1) if h in self.stamps]
        return json.dumps([block(h, self.stamps[h]) for h in heights]).encode()


def walk(chain: FakeChain, day: dt.date, fetched_at: dt.datetime = LATE) -> tuple[pa.Table, int]:
    request, tables = BLOCKS.build_request(day), []
    for _ in range(BLOCKS.max_pages):
        body = chain.respond(request)
        tables.append(BLOCKS.parse(body, day, fetched_at))
        request = BLOCKS.next_page(request, body)
        if request is None:
            return stitch_pages(BLOCKS, day, tables).sort_by("height"), len(tables)
    raise AssertionError("the walk did not stop")


def messy_chain() -> tuple[FakeChain, dict[int, int]]:
    """A block every 10 minutes (1007 at 00:05 on Nov 21 ... 1150 at 23:55, 1151 at 00:05 on Nov 22), with
    the timestamps miners really produce:
    - 1152 (mined 00:15 on Nov 22) is stamped 23:59:50 on Nov 21: the lookup's answer;
    - 1156 (mined 00:55 on Nov 22) is stamped 23:59:10 on Nov 21, a clock running behind but above the
      median of its 11 parents (23:55): a block of the day ABOVE the looked-up one;
    - 1001 (mined 23:05 on Nov 20) is stamped 00:20 on Nov 21, a clock 75 min ahead (the rule allows 2 h):
      a block of the day below 1002-1006, which are stamped before midnight."""
    stamps = {h: s(NOV21, 0, 5) + (h - 1007) * 600 for h in range(850, 1200)}
    stamps[1152] = s(NOV21, 23, 59, 50)
    stamps[1156] = s(NOV21, 23, 59, 10)
    stamps[1001] = s(NOV21, 0, 20)
    return FakeChain(stamps, tip=1199), stamps


def test_the_walk_keeps_exactly_the_blocks_stamped_in_the_day():
    chain, stamps = messy_chain()
    table, pages = walk(chain, NOV21)
    expected = sorted(h for h, t in stamps.items() if s(NOV21) <= t < s(NOV21 + dt.timedelta(days=1)))
    assert [r["height"] for r in table.to_pylist()] == expected
    assert {1156, 1001, 1007, 1150} <= set(expected) and 1151 not in expected  # 1151: Nov 22 00:05
    for row in table.to_pylist():
        assert row["block_time"].date() == NOV21 and row["partition_date"] == NOV21
    # lookup, the page ending at the lookup's block, ~10 pages of the day, the margin page(s)
    assert chain.requests[0].endswith("/timestamp/1763769599")
    assert chain.requests[1].endswith(f"/blocks/{1152 + mempool_blocks.TOP_MARGIN}")
    assert pages == len(chain.requests) <= 15


def test_without_the_margins_the_walk_would_lose_blocks():
    chain, stamps = messy_chain()
    # the naive walk: start at the looked-up height, stop at the first page reaching before the day
    looked_up = json.loads(chain.respond(BLOCKS.build_request(NOV21)))["height"]
    seen, start = [], looked_up
    while True:
        page = json.loads(chain.respond(mempool_blocks.blocks_page_request(NOV21, start)))
        seen += page
        if min(b["timestamp"] for b in page) < s(NOV21):
            break
        start = page[-1]["height"] - 1
    naive = {b["height"] for b in seen if s(NOV21) <= b["timestamp"] < s(NOV21 + dt.timedelta(days=1))}
    margins = {r["height"] for r in walk(messy_chain()[0], NOV21)[0].to_pylist()}
    assert margins - naive == {1156, 1001} and naive <= margins


def test_consecutive_days_share_no_block_and_miss_none():
    chain, stamps = messy_chain()
    days = [dt.date(2025, 11, 20) + dt.timedelta(days=i) for i in range(3)]
    tables = [walk(chain, d)[0] for d in days]
    heights = [h for t in tables for h in t.column("height").to_pylist()]
    assert len(heights) == len(set(heights))
    inside = {h for h, t in stamps.items() if s(days[0]) <= t < s(days[-1] + dt.timedelta(days=1))}
    assert set(heights) == inside


def test_the_walk_stops_at_the_tip_and_the_chain_start():
    # fetched just after midnight: the page above the looked-up block is cut at the tip (mempool's rule)
    stamps = {h: s(NOV21, 0, 3) + (h - 10) * 600 for h in range(0, 160)}
    chain = FakeChain(stamps, tip=159)
    table, _ = walk(chain, NOV21)
    assert table.column("height").to_pylist() == [h for h in range(10, 154)]
    assert chain.requests[1].endswith(f"/blocks/{153 + mempool_blocks.TOP_MARGIN}")
    # the chain's first blocks: the walk ends at height 0 without a page before the day
    early = FakeChain({h: s(NOV21, 1) + h * 600 for h in range(0, 50)}, tip=49)
    assert walk(early, NOV21)[0].num_rows == 50


def test_next_page_ends_the_walk_on_bodies_that_are_not_pages():
    lookup = BLOCKS.build_request(NOV21)
    page = mempool_blocks.blocks_page_request(NOV21, 900_000)
    for request, body in [(lookup, b"<html>"), (lookup, b'{"height": "12"}'), (lookup, b"[]"), (page, b"[]"),
                          (page, b'{"error": "x"}'), (page, b'[{"height": 5}]'), (page, b"not json")]:
        assert BLOCKS.next_page(request, body) is None
    nxt = BLOCKS.next_page(lookup, b'{"height": 924461, "hash": "00", "timestamp": "2025-11-21T23:59:00.000Z"}')
    assert (nxt.url, nxt.params, nxt.day) == ("https://mempool.space/api/v1/blocks/924475", {}, NOV21)
    in_day = json.dumps([block(924_400 - i, s(NOV21, 1) - i) for i in range(15)]).encode()
    assert BLOCKS.next_page(page, in_day).url.endswith("/blocks/924385")
    before = json.dumps([block(924_400 - i, s(NOV21) - 1 - i) for i in range(15)]).encode()
    assert BLOCKS.next_page(page, before) is None  # a whole page before the day: the margin is walked


# ---- mempool/blocks: the lookup page and the errors -----------------------------------------------------------


def test_the_lookup_page_yields_no_rows():
    body = {"height": 924461, "hash": "0" * 20 + "a" * 44, "timestamp": "2025-11-21T23:59:10.000Z"}
    table = BLOCKS.parse(json.dumps(body).encode(), NOV21, LATE)
    assert table.num_rows == 0 and table.schema == BLOCKS.raw_schema
    # seconds are accepted too; a lookup block before the day is a day without blocks, not an error
    assert BLOCKS.parse(json.dumps(dict(body, timestamp=s(NOV21, 3))).encode(), NOV21, LATE).num_rows == 0
    assert BLOCKS.parse(json.dumps(dict(body, timestamp=s(NOV21) - 5)).encode(), NOV21, LATE).num_rows == 0


LOOKUP = {"height": 924461, "hash": "0" * 64, "timestamp": "2025-11-21T23:59:10.000Z"}
PAGE = [block(924_461 - i, s(NOV21, 23) - 300 * i) for i in range(15)]


def page_with(i: int = 0, extras: dict | None = None, **over) -> str:
    page = json.loads(json.dumps(PAGE))
    page[i].update(over)
    if extras is not None:
        page[i]["extras"].update(extras)
    return json.dumps(page)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"error": "Too many requests"}', "error envelope: Too many requests"),
        ('{"blocks": []}', "expected a block array or a timestamp lookup"),
        ('"text"', "expected a JSON array of blocks, got str"),
        (json.dumps({k: v for k, v in LOOKUP.items() if k != "hash"}), "missing field 'hash' in the timestamp lookup"),
        (json.dumps(dict(LOOKUP, hash="XYZ")), "is not 64 lowercase hex digits"),
        (json.dumps(dict(LOOKUP, height=-1)), "negative height -1"),
        (json.dumps(dict(LOOKUP, timestamp="2025-11-21 23:59:10")), "is not an ISO-8601 UTC time"),
        (json.dumps(dict(LOOKUP, timestamp=s(NOV21, 23) * 1000)), "looks like milliseconds"),
        (json.dumps(dict(LOOKUP, timestamp="2025-11-22T00:00:01.000Z")),
         "stamped 2025-11-22T00:00:01.000Z, after the day's end: not the last block of the day"),
        ("[1, 2]", "blocks[0] is not an object"),
        (page_with(2, height="924459"), "field blocks[2].height must be a JSON integer"),
        (page_with(0, timestamp=s(NOV21, 23) * 1000), "looks like milliseconds"),
        (page_with(0, difficulty=None), "field blocks[0].difficulty is null"),
        (page_with(0, id="ABC"), "is not 64 lowercase hex digits"),
        (page_with(0, tx_count=0), "must be positive"),
        (page_with(0, weight=4_000_001), "weight 4000001 exceeds the consensus limit 4000000"),
        (page_with(0, extras={"reward": 1_000}), "outside 0..312500000 (the subsidy at this height)"),
        (page_with(0, extras={"reward": 400_000_000}), "subsidy 399000000 sats, outside 0..312500000"),
        (page_with(0, extras={"totalFees": -5, "reward": 312_499_995}), "negative totalFees"),
        (page_with(0, extras={"pool": "Foundry"}), "blocks[0].extras.pool is not an object"),
        (page_with(0, extras={"pool": {"name": "", "slug": "x"}}), "extras.pool.name must be a non-empty string"),
        (page_with(4, extras={"pool": {"name": "Foundry USA"}}), "missing field 'slug' in blocks[4].extras.pool"),
        (json.dumps([dict(PAGE[0], extras=5)]), "blocks[0].extras is not an object"),
        (json.dumps([{k: v for k, v in PAGE[0].items() if k != "extras"}]), "missing field 'extras' in blocks[0]"),
        (json.dumps([PAGE[0], PAGE[2]]), "not consecutive heights in descending order (924461 then 924459)"),
    ],
)
def test_blocks_errors(body, reason):
    assert reason in parse_error(BLOCKS, body, NOV21)


def test_blocks_refuse_a_day_not_over():
    message = parse_error(BLOCKS, json.dumps(PAGE), NOV21, dt.datetime(2025, 11, 21, 23, 50, tzinfo=UTC))
    assert "the day was not over at fetched_at 2025-11-21T23:50:00.000Z" in message


def test_a_block_stamped_after_the_fetch_is_kept_when_in_the_day():
    # consensus lets a timestamp run 2 h ahead of the clocks: a day-D stamp after fetched_at is legitimate
    early_fetch = dt.datetime(2025, 11, 22, 0, 5, tzinfo=UTC)
    page = json.dumps([block(924_500, s(NOV21 + dt.timedelta(days=1), 1, 30)), block(924_499, s(NOV21, 23, 59))])
    assert BLOCKS.parse(page.encode(), NOV21, early_fetch).column("height").to_pylist() == [924_499]


def test_subsidy_follows_the_halvings():
    assert [mempool_blocks.subsidy_sats(h) for h in (0, 209_999, 210_000, 630_000, 839_999, 840_000, 1_050_000)] == [
        5_000_000_000, 5_000_000_000, 2_500_000_000, 625_000_000, 625_000_000, 312_500_000, 156_250_000]
    assert mempool_blocks.subsidy_sats(64 * 210_000) == 0
    # an old block with the 6.25 BTC subsidy of its epoch parses
    old = [block(700_000, s(NOV21, 12))]
    old[0]["extras"].update(reward=625_000_000 + 1_000_000)
    assert BLOCKS.parse(json.dumps(old).encode(), NOV21, LATE).column("subsidy_sats").to_pylist() == [625_000_000]


@pytest.mark.parametrize("spec", MINING_DATASETS, ids=lambda spec: spec.name)
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"<!DOCTYPE html><html><body>429 Too Many Requests</body></html>", "HTML page instead of JSON"),
        (b'{"values": [', "invalid JSON"),
        (b'{"x": NaN}', "non-finite number NaN"),
    ],
)
def test_undecodable_bodies_raise_a_named_parse_error(spec, body, reason):
    assert reason in parse_error(spec, body, NOV21)


# ---- blockchain_com/hash_rate --------------------------------------------------------------------------------


def test_hash_rate_parses_every_day_of_the_real_recording(real_fixtures):
    body = (real_fixtures / "blockchain_com" / "charts_hash-rate_30days.json").read_bytes()
    recorded = json.loads(body)["values"]
    for point in recorded:
        day = dt.datetime.fromtimestamp(point["x"], UTC).date()
        rows = HASH_RATE.parse(body, day, LATE).to_pylist()
        # labelled by the day's start, in TH/s as served (~200 EH/s in August 2022)
        assert rows == [{PARTITION_COLUMN: day, "point_time": dt.datetime(day.year, day.month, day.day),
                         "hashrate_ths": point["y"]}]
        assert 150e6 < rows[0]["hashrate_ths"] < 300e6
    assert "no point labelled 2022-08-27T00:00:00.000Z" in parse_error(HASH_RATE, body, dt.date(2022, 8, 27))
    # the last recorded day, fetched before it ended
    message = parse_error(HASH_RATE, body, dt.date(2022, 8, 26), dt.datetime(2022, 8, 26, 18, tzinfo=UTC))
    assert "covers a day not over at fetched_at 2022-08-26T18:00:00.000Z: still-open period" in message


def hr_body(points=None, **over) -> str:
    body = {"status": "ok", "name": "Hash Rate", "unit": "Hash Rate TH/s", "period": "day", "description": "…",
            "values": points if points is not None else [{"x": s(NOV21), "y": 1.01e9}]}
    body.update(over)
    for key, value in over.items():
        if value is ...:
            del body[key]
    return json.dumps(body)


def test_hash_rate_keeps_the_point_labelled_by_the_day_start():
    points = [{"x": s(NOV21 + dt.timedelta(days=k)), "y": 1e9 + k} for k in (-1, 0, 1)]
    rows = HASH_RATE.parse(hr_body(points).encode(), NOV21, LATE).to_pylist()
    assert rows == [{PARTITION_COLUMN: NOV21, "point_time": dt.datetime(2025, 11, 21), "hashrate_ths": 1e9}]
    # scientific notation and integers are numbers too
    rows = HASH_RATE.parse(b'{"status":"ok","values":[{"x":1763683200,"y":9.5E8}]}', NOV21, LATE).to_pylist()
    assert rows[0]["hashrate_ths"] == 9.5e8


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (hr_body(status="error", error="Chart not found"), "error envelope: status='error' Chart not found"),
        (hr_body(status=...), "missing field 'status'"),
        ("[1]", "expected a JSON object"),
        (hr_body(unit="USD"), "unit 'USD' is not TH/s"),
        (hr_body(period="week"), "expected daily points"),
        (hr_body(values={"x": 1}), "values must be an array"),
        (hr_body([]), "empty values array"),
        (hr_body([5]), "values[0] is not an object"),
        (hr_body([{"x": str(s(NOV21)), "y": 1e9}]), "field values[0].x must be a JSON integer"),
        (hr_body([{"x": s(NOV21) * 1000, "y": 1e9}]), "looks like milliseconds, expected unix seconds"),
        (hr_body([{"x": s(NOV21), "y": 1e9}, {"x": s(NOV21), "y": 2e9}]), "two points labelled"),
        (hr_body([{"x": s(NOV21) + 86400, "y": 1e9}]),
         "no point labelled 2025-11-21T00:00:00.000Z (blockchain.com labels a day by its start: day absent)"),
        (hr_body([{"x": s(NOV21)}]), "missing field 'y'"),
        (hr_body([{"x": s(NOV21), "y": None}]), "field y is null"),
        (hr_body([{"x": s(NOV21), "y": "1e9"}]), "field y must be a JSON number"),
        (hr_body([{"x": s(NOV21), "y": 0}]), "non-positive hash rate 0.0 TH/s"),
    ],
)
def test_hash_rate_errors(body, reason):
    assert reason in parse_error(HASH_RATE, body, NOV21)


# ---- blockchain_com/miners_revenue ---------------------------------------------------------------------------

MINERS_REVENUE = blockchain_com.MINERS_REVENUE


def test_miners_revenue_spec_and_requests():
    assert MINERS_REVENUE.raw_schema == pa.schema(
        [(PARTITION_COLUMN, pa.date32()), ("point_time", pa.timestamp("us")), ("revenue_usd", pa.float64())])
    assert (MINERS_REVENUE.name, MINERS_REVENUE.key_columns, MINERS_REVENUE.event_time_column) == (
        "blockchain_com/miners_revenue", (PARTITION_COLUMN,), "point_time")
    r = MINERS_REVENUE.build_request(NOV21)
    assert r.url == "https://api.blockchain.info/charts/miners-revenue"
    assert r.params == {"timespan": "3days", "start": "2025-11-20", "format": "json", "sampled": "false"}
    # a year a request, like the hash rate: the halving's history (2024-03-01 …) is two requests
    first, last = dt.date(2024, 3, 1), dt.date(2025, 3, 1)
    r = blockchain_com.build_miners_revenue_range_request(first, last)
    assert (r.day, r.last_day, r.params["start"], r.params["timespan"]) == (first, last, "2024-02-29", "368days")
    assert MINERS_REVENUE.max_range_days == blockchain_com.DAYS_PER_REQUEST == HASH_RATE.max_range_days
    with pytest.raises(ValueError, match="blockchain_com/miners_revenue: 2024-03-01 … 2025-03-02 is not 1 to 366"):
        blockchain_com.build_miners_revenue_range_request(first, last + dt.timedelta(days=1))


def test_miners_revenue_parses_every_day_of_the_real_recording(real_fixtures):
    body = (real_fixtures / "blockchain_com" / "charts_miners-revenue_30days.json").read_bytes()
    recorded = json.loads(body)["values"]
    assert len(recorded) == 30
    for point in recorded:
        day = dt.datetime.fromtimestamp(point["x"], UTC).date()
        rows = MINERS_REVENUE.parse(body, day, LATE).to_pylist()
        assert rows == [{PARTITION_COLUMN: day, "point_time": dt.datetime(day.year, day.month, day.day),
                         "revenue_usd": point["y"]}]
        # August 2022: 6.25 BTC x ~144 blocks x ~$23,000 plus fees, ~$20M a day
        assert 15e6 < rows[0]["revenue_usd"] < 30e6
    assert "no point labelled 2022-08-27T00:00:00.000Z" in parse_error(MINERS_REVENUE, body, dt.date(2022, 8, 27))
    message = parse_error(MINERS_REVENUE, body, dt.date(2022, 8, 26), dt.datetime(2022, 8, 26, 18, tzinfo=UTC))
    assert "covers a day not over at fetched_at 2022-08-26T18:00:00.000Z: still-open period" in message


def test_the_real_hashprice_of_the_recording_is_revenue_over_hash_rate(real_fixtures):
    """sources.md §3.4's cross-check on the recorded bodies: miners-revenue / hash-rate, USD per PH/s per day, in
    the band hashprice had in August 2022 (~$90-110 per PH/s per day)."""
    revenue_body = (real_fixtures / "blockchain_com" / "charts_miners-revenue_30days.json").read_bytes()
    hash_body = (real_fixtures / "blockchain_com" / "charts_hash-rate_30days.json").read_bytes()
    hashprices = []
    for point in json.loads(revenue_body)["values"]:
        day = dt.datetime.fromtimestamp(point["x"], UTC).date()
        usd = MINERS_REVENUE.parse(revenue_body, day, LATE).column("revenue_usd")[0].as_py()
        ths = HASH_RATE.parse(hash_body, day, LATE).column("hashrate_ths")[0].as_py()
        hashprices.append(usd / (ths / 1000))  # TH/s -> PH/s
    assert 80 < sum(hashprices) / len(hashprices) < 130


def mr_body(points=None, **over) -> str:
    body = {"status": "ok", "name": "Miners Revenue", "unit": "USD", "period": "day", "description": "…",
            "values": points if points is not None else [{"x": s(NOV21), "y": 3.8e7}]}
    body.update(over)
    for key, value in over.items():
        if value is ...:
            del body[key]
    return json.dumps(body)


def test_miners_revenue_keeps_the_point_labelled_by_the_day_start():
    points = [{"x": s(NOV21 + dt.timedelta(days=k)), "y": 3.8e7 + k} for k in (-1, 0, 1)]
    rows = MINERS_REVENUE.parse(mr_body(points).encode(), NOV21, LATE).to_pylist()
    assert rows == [{PARTITION_COLUMN: NOV21, "point_time": dt.datetime(2025, 11, 21), "revenue_usd": 3.8e7}]
    # 0 USD is a revenue (the chart reads 0 before bitcoin had a price); without name and unit the body still parses
    rows = MINERS_REVENUE.parse(b'{"status":"ok","values":[{"x":1763683200,"y":0}]}', NOV21, LATE).to_pylist()
    assert rows[0]["revenue_usd"] == 0.0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (mr_body(status="error", error="Unknown chart"), "error envelope: status='error' Unknown chart"),
        (mr_body(unit="Hash Rate TH/s"), "unit 'Hash Rate TH/s' is not USD: not the miners-revenue chart?"),
        (mr_body(unit="BTC", name="Total Transaction Fees"), "unit 'BTC' is not USD"),
        (mr_body(name="Transaction Fees USD"), "chart named 'Transaction Fees USD': not the miners-revenue chart?"),
        (mr_body(period="week"), "expected daily points"),
        (mr_body([{"x": s(NOV21) * 1000, "y": 1e7}]), "looks like milliseconds, expected unix seconds"),
        (mr_body([{"x": s(NOV21) - 86400, "y": 1e7}]), "no point labelled 2025-11-21T00:00:00.000Z"),
        (mr_body([{"x": s(NOV21), "y": "3.8e7"}]), "field y must be a JSON number"),
        (mr_body([{"x": s(NOV21), "y": -1.0}]), "negative miners' revenue -1.0 USD"),
    ],
)
def test_miners_revenue_errors(body, reason):
    assert reason in parse_error(MINERS_REVENUE, body, NOV21)
