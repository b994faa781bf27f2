"""Benchmark of a year's backfill as ONE Dagster run against one run per day, and of the nightly's run.

Run from the project root, either way:

    .venv/bin/python -m bench.backfill                   # N=365 days, K=7 per-day runs (20-40 min on 2 cores)
    .venv/bin/python -m bench.backfill --quick           # N=30, K=3: a smoke run of a few minutes
    .venv/bin/python -m bench.backfill --days 120 --per-day-runs 5

It prints a Markdown report and writes it to bench/results/backfill.md (``--quick`` writes backfill_quick.md, so a
smoke run never replaces the full measurement).  Everything runs in demo mode (the embedded market simulator, no
network), into fresh warehouses and a fresh Dagster instance under a temporary folder, on this machine:

* (a) ONE run materialising every asset for the N days ending ``--end`` (``pipelines.runner.materialize_range``,
  as ``make backfill`` does) into an empty warehouse; R times (``--single-runs``, default 2), each into its own
  empty warehouse, the first before the other workloads and the rest after them, so a busy neighbour during one
  of them shows as a spread rather than skewing the ratio, which uses their mean;
* (b) one run per day. N separate runs would take hours, so K consecutive per-day runs are measured, over the
  last K days of the same range, into a second warehouse that first got the N-K earlier days in one run (so each
  per-day run sees the history a nightly would); the N-day figure is N x their mean, an extrapolation;
* (c) the nightly: one run of the 3-day window ending on the last day (``schedules.RERUN_DAYS``), on the
  warehouse of (b).

Each workload is a separate ``python -m bench.backfill --worker`` process, as a Dagster run launched by the daemon
is. Wall time is that process's, from spawn to exit (interpreter start, imports and definitions included); "in run"
is the ``materialize_range`` call alone. Peak RSS (psutil is not in requirements.lock): the run process's own
``getrusage(RUSAGE_SELF).ru_maxrss`` (Dagster, the extracts, GX, numpy, DuckDB in process) and, apart, the largest
of the processes it spawns (dbt, which opens DuckDB itself), read from ``/proc/<pid>/status`` VmHWM every 0.1 s.
Not ``RUSAGE_CHILDREN``: on Linux a child started by fork or vfork + exec keeps its parent's high-water mark across
exec, so that figure is the run process's RSS when it spawned dbt, not dbt's. Step durations are read from the
run's STEP_SUCCESS events, the run's creation (the planned-materialization events Dagster writes before the first
step) from its RUN_START event. The load average is recorded around every workload: the machine is shared.
Every measurement is saved to <scratch>/bench.json as it comes; ``--rerender <scratch>`` writes the report again
from it (after a change to the report's wording, say) without running anything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.machine import cpu_name

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# The demo window's last day (pipelines/cli.py DEMO_WINDOW); the demo source simulates any day before it too.
DEFAULT_END = dt.date(2025, 11, 21)
DEFAULT_DAYS, DEFAULT_PER_DAY_RUNS = 365, 7
QUICK_DAYS, QUICK_PER_DAY_RUNS = 30, 3
NIGHTLY_DAYS = 3  # pipelines.schedules.RERUN_DAYS; not imported, so the parent process stays free of Dagster
TARGET_RATIO, TARGET_NIGHTLY_S = 20.0, 30.0
TOP_STEPS = 5


# ---------------------------------------------------------------------------------------------------------------
# Worker: one workload, one process


def worker(args: argparse.Namespace) -> int:
    """Materialise [first, last] in one run and write what happened to args.out as JSON."""
    t_start = time.perf_counter()
    import warnings

    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    from pipelines.runner import materialize_range
    from pipelines.settings import Settings, SourceMode

    warnings.filterwarnings("ignore", category=dg.BetaWarning)  # single_run() backfill policy, as pipelines.cli
    spawned = SpawnedPeak()
    spawned.start()
    settings = Settings(source_mode=SourceMode.DEMO, warehouse_dir=Path(args.warehouse), start_date=args.start_date)
    imports_s = time.perf_counter() - t_start
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(args.instance)) as instance:
        t0, called_at = time.perf_counter(), time.time()
        result = materialize_range(settings, args.first, args.last, instance)
        run_s = time.perf_counter() - t0
        events = event_stats(instance, result.run_id, called_at)
    failed_checks = [
        {"asset": e.asset_key.to_user_string(), "check": e.check_name, "description": e.description or ""}
        for e in result.get_asset_check_evaluations()
        if not e.passed
    ]
    failed_steps = [
        {"step": e.step_key, "error": (e.event_specific_data.error.message if e.event_specific_data.error else "")[:2000]}
        for e in result.get_step_failure_events()
    ]
    out = {
        "success": result.success,
        "run_id": result.run_id,
        "first": args.first.isoformat(),
        "last": args.last.isoformat(),
        "imports_s": imports_s,
        "run_s": run_s,
        **events,
        "failed_steps": failed_steps,
        "failed_checks": failed_checks,
        "skipped_steps": [e.step_key for e in result.get_step_skipped_events()],
        "self_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "spawned_peak_kib": spawned.stop(),
    }
    Path(args.out).write_text(json.dumps(out, indent=1))
    return 0 if result.success else 1


class SpawnedPeak(threading.Thread):
    """The largest VmHWM (peak RSS, KiB) of the processes this process spawns through subprocess.Popen (dbt),
    polled every `interval` s from /proc while they live; growth in a process's last interval is missed."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_kib = 0
        self._pids: list[int] = []
        self._halt = threading.Event()
        original = subprocess.Popen.__init__
        pids = self._pids

        def recording_init(popen, *args, **kwargs):
            original(popen, *args, **kwargs)
            pids.append(popen.pid)

        subprocess.Popen.__init__ = recording_init

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        for pid in list(self._pids):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:  # gone (and reaped)
                self._pids.remove(pid)
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):  # absent once the process is a zombie
                    self.peak_kib = max(self.peak_kib, int(line.split()[1]))

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak_kib


