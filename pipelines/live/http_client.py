"""The one HTTP client every live source goes through: polite, patient, deterministic under test.

What it does, and why:
- a per-host minimum interval between requests, because every API limits per IP (sources.md §2-§5) and
  several punish excess harshly (Binance 418 bans, Bybit 403 bans of 10-30 min, mempool bans);
- retries with capped exponential backoff and jitter on 429, 418, 5xx, connection errors, timeouts and
  truncated bodies, honouring `Retry-After` (capped at max_backoff: Binance's 418 can say "days");
  other 4xx come back identical on every attempt, so they are returned at once;
- a retry when a 200 body holds a *retryable* error envelope (rate-limit codes, see envelopes.py);
- HTTP 451 (region blocked) stops at once: retrying cannot help, moving the runner or the source can;
- bodies are capped while they are read (HttpPolicy.max_body_bytes, decoded and on the wire; Content-Length is
  checked before reading), so a gzip bomb never reaches memory beyond the cap nor the archive;
- redirects are followed by hand, only within the origin asked (https, or http on a loopback test server), at
  most HttpPolicy.max_redirects hops: the request's headers never reach another host.
A refused body or redirect is not retried: the same server sends the same answer again.

Randomness, sleeping and both clocks are injected so tests are fast and repeatable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import importlib.metadata
import logging
import math
import random
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import httpx

from pipelines.ingest.body_source import MAX_BODY_BYTES
from pipelines.ingest.envelopes import EnvelopeProblem
from pipelines.settings import LOOPBACK_HOSTS
from pipelines.sources.region_block import region_block_advice

log = logging.getLogger(__name__)

DISTRIBUTION = "btc-stress-warehouse"
# Where an API operator who sees our User-Agent can read what this client is. Placeholder until the
# project's public repository address is fixed; override with HttpPolicy(user_agent=...).
PROJECT_URL = "https://github.com/btc-stress-warehouse/btc-stress-warehouse"

# Requests per second per host: well under each published limit, because a daily batch needs few calls
# and being banned costs far more than waiting. Figures from ../shared/docs/sources.md.
DEFAULT_HOST_RATES: Mapping[str, float] = MappingProxyType(
    {
        # 6000 weight/min per IP, klines weigh 2 (≈50/s): 5/s keeps clear of 429 → 418 bans.
        "data-api.binance.vision": 5.0,
        "api.binance.com": 5.0,
        "data.binance.vision": 5.0,
        # fundingRate shares 500 requests / 5 min per IP (≈1.7/s).
        "fapi.binance.com": 1.0,
        # 10 req/s per IP (burst 15); the docs ask not to poll candles frequently.
        "api.exchange.coinbase.com": 5.0,
        "api.coinbase.com": 5.0,
        # "roughly 1 req/s", a third-party page says ~15/min: take the conservative figure.
        "api.kraken.com": 0.25,
        # The tightest OKX public limit we use is 10 req / 2 s (funding history).
        "www.okx.com": 4.0,
        # 600 req / 5 s per IP, but excess earns a 10-30 min IP ban.
        "api.bybit.com": 5.0,
        # Unpublished; bans repeat offenders. One user reports 1 call / 2 s is safe over 800 calls.
        "mempool.space": 0.5,
        # Undocumented: be gentle.
        "api.blockchain.info": 1.0,
        "insights.braiins.com": 1.0,
        # 20 req/s sustained (500 credits of a 10,000/s refill).
        "www.deribit.com": 5.0,
        "history.deribit.com": 5.0,
        # Cloudflare-throttled; /markets allows 300 / 10 s, /prices-history 1000 / 10 s.
        "gamma-api.polymarket.com": 5.0,
        "clob.polymarket.com": 5.0,
    }
)
DEFAULT_RATE_UNKNOWN_HOST = 1.0

# 429 Too Many Requests, 418 Binance's "you ignored 429s" ban; 5xx are handled by range. Every other
# 4xx (bad parameter, unknown path, Bybit's 403 ban of 10-30 min) would come back the same next time.
RETRY_STATUSES = frozenset({418, 429})
REGION_BLOCKED = 451

# No current source redirects (sources.md lists none among the endpoints used; Braiins, whose page says it may
# redirect to another host, is not a source). A few same-origin hops allow a moved path; more is a loop.
DEFAULT_MAX_REDIRECTS = 3

# The content codings this client asks for and decodes itself, as zlib window bits (see _CappedReader).
_ZLIB_WBITS: Mapping[str, int] = MappingProxyType(
    {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
)
ACCEPT_ENCODING = "gzip, deflate"
# Inflate at most this much per step, so that the body held plus the step in flight stays close to the cap.
_INFLATE_STEP = 2**20

def package_version() -> str:
    """The installed version of this project, or a marker when running from an uninstalled checkout."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def default_user_agent() -> str:
    """Say who we are and how we behave, so an operator can tell a polite batch job from a scraper."""
    return f"{DISTRIBUTION}/{package_version()} (+{PROJECT_URL}; batch, polite)"


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts, retry/backoff and per-host rate limits. Rates are requests/second (math.inf = no limit)."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_attempts: int = 5
    base_backoff: float = 1.0
    max_backoff: float = 60.0
    # Up to this fraction of each backoff is removed at random, so clients that failed together do not
    # retry together; removing (not adding) keeps every delay ≤ max_backoff.
    jitter: float = 0.25
    host_rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_HOST_RATES))
    default_rate: float = DEFAULT_RATE_UNKNOWN_HOST
    user_agent: str = field(default_factory=default_user_agent)
    # The largest body accepted, decoded and on the wire: the same limit ingest applies to an archived body, but
    # enforced while reading, before the body is in memory or archived.
    max_body_bytes: int = MAX_BODY_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 < self.base_backoff <= self.max_backoff:
            raise ValueError("need 0 < base_backoff <= max_backoff")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be a fraction in [0, 1)")
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be at least 1")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must be 0 or more")
        for host, rate in {**self.host_rates, "<default>": self.default_rate}.items():
            if not rate > 0:
                raise ValueError(f"rate for {host} must be > 0 requests/second (math.inf for no limit)")

    def min_interval(self, host: str) -> float:
        """Seconds that must separate the starts of two requests to `host`."""
        return 1.0 / self.host_rates.get(host.lower(), self.default_rate)

    def backoff_delay(self, attempt: int, rng: random.Random) -> float:
        """Delay after failed attempt number `attempt` (1-based): base·2^(attempt-1), capped, minus jitter.

        The result lies in [raw·(1-jitter), raw] with raw = min(max_backoff, base·2^(attempt-1)).
        """
        exponent = min(attempt - 1, 62)  # 2**62 already exceeds any sane cap; avoids float overflow
        raw = min(self.max_backoff, self.base_backoff * 2.0**exponent)
        return raw * (1.0 - self.jitter * rng.random())


