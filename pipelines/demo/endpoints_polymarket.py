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
from pipelines.demo.prediction import DEMO_MARKET, PredictionCatalog, PredictionMarketModel
from pipelines.sources.polymarket import PRICE_HISTORY_MAX_WINDOW_S

Response = tuple[int, bytes]

# CLOB /prices-history `interval` values and the window each covers, ending now ("1m" is one month).
CLOB_INTERVALS = {"1h": 3_600, "6h": 21_600, "1d": 86_400, "1w": 604_800, "1m": 2_592_000, "max": None}
CLOB_MAX_POINTS = 5_000  # the demo refuses longer series (the real limits are undocumented)
CLOB_RESOLVED_MAX_FIDELITY_EMPTY = 720  # py-clob-client #216: interval=max on a resolved market is empty below it
# The longest explicit startTs..endTs window the demo serves (pipelines/sources/polymarket.py: the real limit is
# undocumented; public indexers window at 15 days). The wording of the refusal is the demo's own.
CLOB_WINDOW_TOO_LONG = "invalid filters: 'startTs' and 'endTs' interval is too long"


# ---- shared model instances ----------------------------------------------------------------------------------

_MODELS_LOCK = threading.Lock()
_CATALOGS: dict[int, tuple[weakref.ref, PredictionCatalog]] = {}


def prediction_catalog(models) -> PredictionCatalog:
    """The demo's events and markets over `models`' market and option chain (one per DemoApi models, cached)."""
    market, options = models.market, models.options
    with _MODELS_LOCK:
        entry = _CATALOGS.get(id(market))
        if entry is not None and entry[0]() is market and entry[1].options is options:
            return entry[1]
        catalog = PredictionCatalog(market, options)
        _CATALOGS[id(market)] = (weakref.ref(market), catalog)
        for key, (ref, _) in list(_CATALOGS.items()):
            if ref() is None:
                del _CATALOGS[key]
        return catalog


def prediction_model(models) -> PredictionMarketModel:
    """The report's market ("Will Bitcoin reach $100,000 in January 2026?"): one rung of January 2026's ladder."""
    return prediction_catalog(models).market_by_slug(DEMO_MARKET.slug)


# ---- Polymarket ----------------------------------------------------------------------------------------------


def _gamma_error(message: str) -> Response:
    return 422, _json({"type": "validation error", "error": message})


def _bool_param(raw: str) -> bool | None:
    return {"true": True, "false": False}.get(raw.lower())


class _Refused(Exception):
    def __init__(self, response: Response):
        self.response = response


def _listing_params(params: dict[str, str]) -> tuple[dict[str, bool], int, int]:
    """closed/active filters and limit/offset. Gamma lists open markets unless asked for closed ones (closed=true):
    a resolved market disappears from a plain query by slug (the live trap of issue 12)."""
    filters: dict[str, bool] = {"closed": False}
    for key in ("closed", "active"):
        if key in params:
            value = _bool_param(params[key])
            if value is None:
                raise _Refused(_gamma_error(f"invalid {key}: must be true or false"))
            filters[key] = value
    numbers = {}
    for key, default in (("limit", 500), ("offset", 0)):
        raw = params.get(key, str(default))
        if not raw.isdigit():
            raise _Refused(_gamma_error(f"invalid {key}: must be a non-negative integer"))
        numbers[key] = int(raw)
    return filters, numbers["limit"], numbers["offset"]


def _candidates(catalog: PredictionCatalog, params: dict[str, str], now: dt.datetime) -> list[PredictionMarketModel]:
    """The markets a query can match: by slug when given (cheap), else every listed market."""
    if "slug" in params:
        model = catalog.market_by_slug(params["slug"])
        return [model] if model is not None else []
    return [m for event in catalog.events_listed(now) for m in event.markets]


