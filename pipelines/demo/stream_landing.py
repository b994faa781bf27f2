"""Offline `make run`: the demo day's liquidation frames landed in the stream archive as if the collector had run.

The collector (pipelines.collector) archives what the venues push, live, into hourly files. A demo run has no
collector running, so for each day of its window this writes the frames the demo venues (pipelines.demo.
liquidation_feeds, the same model the demo websocket servers serve) push that day into the same hourly files,
through the same StreamArchiveWriter, on a simulated clock: each hour's file is opened at the hour's start, every
frame appended at its receive time (send time + a fixed 2 ms network latency), and the hour sealed as its end
passes. So the daily load downstream of the archive reads exactly what it reads of live data, and the files are
byte-identical on every run (the clock, the frames and the names are functions of the date).

A venue's feeds are the collector's (pipelines.sources.liquidation_streams.FEEDS): their topics are read from the
subscribe frames (Bybit, OKX) or the URL (Binance), so the demo lands what the collector would subscribe to.

Write-once: an hour that already has a file in the archive (a collector ran then, or an earlier run landed it) is
left as it is and not landed again, so a rerun changes nothing and a real collector's files are never mixed with
simulated ones.

All or nothing per hour: the writer writes into a scratch archive beside the landing folder (`<tree>/tmp/
demo-streams-*`), and each hour's folder, its files sealed, is moved into the landing archive by one rename. A run
killed or out of disk mid-way leaves no half-landed hour (a collector's crash leaves a gap; a simulation's must
not, or the rerun could not land the hour again): the next run lands what is missing and sweeps the scratch.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipelines.atomic_files import fsync_dir, make_dirs_durably, pid_alive
from pipelines.collector.hourly_files import HOUR, StreamArchiveWriter, hour_dir
from pipelines.demo.liquidation_feeds import LiquidationFeeds, default_feeds
from pipelines.sources.liquidation_streams import FEEDS, VenueFeed

NETWORK_LATENCY = dt.timedelta(milliseconds=2)
_STREAM_OF = {("binance", "usdm"): "binance-usdm", ("binance", "coinm"): "binance-coinm",
              ("bybit", "linear"): "bybit-linear", ("bybit", "inverse"): "bybit-inverse"}


def feed_topics(feed: VenueFeed) -> tuple[str, tuple[str, ...]]:
    """The demo stream and the topics a feed of FEEDS subscribes to."""
    if feed.venue == "binance":
        return _STREAM_OF[(feed.venue, feed.market)], (feed.url.rsplit("/", 1)[1],)
    args = [arg for frame in feed.subscribe for arg in json.loads(frame).get("args", [])]
    if feed.venue == "bybit":
        return _STREAM_OF[(feed.venue, feed.market)], tuple(args)
    return "okx", tuple(arg["instType"] for arg in args)


@dataclass(frozen=True)
class LandedDay:
    venue: str
    day: dt.date
    hours_landed: int  # hours written now
    hours_kept: int  # hours that already had a file: left as they were
    frames: int  # frames written now


def _received(feeds: LiquidationFeeds, venue: str, day: dt.date) -> list[tuple[dt.datetime, str]]:
    """(received_at, text) of every frame the venue's feeds deliver within `day`, in receive order (a frame sent
    for the previous day's last moments may arrive in this one)."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    streams = []
    for feed in FEEDS[venue]:
        stream, topics = feed_topics(feed)
        for topic in topics:
            frames = [f for d in (day - dt.timedelta(days=1), day) for f in feeds.frames(stream, topic, d)]
            streams.append([(dt.datetime.fromtimestamp(f.send_ms / 1000, dt.UTC) + NETWORK_LATENCY, f.text)
                            for f in frames])
    merged = heapq.merge(*(sorted(s) for s in streams))
    return [(at, text) for at, text in merged if start <= at < end]


def land_demo_window(landing_root: Path, days: list[dt.date], venues: tuple[str, ...] = tuple(FEEDS)
                     ) -> list[LandedDay]:
    """Land every venue's frames of `days`, and of the first hour after the last day (a frame of the day's last
    moments may be received then; the daily load reads that hour for it)."""
    feeds = default_feeds()
    landed = [land_demo_day(landing_root, venue, day, feeds) for day in days for venue in venues]
    if days:
        after = max(days) + dt.timedelta(days=1)
        landed += [land_demo_day(landing_root, venue, after, feeds, hours=range(1)) for venue in venues]
    return landed


def land_demo_day(landing_root: Path, venue: str, day: dt.date, feeds: LiquidationFeeds | None = None,
                  hours: range = range(24)) -> LandedDay:
    """Land `venue`'s frames of `day` (of its `hours` only, if given: 0 is 00:00-01:00 UTC), see the module
    docstring; hours that already have a file are kept."""
    feeds = feeds or default_feeds()
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    hours = [start + i * HOUR for i in hours]
    taken = {h for h in hours if (folder := hour_dir(landing_root, venue, h)).is_dir() and any(folder.iterdir())}
    todo = [h for h in hours if h not in taken]
    if not todo:
        return LandedDay(venue, day, 0, len(taken), 0)
    by_hour: dict[dt.datetime, list[tuple[dt.datetime, str]]] = {h: [] for h in todo}
    for at, text in _received(feeds, venue, day):
        hour = at.replace(minute=0, second=0, microsecond=0)
        if hour in by_hour:
            by_hour[hour].append((at, text))
    scratch_parent = landing_root.parent / "tmp"
    scratch_parent.mkdir(parents=True, exist_ok=True)
    _sweep_scratch(scratch_parent)
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=scratch_parent))
    try:
        written = 0
        for run in _consecutive(todo):
            written += _land_hours(scratch, venue, run, by_hour)
        for hour in todo:  # each hour's sealed files into the archive at once
            _move_into_place(hour_dir(scratch, venue, hour), hour_dir(landing_root, venue, hour))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return LandedDay(venue, day, len(todo), len(taken), written)


SCRATCH_PREFIX = "demo-streams-"


def _move_into_place(source: Path, target: Path) -> None:
    make_dirs_durably(target.parent)
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()  # an empty folder (a reader's mkdir, an earlier sweep) holds nothing to keep
    os.rename(source, target)  # fails if the hour has files meanwhile: never merged into
    fsync_dir(target.parent)


def _sweep_scratch(parent: Path) -> None:
    """Remove the scratch folders of landing processes that are gone (killed mid-way)."""
    for folder in parent.glob(f"{SCRATCH_PREFIX}*"):
        try:
            pid = int(folder.name[len(SCRATCH_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


def _consecutive(hours: list[dt.datetime]) -> list[list[dt.datetime]]:
    runs: list[list[dt.datetime]] = []
    for hour in hours:
        if runs and runs[-1][-1] + HOUR == hour:
            runs[-1].append(hour)
        else:
            runs.append([hour])
    return runs


def _land_hours(landing_root: Path, venue: str, hours: list[dt.datetime],
                by_hour: dict[dt.datetime, list[tuple[dt.datetime, str]]]) -> int:
    """One writer up from the first hour's start to the last hour's end, as a collector would have been."""
    now = hours[0]
    writer = StreamArchiveWriter(landing_root, venue, clock=lambda: now, background=False)
    written = 0
    try:
        for hour in hours:
            now = hour
            writer.tick()  # the hour's file opens at its start (a quiet hour has one too)
            for at, text in by_hour[hour]:
                now = at
                writer.append(text, at)  # the first frame of an hour seals the hours before
                written += 1
        now = hours[-1] + HOUR
    finally:
        writer.close()  # at the last hour's end: every file still open is sealed as "hour end"
    return written
