"""Benchmark of the gamma step at scale: a long option archive (the demo simulator's BTC and ETH chains, one
snapshot a day or hourly), its gamma computed in chunks of days by 1 and by 2 worker processes, committed into the
embedded file and into the lake, side by side in one run on this machine; and what N machines would buy, projected
from the measured per-chunk cost and the catalog's commit rate.

    .venv/bin/python -m bench.gamma_scaling                  # 365 days ending 2025-11-20, both chains (~15 min)
    .venv/bin/python -m bench.gamma_scaling --hourly         # the same year, 24 snapshots a day (~14M rows, ~40 min)
    .venv/bin/python -m bench.gamma_scaling --days 60 --no-lake

The archive: for every day, the chains the demo's Deribit API serves at that day's nightly moment (D + 1, 00:30 UTC;
`OptionChainModel.chain`, the same rows `get_book_summary_by_currency` answers), turned into the chain mart's
columns as `fct_option_chain_snapshot` turns them (expiry, strike and type from the name; T from the row's own stamp
to the 08:00 UTC expiry on a 365-day year). It is written once to `marts.fct_option_chain_snapshot` of a fresh file
and of a fresh lake (`make lake-up`'s servers, started here under a temporary folder and purged after): the step's
input, without running a year of extracts and dbt first (bench/backfill.py measures those).

--hourly: the chains the same API serves at 00:05, 01:05, … 23:05 UTC of every day (the hourly polls' minute),
24 snapshots a day per currency, in a table of their own (`marts.bench_option_chain_hourly`, the chain mart's
columns). The gamma numbers are computed per snapshot (`compute_in_chunks(snapshot_column="snapshot_ts")`: each
table keyed by its snapshot's stamp too), BTC's picture once a day (its last snapshot), audited by the same two
checks (per snapshot) and committed into `marts.bench_hourly_gamma_*` (the gamma tables' columns and snapshot_ts).
The product's marts hold one snapshot a day: no dataset archives intraday chains yet. Measured: the year's hourly
tables (~15M rows) inserted in ONE transaction exhaust DuckDB's default memory_limit of the product (4GB: "Out of
Memory Error … 3.7 GiB/3.7 GiB used"), so the hourly workloads run with --duckdb-memory-limit 16GB; the per-chunk
commits are what fits the default.

Each workload is one process (`python -m bench.gamma_scaling measure …`) doing what the gamma asset does:
one read of the window's chain, `compute_in_chunks` (numbers and BTC's picture of every day) with the given
workers, the audit (`gex_totals_finite`, `gamma_tables_reconcile`), the window's rows of all eight tables replaced
in ONE transaction under the gamma write lock. Then, timed apart, the same rows committed chunk by chunk, one
transaction each (what N machines each holding a chunk would do: on a lake the commits are serialised by the
gamma lock, since two delete+inserts on one table conflict), which gives the catalog's commit rate. Peak memory:
the largest VmHWM of any process of the workload's tree (the measuring process and its spawned workers).

Projection to N machines (each with the two cores measured here, one chunk per core at a time): T(N) = read +
ceil(chunks / (2N)) x compute per chunk + commit per chunk, unless the commits, one at a time through the lock,
take longer: then T(N) = chunks x commit per chunk + compute per chunk. It assumes compute spreads perfectly over
cores and machines (the table's 1-against-2-worker rows show how far from that one machine is) and ignores the
catalog's and S3's contention past two writers, which this machine cannot measure.

The report is printed and written to bench/results/gamma_scaling.md (gamma_scaling_hourly.md) with the CPU it ran
on; the machine is shared: the load average is recorded before and after."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lake_scaling import TreePeak, fresh_lake  # noqa: E402
from bench.machine import report_header  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "gamma_scaling.md"
HOURLY_RESULTS = RESULTS.with_name("gamma_scaling_hourly.md")
DEFAULT_LAST = dt.date(2025, 11, 20)
CHAIN_TABLE = "marts.fct_option_chain_snapshot"
HOURLY_CHAIN_TABLE = "marts.bench_option_chain_hourly"
HOURLY_MINUTE = 5  # the hourly polls' minute (BTCW_POLL_CRON's default, 5 * * * *)
HOURLY_MEMORY_LIMIT = "16GB"  # a year's hourly tables in ONE transaction do not fit DuckDB's 4GB default (measured)
YEAR_S = 365.0 * 86400


# ---------------------------------------------------------------------------------------------------------------
# the archive
# ---------------------------------------------------------------------------------------------------------------


def snapshot_moments(day: dt.date, hourly: bool) -> list[dt.datetime]:
    """When `day`'s chains are taken: its nightly moment (D + 1, 00:30 UTC), or every hour of the day at :05."""
    from pipelines.demo.fetcher import scheduled_fetch_time

    if hourly:
        return [dt.datetime.combine(day, dt.time(hour, HOURLY_MINUTE)) for hour in range(24)]
    return [scheduled_fetch_time(day)]


