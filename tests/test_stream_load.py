"""The stream archive's daily load (pipelines/ingest/stream_days.py) and the demo's landing of it
(pipelines/demo/stream_landing.py), on real DuckDB files.

- The demo lands a day's frames through the collector's writer, byte-identical on every run, write-once; loaded, the
  day's orders are exactly the orders the demo venues pushed (the model's truth), and the break day is of the
  report's order.
- Bad input: a malformed frame is quarantined with its venue, file line and reason and the rest of the hour kept;
  an order seen twice after a reconnect counts once; an order stamped in the day before is that day's; a stamp far
  from its receive time is quarantined as clock skew; a file not matching its sidecar fails the venue-day in one
  line and its previous rows stay; a venue-day above the reject threshold keeps its previous rows.
- A collector killed with SIGKILL mid-hour (the real collect() and writer in a child process, on the demo server's
  simulated clock) and started again: every order the server delivered is in raw exactly once, or was sent inside
  the gap the kill left, which the coverage records.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.collector.hourly_files import StreamArchiveError, StreamArchiveWriter, hour_files
from pipelines.demo.liquidation_feeds import BREAK_DAY, default_feeds
from pipelines.demo.stream_landing import land_demo_day, land_demo_window
from pipelines.demo.ws_server import DemoLiquidationStreams, SimClock
from pipelines.ingest.load_log import FAILED, LOADED, REJECTED
from pipelines.ingest.stream_days import load_stream_window
from pipelines.sources.liquidation_streams import parse_frame

UTC = dt.UTC
DAY = dt.date(2025, 11, 20)
NOW = dt.datetime(2026, 1, 1, tzinfo=UTC)


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def load(tree: Path, days, threshold: float = 0.02, venues=("binance", "bybit", "okx")):
    with duckdb.connect(str(tree / "warehouse.duckdb")) as conn:
        return load_stream_window(conn, tree / "landing", tree, list(days), NOW, threshold, venues)


def query(tree: Path, sql: str, params=()):
    with duckdb.connect(str(tree / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute(sql, list(params)).fetchall()


# ---- the demo's landing ----------------------------------------------------------------------------------------


def test_the_demo_lands_byte_identical_write_once_files_whose_orders_are_the_venues_truth(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for tree in (first, second):
        landed = land_demo_window(tree / "landing", [BREAK_DAY])
        assert {d.venue for d in landed} == {"binance", "bybit", "okx"}
    assert tree_digest(first / "landing") == tree_digest(second / "landing")  # reruns are byte-identical
    again = land_demo_window(first / "landing", [BREAK_DAY])  # write-once: nothing lands twice
    assert sum(d.frames for d in again) == 0 and all(d.hours_kept for d in again)
    assert tree_digest(first / "landing") == tree_digest(second / "landing")

    results = load(first, [BREAK_DAY])
    assert all(r.status == LOADED and r.cover.covered_seconds == 86400 for r in results)
    feeds = default_feeds()
    for venue in ("binance", "bybit", "okx"):
        truth = feeds.totals(venue, BREAK_DAY, pushed=True)["all"]
        ((orders, usd),) = query(first, "SELECT count(*), sum(usd) FROM raw.liquidation_stream__orders "
                                        "WHERE partition_date = ? AND venue = ?", [BREAK_DAY, venue])
        assert orders == truth.orders and usd == pytest.approx(truth.usd, rel=1e-9), venue
    ((total, longs),) = query(first, "SELECT sum(usd), sum(usd) FILTER (WHERE side = 'long') "
                                     "FROM raw.liquidation_stream__orders WHERE partition_date = ?", [BREAK_DAY])
    assert 3e8 < total < 2e9 and longs / total > 0.8  # the report's order: hundreds of millions, mostly longs


def test_an_hour_already_in_the_archive_is_kept_and_the_others_land(tmp_path):
    landing = tmp_path / "landing"
    land_demo_day(landing, "okx", DAY, hours=range(5, 6))
    before = {p: p.read_bytes() for p in landing.rglob("*.frames.jsonl")}
    landed = land_demo_day(landing, "okx", DAY)
    assert (landed.hours_landed, landed.hours_kept) == (23, 1)
    assert all(p.read_bytes() == data for p, data in before.items())
    (result,) = load(tmp_path, [DAY], venues=("okx",))
    assert result.cover.covered_seconds == 86400 and result.duplicates == 0


def test_a_landing_cut_short_by_a_full_disk_leaves_no_half_hour_and_the_next_run_lands_the_rest(tmp_path,
                                                                                                 monkeypatch):
    import errno

    clean = tmp_path / "clean" / "landing"
    land_demo_day(clean, "okx", DAY)
    landing = tmp_path / "tree" / "landing"
    real_link, links = os.link, [0]

    def full_after_a_while(src, dst, *args, **kwargs):
        links[0] += 1
        if links[0] > 30:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", full_after_a_while)
    with pytest.raises(StreamArchiveError, match="No space left on device"):
        land_demo_day(landing, "okx", DAY)
    monkeypatch.setattr(os, "link", real_link)
    archived = sorted(p.relative_to(landing) for p in landing.rglob("*") if p.is_file())
    assert not any(p.name.endswith(".open") for p in archived)  # only whole, sealed hours made it
    assert len({p.parent for p in archived}) < 24
    assert not list((tmp_path / "tree" / "tmp").glob("demo-streams-*"))  # its scratch is gone
    again = land_demo_day(landing, "okx", DAY)
    assert again.hours_kept == len({p.parent for p in archived}) and again.hours_landed == 24 - again.hours_kept
    assert tree_digest(landing) == tree_digest(clean)  # the same files as a landing never cut short


# ---- bad input -------------------------------------------------------------------------------------------------

T0 = dt.datetime.combine(DAY, dt.time(10), tzinfo=UTC)


def okx_frame(ts: dt.datetime, size: str = "3", price: str = "91000.1") -> str:
    ms = int(ts.timestamp() * 1000)
    return json.dumps({"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [{
        "instId": "BTC-USDT-SWAP", "instType": "SWAP", "uly": "BTC-USDT", "details": [{
            "side": "sell", "posSide": "long", "bkPx": price, "sz": size, "bkLoss": "0", "ts": str(ms)}]}]},
        separators=(",", ":"))


def write_frames(landing: Path, frames: list[tuple[dt.datetime, str]], venue: str = "okx") -> None:
    now = frames[0][0]
    writer = StreamArchiveWriter(landing, venue, clock=lambda: now, background=False)
    try:
        for at, text in frames:
            now = at
            writer.append(text, at)
        now = frames[-1][0] + dt.timedelta(seconds=1)
    finally:
        writer.close()


def test_a_malformed_frame_is_quarantined_with_its_line_and_the_rest_of_the_hour_is_kept(tmp_path):
    good = [(T0 + dt.timedelta(seconds=i), okx_frame(T0 + dt.timedelta(seconds=i) - dt.timedelta(milliseconds=300),
                                                      size=str(i + 1))) for i in range(60)]
    torn = (T0 + dt.timedelta(seconds=30, milliseconds=500), good[5][1][:40])
    write_frames(tmp_path / "landing", [*good[:31], torn, *good[31:]])
    (result,) = load(tmp_path, [DAY], threshold=0.05, venues=("okx",))
    assert result.status == LOADED and len(result.orders) == 60
    ((dataset, line, reason, row),) = query(tmp_path, "SELECT dataset, row_number, reason, row_json "
                                                      "FROM raw.quarantine")
    assert (dataset, line, row) == ("liquidation_stream__okx", 32, torn[1])
    assert reason.startswith("okx line 32: frame not readable: ")


def test_an_order_seen_twice_counts_once_and_one_stamped_the_day_before_is_that_days(tmp_path):
    midnight = dt.datetime.combine(DAY, dt.time(), tzinfo=UTC)
    late = okx_frame(midnight - dt.timedelta(milliseconds=150))  # the day before's last moment, received after 0:00
    frames = [(midnight + dt.timedelta(milliseconds=100), late),
              (T0, okx_frame(T0 - dt.timedelta(seconds=1))),
              (T0 + dt.timedelta(seconds=2), okx_frame(T0 - dt.timedelta(seconds=1)))]  # again after a reconnect
    write_frames(tmp_path / "landing", frames)
    before, day = load(tmp_path, [DAY - dt.timedelta(days=1), DAY], venues=("okx",))
    assert (len(before.orders), before.duplicates) == (1, 0)
    assert (len(day.orders), day.duplicates) == (1, 1)
    rows = query(tmp_path, "SELECT partition_date, event_time FROM raw.liquidation_stream__orders ORDER BY 2")
    assert [r[0] for r in rows] == [DAY - dt.timedelta(days=1), DAY]
    # The day before had no file of its own: its coverage says so, but its order is loaded.
    assert before.cover.covered_seconds == 0 and {g.reason for g in before.cover.gaps} == {"no file"}


def test_a_stamp_far_from_its_receive_time_is_quarantined_as_clock_skew(tmp_path):
    frames = [(T0 + dt.timedelta(seconds=i), okx_frame(T0 + dt.timedelta(seconds=i - 1), size=str(i + 1)))
              for i in range(100)]
    frames.append((T0 + dt.timedelta(minutes=5), okx_frame(T0 + dt.timedelta(hours=2), size="999")))  # from later
    write_frames(tmp_path / "landing", frames)
    (result,) = load(tmp_path, [DAY], venues=("okx",))
    assert result.status == LOADED and len(result.orders) == 100
    ((reason,),) = query(tmp_path, "SELECT reason FROM raw.quarantine")
    assert "clock skew: stamped 2025-11-20T12:00:00" in reason and "received 2025-11-20T10:05:00" in reason


def test_a_file_not_matching_its_sidecar_fails_the_venue_day_in_one_line_and_keeps_its_rows(tmp_path):
    write_frames(tmp_path / "landing", [(T0, okx_frame(T0 - dt.timedelta(seconds=1)))])
    load(tmp_path, [DAY], venues=("okx",))
    (sealed,) = hour_files(tmp_path / "landing", "okx", DAY)
    sealed.path.chmod(0o644)
    sealed.path.write_bytes(sealed.path.read_bytes().replace(b"91000.1", b"91000.2"))
    (result,) = load(tmp_path, [DAY], venues=("okx",))
    assert result.status == FAILED and "\n" not in result.line()
    assert result.line().startswith(f"liquidation_stream/okx {DAY}: failed: the stream archive cannot be read: ")
    assert "does not match the sha256/size" in result.line()
    assert query(tmp_path, "SELECT quantity FROM raw.liquidation_stream__orders") == [(3.0,)]  # kept
    assert query(tmp_path, "SELECT status FROM raw.load_log") == [(FAILED,)]


def test_a_venue_day_above_the_reject_threshold_keeps_its_previous_rows(tmp_path):
    first = tmp_path / "first"
    write_frames(first / "landing", [(T0, okx_frame(T0 - dt.timedelta(seconds=1)))])
    load(first, [DAY], venues=("okx",))
    # The same warehouse, an archive where half the frames are torn.
    second_landing = tmp_path / "second"
    write_frames(second_landing, [(T0, okx_frame(T0 - dt.timedelta(seconds=1), size="5")),
                                  (T0 + dt.timedelta(seconds=1), "{")])
    with duckdb.connect(str(first / "warehouse.duckdb")) as conn:
        (result,) = load_stream_window(conn, second_landing, tmp_path, [DAY], NOW, 0.02, ("okx",))
    assert result.status == REJECTED and "1 of 2 frames quarantined (50.0%)" in result.reason
    assert query(first, "SELECT quantity FROM raw.liquidation_stream__orders") == [(3.0,)]


# ---- kill -9 mid-hour --------------------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import asyncio, datetime as dt, signal, sys, time
    from pathlib import Path
    from pipelines.collector.service import Backoff, collect
    from pipelines.demo.ws_server import SimClock
    from pipelines.sources.liquidation_streams import FEEDS

    landing, base_url, start_ms, speed, t0 = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    clock = SimClock(dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC), speed)
    clock._t0 = t0  # the server's clock: the same start, speed and monotonic origin (one clock per machine)

    async def main():
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await collect(Path(landing), {"okx": FEEDS["okx"]}, stop=stop, base_url=base_url, clock=clock.now,
                      backoff=Backoff(base_s=0.05, max_s=0.2), flush_every_s=0.2)

    asyncio.run(main())
""")


