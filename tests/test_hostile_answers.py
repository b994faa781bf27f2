"""Hostile answers to the live HTTP client, from real local servers on 127.0.0.1 (issue 13, point 4).

A gzip bomb, a body announced or streamed past the cap, a redirect to another host, port or scheme, a redirect
loop: each is refused in one line naming the URL, before the body is in memory beyond the cap or in the archive,
and without sending the client's headers anywhere but the origin asked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import ipaddress
import random
import ssl
import struct
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from pipelines.ingest.archive import LandingArchive
from pipelines.ingest.body_source import MAX_BODY_BYTES, FetchingBodySource
from pipelines.ingest.errors import FetchError
from pipelines.live.fetcher import LiveFetcher
from pipelines.live.http_client import HttpClient, HttpPolicy, redirect_refusal
from pipelines.sources.registry import get_dataset
from tests.test_live_http_client import (
    DAY,
    NOW,
    OK_JSON,
    SEED,
    Action,
    Script,
    Server,
    _Handler,
    make_policy,
    reply,
)

BOMB_BYTES = 512 * 2**20  # what the operator's 510 KB of gzip inflated to
KLINES = get_dataset("binance", "spot_klines_1d")

# ------------------------------------------------------------------------------------------ servers and rigs


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # The client hangs up on what it refuses (a redirect's unread body, a body past the cap): expected here.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    """A scripted server on 127.0.0.1 (a free port), over https when given a TLS context."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    httpd.script = Script()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    try:
        yield Server(httpd.script, f"{'https' if tls else 'http'}://127.0.0.1:{port}")  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def origin() -> Iterator[Server]:
    with serving() as server:
        yield server


@pytest.fixture
def elsewhere() -> Iterator[Server]:
    """A second server: another origin (another port of 127.0.0.1) that must never be asked."""
    with serving() as server:
        yield server


def client(verify: ssl.SSLContext | bool = True, **policy: object) -> HttpClient:
    return HttpClient(make_policy(**policy), rng=random.Random(SEED), sleep=lambda s: None, now=lambda: NOW,
                      transport=httpx.HTTPTransport(verify=verify))  # explicit: no proxy from the environment


def fetcher(server: Server, *, key: str | None = None, verify: ssl.SSLContext | bool = True,
            **policy: object) -> LiveFetcher:
    """The live fetcher as live mode builds it, Binance's origin pointed at `server`; `key` as Binance's API key."""
    real_origin = "{0.scheme}://{0.netloc}".format(urlsplit(KLINES.build_request(DAY).url))
    return LiveFetcher(client=client(verify, **policy), now=lambda: NOW, base_urls={real_origin: server.base_url},
                       env={"BTCW_BINANCE_API_KEY": key} if key else {},
                       key_headers={"binance": "X-MBX-APIKEY"} if key else {})


def fetch_into(archive: LandingArchive, live: LiveFetcher) -> FetchError:
    """Fetch Binance's daily klines for DAY through the archive, as an extract does; the FetchError it raises."""
    with pytest.raises(FetchError) as caught:
        FetchingBodySource(live, archive).obtain(KLINES, DAY)
    return caught.value


def archived_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def tolerant(action: Action) -> Action:
    """The client hangs up once it has refused: a broken pipe on the server's side is the expected end."""

    def act(handler: BaseHTTPRequestHandler) -> None:
        with contextlib.suppress(OSError):
            action(handler)

    return act


def redirect(location: str, status: int = 302) -> Action:
    return reply(status, b"moved", {"Location": location}, content_type="text/plain")


# ------------------------------------------------------------------------------------------ hostile bodies