def parse_retry_after(value: str | None, now: dt.datetime, cap: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date), clamped to [0, cap].

    None when the header is absent or unreadable: the caller then falls back to its own backoff.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; parsedate gives naive for "-0000"
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - now).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)


class RateLimiter:
    """Keeps the starts of requests to one host at least `policy.min_interval(host)` apart.

    Each caller reserves the next free slot under a lock and sleeps outside it, so concurrent threads
    queue up fairly instead of all waking at once.
    """

    def __init__(self, policy: HttpPolicy, monotonic: Callable[[], float], sleep: Callable[[float], None]):
        self._policy = policy
        self._monotonic = monotonic
        self._sleep = sleep
        self._next_free: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> float:
        """Block until a request to `host` may start; returns the seconds slept."""
        interval = self._policy.min_interval(host)
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next_free.get(host, now))
            self._next_free[host] = slot + interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return max(delay, 0.0)


class TruncatedBodyError(Exception):
    """Fewer (or more) body bytes arrived than Content-Length announced."""


class NoResponseError(Exception):
    """Every attempt failed before any HTTP response was received."""

    def __init__(self, url: str, host: str, attempts: int, last_error: str):
        self.url = url
        self.host = host
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(f"no response from {host} after {attempts} attempt(s); last error: {last_error}")