def chain_rows(day: dt.date, model, at: dt.datetime) -> dict[str, list]:
    """The chain mart's columns of `model`'s chain served at `at`, for partition `day`."""
    from pipelines.demo.options import MONTHS
    from pipelines.sources.deribit import option_name_pattern

    currency, names = model.params.currency, option_name_pattern(model.params.currency)
    cols: dict[str, list] = {k: [] for k in ("snapshot_date", "currency", "instrument_name", "snapshot_ts",
                                             "expiry_date", "strike", "time_to_expiry_years", "option_type",
                                             "open_interest", "mark_iv", "forward_usd", "index_usd")}
    for row in model.chain(at):
        dd, mon, yy, strike, side = names.fullmatch(row["instrument_name"]).groups()
        expiry = dt.date(2000 + int(yy), MONTHS.index(mon) + 1, int(dd))
        stamp = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=row["creation_timestamp"])
        expiry_at = dt.datetime.combine(expiry, dt.time(8, 0))
        for key, value in (("snapshot_date", day), ("currency", currency), ("instrument_name", row["instrument_name"]),
                           ("snapshot_ts", stamp), ("expiry_date", expiry), ("strike", float(strike)),
                           ("time_to_expiry_years", (expiry_at - stamp).total_seconds() / YEAR_S),
                           ("option_type", "call" if side == "C" else "put"),
                           ("open_interest", row["open_interest"]), ("mark_iv", row["mark_iv"]),
                           ("forward_usd", row["underlying_price"]), ("index_usd", row["estimated_delivery_price"])):
            cols[key].append(value)
    return cols


SORT_ORDER = ("snapshot_date", "currency", "snapshot_ts", "instrument_name")  # as the step reads (and cuts) them


def build_archive(first: dt.date, last: dt.date, path: Path, hourly: bool = False) -> tuple[int, int, float]:
    """Every day's BTC and ETH chains into one Parquet file, sorted as the step reads them, written a day at a time
    (a year of hourly rows as Python lists would not fit): (rows, chains, seconds)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.demo.api import DemoApi

    api = DemoApi()
    started = time.perf_counter()
    rows = chains = 0
    writer = None
    day = first
    try:
        while day <= last:
            parts = []
            for model in (api.options, api.eth_options):
                for at in snapshot_moments(day, hourly):
                    parts.append(pa.table(chain_rows(day, model, at)))
                    chains += 1
            table = pa.concat_tables(parts).sort_by([(column, "ascending") for column in SORT_ORDER])
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            rows += table.num_rows
            day += dt.timedelta(days=1)
    finally:
        if writer is not None:
            writer.close()
    return rows, chains, time.perf_counter() - started


def load_archive(settings, parquet: Path, table: str) -> float:
    """The archive into the warehouse's `table`; seconds."""
    from pipelines import engine
    from pipelines.duckdb_tables import string_literal

    started = time.perf_counter()
    with engine.connect(settings) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet({string_literal(parquet)})")
    return time.perf_counter() - started


