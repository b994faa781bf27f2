"""Polymarket: the configured BTC price-event markets — their nightly Gamma state and their YES price history.

What is followed comes from configuration (`prediction_markets.toml`, read by `prediction_config`): recurring
monthly events (every market of each month's ladder, discovered from Gamma's /events as new months list) and single
markets by slug. Two datasets:

- `polymarket/markets` (Gamma, now-only, archived nightly): one row per (day, market) with the YES price, volume,
  open/closed state and, once resolved, the outcome and its time. The day's fetch is one request per configured
  event or market and state — Gamma lists a closed market or event only when asked with `closed=true` — chained as
  the pages of one fetch, so they land and replay together. A market or event that is not listed (yet, or any
  more) answers an empty array: logged and counted, never a failure.
- `polymarket/prices_history` (CLOB, backfillable): hourly YES points of each market alive on the day. The CLOB wants
  the outcome token, known only from Gamma: before a run asks for a day, `bind_prices_history` reads the markets the
  warehouse has seen (raw.polymarket__markets, any snapshot) and asks one page per market alive that day.

Wire quirks (../shared/docs/sources.md §5): `outcomes`, `outcomePrices`, `clobTokenIds` and
`umaResolutionStatuses` are JSON arrays encoded as strings; a market's `volume` and `liquidity` are decimal strings
(a resolved market may omit both); `closedTime` is "2026-01-18 18:40:00+00". `/prices-history` is asked for one
explicit UTC day (startTs/endTs): `interval=max` returns nothing for resolved markets (py-clob-client #216).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources._wire import (
    EPOCH,
    Failer,
    day_start_ms,
    decimal_str_float,
    decode_json,
    epoch_ms,
    iso_ms,
    json_float,
    json_int,
    json_str,
    need,
)
from pipelines.sources.prediction_config import PredictionConfig, load_config, month_end, month_start
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec

SOURCE = "polymarket"
GAMMA_EVENTS_URL = "https://gamma-api.polymarket.com/events"
GAMMA_MARKETS_URL = "https://gamma-api.polymarket.com/markets"
CLOB_PRICES_HISTORY_URL = "https://clob.polymarket.com/prices-history"
PRICE_FIDELITY_MINUTES = 60
# The CLOB's longest startTs..endTs window is undocumented; public indexers window their backfills at 15 days
# "to stay within the API's range limits". A request here asks one UTC day (24 hourly points), far inside it; the
# demo refuses windows longer than PRICE_HISTORY_MAX_WINDOW_S, so a builder that grew past it fails in tests.
PRICE_HISTORY_MAX_WINDOW_S = 15 * 86_400
PRICE_HISTORY_WINDOW_S = 86_400

_F64, _TS = pa.float64(), pa.timestamp("us")
MARKETS_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("market_id", pa.string()),
        ("slug", pa.string()),
        ("question", pa.string()),
        ("condition_id", pa.string()),
        ("event_slug", pa.string()),
        ("event_title", pa.string()),
        ("group_item_title", pa.string()),
        ("threshold_usd", _F64),  # the price the market asks about
        ("direction", pa.string()),  # reach (a high at or above) | dip (a low at or below) | null if unknown
        ("period_start", pa.date32()),  # the period the question refers to (a month for the monthly ladders)
        ("period_end", pa.date32()),
        ("yes_token_id", pa.string()),
        ("no_token_id", pa.string()),
        ("yes_price", _F64),  # Gamma's outcomePrices[Yes] when the snapshot was taken
        ("volume_usd", _F64),
        ("liquidity_usd", _F64),
        ("active", pa.bool_()),
        ("closed", pa.bool_()),
        ("listed_at", _TS),  # createdAt
        ("end_date", _TS),  # endDate
        ("resolved_outcome", pa.string()),  # yes | no once resolved, else null
        ("resolved_at", _TS),  # closedTime once resolved
        ("headline", pa.bool_()),  # the configured headline market (the dashboard's probability)
    ]
)
PRICES_HISTORY_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("yes_token_id", pa.string()),
        ("point_time", _TS),
        ("yes_price", _F64),
    ]
)
_CONDITION_ID = re.compile(r"0x[0-9a-fA-F]{64}")
_TOKEN_ID = re.compile(r"[0-9]{1,80}")
# "↑ 100,000" / "↓ 80,000" (the ladders' group titles), else the question's "reach $100,000" / "dip to $80,000".
_GROUP_TITLE = re.compile(r"\s*([↑↓])\s*\$?([0-9][0-9,]*(?:\.[0-9]+)?)\s*")
_QUESTION = re.compile(r"\b(reach|hit|above|dip to|dip below|below|fall to)\s*\$([0-9][0-9,]*(?:\.[0-9]+)?)(k?)"
                       r"(?![0-9a-z])", re.IGNORECASE)
_DIRECTION_WORDS = {"reach": "reach", "hit": "reach", "above": "reach", "dip to": "dip", "dip below": "dip",
                    "below": "dip", "fall to": "dip"}


# ---- requests: the day's pages -------------------------------------------------------------------------------


def markets_requests(config: PredictionConfig, day: dt.date) -> list[FetchRequest]:
    """Every Gamma request of `day`'s snapshot, in order: per event asked (each month of each series) and per single
    market asked, the open listing and then the closed one (Gamma shows closed ones only with closed=true)."""
    queries: list[tuple[str, str]] = []
    for series in config.series:
        for year, month in series.months_asked(day, config.grace_days):
            queries.append((GAMMA_EVENTS_URL, series.slug_of(year, month)))
    for market in config.markets:
        if market.asked_on(day, config.grace_days):
            queries.append((GAMMA_MARKETS_URL, market.slug))
    return [
        FetchRequest(source=SOURCE, dataset="markets", day=day, url=url,
                     params={"slug": slug, **({"closed": "true"} if closed else {})})
        for url, slug in queries
        for closed in (False, True)
    ]


def _next_of(requests: Callable[[dt.date], list[FetchRequest]]):
    def next_page(request: FetchRequest, body: bytes) -> FetchRequest | None:
        planned = requests(request.day)
        at = planned.index(request)  # the chain is the day's plan: a request not in it is a bug, raised as such
        return planned[at + 1] if at + 1 < len(planned) else None

    return next_page


def _first_of(requests: Callable[[dt.date], list[FetchRequest]], what: str):
    def first(day: dt.date) -> FetchRequest:
        planned = requests(day)
        if not planned:
            raise ValueError(f"polymarket/{what}: nothing is configured to be asked for on {day}")
        return planned[0]

    return first


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


# ---- Gamma: events and markets ---------------------------------------------------------------------------------


def _closed_time_us(value: Any, fail: Failer) -> int | None:
    """closedTime: "2026-01-18 18:40:00+00" (Gamma's own format, not ISO 'T'), or an ISO timestamp."""
    if value in (None, ""):
        return None
    text = json_str(value, "closedTime", fail)
    try:
        moment = dt.datetime.fromisoformat(text.replace(" ", "T").replace("+00", "+00:00") if text.endswith("+00")
                                           else text)
    except ValueError:
        fail.raise_(f"field closedTime is not a timestamp: {text!r}")
    if moment.tzinfo is None:
        fail.raise_(f"field closedTime has no time zone: {text!r}")
    return (moment.astimezone(dt.timezone.utc).replace(tzinfo=None) - EPOCH) // dt.timedelta(microseconds=1)


def threshold_and_direction(group_title: str | None, question: str) -> tuple[float | None, str | None]:
    """The price a market asks about and whether it asks for a reach (high at or above) or a dip (low at or below)."""
    if group_title and (m := _GROUP_TITLE.fullmatch(group_title)):
        return float(m[2].replace(",", "")), "reach" if m[1] == "↑" else "dip"
    # A question names a BTC price only if it is about Bitcoin ("Katana FDV above $1B" is not a price threshold).
    if re.search(r"\b(bitcoin|btc)\b", question, re.IGNORECASE) and (m := _QUESTION.search(question)):
        value = float(m[2].replace(",", "")) * (1000 if m[3].lower() == "k" else 1)
        return value, _DIRECTION_WORDS[m[1].lower()]
    return None, None


def _period(config: PredictionConfig, event_slug: str | None, start_us: int | None, end_us: int) -> tuple:
    """The period the question refers to: the series' month when the event is one of a configured series, else the
    market's start to end dates."""
    month = config.month_of_event(event_slug) if event_slug else None
    if month is not None:
        return month_start(*month), month_end(*month)
    end = (EPOCH + dt.timedelta(microseconds=end_us)).date()
    start = (EPOCH + dt.timedelta(microseconds=start_us)).date() if start_us is not None else None
    return start, end


def _market_row(m: dict, event: dict | None, config: PredictionConfig, day: dt.date, fail: Failer) -> dict:
    market_id = json_str(need(m, "id", fail, "the market"), "id", fail)
    if not market_id.isdigit():
        fail.raise_(f"field id must be a numeric string, got {market_id!r}")
    slug = json_str(need(m, "slug", fail, f"market {market_id}"), "slug", fail)
    condition_id = json_str(need(m, "conditionId", fail, f"market {slug}"), "conditionId", fail)
    if not _CONDITION_ID.fullmatch(condition_id):
        fail.raise_(f"market {slug}: conditionId is not 0x + 64 hex digits: {condition_id!r}")
    question = json_str(need(m, "question", fail, f"market {slug}"), "question", fail)
    end_us = _iso_utc_us(need(m, "endDate", fail, f"market {slug}"), "endDate", fail)
    listed_us = _iso_utc_us(m["createdAt"], "createdAt", fail) if m.get("createdAt") else None
    outcomes_text, outcomes = _json_text_array(m, "outcomes", fail)
    _, prices = _json_text_array(m, "outcomePrices", fail)
    _, tokens = _json_text_array(m, "clobTokenIds", fail)
    if not (len(outcomes) == len(prices) == len(tokens)):
        fail.raise_(f"market {slug}: outcomes ({len(outcomes)}), outcomePrices ({len(prices)}) and clobTokenIds "
                    f"({len(tokens)}) differ in length")
    if "Yes" not in outcomes or "No" not in outcomes:
        fail.raise_(f"market {slug}: not a Yes/No market: outcomes {outcomes_text}")
    yes, no = outcomes.index("Yes"), outcomes.index("No")
    yes_price = decimal_str_float(prices[yes], "outcomePrices[Yes]", fail)
    if not 0.0 <= yes_price <= 1.0:
        fail.raise_(f"market {slug}: YES price {yes_price} is outside [0, 1]")
    for k in (yes, no):
        if not _TOKEN_ID.fullmatch(tokens[k]):
            fail.raise_(f"market {slug}: clobTokenIds[{k}] is not a decimal token id: {tokens[k][:90]!r}")
    flags = {}
    for key in ("active", "closed"):
        value = need(m, key, fail, f"market {slug}")
        if not isinstance(value, bool):
            fail.raise_(f"market {slug}: field {key} must be a JSON boolean, got {value!r}")
        flags[key] = value
    if event is None:
        nested = m.get("events")
        event = nested[0] if isinstance(nested, list) and nested and isinstance(nested[0], dict) else {}
    event_slug = event.get("slug") if isinstance(event.get("slug"), str) else None
    event_title = event.get("title") if isinstance(event.get("title"), str) else None
    group_title = m.get("groupItemTitle") if isinstance(m.get("groupItemTitle"), str) else None
    threshold, direction = threshold_and_direction(group_title, question)
    start_us = _iso_utc_us(m["startDate"], "startDate", fail) if m.get("startDate") else listed_us
    period_start, period_end = _period(config, event_slug, start_us, end_us)
    # Resolved: closed, and the outcome prices pinned to 1/0 (UMA settled). A closed market whose prices are not
    # pinned is closed but not resolved yet (a dispute): no outcome.
    resolved = None
    if flags["closed"] and {prices[yes], prices[no]} == {"1", "0"}:
        resolved = "yes" if prices[yes] == "1" else "no"
    return {
        PARTITION_COLUMN: day,
        "market_id": market_id,
        "slug": slug,
        "question": question,
        "condition_id": condition_id,
        "event_slug": event_slug,
        "event_title": event_title,
        "group_item_title": group_title,
        "threshold_usd": threshold,
        "direction": direction,
        "period_start": period_start,
        "period_end": period_end,
        "yes_token_id": tokens[yes],
        "no_token_id": tokens[no],
        "yes_price": yes_price,
        "volume_usd": _optional_decimal(m, "volume", fail),
        "liquidity_usd": _optional_decimal(m, "liquidity", fail),
        "active": flags["active"],
        "closed": flags["closed"],
        "listed_at": listed_us,
        "end_date": end_us,
        "resolved_outcome": resolved,
        "resolved_at": _closed_time_us(m.get("closedTime"), fail) if resolved else None,
        "headline": slug in config.headline_slugs,
    }


def markets_parser(config: PredictionConfig):
    def parse_markets(body: bytes, day: dt.date, fetched_at: dt.datetime,
                      params: Mapping[str, str] | None = None) -> pa.Table:
        """One page: the array Gamma answered for one event (/events) or one market (/markets) query. An empty array
        is a market or event not listed (yet, or any more): no rows, not an error. With the page's request `params`,
        an answer for another slug than the one asked is refused (the wrong market would be followed)."""
        fail = Failer(SOURCE, "markets", day)
        data = decode_json(body, fail)
        if isinstance(data, dict):
            if "error" in data:
                fail.raise_(f"error envelope: {str(data['error'])[:200]}")
            fail.raise_(f"expected a JSON array of events or markets, got an object with keys {sorted(data)[:8]}")
        if not isinstance(data, list):
            fail.raise_(f"expected a JSON array of events or markets, got {type(data).__name__}")
        asked = (params or {}).get("slug")
        rows: list[dict] = []
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                fail.raise_(f"[{i}] is not an object")
            if "markets" in item:  # an event, its markets nested
                if asked is not None and item.get("slug") != asked:
                    fail.raise_(f"asked for event {asked!r}, the answer is event {str(item.get('slug'))[:80]!r}")
                nested = item["markets"]
                if not isinstance(nested, list):
                    fail.raise_(f"event {item.get('slug')!r}: markets must be an array, got {type(nested).__name__}")
                for j, market in enumerate(nested):
                    if not isinstance(market, dict):
                        fail.raise_(f"event {item.get('slug')!r}: markets[{j}] is not an object")
                    rows.append(_market_row(market, item, config, day, fail))
            else:
                if asked is not None and item.get("slug") != asked:
                    fail.raise_(f"asked for market {asked!r}, the answer is market {str(item.get('slug'))[:80]!r}")
                rows.append(_market_row(item, None, config, day, fail))
        seen: dict[str, dict] = {}
        for row in rows:
            if seen.setdefault(row["market_id"], row) != row:
                fail.raise_(f"market {row['market_id']} appears twice with different fields")
        ordered = [seen[k] for k in sorted(seen, key=int)]
        return pa.Table.from_pylist(ordered, schema=MARKETS_SCHEMA)

    return parse_markets


# ---- CLOB prices-history ---------------------------------------------------------------------------------------


def prices_history_request(token_id: str, day: dt.date) -> FetchRequest:
    start_s = day_start_ms(day) // 1000
    return FetchRequest(
        source=SOURCE,
        dataset="prices_history",
        day=day,
        url=CLOB_PRICES_HISTORY_URL,
        params={"market": token_id, "startTs": str(start_s), "endTs": str(start_s + PRICE_HISTORY_WINDOW_S),
                "fidelity": str(PRICE_FIDELITY_MINUTES)},
    )


def parse_prices_history(body: bytes, day: dt.date, fetched_at: dt.datetime,
                         params: Mapping[str, str] | None = None) -> pa.Table:
    """The points {t (unix s), p} of the day [00:00, 24:00) UTC of the token asked for (the body does not name it:
    the page's request `params` do); the point at endTs belongs to the next day. No point inside the day (a market
    not trading yet, or resolved before the day) is no rows, not an error."""
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
    token = (params or {}).get("market", "")
    if not _TOKEN_ID.fullmatch(token):
        fail.raise_(f"the page's request names no CLOB token (market={token[:90]!r}): its points cannot be attributed")
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
    times = sorted(points)
    return pa.Table.from_pydict(
        {
            PARTITION_COLUMN: [day] * len(times),
            "yes_token_id": [token] * len(times),
            "point_time": [t * 1_000_000 for t in times],
            "yes_price": [points[t] for t in times],
        },
        schema=PRICES_HISTORY_SCHEMA,
    )


# ---- which markets are alive on a day: from what the warehouse has seen -------------------------------------------

MARKETS_TABLE = "raw.polymarket__markets"


def alive_tokens(conn: duckdb.DuckDBPyConnection | None, days: list[dt.date], grace_days: int
                 ) -> dict[dt.date, list[str]]:
    """YES tokens of the markets alive on each day, from every snapshot in raw.polymarket__markets (a market seen
    once, on any day, is known with its listing, end and resolution): alive from its listing day to its resolution
    day, or to its end + `grace_days` while unresolved."""
    if conn is None or not days:
        return {}
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = ?",
        ["polymarket__markets"],
    ).fetchone()[0]
    if not exists:
        return {}
    rows = conn.execute(
        f"""SELECT yes_token_id,
                   min(coalesce(cast(listed_at AS DATE), partition_date)) AS first_day,
                   max(cast(end_date AS DATE)) AS end_day,
                   min(cast(resolved_at AS DATE)) AS resolved_day
            FROM {MARKETS_TABLE}
            GROUP BY yes_token_id
            ORDER BY yes_token_id"""
    ).fetchall()
    out: dict[dt.date, list[str]] = {}
    for day in days:
        tokens = [
            token for token, first, end, resolved in rows
            if first <= day <= (resolved if resolved is not None else end + dt.timedelta(days=grace_days))
        ]
        if tokens:
            out[day] = tokens
    return out


