"""Demo endpoints of Polymarket: Gamma /markets and CLOB /prices-history, answered from the prediction model.

Each handler answers like the real API (a plain JSON array of markets; the CLOB's {"history": [...]}; errors in
each API's envelope) from `pipelines.demo.prediction`. Nothing after `now` is returned; bodies are compact JSON, so
the same (path, params, now) gives the same bytes. Routing is by path only (hosts are ignored by the demo):
`/markets` is Gamma's (the CLOB's own /markets, a different shape, is not simulated).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import weakref

from pipelines.demo.endpoints_options_prediction import _epoch_ms, _json, _naive_utc
from pipelines.demo.prediction import PredictionMarketModel

Response = tuple[int, bytes]

# CLOB /prices-history `interval` values and the window each covers, ending now ("1m" is one month).
CLOB_INTERVALS = {"1h": 3_600, "6h": 21_600, "1d": 86_400, "1w": 604_800, "1m": 2_592_000, "max": None}
CLOB_MAX_POINTS = 5_000  # the demo refuses longer series (the real limits are undocumented)
CLOB_RESOLVED_MAX_FIDELITY_EMPTY = 720  # py-clob-client #216: interval=max on a resolved market is empty below it


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
    (re.compile(r"/markets"), gamma_markets),
    (re.compile(r"/prices-history"), clob_prices_history),
]
