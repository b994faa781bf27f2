"""The stream collector: keeps each venue's liquidation feed open and archives every frame as received.

One asyncio task per feed (pipelines.sources.liquidation_streams.FEEDS: Binance USDⓈ-M and COIN-M, Bybit linear and
inverse, OKX), one StreamArchiveWriter per venue (pipelines.collector.hourly_files: hourly files, flushed every few
seconds, sealed write-once at the hour). Every text frame goes to the archive before anything reads it — data,
acknowledgements, pongs, errors alike — so the daily load decides what each one means, from the archive alone.

Per connection: connect (the `websockets` client: RFC 6455, protocol pings answered by the library), send the feed's
subscribe frames (again after every reconnect: no venue resumes a session), then read. The venue's application
heartbeat (Bybit {"op":"ping"}, OKX "ping") is sent every `ping_interval_s`; a connection silent for three intervals
(or, without an application heartbeat, for `silence_s`) is taken for dead and replaced. A connection is replaced
before the venue's documented lifetime ends (Binance: 24 h). A drop, a refused handshake or a dead connection is
retried with exponential backoff and jitter (1 s doubling to 60 s); the time down is recorded in the archive as a
disconnection (start = the last frame received, end = the first frame of the new connection's subscription). A
subscription the venue refuses (its error frame) is not retried: the same request would be refused again; the feed
stops with one line naming venue, market and the venue's reason, and the other feeds go on.

Run: `BTCW_SOURCE_MODE=live make collect` (every venue, live endpoints, into the live tree's landing archive; other
modes are refused without --base-url, as they are not the venues' data); `--venue` to pick,
`--base-url ws://127.0.0.1:PORT` to collect from a local server instead (the demo's, pipelines.demo.ws_server), which
serves each real host under `/<host>` (loopback only, as BTCW_LIVE_BASE_URL). SIGTERM or SIGINT stop it cleanly:
the files are flushed and sealed. A kill -9 loses at most the unflushed seconds; the next start seals what was left
and records the gap (hourly_files.recover).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import random
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from pipelines.collector.hourly_files import StreamArchiveError, StreamArchiveWriter
from pipelines.settings import LOOPBACK_HOSTS
from pipelines.sources.liquidation_streams import FEEDS, Kind, VenueFeed, classify

log = logging.getLogger(__name__)

# A frame larger than this is not a liquidation push (the venues' are a few KB): the connection is closed (1009).
MAX_FRAME_BYTES = 2**20


class FeedRefused(Exception):
    """The venue refused what the feed asks (its subscription, or the handshake): retrying cannot help."""


@dataclass(frozen=True)
class Backoff:
    base_s: float = 1.0
    max_s: float = 60.0
    jitter: float = 0.2  # ± this share of the delay

    def delay(self, attempt: int, rng: random.Random) -> float:
        raw = min(self.max_s, self.base_s * 2 ** max(0, attempt - 1))
        return raw * (1 + rng.uniform(-self.jitter, self.jitter))


@dataclass
class FeedStats:
    """What one feed did, for the log line at exit and for tests."""

    venue: str
    market: str
    connections: int = 0
    frames: int = 0
    data_frames: int = 0
    pings: int = 0
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)
    refused: str | None = None

    def line(self) -> str:
        state = f"refused: {self.refused}" if self.refused else f"{self.reconnects} reconnect(s)"
        return (f"{self.venue}/{self.market}: {self.connections} connection(s), {self.frames:,} frames "
                f"({self.data_frames:,} data), {self.pings} ping(s) sent, {state}")


def redirected_url(real_url: str, base_url: str | None) -> str:
    """The URL to connect to: the venue's own, or under `base_url` as `/<real host><path>` (a local server)."""
    if not base_url:
        return real_url
    parts = urlsplit(real_url)
    return f"{base_url.rstrip('/')}/{parts.hostname}{parts.path}"


def check_base_url(raw: str, allow_remote: bool = False) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"--base-url {raw!r} is not a ws:// or wss:// URL with a host")
    if not allow_remote and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"--base-url {raw!r}: only a loopback host (127.0.0.1, localhost, ::1) unless "
                         "--allow-remote")
    return raw