class RegionBlockedError(Exception):
    """HTTP 451: the host refuses this runner's region. Retrying cannot help; another source can."""

    def __init__(self, url: str, host: str, body: bytes):
        self.url = url
        self.host = host
        self.body = body  # kept for whoever wants to archive or show it
        self.advice = region_block_advice(host)
        super().__init__(
            f"HTTP 451 from {host}: the API refuses requests from this runner's region; {self.advice}"
        )


class RefusedAnswerError(Exception):
    """An answer refused on sight: the same request would get it again, so it is never retried, and nothing of it
    was kept (the caller has nothing to archive)."""

    def __init__(self, url: str, host: str, message: str):
        self.url = url
        self.host = host
        super().__init__(message)


class BodyTooLargeError(RefusedAnswerError):
    """The body passed HttpPolicy.max_body_bytes (announced, on the wire or decoded); reading stopped there."""


class RedirectRefusedError(RefusedAnswerError):
    """A redirect off the origin asked (another host, port or scheme), a loop, or too many hops."""

    def __init__(self, from_url: str, to_url: str, reason: str):
        self.from_url = from_url
        self.to_url = to_url
        self.reason = reason
        super().__init__(
            from_url, httpx.URL(from_url).host,
            f"redirect from {from_url} to {to_url} refused: {reason}",
        )


class UnsupportedEncodingError(RefusedAnswerError):
    """A Content-Encoding this client did not ask for and cannot decode within the cap (e.g. gzip twice)."""


def _cap_text(cap: int) -> str:
    return f"{cap // 2**20} MiB" if cap % 2**20 == 0 else f"{cap:,} bytes"


def redirect_refusal(origin: httpx.URL, target: httpx.URL) -> str | None:
    """Why a redirect from `origin` to `target` must not be followed, or None when it stays on the same origin.

    Same scheme, host and port; https, or http only on a loopback host (the local test and demo servers): never a
    downgrade from https, never another host, so no header the client sends reaches anyone but the host asked.
    """
    if origin.scheme == "https" and target.scheme == "http":
        return "a downgrade from https to http"
    if target.scheme != origin.scheme:
        return f"another scheme ({target.scheme or 'none'})"
    if target.host != origin.host:
        return f"another host ({target.host or 'none'})"
    default_port = {"http": 80, "https": 443}.get(origin.scheme)
    if (target.port or default_port) != (origin.port or default_port):
        return f"another port ({target.port or default_port})"
    if origin.scheme != "https" and origin.host not in LOOPBACK_HOSTS:
        return f"plain {origin.scheme} off the loopback host"
    return None


