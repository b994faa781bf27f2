"""Benchmark of the gamma step at scale: a long option archive (the demo simulator's BTC and ETH chains), its gamma
computed in chunks of days by 1 and by 2 worker processes, committed into the embedded file and into the lake, side
by side in one run on this machine; and what N machines would buy, projected from the measured per-chunk cost and
the catalog's commit rate.

    .venv/bin/python -m bench.gamma_scaling                  # 365 days ending 2025-11-20, both chains (~15 min)
    .venv/bin/python -m bench.gamma_scaling --days 60 --no-lake

The archive: for every day, the chains the demo's Deribit API serves at that day's nightly moment (D + 1, 00:30 UTC;
`OptionChainModel.chain`, the same rows `get_book_summary_by_currency` answers), turned into the chain mart's
columns as `fct_option_chain_snapshot` turns them (expiry, strike and type from the name; T from the row's own stamp
to the 08:00 UTC expiry on a 365-day year). It is written once to `marts.fct_option_chain_snapshot` of a fresh file
and of a fresh lake (`make lake-up`'s servers, started here under a temporary folder and purged after): the step's
input, without running a year of extracts and dbt first (bench/backfill.py measures those).

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
catalog's and S3's contention past two writers, which this machine cannot measure. An hourly archive (24 snapshots
a day, ~10^7 option rows a year) is projected from the measured per-snapshot cost of the numbers (pictures stay one
a day) and a measured commit of a chunk's rows 24 times over.

The report is printed and written to bench/results/gamma_scaling.md with the CPU it ran on; the machine is shared:
the load average is recorded before and after."""

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
DEFAULT_LAST = dt.date(2025, 11, 20)
CHAIN_TABLE = "marts.fct_option_chain_snapshot"
YEAR_S = 365.0 * 86400


# ---------------------------------------------------------------------------------------------------------------
# the archive
# ---------------------------------------------------------------------------------------------------------------


def chain_rows(day: dt.date, model) -> dict[str, list]:
    """The chain mart's columns of `model`'s chain served for partition `day` (at its nightly moment)."""
    from pipelines.demo.fetcher import scheduled_fetch_time
    from pipelines.demo.options import MONTHS
    from pipelines.sources.deribit import option_name_pattern

    currency, names = model.params.currency, option_name_pattern(model.params.currency)
    cols: dict[str, list] = {k: [] for k in ("snapshot_date", "currency", "instrument_name", "snapshot_ts",
                                             "expiry_date", "strike", "time_to_expiry_years", "option_type",
                                             "open_interest", "mark_iv", "forward_usd", "index_usd")}
    for row in model.chain(scheduled_fetch_time(day)):
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


def build_archive(first: dt.date, last: dt.date, path: Path) -> tuple[int, int, float]:
    """Every day's BTC and ETH chain into one Parquet file, sorted as the asset reads it: (rows, chains, seconds)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.demo.api import DemoApi

    api = DemoApi()
    started = time.perf_counter()
    parts, chains = [], 0
    day = first
    while day <= last:
        for model in (api.options, api.eth_options):
            parts.append(pa.table(chain_rows(day, model)))
            chains += 1
        day += dt.timedelta(days=1)
    table = pa.concat_tables(parts)
    table = table.sort_by([("snapshot_date", "ascending"), ("currency", "ascending"),
                           ("instrument_name", "ascending")])
    pq.write_table(table, path)
    return table.num_rows, chains, time.perf_counter() - started


def load_archive(settings, parquet: Path) -> float:
    """The archive into the warehouse's chain mart; seconds."""
    from pipelines import engine
    from pipelines.duckdb_tables import string_literal

    started = time.perf_counter()
    with engine.connect(settings) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.execute(f"CREATE OR REPLACE TABLE {CHAIN_TABLE} AS SELECT * FROM read_parquet({string_literal(parquet)})")
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------------------------
# one workload (its own process)
# ---------------------------------------------------------------------------------------------------------------