def event_stats(instance, run_id: str, called_at: float) -> dict:
    """From the run's event log: seconds per step (STEP_SUCCESS's duration, or STEP_START → STEP_FAILURE by
    timestamps), events written per step and per type, and the run's creation (the call to PIPELINE_START: Dagster
    writes its ASSET_MATERIALIZATION_PLANNED events then, one per asset and partition on SQLite storage)."""
    from collections import Counter

    from dagster import DagsterEventType

    started: dict[str, float] = {}
    steps: dict[str, float] = {}
    per_step: Counter[str] = Counter()
    per_type: Counter[str] = Counter()
    run_start = run_end = None
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        per_type[event.event_type_value if event else "LOG_MESSAGE"] += 1
        if entry.step_key:
            per_step[entry.step_key] += 1
        if event is None:
            continue
        if event.event_type == DagsterEventType.RUN_START:
            run_start = entry.timestamp
        elif event.event_type in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            run_end = entry.timestamp
        elif event.event_type == DagsterEventType.STEP_START:
            started[event.step_key] = entry.timestamp
        elif event.event_type == DagsterEventType.STEP_SUCCESS:
            steps[event.step_key] = event.event_specific_data.duration_ms / 1000
        elif event.event_type == DagsterEventType.STEP_FAILURE and event.step_key in started:
            steps[event.step_key] = entry.timestamp - started[event.step_key]
    return {
        "steps": steps,
        "events_per_step": dict(per_step),
        "events_per_type": dict(per_type),
        "creation_s": (run_start - called_at) if run_start else None,
        "executing_s": (run_end - run_start) if run_start and run_end else None,
    }


# ---------------------------------------------------------------------------------------------------------------
# Parent: spawn the workloads, measure them, report


@dataclass
class Measured:
    label: str
    first: dt.date
    last: dt.date
    wall_s: float
    load_before: float
    load_after: float
    log: Path
    data: dict = field(default_factory=dict)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def to_json(self) -> dict:
        return {"label": self.label, "first": self.first.isoformat(), "last": self.last.isoformat(),
                "wall_s": self.wall_s, "load_before": self.load_before, "load_after": self.load_after,
                "log": str(self.log), "data": self.data}

    @classmethod
    def from_json(cls, d: dict) -> Measured:
        return cls(d["label"], dt.date.fromisoformat(d["first"]), dt.date.fromisoformat(d["last"]), d["wall_s"],
                   d["load_before"], d["load_after"], Path(d["log"]), d["data"])

    @property
    def ok(self) -> bool:
        return bool(self.data.get("success"))

    @property
    def run_s(self) -> float:
        return self.data["run_s"]

    @property
    def worker_mib(self) -> float:
        return self.data["self_maxrss_kib"] / 1024

    @property
    def dbt_mib(self) -> float:
        return self.data["spawned_peak_kib"] / 1024


