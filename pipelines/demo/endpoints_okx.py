"""Demo endpoints of OKX's liquidation orders and open-interest history, on the real API's wire format, answered
from DerivativesModel.

OKX `/api/v5/public/liquidation-orders`: code envelope (HTTP 200 with a non-zero code on errors), details newest
first, <= 100 per page, `after`/`before` paging. Like the real feed it rolls off: only the last
`LIQUIDATION_RETENTION_MS` is served, and of that only the newest `LIQUIDATION_ROW_CAP` details, so a walk past the
cap comes back empty. A nightly fetch therefore loses the first half hour of its day and, on a cascade day, every
order past the cap: only frequent polls (pipelines/polling) keep the whole day.

OKX `/api/v5/rubik/stat/contracts/open-interest-history`: rows [ts, oi (contracts), oiCcy (BTC), oiUsd] as strings,
newest first, at most `limit` (<= 100) ending at `end`; periods of a day or more are cut at 00:00 UTC+8 (16:00 UTC),
as OKX cuts its daily bars. The live depth is undocumented and shallow (sources.md §2.5); the demo serves the last
`OI_HISTORY_MS` and nothing older.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from pipelines.demo.derivatives import MS_PER_DAY, date_of_ms, day_ms
from pipelines.demo.endpoints_derivatives import MS_PER_HOUR, Response, _json, _now_ms, _trim, derivatives_model

OKX_INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
# OKX serves "liquidation orders in the last day", and a public probe (sources.md §2.5) got about 1003 details
# covering about 23.5 h for BTC-USDT: a day's window and a cap of about a thousand rows, whichever bites first.
# Demo days hold 61-1558 OKX liquidations over 2025-10-01 … 2025-11-21 (cascade days > 1000, at most ~550 in one
# hour), so the cap truncates a nightly fetch on cascade days and never an hourly poll.
LIQUIDATION_RETENTION_MS = 24 * MS_PER_HOUR
LIQUIDATION_ROW_CAP = 1000


def _okx_error(code: str, msg: str) -> Response:
    return 200, _json({"code": code, "msg": msg, "data": []})


def _cap_start(model, now_ms: int) -> int:
    """The ts of the oldest detail still served at `now_ms` under the row cap (events are unique per ms), or -1
    when the last day holds fewer details than the cap."""
    stamps: list[np.ndarray] = []
    kept = 0
    day = date_of_ms(now_ms)
    while kept < LIQUIDATION_ROW_CAP and day_ms(day) + MS_PER_DAY > now_ms - LIQUIDATION_RETENTION_MS:
        ts = model.liquidation_events(day).ts
        ts = ts[(ts <= now_ms) & (ts > now_ms - LIQUIDATION_RETENTION_MS)]
        stamps.append(ts)
        kept += len(ts)
        day -= dt.timedelta(days=1)
    if kept < LIQUIDATION_ROW_CAP:
        return -1
    newest_first = np.sort(np.concatenate(stamps))[::-1]
    return int(newest_first[LIQUIDATION_ROW_CAP - 1])


def okx_liquidation_orders(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    inst_type = params.get("instType")
    if not inst_type:
        return _okx_error("50014", "Parameter instType can not be empty")
    if inst_type not in OKX_INST_TYPES:
        return _okx_error("51000", "Parameter instType error")
    family = params.get("instFamily") or params.get("uly")
    if inst_type in ("SWAP", "FUTURES") and not family:
        return _okx_error("50015", "Either parameter uly or instFamily is required")
    state = params.get("state", "unfilled")
    if state not in ("unfilled", "filled"):
        return _okx_error("51000", "Parameter state error")
    limit_raw = params.get("limit", "100")
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= 100:
        return _okx_error("51000", "Parameter limit error")
    bounds = {}
    for name in ("after", "before"):
        raw = params.get(name)
        if raw is not None:
            if not raw.isdigit():
                return _okx_error("51000", f"Parameter {name} error")
            bounds[name] = int(raw)
    # The demo lists the BTC-USDT swap only; its pending (unfilled) liquidations are never caught mid-way.
    if inst_type != "SWAP" or family != "BTC-USDT" or state != "filled":
        return 200, _json({"code": "0", "msg": "", "data": []})

    model = derivatives_model(models)
    now_ms = _now_ms(now)
    newest = min(now_ms, bounds.get("after", now_ms + 1) - 1)
    served_from = max(now_ms - LIQUIDATION_RETENTION_MS + 1, day_ms(model.params.okx_first_day),
                      _cap_start(model, now_ms))
    oldest = max(served_from, bounds.get("before", -1) + 1)
    picked: list[tuple] = []
    day = date_of_ms(newest) if newest >= oldest else None
    limit = int(limit_raw)
    while day is not None and len(picked) < limit and day_ms(day) + MS_PER_DAY > oldest:
        ev = model.liquidation_events(day)
        keep = np.nonzero((ev.ts >= oldest) & (ev.ts <= newest))[0][::-1][: limit - len(picked)]
        picked.extend((ev.ts[i], ev.sell[i], ev.contracts[i], ev.bk_px[i], ev.loss[i]) for i in keep)
        day -= dt.timedelta(days=1)
    if not picked:
        return 200, _json({"code": "0", "msg": "", "data": []})
    details = [
        {
            "bkLoss": _trim(float(loss), 4),
            "bkPx": f"{float(px):.1f}",
            "ccy": "",
            "posSide": "long" if sell else "short",
            "side": "sell" if sell else "buy",
            "sz": _trim(float(size), 2),
            "ts": str(int(ts)),
        }
        for ts, sell, size, px, loss in picked
    ]
    entry = {
        "details": details,
        "instFamily": "BTC-USDT",
        "instId": "BTC-USDT-SWAP",
        "instType": "SWAP",
        "totalLoss": _trim(float(sum(p[4] for p in picked)), 4),
        "uly": "BTC-USDT",
    }
    return 200, _json({"code": "0", "msg": "", "data": [entry]})


OI_PERIODS = {"5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1H": MS_PER_HOUR, "2H": 2 * MS_PER_HOUR,
              "4H": 4 * MS_PER_HOUR, "6H": 6 * MS_PER_HOUR, "12H": 12 * MS_PER_HOUR, "1D": MS_PER_DAY}
OI_MAX_LIMIT = 100
OI_HISTORY_MS = 30 * MS_PER_DAY
OI_CONTRACT_BTC = 0.01  # BTC-USDT-SWAP ctVal
_HONG_KONG_OFFSET_MS = 8 * MS_PER_HOUR


def okx_open_interest_history(path_match: re.Match, params: dict[str, str], now: dt.datetime, models) -> Response:
    inst_id = params.get("instId")
    if not inst_id:
        return _okx_error("50014", "Parameter instId can not be empty")
    if inst_id != "BTC-USDT-SWAP":
        return _okx_error("51001", "Instrument ID does not exist")
    step = OI_PERIODS.get(params.get("period", "5m"))
    if step is None:
        return _okx_error("51000", "Parameter period error")
    limit_raw = params.get("limit", str(OI_MAX_LIMIT))
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= OI_MAX_LIMIT:
        return _okx_error("51000", "Parameter limit error")
    bounds = {}
    for name in ("begin", "end"):
        raw = params.get(name)
        if raw is not None:
            if not raw.isdigit():
                return _okx_error("51000", f"Parameter {name} error")
            bounds[name] = int(raw)
    model = derivatives_model(models)
    now_ms = _now_ms(now)
    offset = -_HONG_KONG_OFFSET_MS if step >= MS_PER_DAY else 0
    lo = max(bounds.get("begin", 0), now_ms - OI_HISTORY_MS, day_ms(model.params.okx_first_day))
    hi = min(bounds.get("end", now_ms), now_ms)
    first = -(-(lo - offset) // step) * step + offset
    last = (hi - offset) // step * step + offset
    stamps = list(range(last, max(first, last - (int(limit_raw) - 1) * step) - 1, -step)) if last >= first else []
    rows = []
    for ts in stamps:
        btc, price = model.venue_open_interest("okx", ts)
        contracts = round(btc / OI_CONTRACT_BTC)
        coins = round(contracts * OI_CONTRACT_BTC, 2)
        rows.append([str(ts), str(contracts), f"{coins:.2f}", f"{coins * price:.2f}"])
    return 200, _json({"code": "0", "msg": "", "data": rows})


ROUTES: list = [
    (re.compile(r"/api/v5/public/liquidation-orders"), okx_liquidation_orders),
    (re.compile(r"/api/v5/rubik/stat/contracts/open-interest-history"), okx_open_interest_history),
]