def hourly_tables() -> dict:
    """The gamma tables of an hourly archive: each gamma table's columns and snapshot_ts (no flip events)."""
    import pyarrow as pa

    from pipelines.assets.gamma_exposure import FLIP_EVENTS_TABLE, TABLES

    return {table: (f"marts.bench_hourly_gamma_{table.split('.')[1].removeprefix('fct_gamma_')}",
                    schema.append(pa.field("snapshot_ts", pa.timestamp("us"))), keys + ("snapshot_ts",))
            for table, (schema, keys) in TABLES.items() if table != FLIP_EVENTS_TABLE}


# ---------------------------------------------------------------------------------------------------------------
# one workload (its own process)
# ---------------------------------------------------------------------------------------------------------------


def measure(settings, first: dt.date, last: dt.date, workers: int, chunk_days: int, hourly: bool = False) -> dict:
    """The gamma step's work over [first, last] as the asset does it, timed part by part."""
    from pipelines import engine
    from pipelines.analytics.gamma_chunks import ChunkPlan
    from pipelines.assets.gamma_exposure import FLIP_EVENTS_TABLE, TABLES, audit, compute_window, concat_days
    from pipelines.duckdb_tables import replace_declared_windows

    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    plan = ChunkPlan(workers=workers, chunk_days=chunk_days)
    renamed = hourly_tables() if hourly else {table: (table, schema, keys) for table, (schema, keys) in TABLES.items()}
    declared = {name: (schema, keys) for name, schema, keys in renamed.values()}

    def commit(conn, results, start: dt.date, end: dt.date, what: str) -> float:
        """`results`' tables replacing [start, end) in one transaction under the gamma lock; seconds."""
        tables = concat_days(results)
        began = time.perf_counter()
        with engine.write_lock(settings, [engine.GAMMA_WRITES], f"bench: gamma {what}"):
            rows_by_table = {renamed[t][0]: rows for t, rows in tables.items() if t in renamed}
            replace_declared_windows(conn, declared, rows_by_table, "snapshot_date", start, end,
                                     windows={} if hourly else {FLIP_EVENTS_TABLE: (start, end + dt.timedelta(days=1))})
        return time.perf_counter() - began

    out: dict = {"chunks": len(plan.chunks(days))}
    with engine.connect(settings) as conn:
        started = time.perf_counter()
        if hourly:
            window = compute_hourly(conn, days, plan)
        else:
            window = compute_window(conn, days, plan=plan, picture_days=frozenset(days))
        out["read_compute_s"] = time.perf_counter() - started
        out["chains"] = len(window.days)
        started = time.perf_counter()  # chunk by chunk, as machines each holding a chunk would audit theirs
        checks = [check for chunk in plan.chunks(days) for check in audit(concat_days(of_days(window, chunk)), chunk)]
        out["audit_s"] = time.perf_counter() - started
        out["audit_passed"] = all(outcome.passed for _, outcome in checks)
        out["audit_failures"] = [f"{name}: {outcome.description}" for name, outcome in checks if not outcome.passed]
        out["commit_window_s"] = commit(conn, window.days, first, last + dt.timedelta(days=1), "window")
        out["commit_chunk_s"] = [commit(conn, of_days(window, chunk), chunk[0], chunk[-1] + dt.timedelta(days=1),
                                        "chunk") for chunk in plan.chunks(days)]
        out["rows_written"] = conn.sql("SELECT " + " + ".join(f"(SELECT count(*) FROM {name})" for name in declared)
                                       ).fetchone()[0]
    return out


def of_days(window, days: list[dt.date]) -> list:
    """The results of `window` on the consecutive `days`."""
    return [r for r in window.days if days[0] <= r[0] <= days[-1]]


def compute_hourly(conn, days: list[dt.date], plan):
    """The hourly archive's gamma, per snapshot: one read of the window's rows (sorted by day, currency, snapshot,
    instrument), then the step's chunked computation with the step's levels and picture."""
    from pipelines.analytics.gamma_chunks import compute_in_chunks
    from pipelines.assets.gamma_exposure import CONFIGURED_LEVELS_CURRENCY, PICTURE_CURRENCY, configured_levels
    from pipelines.analytics.gamma_daily import Assumptions

    chains = conn.sql(f"SELECT * FROM {HOURLY_CHAIN_TABLE} WHERE snapshot_date BETWEEN ? AND ? "
                      f"ORDER BY {', '.join(SORT_ORDER)}", params=[days[0], days[-1]]).to_arrow_table()
    return compute_in_chunks(chains, days, plan, assumptions=Assumptions(), configured_levels=configured_levels(),
                             levels_currency=CONFIGURED_LEVELS_CURRENCY, picture_days=frozenset(days),
                             picture_currency=PICTURE_CURRENCY, snapshot_column="snapshot_ts")