class _CappedReader:
    """Reads a streamed response's body, stopping as soon as it passes `cap` decoded or on the wire.

    gzip and deflate are inflated here rather than by httpx: httpx inflates each network read whole (64 KiB of a
    gzip bomb is 64 MiB at once, a doubly gzipped one far more), while zlib's max_length lets no step produce more
    than the bytes still allowed. Other codings httpx would not decode either pass through as they came.
    """

    def __init__(self, response: httpx.Response, cap: int):
        self._response = response
        self._cap = cap
        self._url = str(response.url)
        codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        known = [c for c in codings if c in _ZLIB_WBITS]
        if known and len(codings) > 1:
            raise UnsupportedEncodingError(
                self._url, response.url.host,
                f"body of {self._url} is encoded {', '.join(codings)}: more than one coding, which no API sends and "
                f"which could not be capped; refused before archiving",
            )
        self._coding = known[0] if known else None
        self._inflater = zlib.decompressobj(_ZLIB_WBITS[self._coding]) if self._coding else None
        self._first_call_done = self._coding != "deflate"

    def read(self) -> bytes:
        response, cap = self._response, self._cap
        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > cap:
            raise self._refuse(f"announced {int(declared):,} bytes (Content-Length), past {_cap_text(cap)}; "
                               "refused unread")
        parts: list[bytes] = []
        size = 0
        for raw in response.iter_raw():
            if response.num_bytes_downloaded > cap:
                raise self._refuse(f"passed {_cap_text(cap)} on the wire; refused")
            for chunk in self._decode(raw, cap - size):
                size += len(chunk)
                if size > cap:
                    raise self._refuse(f"decompressed past {_cap_text(cap)} from {response.num_bytes_downloaded:,} "
                                       "bytes on the wire; refused")
                parts.append(chunk)
        return b"".join(parts)

    def _decode(self, data: bytes, room: int) -> list[bytes]:
        """`data` inflated, never more than room + 1 bytes (enough to tell the cap was passed)."""
        inflater = self._inflater
        if inflater is None:
            return [data]
        out: list[bytes] = []
        try:
            while data and not inflater.eof:  # bytes after the end of the stream are ignored, as httpx does
                # room + 1 ≥ 1 (0 would mean "no limit"): one byte past the cap is enough to refuse.
                chunk = inflater.decompress(data, min(room + 1, _INFLATE_STEP))
                self._first_call_done = True
                data = inflater.unconsumed_tail
                out.append(chunk)
                room -= len(chunk)
                if room < 0:
                    break
        except zlib.error as exc:
            if self._first_call_done:
                raise httpx.DecodingError(f"{self._coding} body of {self._url}: {exc}") from None
            # "deflate" is sent both zlib-wrapped (as RFC 9110 says) and raw; like httpx, the first bytes decide.
            self._first_call_done = True
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._decode(data, room)
        return out

    def _refuse(self, what: str) -> BodyTooLargeError:
        coding = f"{self._coding} " if self._coding else ""
        return BodyTooLargeError(
            self._url, self._response.url.host,
            f"{coding}body of {self._url} {what} before archiving (cap: HttpPolicy.max_body_bytes = "
            f"{self._cap:,} bytes)",
        )


@dataclass(frozen=True)
class HttpResult:
    """The last response received, plus what it took to get it."""

    url: str
    status: int
    body: bytes
    headers: Mapping[str, str]
    attempts: int  # attempts made in total (including failed ones)
    # An error envelope found in a 200 body (by the caller's body_check); None if none or not checked.
    problem: EnvelopeProblem | None = None
    # Transport failures seen on the way, oldest first (for logs and error messages).
    transport_errors: tuple[str, ...] = ()


# Transport failures that a fresh attempt may not repeat. Not included: UnsupportedProtocol and
# LocalProtocolError (our own bad URL or request: identical every time).
_RETRYABLE_TRANSPORT: tuple[type[BaseException], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,  # includes "peer closed connection without sending complete message body"
    httpx.DecodingError,  # a gzip stream cut short
    TruncatedBodyError,
)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_complete(response: httpx.Response) -> None:
    """Raise TruncatedBodyError when the bytes on the wire disagree with Content-Length.

    h11 already raises when the peer closes early; this also catches anything that slips past it.
    num_bytes_downloaded counts bytes before content decoding, like Content-Length.
    """
    declared = response.headers.get("content-length")
    if declared is None or response.request.method == "HEAD" or response.status_code in (204, 304):
        return
    try:
        expected = int(declared)
    except ValueError:
        return
    if response.num_bytes_downloaded != expected:
        raise TruncatedBodyError(
            f"body has {response.num_bytes_downloaded} bytes, Content-Length announced {expected}"
        )


