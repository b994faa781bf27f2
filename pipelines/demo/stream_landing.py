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
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
from dataclasses import dataclass
from pathlib import Path

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
    written = 0
    for run in _consecutive(todo):
        written += _land_hours(landing_root, venue, run, by_hour)
    return LandedDay(venue, day, len(todo), len(taken), written)


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
