"""Benchmark of the nightly against the history it runs on (issue 17): demo warehouses of 1 month, 1 year and 3 years
built by one-run backfills, then the nightly (the last 3 days, as `make backfill` of them) on each, side by side in
one invocation on this machine.

    .venv/bin/python -m bench.nightly                       # 30, 365 and 1,095 days of history (~1.5 h on 2 cores)
    .venv/bin/python -m bench.nightly --history 30,365      # month and year (~25 min)

Each workload is one `python -m pipelines.cli backfill …` process (demo mode, its own warehouse folder and Dagster
instance), timed from spawn to exit (process start included), its peak memory the largest VmHWM of its process tree
(the CLI, dbt, gamma workers). The builds are the year backfill's figures too (seconds per day, peak memory: the
targets are 0.75 s a day and 1.5 GiB). The nightlies run in rounds, one per warehouse each round, so a busy
neighbour slows all of them rather than one; the report gives each one's median and the ratio to the 1-month one
(target: 3 years within 1.2x). The 370-day lookback of the hash-rate peak is the only declared reach into history,
so a 3-year warehouse measures past it.

The report is printed and written to bench/results/nightly.md with the CPU it ran on; the machine is shared: the load
average is recorded before and after."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.backfill import event_stats  # noqa: E402
from bench.lake_scaling import TreePeak  # noqa: E402
from bench.machine import report_header, show_and_save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "nightly.md"
DEFAULT_LAST = dt.date(2025, 11, 21)
NIGHTLY_DAYS = 3


@dataclass
class Timed:
    wall_s: float
    peak_mib: float
    ok: bool
    peak_of: str = ""  # the process that held the peak (pipelines.cli, dbt, a gamma worker)
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step, from the run's event log
    creation_s: float | None = None  # from the call to RUN_START (definitions, run creation, planned events)


@dataclass
class Warehouse:
    days: int
    folder: Path
    build: Timed | None = None
    nightlies: list[Timed] = field(default_factory=list)


def backfill(folder: Path, first: dt.date, last: dt.date, env: dict[str, str], dagster_yaml: str | None = None,
             code: Path = ROOT) -> Timed:
    """One `pipelines.cli backfill first last` into `folder` (its warehouse and its Dagster instance), with the
    checkout `code`'s dagster.yaml or the text `dagster_yaml`; `code` is this checkout or another one (a worktree of
    an earlier commit: bench.nightly_ab), whose `pipelines` the process imports (it runs in that folder)."""
    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    if dagster_yaml is None:
        shutil.copy(code / "dagster.yaml", home / "dagster.yaml")
    else:
        (home / "dagster.yaml").write_text(dagster_yaml)
    run_env = {**env, "DAGSTER_HOME": str(home), "BTCW_WAREHOUSE_DIR": str(folder / "warehouse"),
               "BTCW_SOURCE_MODE": "demo", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    with (folder / "runs.log").open("a") as log:
        log.write(f"\n=== backfill {first} {last}\n")
        log.flush()
        started, called_at = time.perf_counter(), time.time()
        process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "backfill", first.isoformat(),
                                    last.isoformat()], cwd=code, env=run_env, stdout=log, stderr=subprocess.STDOUT)
        peak = TreePeak(process.pid)
        peak.start()
        code = process.wait()
        wall = time.perf_counter() - started
    timed = Timed(wall, peak.stop() / 1024, code == 0, peak.peak_of)
    from dagster import DagsterInstance

    from pipelines.dbt_project import environ
    from pipelines.runs.instance import instance_dirs

    # where the run's time went, from its event log (dagster.yaml reads its folders from the variables the CLI set)
    with environ(instance_dirs(home)), DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(limit=1)
        if runs:
            stats = event_stats(instance, runs[0].run_id, called_at)
            timed.steps, timed.creation_s = stats["steps"], stats["creation_s"]
    return timed


def nightlies_side_by_side(scratch: Path, history: int, arms: dict[str, dict], rounds: int) -> dict[str, list[Timed]]:
    """One warehouse of `history` days before the nightly's window, built by this checkout in one run, copied once
    per arm; then the nightly on each arm's copy, once to warm up (a first dbt invocation on a copy parses the
    project in full) and `rounds` times timed, arms alternating so that a busy neighbour slows all of them. `arms`
    maps a name to backfill()'s keyword arguments (`dagster_yaml=…`, `code=…`)."""
    nightly_first = DEFAULT_LAST - dt.timedelta(days=NIGHTLY_DAYS - 1)
    first = nightly_first - dt.timedelta(days=history)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("BTCW_", "DAGSTER_"))},
           "BTCW_START_DATE": first.isoformat()}
    built = scratch / "built"
    if not backfill(built, first, nightly_first - dt.timedelta(days=1), env).ok:
        raise SystemExit(f"the {history}-day build failed: {built / 'runs.log'}")
    folders = {name: scratch / f"arm-{i}" for i, name in enumerate(arms)}
    for folder in folders.values():
        shutil.copytree(built, folder, symlinks=True)
    timed: dict[str, list[Timed]] = {name: [] for name in arms}
    for warm_up in [True] + [False] * rounds:
        for name, how in arms.items():
            run = backfill(folders[name], nightly_first, DEFAULT_LAST, env, **how)
            if not run.ok:
                raise SystemExit(f"a nightly of {name} failed: {folders[name] / 'runs.log'}")
            if not warm_up:
                timed[name].append(run)
    return timed


