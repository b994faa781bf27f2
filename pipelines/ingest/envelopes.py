"""Errors hidden inside HTTP 200 bodies.

Several APIs answer a failed call with HTTP 200 and an error envelope (../shared/docs/sources.md §6):
OKX `code != "0"`, Bybit `retCode != 0`, Deribit an `error` object, Kraken a non-empty `error[]`,
blockchain.com `status != "ok"`. Any source can also hand back an HTML page (a CDN challenge, a
maintenance page) or a broken body where JSON was expected. The status code alone therefore cannot say
whether a body is data; these pure functions look at the payload.

`classify_envelope` also says whether the problem is worth retrying: only rate-limit (and documented
"server busy, try again") codes are, because every other envelope error (a missing parameter, an unknown
symbol) comes back identical on every attempt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Rate-limit envelope codes, plus the few codes the exchanges document as "busy, try again later".
OKX_RETRYABLE_CODES = frozenset(
    {
        "50011",  # rate limit reached / Too Many Requests
        "50001",  # service temporarily unavailable, try again later
        "50013",  # systems are busy, try again later
    }
)
BYBIT_RETRYABLE_CODES = frozenset(
    {
        10006,  # Too many visits (API rate limit)
        10018,  # exceeded the IP rate limit
    }
)
DERIBIT_RETRYABLE_CODES = frozenset(
    {
        10028,  # too_many_requests
        10040,  # retry: "request can't be processed right now and should be retried"
    }
)
KRAKEN_RETRYABLE_ERRORS = frozenset(
    {
        "EGeneral:Too many requests",
        "EAPI:Rate limit exceeded",
        "EService:Unavailable",
        "EService:Busy",
    }
)
BINANCE_RETRYABLE_CODES = frozenset({-1003})  # TOO_MANY_REQUESTS (normally sent with HTTP 429, not 200)

_MAX_REASON = 300  # reasons end up in exception messages and logs: keep them one readable line
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class EnvelopeProblem:
    """An error found in a 200 body: a one-line reason, and whether asking again may help."""

    reason: str
    retryable: bool


def envelope_error(source: str, body: bytes, *, expect_json: bool = True) -> str | None:
    """The reason a 200 body of `source` is an error rather than data, or None if it looks like data.

    `expect_json=False` is for datasets that are not JSON (CSV, zip files): only the HTML check applies.
    """
    problem = classify_envelope(source, body, expect_json=expect_json)
    return None if problem is None else problem.reason


def classify_envelope(source: str, body: bytes, *, expect_json: bool = True) -> EnvelopeProblem | None:
    """Like `envelope_error`, with the retryable flag. Never raises, whatever the bytes."""
    stripped = body.removeprefix(_UTF8_BOM).lstrip()
    # JSON never starts with "<": a leading "<" is an HTML (or XML) page, whatever Content-Type claimed.
    if stripped.startswith(b"<"):
        return EnvelopeProblem(_html_reason(stripped), retryable=False)
    if not expect_json:
        return None
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return EnvelopeProblem(_clip(f"invalid JSON: {exc}"), retryable=False)
    check = _CHECKS.get(source)
    return None if check is None else check(doc)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def _html_reason(stripped: bytes) -> str:
    match = _TITLE.search(stripped[:8192])
    if match:
        label = "title " + repr(match.group(1).decode("utf-8", "replace").strip())
    else:
        label = "starts " + repr(stripped[:60].decode("utf-8", "replace"))
    return _clip(f"HTML page where JSON was expected ({label})")


def _okx(doc: Any) -> EnvelopeProblem | None:
    if not isinstance(doc, dict) or "code" not in doc:
        return None
    code = str(doc["code"])  # OKX sends the code as a string ("0"); accept a number too
    if code == "0":
        return None
    return EnvelopeProblem(_clip(f"error envelope {code} {doc.get('msg', '')}"), code in OKX_RETRYABLE_CODES)


def _bybit(doc: Any) -> EnvelopeProblem | None:
    if not isinstance(doc, dict) or "retCode" not in doc:
        return None
    try:
        code = int(doc["retCode"])
    except (TypeError, ValueError):
        return EnvelopeProblem(_clip(f"error envelope retCode={doc['retCode']!r}"), retryable=False)
    if code == 0:
        return None
    return EnvelopeProblem(_clip(f"error envelope {code} {doc.get('retMsg', '')}"), code in BYBIT_RETRYABLE_CODES)


def _deribit(doc: Any) -> EnvelopeProblem | None:
    if not isinstance(doc, dict) or doc.get("error") is None:
        return None
    error = doc["error"]
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message", "")
        retryable = isinstance(code, int) and code in DERIBIT_RETRYABLE_CODES  # code may be anything in a bad body
        return EnvelopeProblem(_clip(f"error envelope {code} {message}"), retryable)
    return EnvelopeProblem(_clip(f"error envelope {error!r}"), retryable=False)


def _kraken(doc: Any) -> EnvelopeProblem | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("error"), list):
        return None
    # Kraken prefixes each entry with its severity: "E…" is an error, "W…" only a warning beside a result.
    errors = [str(e) for e in doc["error"] if not str(e).startswith("W")]
    if not errors:
        return None
    retryable = any(e in KRAKEN_RETRYABLE_ERRORS for e in errors)
    return EnvelopeProblem(_clip("error envelope " + "; ".join(errors)), retryable)


def _blockchain_com(doc: Any) -> EnvelopeProblem | None:
    # Only judged when present: some blockchain.com endpoints (e.g. /pools) have no status field at all.
    if not isinstance(doc, dict) or "status" not in doc or doc["status"] == "ok":
        return None
    detail = doc.get("error") or doc.get("message") or ""
    return EnvelopeProblem(_clip(f"error envelope status={doc['status']!r} {detail}"), retryable=False)


def _binance(doc: Any) -> EnvelopeProblem | None:
    # Binance errors are {"code": -1121, "msg": "Invalid symbol."}, normally with a 4xx; data is a JSON array.
    if not isinstance(doc, dict) or not isinstance(doc.get("code"), int) or "msg" not in doc:
        return None
    code = doc["code"]
    return EnvelopeProblem(_clip(f"error envelope {code} {doc['msg']}"), code in BINANCE_RETRYABLE_CODES)


# Source names as used in FetchRequest.source / the landing archive. Sources absent here (coinbase,
# mempool, polymarket, braiins) have no 200-error envelope: only the HTML and JSON checks apply to them.
_CHECKS: dict[str, Callable[[Any], EnvelopeProblem | None]] = {
    "okx": _okx,
    "bybit": _bybit,
    "deribit": _deribit,
    "kraken": _kraken,
    "blockchain_com": _blockchain_com,
    "binance": _binance,
}