class FeedCollector:
    """One feed's connection loop (see the module docstring)."""

    def __init__(self, feed: VenueFeed, writer: StreamArchiveWriter, url: str, clock: Callable[[], dt.datetime],
                 backoff: Backoff = Backoff(), rng: random.Random | None = None, silence_s: float = 600.0,
                 lifetime_margin_s: float = 300.0):
        self.feed = feed
        self.writer = writer
        self.url = url
        self.clock = clock
        self.backoff = backoff
        self.rng = rng or random.Random(f"{feed.venue}/{feed.market}")
        self.silence_s = silence_s
        self.lifetime_margin_s = lifetime_margin_s
        self.stats = FeedStats(feed.venue, feed.market)
        self._last_frame_at: dt.datetime | None = None
        self._down_since: dt.datetime | None = None

    @property
    def name(self) -> str:
        return f"{self.feed.venue}/{self.feed.market}"

    async def run(self, stop: asyncio.Event) -> FeedStats:
        attempt = 0
        while not stop.is_set():
            try:
                async with connect(self.url, open_timeout=20, close_timeout=2, max_size=MAX_FRAME_BYTES,
                                   ping_interval=20, ping_timeout=20) as ws:
                    self.stats.connections += 1
                    attempt = 0
                    await self._session(ws, stop)
            except FeedRefused as refused:
                self.stats.refused = str(refused)
                log.error("%s", refused)
                self._went_down()
                break
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403, 451):  # forbidden or region-blocked: the same answer every time
                    self.stats.refused = f"{self.name}: {self.url} refused the connection with HTTP {status}"
                    log.error("%s", self.stats.refused)
                    self._went_down()
                    break
                self._note_error(f"HTTP {status} on connecting")
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as exc:
                self._note_error(f"{type(exc).__name__}: {exc}")
            self._went_down()  # (when stopping, the session already marked the moment reading stopped)
            if stop.is_set():
                break
            attempt += 1
            self.stats.reconnects += 1
            delay = self.backoff.delay(attempt, self.rng)
            log.warning("%s: reconnecting in %.1f s (%s)", self.name, delay, self.stats.errors[-1]
                        if self.stats.errors else "connection ended")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        if self._down_since is not None:  # stopped, refused or down: nothing is read from then to the collector's end
            self.writer.record_disconnect(self._down_since, self.clock())
            self._down_since = None
        return self.stats

    def _note_error(self, text: str) -> None:
        self.stats.errors.append(text)

    def _went_down(self) -> None:
        if self._down_since is None:
            self._down_since = self._last_frame_at or self.clock()
            self.writer.record_disconnect(self._down_since)

    async def _session(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        feed = self.feed
        opened = time.monotonic()
        for frame in feed.subscribe:
            await ws.send(frame)
        interval = feed.ping_interval_s
        silence = 3 * interval if interval else self.silence_s
        lifetime = (feed.max_connection_s - self.lifetime_margin_s) if feed.max_connection_s else None
        last_ping = last_frame = time.monotonic()
        stopping = asyncio.ensure_future(stop.wait())
        # One recv() outstanding at a time, kept across heartbeat and lifetime checks, never cancelled while the
        # connection is read: a recv() cancelled as it completes would drop the frame it had just taken.
        receiving: asyncio.Future | None = None
        try:
            while True:
                now = time.monotonic()
                if lifetime is not None and now - opened >= lifetime:
                    return  # replaced before the venue ends it
                if now - last_frame >= silence:
                    self._note_error(f"no frame for {silence:.0f} s: connection taken for dead")
                    return
                waits = [silence - (now - last_frame)]
                if interval:
                    if now - last_ping >= interval:
                        await ws.send(feed.ping_text)
                        self.stats.pings += 1
                        last_ping = now
                    waits.append(interval - (now - last_ping))
                if lifetime is not None:
                    waits.append(lifetime - (now - opened))
                if receiving is None:
                    receiving = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({receiving, stopping}, timeout=max(0.01, min(waits)),
                                             return_when=asyncio.FIRST_COMPLETED)
                if receiving in done:  # a frame that came is archived, even as the collector stops
                    frame, receiving = receiving.result(), None
                    last_frame = time.monotonic()
                    self._received(frame)
                if stopping in done:
                    # Reading stops now: frames still in flight (sent up to their transit time ago) are lost with the
                    # connection, and run() records the gap from here to the collector's end.
                    self._down_since = self.clock()
                    self.writer.record_disconnect(self._down_since)
                    return
        finally:
            stopping.cancel()
            if receiving is not None:
                receiving.cancel()

    def _received(self, frame: str | bytes) -> None:
        at = self.clock()
        text = frame if isinstance(frame, str) else frame.decode("utf-8", errors="replace")
        self.writer.append(text, at)  # archived first, whatever it is
        self.stats.frames += 1
        self._last_frame_at = at
        kind = classify(self.feed.venue, text)
        if self._down_since is not None and kind.kind in (Kind.SUBSCRIBED, Kind.DATA):
            self.writer.record_disconnect(self._down_since, at)
            self._down_since = None
        if kind.kind is Kind.DATA:
            self.stats.data_frames += 1
        elif kind.kind is Kind.ERROR:
            raise FeedRefused(f"{self.name}: the venue answered with an error ({kind.code}: {kind.message}); "
                              "the feed stops, its frames so far are archived")
        elif kind.kind is Kind.NOTICE:
            log.warning("%s: venue notice %s: %s", self.name, kind.code, kind.message)


async def collect(landing_root: Path, feeds: Mapping[str, Sequence[VenueFeed]] = FEEDS, *,
                  stop: asyncio.Event, base_url: str | None = None,
                  clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                  backoff: Backoff = Backoff(), flush_every_s: float = 2.0, silence_s: float = 600.0,
                  writer_background: bool = True) -> list[FeedStats]:
    """Collect `feeds` into the stream archive under `landing_root` until `stop` is set."""
    writers: dict[str, StreamArchiveWriter] = {}
    try:
        for venue in feeds:
            writers[venue] = StreamArchiveWriter(landing_root, venue, clock=clock, flush_every_s=flush_every_s,
                                                 background=writer_background)
        collectors = [FeedCollector(feed, writers[venue], redirected_url(feed.url, base_url), clock, backoff,
                                    silence_s=silence_s)
                      for venue, venue_feeds in feeds.items() for feed in venue_feeds]
        return list(await asyncio.gather(*(c.run(stop) for c in collectors)))
    finally:
        failures = []
        for writer in writers.values():
            try:
                writer.close()
            except StreamArchiveError as exc:
                failures.append(exc)
        if failures:
            raise failures[0]


def main(argv: list[str] | None = None) -> int:
    from pipelines.settings import Settings, SettingsError, SourceMode

    parser = argparse.ArgumentParser(prog="python -m pipelines.collector", description=__doc__.split("\n\n")[0])
    parser.add_argument("--venue", action="append", choices=sorted(FEEDS), help="a venue to collect (default: all)")
    parser.add_argument("--base-url", help="collect from this local server instead of the venues (ws://127.0.0.1:…)")
    parser.add_argument("--allow-remote", action="store_true", help="let --base-url name a host other than loopback")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = Settings.from_env()
        base_url = check_base_url(args.base_url, args.allow_remote) if args.base_url else None
    except (SettingsError, ValueError) as error:
        print(f"collect: {error}", file=sys.stderr)
        return 2
    if settings.source_mode is not SourceMode.LIVE and base_url is None:
        print(f"collect: BTCW_SOURCE_MODE={settings.source_mode.value}, but the collector connects to the real "
              "venues: set BTCW_SOURCE_MODE=live (their frames go to the live tree), or --base-url to a demo server",
              file=sys.stderr)
        return 2
    feeds = {venue: FEEDS[venue] for venue in (args.venue or FEEDS)}
    landing = settings.landing_dir

    async def run() -> list[FeedStats]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"collecting {', '.join(f'{f.venue}/{f.market}' for fs in feeds.values() for f in fs)} into "
              f"{landing} (SIGTERM or Ctrl-C stops and seals)", flush=True)
        return await collect(landing, feeds, stop=stop, base_url=base_url)

    try:
        stats = asyncio.run(run())
    except StreamArchiveError as error:
        print(f"collect: {error}", file=sys.stderr)
        return 1
    for s in stats:
        print(s.line(), file=sys.stderr if s.refused else sys.stdout)
    return 1 if any(s.refused for s in stats) else 0
