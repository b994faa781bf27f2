"""Demo endpoints: Deribit instruments and index price, Polymarket Gamma /markets and CLOB /prices-history.

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
import threading
import weakref

from pipelines.demo.options import OptionChainModel, listed_expiries
from pipelines.demo.prediction import PredictionMarketModel
from pipelines.demo.seeds import rng

Response = tuple[int, bytes]
UTC = dt.timezone.utc

DERIBIT_CURRENCIES = ("BTC", "ETH", "USDC", "USDT", "EURR", "any")
DERIBIT_KINDS = ("future", "option", "spot", "future_combo", "option_combo")
DEMO_INDEX_NAMES = ("btc_usd",)  # the demo simulates the BTC index only
_OPTION_NAME = re.compile(r"BTC-([1-9]|[12][0-9]|3[01])([A-Z]{3})([0-9]{2})-([0-9]+)-([CP])")
_ID_EPOCH = dt.date(2017, 1, 1)

# CLOB /prices-history `interval` values and the window each covers, ending now ("1m" is one month).
CLOB_INTERVALS = {"1h": 3_600, "6h": 21_600, "1d": 86_400, "1w": 604_800, "1m": 2_592_000, "max": None}
CLOB_MAX_POINTS = 5_000  # the demo refuses longer series (the real limits are undocumented)
CLOB_RESOLVED_MAX_FIDELITY_EMPTY = 720  # py-clob-client #216: interval=max on a resolved market is empty below it


def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode("utf-8")


def _epoch_ms(now: dt.datetime) -> int:
    return (now - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1)


def _naive_utc(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    return now


# ---- shared model instances ----------------------------------------------------------------------------------

_MODELS_LOCK = threading.Lock()
_PREDICTION_MODELS: dict[int, tuple[weakref.ref, PredictionMarketModel]] = {}


def prediction_model(models) -> PredictionMarketModel:
    """The prediction-market model over `models`' market and option chain (one per DemoApi models, cached)."""
    market, options = models.market, models.options
    with _MODELS_LOCK:
        entry = _PREDICTION_MODELS.get(id(market))
        if entry is not None and entry[0]() is market and entry[1].options is options:
            return entry[1]
        model = PredictionMarketModel(market, options)
        _PREDICTION_MODELS[id(market)] = (weakref.ref(market), model)
        for key, (ref, _) in list(_PREDICTION_MODELS.items()):
            if ref() is None:
                del _PREDICTION_MODELS[key]
        return model


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


def _settlement_period(kinds: frozenset[str]) -> str:
    if kinds & {"monthly", "quarterly"}:
        return "month"
    return "week" if "weekly" in kinds else "day"