def steps_line(days: int, build: Timed, top: int = 4) -> str:
    """Where a build's time went: creation, its slowest steps, the others."""
    steps = sorted(build.steps.items(), key=lambda kv: -kv[1])
    rest = sum(s for _, s in steps[top:])
    return (f"- {days:,} days, built in {build.wall_s:,.0f} s: run creation {build.creation_s or 0:,.1f} s; "
            + ", ".join(f"`{k}` {v:,.1f} s" for k, v in steps[:top])
            + f"; {len(steps[top:])} other steps {rest:,.1f} s; peak memory in `{build.peak_of or '?'}`.")


CREATION = "process start, definitions, run creation"


def nightly_parts(warehouse: Warehouse) -> dict[str, float]:
    """The median seconds of each part of a warehouse's nightlies: up to the run's start, then each step."""
    parts: dict[str, list[float]] = {}
    for nightly in warehouse.nightlies:
        if nightly.creation_s is not None:
            parts.setdefault(CREATION, []).append(nightly.creation_s)
        for step, seconds in nightly.steps.items():
            parts.setdefault(step, []).append(seconds)
    return {part: statistics.median(values) for part, values in parts.items()}


def nightly_parts_table(warehouses: list[Warehouse], top: int = 12) -> list[str]:
    """Where the nightlies' time went, side by side per history (medians over the rounds), the parts that cost most
    on the longest history first, and what the longest costs against the shortest: what grows with history."""
    if not warehouses:
        return []
    medians = [nightly_parts(w) for w in warehouses]
    longest = medians[-1]
    order = sorted(longest, key=lambda part: (part != CREATION, -longest[part]))
    shown, rest = order[:top], order[top:]

    def cells(values: list[float]) -> str:
        ratio = values[-1] / values[0] if values[0] else float("nan")
        return " | ".join(f"{v:,.1f} s" for v in values) + f" | {ratio:.2f}x |"

    lines = ["", "Where the nightlies' time went (medians of their runs' event logs; the steps run one after another):",
             "", "| part | " + " | ".join(f"{w.days:,} days" for w in warehouses) + " | longest / shortest |",
             "|---|" + "---:|" * (len(warehouses) + 1)]
    lines += [f"| {part if part == CREATION else f'`{part}`'} | " + cells([m.get(part, 0.0) for m in medians])
              for part in shown]
    if rest:
        lines.append(f"| {len(rest)} other steps | " + cells([sum(m.get(p, 0.0) for p in rest) for m in medians]))
    lines.append("| all steps | " + cells([sum(v for p, v in m.items() if p != CREATION) for m in medians]))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", default="30,365,1095", help="days of history of each warehouse (comma-separated)")
    parser.add_argument("--last", type=dt.date.fromisoformat, default=DEFAULT_LAST, help="the nightly's last day")
    parser.add_argument("--rounds", type=int, default=2, help="nightlies per warehouse")
    parser.add_argument("--keep", type=Path, help="keep the warehouses (and their Dagster instances) in this folder")
    args = parser.parse_args(argv)
    sizes = sorted({int(part) for part in args.history.split(",") if part.strip()})
    nightly_first = args.last - dt.timedelta(days=NIGHTLY_DAYS - 1)
    load_before = os.getloadavg()
    # The demo's first partition (BTCW_START_DATE) moved back to the longest history's first day.
    earliest = nightly_first - dt.timedelta(days=max(sizes))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("BTCW_", "DAGSTER_"))},
           "BTCW_START_DATE": earliest.isoformat()}
    scratch = Path(tempfile.mkdtemp(prefix="btcw-nightly-bench-", dir=args.keep))
    warehouses = [Warehouse(days, scratch / f"history-{days}") for days in sizes]
    try:
        for warehouse in warehouses:  # history up to the night before the nightly's window
            first = nightly_first - dt.timedelta(days=warehouse.days)
            warehouse.build = backfill(warehouse.folder, first, nightly_first - dt.timedelta(days=1), env)
            print(f"built {warehouse.days} days: {warehouse.build.wall_s:,.0f} s, ok: {warehouse.build.ok}",
                  file=sys.stderr)
            if not warehouse.build.ok:
                break
        for _ in range(args.rounds):
            for warehouse in [w for w in warehouses if w.build and w.build.ok]:
                warehouse.nightlies.append(backfill(warehouse.folder, nightly_first, args.last, env))
    finally:
        logs = {w.days: (w.folder / "runs.log").read_text()[-4000:] for w in warehouses
                if (w.folder / "runs.log").exists()}
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"the warehouses are kept in {scratch}", file=sys.stderr)
    failed = [w for w in warehouses if not (w.build and w.build.ok and all(n.ok for n in w.nightlies))]
    for warehouse in failed:
        print(f"history {warehouse.days} days: a run failed; its log ends:\n{logs.get(warehouse.days, '')}",
              file=sys.stderr)
    show_and_save(RESULTS, report(warehouses, nightly_first, args.last, load_before, os.getloadavg(),
                                  " ".join(sys.argv[1:])), keep_earlier=True)
    return 1 if failed else 0


