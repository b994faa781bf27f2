"""mempool.space blocks: every block of a UTC day with its reward, fees and pool, found by walking heights.

mempool has no "blocks of date D" endpoint, so a day is one paged fetch:
1. `GET /api/v1/mining/blocks/timestamp/{D+1 00:00 - 1 s}` answers `{height, hash, timestamp}` of the
   block with the latest timestamp at or before that second: the last block of day D. It yields no rows.
2. `GET /api/v1/blocks/{height}` answers 15 blocks from `height` down (descending, with `extras`). Each
   next page starts at the lowest height of the previous one - 1.

Block timestamps are set by miners and are not monotonic in height: consensus only asks a timestamp to be
above the median of the previous 11 blocks (so it can lag the chain by about an hour) and at most 2 hours
ahead of the nodes' clocks. Blocks are therefore assigned to days by their own timestamp, never by height
range, and the walk keeps margins on both ends:
- top: the first block page starts `TOP_MARGIN` heights above the looked-up block (the page ends at it),
  since a block mined just after midnight may carry a timestamp before midnight and sit above it;
- bottom: the walk goes on until a whole page (15 blocks, ~2.5 h of chain at 10 min a block) is stamped
  before the day start, i.e. at least one extra page past the first block before the day: a block mined
  before midnight with a clock running ahead (up to the 2 h consensus allowance) still shows up.
The cost is one or two pages more than the day's ~10; the rows of each page are filtered by timestamp.
A block mined after the fetch yet stamped inside the day (a clock up to ~1 h behind) is not seen: fetch
well after midnight if that matters (the nightly run at 00:30 UTC misses it only in rare cases).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pyarrow as pa

from pipelines.ingest.errors import ParseError
from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources._wire import (
    EPOCH,
    Failer,
    day_start_ms,
    decode_json,
    epoch_ms,
    iso_ms,
    json_float,
    json_int,
    json_str,
    need,
)
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec

SOURCE = "mempool"
DATASET = "blocks"
TIMESTAMP_URL = "https://mempool.space/api/v1/mining/blocks/timestamp/"
BLOCKS_URL = "https://mempool.space/api/v1/blocks/"
# mempool's page size for /v1/blocks/{height}: fixed, no limit parameter (BlocksRepository/$getBlocks: 15 blocks from
# the height down, fewer above the tip). A day is walked page by page, so no request can ask for more than a page.
PAGE_BLOCKS = 15
TOP_MARGIN = PAGE_BLOCKS - 1  # the first block page is [looked-up height + 14 .. looked-up height]
MAX_WEIGHT = 4_000_000  # consensus limit (weight units)
HALVING_INTERVAL = 210_000
INITIAL_SUBSIDY_SATS = 5_000_000_000

_HASH = re.compile(r"[0-9a-f]{64}")
_ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")
_SECONDS_LIMIT = 10**11  # unix seconds stay below this until year 5138; ms values are far above it

BLOCKS_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("height", pa.int64()),
        ("block_hash", pa.string()),
        ("block_time", pa.timestamp("us")),
        ("tx_count", pa.int64()),
        ("size_bytes", pa.int64()),
        ("weight", pa.int64()),
        ("difficulty", pa.float64()),
        ("reward_sats", pa.int64()),
        ("total_fees_sats", pa.int64()),
        ("subsidy_sats", pa.int64()),
        ("pool_name", pa.string()),
        ("pool_slug", pa.string()),
    ]
)


def subsidy_sats(height: int) -> int:
    """The block subsidy the consensus rules allow at `height` (halving every 210,000 blocks)."""
    halvings = height // HALVING_INTERVAL
    return INITIAL_SUBSIDY_SATS >> halvings if halvings < 64 else 0


def day_end_s(day: dt.date) -> int:
    """The last second of `day` (unix s): what the timestamp lookup is asked for."""
    return day_start_ms(day + dt.timedelta(days=1)) // 1000 - 1


def build_blocks_request(day: dt.date) -> FetchRequest:
    return FetchRequest(source=SOURCE, dataset=DATASET, day=day, url=f"{TIMESTAMP_URL}{day_end_s(day)}", params={})


def blocks_page_request(day: dt.date, start_height: int) -> FetchRequest:
    return FetchRequest(source=SOURCE, dataset=DATASET, day=day, url=f"{BLOCKS_URL}{start_height}", params={})


# ---- paging -----------------------------------------------------------------------------------------------


def next_blocks_page(request: FetchRequest, body: bytes) -> FetchRequest | None:
    """The page after `body`: the first block page after the lookup, then the next 15 heights down until a
    whole page is stamped before the day. A body that is not what it should be ends the walk (its parse
    then says what is wrong)."""
    try:
        data = decode_json(body, Failer(SOURCE, DATASET, request.day))
    except ParseError:  # the parser reports it, with the reason
        return None
    if request.url.startswith(TIMESTAMP_URL):
        height = data.get("height") if isinstance(data, dict) else None
        if not isinstance(height, int) or isinstance(height, bool) or height < 0:
            return None
        return blocks_page_request(request.day, height + TOP_MARGIN)
    if not isinstance(data, list) or not data or not all(isinstance(b, dict) for b in data):
        return None
    heights = [b.get("height") for b in data]
    stamps = [b.get("timestamp") for b in data]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in heights + stamps):
        return None
    lowest = min(heights)
    day_start_s = day_start_ms(request.day) // 1000
    if lowest <= 0 or all(t < day_start_s for t in stamps):
        return None  # the chain's first block, or a whole page before the day: the margin is walked
    return blocks_page_request(request.day, lowest - 1)


# ---- parsing ----------------------------------------------------------------------------------------------


def _lookup_time_s(value: Any, fail: Failer) -> int:
    """The lookup's `timestamp`: an ISO string with Z as mempool serialises its DATETIME column
    ("2022-12-31T23:30:31.000Z"); unix seconds are accepted too."""
    if isinstance(value, str):
        if not _ISO_Z.fullmatch(value):
            fail.raise_(f"field timestamp is not an ISO-8601 UTC time: {value!r}")
        moment = dt.datetime.fromisoformat(value[:-1])
        return epoch_ms(moment) // 1000
    seconds = json_int(value, "timestamp", fail)
    if seconds >= _SECONDS_LIMIT:
        fail.raise_(f"field timestamp {seconds} looks like milliseconds, expected unix seconds")
    return seconds


def _parse_lookup(data: dict, day: dt.date, fail: Failer) -> pa.Table:
    height = json_int(need(data, "height", fail, "the timestamp lookup"), "height", fail)
    block_hash = json_str(need(data, "hash", fail, "the timestamp lookup"), "hash", fail)
    stamp = _lookup_time_s(need(data, "timestamp", fail, "the timestamp lookup"), fail)
    if height < 0:
        fail.raise_(f"negative height {height} in the timestamp lookup")
    if not _HASH.fullmatch(block_hash):
        fail.raise_(f"hash {block_hash!r} is not 64 lowercase hex digits")
    if stamp > day_end_s(day):
        fail.raise_(
            f"the timestamp lookup answered block {height} stamped {iso_ms(stamp * 1000)}, after the day's end: "
            "not the last block of the day"
        )
    return BLOCKS_SCHEMA.empty_table()


def _parse_block(block: Any, i: int, fail: Failer) -> dict:
    where = f"blocks[{i}]"
    if not isinstance(block, dict):
        fail.raise_(f"{where} is not an object")
    height = json_int(need(block, "height", fail, where), f"{where}.height", fail)
    block_hash = json_str(need(block, "id", fail, where), f"{where}.id", fail)
    stamp = json_int(need(block, "timestamp", fail, where), f"{where}.timestamp", fail)
    tx_count = json_int(need(block, "tx_count", fail, where), f"{where}.tx_count", fail)
    size = json_int(need(block, "size", fail, where), f"{where}.size", fail)
    weight = json_int(need(block, "weight", fail, where), f"{where}.weight", fail)
    difficulty = json_float(need(block, "difficulty", fail, where), f"{where}.difficulty", fail)
    extras = need(block, "extras", fail, where)
    if not isinstance(extras, dict):
        fail.raise_(f"{where}.extras is not an object (ask /api/v1/blocks, which adds extras)")
    reward = json_int(need(extras, "reward", fail, f"{where}.extras"), f"{where}.extras.reward", fail)
    fees = json_int(need(extras, "totalFees", fail, f"{where}.extras"), f"{where}.extras.totalFees", fail)
    pool = need(extras, "pool", fail, f"{where}.extras")
    if not isinstance(pool, dict):
        fail.raise_(f"{where}.extras.pool is not an object")
    pool_name = json_str(need(pool, "name", fail, f"{where}.extras.pool"), f"{where}.extras.pool.name", fail)
    pool_slug = json_str(need(pool, "slug", fail, f"{where}.extras.pool"), f"{where}.extras.pool.slug", fail)

    if not _HASH.fullmatch(block_hash):
        fail.raise_(f"{where}.id {block_hash!r} is not 64 lowercase hex digits")
    if stamp >= _SECONDS_LIMIT:
        fail.raise_(f"{where}.timestamp {stamp} looks like milliseconds, expected unix seconds")
    if height < 0 or tx_count < 1 or size <= 0 or weight <= 0:
        fail.raise_(f"block {height}: height, tx_count, size and weight must be positive (a block has its coinbase)")
    if weight > MAX_WEIGHT:
        fail.raise_(f"block {height}: weight {weight} exceeds the consensus limit {MAX_WEIGHT}")
    if difficulty <= 0:
        fail.raise_(f"block {height}: non-positive difficulty {difficulty}")
    if fees < 0:
        fail.raise_(f"block {height}: negative totalFees {fees}")
    subsidy = reward - fees
    allowed = subsidy_sats(height)
    if not 0 <= subsidy <= allowed:
        fail.raise_(
            f"block {height}: reward {reward} - totalFees {fees} = subsidy {subsidy} sats, outside 0..{allowed} "
            "(the subsidy at this height)"
        )
    return {
        "height": height,
        "block_hash": block_hash,
        "stamp": stamp,
        "tx_count": tx_count,
        "size_bytes": size,
        "weight": weight,
        "difficulty": difficulty,
        "reward_sats": reward,
        "total_fees_sats": fees,
        "subsidy_sats": subsidy,
        "pool_name": pool_name,
        "pool_slug": pool_slug,
    }


def _parse_page(data: list, day: dt.date, fetched_at: dt.datetime, fail: Failer) -> pa.Table:
    blocks = [_parse_block(b, i, fail) for i, b in enumerate(data)]
    for prev, cur in zip(blocks, blocks[1:]):
        if cur["height"] != prev["height"] - 1:
            fail.raise_(
                f"blocks are not consecutive heights in descending order ({prev['height']} then {cur['height']})"
            )
    start_s = day_start_ms(day) // 1000
    end_s = start_s + 86_400
    if end_s * 1000 > epoch_ms(fetched_at):
        fail.raise_(f"the day was not over at fetched_at {iso_ms(epoch_ms(fetched_at))}: its blocks are incomplete")
    # A block may be stamped up to 2 h ahead of the clocks, so a timestamp after fetched_at is not an error.
    rows = [b for b in blocks if start_s <= b["stamp"] < end_s]
    rows.sort(key=lambda b: b["height"])
    columns: dict[str, list] = {name: [] for name in BLOCKS_SCHEMA.names}
    for b in rows:
        columns[PARTITION_COLUMN].append(day)
        columns["block_time"].append(EPOCH + dt.timedelta(seconds=b["stamp"]))
        for name in BLOCKS_SCHEMA.names[1:]:
            if name != "block_time":
                columns[name].append(b[name])
    return pa.Table.from_pydict(columns, schema=BLOCKS_SCHEMA)


def parse_blocks(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    """One page of the walk: the timestamp lookup yields no rows; a block page yields its blocks stamped
    in `day` (possibly none: the margin pages), sorted by height."""
    fail = Failer(SOURCE, DATASET, day)
    data = decode_json(body, fail)
    if isinstance(data, dict):
        if "error" in data:
            fail.raise_(f"error envelope: {data['error']}")
        if "height" in data or "hash" in data:
            return _parse_lookup(data, day, fail)
        fail.raise_(
            f"expected a block array or a timestamp lookup {{height, hash, timestamp}}, got keys {sorted(data)[:8]}"
        )
    if not isinstance(data, list):
        fail.raise_(f"expected a JSON array of blocks, got {type(data).__name__}")
    return _parse_page(data, day, fetched_at, fail)


BLOCKS = DatasetSpec(
    source=SOURCE,
    dataset=DATASET,
    description="mempool.space blocks of the UTC day (by block timestamp): reward, fees, subsidy, pool, size.",
    raw_schema=BLOCKS_SCHEMA,
    key_columns=(PARTITION_COLUMN, "height"),
    build_request=build_blocks_request,
    parse=parse_blocks,
    event_time_column="block_time",
    backfillable=True,
    history="since genesis (2009-01-03): walks ~10 pages of 15 blocks per day",
    available_from=dt.date(2009, 1, 3),  # the genesis block
    next_page=next_blocks_page,
    max_pages=60,  # 1 lookup + ~10 pages for 144 blocks + margins; 60 pages = 885 blocks, far above any day
)

DATASETS: tuple[DatasetSpec, ...] = (BLOCKS,)
