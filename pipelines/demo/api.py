"""The demo APIs on the wire: request (url, params, now) in, (HTTP status, exact body bytes) out.

Routes on the URL path like a mock server (the host is ignored, so the same object can later be served on
127.0.0.1): Binance `/api/v3/klines`, Coinbase Exchange `/products/{id}/candles`, mempool.space
`/api/v1/mining/hashrate/{period}`, Deribit `/api/v2/public/get_book_summary_by_currency`. Each honours its
params the way the real API does (windows, limits, periods, filters) and answers errors in the API's own
envelope. Nothing after `now` is ever returned; an open candle is returned as the real API returns it.
Bodies are compact JSON built only from the models, so the same (url, params, now) gives the same bytes.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import json
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from pipelines.demo.market import DAY_S, Candle, MarketModel
from pipelines.demo.mining import MiningModel
from pipelines.demo.ether import ETH_OPTIONS, EtherMarket
from pipelines.demo.options import OptionChainModel
from pipelines.demo.seeds import rng

Response = tuple[int, bytes]

BINANCE_INTERVALS = {
    "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200, "4h": 14400,
    "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400,
}  # 3d / 1w / 1M are not simulated (the demo cuts candles within a UTC day)
COINBASE_GRANULARITIES = (60, 300, 900, 3600, 21600, 86400)
# "The maximum number of data points for a single request is 300 candles" (Coinbase Exchange, Get product candles);
# the buckets are counted from start's to end's, both included (see pipelines/sources/coinbase.py).
COINBASE_MAX_CANDLES = 300
COINBASE_TOO_MANY = (
    "granularity too small for the requested time range. Count of aggregations requested exceeds 300"
)
# Binance spot klines: "limit INT NO Default: 500; Maximum: 1000" (binance-spot-api-docs rest-api.md); a larger
# limit is refused with -1130 INVALID_PARAMETER "Data sent for parameter '%s' is not valid." (errors.md).
BINANCE_KLINES_MAX_LIMIT = 1000
# mempool's Common.getSqlInterval: anything else means "no filter" (all data).
MEMPOOL_PERIODS = {
    "24h": ("days", 1), "3d": ("days", 3), "1w": ("days", 7), "1m": ("months", 1), "3m": ("months", 3),
    "6m": ("months", 6), "1y": ("months", 12), "2y": ("months", 24), "3y": ("months", 36), "4y": ("months", 48),
}
DERIBIT_CURRENCIES = ("BTC", "ETH", "USDC", "USDT", "EURR", "any")
DERIBIT_KINDS = ("future", "option", "spot", "future_combo", "option_combo")

_COINBASE_PATH = re.compile(r"/products/([^/]+)/candles")
_MEMPOOL_PATH = re.compile(r"/api/v1/mining/hashrate/([^/]+)")


def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _utc(now: dt.datetime) -> dt.datetime:
    """`now` as a naive UTC datetime (a naive input is taken as UTC)."""
    if now.tzinfo is not None:
        now = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return now


def _epoch_ms(now: dt.datetime) -> int:
    return (now - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1)


def _months_before(moment: dt.datetime, months: int) -> dt.datetime:
    m = moment.month - 1 - months
    year, month = moment.year + m // 12, m % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def extra_routes() -> list:
    """Endpoints of the dataset families beyond the first four, each in its own module (pipelines/demo/endpoints_*)."""
    from pipelines.demo.routes import ROUTES

    return ROUTES


@functools.lru_cache(maxsize=1)
def _shared_models() -> tuple[MarketModel, MiningModel, OptionChainModel, OptionChainModel]:
    market = MarketModel()
    return market, MiningModel(), OptionChainModel(market), OptionChainModel(EtherMarket(market), ETH_OPTIONS)


class DemoApi:
    """The simulated public APIs. Models default to process-wide shared instances (their caches are shared)."""

    def __init__(
        self,
        market: MarketModel | None = None,
        mining: MiningModel | None = None,
        options: OptionChainModel | None = None,
        eth_options: OptionChainModel | None = None,
    ):
        if market is None and mining is None and options is None and eth_options is None:
            market, mining, options, eth_options = _shared_models()
        self.market = market or MarketModel()
        self.mining = mining or MiningModel()
        self.options = options or OptionChainModel(self.market)
        self.eth_options = eth_options or OptionChainModel(EtherMarket(self.market), ETH_OPTIONS)

    def option_chains(self, currency: str) -> list[OptionChainModel]:
        """The demo's option chains a Deribit `currency` parameter asks for (BTC, ETH, both for "any")."""
        return [chain for chain in (self.options, self.eth_options) if currency in (chain.params.currency, "any")]

    def respond(self, url: str, params: Mapping[str, str], now: dt.datetime) -> Response:
        parts = urlsplit(url)
        merged = dict(parse_qsl(parts.query, keep_blank_values=True))
        merged.update(params or {})
        path = parts.path.rstrip("/") or "/"
        now = _utc(now)
        if path == "/api/v3/klines":
            return self._binance_klines(merged, now)
        if match := _COINBASE_PATH.fullmatch(path):
            return self._coinbase_candles(match.group(1), merged, now)
        if match := _MEMPOOL_PATH.fullmatch(path):
            return self._mempool_hashrate(match.group(1), now)
        if path == "/api/v2/public/get_book_summary_by_currency":
            return self._deribit_book_summary(merged, now)
        for pattern, handler in extra_routes():
            if match := pattern.fullmatch(path):
                return handler(match, merged, now, self)
        return self._not_found(path, now)

    # ---- errors ---------------------------------------------------------------------------------------
    def _not_found(self, path: str, now: dt.datetime) -> Response:
        if path.startswith("/api/v3/"):
            return 404, _json({"code": -5000, "msg": f"Path {path}, Method GET is invalid"})
        if path.startswith("/api/v2/"):
            return 404, self._deribit_envelope(now, error={"message": "Method not found", "code": -32601})
        if path.startswith("/products"):
            return 404, _json({"message": "NotFound"})
        return 404, _json({"error": "Not Found", "path": path})

    @staticmethod
    def _binance_error(code: int, msg: str) -> Response:
        return 400, _json({"code": code, "msg": msg})

    # ---- Binance --------------------------------------------------------------------------------------
    def _binance_klines(self, params: dict[str, str], now: dt.datetime) -> Response:
        for name in ("symbol", "interval"):
            if not params.get(name):
                return self._binance_error(
                    -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
                )
        if params["symbol"] != "BTCUSDT":
            return self._binance_error(-1121, "Invalid symbol.")
        interval_s = BINANCE_INTERVALS.get(params["interval"])
        if interval_s is None:
            return self._binance_error(-1120, "Invalid interval.")
        limit_raw = params.get("limit", "500")
        if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= BINANCE_KLINES_MAX_LIMIT:
            return self._binance_error(-1130, "Data sent for parameter 'limit' is not valid.")
        limit = int(limit_raw)
        times = {}
        for name in ("startTime", "endTime"):
            raw = params.get(name)
            if raw is None:
                continue
            if not re.fullmatch(r"[0-9]{1,20}", raw):
                return self._binance_error(
                    -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
                )
            times[name] = int(raw)
        if "startTime" in times and "endTime" in times and times["startTime"] > times["endTime"]:
            return self._binance_error(-1023, "Start time is greater than end time.")

        now_ms = _epoch_ms(now)
        interval_ms = interval_s * 1000
        first_open = _epoch_ms(dt.datetime.combine(self.market.params.first_day, dt.time()))
        latest_open = (now_ms - 1) // interval_ms * interval_ms  # the candle trading at `now`
        if "endTime" in times:
            latest_open = min(latest_open, times["endTime"] // interval_ms * interval_ms)
        if "startTime" in times:
            start = max(first_open, -(-times["startTime"] // interval_ms) * interval_ms)
            opens = range(start, min(latest_open, start + (limit - 1) * interval_ms) + 1, interval_ms)
        else:
            start = max(first_open, latest_open - (limit - 1) * interval_ms)
            opens = range(start, latest_open + 1, interval_ms)
        rows = []
        now_s = now_ms // 1000
        for open_ms in opens:
            candle = self.market.candle("binance", open_ms // 1000, interval_s, now_s)
            if candle is not None:
                rows.append(_binance_row(candle))
        return 200, _json(rows)

    # ---- Coinbase Exchange ----------------------------------------------------------------------------
    def _coinbase_candles(self, product: str, params: dict[str, str], now: dt.datetime) -> Response:
        if product != "BTC-USD":
            return 404, _json({"message": "NotFound"})
        try:
            granularity = int(params.get("granularity", ""))
        except ValueError:
            granularity = 0
        if granularity not in COINBASE_GRANULARITIES:
            return 400, _json({"message": "Unsupported granularity"})
        now_s = _epoch_ms(now) // 1000
        start_raw, end_raw = params.get("start"), params.get("end")
        if start_raw and end_raw:  # if either is missing both are ignored
            try:
                start_s, end_s = _coinbase_time(start_raw), _coinbase_time(end_raw)
            except ValueError:
                return 400, _json({"message": "Invalid start or end: use ISO 8601 or unix seconds"})
            if start_s > end_s:
                return 400, _json({"message": "start must be before end"})
            # Counted as Coinbase counts: every bucket from start's to end's, both ends included (a bucket opening
            # exactly at `end` is served below, so it counts).
            if end_s // granularity - start_s // granularity + 1 > COINBASE_MAX_CANDLES:
                return 400, _json({"message": COINBASE_TOO_MANY})
        else:  # the 300 most recent buckets, the one trading now included
            end_s = (now_s - 1) // granularity * granularity
            start_s = end_s - (COINBASE_MAX_CANDLES - 1) * granularity
        first_open = (self.market.params.first_day - dt.date(1970, 1, 1)).days * DAY_S
        bucket = max(start_s // granularity * granularity, first_open)  # the bucket holding `start` is included
        rows = []
        while bucket <= min(end_s, now_s - 1):
            candle = self.market.candle("coinbase", bucket, granularity, now_s)
            if candle is not None:
                rows.append(
                    [candle.open_s, candle.low, candle.high, candle.open, candle.close, round(candle.volume, 8)]
                )
            bucket += granularity
        rows.reverse()  # newest first
        return 200, _json(rows)

    # ---- mempool.space --------------------------------------------------------------------------------
    def _mempool_hashrate(self, period: str, now: dt.datetime) -> Response:
        mining = self.mining
        genesis = mining.params.genesis_date
        now_s = _epoch_ms(now) // 1000
        if now.date() <= genesis:
            return 200, _json({"hashrates": [], "difficulty": [], "currentHashrate": 0, "currentDifficulty": 0})
        spec = MEMPOOL_PERIODS.get(period)
        if spec is None:
            since = dt.datetime.combine(genesis, dt.time())
        elif spec[0] == "days":
            since = now - dt.timedelta(days=spec[1])
        else:
            since = _months_before(now, spec[1])
        since_s = _epoch_ms(since) // 1000
        hashrates = []
        day = max(genesis, since.date() - dt.timedelta(days=1))
        last_day = now.date() - dt.timedelta(days=1)  # the newest complete day (labelled today 00:00)
        while day <= last_day:
            label = (day - dt.date(1970, 1, 1)).days * DAY_S + DAY_S
            if since_s <= label <= now_s:
                hashrates.append({"timestamp": label, "avgHashrate": mining.observed_hashrate(day)})
            day += dt.timedelta(days=1)
        difficulty = [
            {"time": a.time, "height": a.height, "difficulty": a.difficulty, "adjustment": round(a.adjustment, 6)}
            for a in mining.adjustments_between(since_s, now_s)
        ]
        body = {
            "hashrates": hashrates,
            "difficulty": difficulty,
            "currentHashrate": mining.current_hashrate(now_s),
            "currentDifficulty": mining.current_difficulty(now_s),
        }
        return 200, _json(body)

    # ---- Deribit --------------------------------------------------------------------------------------
    def _deribit_envelope(self, now: dt.datetime, *, result: object = None, error: dict | None = None) -> bytes:
        us_out = _epoch_ms(now) * 1000
        us_diff = int(rng("demo-deribit/latency", now.date(), now.isoformat()).integers(900, 3500))
        body: dict[str, object] = {"jsonrpc": "2.0"}
        if error is not None:
            body["error"] = error
        else:
            body["result"] = result
        body.update({"usIn": us_out - us_diff, "usOut": us_out, "usDiff": us_diff, "testnet": False})
        return _json(body)

    def _deribit_book_summary(self, params: dict[str, str], now: dt.datetime) -> Response:
        currency, kind = params.get("currency"), params.get("kind")
        if not currency:
            reason = {"reason": "required", "param": "currency"}
        elif currency not in DERIBIT_CURRENCIES:
            reason = {"reason": f"must be one of the following: {', '.join(DERIBIT_CURRENCIES)}", "param": "currency"}
        elif kind is not None and kind not in DERIBIT_KINDS:
            reason = {"reason": f"must be one of the following: {', '.join(DERIBIT_KINDS)}", "param": "kind"}
        else:
            reason = None
        if reason is not None:
            error = {"message": "Invalid params", "data": reason, "code": -32602}
            return 400, self._deribit_envelope(now, error=error)
        rows: list[dict] = []
        # The demo lists BTC and ETH options only: other currencies and kinds answer an empty result.
        if kind in (None, "option") and now.date() > self.market.params.first_day:
            rows = [row for chain in self.option_chains(currency) for row in chain.chain(now)]
        return 200, self._deribit_envelope(now, result=rows)


def _binance_row(c: Candle) -> list:
    open_ms = c.open_s * 1000
    return [
        open_ms,
        f"{c.open:.8f}",
        f"{c.high:.8f}",
        f"{c.low:.8f}",
        f"{c.close:.8f}",
        f"{round(c.volume, 5):.8f}",  # BTC quantity step 0.00001
        open_ms + c.interval_s * 1000 - 1,
        f"{c.quote_volume:.8f}",
        c.trades,
        f"{round(c.taker_buy_base, 5):.8f}",
        f"{c.taker_buy_quote:.8f}",
        "0",
    ]


def _coinbase_time(raw: str) -> int:
    """Unix seconds from ISO 8601 (with Z or offset; naive taken as UTC) or from a unix-seconds string."""
    if re.fullmatch(r"[0-9]{1,12}", raw):
        return int(raw)
    moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return _epoch_ms(_utc(moment)) // 1000
