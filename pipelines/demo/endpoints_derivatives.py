"""Demo endpoints of the derivatives datasets, on the real APIs' wire formats, answered from DerivativesModel.

- Binance `/fapi/v1/fundingRate`: ascending array, fundingTime with ms jitter, rates and mark prices as strings
  (markPrice "" before 2023-10-31).
- Binance `/futures/data/topLongShortAccountRatio`, `/futures/data/globalLongShortAccountRatio`: ascending
  array, ratios as 4-decimal strings, `timestamp` a number; only the last 30 days are served (an older
  startTime is refused with -1130, as the live API refuses it).
- Binance `/futures/data/topLongShortPositionRatio` (top traders' positions by size),
  `/futures/data/takerlongshortRatio` (taker buy/sell volume of each period, no symbol field; a period still under
  way is served as traded so far) and `/futures/data/openInterestHist` (BTC and USD at each stamp): the same
  family, limits and 30 days.
- Bybit `/v5/market/open-interest`: retCode envelope, list newest first, strings, cursor paging.
(OKX's liquidation orders are in `endpoints_okx`.)

Errors come in each API's own envelope (Binance HTTP 400 {"code","msg"}; Bybit and OKX HTTP 200 with a non-zero
code, as sources.md §6 describes). Nothing after `now` is returned, and a body depends only on (path, params, now).
Each handler has the signature handler(path_match, params, now, models) -> (status, body); `models` is a
pipelines.demo.api.DemoApi (its .market drives the derivatives model).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from pipelines.demo.derivatives import MS_PER_DAY, DerivativesModel, date_of_ms, day_ms
from pipelines.sources.binance_futures import MARK_PRICE_SINCE

Response = tuple[int, bytes]

MS_PER_HOUR = 3_600_000
FUNDING_INTERVAL_MS = 8 * MS_PER_HOUR
BINANCE_RATIO_PERIODS = {
    "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
    "6h": 21_600_000, "12h": 43_200_000, "1d": 86_400_000,
}
BINANCE_RATIO_HISTORY_MS = 30 * MS_PER_DAY  # "Only the data of the latest 30 days is available" (sources.md §2.2)
# The documented limits: fundingRate "Default 100; max 1000"; the futures/data ratios "default 30, max 500".
BINANCE_FUNDING_MAX_LIMIT = 1000
BINANCE_RATIO_MAX_LIMIT = 500
BYBIT_OI_MAX_LIMIT = 200  # "Limit for data size per page. [1, 200]. Default: 50"
BYBIT_INTERVALS = {
    "5min": 300_000, "15min": 900_000, "30min": 1_800_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000,
}


def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _now_ms(now: dt.datetime) -> int:
    if now.tzinfo is not None:
        now = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (now - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1)


def _trim(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


# ---- the model behind a DemoApi ------------------------------------------------------------------------------

_MODELS: OrderedDict[int, tuple[object, DerivativesModel]] = OrderedDict()
_MODELS_LOCK = threading.Lock()


def derivatives_model(models) -> DerivativesModel:
    """The DerivativesModel of `models.market` (DemoApi may carry one as `.derivatives`; else one per market)."""
    own = getattr(models, "derivatives", None)
    if isinstance(own, DerivativesModel):
        return own
    market = models.market
    with _MODELS_LOCK:
        got = _MODELS.get(id(market))
        if got is None or got[0] is not market:
            got = (market, DerivativesModel(market))
            _MODELS[id(market)] = got
            if len(_MODELS) > 8:
                _MODELS.popitem(last=False)
        return got[1]


# ---- Binance ---------------------------------------------------------------------------------------------------

def _binance_error(code: int, msg: str) -> Response:
    return 400, _json({"code": code, "msg": msg})


def _binance_times(params: dict[str, str]) -> dict[str, int] | Response:
    times: dict[str, int] = {}
    for name in ("startTime", "endTime"):
        raw = params.get(name)
        if raw is None:
            continue
        if not re.fullmatch(r"[0-9]{1,20}", raw):
            return _binance_error(
                -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
            )
        times[name] = int(raw)
    if "startTime" in times and "endTime" in times and times["startTime"] > times["endTime"]:
        return _binance_error(-1023, "Start time is greater than end time.")
    return times


def _binance_limit(params: dict[str, str], default: int, maximum: int) -> int | Response:
    raw = params.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        return _binance_error(-1130, "Data sent for parameter 'limit' is not valid.")
    return int(raw)


def _select(slots: list[int], times: dict[str, int], limit: int) -> list[int]:
    """Binance windows: from startTime the first `limit`; else up to endTime (or now) the last `limit`."""
    if "startTime" in times:
        return slots[:limit]
    return slots[-limit:]


def funding_rate(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    symbol = params.get("symbol")
    if symbol is not None and symbol != "BTCUSDT":
        return _binance_error(-1121, "Invalid symbol.")
    times = _binance_times(params)
    if isinstance(times, tuple):
        return times
    limit = _binance_limit(params, 100, BINANCE_FUNDING_MAX_LIMIT)
    if isinstance(limit, tuple):
        return limit
    model = derivatives_model(models)
    now_ms = _now_ms(now)
    first = day_ms(model.params.first_funding_day)
    lo = max(first, times.get("startTime", first))
    hi = min(now_ms, times.get("endTime", now_ms))
    # nominal 8-hour slots whose jittered time (nominal + 0..16 ms) may fall inside [lo, hi]
    k_lo = max(0, -(-(lo - 16 - first) // FUNDING_INTERVAL_MS))
    k_hi = (hi - first) // FUNDING_INTERVAL_MS
    if "startTime" in times:
        k_hi = min(k_hi, k_lo + limit)
    else:
        k_lo = max(k_lo, k_hi - limit)
    rows = []
    for k in range(k_lo, k_hi + 1):
        nominal = first + k * FUNDING_INTERVAL_MS
        day = date_of_ms(nominal)
        raw_ms, rate, mark = model.funding_print(day, (nominal - day_ms(day)) // MS_PER_HOUR)
        if lo <= raw_ms <= hi:
            rows.append({
                "symbol": "BTCUSDT",
                "fundingTime": raw_ms,
                "fundingRate": f"{rate:.8f}",
                "markPrice": f"{mark:.8f}" if day >= MARK_PRICE_SINCE else "",
            })
    return 200, _json(rows[:limit] if "startTime" in times else rows[-limit:])


def _long_short_ratio(retail: bool):
    def row(model: DerivativesModel, ts: int, step: int, now_ms: int) -> dict:
        top, everyone = model.long_account_shares(ts)
        return _share_row(everyone if retail else top, ts)

    return _futures_data(row)


def _share_row(long_share: float, ts: int) -> dict:
    long_share = round(long_share, 4)
    short_share = round(1.0 - long_share, 4)
    return {
        "symbol": "BTCUSDT",
        "longShortRatio": f"{long_share / short_share:.4f}",
        "longAccount": f"{long_share:.4f}",
        "shortAccount": f"{short_share:.4f}",
        "timestamp": ts,
    }


def _position_row(model: DerivativesModel, ts: int, step: int, now_ms: int) -> dict:
    return _share_row(model.top_position_share(ts), ts)


def _taker_row(model: DerivativesModel, ts: int, step: int, now_ms: int) -> dict:
    buy, sell = model.taker_volume(ts, min(ts + step, now_ms))
    buy, sell = round(buy, 3), round(sell, 3)
    return {"buySellRatio": f"{buy / sell:.4f}" if sell else "0", "buyVol": f"{buy:.4f}", "sellVol": f"{sell:.4f}",
            "timestamp": ts}


def _open_interest_row(model: DerivativesModel, ts: int, step: int, now_ms: int) -> dict:
    btc, price = model.venue_open_interest("binance", ts)
    btc = round(btc, 3)
    # Binance writes 8 decimals; the demo's value is exact to the cent (the product's last bits are not reproducible)
    usd = round(btc * price, 2)
    return {"symbol": "BTCUSDT", "sumOpenInterest": f"{btc:.8f}", "sumOpenInterestValue": f"{usd:.8f}", "timestamp": ts}


def _futures_data(row):
    """A /futures/data endpoint: symbol and period required, the documented limits, the last 30 days only; `row`
    gives the answer's row stamped `ts` (the period [ts, ts + step))."""

    def handler(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
        for name in ("symbol", "period"):
            if not params.get(name):
                return _binance_error(
                    -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
                )
        if params["symbol"] != "BTCUSDT":
            return _binance_error(-1121, "Invalid symbol.")
        step = BINANCE_RATIO_PERIODS.get(params["period"])
        if step is None:
            return _binance_error(-1120, "Invalid period.")
        times = _binance_times(params)
        if isinstance(times, tuple):
            return times
        limit = _binance_limit(params, 30, BINANCE_RATIO_MAX_LIMIT)
        if isinstance(limit, tuple):
            return limit
        model = derivatives_model(models)
        now_ms = _now_ms(now)
        if times.get("startTime", now_ms) < now_ms - BINANCE_RATIO_HISTORY_MS:
            # Refused, not clamped, as public probes of the live API measured (now - 30 d answered, now - 35 d
            # refused); the body's keys come in the order they recorded.
            return 400, _json({"msg": "parameter 'startTime' is invalid.", "code": -1130})
        lo = max(now_ms - BINANCE_RATIO_HISTORY_MS, times.get("startTime", 0), day_ms(model.params.first_funding_day))
        hi = min(now_ms, times.get("endTime", now_ms))
        slots = list(range(-(-lo // step) * step, hi + 1, step)) if lo <= hi else []
        return 200, _json([row(model, ts, step, now_ms) for ts in _select(slots, times, limit)])

    return handler


top_trader_long_short_ratio = _long_short_ratio(retail=False)
global_long_short_ratio = _long_short_ratio(retail=True)
top_trader_position_ratio = _futures_data(_position_row)
taker_long_short_ratio = _futures_data(_taker_row)
open_interest_hist = _futures_data(_open_interest_row)


# ---- Bybit -----------------------------------------------------------------------------------------------------

def _bybit(now_ms: int, *, result: object = None, code: int = 0, msg: str = "OK") -> bytes:
    return _json({"retCode": code, "retMsg": msg, "result": result if result is not None else {},
                  "retExtInfo": {}, "time": now_ms})


def _encode_cursor(ts: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:{ts}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    match = re.fullmatch(r"cursor:([0-9]{1,15})", text)
    return int(match.group(1)) if match else None


def bybit_open_interest(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    now_ms = _now_ms(now)

    def error(msg: str) -> Response:
        return 200, _bybit(now_ms, code=10001, msg=msg)

    category = params.get("category")
    if category not in ("linear", "inverse"):
        return error("params error: category only support linear or inverse")
    if params.get("symbol") != "BTCUSDT" or category != "linear":
        return error("params error: symbol invalid")
    step = BYBIT_INTERVALS.get(params.get("intervalTime", ""))
    if step is None:
        return error("params error: intervalTime invalid")
    limit_raw = params.get("limit", "50")
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= BYBIT_OI_MAX_LIMIT:
        return error(f"params error: limit must be in [1, {BYBIT_OI_MAX_LIMIT}]")
    limit = int(limit_raw)
    bounds = {}
    for name in ("startTime", "endTime"):
        raw = params.get(name)
        if raw is not None:
            if not raw.isdigit():
                return error(f"params error: {name} invalid")
            bounds[name] = int(raw)
    model = derivatives_model(models)
    first = day_ms(model.params.bybit_launch)
    lo = max(first, -(-bounds.get("startTime", first) // step) * step)
    hi = min(now_ms, bounds.get("endTime", now_ms)) // step * step
    if "cursor" in params:
        at = _decode_cursor(params["cursor"])
        if at is None:
            return error("params error: cursor invalid")
        hi = min(hi, at)
    stamps = list(range(hi, max(lo, hi - (limit - 1) * step) - 1, -step)) if hi >= lo else []
    rows = [
        {"openInterest": f"{round(model.open_interest_btc(ts), 3):.8f}", "timestamp": str(ts)} for ts in stamps
    ]
    more = bool(stamps) and stamps[-1] - step >= lo
    result = {
        "symbol": "BTCUSDT",
        "category": "linear",
        "list": rows,
        "nextPageCursor": _encode_cursor(stamps[-1] - step) if more else "",
    }
    return 200, _bybit(now_ms, result=result)


Handler = Callable[[re.Match, dict[str, str], dt.datetime, object], Response]

ROUTES: list[tuple[re.Pattern, Handler]] = [
    (re.compile(r"/fapi/v1/fundingRate"), funding_rate),
    (re.compile(r"/futures/data/topLongShortAccountRatio"), top_trader_long_short_ratio),
    (re.compile(r"/futures/data/globalLongShortAccountRatio"), global_long_short_ratio),
    (re.compile(r"/futures/data/topLongShortPositionRatio"), top_trader_position_ratio),
    (re.compile(r"/futures/data/takerlongshortRatio"), taker_long_short_ratio),
    (re.compile(r"/futures/data/openInterestHist"), open_interest_hist),
    (re.compile(r"/v5/market/open-interest"), bybit_open_interest),
]
