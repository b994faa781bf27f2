"""Helpers shared by the source parsers: decode a body strictly and read typed values from it.

Every helper raises the `ParseError` built by a `Failer`, so each message names source, dataset, day and
the reason. Only stdlib + pyarrow: parsers stay pure functions of (body, day, fetched_at).

Number policy. String-encoded numbers (Binance) are read with `float(str)` after a strict decimal-syntax
check, not with `Decimal`: the raw columns are FLOAT64, and CPython's `float()` of a decimal string is
correctly rounded (it returns the nearest double), so `float(Decimal(s)) == float(s)` for every input and
`Decimal` would only add a slower intermediate step. JSON numbers (Coinbase Exchange, mempool, Deribit)
are already binary doubles when the API writes them. NaN/Infinity literals and overflowing numbers
(1e999) are rejected, never stored.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any, NoReturn

from pipelines.ingest.errors import ParseError

EPOCH = dt.datetime(1970, 1, 1)
MS_PER_DAY = 86_400_000
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class Failer:
    """Builds ParseErrors for one (source, dataset, day)."""

    def __init__(self, source: str, dataset: str, day: dt.date):
        self.source, self.dataset, self.day = source, dataset, day

    def __call__(self, reason: str) -> ParseError:
        return ParseError(self.source, self.dataset, self.day, reason)

    def raise_(self, reason: str) -> NoReturn:
        raise self(reason)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in JSON")


def decode_json(body: bytes, fail: Failer) -> Any:
    """The body as JSON, or a ParseError saying why it is not (empty, HTML page, not UTF-8, invalid, NaN)."""
    if not isinstance(body, (bytes, bytearray)):
        fail.raise_(f"body must be bytes, got {type(body).__name__}")
    stripped = bytes(body).strip()
    if not stripped:
        fail.raise_("empty body (expected JSON)")
    if stripped[:1] == b"<":
        snippet = stripped[:60].decode("utf-8", "replace")
        fail.raise_(f"HTML page instead of JSON (body starts {snippet!r})")
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail.raise_(f"body is not UTF-8 text: {exc}")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        fail.raise_(f"invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}; {len(stripped)} bytes)")
    except ValueError as exc:  # from _reject_constant
        fail.raise_(str(exc))


def need(obj: dict, key: str, fail: Failer, where: str) -> Any:
    """obj[key], or a ParseError 'missing field'."""
    if key not in obj:
        fail.raise_(f"missing field {key!r} in {where}")
    return obj[key]


def json_float(value: Any, field: str, fail: Failer, *, nullable: bool = False) -> float | None:
    """A JSON number (int or float, not bool) as a finite float; None only if nullable."""
    if value is None:
        if nullable:
            return None
        fail.raise_(f"field {field} is null")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail.raise_(f"field {field} must be a JSON number, got {type(value).__name__} {value!r}")
    result = float(value)
    if not math.isfinite(result):
        fail.raise_(f"field {field} is not finite ({value!r})")
    return result


def json_int(value: Any, field: str, fail: Failer) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        fail.raise_(f"field {field} must be a JSON integer, got {type(value).__name__} {value!r}")
    return value


def json_str(value: Any, field: str, fail: Failer) -> str:
    if not isinstance(value, str) or not value:
        fail.raise_(f"field {field} must be a non-empty string, got {value!r}")
    return value


def decimal_str_float(value: Any, field: str, fail: Failer) -> float:
    """A string-encoded decimal ("50441.91000000") as a finite float (see the module note on Decimal)."""
    if not isinstance(value, str):
        fail.raise_(f"field {field} must be a decimal string, got {type(value).__name__} {value!r}")
    if not _DECIMAL.fullmatch(value):
        fail.raise_(f"field {field} is not a decimal number: {value!r}")
    result = float(value)
    if not math.isfinite(result):
        fail.raise_(f"field {field} is not finite ({value!r})")
    return result


def day_start_ms(day: dt.date) -> int:
    return (day - EPOCH.date()).days * MS_PER_DAY


def daily_window_ms(first: dt.date, last: dt.date) -> tuple[int, int, int]:
    """The window of the days first … last in ms, [first 00:00, last 23:59:59.999] (both ends included, so the day
    after's 00:00 is out), and how many days' 00:00 stamps it holds, counted as APIs counting both ends count."""
    start_ms, end_ms = day_start_ms(first), day_start_ms(last) + MS_PER_DAY - 1
    return start_ms, end_ms, end_ms // MS_PER_DAY - -(-start_ms // MS_PER_DAY) + 1


def epoch_ms(moment: dt.datetime) -> int:
    """Milliseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


def iso_ms(ms: int) -> str:
    """A ms timestamp for error messages."""
    return (EPOCH + dt.timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"