def _gamma_listing(handler):
    """A Gamma listing endpoint: `handler(params, now, catalog, filters, limit, offset)` after the shared params are
    read (a bad one answers Gamma's 422 error)."""
    def endpoint(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
        try:
            filters, limit, offset = _listing_params(params)
        except _Refused as refused:
            return refused.response
        return handler(params, _naive_utc(now), prediction_catalog(models), filters, limit, offset)

    endpoint.__doc__ = handler.__doc__
    return endpoint


@_gamma_listing
def gamma_markets(params: dict[str, str], now: dt.datetime, catalog: PredictionCatalog, filters: dict[str, bool],
                  limit: int, offset: int) -> Response:
    """GET gamma-api /markets: a plain array of market objects, filtered like the real query parameters."""
    markets = []
    for model in _candidates(catalog, params, now):
        ident = model.identity
        if "id" in params and params["id"] != ident.market_id:
            continue
        if "condition_ids" in params and ident.condition_id not in params["condition_ids"].split(","):
            continue
        if "clob_token_ids" in params and not set(params["clob_token_ids"].split(",")) & {ident.yes_token_id,
                                                                                           ident.no_token_id}:
            continue
        market = model.gamma_market(now)
        if market is None or any(market[key] is not value for key, value in filters.items()):
            continue
        markets.append(market)
    return 200, _json(markets[offset: offset + limit])


@_gamma_listing
def gamma_events(params: dict[str, str], now: dt.datetime, catalog: PredictionCatalog, filters: dict[str, bool],
                 limit: int, offset: int) -> Response:
    """GET gamma-api /events: a plain array of events, each with its markets nested (`markets[]`, market objects
    without their own `events`). An event is closed once every market of it is."""
    if "slug" in params:
        found = catalog.event_by_slug(params["slug"])
        events = [found] if found is not None else []
    else:
        events = catalog.events_listed(now)
    out = []
    for event in events:
        if "id" in params and params["id"] != event.event_id:
            continue
        markets = [m for m in (model.gamma_market(now) for model in event.markets) if m is not None]
        if not markets:
            continue  # not listed yet
        body = event_object(event, markets, now)
        if any(body[key] is not value for key, value in filters.items()):
            continue
        out.append(body)
    return 200, _json(out[offset: offset + limit])


def event_object(event, markets: list[dict], now: dt.datetime) -> dict:
    """The Gamma event: the first market's `events[0]` with the ladder's own totals and its markets nested."""
    head = dict(markets[0]["events"][0])
    closed = all(m["closed"] for m in markets)
    head.update({
        "closed": closed,
        "volume": round(sum(m["volumeNum"] for m in markets), 6),
        "liquidity": round(sum(m.get("liquidityNum", 0.0) for m in markets), 4),
        "markets": [{k: v for k, v in m.items() if k != "events"} for m in markets],
    })
    return head


def _clob_error(message: str) -> Response:
    return 400, _json({"error": message})


def clob_prices_history(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    """GET clob /prices-history: {"history": [{"t": unix s, "p": price}]} for one outcome token."""
    now = _naive_utc(now)
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
        model = prediction_catalog(models).market_by_token(token, now)
        if span is None and model is not None and model.is_closed(now_s) and \
                fidelity < CLOB_RESOLVED_MAX_FIDELITY_EMPTY:
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
        if end_s - start_s > PRICE_HISTORY_MAX_WINDOW_S:
            return _clob_error(CLOB_WINDOW_TOO_LONG)
    model = prediction_catalog(models).market_by_token(token, now)
    if model is None:
        return 200, _json({"history": []})  # an unknown token has no history (as the CLOB answers)
    lo = max(start_s, model.trading_start_s)
    hi = min(end_s, now_s)
    if hi >= lo and (hi - lo) // (fidelity * 60) + 1 > CLOB_MAX_POINTS:
        return _clob_error("invalid filters: the window is too long for this fidelity")
    return 200, _json({"history": model.history(token, start_s, end_s, fidelity, now_s)})


ROUTES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"/markets"), gamma_markets),
    (re.compile(r"/events"), gamma_events),
    (re.compile(r"/prices-history"), clob_prices_history),
]