def measure(settings, first: dt.date, last: dt.date, workers: int, chunk_days: int) -> dict:
    """The gamma step's work over [first, last] as the asset does it, timed part by part."""
    from pipelines import engine
    from pipelines.analytics.gamma_chunks import ChunkPlan
    from pipelines.assets.gamma_exposure import audit, compute_window, concat_days, replace_windows

    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    plan = ChunkPlan(workers=workers, chunk_days=chunk_days)
    out: dict = {"chunks": len(plan.chunks(days))}
    with engine.connect(settings) as conn:
        started = time.perf_counter()
        window = compute_window(conn, days, plan=plan, picture_days=frozenset(days))
        out["read_compute_s"] = time.perf_counter() - started
        started = time.perf_counter()
        tables = concat_days(window.days)
        checks = audit(tables, days)
        out["audit_s"] = time.perf_counter() - started
        out["audit_passed"] = all(outcome.passed for _, outcome in checks)
        out["rows_written"] = sum(t.num_rows for t in tables.values())
        end = last + dt.timedelta(days=1)
        started = time.perf_counter()
        with engine.write_lock(settings, [engine.GAMMA_WRITES], "bench: gamma window"):
            replace_windows(conn, tables, first, end)
        out["commit_window_s"] = time.perf_counter() - started
        per_chunk = []
        for chunk in plan.chunks(days):
            wanted = set(chunk)
            part = concat_days([r for r in window.days if r[0] in wanted])
            started = time.perf_counter()
            with engine.write_lock(settings, [engine.GAMMA_WRITES], "bench: gamma chunk"):
                replace_windows(conn, part, chunk[0], chunk[-1] + dt.timedelta(days=1))
            per_chunk.append(time.perf_counter() - started)
        out["commit_chunk_s"] = per_chunk
        if engine.is_lake(settings):  # a lake table has no keys: a chunk's rows 24 times over, as an hourly chunk's
            import pyarrow as pa

            chunk = set(plan.chunks(days)[0])
            part = concat_days([r for r in window.days if r[0] in chunk])
            started = time.perf_counter()
            with engine.write_lock(settings, [engine.GAMMA_WRITES], "bench: gamma chunk x24"):
                replace_windows(conn, {t: pa.concat_tables([rows] * 24) for t, rows in part.items()}, min(chunk),
                                max(chunk) + dt.timedelta(days=1))
            out["commit_chunk_x24_s"] = time.perf_counter() - started
    return out


