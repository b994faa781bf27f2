"""The live HTTP client against a real local server that misbehaves on purpose (no network needed).

Every fault test checks three things: the outcome, the attempts the server counted, and the sleeps the
client asked for (sleep is injected, so nothing really waits and the jitter is seeded).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.ingest.errors import FetchError
from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources.region_block import region_block_advice
from pipelines.ingest.envelopes import classify_envelope, envelope_error
from pipelines.live.fetcher import LiveFetcher, api_key_env_var, envelope_problem
from pipelines.live.http_client import (
    DEFAULT_HOST_RATES,
    HttpClient,
    HttpPolicy,
    RateLimiter,
    default_user_agent,
    parse_retry_after,
)

DAY = dt.date(2025, 11, 20)
NOW = dt.datetime(2025, 11, 21, 0, 30, tzinfo=dt.UTC)
SEED = 20251121
OK_JSON = b'[[1763596800000,"91000.1"]]'

# ------------------------------------------------------------------------------------------ test server

Action = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]


@dataclass
class Script:
    """What the server answers, one action per request in order; the last action repeats."""

    actions: deque[Action] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def then(self, *actions: Action) -> Script:
        self.actions.extend(actions)
        return self

    @property
    def hits(self) -> int:
        return len(self.requests)


def reply(status: int = 200, body: bytes = OK_JSON, headers: dict[str, str] | None = None,
          content_type: str = "application/json") -> Action:
    def act(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return act


def json_reply(doc: object) -> Action:
    return reply(200, json.dumps(doc).encode())


def slow(seconds: float, then: Action) -> Action:
    def act(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        try:
            then(handler)
        except OSError:  # the client gave up (read timeout) and closed the socket: expected
            pass

    return act


def truncated(body: bytes = OK_JSON, missing: int = 100) -> Action:
    """Announce more bytes than are sent, then close: an incomplete read on the client side."""

    def act(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body) + missing))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
        handler.close_connection = True

    return act


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # Content-Length and keep-alive behave as with real APIs

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        script: Script = self.server.script  # type: ignore[attr-defined]
        with script.lock:
            script.requests.append(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}))
            action = script.actions.popleft() if len(script.actions) > 1 else script.actions[0]
        action(self)

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


@dataclass
class Server:
    script: Script
    base_url: str


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)  # loopback only, a free port
    httpd.daemon_threads = True  # a handler still sleeping (timeout test) must not block teardown
    script = Script()
    httpd.script = script  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    assert host == "127.0.0.1"
    try:
        yield Server(script, f"http://127.0.0.1:{port}")
    finally:
        httpd.shutdown()
        httpd.server_close()


# ------------------------------------------------------------------------------------------ client helpers


def make_policy(**overrides: object) -> HttpPolicy:
    base = dict(
        connect_timeout=1.0,
        read_timeout=1.0,
        max_attempts=5,
        base_backoff=1.0,
        max_backoff=8.0,
        jitter=0.25,
        host_rates={"127.0.0.1": math.inf},  # no spacing unless a test asks for it
        default_rate=math.inf,
    )
    base.update(overrides)
    return HttpPolicy(**base)  # type: ignore[arg-type]


@dataclass
class Rig:
    fetcher: LiveFetcher
    sleeps: list[float]
    policy: HttpPolicy

    def expected_backoffs(self, count: int) -> list[float]:
        """The backoffs the client must have drawn: same policy, same seed."""
        rng = random.Random(SEED)
        return [self.policy.backoff_delay(n, rng) for n in range(1, count + 1)]


def make_rig(monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] | None = None,
             env: dict[str, str] | None = None, key_headers: dict[str, str] | None = None,
             **policy_overrides: object) -> Rig:
    sleeps: list[float] = []
    policy = make_policy(**policy_overrides)
    client = HttpClient(
        policy,
        rng=random.Random(SEED),
        sleep=sleep or sleeps.append,
        monotonic=monotonic,
        now=lambda: NOW,
        transport=httpx.HTTPTransport(),  # an explicit transport: no proxy from the environment in tests
    )
    fetcher = LiveFetcher(client=client, now=lambda: NOW, env=env or {}, key_headers=key_headers or {})
    return Rig(fetcher, sleeps, policy)


def request(server: Server, source: str = "binance", dataset: str = "spot_klines_1d",
            path: str = "/api/v3/klines") -> FetchRequest:
    return FetchRequest(source, dataset, DAY, server.base_url + path, {"symbol": "BTCUSDT", "interval": "1d"})


# ------------------------------------------------------------------------------------------ fault injection


def test_success_returns_body_status_and_utc_fetched_at(server: Server) -> None:
    server.script.then(reply(200, OK_JSON))
    rig = make_rig()
    fetched = rig.fetcher.fetch(request(server))
    assert (fetched.status, fetched.body) == (200, OK_JSON)
    assert fetched.fetched_at == NOW and fetched.fetched_at.tzinfo is not None
    assert fetched.request.source == "binance"
    assert server.script.requests[0].path == "/api/v3/klines?symbol=BTCUSDT&interval=1d"
    assert envelope_problem(fetched) is None
    assert rig.sleeps == []


def test_query_in_url_and_params_are_merged(server: Server) -> None:
    server.script.then(reply())
    rig = make_rig()
    req = FetchRequest("coinbase", "spot_candles_1d", DAY, server.base_url + "/c?granularity=86400", {"start": "1"})
    rig.fetcher.fetch(req)
    rig.fetcher.fetch(FetchRequest("coinbase", "spot_candles_1d", DAY, server.base_url + "/c?granularity=86400"))
    assert [r.path for r in server.script.requests] == ["/c?granularity=86400&start=1", "/c?granularity=86400"]


def test_user_agent_is_descriptive_and_received(server: Server) -> None:
    server.script.then(reply())
    make_rig().fetcher.fetch(request(server))
    user_agent = server.script.requests[0].headers["user-agent"]
    assert user_agent == default_user_agent()
    assert user_agent.startswith("btc-stress-warehouse/")
    assert "(+https://github.com/" in user_agent and "batch, polite)" in user_agent


def test_429_retry_after_seconds_is_honoured(server: Server) -> None:
    server.script.then(reply(429, b'{"code":-1003}', {"Retry-After": "2"}), reply(200))
    rig = make_rig()
    fetched = rig.fetcher.fetch(request(server))
    assert fetched.status == 200
    assert server.script.hits == 2
    assert rig.sleeps == [2.0]


def test_retry_after_http_date_is_honoured_against_the_injected_clock(server: Server) -> None:
    server.script.then(reply(503, b"busy", {"Retry-After": "Fri, 21 Nov 2025 00:30:05 GMT"}), reply(200))
    rig = make_rig()
    assert rig.fetcher.fetch(request(server)).status == 200
    assert rig.sleeps == [5.0]


def test_retry_after_is_capped_at_max_backoff(server: Server) -> None:
    # Binance's 418 ban can say hours: a batch run waits at most max_backoff per attempt.
    server.script.then(reply(418, b"banned", {"Retry-After": "7200"}), reply(200))
    rig = make_rig()
    assert rig.fetcher.fetch(request(server)).status == 200
    assert rig.sleeps == [8.0]


def test_5xx_are_retried_with_backoff_until_success(server: Server) -> None:
    server.script.then(reply(500, b"e"), reply(502, b"e"), reply(503, b"e"), reply(200))
    rig = make_rig()
    fetched = rig.fetcher.fetch(request(server))
    assert (fetched.status, fetched.body) == (200, OK_JSON)
    assert server.script.hits == 4
    assert rig.sleeps == rig.expected_backoffs(3)
    assert rig.fetcher.last_result is not None and rig.fetcher.last_result.attempts == 4


def test_persistent_503_returns_the_last_response_after_max_attempts(server: Server) -> None:
    server.script.then(reply(503, b"<html>maintenance</html>", content_type="text/html"))
    rig = make_rig()
    fetched = rig.fetcher.fetch(request(server))  # no raise: the caller archives it, then raises
    assert (fetched.status, fetched.body) == (503, b"<html>maintenance</html>")
    assert server.script.hits == 5
    assert rig.sleeps == rig.expected_backoffs(4)


def test_read_timeout_is_retried(server: Server) -> None:
    server.script.then(slow(3.0, reply(200, b'"late"')), reply(200))
    rig = make_rig(read_timeout=0.2)
    started = time.monotonic()
    fetched = rig.fetcher.fetch(request(server))
    assert (fetched.status, fetched.body) == (200, OK_JSON)
    assert server.script.hits == 2
    assert rig.sleeps == rig.expected_backoffs(1)
    assert time.monotonic() - started < 2.0  # gave up at the 0.2 s read timeout, did not wait the server's 3 s


def test_truncated_body_is_retried(server: Server) -> None:
    server.script.then(truncated(), reply(200))
    rig = make_rig()
    fetched = rig.fetcher.fetch(request(server))
    assert (fetched.status, fetched.body) == (200, OK_JSON)
    assert server.script.hits == 2
    assert rig.sleeps == rig.expected_backoffs(1)
    assert rig.fetcher.last_result is not None
    assert "RemoteProtocolError" in rig.fetcher.last_result.transport_errors[0]


def test_connection_refused_raises_fetch_error_after_max_attempts() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and now has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rig = make_rig()
    req = FetchRequest("binance", "spot_klines_1d", DAY, f"http://127.0.0.1:{port}/api/v3/klines")
    with pytest.raises(FetchError) as caught:
        rig.fetcher.fetch(req)
    error = caught.value
    assert (error.source, error.dataset, error.day) == ("binance", "spot_klines_1d", DAY)
    assert "binance/spot_klines_1d for 2025-11-20" in str(error)
    assert "after 5 attempt(s)" in str(error) and "ConnectError" in str(error)
    assert rig.sleeps == rig.expected_backoffs(4)


def test_404_is_not_retried_and_is_returned(server: Server) -> None:
    server.script.then(reply(404, b'{"message":"NotFound"}'))
    rig = make_rig()
    fetched = rig.fetcher.fetch(request(server))
    assert (fetched.status, fetched.body) == (404, b'{"message":"NotFound"}')
    assert server.script.hits == 1
    assert rig.sleeps == []
    assert envelope_problem(fetched) is None  # the status already says it failed


def test_451_is_not_retried_and_is_archived_then_named_with_the_second_source(server: Server, tmp_path) -> None:
    from pipelines.ingest.archive import LandingArchive
    from pipelines.ingest.body_source import FetchingBodySource

    blocked = b'{"code":0,"msg":"Service unavailable from a restricted location"}'
    server.script.then(reply(451, blocked))
    rig = make_rig()
    req = request(server)

    class _Spec:
        source, dataset, name, backfillable, next_page, max_pages = "binance", "spot_klines_1d", "binance/spot_klines_1d", True, None, 1

        @staticmethod
        def build_request(day):
            return req

        @staticmethod
        def request_for(day, at):
            return req

    archive = LandingArchive(tmp_path)
    with pytest.raises(FetchError) as caught:
        FetchingBodySource(rig.fetcher, archive).obtain(_Spec(), DAY)
    error = caught.value
    assert (error.source, error.dataset, error.day) == ("binance", "spot_klines_1d", DAY)
    message = str(error)
    assert "HTTP 451 from 127.0.0.1" in message and "coinbase/spot_candles_1d" in message
    assert server.script.hits == 1
    assert rig.sleeps == []
    assert archive.newest("binance", "spot_klines_1d", DAY).read_body() == blocked  # the archive holds it


def test_region_block_advice_by_host() -> None:
    assert "coinbase/spot_candles_1d" in region_block_advice("api.binance.com")
    assert "coinbase/spot_candles_1d" in region_block_advice("data-api.binance.vision")
    assert "bybit" in region_block_advice("fapi.binance.com")
    assert "binance" in region_block_advice("api.bybit.com")
    assert "region" in region_block_advice("unknown.example")


def test_html_page_with_status_200_is_an_envelope_error_not_data(server: Server) -> None:
    page = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>cf</body></html>"
    server.script.then(reply(200, page, content_type="text/html"))
    rig = make_rig()
    fetched = rig.fetcher.fetch(request(server, "mempool", "hashrate", "/api/v1/mining/hashrate/3y"))
    assert (fetched.status, fetched.body) == (200, page)  # returned for archiving
    problem = envelope_problem(fetched)
    assert problem is not None and "HTML page" in problem and "Just a moment..." in problem
    assert server.script.hits == 1 and rig.sleeps == []


OKX_RATE = {"code": "50011", "msg": "Too Many Requests", "data": []}
OKX_OK = {"code": "0", "msg": "", "data": [["1747094040000", "102806.1"]]}
BYBIT_RATE = {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "time": 1}
BYBIT_OK = {"retCode": 0, "retMsg": "OK", "result": {"list": []}, "time": 1}
DERIBIT_RATE = {"jsonrpc": "2.0", "id": 1, "error": {"code": 10028, "message": "too_many_requests"}}
DERIBIT_OK = {"jsonrpc": "2.0", "id": 1, "result": []}
KRAKEN_RATE = {"error": ["EGeneral:Too many requests"]}
KRAKEN_OK = {"error": [], "result": {"XXBTZUSD": [], "last": 1}}


@pytest.mark.parametrize(
    ("source", "bodies", "hits", "problem"),
    [
        pytest.param("okx", [OKX_RATE, OKX_OK], 2, None, id="okx-50011-retried"),
        pytest.param("okx", [{"code": "50015", "msg": "Either uly or instFamily is required", "data": []}], 1,
                     "error envelope 50015 Either uly or instFamily is required", id="okx-50015-not-retried"),
        pytest.param("bybit", [BYBIT_RATE, BYBIT_RATE, BYBIT_OK], 3, None, id="bybit-10006-retried"),
        pytest.param("bybit", [{"retCode": 10001, "retMsg": "params error", "result": {}}], 1,
                     "error envelope 10001 params error", id="bybit-10001-not-retried"),
        pytest.param("deribit", [DERIBIT_RATE], 5, "error envelope 10028 too_many_requests",
                     id="deribit-10028-retried-until-exhausted"),
        pytest.param("deribit", [{"jsonrpc": "2.0", "error": {"code": 13020, "message": "not_found"}}], 1,
                     "error envelope 13020 not_found", id="deribit-13020-not-retried"),
        pytest.param("kraken", [KRAKEN_RATE, KRAKEN_OK], 2, None, id="kraken-rate-limit-retried"),
        pytest.param("kraken", [{"error": ["EQuery:Unknown asset pair"]}], 1,
                     "error envelope EQuery:Unknown asset pair", id="kraken-unknown-pair-not-retried"),
    ],
)
def test_error_envelopes_in_200(server: Server, source: str, bodies: list[object], hits: int,
                                problem: str | None) -> None:
    server.script.then(*(json_reply(b) for b in bodies))
    rig = make_rig()
    fetched = rig.fetcher.fetch(request(server, source, "some_dataset", "/x"))
    assert fetched.status == 200
    assert fetched.body == json.dumps(bodies[min(hits, len(bodies)) - 1]).encode()  # the last body received
    assert server.script.hits == hits
    assert rig.sleeps == rig.expected_backoffs(hits - 1)
    assert envelope_problem(fetched) == problem
    assert rig.fetcher.last_result is not None
    assert (rig.fetcher.last_result.problem is None) == (problem is None)


def test_per_host_rate_limit_spaces_requests(server: Server) -> None:
    clock = FakeClock()
    server.script.then(reply(200))
    rig = make_rig(monotonic=clock.monotonic, sleep=clock.sleep, host_rates={"127.0.0.1": 2.0})
    for _ in range(3):
        assert rig.fetcher.fetch(request(server)).status == 200
    assert server.script.hits == 3
    assert clock.sleeps == [0.5, 0.5]  # the fake clock does not move on its own: full interval each time


def test_rate_limit_adds_nothing_after_a_longer_backoff(server: Server) -> None:
    clock = FakeClock()
    server.script.then(reply(500, b"e"), reply(200))
    rig = make_rig(monotonic=clock.monotonic, sleep=clock.sleep, host_rates={"127.0.0.1": 2.0})
    assert rig.fetcher.fetch(request(server)).status == 200
    assert clock.sleeps == rig.expected_backoffs(1)  # ≥ 0.75 s already exceeds the 0.5 s spacing


def test_api_key_hook_reads_only_the_named_env_var(server: Server) -> None:
    server.script.then(reply(200))
    env = {api_key_env_var("okx"): "s3cret", api_key_env_var("binance"): "unused"}
    assert api_key_env_var("okx") == "BTCW_OKX_API_KEY"
    rig = make_rig(env=env, key_headers={"okx": "X-Api-Key"})
    rig.fetcher.fetch(request(server, "okx", "candles", "/a"))
    rig.fetcher.fetch(request(server, "binance", "spot_klines_1d", "/b"))
    assert server.script.requests[0].headers.get("x-api-key") == "s3cret"
    assert "x-api-key" not in server.script.requests[1].headers


# ------------------------------------------------------------------------------------------ pure units


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_rate_limiter_keeps_hosts_independent() -> None:
    clock = FakeClock()
    limiter = RateLimiter(HttpPolicy(host_rates={"a.example": 1.0, "b.example": 4.0}), clock.monotonic, clock.sleep)
    waited = [limiter.wait(h) for h in ["a.example", "b.example", "b.example", "a.example"]]
    assert waited == [0.0, 0.0, 0.25, 0.75]  # b's spacing does not delay a, and time spent counts


def test_default_policy_is_polite() -> None:
    policy = HttpPolicy()
    assert policy.max_attempts == 5
    assert policy.min_interval("mempool.space") >= 2.0
    assert policy.min_interval("api.exchange.coinbase.com") >= 1 / 5
    assert policy.min_interval("unknown.example") >= 1.0
    for host in ["data-api.binance.vision", "fapi.binance.com", "api.blockchain.info", "www.deribit.com",
                 "www.okx.com", "api.bybit.com", "gamma-api.polymarket.com", "clob.polymarket.com"]:
        assert host in DEFAULT_HOST_RATES and DEFAULT_HOST_RATES[host] <= 5.0


def test_backoff_is_exponential_and_capped_without_jitter() -> None:
    policy = HttpPolicy(base_backoff=0.5, max_backoff=10.0, jitter=0.0)
    rng = random.Random(SEED)
    assert [policy.backoff_delay(n, rng) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


@settings(max_examples=200, deadline=None)
@given(attempt=st.integers(1, 200), seed=st.integers(0, 2**32), jitter=st.floats(0.0, 0.99))
def test_backoff_with_jitter_stays_within_bounds(attempt: int, seed: int, jitter: float) -> None:
    policy = HttpPolicy(base_backoff=1.0, max_backoff=30.0, jitter=jitter)
    raw = min(30.0, 2.0 ** (attempt - 1))
    delay = policy.backoff_delay(attempt, random.Random(seed))
    assert raw * (1 - jitter) - 1e-9 <= delay <= raw <= 30.0


def test_backoff_jitter_is_seeded_and_grows() -> None:
    policy = HttpPolicy(base_backoff=1.0, max_backoff=60.0, jitter=0.25)
    first = [policy.backoff_delay(n, random.Random(7)) for n in range(1, 6)]
    again = [policy.backoff_delay(n, random.Random(7)) for n in range(1, 6)]
    assert first == again  # deterministic for a seed
    assert all(later > earlier for earlier, later in zip(first, first[1:], strict=False))  # 2x beats 25% jitter


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("2", 2.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("7200", 60.0),
        ("Fri, 21 Nov 2025 00:30:10 GMT", 10.0),
        ("Fri, 21 Nov 2025 00:29:00 GMT", 0.0),  # already past
        ("soon", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW, cap=60.0) == expected


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        HttpPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        HttpPolicy(jitter=1.0)
    with pytest.raises(ValueError):
        HttpPolicy(host_rates={"x": 0.0})


# ------------------------------------------------------------------------------------------ envelope_error

ENVELOPED = {  # real recordings whose body carries an envelope the checker must read as "OK"
    "okx": ["candles_sample.json", "funding_rate_history_sample.json", "index_tickers_sample.json"],
    "bybit": ["klines_linear_shape.json", "funding_history_shape.json"],
    "deribit": ["book_summary_btc_option_2020-05-21.json", "get_instruments_sample.json",
                "get_instrument_option_sample.json", "get_expirations_btc_option.json"],
    "kraken": ["ohlc_1m_XBTUSDT.json"],
    "blockchain_com": ["charts_hash-rate_30days.json", "charts_miners-revenue_30days.json",
                       "charts_market-price_30days.json"],
}


@pytest.mark.parametrize(
    ("source", "name"), [(s, n) for s, names in ENVELOPED.items() for n in names]
)
def test_real_enveloped_fixtures_are_ok(real_fixtures, source: str, name: str) -> None:
    assert envelope_error(source, (real_fixtures / source / name).read_bytes()) is None


def test_every_real_fixture_is_ok_for_its_source(real_fixtures) -> None:
    files = sorted(p for p in real_fixtures.rglob("*.json"))
    assert len(files) > 20
    for path in files:
        source = path.parent.name  # directory names are the pipeline's source names
        assert envelope_error(source, path.read_bytes()) is None, path


@pytest.mark.parametrize(
    ("source", "body", "reason", "retryable"),
    [
        ("okx", b'{"code":"50011","msg":"Too Many Requests","data":[]}', "error envelope 50011 Too Many", True),
        ("okx", b'{"code":"51001","msg":"Instrument ID does not exist","data":[]}', "error envelope 51001", False),
        ("bybit", b'{"retCode":10006,"retMsg":"Too many visits!"}', "error envelope 10006 Too many visits!", True),
        ("bybit", b'{"retCode":"10001","retMsg":"params error"}', "error envelope 10001 params error", False),
        ("deribit", b'{"error":{"code":10028,"message":"too_many_requests"}}',
         "error envelope 10028 too_many_requests", True),
        ("deribit", b'{"error":{"code":-32602,"message":"Invalid params"}}', "error envelope -32602", False),
        ("kraken", b'{"error":["EAPI:Rate limit exceeded"]}', "error envelope EAPI:Rate limit exceeded", True),
        ("kraken", b'{"error":["EQuery:Unknown asset pair"]}', "error envelope EQuery:Unknown asset pair", False),
        ("blockchain_com", b'{"status":"error","error":"Unknown chart"}', "status='error' Unknown chart", False),
        ("binance", b'{"code":-1121,"msg":"Invalid symbol."}', "error envelope -1121 Invalid symbol.", False),
        ("coinbase", b"\n  <html><body>502 Bad Gateway</body></html>", "HTML page where JSON was expected", False),
        ("polymarket", b'{"history": [', "invalid JSON", False),
        ("mempool", b"", "invalid JSON", False),
        ("deribit", b"\xff\xfe not utf-8", "invalid JSON", False),
    ],
)
def test_envelope_errors_are_detected(source: str, body: bytes, reason: str, retryable: bool) -> None:
    problem = classify_envelope(source, body)
    assert problem is not None and reason in problem.reason
    assert problem.retryable is retryable
    assert envelope_error(source, body) == problem.reason


@pytest.mark.parametrize(
    ("source", "body"),
    [
        ("okx", b'{"code":"0","msg":"","data":[]}'),
        ("bybit", b'{"retCode":0,"retMsg":"OK","result":{}}'),
        ("deribit", b'{"jsonrpc":"2.0","result":[],"error":null}'),
        ("kraken", b'{"error":["WGeneral:Deprecated"],"result":{}}'),  # a warning, not an error
        ("blockchain_com", b'{"ghash.io": 3}'),  # /pools has no status field
        ("binance", b"[]"),
        ("coinbase", b"[[1763596800, 1, 2, 1.5, 1.7, 10]]"),
        ("unknown_source", b'{"anything": true}'),
    ],
)
def test_data_bodies_are_not_errors(source: str, body: bytes) -> None:
    assert envelope_error(source, body) is None


def test_non_json_datasets_only_get_the_html_check() -> None:
    assert envelope_error("binance", b"create_time,symbol\n", expect_json=False) is None
    assert envelope_error("binance", b"<html>blocked</html>", expect_json=False) is not None


@settings(max_examples=300, deadline=None)
@given(source=st.sampled_from(["okx", "bybit", "deribit", "kraken", "blockchain_com", "binance", "mempool"]),
       body=st.one_of(st.binary(max_size=200),
                      st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                                   lambda inner: st.lists(inner, max_size=3)
                                   | st.dictionaries(st.sampled_from(["code", "retCode", "error", "status", "msg"]),
                                                     inner, max_size=3),
                                   max_leaves=10).map(lambda d: json.dumps(d).encode())))
def test_envelope_error_never_raises(source: str, body: bytes) -> None:
    result = envelope_error(source, body)
    assert result is None or (isinstance(result, str) and result)