# ---- datasets --------------------------------------------------------------------------------------------------


def markets_dataset(config: PredictionConfig) -> DatasetSpec:
    plan = lambda day: markets_requests(config, day)  # noqa: E731
    return DatasetSpec(
        source=SOURCE,
        dataset="markets",
        description="Polymarket markets followed (prediction_markets.toml): YES price, threshold, direction, period, "
                    "state, resolution; nightly.",
        raw_schema=MARKETS_SCHEMA,
        key_columns=(PARTITION_COLUMN, "market_id"),
        build_request=_first_of(plan, "markets"),
        parse=markets_parser(config),
        parse_takes_params=True,
        event_time_column=None,
        backfillable=False,
        history="current state only: archive nightly (closed markets only with closed=true)",
        available_from=config.first_day_asked,
        next_page=_next_of(plan),
        max_pages=200,
        asks_on=lambda day: bool(plan(day)),
        # Before a configured event lists (or once every market of the day is delisted), every page is an empty
        # array: a day with no market, loaded as such (the prediction mart is then empty, not stale).
        empty_day_ok=True,
    )


def prices_history_dataset(config: PredictionConfig) -> DatasetSpec:
    def bind(conn: duckdb.DuckDBPyConnection | None, days: list[dt.date]) -> DatasetSpec:
        """This run's requests: one page per market alive on the day, from the markets the warehouse has seen."""
        tokens = alive_tokens(conn, days, config.grace_days)
        plan = lambda day: [prices_history_request(t, day) for t in tokens.get(day, [])]  # noqa: E731
        return dataclasses.replace(spec, build_request=_first_of(plan, "prices_history"), next_page=_next_of(plan),
                                   asks_on=lambda day: day in tokens, bind=None)

    spec = DatasetSpec(
        source=SOURCE,
        dataset="prices_history",
        description="Polymarket CLOB YES-token prices of every followed market alive on the day, hourly points.",
        raw_schema=PRICES_HISTORY_SCHEMA,
        key_columns=(PARTITION_COLUMN, "yes_token_id", "point_time"),
        build_request=_first_of(lambda day: [], "prices_history"),
        parse=parse_prices_history,
        parse_takes_params=True,
        event_time_column="point_time",
        backfillable=True,
        history="each followed market from its listing to its resolution (tokens from polymarket/markets)",
        available_from=config.first_day_asked,
        max_pages=200,
        empty_day_ok=True,  # a market listed late in the day, or resolved early, may have no point in it
        bind=bind,
        upstream=(f"{SOURCE}/markets",),
        endpoint_url=CLOB_PRICES_HISTORY_URL,
    )
    return spec


CONFIG = load_config()
MARKETS = markets_dataset(CONFIG)
PRICES_HISTORY = prices_history_dataset(CONFIG)

DATASETS: tuple[DatasetSpec, ...] = (MARKETS, PRICES_HISTORY)
