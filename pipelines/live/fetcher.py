"""`LiveFetcher`: the Fetcher protocol answered by the real public APIs, through `HttpClient`.

Contract with the caller (pipelines.ingest.body_source.FetchingBodySource):
- `fetch` returns the LAST response received, whatever its status, so that every body is archived;
  the caller raises FetchError on a non-200 status after archiving it.
- A 200 body can still be an error (an exchange error envelope, an HTML page, broken JSON). FetchedBody is
  frozen and has no field for that, so the caller asks the pure function `envelope_problem(fetched)`
  after archiving (or `envelopes.envelope_error(source, body)` on an archived body, e.g. in replay) and
  raises FetchError with its reason. Retryable envelopes (rate limits) were already retried here; what
  comes back with a problem either is not retryable or survived every attempt.
  `LiveFetcher.last_result` also keeps the HttpResult of the latest fetch (attempts, problem) for logs,
  but it is per-instance state: prefer the pure function.
- It raises FetchError only when no usable response was obtained: every attempt failed in transport, or the
  answer was refused on sight and not retried (a body past HttpPolicy.max_body_bytes, decoded or on the wire; a
  redirect off the origin asked). A refused answer is never returned, so nothing of it reaches the archive.
  HTTP 451 comes back at once (no retry) like any other status; the caller names the blocked host and the
  second source to use.

API keys: none of the current sources needs one. The hook: a source listed in `key_headers`
(source → header name) gets its key from the environment variable `BTCW_<SOURCE>_API_KEY`, read when the
fetcher is built (never at import, never from files) and never logged.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

from pipelines.ingest.errors import FetchError
from pipelines.ingest.fetcher import FetchedBody, FetchRequest
from pipelines.ingest.envelopes import EnvelopeProblem, classify_envelope, envelope_error
from pipelines.live.http_client import (
    HttpClient,
    HttpPolicy,
    HttpResult,
    NoResponseError,
    RefusedAnswerError,
)
from pipelines.live.http_client import RegionBlockedError as HttpRegionBlocked

# source → HTTP header that carries its API key. Empty: every current source is keyless. A future keyed
# source (e.g. Coinalyze liquidations, header "api_key") is added here, and its key set in the environment.
API_KEY_HEADERS: Mapping[str, str] = MappingProxyType({})

BodyCheck = Callable[[FetchRequest, bytes], EnvelopeProblem | None]


def api_key_env_var(source: str) -> str:
    """The environment variable holding `source`'s API key, e.g. BTCW_COINALYZE_API_KEY."""
    return f"BTCW_{source.upper()}_API_KEY"


def default_body_check(request: FetchRequest, body: bytes) -> EnvelopeProblem | None:
    """Every current live dataset is JSON: check the source's envelope, HTML pages and broken JSON."""
    return classify_envelope(request.source, body)


def envelope_problem(fetched: FetchedBody) -> str | None:
    """Why a fetched 200 body is not data (error envelope, HTML page, invalid JSON), or None.

    Non-200 bodies return None: their status already says they failed. Pure: call it after archiving.
    """
    if fetched.status != 200:
        return None
    return envelope_error(fetched.request.source, fetched.body)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LiveFetcher:
    """Fetcher for the live public APIs. One instance per run: it owns the connection pool and rate limits."""

    def __init__(
        self,
        policy: HttpPolicy | None = None,
        *,
        client: HttpClient | None = None,
        now: Callable[[], dt.datetime] = _utc_now,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        env: Mapping[str, str] | None = None,
        key_headers: Mapping[str, str] = API_KEY_HEADERS,
        body_check: BodyCheck | None = default_body_check,
        base_urls: Mapping[str, str] | None = None,
    ):
        """Build the fetcher. `client` wins over policy/sleep/monotonic/rng when given (tests share one).

        `env` defaults to os.environ, read here, once; only the keys of sources in `key_headers` are kept.
        `body_check=None` turns envelope inspection (and envelope retries) off.
        `base_urls` maps a real origin ("https://fapi.binance.com") to another ("http://127.0.0.1:8787"):
        tests and the offline demo server use it; the archive still records the real URL asked for.
        """
        self._base_urls = dict(base_urls or {})
        self._client = client or HttpClient(policy, rng=rng, sleep=sleep, monotonic=monotonic, now=now)
        self._now = now
        self._body_check = body_check
        env = os.environ if env is None else env
        self._key_headers = dict(key_headers)
        self._keys = {
            source: env[api_key_env_var(source)]
            for source in self._key_headers
            if env.get(api_key_env_var(source), "").strip()
        }
        self.last_result: HttpResult | None = None

    @property
    def policy(self) -> HttpPolicy:
        return self._client.policy

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> LiveFetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fetch(self, request: FetchRequest) -> FetchedBody:
        """GET the request; return the last response received (any status) stamped with UTC now."""
        headers: dict[str, str] = {}
        if request.source in self._keys:
            headers[self._key_headers[request.source]] = self._keys[request.source]
        check = self._body_check
        body_check = None if check is None else (lambda body: check(request, body))
        try:
            result = self._client.get(self._target(request.url), request.params, headers=headers, body_check=body_check)
        except HttpRegionBlocked as exc:
            # Returned, not raised: the caller archives every body it receives, then raises a FetchError
            # that names the blocked host and the second source to use (ingest.body_source).
            return FetchedBody(request=request, status=451, body=exc.body, fetched_at=self._utc(self._now()))
        except NoResponseError as exc:
            raise FetchError(
                request.source,
                request.dataset,
                request.day,
                f"no response from {exc.host} after {exc.attempts} attempt(s); last error: {exc.last_error}",
            ) from exc
        except RefusedAnswerError as exc:  # a gzip bomb, a redirect to another host: the message says which
            raise FetchError(request.source, request.dataset, request.day, str(exc)) from exc
        self.last_result = result
        return FetchedBody(request=request, status=result.status, body=result.body, fetched_at=self._utc(self._now()))

    def _target(self, url: str) -> str:
        for origin, replacement in self._base_urls.items():
            if url.startswith(origin + "/"):
                return replacement + url[len(origin):]
        return url

    def request_time(self, day: dt.date) -> dt.datetime:
        return self._utc(self._now())

    def serves_present_of(self, day: dt.date) -> bool:
        """A now-only source's present state is taken as yesterday's snapshot (the nightly partition);
        for any older day it is not, and the archive must answer."""
        return day >= self._utc(self._now()).date() - dt.timedelta(days=1)

    @staticmethod
    def _utc(moment: dt.datetime) -> dt.datetime:
        # The archive names files by fetched_at and refuses naive datetimes: fail here, with the reason.
        if moment.tzinfo is None:
            raise ValueError("the injected clock returned a naive datetime; it must be timezone-aware")
        return moment.astimezone(dt.UTC)