def numbers_per_snapshot(parquet: Path, sample_days: int, snapshot_column: str | None) -> dict[str, float]:
    """Seconds per chain (a snapshot of one currency), in this process, over the archive's first days: of the numbers
    (no picture), and of sending the results between processes as the small tables they are and packed
    (PackedChunk): pickled, then unpickled."""
    import pickle

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from pipelines.analytics.gamma_chunks import ChunkPlan, compute_in_chunks, pack, unpack
    from pipelines.analytics.gamma_daily import Assumptions

    table = pq.read_table(parquet)
    first = table.column("snapshot_date")[0].as_py()
    dates = [first + dt.timedelta(days=i) for i in range(sample_days)]
    rows = table.filter(pc.less_equal(table.column("snapshot_date"), dates[-1]))
    started = time.perf_counter()
    window = compute_in_chunks(rows, dates, ChunkPlan(), assumptions=Assumptions(), snapshot_column=snapshot_column)
    out = {"numbers": time.perf_counter() - started}
    for kind, there, back in (("small", lambda w: w, lambda w: w), ("packed", pack, unpack)):
        started = time.perf_counter()
        body = pickle.dumps(there(window), protocol=pickle.HIGHEST_PROTOCOL)
        out[f"{kind}_out"] = time.perf_counter() - started
        started = time.perf_counter()
        back(pickle.loads(body))
        out[f"{kind}_in"] = time.perf_counter() - started
    return {name: seconds / len(window.days) for name, seconds in out.items()}


# ---------------------------------------------------------------------------------------------------------------
# the comparison
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Workload:
    label: str
    warehouse: str
    workers: int
    wall_s: float
    peak_mib: float
    figures: dict
    ok: bool


def run_workload(label: str, warehouse: str, workers: int, env: dict[str, str], args, warehouse_dir: Path) -> Workload:
    command = [sys.executable, "-m", "bench.gamma_scaling", "measure", "--warehouse", warehouse,
               "--dir", str(warehouse_dir), "--first", args.first.isoformat(), "--last", args.last.isoformat(),
               "--workers", str(workers), "--chunk-days", str(args.chunk_days),
               "--duckdb-memory-limit", args.duckdb_memory_limit] + ["--hourly"] * args.hourly
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = TreePeak(process.pid)
    peak.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    peak_mib = peak.stop() / 1024
    if process.returncode:
        print(f"{label}: exit {process.returncode}\n{stderr[-3000:]}", file=sys.stderr)
        return Workload(label, warehouse, workers, wall, peak_mib, {}, False)
    figures = json.loads(stdout.strip().splitlines()[-1])
    for failure in figures.get("audit_failures", []):  # the checks' own one-line reasons
        print(f"{label}: audit failed: {failure}", file=sys.stderr)
    return Workload(label, warehouse, workers, wall, peak_mib, figures, bool(figures.get("audit_passed")))