def numbers_per_snapshot(parquet: Path, sample_days: int = 20) -> float:
    """Seconds of numbers (no picture) per (day, currency) chain, in this process, over the archive's first days."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from pipelines.analytics.gamma_chunks import ChunkPlan, compute_in_chunks
    from pipelines.analytics.gamma_daily import Assumptions

    table = pq.read_table(parquet)
    first = table.column("snapshot_date")[0].as_py()
    dates = [first + dt.timedelta(days=i) for i in range(sample_days)]
    rows = table.filter(pc.less_equal(table.column("snapshot_date"), dates[-1]))
    started = time.perf_counter()
    window = compute_in_chunks(rows, dates, ChunkPlan(), assumptions=Assumptions())
    return (time.perf_counter() - started) / len(window.days)


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
               "--workers", str(workers), "--chunk-days", str(args.chunk_days)]
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
    return Workload(label, warehouse, workers, wall, peak_mib, figures, bool(figures.get("audit_passed")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("measure", help="one workload, in this process (used by the comparison)")
    one.add_argument("--warehouse", choices=("duckdb", "lake"), required=True)
    one.add_argument("--dir", type=Path, required=True)
    one.add_argument("--first", type=dt.date.fromisoformat, required=True)
    one.add_argument("--last", type=dt.date.fromisoformat, required=True)
    one.add_argument("--workers", type=int, required=True)
    one.add_argument("--chunk-days", type=int, required=True)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--last", type=dt.date.fromisoformat, default=DEFAULT_LAST)
    parser.add_argument("--chunk-days", type=int, default=32)
    parser.add_argument("--no-lake", action="store_true", help="the embedded file only (no lake servers)")
    args = parser.parse_args(argv)
    from pipelines.settings import Settings, WarehouseKind

    if args.command == "measure":
        kind = WarehouseKind.LAKE if args.warehouse == "lake" else WarehouseKind.DUCKDB
        settings = Settings(warehouse=kind, warehouse_dir=args.dir, gamma_workers=args.workers,
                            gamma_chunk_days=args.chunk_days)
        print(json.dumps(measure(settings, args.first, args.last, args.workers, args.chunk_days)))
        return 0

    args.first = args.last - dt.timedelta(days=args.days - 1)
    load_before = os.getloadavg()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("BTCW_", "DAGSTER_"))}
    scratch = Path(tempfile.mkdtemp(prefix="btcw-gamma-bench-"))
    os.chmod(scratch, 0o755)  # PostgreSQL runs as the postgres user when this runs as root
    results: list[Workload] = []
    try:
        parquet = scratch / "chains.parquet"
        rows, chains, built_s = build_archive(args.first, args.last, parquet)
        print(f"archive: {rows:,} option rows, {chains:,} chains in {built_s:,.1f} s", file=sys.stderr)
        per_snapshot = numbers_per_snapshot(parquet)
        loads = {}
        file_dir = scratch / "file"
        loads["duckdb"] = load_archive(Settings(warehouse_dir=file_dir), parquet)
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
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return 0 if all(r.ok for r in results) else 1


def lake_workloads(scratch: Path, base_env: dict[str, str], args, parquet: Path, loads: dict) -> list[Workload]:
    from pipelines.settings import Settings, WarehouseKind

    lake_dir = scratch / "lake"
    with fresh_lake(lake_dir, base_env) as client:
        if client is None:
            return [Workload("lake", "lake", 0, 0.0, 0.0, {}, False)]
        loads["lake"] = load_archive(Settings(warehouse=WarehouseKind.LAKE, warehouse_dir=lake_dir), parquet)
        return [run_workload(f"lake, {workers} worker{'s' * (workers > 1)}", "lake", workers,
                             {**base_env, **client}, args, lake_dir) for workers in (1, 2)]


def projection(chunks: int, read_s: float, compute_per_chunk: float, commit_per_chunk: float,
               cores: int, n: int) -> float:
    """Projected wall of the step over N machines of `cores` cores (see the module's docstring)."""
    compute_bound = read_s + math.ceil(chunks / (cores * n)) * compute_per_chunk + commit_per_chunk
    commit_bound = read_s + chunks * commit_per_chunk + compute_per_chunk
    return max(compute_bound, commit_bound)


def report(results: list[Workload], args, rows: int, chains: int, built_s: float, per_snapshot: float,
           loads: dict, before, after, argv: str, measured_at: dt.datetime | None = None) -> str:
    days = (args.last - args.first).days + 1
    title = f"Gamma step at scale: {args.first} … {args.last} ({days} days, BTC and ETH chains, demo)"
    lines = report_header(title, "bench.gamma_scaling", argv, before, after, measured_at) + [
             f"Archive: {rows:,} option rows in {chains:,} chains, generated by the demo simulator in "
             f"{built_s:,.1f} s; "
             f"loaded into the file in {loads.get('duckdb', 0):,.1f} s"
             + (f", into the lake in {loads['lake']:,.1f} s" if "lake" in loads else "")
             + f". Chunks of {args.chunk_days} days.", "",
             "| workload | workers | wall | read + compute | audit | commit (one transaction) | commit per chunk "
             "(median) | option rows/s | peak memory (largest process) | ok |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        f = r.figures
        median = statistics.median(f["commit_chunk_s"]) if f.get("commit_chunk_s") else float("nan")
        lines.append(f"| {r.label} | {r.workers} | {r.wall_s:,.1f} s | {f.get('read_compute_s', math.nan):,.1f} s | "
                     f"{f.get('audit_s', math.nan):,.2f} s | {f.get('commit_window_s', math.nan):,.2f} s | "
                     f"{median:,.2f} s | {rows / r.wall_s if r.wall_s else 0:,.0f} | {r.peak_mib:,.0f} MiB | "
                     f"{'yes' if r.ok else 'FAILED'} |")
    by = {(r.warehouse, r.workers): r for r in results if r.ok}
    for kind in ("duckdb", "lake"):
        if (kind, 1) in by and (kind, 2) in by:
            t1, t2 = by[kind, 1].figures["read_compute_s"], by[kind, 2].figures["read_compute_s"]
            lines += ["", f"{'Embedded' if kind == 'duckdb' else 'Lake'}: read + compute {t1:,.1f} s with 1 worker, "
                      f"{t2:,.1f} s with 2: speed-up {t1 / t2:.2f}x, parallel efficiency {t1 / (2 * t2):.0%}."]
    lines += ["", f"Numbers alone (no picture), one process: {per_snapshot * 1000:,.1f} ms per chain (one day of "
              "one currency)."]
    if ("lake", 1) in by:
        f = by["lake", 1].figures
        chunks, commits = f["chunks"], f["commit_chunk_s"]
        commit = statistics.median(commits)
        compute = f["read_compute_s"] / chunks
        lines += ["", f"Catalog commit rate on the lake: {1 / commit:,.2f} chunk commits/s (median {commit:,.2f} s "
                  f"for a chunk's eight tables, {len(commits)} commits, one at a time); compute per chunk "
                  f"{compute:,.1f} s on one core.", "",
                  "Projected wall of the step over N machines of 2 cores each (see the module docstring: compute "
                  "spread, commits serialised through the gamma lock):", "",
                  "| archive | chains | 1 | 2 | 4 | 8 | 16 |", "|---|---:|---:|---:|---:|---:|---:|"]
        lines.append(f"| this one (daily, {days} days) | {chains:,} | "
                     + " | ".join(f"{projection(chunks, 0.0, compute, commit, 2, n):,.0f} s" for n in (1, 2, 4, 8, 16))
                     + " |")
        hourly_compute = compute + 23 * per_snapshot * chains / chunks  # 24 snapshots a day, one picture
        hourly_commit = f["commit_chunk_x24_s"]
        lines.append(f"| hourly, {days} days (projected) | {chains * 24:,} | "
                     + " | ".join(f"{projection(chunks, 0.0, hourly_compute, hourly_commit, 2, n):,.0f} s"
                                  for n in (1, 2, 4, 8, 16)) + " |")
        lines += ["", "The hourly row takes each chunk's compute as the daily one plus 23 more snapshots a day at the "
                  f"measured per-chain cost of the numbers, and its commit as the measured commit of a chunk's rows "
                  f"24 times over ({hourly_commit:,.2f} s). Past the point where commits dominate, more machines buy "
                  "nothing: the gamma lock serialises the commits."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