def report(warehouses: list[Warehouse], first: dt.date, last: dt.date, before, after, argv: str,
           measured_at: dt.datetime | None = None) -> str:
    title = f"The nightly against its history: {first} … {last} (demo)"
    lines = report_header(title, "bench.nightly", argv, before, after, measured_at) + [
             "| history | build: one run | s per day | build peak memory | nightly walls | nightly median | "
             "against the shortest | nightly peak memory | ok |",
             "|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    base = None
    for w in warehouses:
        walls = [n.wall_s for n in w.nightlies]
        median = statistics.median(walls) if walls else float("nan")
        base = median if base is None else base
        build = w.build or Timed(float("nan"), float("nan"), False)
        lines.append(f"| {w.days:,} days | {build.wall_s:,.0f} s | {build.wall_s / w.days:,.2f} | "
                     f"{build.peak_mib:,.0f} MiB | {', '.join(f'{x:,.1f} s' for x in walls)} | {median:,.1f} s | "
                     f"{median / base:.2f}x | {max((n.peak_mib for n in w.nightlies), default=0):,.0f} MiB | "
                     f"{'yes' if build.ok and all(n.ok for n in w.nightlies) else 'FAILED'} |")
    lines += ["", "Where each build's time went (its run's event log):", ""]
    lines += [steps_line(w.days, w.build) for w in warehouses if w.build and w.build.steps]
    lines += nightly_parts_table([w for w in warehouses if w.nightlies])
    lines += ["", "Targets (issue 17): nightly ≤ 15 s wall; 3 years ≤ 1.2x the 1-month nightly; a year built in one "
              "run ≤ 0.75 s a day and ≤ 1.5 GiB."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
