"""The gamma step's days in chunks: each chunk's numbers (every table of every day and currency) and pictures computed
in a worker process of its own, the chunks side by side.

A day's gamma depends on that day's chain only (the flip events, which compare days, are computed afterwards from the
summaries, in the step's own process), so days can be cut into chunks of consecutive days and computed anywhere. A
chunk's results come back in the order of its days; the chunks come back in their order; so the step's tables are
the same, bit for bit, whatever the number of workers or the chunk size (tests/test_gamma_chunks.py), and the step
audits and commits them exactly as before: audited whole, then written in ONE transaction per window, so a reader
never sees a day's summary without its profile and a failed audit writes nothing.

Why parallel: a day of both chains costs ~0.1 s of numbers and ~0.2 s for BTC's picture (matplotlib), one core each;
a year backfill spends minutes here on one core while the other waits (bench/gamma_scaling.py measures it with 1
and 2 workers, embedded and on the lake). Why processes and not threads: the picture is pure-Python matplotlib,
which holds the GIL. Why `spawn`: the step runs inside Dagster's run worker, whose threads (event writer, log
tailers) a fork would copy mid-state; a spawned worker starts clean, imports numpy, pyarrow and matplotlib (~1-2 s),
and is used only when the window has more than one chunk.

Intraday snapshots: with `snapshot_column` (a timestamp column shared by the rows of one snapshot), each day and
currency is cut further into its snapshots, each gets its own tables with that column appended, and the picture is
drawn from the day's last snapshot. The product's marts hold one snapshot a day; bench/gamma_scaling.py --hourly runs
a year of hourly chains (~10^7 option rows) through this path and the same audit.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import dataclasses
import multiprocessing
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from pipelines.analytics.gamma_daily import (
    Assumptions,
    ChainArrays,
    GammaDay,
    day_bounds,
    gamma_day,
    split_by_day,
)

DayResult = tuple[dt.date, str, GammaDay]


@dataclass(frozen=True)
class ChunkPlan:
    """How the step splits its days: `workers` processes (1: everything in this process), `chunk_days` per chunk
    (BTCW_GAMMA_WORKERS, BTCW_GAMMA_CHUNK_DAYS). A month of both chains is ~10 s of work against a worker's start
    of ~1-2 s; a nightly window (3 days) is one chunk and so never starts a worker."""

    workers: int = 1
    chunk_days: int = 32

    def __post_init__(self) -> None:
        if self.workers < 1 or self.chunk_days < 1:
            raise ValueError(f"workers and chunk_days must be >= 1, got {self.workers} and {self.chunk_days}")

    @classmethod
    def from_settings(cls, settings) -> ChunkPlan:
        return cls(workers=settings.gamma_workers, chunk_days=settings.gamma_chunk_days)

    def chunks(self, days: list[dt.date]) -> list[list[dt.date]]:
        """`days` (ascending) cut into runs of at most chunk_days, in order."""
        return [days[i:i + self.chunk_days] for i in range(0, len(days), self.chunk_days)]


@dataclass
class GammaWindow:
    """Every (day, currency)'s tables (each snapshot's, intraday), in day then currency (then snapshot) order, and the
    PNG of each day asked for."""

    days: list[DayResult] = field(default_factory=list)
    pictures: dict[dt.date, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class ChunkJob:
    """What one chunk needs, all picklable: its days' chain rows (sorted by day, currency, instrument) and settings."""

    chains: pa.Table
    days: tuple[dt.date, ...]
    assumptions: Assumptions
    configured_levels: tuple[tuple[float, str], ...]
    levels_currency: str
    picture_days: frozenset[dt.date]
    picture_currency: str
    snapshot_column: str | None = None


@dataclass(frozen=True)
class PackedChunk:
    """A chunk's results as a worker sends them back: each table of every (day, currency[, snapshot]) concatenated
    into one, with each result's row counts. Sent as its thousands of small Arrow tables, a chunk cost ~40% of its
    compute again to pickle and unpickle, the unpickling in the run's process, on a core the workers needed; packed,
    the run's process unpickles ~9x faster (bench.gamma_scaling reports both per chain; at an hourly year two
    workers went from 0.93x to 1.47x one worker)."""

    keys: tuple[tuple[dt.date, str], ...]
    tables: dict[str, pa.Table]  # GammaDay field -> every result's rows, in order
    counts: dict[str, tuple[int, ...]]  # GammaDay field -> each result's rows
    crossings: tuple[np.ndarray, ...]
    pictures: dict[dt.date, bytes]


_TABLE_FIELDS = tuple(f.name for f in dataclasses.fields(GammaDay) if f.name != "crossings")


def pack(window: GammaWindow) -> PackedChunk:
    results = [r for _, _, r in window.days]
    return PackedChunk(
        keys=tuple((day, currency) for day, currency, _ in window.days),
        # combined: a table of many chunks pickles chunk by chunk, nearly as slowly as the tables themselves
        tables={name: pa.concat_tables([getattr(r, name) for r in results]).combine_chunks()
                for name in _TABLE_FIELDS} if results else {},
        counts={name: tuple(getattr(r, name).num_rows for r in results) for name in _TABLE_FIELDS},
        crossings=tuple(r.crossings for r in results), pictures=window.pictures)


