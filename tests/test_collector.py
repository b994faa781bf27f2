"""The stream collector (pipelines/collector/service.py) against the demo venues' websocket servers on 127.0.0.1.

The demo replays the 2025-11-11 cascade (10:50–11:30 UTC, across an hour's end) at 600× on a simulated clock that
both the server and the collector read. Faults: Binance's USDⓈ-M connection dropped mid-stream, Bybit's linear feed
dropped and answered with the last frames again after the reconnect (duplicates), a torn OKX frame. After it:
every frame the server delivered is in the archive exactly as sent, a frame it sent but the collector never got lies
inside a recorded disconnection, and the orders read back (de-duplicated by their key) are exactly the orders the
frames carried.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.collector.hourly_files import hour_files, iter_frames, open_hour_files
from pipelines.collector.service import Backoff, collect, redirected_url
from pipelines.demo.ws_server import DemoLiquidationStreams, Faults, SimClock
from pipelines.ingest.errors import ParseError
from pipelines.ingest.stream_days import load_stream_window
from pipelines.sources.liquidation_streams import FEEDS, parse_frame

START = dt.datetime(2025, 11, 11, 10, 50, tzinfo=dt.UTC)
END = dt.datetime(2025, 11, 11, 11, 30, tzinfo=dt.UTC)
DAY = START.date()
STREAMS_OF = {"binance": ("binance-usdm", "binance-coinm"), "bybit": ("bybit-linear", "bybit-inverse"),
              "okx": ("okx",)}


def run_collector(landing: Path, server: DemoLiquidationStreams, until: dt.datetime, feeds=FEEDS):
    async def main():
        stop = asyncio.Event()

        async def stopper():
            while server.clock.now() < until:
                await asyncio.sleep(0.05)
            stop.set()

        stats, _ = await asyncio.gather(
            collect(landing, feeds, stop=stop, base_url=server.base_url, clock=server.clock.now,
                    backoff=Backoff(base_s=0.05, max_s=0.2), flush_every_s=0.2),
            stopper())
        return stats

    return asyncio.run(main())


def archived(landing: Path, venue: str) -> list[tuple[dt.datetime, str]]:
    return [frame for sealed in hour_files(landing, venue, DAY) for frame in iter_frames(sealed)]


def disconnections(landing: Path, venue: str) -> list[tuple[dt.datetime, dt.datetime]]:
    spans = {tuple(span) for sealed in hour_files(landing, venue, DAY) for span in sealed.meta["disconnections"]}
    return [(dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b)) for a, b in spans]


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    landing = tmp_path_factory.mktemp("landing")
    faults = {
        "binance-usdm": Faults(drop_after_frames=40),
        "bybit-linear": Faults(drop_after_frames=25, resend_on_reconnect=3),
        "okx": Faults(malformed_at_frame=15),
    }
    with DemoLiquidationStreams(SimClock(START, speed=600), faults=faults) as server:
        stats = run_collector(landing, server, END)
        sent = server.sent()
    return landing, stats, sent


def test_every_frame_delivered_is_archived_as_sent_and_every_loss_is_inside_a_recorded_gap(collected):
    landing, stats, sent = collected
    assert {s.venue for s in stats} == {"binance", "bybit", "okx"} and not any(s.refused for s in stats)
    for venue, streams in STREAMS_OF.items():
        frames = archived(landing, venue)
        in_archive = collections.Counter(text for _at, text in frames)
        from_server = [f for f in sent if f.stream in streams]
        assert from_server, venue
        # How long a frame was in flight: the server's send time against the archive's receive time, over the frames
        # sent once (a pong's text repeats). A frame lost when a connection was cut was in flight at the gap's start
        # (the last frame read), so it was sent no earlier than that start less the longest flight seen.
        times_sent = collections.Counter(f.text for f in from_server)
        sent_once = {f.text: f.sim_ms for f in from_server if times_sent[f.text] == 1}
        flight = max((at - dt.datetime.fromtimestamp(sent_once[text] / 1000, dt.UTC) for at, text in frames
                      if text in sent_once), default=dt.timedelta(0))
        slack = flight + dt.timedelta(seconds=1)
        missing = [f for f in from_server if in_archive[f.text] == 0]
        gaps = disconnections(landing, venue)
        for frame in missing:  # sent into a connection as it was being cut: lost, and the loss is recorded
            at = dt.datetime.fromtimestamp(frame.sim_ms / 1000, dt.UTC)
            assert any(start - slack <= at <= end + dt.timedelta(seconds=1) for start, end in gaps), (
                venue, at, frame.kind, sorted(gaps), flight)
        extra = set(in_archive) - {f.text for f in from_server}
        assert extra == set(), f"{venue}: archived frames the server never sent"


def test_the_faults_happened_and_were_survived(collected):
    landing, stats, sent = collected
    by_feed = {f"{s.venue}/{s.market}": s for s in stats}
    assert by_feed["binance/usdm"].connections >= 2 and by_feed["binance/usdm"].reconnects >= 1
    assert by_feed["bybit/linear"].connections >= 2
    assert any(f.kind == "resent" for f in sent if f.stream == "bybit-linear")
    assert disconnections(landing, "binance") and disconnections(landing, "bybit")
    torn = [f.text for f in sent if f.stream == "okx" and f.kind == "malformed"]
    assert torn and torn[0] in {text for _at, text in archived(landing, "okx")}  # archived as received
    with pytest.raises(ParseError):
        parse_frame("okx", torn[0], START)


def test_orders_read_back_once_each_are_the_orders_the_frames_carried(collected):
    landing, _stats, sent = collected
    for venue, streams in STREAMS_OF.items():
        texts = {text for _at, text in archived(landing, venue)}
        carried = {o for f in sent if f.stream in streams and f.kind in ("data", "resent") and f.text in texts
                   for o in f.orders}
        keys = collections.Counter()
        for at, text in archived(landing, venue):
            try:
                rows = parse_frame(venue, text, at.replace(tzinfo=None)).rows
            except ParseError:
                continue
            keys.update(row["order_key"] for row in rows)
        assert len(keys) == len(carried), venue  # de-duplicated: a resent frame's orders count once
        if venue == "bybit":
            assert any(n > 1 for n in keys.values()), "the duplicates after the reconnect were archived"


def test_the_daily_load_puts_each_order_carried_in_the_warehouse_exactly_once(collected, tmp_path):
    """The archive the faults left, loaded as the nightly run loads it: every order the frames the collector received
    carried is in raw exactly once (the resent duplicates dropped, the torn frame quarantined), and the drops are
    in the day's coverage as disconnections."""
    landing, _stats, sent = collected
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        results = load_stream_window(conn, landing, landing.parent, [DAY], dt.datetime.now(dt.UTC), 0.05)
        loaded = dict(conn.execute("SELECT venue, count(*) FROM raw.liquidation_stream__orders GROUP BY 1").fetchall())
        keys = conn.execute("SELECT count(*), count(DISTINCT order_key) FROM raw.liquidation_stream__orders").fetchone()
        quarantined = conn.execute("SELECT dataset, reason FROM raw.quarantine").fetchall()
    assert keys[0] == keys[1]
    by_venue = {r.venue: r for r in results}
    for venue, streams in STREAMS_OF.items():
        texts = {text for _at, text in archived(landing, venue)}
        carried = {o for f in sent if f.stream in streams and f.kind in ("data", "resent") and f.text in texts
                   for o in f.orders}
        assert loaded.get(venue, 0) == len(carried), venue
    assert by_venue["bybit"].duplicates > 0  # the frames resent after the reconnect
    assert [d for d, _ in quarantined] == ["liquidation_stream__okx"]  # the torn frame, with its line
    assert {g.reason for g in by_venue["binance"].cover.gaps} >= {"disconnected"}