def run_worker(label: str, warehouse: Path, instance: Path, start_date: dt.date, first: dt.date, last: dt.date,
               scratch: Path) -> Measured:
    out, log = scratch / f"{label}.json", scratch / f"{label}.log"
    cmd = [sys.executable, "-m", "bench.backfill", "--worker", "--warehouse", str(warehouse), "--instance",
           str(instance), "--start-date", start_date.isoformat(), "--first", first.isoformat(),
           "--last", last.isoformat(), "--out", str(out)]
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    print(f"{dt.datetime.now():%H:%M:%S} {label}: {first} … {last} ({(last - first).days + 1} days)",
          file=sys.stderr, flush=True)
    load_before = os.getloadavg()[0]
    with open(log, "wb") as sink:
        t0 = time.perf_counter()
        returncode = subprocess.call(cmd, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - t0
    measured = Measured(label, first, last, wall, load_before, os.getloadavg()[0], log)
    if out.exists():
        measured.data = json.loads(out.read_text())
    state = "ok" if measured.ok else f"FAILED (exit {returncode})"
    rss = f", peak RSS {measured.worker_mib:.0f} MiB (dbt {measured.dbt_mib:.0f})" if measured.data else ""
    print(f"{dt.datetime.now():%H:%M:%S} {label}: {state}, {wall:.1f} s{rss}", file=sys.stderr, flush=True)
    return measured


def failure_text(m: Measured) -> str:
    lines = [f"{m.label} ({m.first} … {m.last}) failed; log: {m.log}"]
    if not m.data:
        lines.append("  the worker wrote no result (crashed before the run ended): see the log")
    for step in m.data.get("failed_steps", []):
        lines.append(f"  step {step['step']}: {step['error'].strip()}")
    for check in m.data.get("failed_checks", []):
        lines.append(f"  check {check['asset']}:{check['check']}: {check['description']}")
    if m.data.get("skipped_steps"):
        lines.append(f"  skipped: {', '.join(m.data['skipped_steps'])}")
    return "\n".join(lines)


@dataclass
class Outcome:
    n: int
    k: int
    singles: list[Measured]
    setup: Measured
    per_day: list[Measured]
    nightly: Measured

    @property
    def single_mean(self) -> float:
        return statistics.fmean(m.wall_s for m in self.singles)

    @property
    def fastest_single(self) -> Measured:
        return min(self.singles, key=lambda m: m.wall_s)

    @property
    def per_day_walls(self) -> list[float]:
        return [m.wall_s for m in self.per_day]

    @property
    def per_day_mean(self) -> float:
        return statistics.fmean(self.per_day_walls)

    @property
    def ratio(self) -> float:
        return self.n * self.per_day_mean / self.single_mean

    @property
    def ratio_in_run(self) -> float:
        return self.n * statistics.fmean(m.run_s for m in self.per_day) / statistics.fmean(m.run_s for m in self.singles)


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for dist in ("dagster", "dagster-dbt", "dbt-core", "dbt-duckdb", "duckdb", "great-expectations"):
        try:
            parts.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            pass
    return ", ".join(parts)


def top_steps_lines(m: Measured, top: int) -> list[str]:
    """The run's time: creation (planned events), the top steps, the other steps, the rest; and events written."""
    steps = sorted(m.data["steps"].items(), key=lambda kv: -kv[1])
    per_step = m.data["events_per_step"]
    per_type = m.data["events_per_type"]
    planned = sum(n for t, n in per_type.items() if t.endswith("_PLANNED"))
    creation = m.data["creation_s"] or 0.0
    lines = ["| part of the run | s | share | events written |", "|---|---:|---:|---:|",
             f"| definitions and run creation, up to RUN_START (the events: planned materializations and checks) | "
             f"{creation:.1f} | {creation / m.run_s:.0%} | {planned:,} |"]
    for key, secs in steps[:top]:
        lines.append(f"| step `{key}` | {secs:.1f} | {secs / m.run_s:.0%} | {per_step.get(key, 0):,} |")
    rest = steps[top:]
    if rest:
        rest_s = sum(s for _, s in rest)
        rest_events = sum(per_step.get(k, 0) for k, _ in rest)
        lines.append(f"| {len(rest)} other steps | {rest_s:.1f} | {rest_s / m.run_s:.0%} | {rest_events:,} |")
    outside = m.run_s - creation - sum(s for _, s in steps)
    lines.append(f"| between and around steps (resources, run end) | {outside:.1f} | {outside / m.run_s:.0%} | - |")
    lines.append(f"| (not in run) process start and imports | {m.wall_s - m.run_s:.1f} | - | - |")
    return lines


def events_line(m: Measured) -> str:
    per_type = m.data["events_per_type"]
    total = sum(per_type.values())
    big = ", ".join(f"{t} {n:,}" for t, n in sorted(per_type.items(), key=lambda kv: -kv[1])[:4])
    return f"{total:,} events in the run's event log (SQLite), {total / m.run_s:.1f} per second of run: {big}."


def fmt_load(ms: list[Measured]) -> str:
    loads = [x for m in ms for x in (m.load_before, m.load_after)]
    return f"{min(loads):.2f}-{max(loads):.2f}"


# Dagster settings that change what the event log costs (unset: one planned event per asset and partition on
# SQLite storage, each event written on its own).
EVENT_LOG_ENV = ("DAGSTER_EVENT_BATCH_SIZE", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS",
                 "DAGSTER_EMIT_PLANNED_EVENTS_INDIVIDUALLY")


def event_log_env() -> str:
    """The settings as the workers see them: they import pipelines.runner, which sets its defaults on import."""
    import pipelines.runner  # noqa: F401

    set_ = [f"{name}={os.environ[name]}" for name in EVENT_LOG_ENV if os.environ.get(name)]
    return "Dagster event-log settings: " + (", ".join(set_) if set_ else "defaults (" + ", ".join(EVENT_LOG_ENV)
                                             + " unset)") + "."


def report(o: Outcome, command: str, started: dt.datetime, load_start: tuple[float, float, float],
           load_end: tuple[float, float, float], note: str | None = None) -> str:
    s, c, per = o.setup, o.nightly, o.per_day
    a = o.fastest_single
    a_mean = o.single_mean
    a_rows = [
        f"| (a) one run, empty warehouse{f' ({i + 1} of {len(o.singles)})' if len(o.singles) > 1 else ''} | "
        f"{m.days} | 1 | {m.wall_s:.1f} | {m.wall_s / m.days:.2f} | {m.run_s:.1f} | {m.worker_mib:.0f} | "
        f"{m.dbt_mib:.0f} |"
        for i, m in enumerate(o.singles)
    ]
    if len(o.singles) > 1:
        a_rows.append(
            f"| (a) mean of the {len(o.singles)} | {a.days} | 1 | {a_mean:.1f} | {a_mean / a.days:.2f} | "
            f"{statistics.fmean(m.run_s for m in o.singles):.1f} | {max(m.worker_mib for m in o.singles):.0f} | "
            f"{max(m.dbt_mib for m in o.singles):.0f} |"
        )
    walls = o.per_day_walls
    mean, sd = statistics.fmean(walls), statistics.stdev(walls) if len(walls) > 1 else 0.0
    run_mean = statistics.fmean(m.run_s for m in per)
    per_worker = max(m.worker_mib for m in per)
    per_dbt = max(m.dbt_mib for m in per)
    ratio_met = o.ratio >= TARGET_RATIO
    nightly_met = c.wall_s < TARGET_NIGHTLY_S
    lines = [
        "# Backfill benchmark: one run for the range against one run per day",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {cpu_name()} ({os.cpu_count()} CPUs, {memory_gib():.1f} GiB RAM), "
        f"Python {platform.python_version()}, {versions()}; demo mode, fresh warehouses and Dagster instance "
        f"(SQLite) in a temporary folder. Produced by `{command}`. {event_log_env()}",
        "",
        *([note, ""] if note else []),
        f"Load average (1/5/15 min) {load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f} at the start, "
        f"{load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f} at the end; 1-min load around the workloads "
        f"{fmt_load([*o.singles, s, *per, c])} ({os.cpu_count()} cores: a load above {os.cpu_count()} means other work was competing).",
        "",
        f"Range {a.first} … {a.last} (N = {o.n} days). Each workload is its own process; wall = spawn to exit "
        "(interpreter start, imports, definitions included, as for a run the daemon launches), in run = the "
        "`materialize_range` call; peak RSS of the run process and, apart, of its largest child (dbt).",
        "",
        "| workload | days | runs | wall s | s/day | in run s | peak RSS MiB | dbt peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *a_rows,
        f"| (b) one run per day, **extrapolated**: N x mean of K = {o.k} measured | {o.n} | {o.n} | "
        f"~{o.n * mean:,.0f} | {mean:.2f} | ~{o.n * run_mean:,.0f} | {per_worker:.0f} | {per_dbt:.0f} |",
        f"| (b) measured: {o.k} per-day runs, {per[0].first} … {per[-1].last} | {o.k} | {o.k} | {sum(walls):.1f} | "
        f"{mean:.2f} ± {sd:.2f} (min {min(walls):.1f}, max {max(walls):.1f}) | {sum(m.run_s for m in per):.1f} | "
        f"{per_worker:.0f} | {per_dbt:.0f} |",
        f"| (b) setup, not in the ratio: the N-K earlier days in one run | {s.days} | 1 | {s.wall_s:.1f} | "
        f"{s.wall_s / s.days:.2f} | {s.run_s:.1f} | {s.worker_mib:.0f} | {s.dbt_mib:.0f} |",
        f"| (c) nightly: {NIGHTLY_DAYS}-day window {c.first} … {c.last}, warehouse of (b) | {c.days} | 1 | "
        f"{c.wall_s:.1f} | {c.wall_s / c.days:.2f} | {c.run_s:.1f} | {c.worker_mib:.0f} | {c.dbt_mib:.0f} |",
        "",
        f"(b) is extrapolated from {o.k} measured per-day runs (the last {o.k} days of the range, on a warehouse "
        f"holding the {o.n - o.k} day(s) before them), not from {o.n} runs: N x per-day mean = {o.n} x {mean:.2f} s "
        f"= {o.n * mean:,.0f} s ({o.n * mean / 3600:.1f} h). Per-day runs measured with the fullest history; "
        "a cost that grew with history would make earlier days cheaper.",
        "",
        f"Ratio (N x per-day mean) / (a){' mean' if len(o.singles) > 1 else ''} = {o.n * mean:,.0f} s / "
        f"{a_mean:.1f} s = **{o.ratio:.1f}x** (in-run times only: {o.ratio_in_run:.1f}x"
        + (f"; against each (a) run: {', '.join(f'{o.n * mean / m.wall_s:.1f}x' for m in o.singles)}"
           if len(o.singles) > 1 else "") + ").",
        "",
        f"Targets (issue 7): one run at least {TARGET_RATIO:.0f}x faster than one run per day - {o.ratio:.1f}x, "
        f"{'met' if ratio_met else 'MISSED'}; nightly under {TARGET_NIGHTLY_S:.0f} s - {c.wall_s:.1f} s wall "
        f"({c.run_s:.1f} s in run), {'met' if nightly_met else 'MISSED'}.",
        "",
        f"Where the time goes in (a), the one-run backfill"
        f"{f' (the faster run, {o.singles.index(a) + 1} of {len(o.singles)})' if len(o.singles) > 1 else ''}: "
        f"{a.run_s:.1f} s in run; steps from their STEP_SUCCESS durations, run creation from the call to RUN_START.",
        "",
        *top_steps_lines(a, TOP_STEPS),
        "",
        events_line(a),
        "",
        f"Where the time goes in (c), the nightly ({c.run_s:.1f} s in run):",
        "",
        *top_steps_lines(c, TOP_STEPS),
        "",
        events_line(c),
        "",
        f"A per-day run of (b), the first measured ({per[0].first}, {per[0].run_s:.1f} s in run):",
        "",
        *top_steps_lines(per[0], TOP_STEPS),
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, help=f"N, days in the range (default {DEFAULT_DAYS}; {QUICK_DAYS} with --quick)")
    parser.add_argument("--per-day-runs", type=int,
                        help=f"K, per-day runs measured (default {DEFAULT_PER_DAY_RUNS}; {QUICK_PER_DAY_RUNS} with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: N={QUICK_DAYS}, K={QUICK_PER_DAY_RUNS}, writes bench/results/backfill_quick.md")
    parser.add_argument("--end", type=dt.date.fromisoformat, default=DEFAULT_END,
                        help=f"last day of the range (default {DEFAULT_END})")
    parser.add_argument("--single-runs", type=int,
                        help="R, how many times (a) is measured (default 2; 1 with --quick)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary warehouses and logs")
    parser.add_argument("--rerender", type=Path, metavar="SCRATCH",
                        help="write the report again from SCRATCH/bench.json (a kept run) without running anything")
    parser.add_argument("--note", help="a paragraph for the report, after its header (e.g. why N is not 365)")
    parser.add_argument("--output", type=Path,
                        help="where to write the report (default bench/results/backfill.md; backfill_quick.md with --quick)")
    # Internal: one workload in this process (spawned by the parent).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("--warehouse", "--instance", "--out"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    for name in ("--start-date", "--first", "--last"):
        parser.add_argument(name, type=dt.date.fromisoformat, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def without_note(argv: list[str]) -> list[str]:
    """The command line as recorded in the report: the note is printed there already."""
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == "--note":
            skip = True
        elif not token.startswith("--note="):
            out.append(token)
    return out


def write_report(text: str, results: Path) -> None:
    results.parent.mkdir(parents=True, exist_ok=True)
    tmp = results.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(results)
    print(text)


def rerender(scratch: Path, results: Path | None) -> int:
    state = json.loads((scratch / "bench.json").read_text())
    by_label = {d["label"]: Measured.from_json(d) for d in state["measured"]}
    singles = [m for label, m in by_label.items() if label.startswith("a_one_run")]
    per_day = [m for label, m in by_label.items() if label.startswith("b_day_")]
    outcome = Outcome(state["n"], state["k"], singles, by_label["b_setup"], per_day, by_label["c_nightly"])
    text = report(outcome, state["command"], dt.datetime.fromisoformat(state["started"]), tuple(state["load_start"]),
                  tuple(state["load_end"]), state["note"])
    write_report(text, results or Path(state["results"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    if args.rerender:
        return rerender(args.rerender, args.output)
    n = args.days or (QUICK_DAYS if args.quick else DEFAULT_DAYS)
    k = args.per_day_runs or (QUICK_PER_DAY_RUNS if args.quick else DEFAULT_PER_DAY_RUNS)
    r = args.single_runs or (1 if args.quick else 2)
    if k < 2 or n <= k or n < NIGHTLY_DAYS or r < 1:
        print(f"need 2 <= K < N, N >= {NIGHTLY_DAYS} and R >= 1 (got N={n}, K={k}, R={r})", file=sys.stderr)
        return 2
    results = args.output or RESULTS_DIR / ("backfill_quick.md" if args.quick else "backfill.md")
    command = shlex.join(["python", "-m", "bench.backfill", *without_note(argv if argv is not None else sys.argv[1:])])
    started = dt.datetime.now(dt.UTC)
    load_start = os.getloadavg()
    end = args.end
    first = end - dt.timedelta(days=n - 1)
    day = dt.timedelta(days=1)
    scratch = Path(tempfile.mkdtemp(prefix="btcw-bench-backfill-"))
    print(f"N={n} days {first} … {end}, K={k} per-day runs, (a) {r} time(s); scratch {scratch}",
          file=sys.stderr, flush=True)
    instance = scratch / "dagster"
    instance.mkdir()
    (instance / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    keep = args.keep
    state = {"n": n, "k": k, "command": command, "started": started.isoformat(), "load_start": load_start,
             "note": args.note, "results": str(results), "measured": []}

    def measure(label: str, warehouse: str, lo: dt.date, hi: dt.date) -> Measured:
        nonlocal keep
        m = run_worker(label, scratch / warehouse, instance, first, lo, hi, scratch)
        state["measured"].append(m.to_json())
        (scratch / "bench.json").write_text(json.dumps(state, indent=1))
        if not m.ok:
            print(failure_text(m), file=sys.stderr)
            keep = True
            raise SystemExit(1)
        return m

    try:
        singles = [measure("a_one_run" + (f"_{1}" if r > 1 else ""), "a1", first, end)]
        setup = measure("b_setup", "b", first, end - k * day)
        per_day = [measure(f"b_day_{i + 1}", "b", d, d)
                   for i, d in enumerate(end - (k - 1 - j) * day for j in range(k))]
        nightly = measure("c_nightly", "b", end - (NIGHTLY_DAYS - 1) * day, end)
        singles += [measure(f"a_one_run_{i + 1}", f"a{i + 1}", first, end) for i in range(1, r)]
        state["load_end"] = os.getloadavg()
        (scratch / "bench.json").write_text(json.dumps(state, indent=1))
    finally:
        if keep:
            print(f"kept {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    text = report(Outcome(n, k, singles, setup, per_day, nightly), command, started, load_start, state["load_end"],
                  args.note)
    write_report(text, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
