"""Benchmark of Dagster's event log on SQLite: the stock storage against the project's (pipelines/runs/event_storage.py,
its connections kept open), side by side in one invocation.

    .venv/bin/python -m bench.event_log              # a job of one asset and 300 checks, each storage in turn
    .venv/bin/python -m bench.event_log --nightly    # and the nightly on copies of a 30-day demo warehouse (~12 min)

The job writes what a dbt step's tests make Dagster write (per check: planned, output, evaluation); each run is a
process of its own on a fresh instance (one warm-up run, then the timed one), storages alternating round by round.
With --nightly, one 30-day demo warehouse is built (one-run backfill), copied once per storage, and the nightly (the
last 3 days) runs on each copy in alternating rounds after a warm-up (dbt's partial parse), each a
`python -m pipelines.cli backfill` process timed from spawn to exit. The two dagster.yaml differ in their `storage:`
only. The report is printed and written to bench/results/event_log.md with the CPU and the load around it."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import report_header, show_and_save  # noqa: E402
from bench.nightly import ROOT, nightlies_side_by_side  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "event_log.md"
PROJECT_STORAGE = (ROOT / "dagster.yaml").read_text()
STOCK_STORAGE = "storage:\n  sqlite:\n    base_dir:\n      env: BTCW_DAGSTER_STORAGE_DIR\n"


def storages() -> dict[str, str]:
    """The project's dagster.yaml; the same file with Dagster's stock SQLite storage; and with the project's storage
    but an fsync per commit (`synchronous: FULL`, Dagster's own durability)."""
    start = re.search(r"^storage:\n", PROJECT_STORAGE, re.M).start()  # type: ignore[union-attr]
    end = PROJECT_STORAGE.index("\n\n", start) + 1
    fsynced = re.sub(r"^(\s+synchronous:) NORMAL$", r"\1 FULL", PROJECT_STORAGE, count=1, flags=re.M)
    if fsynced == PROJECT_STORAGE:
        raise SystemExit("dagster.yaml: no `synchronous: NORMAL` under storage: to compare with FULL")
    return {"stock SQLite storage": PROJECT_STORAGE[:start] + STOCK_STORAGE + PROJECT_STORAGE[end:],
            "project's, synchronous FULL": fsynced,
            "project's (connections kept open, synchronous NORMAL)": PROJECT_STORAGE}


JOB = """
import sys, time, dagster as dg
checks = int(sys.argv[2])
specs = [dg.AssetCheckSpec(f"c{i}", asset="a") for i in range(checks)]
@dg.multi_asset(specs=[dg.AssetSpec("a")], check_specs=specs)
def a():
    yield dg.MaterializeResult(asset_key="a")
    for i in range(checks):
        yield dg.AssetCheckResult(check_name=f"c{i}", asset_key="a", passed=True)
job = dg.Definitions(assets=[a]).resolve_implicit_global_asset_job_def()
with dg.DagsterInstance.from_config(sys.argv[1]) as instance:
    job.execute_in_process(instance=instance)
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance)
    print(time.perf_counter() - started, len(instance.all_logs(result.run_id)))
"""


def job_run(scratch: Path, name: str, text: str, checks: int) -> tuple[float, int]:
    home = Path(tempfile.mkdtemp(dir=scratch))
    (home / "dagster.yaml").write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BTCW_", "DAGSTER_"))}
    env["BTCW_DAGSTER_STORAGE_DIR"] = str(home / "storage")
    env["BTCW_DAGSTER_DIR"] = env["BTCW_DAGSTER_COMPUTE_LOGS_DIR"] = str(home)
    done = subprocess.run([sys.executable, "-c", JOB, str(home), str(checks)], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    seconds, events = done.stdout.split()
    return float(seconds), int(events)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=300, help="asset checks of the job")
    parser.add_argument("--rounds", type=int, default=3, help="runs per storage")
    parser.add_argument("--nightly", action="store_true", help="also the nightly on a 30-day demo warehouse")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="btcw-event-log-bench-"))
    kinds = storages()
    jobs: dict[str, list[float]] = {name: [] for name in kinds}
    nightlies: dict[str, list[float]] = {name: [] for name in kinds}
    events = 0
    try:
        for _ in range(args.rounds):
            for name, text in kinds.items():
                seconds, events = job_run(scratch, name, text, args.checks)
                jobs[name].append(seconds)
        if args.nightly:
            arms = {name: {"dagster_yaml": text} for name, text in kinds.items()}
            runs = nightlies_side_by_side(scratch, 30, arms, args.rounds)
            nightlies = {name: [run.wall_s for run in timed] for name, timed in runs.items()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    lines = report_header("Dagster's event log on SQLite: stock storage against the project's, fsynced or not",
                          "bench.event_log",
                          " ".join(sys.argv[1:]), load_before, os.getloadavg())
    lines += [f"A job of one asset and {args.checks} checks ({events} events), timed in its process, runs alternating:",
              "", "| storage | runs | median | per event |", "|---|---|---:|---:|"]
    lines += [f"| {name} | {', '.join(f'{s:.2f} s' for s in runs)} | {statistics.median(runs):.2f} s | "
              f"{statistics.median(runs) / max(events, 1) * 1e3:.2f} ms |" for name, runs in jobs.items()]
    if args.nightly:
        lines += ["", "The nightly (3 days, `pipelines.cli backfill`, process start included) on copies of one 30-day "
                  "demo warehouse, rounds alternating after a warm-up:", "",
                  "| storage | nightly walls | median |", "|---|---|---:|"]
        lines += [f"| {name} | {', '.join(f'{s:.1f} s' for s in walls)} | {statistics.median(walls):.1f} s |"
                  for name, walls in nightlies.items()]
    show_and_save(RESULTS, "\n".join(lines) + "\n", keep_earlier=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