def unpack(packed: PackedChunk) -> GammaWindow:
    """The chunk's results again, each table a zero-copy slice of its packed table."""
    offsets = {name: np.concatenate(([0], np.cumsum(counts, dtype=np.int64))) for name, counts in packed.counts.items()}
    days = []
    for i, (day, currency) in enumerate(packed.keys):
        tables = {name: packed.tables[name].slice(int(offsets[name][i]), packed.counts[name][i])
                  for name in _TABLE_FIELDS}
        days.append((day, currency, GammaDay(**tables, crossings=packed.crossings[i])))
    return GammaWindow(days, dict(packed.pictures))


def compute_packed_chunk(job: ChunkJob) -> PackedChunk:
    """A worker process's function: compute_chunk's results, packed for the way back."""
    return pack(compute_chunk(job))


class GammaChunkError(RuntimeError):
    """A day of a chunk could not be computed, or a worker process died; the message is one line naming it."""


def runs(chain: pa.Table, column: str) -> list[tuple[object, pa.Table]]:
    """`chain` (sorted so that equal values of `column` are adjacent) cut into its runs of one value, in order."""
    values = chain.column(column).to_pylist()
    out, start = [], 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            out.append((values[start], chain.slice(start, i - start)))
            start = i
    return out


def by_currency(chain: pa.Table) -> list[tuple[str, pa.Table]]:
    """One day's chain (sorted by currency, then instrument) cut into each currency's rows, in that order."""
    return runs(chain, "currency")


def stamped(result: GammaDay, column: str, stamp: dt.datetime) -> GammaDay:
    """`result` with `column` = `stamp` appended to each of its tables (an intraday snapshot's key)."""
    def add(table: pa.Table) -> pa.Table:
        return table.append_column(column, pa.array([stamp] * table.num_rows, pa.timestamp("us")))

    return dataclasses.replace(result, **{f.name: add(getattr(result, f.name)) for f in dataclasses.fields(result)
                                          if f.name != "crossings"})


def _snapshots(rows: pa.Table, column: str | None) -> list[tuple[dt.datetime | None, pa.Table]]:
    return [(None, rows)] if column is None else runs(rows, column)


def compute_chunk(job: ChunkJob) -> GammaWindow:
    """The tables of every day and currency (and snapshot, intraday) of one chunk, and the pictures asked for (the
    worker's function)."""
    out = GammaWindow()
    for day, chain in zip(job.days, split_by_day(job.chains, list(job.days))):
        for currency, rows in by_currency(chain):
            snapshots = _snapshots(rows, job.snapshot_column)
            for n, (stamp, snapshot) in enumerate(snapshots, start=1):
                label = f"gamma {currency} {day}" + (f" {stamp:%H:%M}" if stamp is not None else "")
                try:
                    result = gamma_day(day, ChainArrays.from_table(snapshot), currency=currency,
                                       assumptions=job.assumptions, configured_levels=job.configured_levels
                                       if currency == job.levels_currency else ())
                    if day in job.picture_days and currency == job.picture_currency and n == len(snapshots):
                        from pipelines.analytics.gamma_plot import render_gamma_png  # matplotlib: only where drawn

                        out.pictures[day] = render_gamma_png(result.by_strike, result.profile, result.regime_bands,
                                                             result.summary)
                except Exception as error:  # one line naming the day; the traceback stays in the worker's log
                    raise GammaChunkError(f"{label}: {type(error).__name__}: {error}") from error
                if stamp is not None:
                    result = stamped(result, job.snapshot_column, stamp)
                out.days.append((day, currency, result))
    return out


def compute_in_chunks(chains: pa.Table, days: list[dt.date], plan: ChunkPlan, *, assumptions: Assumptions,
                      configured_levels: tuple[tuple[float, str], ...] = (), levels_currency: str = "BTC",
                      picture_days: frozenset[dt.date] = frozenset(), picture_currency: str = "BTC",
                      snapshot_column: str | None = None) -> GammaWindow:
    """Every day of `days` (ascending; `chains` holds their rows sorted by day, currency, [snapshot_column,]
    instrument), chunk by chunk: in this process when the plan has one worker or the days fit one chunk, else in up
    to `plan.workers` spawned processes at once. The result is the same either way."""
    chunks = plan.chunks(days)
    workers = min(plan.workers, len(chunks))
    lo, hi = day_bounds(chains, days)
    jobs, first = [], 0
    for chunk in chunks:
        start, end = int(lo[first]), int(hi[first + len(chunk) - 1])
        part = chains.slice(start, end - start)
        if workers > 1:  # take() copies the rows: a slice would pickle the whole window's buffers to the worker
            part = part.take(np.arange(end - start))
        jobs.append(ChunkJob(part, tuple(chunk), assumptions, tuple(configured_levels), levels_currency,
                             frozenset(picture_days) & frozenset(chunk), picture_currency, snapshot_column))
        first += len(chunk)
    if workers <= 1:
        parts = [compute_chunk(job) for job in jobs]
    else:
        context = multiprocessing.get_context("spawn")
        try:
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                parts = [unpack(packed) for packed in pool.map(compute_packed_chunk, jobs)]
        except cf.process.BrokenProcessPool as error:
            raise GammaChunkError(
                f"a gamma worker process died ({error}): computing {len(days)} day(s) in chunks of "
                f"{plan.chunk_days} with {workers} workers; if memory ran out, set a smaller BTCW_GAMMA_CHUNK_DAYS "
                f"or BTCW_GAMMA_WORKERS=1") from None
    window = GammaWindow()
    for part in parts:
        window.days.extend(part.days)
        window.pictures.update(part.pictures)
    return window