def _instrument_id(expiry: dt.date, strike: int, is_put: bool) -> int:
    """Stable per instrument name and distinct within a listing (like Deribit's, an integer id)."""
    return 100_000_000 + (expiry - _ID_EPOCH).days * 40_000 + 2 * (strike // 125) + int(is_put)


def demo_instruments(options: OptionChainModel, now: dt.datetime, *, expired: bool = False) -> list[dict]:
    """get_instruments rows of the BTC options listed at `now` (naive UTC): the names of the book summary's chain.

    `expired=True`: the options that expired during the last 24 h (Deribit lists recently expired ones)."""
    p = options.params
    if expired:
        then = now - dt.timedelta(days=1)
        expiries = {e.code: e for e in listed_expiries(then, p)}
        names = [r["instrument_name"] for r in options.chain(then)]
        keep = {code for code, e in expiries.items() if e.at(p.expiry_hour_utc) <= now}
        names = [n for n in names if "".join(_OPTION_NAME.fullmatch(n).group(1, 2, 3)) in keep]
    else:
        expiries = {e.code: e for e in listed_expiries(now, p)}
        names = [r["instrument_name"] for r in options.chain(now)]
    now_ms = _epoch_ms(now)
    latest_listing = now.replace(hour=p.expiry_hour_utc, minute=0, second=0, microsecond=0)
    if latest_listing > now:
        latest_listing -= dt.timedelta(days=1)
    rows = []
    for name in names:
        m = _OPTION_NAME.fullmatch(name)
        expiry = expiries[f"{m[1]}{m[2]}{m[3]}"]
        strike, is_put = int(m[4]), m[5] == "P"
        # Deribit creates an expiry's strikes when it lists the expiry, at the 08:00 UTC expiry time
        listed_at = dt.datetime.combine(expiry.listed, dt.time(p.expiry_hour_utc))
        created = min(listed_at, latest_listing)
        rows.append(
            {
                "price_index": "btc_usd",
                "rfq": False,
                "kind": "option",
                "instrument_name": name,
                "option_type": "put" if is_put else "call",
                "strike": float(strike),
                "maker_commission": 0.0003,
                "taker_commission": 0.0003,
                "instrument_type": "reversed",
                "expiration_timestamp": _epoch_ms(expiry.at(p.expiry_hour_utc)),
                "creation_timestamp": min(_epoch_ms(created), now_ms),
                "is_active": not expired,
                "tick_size": p.tick_small,
                "contract_size": 1.0,
                "instrument_id": _instrument_id(expiry.date, strike, is_put),
                "min_trade_amount": 0.1,
                "block_trade_commission": 0.0003,
                "block_trade_min_trade_amount": 25,
                "block_trade_tick_size": 0.0001,
                "settlement_currency": "BTC",
                "settlement_period": _settlement_period(expiry.kinds),
                "base_currency": "BTC",
                "counter_currency": "USD",
                "quote_currency": "BTC",
                "tick_size_steps": [{"above_price": 0.005, "tick_size": p.tick_large}],
            }
        )
    rows.sort(key=lambda r: (r["expiration_timestamp"], r["strike"], r["option_type"]))
    return rows


def deribit_get_instruments(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    now = _naive_utc(now)
    currency, kind, expired = params.get("currency"), params.get("kind"), params.get("expired", "false")
    if not currency:
        return _invalid_param(now, "currency", "required")
    if currency not in DERIBIT_CURRENCIES:
        return _invalid_param(now, "currency", f"must be one of the following: {', '.join(DERIBIT_CURRENCIES)}")
    if kind is not None and kind not in DERIBIT_KINDS:
        return _invalid_param(now, "kind", f"must be one of the following: {', '.join(DERIBIT_KINDS)}")
    if expired not in ("true", "false"):
        return _invalid_param(now, "expired", "must be boolean")
    rows: list[dict] = []
    # The demo lists BTC options only: other currencies and kinds answer an empty result (as the book summary).
    if currency in ("BTC", "any") and kind in (None, "option") and now.date() > models.market.params.first_day:
        rows = demo_instruments(models.options, now, expired=expired == "true")
    return 200, _deribit_envelope(now, result=rows)


def deribit_get_index_price(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    now = _naive_utc(now)
    name = params.get("index_name")
    if not name:
        return _invalid_param(now, "index_name", "required")
    if name not in DEMO_INDEX_NAMES:
        return _invalid_param(now, "index_name", f"must be one of the following: {', '.join(DEMO_INDEX_NAMES)}")
    if now.date() <= models.market.params.first_day:
        return _invalid_param(now, "index_name", f"no index before {models.market.params.first_day} in the demo")
    index = round(models.market.index_at(now.replace(tzinfo=UTC)), 2)
    return 200, _deribit_envelope(now, result={"index_price": index, "estimated_delivery_price": index})


# ---- Polymarket ----------------------------------------------------------------------------------------------


def _gamma_error(message: str) -> Response:
    return 422, _json({"type": "validation error", "error": message})


def _bool_param(raw: str) -> bool | None:
    return {"true": True, "false": False}.get(raw.lower())


def gamma_markets(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    """GET gamma-api /markets: a plain array of market objects, filtered like the real query parameters."""
    now = _naive_utc(now)
    model = prediction_model(models)
    filters: dict[str, bool] = {}
    for key in ("closed", "active"):
        if key in params:
            value = _bool_param(params[key])
            if value is None:
                return _gamma_error(f"invalid {key}: must be true or false")
            filters[key] = value
    numbers = {}
    for key, default in (("limit", 500), ("offset", 0)):
        raw = params.get(key, str(default))
        if not raw.isdigit():
            return _gamma_error(f"invalid {key}: must be a non-negative integer")
        numbers[key] = int(raw)
    market = model.gamma_market(now)
    markets = [market] if market is not None else []
    ident = model.identity
    if "slug" in params:
        markets = [m for m in markets if params["slug"] == ident.slug]
    if "id" in params:
        markets = [m for m in markets if params["id"] == ident.market_id]
    if "condition_ids" in params:
        markets = [m for m in markets if ident.condition_id in params["condition_ids"].split(",")]
    if "clob_token_ids" in params:
        wanted = set(params["clob_token_ids"].split(","))
        markets = [m for m in markets if wanted & {ident.yes_token_id, ident.no_token_id}]
    for key, value in filters.items():
        markets = [m for m in markets if m[key] is value]
    markets = markets[numbers["offset"] : numbers["offset"] + numbers["limit"]]
    return 200, _json(markets)


def _clob_error(message: str) -> Response:
    return 400, _json({"error": message})


def clob_prices_history(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    """GET clob /prices-history: {"history": [{"t": unix s, "p": price}]} for one outcome token."""
    now = _naive_utc(now)
    model = prediction_model(models)
    token = params.get("market")
    if not token:
        return _clob_error("market is required")
    fidelity_raw = params.get("fidelity", "1")
    if not fidelity_raw.isdigit() or int(fidelity_raw) < 1:
        return _clob_error("invalid fidelity: must be a positive number of minutes")
    fidelity = int(fidelity_raw)
    now_s = _epoch_ms(now) // 1000
    interval = params.get("interval")
    has_window = "startTs" in params or "endTs" in params
    if interval is not None and has_window:
        return _clob_error("invalid filters: 'interval' and 'startTs'/'endTs' are mutually exclusive")
    if interval is not None:
        if interval not in CLOB_INTERVALS:
            return _clob_error(f"invalid interval: must be one of {', '.join(CLOB_INTERVALS)}")
        span = CLOB_INTERVALS[interval]
        if span is None and model.is_closed(now_s) and fidelity < CLOB_RESOLVED_MAX_FIDELITY_EMPTY:
            return 200, _json({"history": []})  # the quirk of resolved markets (py-clob-client #216)
        start_s, end_s = (0 if span is None else now_s - span), now_s
    else:
        try:
            start_s = int(params["startTs"]) if "startTs" in params else 0
            end_s = int(params["endTs"]) if "endTs" in params else now_s
        except ValueError:
            return _clob_error("invalid filters: startTs and endTs must be unix seconds")
        if start_s > end_s:
            return _clob_error("invalid filters: startTs is after endTs")
    lo = max(start_s, model.trading_start_s)
    hi = min(end_s, now_s)
    if hi >= lo and (hi - lo) // (fidelity * 60) + 1 > CLOB_MAX_POINTS:
        return _clob_error("invalid filters: the window is too long for this fidelity")
    return 200, _json({"history": model.history(token, start_s, end_s, fidelity, now_s)})


ROUTES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"/api/v2/public/get_instruments"), deribit_get_instruments),
    (re.compile(r"/api/v2/public/get_index_price"), deribit_get_index_price),
    (re.compile(r"/markets"), gamma_markets),
    (re.compile(r"/prices-history"), clob_prices_history),
]
