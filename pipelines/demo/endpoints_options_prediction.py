"""Demo endpoints: Deribit instruments, index price and volatility index (Polymarket's are in `endpoints_polymarket`).

Each handler answers like the real API (envelopes, field names, types, string-encoded numbers, errors) from
the shared models of `models` (a `pipelines.demo.api.DemoApi`): the instruments are exactly those of the
option chain's book summary at the same moment, the index is the market model's, and the prediction market
is `pipelines.demo.prediction`. Nothing after `now` is returned; bodies are compact JSON, so the same
(path, params, now) gives the same bytes.

Routing is by path only (hosts are ignored by the demo): `/markets` is Gamma's (the CLOB's own /markets,
a different shape, is not simulated).
"""

from __future__ import annotations

import datetime as dt
import json
import re

from pipelines.demo.dvol import dvol_candles
from pipelines.demo.options import Expiry, OptionChainModel
from pipelines.demo.seeds import rng

Response = tuple[int, bytes]
UTC = dt.timezone.utc

DERIBIT_CURRENCIES = ("BTC", "ETH", "USDC", "USDT", "EURR", "any")
DERIBIT_KINDS = ("future", "option", "spot", "future_combo", "option_combo")
DEMO_INDEX_NAMES = ("btc_usd", "eth_usd")  # the demo simulates the BTC and ETH indexes
_ID_EPOCH = dt.date(2017, 1, 1)
# get_volatility_index_data: the currencies and resolutions the API takes (docs.deribit.com, OpenAPI 2.1.1; the demo
# simulates BTC's and ETH's index, another currency answers no candles) and the candles one answer holds (measured
# by public loaders, not documented: pipelines/sources/deribit_dvol.py).
DVOL_CURRENCIES = ("BTC", "ETH", "USDC", "USDT", "EURR")
DVOL_RESOLUTIONS_MS = {"1": 1_000, "60": 60_000, "3600": 3_600_000, "43200": 43_200_000, "1D": 86_400_000}
DVOL_MAX_CANDLES = 1000



def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode("utf-8")


def _epoch_ms(now: dt.datetime) -> int:
    return (now - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1)