class HttpClient:
    """Synchronous GET with rate limiting, retries and envelope-aware retry. Reuse one per process."""

    def __init__(
        self,
        policy: HttpPolicy | None = None,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = _utc_now,
        transport: httpx.BaseTransport | None = None,
    ):
        self.policy = policy or HttpPolicy()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._now = now
        self._limiter = RateLimiter(self.policy, monotonic, sleep)
        timeout = httpx.Timeout(
            connect=self.policy.connect_timeout,
            read=self.policy.read_timeout,
            write=self.policy.read_timeout,
            pool=self.policy.connect_timeout,
        )
        self._client = httpx.Client(
            timeout=timeout,
            # Only the codings _CappedReader inflates within the cap.
            headers={"User-Agent": self.policy.user_agent, "Accept": "application/json",
                     "Accept-Encoding": ACCEPT_ENCODING},
            # Followed by hand in _exchange, within the origin only: httpx would follow to any host and scheme.
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        body_check: Callable[[bytes], EnvelopeProblem | None] | None = None,
    ) -> HttpResult:
        """GET `url`, retrying what may succeed next time; return the last response received.

        `body_check` inspects 200 bodies; a retryable problem is retried like a 429, a non-retryable one
        is returned at once (in `HttpResult.problem`). Raises RegionBlockedError on HTTP 451,
        NoResponseError when no attempt produced a response at all, and, without retrying, BodyTooLargeError /
        UnsupportedEncodingError for a body it would not hold and RedirectRefusedError for a redirect off the origin.
        """
        target = httpx.URL(url)
        if params:
            # Merge, never replace: httpx's `params=` would drop a query already written into the URL.
            target = target.copy_merge_params(dict(params))
        host = target.host
        policy = self.policy
        last: HttpResult | None = None
        errors: list[str] = []
        for attempt in range(1, policy.max_attempts + 1):
            try:
                response, body = self._exchange(target, dict(headers or {}))
            except _RETRYABLE_TRANSPORT as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                log.warning("GET %s attempt %d/%d failed: %s", url, attempt, policy.max_attempts, errors[-1])
                if attempt < policy.max_attempts:
                    self._sleep(policy.backoff_delay(attempt, self._rng))
                continue

            status = response.status_code
            if status == REGION_BLOCKED:
                raise RegionBlockedError(url, response.url.host, body)
            problem = body_check(body) if (status == 200 and body_check is not None) else None
            # The final URL, after redirects and with the encoded query: what actually answered.
            last = HttpResult(
                url=str(response.url),
                status=status,
                body=body,
                headers=dict(response.headers),
                attempts=attempt,
                problem=problem,
                transport_errors=tuple(errors),
            )
            if status in RETRY_STATUSES or 500 <= status <= 599:
                retry_after = parse_retry_after(response.headers.get("retry-after"), self._now(), policy.max_backoff)
                why = f"HTTP {status}"
            elif problem is not None and problem.retryable:
                retry_after = None
                why = problem.reason
            else:
                return last
            if attempt < policy.max_attempts:
                delay = retry_after if retry_after is not None else policy.backoff_delay(attempt, self._rng)
                log.warning(
                    "GET %s attempt %d/%d: %s; retrying in %.2f s", url, attempt, policy.max_attempts, why, delay
                )
                self._sleep(delay)
        if last is None:
            raise NoResponseError(url, host, policy.max_attempts, errors[-1] if errors else "unknown")
        log.warning(
            "GET %s: giving up after %d attempts; returning the last response (HTTP %d)",
            url,
            policy.max_attempts,
            last.status,
        )
        return dataclasses.replace(last, attempts=policy.max_attempts, transport_errors=tuple(errors))

    def _exchange(self, url: httpx.URL, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
        """One attempt: GET `url`, following same-origin redirects, and read the final body within the cap.

        Each hop is streamed and closed here; a redirect's own body is never read.
        """
        seen = {str(url)}
        hops = 0
        while True:
            self._limiter.wait(url.host)
            response = self._client.send(self._client.build_request("GET", url, headers=headers), stream=True)
            try:
                following = response.next_request  # set by httpx for a 3xx with a Location, when not following
                if following is None:
                    body = _CappedReader(response, self.policy.max_body_bytes).read()
                    _check_complete(response)
                    return response, body
            finally:
                response.close()
            refusal = redirect_refusal(url, following.url)
            if refusal is not None:
                refusal += "; only same-origin redirects (https, or http on a loopback test server) are followed"
            elif str(following.url) in seen:
                refusal = "a redirect loop (that URL was already asked in this attempt)"
            elif hops == self.policy.max_redirects:
                refusal = f"more than {self.policy.max_redirects} redirects (HttpPolicy.max_redirects)"
            if refusal is not None:
                raise RedirectRefusedError(str(url), str(following.url), refusal)
            url = following.url
            seen.add(str(url))
            hops += 1