def test_hours_are_sealed_at_their_end(collected):
    landing, _stats, _sent = collected
    hours = {sealed.meta["hour"] for sealed in hour_files(landing, "okx", DAY)}
    assert {"2025-11-11T10", "2025-11-11T11"} <= {h[:13] for h in hours}


def test_a_refused_subscription_stops_that_feed_in_one_line_and_the_others_go_on(tmp_path):
    feeds = {"bybit": FEEDS["bybit"], "okx": FEEDS["okx"]}
    busy = dt.datetime(2025, 11, 11, 11, 10, tzinfo=dt.UTC)
    with DemoLiquidationStreams(SimClock(busy, speed=600), faults={"bybit-linear": Faults(refuse_subscription=True)}
                                ) as server:
        stats = run_collector(tmp_path, server, busy + dt.timedelta(minutes=10), feeds)
    by_feed = {f"{s.venue}/{s.market}": s for s in stats}
    refused = by_feed["bybit/linear"].refused
    assert refused and "\n" not in refused and refused.startswith("bybit/linear: the venue answered with an error")
    assert "handler not found" in refused
    assert by_feed["bybit/linear"].connections == 1  # not retried: the same request is refused again
    assert by_feed["okx/SWAP+FUTURES"].data_frames > 0 and by_feed["bybit/inverse"].data_frames > 0
    assert any("handler not found" in text for _at, text in archived(tmp_path, "bybit"))


