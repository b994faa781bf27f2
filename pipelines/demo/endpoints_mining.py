"""Demo endpoints of the mining datasets: mempool.space blocks (by height, and the timestamp lookup) and
blockchain.com's hash-rate chart, all drawn from the shared `MiningModel` (block times per day, difficulty).

Blocks. The model gives each height its mining time and difficulty; the details of a block are drawn from a
generator seeded by its height alone, so a block looks the same in every page and every request:
- pool: drawn from pool shares that drift slowly (linear between yearly anchors shaped like the public
  pool statistics of 2019-2025, times a slow seeded wobble per pool), renormalised per day;
- fees: heavy tailed (lognormal body, occasional Pareto spikes) around a fee level of the era, raised in
  busy weeks (the mean |daily return| of the demo market over the previous 7 days, and a weekly draw);
- subsidy by halving epoch (3.125 BTC from height 840,000), reward = subsidy + fees as `extras.reward`;
- deterministic hashes below the difficulty's target (previousblockhash links the chain), plausible
  tx_count / size / weight, and the other fields of mempool's `/api/v1/blocks` with their wire types.
Miner-set timestamps: consecutive heights (2k, 2k+1) mined at most `MAX_SWAP_GAP_S` apart swap their
timestamps with probability `P_SWAP`, so about 2% of blocks are stamped before their parent, sometimes
across midnight, as on the real chain (clocks a few minutes off). A swap only permutes timestamps between
two blocks of one retarget epoch (2016 is even), so each day keeps its block count and work: the blocks
stamped in a day are exactly those whose work mempool's daily hash rate counts. A block is served once it
is mined and its timestamp is not after `now`. (On the real chain a clock half an hour behind can stamp a
block mined after the nightly fetch into the day before; the short gap keeps the demo clear of that.)

blockchain.com. Its daily point (labelled by the day's START, in TH/s) is its own blocks-based estimate of
the same hash rate: the day's work (as mempool's) smoothed with the two days before, 0.5/0.3/0.2. Its miners'
revenue (USD a day) is the coinbase rewards of the day's blocks valued at the reference close, with the fees
taken at their expected value under the block model above (the era's fee level x the week's busy factor x the
mean of the per-block draws, `FEE_MEAN_FACTOR`) rather than drawn block by block: the same chain, priced by a
second hand, so the hashprice from the two charts tracks the one from mempool's blocks without copying it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import re
import statistics
import struct
from dataclasses import dataclass

import numpy as np

from pipelines.demo.mining import MiningModel
from pipelines.demo.seeds import rng

Response = tuple[int, bytes]

DAY_S = 86_400
EPOCH_DATE = dt.date(1970, 1, 1)
PAGE_BLOCKS = 15
P_SWAP = 0.05  # per pair of heights (2k, 2k+1) close enough in time: ~2% of blocks stamped before their parent
MAX_SWAP_GAP_S = 1200  # only blocks mined within 20 minutes of each other swap (clocks minutes off)
BLOCK_LABEL = "demo-mining/block/v1"
SWAP_LABEL = "demo-mining/timestamp-swap/v1"
POOL_WOBBLE_LABEL = "demo-mining/pool-wobble/v1"
FEE_WEEK_LABEL = "demo-mining/fee-week/v1"
MAX_TARGET = 0xFFFF * 2**208  # the target at difficulty 1
HALVING_INTERVAL = 210_000
EMPTY_BLOCK_PROB = 0.002
FULL_BLOCK_PROB = 0.96
FEE_SPIKE_PROB = 0.02


@dataclass(frozen=True)
class Pool:
    id: int  # mempool's pool unique id (extras.pool.id)
    name: str
    slug: str
    tag: str  # coinbase tag


POOLS: tuple[Pool, ...] = (
    Pool(111, "Foundry USA", "foundryusa", "/Foundry USA Pool #dropgold/"),
    Pool(44, "AntPool", "antpool", "/Mined by AntPool/"),
    Pool(73, "ViaBTC", "viabtc", "/ViaBTC/Mined by demo/"),
    Pool(36, "F2Pool", "f2pool", "/F2Pool/"),
    Pool(115, "MARA Pool", "marapool", "/MARA Pool/"),
    Pool(102, "SpiderPool", "spiderpool", "/SpiderPool/"),
    Pool(141, "SECPOOL", "secpool", "/SECPOOL/"),
    Pool(105, "Binance Pool", "binancepool", "/Binance/"),
    Pool(4, "Luxor", "luxor", "/LUXOR/"),
    Pool(142, "OCEAN", "ocean", "/OCEAN.XYZ/"),
    Pool(43, "Braiins Pool", "braiinspool", "/slush/"),
    Pool(112, "SBI Crypto", "sbicrypto", "/SBICrypto.com Pool/"),
    Pool(151, "Carbon Negative", "carbonnegative", "/CarbonNegative/"),
    Pool(6, "BTC.com", "btccom", "/btcom/"),
    Pool(161, "Mining Squared", "miningsquared", "/MiningSquared/"),
    Pool(94, "Poolin", "poolin", "/poolin.com/"),
    Pool(143, "WhitePool", "whitepool", "/WhitePool/"),
    Pool(2, "ULTIMUSPOOL", "ultimuspool", "/ultimus/"),
    Pool(157, "BitFuFuPool", "bitfufupool", "/BitFuFu/"),
    Pool(49, "Solo CK", "solock", "/solo.ckpool.org/"),
    Pool(0, "Unknown", "unknown", ""),
)

# Percent of blocks per pool at each anchor date (linear in between, held outside), shaped like the public
# pool statistics of the time. Missing pools have 0; each anchor is renormalised.
SHARE_ANCHORS: tuple[tuple[dt.date, dict[str, float]], ...] = (
    (dt.date(2019, 6, 1), {"f2pool": 17, "btccom": 17, "poolin": 15, "antpool": 12, "viabtc": 8, "braiinspool": 8,
                           "luxor": 1.5, "sbicrypto": 1, "unknown": 10}),
    (dt.date(2021, 6, 1), {"f2pool": 17, "foundryusa": 15, "poolin": 14, "antpool": 12, "btccom": 10, "viabtc": 10,
                           "binancepool": 10, "braiinspool": 4, "luxor": 2, "sbicrypto": 1, "marapool": 1,
                           "unknown": 4}),
    (dt.date(2023, 6, 1), {"foundryusa": 32, "antpool": 20, "f2pool": 13, "viabtc": 10, "binancepool": 8,
                           "marapool": 3, "braiinspool": 3, "luxor": 2.5, "poolin": 2, "btccom": 1.5, "sbicrypto": 1,
                           "spiderpool": 1, "secpool": 0.5, "unknown": 2.5}),
    (dt.date(2025, 6, 1), {"foundryusa": 30, "antpool": 18, "viabtc": 12, "f2pool": 10, "spiderpool": 7,
                           "marapool": 5, "secpool": 3, "luxor": 3, "binancepool": 2.5, "braiinspool": 1.5,
                           "ocean": 1.2, "sbicrypto": 1, "whitepool": 1, "poolin": 0.5, "btccom": 0.5,
                           "carbonnegative": 0.5, "miningsquared": 0.4, "ultimuspool": 0.3, "bitfufupool": 0.3,
                           "solock": 0.05, "unknown": 0.8}),
)

# Median fees per block (BTC) by era, log-linear in between: the fee market of 2019-2025 in broad strokes
# (2021 bull market, 2023 inscriptions, the 2024 halving rush, the quiet 2025 mempool).
FEE_LEVEL_ANCHORS: tuple[tuple[dt.date, float], ...] = (
    (dt.date(2019, 6, 1), 0.30), (dt.date(2019, 12, 1), 0.12), (dt.date(2020, 6, 1), 0.35),
    (dt.date(2020, 12, 15), 0.60), (dt.date(2021, 4, 15), 1.80), (dt.date(2021, 7, 15), 0.15),
    (dt.date(2022, 1, 1), 0.20), (dt.date(2022, 6, 15), 0.08), (dt.date(2023, 1, 1), 0.07),
    (dt.date(2023, 5, 8), 0.90), (dt.date(2023, 7, 15), 0.25), (dt.date(2023, 12, 15), 1.00),
    (dt.date(2024, 3, 1), 0.35), (dt.date(2024, 4, 20), 1.00), (dt.date(2024, 6, 15), 0.12),
    (dt.date(2024, 12, 1), 0.10), (dt.date(2025, 3, 1), 0.035), (dt.date(2025, 12, 31), 0.03),
)
TYPICAL_ABS_RETURN = 0.02  # a "normal" week's mean |daily return|; busier weeks pay more fees
FULL_BLOCK_WEIGHT = 3_993_000  # a full block's mean weight (block_json: min(3,993,000 + N(0, 250), 3,999,900))
FEE_WEIGHT_REF = 3_990_000  # fees scale with min(1, weight / this)
PART_BLOCK_RANGE = (0.3, 0.99)  # a block not full holds this share of 4,000,000 weight units, uniformly
FEE_SPIKE_SHAPE = 1.3  # a spike multiplies the fees by min(1 + Lomax(1.3), FEE_SPIKE_CAP)
FEE_SPIKE_CAP = 40.0


def _fee_mean_factor() -> float:
    """E[a block's fees] / (fee level x busy factor), from the draws of `block_json`: not empty, the weight
    factor (full, or a uniform share), the lognormal body (mean 1: exp(0.5 Z - 0.125)) and the capped spike
    (E[min(P, c)] = 1 + (1 - c^(1-a)) / (a - 1) for P = 1 + Lomax(a), i.e. Pareto with minimum 1)."""
    lo, hi = PART_BLOCK_RANGE
    weight = FULL_BLOCK_PROB * min(1.0, FULL_BLOCK_WEIGHT / FEE_WEIGHT_REF) + (1 - FULL_BLOCK_PROB) * min(
        1.0, (lo + hi) / 2 * 4_000_000 / FEE_WEIGHT_REF
    )
    a, cap = FEE_SPIKE_SHAPE, FEE_SPIKE_CAP
    spike = (1 - FEE_SPIKE_PROB) + FEE_SPIKE_PROB * (1 + (1 - cap ** (1 - a)) / (a - 1))
    return (1 - EMPTY_BLOCK_PROB) * weight * spike


FEE_MEAN_FACTOR = _fee_mean_factor()

BLOCKCHAIN_COM_WEIGHTS = (0.5, 0.3, 0.2)  # the day, the day before, two days before
BLOCKCHAIN_COM_MAX_POINTS = 1500  # sampled=true thins longer answers to about this many points
HASH_RATE_META = {
    "status": "ok",
    "name": "Hash Rate",
    "unit": "Hash Rate TH/s",
    "period": "day",
    "description": "The estimated number of tera hashes per second (trillions of hashes per second) the Bitcoin "
    "network is performing.",
}
MINERS_REVENUE_META = {
    "status": "ok",
    "name": "Miners Revenue",
    "unit": "USD",
    "period": "day",
    "description": "Total value of coinbase block rewards and transaction fees paid to miners.",
}


def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _utc_s(now: dt.datetime) -> int:
    if now.tzinfo is not None:
        now = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (now - dt.datetime(1970, 1, 1)) // dt.timedelta(seconds=1)


def _unit(label: str, n: int) -> float:
    """A uniform [0, 1) number for (label, n): cheaper than a Generator when one draw is enough."""
    digest = hashlib.sha256(f"{label}|{n}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _day_of(seconds: int) -> dt.date:
    return EPOCH_DATE + dt.timedelta(days=seconds // DAY_S)


def _iso_z(seconds: int) -> str:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# ---- pools, fees, subsidy ------------------------------------------------------------------------------------


def _interpolate(day: dt.date, anchors, value, *, log: bool = False):
    """Linear (or log-linear) interpolation of value(anchor) between anchor dates, held outside."""
    if day <= anchors[0][0]:
        return value(anchors[0])
    for a, b in zip(anchors, anchors[1:]):
        if day <= b[0]:
            w = (day - a[0]).days / (b[0] - a[0]).days
            va, vb = value(a), value(b)
            return va ** (1 - w) * vb**w if log else va * (1 - w) + vb * w
    return value(anchors[-1])


def _wobble_params() -> dict[str, tuple[float, ...]]:
    params = {}
    for pool in POOLS:
        g = rng(POOL_WOBBLE_LABEL, pool.slug)
        params[pool.slug] = (
            g.uniform(0.06, 0.12), g.uniform(45, 120), g.uniform(0, 2 * math.pi),  # faster wobble
            g.uniform(0.05, 0.12), g.uniform(150, 400), g.uniform(0, 2 * math.pi),  # slower drift
        )
    return params


_WOBBLE = _wobble_params()


@functools.lru_cache(maxsize=4096)
def pool_shares(day: dt.date) -> np.ndarray:
    """Share of blocks per pool (order of POOLS) on `day`; sums to 1 (read-only array)."""
    t = (day - dt.date(2019, 1, 1)).days
    raw = np.empty(len(POOLS))
    for i, pool in enumerate(POOLS):
        base = _interpolate(day, SHARE_ANCHORS, lambda a, s=pool.slug: a[1].get(s, 0.0) / sum(a[1].values()))
        a1, p1, f1, a2, p2, f2 = _WOBBLE[pool.slug]
        raw[i] = base * math.exp(a1 * math.sin(2 * math.pi * t / p1 + f1) + a2 * math.sin(2 * math.pi * t / p2 + f2))
    shares = raw / raw.sum()
    shares.setflags(write=False)
    return shares


@functools.lru_cache(maxsize=4096)
def fee_level_btc(day: dt.date) -> float:
    return _interpolate(day, FEE_LEVEL_ANCHORS, lambda a: a[1], log=True)


def busy_factor(market, day: dt.date) -> float:
    """How busy the chain is on `day`: the market's mean |daily return| over the 7 days before, relative to a
    typical week (clipped to 0.5-3, damped), times a lognormal draw for the ISO week."""
    moves = [abs(market.daily_return(day - dt.timedelta(days=k))) for k in range(1, 8)]
    activity = min(max(sum(moves) / 7 / TYPICAL_ABS_RETURN, 0.5), 3.0) ** 0.8
    year, week, _ = day.isocalendar()
    weekly = float(np.exp(0.25 * rng(FEE_WEEK_LABEL, f"{year}-W{week:02d}").standard_normal()))
    return activity * weekly


def subsidy_sats(height: int) -> int:
    halvings = height // HALVING_INTERVAL
    return 5_000_000_000 >> halvings if halvings < 64 else 0


# ---- the chain as served: timestamps, visibility, hashes --------------------------------------------------------


def _swap_drawn(height: int) -> bool:
    """Whether the pair (2k, 2k+1) holding `height` swaps its timestamps, if mined close enough in time."""
    return _unit(SWAP_LABEL, height // 2) < P_SWAP


def stamped_times(mining: MiningModel, first: int, last: int) -> list[int]:
    """The miner-set timestamps of heights first..last (see the module note on swaps)."""
    base = mining.first_block_height
    lo = max(first - 1, base)
    times = mining.heights_times(lo, last + 1)
    out = []
    for h in range(first, last + 1):
        partner = h ^ 1
        own = int(times[h - lo])
        if partner >= base and _swap_drawn(h):
            other = int(times[partner - lo])
            if abs(other - own) <= MAX_SWAP_GAP_S:
                own = other
        out.append(own)
    return out


def visible_tip(mining: MiningModel, now_s: int) -> int:
    """The highest height served at `now_s`: mined, and not stamped after now (else the one below)."""
    tip = mining.tip_at(now_s)
    if tip >= mining.first_block_height and stamped_times(mining, tip, tip)[0] > now_s:
        tip -= 1
    return tip


def _bits(target: int) -> int:
    size = (target.bit_length() + 7) // 8
    mantissa = target << 8 * (3 - size) if size <= 3 else target >> 8 * (size - 3)
    if mantissa & 0x800000:
        mantissa >>= 8
        size += 1
    return size << 24 | mantissa


def _target(difficulty: float) -> int:
    return int(MAX_TARGET / difficulty)


def block_hash(mining: MiningModel, height: int) -> str:
    """A deterministic hash below the target of the height's difficulty (so it has the right leading zeros)."""
    digest = int.from_bytes(hashlib.sha256(f"{BLOCK_LABEL}/hash|{height}".encode()).digest(), "big")
    return f"{digest * _target(mining.difficulty_of_height(height)) >> 256:064x}"


def _fake_address(height: int) -> str:
    alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    digest = hashlib.sha256(f"{BLOCK_LABEL}/address|{height}".encode()).digest()
    return "bc1q" + "".join(alphabet[b % 32] for b in digest[:38])


# ---- one block --------------------------------------------------------------------------------------------------


def block_json(mining: MiningModel, market, height: int, stamp: int, median_time: int) -> dict:
    """The `/api/v1/blocks` object of `height` (key order and types as mempool serves them)."""
    g = rng(BLOCK_LABEL, f"h{height}")
    day = _day_of(stamp)
    difficulty = mining.difficulty_of_height(height)
    u_pool, u_empty, u_full, u_spike = g.random(4)
    shares = pool_shares(day)
    pool = POOLS[min(int(np.searchsorted(np.cumsum(shares), u_pool, side="right")), len(POOLS) - 1)]

    empty = u_empty < EMPTY_BLOCK_PROB
    if empty:
        size = int(g.integers(180, 320))
        weight = size * 4 - int(g.integers(0, 120))
        tx_count, fees = 1, 0
    else:
        weight = (
            min(FULL_BLOCK_WEIGHT + int(g.normal(0.0, 250.0)), 3_999_900)
            if u_full < FULL_BLOCK_PROB
            else int(4_000_000 * g.uniform(*PART_BLOCK_RANGE))
        )
        size = int(weight * g.uniform(0.37, 0.44))
        tx_count = max(2, int(size / math.exp(g.normal(math.log(430.0), 0.2))))
        fee_btc = fee_level_btc(day) * busy_factor(market, day) * math.exp(0.5 * g.standard_normal() - 0.125)
        if u_spike < FEE_SPIKE_PROB:
            fee_btc *= min(1.0 + g.pareto(FEE_SPIKE_SHAPE), FEE_SPIKE_CAP)
        fees = int(round(fee_btc * 1e8 * min(1.0, weight / FEE_WEIGHT_REF)))
    subsidy = subsidy_sats(height)
    vsize = weight / 4
    avg_fee_rate = int(fees / vsize)
    median_fee = avg_fee_rate * float(g.uniform(0.5, 0.9))
    fee_range = [median_fee * k for k in (0.6, 0.75, 0.9, 1.0, 1.4, 2.5)] + [median_fee * float(g.uniform(20, 200))]
    nonce = int(g.integers(0, 2**32))
    version = 0x20000000 | int(g.integers(0, 2**16)) << 13
    merkle = hashlib.sha256(f"{BLOCK_LABEL}/merkle|{height}".encode()).hexdigest()
    this_hash, prev_hash = block_hash(mining, height), block_hash(mining, height - 1)
    bits = _bits(_target(difficulty))
    header = (
        struct.pack("<I", version) + bytes.fromhex(prev_hash)[::-1] + bytes.fromhex(merkle)[::-1]
        + struct.pack("<III", stamp, bits, nonce)
    ).hex()
    inputs = max(tx_count - 1, 0) * int(g.integers(2, 3)) + 1
    outputs = max(tx_count - 1, 0) * 3 + 2
    segwit_txs = int((tx_count - 1) * g.uniform(0.85, 0.95))
    address = _fake_address(height)
    tag = pool.tag.encode()
    coinbase_raw = (b"\x03" + height.to_bytes(3, "little") + tag + bytes(g.integers(0, 256, 12, dtype=np.uint8)))
    return {
        "id": this_hash,
        "height": height,
        "version": version,
        "timestamp": stamp,
        "bits": bits,
        "nonce": nonce,
        "difficulty": difficulty,
        "merkle_root": merkle,
        "tx_count": tx_count,
        "size": size,
        "weight": weight,
        "previousblockhash": prev_hash,
        "mediantime": median_time,
        "stale": False,
        "extras": {
            "reward": subsidy + fees,
            "coinbaseRaw": coinbase_raw.hex(),
            "orphans": [],
            "medianFee": median_fee,
            "feeRange": fee_range,
            "totalFees": fees,
            "avgFee": fees // max(tx_count - 1, 1),
            "avgFeeRate": avg_fee_rate,
            "utxoSetChange": outputs - inputs,
            "avgTxSize": round(size / tx_count, 2),
            "totalInputs": inputs,
            "totalOutputs": outputs,
            "totalOutputAmt": int(g.integers(10**11, 10**12)) if not empty else subsidy + fees,
            "segwitTotalTxs": segwit_txs,
            "segwitTotalSize": int(size * 0.9),
            "segwitTotalWeight": int(weight * 0.88),
            "feePercentiles": None,
            "virtualSize": vsize,
            "coinbaseAddress": address,
            "coinbaseAddresses": [address],
            "coinbaseSignature": f"OP_0 OP_PUSHBYTES_20 {hashlib.sha256(address.encode()).hexdigest()[:40]}",
            "coinbaseSignatureAscii": coinbase_raw.decode("latin-1"),
            "header": header,
            "utxoSetSize": None,
            "totalInputAmt": None,
            "pool": {"id": pool.id, "name": pool.name, "slug": pool.slug, "minerNames": None},
            "matchRate": round(float(g.uniform(97.0, 100.0)), 2),
            "expectedFees": int(fees * g.uniform(0.97, 1.02)),
            "expectedWeight": min(int(weight * g.uniform(0.995, 1.002)), 3_999_900),
            "similarity": float(g.uniform(0.9, 1.0)),
        },
    }


def blocks_descending(mining: MiningModel, market, start: int, count: int) -> list[dict]:
    """Blocks start, start-1, ... (count of them, not below the demo chain's first block)."""
    base = mining.first_block_height
    last_low = max(start - count + 1, base)
    if start < last_low:
        return []
    first_needed = max(last_low - 10, base)  # the median time needs the 10 blocks below
    stamps = stamped_times(mining, first_needed, start)
    out = []
    for h in range(start, last_low - 1, -1):
        i = h - first_needed
        window = stamps[max(i - 10, 0) : i + 1]
        out.append(block_json(mining, market, h, stamps[i], int(statistics.median_low(window))))
    return out


def lookup(mining: MiningModel, ts: int, now_s: int) -> int | None:
    """Height of the served block with the latest timestamp <= ts (the highest such height on a tie)."""
    tip = visible_tip(mining, now_s)
    base = mining.first_block_height
    if tip < base:
        return None
    below = mining.tip_at(min(ts, now_s))  # the last height MINED by ts: stamps differ only within a pair
    lo, hi = max(base, below - 20), min(below + 1, tip)
    if hi < lo:
        return None
    best = None
    for h, stamp in zip(range(lo, hi + 1), stamped_times(mining, lo, hi)):
        if stamp <= ts and (best is None or stamp >= best[1]):
            best = (h, stamp)
    return None if best is None else best[0]


# ---- handlers -----------------------------------------------------------------------------------------------------


def mempool_block_timestamp(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    """GET /api/v1/mining/blocks/timestamp/{unix s}: {height, hash, timestamp (ISO)} or HTTP 500 text."""
    raw = path_match.group(1)
    now_s = _utc_s(now)
    if not re.fullmatch(r"[1-9][0-9]*", raw) or int(raw) > now_s + DAY_S:
        return 500, b"Invalid timestamp, value must be Unix seconds"
    ts = int(raw)
    height = lookup(models.mining, ts, now_s)
    if height is None:
        return 500, f"No block was found before timestamp {ts}".encode()
    stamp = stamped_times(models.mining, height, height)[0]
    return 200, _json({"height": height, "hash": block_hash(models.mining, height), "timestamp": _iso_z(stamp)})


def mempool_blocks(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    """GET /api/v1/blocks[/{height}]: 15 blocks from height down; above the tip the page is cut by the excess
    (mempool's $getBlocks: limit -= height - tip), and a non-number height gives []."""
    mining = models.mining
    tip = visible_tip(mining, _utc_s(now))
    raw = path_match.group(1)
    if raw is None:
        start = tip
    else:
        digits = re.match(r"[0-9]+", raw)  # parseInt reads the leading digits
        if digits is None:
            return 200, b"[]"
        start = int(digits.group(0))
    limit = PAGE_BLOCKS
    if start > tip:
        limit -= start - tip
        start = tip
    if limit <= 0 or tip < mining.first_block_height:
        return 200, b"[]"
    return 200, _json(blocks_descending(mining, models.market, start, limit))


_TIMESPAN = re.compile(r"([1-9][0-9]{0,4})(day|days|week|weeks|month|months|year|years)")
_SPAN_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}


def _daily_estimate(mining: MiningModel, day: dt.date) -> float:
    """blockchain.com's estimate for `day` (H/s): the day's work smoothed with the two days before."""
    genesis = mining.params.genesis_date
    total = weight_sum = 0.0
    for k, w in enumerate(BLOCKCHAIN_COM_WEIGHTS):
        d = day - dt.timedelta(days=k)
        if d >= genesis:
            total += w * mining.observed_hashrate(d)
            weight_sum += w
    return total / weight_sum


def miners_revenue_usd(mining: MiningModel, market, day: dt.date) -> float:
    """blockchain.com's miners' revenue of `day` (USD): the subsidies of the heights mined that day (the blocks
    stamped that day hold the same subsidies: a timestamp swap pairs heights 2k and 2k+1, never across a
    halving) plus each block's expected fees, at the day's reference close."""
    first = mining.first_height(day)
    n = mining.blocks(day)
    subsidy_btc = sum(subsidy_sats(h) for h in range(first, first + n)) / 1e8
    fees_btc = n * fee_level_btc(day) * busy_factor(market, day) * FEE_MEAN_FACTOR
    return (subsidy_btc + fees_btc) * market.close(day)


def _chart(params: dict[str, str], now: dt.datetime, genesis: dt.date, value, meta: dict,
           scale: float = 1.0) -> Response:
    """A daily chart `value(day) / scale` as blockchain.com serves it (?timespan=&start=&format=&sampled=
    &rollingAverage=): complete days only, labelled by the day's start."""
    now_s = _utc_s(now)
    span = params.get("timespan", "1year")
    if span == "all":
        days = None
    elif m := _TIMESPAN.fullmatch(span):
        days = int(m.group(1)) * _SPAN_DAYS[m.group(2).rstrip("s")]
    else:
        return 400, _json({"status": "error", "error": f"Invalid timespan: {span}"})
    rolling = 1
    if "rollingAverage" in params:
        m = _TIMESPAN.fullmatch(params["rollingAverage"])
        if m is None:
            return 400, _json({"status": "error", "error": f"Invalid rollingAverage: {params['rollingAverage']}"})
        rolling = int(m.group(1)) * _SPAN_DAYS[m.group(2).rstrip("s")]
    last_complete = _day_of(now_s) - dt.timedelta(days=1)
    start_raw = params.get("start")
    if start_raw:
        try:
            first = (
                _day_of(int(start_raw)) if start_raw.isdigit() else dt.date.fromisoformat(start_raw)
            )
        except ValueError:
            return 400, _json({"status": "error", "error": f"Invalid start: {start_raw}"})
        last = last_complete if days is None else first + dt.timedelta(days=days - 1)
    else:
        last = last_complete
        first = genesis if days is None else last - dt.timedelta(days=days - 1)
    first, last = max(first, genesis), min(last, last_complete)
    values = []
    day = first
    while day <= last:
        window = [day - dt.timedelta(days=k) for k in range(rolling) if day - dt.timedelta(days=k) >= genesis]
        values.append({"x": (day - EPOCH_DATE).days * DAY_S, "y": sum(value(d) for d in window) / len(window) / scale})
        day += dt.timedelta(days=1)
    if params.get("sampled", "true") != "false" and len(values) > BLOCKCHAIN_COM_MAX_POINTS:
        step = -(-len(values) // BLOCKCHAIN_COM_MAX_POINTS)
        values = values[::step]
    if params.get("format", "json") == "csv":
        lines = [f"{_iso_z(v['x'])[:10]} 00:00:00,{v['y']!r}" for v in values]
        return 200, ("\n".join(lines) + "\n").encode()
    return 200, _json({**meta, "values": values})


def blockchain_hash_rate(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    """GET /charts/hash-rate?timespan=&start=&format=json&sampled=&rollingAverage=: TH/s, complete days only."""
    mining = models.mining
    return _chart(params, now, mining.params.genesis_date, lambda d: _daily_estimate(mining, d),
                  HASH_RATE_META, scale=1e12)


def blockchain_miners_revenue(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    """GET /charts/miners-revenue?…: USD a day (the demo chain's rewards at the reference close), as hash-rate."""
    mining, market = models.mining, models.market
    return _chart(params, now, mining.params.genesis_date, lambda d: miners_revenue_usd(mining, market, d),
                  MINERS_REVENUE_META)


ROUTES: list = [
    (re.compile(r"/api/v1/mining/blocks/timestamp/([^/]*)"), mempool_block_timestamp),
    (re.compile(r"/api/v1/blocks(?:/([^/]*))?"), mempool_blocks),
    (re.compile(r"/charts/hash-rate"), blockchain_hash_rate),
    (re.compile(r"/charts/miners-revenue"), blockchain_miners_revenue),
]