def main(argv: list[str] | None = None) -> int:
    from pipelines.settings import Settings, WarehouseKind

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("measure", help="one workload, in this process (used by the comparison)")
    one.add_argument("--warehouse", choices=("duckdb", "lake"), required=True)
    one.add_argument("--dir", type=Path, required=True)
    one.add_argument("--first", type=dt.date.fromisoformat, required=True)
    one.add_argument("--last", type=dt.date.fromisoformat, required=True)
    one.add_argument("--workers", type=int, required=True)
    one.add_argument("--chunk-days", type=int, required=True)
    one.add_argument("--hourly", action="store_true")
    one.add_argument("--duckdb-memory-limit", required=True)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--last", type=dt.date.fromisoformat, default=DEFAULT_LAST)
    parser.add_argument("--chunk-days", type=int, default=32)
    parser.add_argument("--no-lake", action="store_true", help="the embedded file only (no lake servers)")
    parser.add_argument("--hourly", action="store_true", help="24 snapshots a day (at :05 UTC) instead of one")
    parser.add_argument("--duckdb-memory-limit", help="DuckDB's memory_limit in the workloads (default: the product's "
                        f"{Settings.duckdb_memory_limit}; with --hourly {HOURLY_MEMORY_LIMIT}: see the docstring)")
    args = parser.parse_args(argv)

    if args.command == "measure":
        kind = WarehouseKind.LAKE if args.warehouse == "lake" else WarehouseKind.DUCKDB
        settings = Settings(warehouse=kind, warehouse_dir=args.dir, gamma_workers=args.workers,
                            gamma_chunk_days=args.chunk_days, duckdb_memory_limit=args.duckdb_memory_limit)
        print(json.dumps(measure(settings, args.first, args.last, args.workers, args.chunk_days, args.hourly)))
        return 0

    args.first = args.last - dt.timedelta(days=args.days - 1)
    args.duckdb_memory_limit = args.duckdb_memory_limit or (HOURLY_MEMORY_LIMIT if args.hourly
                                                            else Settings.duckdb_memory_limit)
    load_before = os.getloadavg()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("BTCW_", "DAGSTER_"))}
    scratch = Path(tempfile.mkdtemp(prefix="btcw-gamma-bench-"))
    os.chmod(scratch, 0o755)  # PostgreSQL runs as the postgres user when this runs as root
    results: list[Workload] = []
    try:
        parquet = scratch / "chains.parquet"
        rows, chains, built_s = build_archive(args.first, args.last, parquet, args.hourly)
        print(f"archive: {rows:,} option rows, {chains:,} chains in {built_s:,.1f} s", file=sys.stderr)
        per_snapshot = numbers_per_snapshot(parquet, 1 if args.hourly else 20, "snapshot_ts" if args.hourly else None)
        loads = {}
        file_dir = scratch / "file"
        loads["duckdb"] = load_archive(Settings(warehouse_dir=file_dir), parquet, chain_table(args))
        for workers in (1, 2):
            results.append(run_workload(f"embedded, {workers} worker{'s' * (workers > 1)}", "duckdb", workers,
                                        base_env, args, file_dir))
        if not args.no_lake:
            results += lake_workloads(scratch, base_env, args, parquet, loads)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = report(results, args, rows, chains, built_s, per_snapshot, loads, load_before, os.getloadavg(),
                  " ".join(sys.argv[1:]))
    print(text)
    results_file = HOURLY_RESULTS if args.hourly else RESULTS
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(text)
    return 0 if all(r.ok for r in results) else 1


def lake_workloads(scratch: Path, base_env: dict[str, str], args, parquet: Path, loads: dict) -> list[Workload]:
    from pipelines.settings import Settings, WarehouseKind

    lake_dir = scratch / "lake"
    with fresh_lake(lake_dir, base_env) as client:
        if client is None:
            return [Workload("lake", "lake", 0, 0.0, 0.0, {}, False)]
        loads["lake"] = load_archive(Settings(warehouse=WarehouseKind.LAKE, warehouse_dir=lake_dir), parquet,
                                     chain_table(args))
        return [run_workload(f"lake, {workers} worker{'s' * (workers > 1)}", "lake", workers,
                             {**base_env, **client}, args, lake_dir) for workers in (1, 2)]


def chain_table(args) -> str:
    return HOURLY_CHAIN_TABLE if args.hourly else CHAIN_TABLE


def projection(chunks: int, read_s: float, compute_per_chunk: float, commit_per_chunk: float,
               cores: int, n: int) -> float:
    """Projected wall of the step over N machines of `cores` cores (see the module's docstring)."""
    compute_bound = read_s + math.ceil(chunks / (cores * n)) * compute_per_chunk + commit_per_chunk
    commit_bound = read_s + chunks * commit_per_chunk + compute_per_chunk
    return max(compute_bound, commit_bound)


