"""Polymarket: the tracked BTC price-event market (Gamma state, archived nightly) and its YES price history (CLOB).

One market is tracked, named by `TRACKED_MARKET` (its slug and its YES outcome token): Gamma finds the market
by slug; the CLOB's /prices-history wants the outcome token id, which the nightly request must know without
a lookup, so the operator configures both (a check on the Gamma body refuses a token id that does not match).

Wire quirks (../shared/docs/sources.md §5): `outcomes`, `outcomePrices` and `clobTokenIds` are JSON arrays
encoded as strings inside the JSON; a market's `volume` and `liquidity` are decimal strings; a resolved market
may omit both (recorded: gamma_market_closed.json). `/prices-history` is asked for one explicit UTC day
(startTs/endTs): `interval=max` returns nothing for resolved markets (py-clob-client #216).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources._wire import (
    EPOCH,
    Failer,
    decimal_str_float,
    day_start_ms,
    decode_json,
    epoch_ms,
    iso_ms,
    json_float,
    json_int,
    json_str,
    need,
)
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec, ignoring_send_time

SOURCE = "polymarket"
GAMMA_MARKETS_URL = "https://gamma-api.polymarket.com/markets"
CLOB_PRICES_HISTORY_URL = "https://clob.polymarket.com/prices-history"
PRICE_FIDELITY_MINUTES = 60


@dataclass(frozen=True)
class TrackedMarket:
    """The Polymarket market the warehouse follows: its Gamma slug and the CLOB token id of its YES outcome."""

    slug: str
    yes_token_id: str
    # The day the market was listed: the first partition it can have data for.
    listed: dt.date | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", self.slug):
            raise ValueError(f"invalid Polymarket slug {self.slug!r}")
        if not re.fullmatch(r"[0-9]{1,80}", self.yes_token_id):
            raise ValueError(f"invalid CLOB token id {self.yes_token_id!r}: a decimal integer string")


# The tracked market (later a setting). These are the demo market's slug and YES token
# (pipelines/demo/prediction.py DEMO_MARKET; a test keeps the two equal). For a live run, the operator sets
# the slug of a real BTC price-event market and its YES token id (from the market's clobTokenIds).
TRACKED_MARKET = TrackedMarket(
    slug="will-bitcoin-reach-100000-in-january-2026",
    yes_token_id="39195742334499483057729855609084021656292709630205645153948116396721697398642",
    listed=dt.date(2025, 9, 3),  # listed 2025-09-02 16:12 UTC: the first whole day is the 3rd
)

_F64, _TS = pa.float64(), pa.timestamp("us")
MARKET_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("market_id", pa.string()),
        ("condition_id", pa.string()),
        ("slug", pa.string()),
        ("question", pa.string()),
        ("end_date", _TS),
        ("outcomes", pa.string()),
        ("yes_token_id", pa.string()),
        ("no_token_id", pa.string()),
        ("yes_price", _F64),
        ("volume_usd", _F64),
        ("liquidity_usd", _F64),
        ("active", pa.bool_()),
        ("closed", pa.bool_()),
    ]
)
PRICES_HISTORY_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("point_time", _TS),
        ("yes_price", _F64),
    ]
)
_CONDITION_ID = re.compile(r"0x[0-9a-fA-F]{64}")
_TOKEN_ID = re.compile(r"[0-9]{1,80}")


# ---- requests ------------------------------------------------------------------------------------------------


def market_request_builder(tracked: TrackedMarket):
    def build_market_request(day: dt.date) -> FetchRequest:
        return FetchRequest(
            source=SOURCE, dataset="market", day=day, url=GAMMA_MARKETS_URL, params={"slug": tracked.slug}
        )

    return build_market_request


# The CLOB's limit on a window's length is undocumented (the public probes used windows of days): a backfill asks
# a month at a time, 744 hourly points.
PRICE_HISTORY_DAYS_PER_REQUEST = 31


def prices_history_range_request_builder(tracked: TrackedMarket):
    def build_prices_history_range_request(first: dt.date, last: dt.date) -> FetchRequest:
        start_s = day_start_ms(first) // 1000
        end_s = day_start_ms(last) // 1000 + 86_400
        return FetchRequest(
            source=SOURCE,
            dataset="prices_history",
            day=first,
            last_day=last,
            url=CLOB_PRICES_HISTORY_URL,
            params={
                "market": tracked.yes_token_id,
                "startTs": str(start_s),
                "endTs": str(end_s),
                "fidelity": str(PRICE_FIDELITY_MINUTES),
            },
        )

    return build_prices_history_range_request


def prices_history_request_builder(tracked: TrackedMarket):
    build_range = prices_history_range_request_builder(tracked)
    return lambda day: build_range(day, day)


# ---- Gamma market ----------------------------------------------------------------------------------------------


def _json_text_array(market: dict, key: str, fail: Failer) -> tuple[str, list]:
    """A field holding a JSON array encoded as a string: (the text, the decoded list)."""
    raw = need(market, key, fail, "the market")
    if not isinstance(raw, str):
        fail.raise_(f"field {key} must be a JSON-encoded string such as '[\"Yes\", \"No\"]', got {type(raw).__name__}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        fail.raise_(f"field {key} is not a JSON-encoded array ({exc.msg}): {raw[:80]!r}")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fail.raise_(f"field {key} must encode an array of strings, got {raw[:80]!r}")
    return raw, value


def _iso_utc_us(value: Any, field: str, fail: Failer) -> int:
    """An ISO-8601 timestamp with a zone ("2026-03-12T09:25:00Z") as µs since the epoch (UTC)."""
    text = json_str(value, field, fail)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        fail.raise_(f"field {field} is not an ISO-8601 timestamp: {text!r}")
    if moment.tzinfo is None:
        fail.raise_(f"field {field} has no time zone: {text!r}")
    moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def _optional_decimal(market: dict, key: str, fail: Failer) -> float | None:
    value = market.get(key)
    if value is None:
        return None
    result = decimal_str_float(value, key, fail)
    if result < 0:
        fail.raise_(f"field {key} is negative ({value!r})")
    return result


def market_parser(tracked: TrackedMarket):
    def parse_market(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
        fail = Failer(SOURCE, "market", day)
        data = decode_json(body, fail)
        if isinstance(data, dict):
            if "error" in data:
                fail.raise_(f"error envelope: {str(data['error'])[:200]}")
            fail.raise_(f"expected a JSON array of markets (GET /markets?slug=...), got an object with keys "
                        f"{sorted(data)[:8]}")
        if not isinstance(data, list):
            fail.raise_(f"expected a JSON array of markets, got {type(data).__name__}")
        if not data:
            fail.raise_(f"empty result: no market with slug {tracked.slug!r} (not listed yet, or a wrong slug)")
        found = None
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                fail.raise_(f"markets[{i}] is not an object")
            if item.get("slug") == tracked.slug:
                if found is not None:
                    fail.raise_(f"market {tracked.slug!r} appears twice")
                found = item
        if found is None:
            slugs = [str(m.get("slug"))[:60] for m in data[:3]]
            fail.raise_(f"no market with slug {tracked.slug!r} among {len(data)} markets (e.g. {slugs})")
        m = found

        market_id = json_str(need(m, "id", fail, "the market"), "id", fail)
        if not market_id.isdigit():
            fail.raise_(f"field id must be a numeric string, got {market_id!r}")
        condition_id = json_str(need(m, "conditionId", fail, "the market"), "conditionId", fail)
        if not _CONDITION_ID.fullmatch(condition_id):
            fail.raise_(f"field conditionId is not 0x + 64 hex digits: {condition_id!r}")
        question = json_str(need(m, "question", fail, "the market"), "question", fail)
        end_us = _iso_utc_us(need(m, "endDate", fail, "the market"), "endDate", fail)
        outcomes_text, outcomes = _json_text_array(m, "outcomes", fail)
        _, prices = _json_text_array(m, "outcomePrices", fail)
        _, tokens = _json_text_array(m, "clobTokenIds", fail)
        if not (len(outcomes) == len(prices) == len(tokens)):
            fail.raise_(f"outcomes ({len(outcomes)}), outcomePrices ({len(prices)}) and clobTokenIds ({len(tokens)}) "
                        "differ in length")
        if "Yes" not in outcomes or "No" not in outcomes:
            fail.raise_(f"not a Yes/No market: outcomes {outcomes_text}")
        yes, no = outcomes.index("Yes"), outcomes.index("No")
        yes_price = decimal_str_float(prices[yes], "outcomePrices[Yes]", fail)
        if not 0.0 <= yes_price <= 1.0:
            fail.raise_(f"YES price {yes_price} is outside [0, 1]")
        for k in (yes, no):
            if not _TOKEN_ID.fullmatch(tokens[k]):
                fail.raise_(f"clobTokenIds[{k}] is not a decimal token id: {tokens[k][:90]!r}")
        if tokens[yes] != tracked.yes_token_id:
            fail.raise_(f"the market's YES token {tokens[yes]} is not the configured one {tracked.yes_token_id}: "
                        "prices_history would follow another outcome")
        flags = {}
        for key in ("active", "closed"):
            value = need(m, key, fail, "the market")
            if not isinstance(value, bool):
                fail.raise_(f"field {key} must be a JSON boolean, got {value!r}")
            flags[key] = value

        return pa.Table.from_pydict(
            {
                PARTITION_COLUMN: [day],
                "market_id": [market_id],
                "condition_id": [condition_id],
                "slug": [tracked.slug],
                "question": [question],
                "end_date": [end_us],
                "outcomes": [outcomes_text],
                "yes_token_id": [tokens[yes]],
                "no_token_id": [tokens[no]],
                "yes_price": [yes_price],
                "volume_usd": [_optional_decimal(m, "volume", fail)],
                "liquidity_usd": [_optional_decimal(m, "liquidity", fail)],
                "active": [flags["active"]],
                "closed": [flags["closed"]],
            },
            schema=MARKET_SCHEMA,
        )

    return parse_market


# ---- CLOB prices-history ---------------------------------------------------------------------------------------


def parse_prices_history(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    """The points {t (unix s), p} of the day [00:00, 24:00) UTC; the point at endTs belongs to the next day."""
    fail = Failer(SOURCE, "prices_history", day)
    data = decode_json(body, fail)
    if isinstance(data, list):
        fail.raise_("expected an object {\"history\": [...]}, got an array (the data-api v2 shape "
                    "[{timestamp, price}] is another endpoint)")
    if not isinstance(data, dict):
        fail.raise_(f"expected an object {{\"history\": [...]}}, got {type(data).__name__}")
    if "error" in data:
        fail.raise_(f"error envelope: {str(data['error'])[:200]}")
    history = need(data, "history", fail, "the body")
    if not isinstance(history, list):
        fail.raise_(f"history must be an array, got {type(history).__name__}")
    day_start = day_start_ms(day)
    day_end = day_start + 86_400_000
    if epoch_ms(fetched_at) < day_end:
        fail.raise_(f"day not over: fetched_at {fetched_at.isoformat()} is before the day ends {iso_ms(day_end)}")

    points: dict[int, float] = {}
    for i, point in enumerate(history):
        if not isinstance(point, dict):
            fail.raise_(f"history[{i}] is not an object")
        t = json_int(need(point, "t", fail, f"history[{i}]"), f"history[{i}].t", fail)
        if t > 10**11:
            fail.raise_(f"history[{i}].t = {t} looks like milliseconds; the CLOB writes unix seconds")
        p = json_float(need(point, "p", fail, f"history[{i}]"), f"history[{i}].p", fail)
        if not 0.0 <= p <= 1.0:
            fail.raise_(f"history[{i}].p = {p} is outside [0, 1]")
        if not day_start <= t * 1000 < day_end:
            continue
        if t in points:
            fail.raise_(f"two points at {iso_ms(t * 1000)}")
        points[t] = p
    if not points:
        fail.raise_(
            f"no price point inside the day among {len(history)} points (the market was not trading that day, "
            "or the token id is wrong)"
        )
    times = sorted(points)
    return pa.Table.from_pydict(
        {
            PARTITION_COLUMN: [day] * len(times),
            "point_time": [t * 1_000_000 for t in times],
            "yes_price": [points[t] for t in times],
        },
        schema=PRICES_HISTORY_SCHEMA,
    )


# ---- datasets --------------------------------------------------------------------------------------------------


def market_dataset(tracked: TrackedMarket) -> DatasetSpec:
    return DatasetSpec(
        source=SOURCE,
        dataset="market",
        description="Polymarket tracked BTC market (Gamma): YES price, token ids, volume, liquidity, state; nightly.",
        raw_schema=MARKET_SCHEMA,
        key_columns=(PARTITION_COLUMN,),
        build_request=market_request_builder(tracked),
        parse=market_parser(tracked),
        event_time_column=None,
        backfillable=False,
        history="current state only: archive nightly",
        available_from=tracked.listed,
    )


def prices_history_dataset(tracked: TrackedMarket) -> DatasetSpec:
    return DatasetSpec(
        source=SOURCE,
        dataset="prices_history",
        description="Polymarket CLOB YES-token price of the tracked market, hourly points of the UTC day.",
        raw_schema=PRICES_HISTORY_SCHEMA,
        key_columns=(PARTITION_COLUMN, "point_time"),
        build_request=prices_history_request_builder(tracked),
        parse=parse_prices_history,
        event_time_column="point_time",
        backfillable=True,
        history="the life of the tracked market (from its listing to its resolution)",
        available_from=tracked.listed,
        build_range_request=ignoring_send_time(prices_history_range_request_builder(tracked)),
        max_range_days=PRICE_HISTORY_DAYS_PER_REQUEST,
    )


MARKET = market_dataset(TRACKED_MARKET)
PRICES_HISTORY = prices_history_dataset(TRACKED_MARKET)

DATASETS: tuple[DatasetSpec, ...] = (MARKET, PRICES_HISTORY)
