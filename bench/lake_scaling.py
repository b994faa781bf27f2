"""Benchmark of the warehouse past one machine: the same window backfilled into the embedded DuckDB file, into the
lake by one worker process, and into the lake by two worker processes at once (each half of the window), side by
side in one run on this machine.

    .venv/bin/python -m bench.lake_scaling                 # 6 days ending 2025-11-20 (about 15 min on 2 cores)
    .venv/bin/python -m bench.lake_scaling --days 4

Each workload is real `python -m pipelines.cli backfill` processes (demo mode, fresh warehouse folders and Dagster
instances); each lake workload gets a fresh lake (`make lake-up`'s PostgreSQL and SeaweedFS, started by this script
under a temporary folder and purged after). Per workload: wall time from the first spawn to the last exit, rows
built (every mart's rows in the result, counted after), rows/s, and each worker's peak memory: the largest VmHWM
(peak RSS) of its process tree (the CLI, and dbt under it), polled every 0.1 s. Parallel efficiency =
wall(1 worker) / (2 x wall(2 workers)). The projection to N workers fits Amdahl's law to the two lake walls: with
T1 = s + p and T2 = s + p/2, the serial part s (what one writer at a time does: the write locks serialise the dbt
build and the commits; plus the fixed cost of a run) and the parallel part p; T(N) = s + p/N. It says what more
machines buy for one window split N ways, not a promise: the catalog's commit rate and the S3 server's throughput
are shared by every machine and measured here only up to two writers.

The report is printed and written to bench/results/lake_scaling.md with the CPU it ran on; the machine is shared:
the load average is recorded before and after."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import report_header  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "lake_scaling.md"
DEFAULT_LAST = dt.date(2025, 11, 20)


class TreePeak(threading.Thread):
    """The largest VmHWM (KiB) of any process in the tree under `pid`, polled until stopped, and which process it was
    (`peak_of`: its module, e.g. `pipelines.cli`, `dbt`, or a spawned worker's `multiprocessing.spawn`)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.peak_of, self._done = pid, 0, "", threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            for member in _tree(self.pid):
                try:
                    for line in Path(f"/proc/{member}/status").read_text().splitlines():
                        if line.startswith("VmHWM:") and int(line.split()[1]) > self.peak_kib:
                            self.peak_kib, self.peak_of = int(line.split()[1]), _program(member)
                except (OSError, ValueError):
                    pass
            self._done.wait(0.1)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak_kib


def _program(pid: int) -> str:
    """What process `pid` runs: the module of `python -m <module>` or `-c … spawn_main` (a spawned worker), else
    its program's name (dbt's entry point is `dbt`)."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    if "-m" in argv[:-1]:
        return argv[argv.index("-m") + 1]
    if any("spawn_main" in a for a in argv):
        return "multiprocessing.spawn"
    script = next((a for a in argv[1:2] if a and not a.startswith("-")), argv[0])
    return Path(script).name


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(Path(entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


@dataclass
class Workload:
    label: str
    workers: int
    wall_s: float
    peaks_mib: list[float]
    rows: int
    ok: bool

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s if self.wall_s else 0.0


def windows(first: dt.date, last: dt.date, parts: int) -> list[tuple[dt.date, dt.date]]:
    days = (last - first).days + 1
    bounds = [first + dt.timedelta(days=round(i * days / parts)) for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1] - dt.timedelta(days=1)) for i in range(parts)]


def run_workload(label: str, scratch: Path, env: dict[str, str], parts: list[tuple[dt.date, dt.date]]) -> Workload:
    processes, peaks = [], []
    started = time.perf_counter()
    for n, (first, last) in enumerate(parts):
        home = scratch / f"{label}-{n}"
        (home / "home").mkdir(parents=True)
        shutil.copy(ROOT / "dagster.yaml", home / "home" / "dagster.yaml")
        worker_env = {**env, "DAGSTER_HOME": str(home / "home"), "BTCW_WAREHOUSE_DIR": str(home / "warehouse"),
                      "BTCW_SOURCE_MODE": "demo", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        log = (scratch / f"{label}-{n}.log").open("w")
        process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "backfill", first.isoformat(),
                                    last.isoformat()], cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT)
        processes.append((process, log))
        peak = TreePeak(process.pid)
        peak.start()
        peaks.append(peak)
    codes = []
    for (process, log), peak in zip(processes, peaks, strict=True):
        codes.append(process.wait())
        log.close()
    wall = time.perf_counter() - started
    peaks_mib = [p.stop() / 1024 for p in peaks]
    return Workload(label, len(parts), wall, peaks_mib, 0, all(c == 0 for c in codes))


@contextmanager
def fresh_lake(lake_dir: Path, base_env: dict[str, str]) -> Iterator[dict[str, str] | None]:
    """A new lake under `lake_dir` (`python -m pipelines.lake up`), its BTCW_LAKE_* client variables (also put in this
    process's environment, where the engine reads them) for the block, then stopped and purged; None (the reason on
    stderr) when it did not start."""
    from pipelines.lake import services

    lake_env = {**base_env, "BTCW_WAREHOUSE_DIR": str(lake_dir)}
    up = subprocess.run([sys.executable, "-m", "pipelines.lake", "up"], cwd=ROOT, env=lake_env,
                        capture_output=True, text=True)
    if up.returncode:
        print(up.stderr, file=sys.stderr)
        yield None
        return
    try:
        client = services.client_env(lake_env)
        os.environ.update(client)
        yield client
    finally:
        subprocess.run([sys.executable, "-m", "pipelines.lake", "down", "--purge"], cwd=ROOT, env=lake_env,
                       capture_output=True, text=True)


def mart_rows(settings) -> int:
    from pipelines import engine

    with engine.connect(settings, read_only=True) as conn:
        tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' "
                              "AND table_catalog = current_database()").fetchall()
        return sum(conn.execute(f'SELECT count(*) FROM marts."{t}"').fetchone()[0] for (t,) in tables)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--last", type=dt.date.fromisoformat, default=DEFAULT_LAST)
    args = parser.parse_args(argv)
    from pipelines.settings import Settings, WarehouseKind

    first = args.last - dt.timedelta(days=args.days - 1)
    load_before = os.getloadavg()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("BTCW_", "DAGSTER_"))}
    scratch = Path(tempfile.mkdtemp(prefix="btcw-lake-bench-"))
    os.chmod(scratch, 0o755)  # PostgreSQL runs as the postgres user when this runs as root
    results: list[Workload] = []
    try:
        embedded = run_workload("embedded", scratch, base_env, [(first, args.last)])
        embedded.rows = mart_rows(Settings(warehouse_dir=scratch / "embedded-0" / "warehouse"))
        results.append(embedded)
        for workers in (1, 2):
            lake_dir = scratch / f"lake{workers}"
            with fresh_lake(lake_dir, base_env) as client:
                if client is None:
                    return 1
                label = f"lake, {workers} worker{'s' if workers > 1 else ''}"
                measured = run_workload(f"lake{workers}w", scratch, {**base_env, **client, "BTCW_WAREHOUSE": "lake"},
                                        windows(first, args.last, workers))
                measured.label = label
                measured.rows = mart_rows(Settings(warehouse=WarehouseKind.LAKE, warehouse_dir=lake_dir))
                results.append(measured)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = report(results, first, args.last, load_before, os.getloadavg(), " ".join(sys.argv[1:]))
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return 0 if all(r.ok for r in results) else 1


def report(results: list[Workload], first: dt.date, last: dt.date, before, after, args: str,
           measured_at: dt.datetime | None = None) -> str:
    title = f"Lake scaling: {first} … {last} ({(last - first).days + 1} days, demo)"
    lines = report_header(title, "bench.lake_scaling", args, before, after, measured_at) + [
             "| workload | workers | wall | marts rows | rows/s | peak memory per worker | ok |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.label} | {r.workers} | {r.wall_s:,.1f} s | {r.rows:,} | {r.rows_per_s:,.1f} | "
                     f"{', '.join(f'{m:,.0f} MiB' for m in r.peaks_mib)} | {'yes' if r.ok else 'FAILED'} |")
    lake = {r.workers: r for r in results if r.label.startswith("lake")}
    if 1 in lake and 2 in lake:
        t1, t2 = lake[1].wall_s, lake[2].wall_s
        lines += ["", f"Parallel efficiency with 2 workers: {t1 / (2 * t2):.0%} (wall {t1:,.1f} s → {t2:,.1f} s). "
                  f"Lake against embedded, one worker: {t1 / results[0].wall_s:.2f}x the wall."]
        if t2 >= t1:
            lines += ["", "Two workers took longer than one: no Amdahl fit (it needs a speed-up to fit), no "
                      "projection. "
                      "Each worker pays a run's fixed cost whatever its window (interpreter and imports, the run's "
                      "creation, dbt's start and its 400 tests), the write locks make the dbt builds go one after "
                      "the other, and here both workers share one machine's cores."]
        else:
            parallel = 2 * (t1 - t2)
            serial = max(0.0, t1 - parallel)
            lines += ["", f"Amdahl fit to the two lake walls: serial {serial:,.1f} s, parallel {parallel:,.1f} s; "
                      "projected wall for this window split over N workers (each on its own machine):", "",
                      "| N | 1 | 2 | 4 | 8 | 16 |", "|---|---|---|---|---|---|",
                      "| projected wall | " + " | ".join(f"{serial + parallel / n:,.0f} s" for n in (1, 2, 4, 8, 16))
                      + " |"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