def report(results: list[Workload], args, rows: int, chains: int, built_s: float, per_snapshot: dict[str, float],
           loads: dict, before, after, argv: str, measured_at: dt.datetime | None = None) -> str:
    days = (args.last - args.first).days + 1
    kind = "hourly snapshots" if args.hourly else "one snapshot a day"
    title = f"Gamma step at scale: {args.first} … {args.last} ({days} days, {kind}, BTC and ETH chains, demo)"
    lines = report_header(title, "bench.gamma_scaling", argv, before, after, measured_at) + [
             f"Archive: {rows:,} option rows in {chains:,} chains, generated by the demo simulator in "
             f"{built_s:,.1f} s; "
             f"loaded into the file in {loads.get('duckdb', 0):,.1f} s"
             + (f", into the lake in {loads['lake']:,.1f} s" if "lake" in loads else "")
             + f". Chunks of {args.chunk_days} days; DuckDB memory_limit {args.duckdb_memory_limit}.", "",
             "| workload | workers | wall | read + compute | audit | commit (one transaction) | commit per chunk "
             "(median) | option rows/s | rows written | peak memory (largest process) | ok |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        f = r.figures
        median = statistics.median(f["commit_chunk_s"]) if f.get("commit_chunk_s") else float("nan")
        lines.append(f"| {r.label} | {r.workers} | {r.wall_s:,.1f} s | {f.get('read_compute_s', math.nan):,.1f} s | "
                     f"{f.get('audit_s', math.nan):,.2f} s | {f.get('commit_window_s', math.nan):,.2f} s | "
                     f"{median:,.2f} s | {rows / r.wall_s if r.wall_s else 0:,.0f} | {f.get('rows_written', 0):,} | "
                     f"{r.peak_mib:,.0f} MiB | {'yes' if r.ok else 'FAILED'} |")
    by = {(r.warehouse, r.workers): r for r in results if r.ok}
    for kind in ("duckdb", "lake"):
        if (kind, 1) in by and (kind, 2) in by:
            t1, t2 = by[kind, 1].figures["read_compute_s"], by[kind, 2].figures["read_compute_s"]
            lines += ["", f"{'Embedded' if kind == 'duckdb' else 'Lake'}: read + compute {t1:,.1f} s with 1 worker, "
                      f"{t2:,.1f} s with 2: speed-up {t1 / t2:.2f}x, parallel efficiency {t1 / (2 * t2):.0%}."]
    ms = {name: seconds * 1000 for name, seconds in per_snapshot.items()}
    lines += ["", f"Numbers alone (no picture), one process: {ms['numbers']:,.1f} ms per chain (one snapshot of "
              f"one currency). Sending a worker's results back, per chain: as small tables {ms['small_out']:,.2f} ms "
              f"to pickle and {ms['small_in']:,.2f} ms to unpickle; packed (PackedChunk) {ms['packed_out']:,.2f} ms "
              f"and {ms['packed_in']:,.2f} ms."]
    if ("lake", 1) in by:
        f = by["lake", 1].figures
        chunks, commits = f["chunks"], f["commit_chunk_s"]
        commit = statistics.median(commits)
        compute = f["read_compute_s"] / chunks
        lines += ["", f"Catalog commit rate on the lake: {1 / commit:,.2f} chunk commits/s (median {commit:,.2f} s "
                  f"for a chunk's tables, {len(commits)} commits, one at a time); compute per chunk "
                  f"{compute:,.1f} s on one core.", "",
                  "Projected wall of the step over N machines of 2 cores each (see the module docstring: compute "
                  "spread, commits serialised through the gamma lock):", "",
                  "| archive | chains | 1 | 2 | 4 | 8 | 16 |", "|---|---:|---:|---:|---:|---:|---:|",
                  f"| this one ({'hourly' if args.hourly else 'daily'}, {days} days) | {chains:,} | "
                  + " | ".join(f"{projection(chunks, 0.0, compute, commit, 2, n):,.0f} s" for n in (1, 2, 4, 8, 16))
                  + " |",
                  "", "Past the point where commits dominate, more machines buy nothing: the gamma lock serialises "
                  "the commits."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