def test_a_collector_killed_mid_hour_loses_only_what_its_recorded_gap_covers(tmp_path):
    landing = tmp_path / "landing"
    start = dt.datetime(2025, 11, 11, 11, 0, tzinfo=UTC)  # OKX's demo cascade: 11:10-11:40
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with DemoLiquidationStreams(SimClock(start, speed=120)) as server:
        clock = server.clock
        argv = [sys.executable, "-c", CHILD, str(landing), server.base_url, str(clock.start_ms), str(clock.speed),
                repr(clock._t0)]

        def run_until(sim: dt.datetime, kill: bool) -> None:
            child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
            try:
                while clock.now() < sim and child.poll() is None:
                    time.sleep(0.05)
                assert child.poll() is None, child.stdout.read()
                child.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
                out, _ = child.communicate(timeout=60)
            finally:
                if child.poll() is None:
                    os.killpg(child.pid, signal.SIGKILL)
            assert kill or child.returncode == 0, out

        run_until(dt.datetime(2025, 11, 11, 11, 20, tzinfo=UTC), kill=True)  # mid-hour, in the cascade
        time.sleep(0.5)  # a minute of the simulated clock with no collector
        run_until(dt.datetime(2025, 11, 11, 11, 40, tzinfo=UTC), kill=False)
    tree = tmp_path
    (result,) = load(tree, [start.date()], venues=("okx",))
    assert result.status == LOADED and result.cover.interrupted_files == 1
    loaded = dict(query(tree, "SELECT order_key, count(*) FROM raw.liquidation_stream__orders GROUP BY 1"))
    assert set(loaded.values()) == {1}  # exactly once each
    received = [r[0].replace(tzinfo=UTC) for r in query(tree, "SELECT received_at FROM raw.liquidation_stream__orders")]
    gaps = [g for g in result.cover.gaps if g.reason in ("interrupted", "disconnected")]
    interrupted = [g for g in gaps if g.reason == "interrupted"]
    assert interrupted and all(g.end < dt.datetime(2025, 11, 11, 12, 0, tzinfo=UTC) for g in interrupted)
    # Every order the venue emitted while collectors ran, first frame to last: loaded once, or sent inside a gap.
    feeds = default_feeds()
    emitted = [f for topic in ("SWAP", "FUTURES") for f in feeds.frames("okx", topic, start.date())
               if min(received) <= dt.datetime.fromtimestamp(f.send_ms / 1000, UTC) <= max(received)]
    slack = dt.timedelta(seconds=clock.speed / 5)  # in flight when the kill came (0.2 s of real time)
    lost = 0
    for frame in emitted:
        at = dt.datetime.fromtimestamp(frame.send_ms / 1000, UTC)
        if {row["order_key"] for row in parse_frame("okx", frame.text, at).rows} <= set(loaded):
            continue
        lost += 1
        assert any(g.start - slack <= at <= g.end + slack for g in gaps), (at, [(str(g.start), str(g.end)) for g in gaps], sorted(str(r) for r in received if abs((r - at).total_seconds()) < 120))  # the gap is not too short
    assert lost, "the kill cost orders (else the gap was not exercised)"
    # … and not too long: no order loaded was received inside it.
    assert not [at for at in received for g in gaps if g.start < at < g.end]
    (gap,) = interrupted  # the dead collector's, from its last flushed frame to the next one's start (~3 s real)
    assert gap.end - gap.start > dt.timedelta(seconds=20)