def _naive_utc(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    return now


# ---- Deribit -------------------------------------------------------------------------------------------------


def _deribit_envelope(now: dt.datetime, *, result: object = None, error: dict | None = None) -> bytes:
    us_out = _epoch_ms(now) * 1000
    us_diff = int(rng("demo-deribit/latency", now.date(), now.isoformat()).integers(900, 3500))
    body: dict[str, object] = {"jsonrpc": "2.0"}
    if error is not None:
        body["error"] = error
    else:
        body["result"] = result
    body.update({"usIn": us_out - us_diff, "usOut": us_out, "usDiff": us_diff, "testnet": False})
    return _json(body)


def _invalid_param(now: dt.datetime, param: str, reason: str) -> Response:
    error = {"message": "Invalid params", "data": {"reason": reason, "param": param}, "code": -32602}
    return 400, _deribit_envelope(now, error=error)


def _invalid_choice(now: dt.datetime, params: dict[str, str], name: str, choices: tuple[str, ...]) -> Response | None:
    """The API's error for a parameter `name` missing or not one of `choices`; None when it is one of them."""
    value = params.get(name)
    if not value:
        return _invalid_param(now, name, "required")
    if value not in choices:
        return _invalid_param(now, name, f"must be one of the following: {', '.join(choices)}")
    return None


def _settlement_period(kinds: frozenset[str]) -> str:
    if kinds & {"monthly", "quarterly"}:
        return "month"
    return "week" if "weekly" in kinds else "day"


_ID_BASE = {"BTC": (100_000_000, 125), "ETH": (500_000_000, 5)}  # currency: (first id, finest strike grid)


def _instrument_id(currency: str, expiry: dt.date, strike: int, is_put: bool) -> int:
    """Stable per instrument name and distinct within a listing (like Deribit's, an integer id)."""
    base, grid = _ID_BASE[currency]
    return base + (expiry - _ID_EPOCH).days * 40_000 + 2 * (strike // grid) + int(is_put)


def demo_instruments(options: OptionChainModel, now: dt.datetime, *, expired: bool = False) -> list[dict]:
    """get_instruments rows of the chain's options listed at `now` (naive UTC): the strikes of the book summary's chain,
    each with the time it was listed (an expiry's first strikes at its listing, added strikes when added).

    `expired=True`: the options that expired during the last 24 h (Deribit lists recently expired ones)."""
    p = options.params
    if expired:
        then = now - dt.timedelta(days=1)
        listings = [x for x in options.listing(then) if x.expiry.at(p.expiry_hour_utc) <= now]
    else:
        listings = options.listing(now)
    now_ms = _epoch_ms(now)
    rows = []
    for listing in listings:
        expiry = listing.expiry
        for strike, created_ms in zip(listing.strikes.tolist(), listing.created_ms.tolist()):
            for is_put in (False, True):
                name = f"{p.currency}-{expiry.code}-{strike}-{'P' if is_put else 'C'}"
                rows.append(_instrument_row(p, expiry, name, strike, is_put, min(created_ms, now_ms), expired))
    rows.sort(key=lambda r: (r["expiration_timestamp"], r["strike"], r["option_type"]))
    return rows


def _instrument_row(p, expiry: Expiry, name: str, strike: int, is_put: bool, created_ms: int, expired: bool) -> dict:
    currency = p.currency
    return {
        "price_index": f"{currency.lower()}_usd",
        "rfq": False,
        "kind": "option",
        "instrument_name": name,
        "option_type": "put" if is_put else "call",
        "strike": float(strike),
        "maker_commission": 0.0003,
        "taker_commission": 0.0003,
        "instrument_type": "reversed",
        "expiration_timestamp": _epoch_ms(expiry.at(p.expiry_hour_utc)),
        "creation_timestamp": created_ms,
        "is_active": not expired,
        "tick_size": p.tick_small,
        "contract_size": 1.0,
        "instrument_id": _instrument_id(currency, expiry.date, strike, is_put),
        "min_trade_amount": 0.1,
        "block_trade_commission": 0.0003,
        "block_trade_min_trade_amount": 25,
        "block_trade_tick_size": 0.0001,
        "settlement_currency": currency,
        "settlement_period": _settlement_period(expiry.kinds),
        "base_currency": currency,
        "counter_currency": "USD",
        "quote_currency": currency,
        "tick_size_steps": [{"above_price": 0.005, "tick_size": p.tick_large}],
    }


def deribit_get_instruments(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    now = _naive_utc(now)
    currency, kind, expired = params.get("currency"), params.get("kind"), params.get("expired", "false")
    if error := _invalid_choice(now, params, "currency", DERIBIT_CURRENCIES):
        return error
    if kind is not None and kind not in DERIBIT_KINDS:
        return _invalid_param(now, "kind", f"must be one of the following: {', '.join(DERIBIT_KINDS)}")
    if expired not in ("true", "false"):
        return _invalid_param(now, "expired", "must be boolean")
    rows: list[dict] = []
    # The demo lists BTC and ETH options only: other currencies and kinds answer an empty result (as the book
    # summary). "any" lists both, each chain sorted as Deribit sorts one currency's.
    if kind in (None, "option") and now.date() > models.market.params.first_day:
        rows = [row for chain in models.option_chains(currency)
                for row in demo_instruments(chain, now, expired=expired == "true")]
    return 200, _deribit_envelope(now, result=rows)


def deribit_get_index_price(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    now = _naive_utc(now)
    name = params.get("index_name")
    if error := _invalid_choice(now, params, "index_name", DEMO_INDEX_NAMES):
        return error
    if now.date() <= models.market.params.first_day:
        return _invalid_param(now, "index_name", f"no index before {models.market.params.first_day} in the demo")
    market = models.market if name == "btc_usd" else models.eth_options.market
    index = round(market.index_at(now.replace(tzinfo=UTC)), 2)
    return 200, _deribit_envelope(now, result={"index_price": index, "estimated_delivery_price": index})


def deribit_get_volatility_index_data(path_match: re.Match, params: dict[str, str], now: dt.datetime,
                                      models) -> Response:
    """DVOL candles [timestamp, open, high, low, close] stamped in [start_timestamp, end_timestamp] (both included),
    oldest first: the newest DVOL_MAX_CANDLES of them, with `continuation` (the next request's end_timestamp) when
    older ones remain, else null. A window ending before it starts holds no candle."""
    now = _naive_utc(now)
    if error := _invalid_choice(now, params, "currency", DVOL_CURRENCIES):
        return error
    bounds = []
    for name in ("start_timestamp", "end_timestamp"):
        raw = params.get(name)
        if not raw:
            return _invalid_param(now, name, "required")
        if not re.fullmatch(r"[0-9]{1,16}", raw):
            return _invalid_param(now, name, "must be integer")
        bounds.append(int(raw))
    if error := _invalid_choice(now, params, "resolution", tuple(DVOL_RESOLUTIONS_MS)):
        return error
    data, continuation = [], None
    for chain in models.option_chains(params["currency"]):
        data, continuation = dvol_candles(chain, *bounds, DVOL_RESOLUTIONS_MS[params["resolution"]],
                                          _epoch_ms(now), DVOL_MAX_CANDLES)
    return 200, _deribit_envelope(now, result={"data": data, "continuation": continuation})


ROUTES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"/api/v2/public/get_instruments"), deribit_get_instruments),
    (re.compile(r"/api/v2/public/get_index_price"), deribit_get_index_price),
    (re.compile(r"/api/v2/public/get_volatility_index_data"), deribit_get_volatility_index_data),
]