@functools.cache
def gzip_bomb(size: int = BOMB_BYTES) -> bytes:
    """A valid gzip member of `size` zero bytes (~530 KB), built in well under a second.

    Each 1 MiB of zeros deflates, after a full flush (which resets the compressor), to the same ~1 KB segment, so
    one segment repeated is the whole deflate stream; only the CRC needs the 512 MiB, and zlib.crc32 is fast.
    """
    piece = bytes(2**20)
    segment_maker = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    segment = segment_maker.compress(piece) + segment_maker.flush(zlib.Z_FULL_FLUSH)
    final_block = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(size // len(piece)):
        crc = zlib.crc32(piece, crc)
    header = b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + b"\x02\xff"  # no name, mtime 0: the same bytes each run
    return header + segment * (size // len(piece)) + final_block + struct.pack("<II", crc, size % 2**32)


def test_gzip_bomb_is_refused_while_read_without_reaching_memory_or_the_archive(origin: Server, tmp_path) -> None:
    bomb = gzip_bomb()
    origin.script.then(tolerant(reply(200, bomb, {"Content-Encoding": "gzip"})))
    archive = LandingArchive(tmp_path)
    live = fetcher(origin)
    tracemalloc.start()
    try:
        error = fetch_into(archive, live)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        live.close()
    # The cap is 16 MiB and the refusal measured 17.3 MiB at its peak; the old client held all 512 MiB. 8 MiB more
    # than the cap leaves room for whatever else the process allocates meanwhile.
    assert MAX_BODY_BYTES == 16 * 2**20
    assert peak < MAX_BODY_BYTES + 8 * 2**20, f"peak traced memory {peak / 2**20:.0f} MiB"
    message = str(error)
    assert (error.source, error.dataset, error.day) == ("binance", "spot_klines_1d", DAY)
    assert message.startswith(f"binance/spot_klines_1d for 2025-11-20: gzip body of {origin.base_url}/api/v3/klines?")
    assert "decompressed past 16 MiB" in message and "before archiving" in message
    assert "HttpPolicy.max_body_bytes = 16,777,216 bytes" in message
    assert "\n" not in message
    assert origin.script.hits == 1  # a bomb is the same bomb next time: not retried
    assert archived_files(tmp_path) == []
    # What was refused is what the operator measured: ~530 KB on the wire, a valid gzip of 512 MiB.
    assert 400_000 < len(bomb) < 600_000
    inflater, inflated = zlib.decompressobj(zlib.MAX_WBITS | 16), 0
    for start in range(0, len(bomb), 2**16):  # piece by piece: the test itself must not hold 512 MiB
        inflated += len(inflater.decompress(bomb[start:start + 2**16]))
    assert inflater.eof and inflated == BOMB_BYTES


def test_a_body_announced_past_the_cap_is_refused_unread(origin: Server, tmp_path) -> None:
    """The server announces 17 MiB, sends 1 KiB and waits: a client that read the body would wait with it."""
    released = threading.Event()

    def announce_and_stall(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(MAX_BODY_BYTES + 2**20))
        handler.end_headers()
        handler.wfile.write(b"[" + b"0," * 512)
        handler.wfile.flush()
        released.wait(5)

    origin.script.then(tolerant(announce_and_stall))
    archive = LandingArchive(tmp_path)
    started = time.monotonic()
    try:
        with fetcher(origin, read_timeout=4.0) as live:
            error = fetch_into(archive, live)
    finally:
        released.set()
    assert time.monotonic() - started < 3.0  # refused before the 4 s read timeout: nothing was waited for
    message = str(error)
    assert message.startswith(f"binance/spot_klines_1d for 2025-11-20: body of {origin.base_url}/api/v3/klines?")
    assert "announced 17,825,792 bytes (Content-Length), past 16 MiB; refused unread before archiving" in message
    assert origin.script.hits == 1
    assert archived_files(tmp_path) == []


def test_a_body_without_length_is_cut_on_the_wire_at_the_cap(origin: Server) -> None:
    """No Content-Length, no coding: the body ends when the server closes; the client stops at the cap."""
    sent: list[int] = []

    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        for _ in range(256):  # 16 MiB at most, should the client keep reading
            handler.wfile.write(b" " * 2**16)
            sent.append(2**16)

    origin.script.then(tolerant(endless))
    with fetcher(origin, max_body_bytes=2**20) as live, pytest.raises(FetchError) as caught:
        live.fetch(KLINES.build_request(DAY))
    message = str(caught.value)
    assert "passed 1 MiB on the wire; refused before archiving" in message
    assert "HttpPolicy.max_body_bytes = 1,048,576 bytes" in message
    assert origin.script.hits == 1


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
def test_every_coding_asked_for_is_inflated_within_the_cap(origin: Server, coding: str) -> None:
    """A body inflating to one byte past a small cap is refused; the same coding under the cap is read whole."""
    wbits = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS, "raw-deflate": -zlib.MAX_WBITS}[coding]
    header = "gzip" if coding == "gzip" else "deflate"  # "deflate" is sent both zlib-wrapped and raw

    def encoded(body: bytes) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
        return packer.compress(body) + packer.flush()

    small = b"[" + b"1," * 4_999 + b"1]"  # 10,001 bytes
    origin.script.then(reply(200, encoded(small), {"Content-Encoding": header}),
                       reply(200, encoded(small + b" "), {"Content-Encoding": header}))
    with fetcher(origin, max_body_bytes=10_001) as live:
        assert live.fetch(KLINES.build_request(DAY)).body == small
        with pytest.raises(FetchError, match=rf"{header} body of .* decompressed past 10,001 bytes from \d+ bytes"):
            live.fetch(KLINES.build_request(DAY))
    assert origin.script.hits == 2
    assert origin.script.requests[0].headers["accept-encoding"] == "gzip, deflate"  # only what the client inflates


def test_a_body_gzipped_twice_is_refused(origin: Server) -> None:
    """Stacked codings multiply the ratio (a few KB could be gigabytes): no API sends them, so none is accepted."""
    inner = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    outer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    twice = outer.compress(inner.compress(OK_JSON) + inner.flush()) + outer.flush()
    origin.script.then(reply(200, twice, {"Content-Encoding": "gzip, gzip"}))
    with fetcher(origin) as live, pytest.raises(FetchError, match=r"is encoded gzip, gzip: more than one coding"):
        live.fetch(KLINES.build_request(DAY))
    assert origin.script.hits == 1


# ------------------------------------------------------------------------------------------ redirects


@pytest.mark.parametrize("where", ["another port", "another host name"])
def test_a_redirect_off_the_origin_is_refused_and_the_headers_stay_home(origin: Server, elsewhere: Server,
                                                                         where: str, tmp_path) -> None:
    port = urlsplit(origin.base_url).port
    target = f"{elsewhere.base_url}/steal" if where == "another port" else f"http://localhost:{port}/steal"
    origin.script.then(redirect(target))
    elsewhere.script.then(reply(200))
    archive = LandingArchive(tmp_path)
    with fetcher(origin, key="s3cret-key") as live:
        error = fetch_into(archive, live)
    message = str(error)
    assert message.startswith(f"binance/spot_klines_1d for 2025-11-20: redirect from {origin.base_url}/api/v3/klines?")
    assert f" to {target} refused: another {'port' if where == 'another port' else 'host (localhost)'}" in message
    assert "\n" not in message
    # The key and the User-Agent went to the origin asked, and nowhere else: the other server was never asked.
    assert [r.path.split("?")[0] for r in origin.script.requests] == ["/api/v3/klines"]
    assert origin.script.requests[0].headers["x-mbx-apikey"] == "s3cret-key"
    assert [r.headers for r in elsewhere.script.requests] == []
    assert archived_files(tmp_path) == []


def test_a_same_origin_redirect_is_followed_with_its_headers_and_its_own_body_unread(origin: Server) -> None:
    """A moved path on the same origin still works (relative and absolute Location), headers included. The
    redirect's own body is never read: this one announces 1 GiB and stalls, as a hostile server may."""
    released = threading.Event()

    def moved_with_endless_body(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(301)
        handler.send_header("Location", "/api/v3/moved")
        handler.send_header("Content-Length", str(2**30))
        handler.end_headers()
        handler.wfile.write(b"moved " * 100)
        handler.wfile.flush()
        released.wait(5)

    origin.script.then(tolerant(moved_with_endless_body), redirect(f"{origin.base_url}/api/v3/final", 307),
                       reply(200))
    started = time.monotonic()
    with fetcher(origin, key="s3cret-key", read_timeout=4.0) as live:
        try:
            fetched = live.fetch(KLINES.build_request(DAY))
        finally:
            released.set()
        assert time.monotonic() - started < 3.0  # the 301's body was not waited for (4 s read timeout)
        assert (fetched.status, fetched.body) == (200, OK_JSON)
        assert live.last_result is not None and live.last_result.url == f"{origin.base_url}/api/v3/final"
    assert [r.path.split("?")[0] for r in origin.script.requests] == ["/api/v3/klines", "/api/v3/moved",
                                                                      "/api/v3/final"]
    assert {r.headers["x-mbx-apikey"] for r in origin.script.requests} == {"s3cret-key"}


def test_a_redirect_loop_is_refused_at_once(origin: Server) -> None:
    origin.script.then(redirect("/b"), redirect("/c"), redirect("/b"))
    with fetcher(origin) as live, pytest.raises(FetchError) as caught:
        live.fetch(KLINES.build_request(DAY))
    assert str(caught.value).endswith(f"redirect from {origin.base_url}/c to {origin.base_url}/b refused: a redirect "
                                      "loop (that URL was already asked in this attempt)")
    assert origin.script.hits == 3  # not retried: the same server would loop the same way


def test_more_redirects_than_the_policy_allows_are_refused(origin: Server) -> None:
    origin.script.then(*(redirect(f"/hop{n}") for n in range(1, 10)))
    with fetcher(origin, max_redirects=3) as live, pytest.raises(FetchError) as caught:
        live.fetch(KLINES.build_request(DAY))
    assert (f"redirect from {origin.base_url}/hop3 to {origin.base_url}/hop4 refused: more than 3 redirects "
            "(HttpPolicy.max_redirects)") in str(caught.value)
    assert origin.script.hits == 4


# ------------------------------------------------------------------------------------------ https


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: (server context, client context trusting it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


def test_https_redirects_stay_on_https(tls, elsewhere: Server) -> None:
    """https → https on the same origin is followed; https → http (even to the same address) is refused."""
    server_tls, client_tls = tls
    with serving(server_tls) as secure:
        port = urlsplit(secure.base_url).port
        downgrade = f"http://127.0.0.1:{port}/plain"
        secure.script.then(redirect("/moved"), reply(200), redirect(downgrade), redirect(f"{elsewhere.base_url}/x"))
        with fetcher(secure, key="s3cret-key", verify=client_tls) as live:
            assert live.fetch(KLINES.build_request(DAY)).body == OK_JSON
            with pytest.raises(FetchError) as downgraded:
                live.fetch(KLINES.build_request(DAY))
            with pytest.raises(FetchError) as left:
                live.fetch(KLINES.build_request(DAY))
    assert f"to {downgrade} refused: a downgrade from https to http" in str(downgraded.value)
    assert f"to {elsewhere.base_url}/x refused: a downgrade from https to http" in str(left.value)
    assert [r.path.split("?")[0] for r in secure.script.requests] == ["/api/v3/klines", "/moved", "/api/v3/klines",
                                                                      "/api/v3/klines"]
    assert elsewhere.script.requests == []


@pytest.mark.parametrize(
    ("origin_url", "target_url", "refusal"),
    [
        ("https://api.binance.com/a", "https://api.binance.com/b?x=1", None),
        ("https://api.binance.com/a", "https://api.binance.com:443/b", None),  # the default port, written out
        ("http://127.0.0.1:8787/a", "http://127.0.0.1:8787/b", None),  # the local demo and test servers
        ("http://localhost:8787/a", "http://localhost:8787/b", None),
        ("https://api.binance.com/a", "http://api.binance.com/a", "a downgrade from https to http"),
        ("https://api.binance.com/a", "https://evil.example/a", "another host (evil.example)"),
        ("https://api.binance.com/a", "https://binance.com/a", "another host (binance.com)"),
        ("https://api.binance.com/a", "https://api.binance.com:8443/a", "another port (8443)"),
        ("https://api.binance.com/a", "ftp://api.binance.com/a", "another scheme (ftp)"),
        ("http://127.0.0.1:8787/a", "https://127.0.0.1:8787/a", "another scheme (https)"),
        ("http://127.0.0.1:8787/a", "http://127.0.0.1:8788/a", "another port (8788)"),
        ("http://127.0.0.1:8787/a", "http://localhost:8787/a", "another host (localhost)"),
        ("http://api.example/a", "http://api.example/b", "plain http off the loopback host"),
    ],
)
def test_redirect_rule(origin_url: str, target_url: str, refusal: str | None) -> None:
    assert redirect_refusal(httpx.URL(origin_url), httpx.URL(target_url)) == refusal


def test_policy_rejects_a_cap_or_hop_count_that_means_nothing() -> None:
    assert HttpPolicy().max_body_bytes == MAX_BODY_BYTES  # the ingest limit, now enforced while reading
    with pytest.raises(ValueError, match="max_body_bytes"):
        HttpPolicy(max_body_bytes=0)
    with pytest.raises(ValueError, match="max_redirects"):
        HttpPolicy(max_redirects=-1)