def test_the_collector_addresses_each_venue_under_the_local_server():
    assert redirected_url("wss://ws.okx.com:8443/ws/v5/public", "ws://127.0.0.1:9") == \
        "ws://127.0.0.1:9/ws.okx.com/ws/v5/public"
    assert redirected_url("wss://ws.okx.com:8443/ws/v5/public", None) == "wss://ws.okx.com:8443/ws/v5/public"


def open_frames(landing: Path) -> list[tuple[dt.datetime, str]]:
    """What a running collector has flushed so far (the real clock's days: it runs on the machine's time)."""
    today = dt.datetime.now(dt.UTC).date()
    return [frame for day in (today - dt.timedelta(days=1), today) for f in open_hour_files(landing, "okx", day)
            for frame in iter_frames(f.path)]


def test_a_killed_collector_loses_only_unflushed_seconds_and_the_next_one_records_the_gap(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BTCW_")},
           "BTCW_WAREHOUSE_DIR": str(tmp_path), "BTCW_SOURCE_MODE": "live"}
    landing = tmp_path / "live" / "landing"
    with DemoLiquidationStreams(SimClock(dt.datetime(2025, 11, 11, 11, 10, tzinfo=dt.UTC), speed=60)) as server:
        command = [sys.executable, "-m", "pipelines.collector", "--venue", "okx", "--base-url", server.base_url]
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            flushed = []
            while len(flushed) < 20 and time.monotonic() < deadline:  # its own flushes, read from disk
                time.sleep(0.2)
                flushed = open_frames(landing)
            assert len(flushed) >= 20, first.stdout.read() if first.poll() is not None else "no frames flushed"
            flushed = open_frames(landing)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
        second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        try:
            time.sleep(3)
        finally:
            second.send_signal(signal.SIGTERM)
            out, _ = second.communicate(timeout=60)
    assert second.returncode == 0, out
    today = dt.datetime.now(dt.UTC).date()
    sealed = [s for day in (today - dt.timedelta(days=1), today) for s in hour_files(landing, "okx", day)]
    recovered = [s for s in sealed if s.meta.get("interrupted")]
    assert len(recovered) == 1 and recovered[0].meta["sealed_by"] == "recovery"
    kept = list(iter_frames(recovered[0]))
    assert kept[: len(flushed)] == flushed  # nothing flushed before the kill was lost
    assert recovered[0].meta["disconnections"], "the gap the kill left is recorded"
    assert any(not s.meta.get("interrupted") for s in sealed)  # the next collector wrote a file of its own


def test_outside_live_mode_the_collector_refuses_the_real_venues_in_one_line(monkeypatch, capsys):
    from pipelines.collector.service import main

    monkeypatch.setenv("BTCW_SOURCE_MODE", "demo")
    assert main([]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("collect: BTCW_SOURCE_MODE=demo, but the collector connects to the real venues")
    assert main(["--base-url", "ws://example.com:1"]) == 2
    assert "only a loopback host" in capsys.readouterr().err
