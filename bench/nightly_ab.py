"""The nightly of this checkout against an earlier commit's, side by side on copies of one warehouse (issue 17):
what a change to the code buys a nightly, measured end to end, process start included.

    .venv/bin/python -m bench.nightly_ab --base 213cdde            # 30 days of history, 3 rounds (~10 min)
    .venv/bin/python -m bench.nightly_ab --base HEAD~3 --history 90 --rounds 5

The earlier commit is checked out into a temporary git worktree (its dbt manifest parsed there, by this
environment's dbt); both run with this environment's packages, each importing its own `pipelines` (the process runs
in its checkout's folder) and reading its own dagster.yaml. One warehouse of `--history` days is built by this
checkout (one-run backfill, demo mode), then copied once per arm; each arm runs the nightly (`pipelines.cli
backfill` of the last 3 days) once to warm up (a first dbt invocation on a copy parses the project in full), then
the arms alternate, round by round, so a busy neighbour slows both. The report gives each arm's walls and median,
and where each arm's median nightly spent its time (the run's event log), and is written to
bench/results/nightly_ab.md with the CPU it ran on and the load average before and after."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import report_header, show_and_save  # noqa: E402
from bench.nightly import CREATION, ROOT, Timed, nightlies_side_by_side  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "nightly_ab.md"


def worktree(base: str, where: Path) -> str:
    """A detached worktree of `base` at `where`, its dbt manifest parsed; returns the commit it is."""
    commit = subprocess.run(["git", "rev-parse", "--short", base], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout.strip()
    subprocess.run(["git", "worktree", "add", "--detach", str(where), commit], cwd=ROOT, check=True,
                   capture_output=True)
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run([str(dbt), "parse", "--quiet"], cwd=where / "dbt", check=True,
                   env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    return commit


def parts(timed: Timed) -> dict[str, float]:
    return {CREATION: timed.creation_s or 0.0, **timed.steps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--history", type=int, default=30, help="days of history before the nightly's window")
    parser.add_argument("--rounds", type=int, default=3, help="timed nightlies per arm")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="btcw-nightly-ab-"))
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip())
    timed: dict[str, list[Timed]] = {}
    try:
        base = worktree(args.base, scratch / "base")
        arms = {f"base {base}": {"code": scratch / "base"},
                f"this checkout {head}{' (modified)' if dirty else ''}": {"code": ROOT}}
        timed = nightlies_side_by_side(scratch, args.history, arms, args.rounds)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(scratch / "base")], cwd=ROOT,
                       capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    show_and_save(RESULTS, report(timed, args, load_before), keep_earlier=True)
    return 0


def report(timed: dict[str, list[Timed]], args: argparse.Namespace, load_before) -> str:
    lines = report_header(f"The nightly, two checkouts side by side on copies of one {args.history}-day warehouse",
                          "bench.nightly_ab", " ".join(sys.argv[1:]), load_before, os.getloadavg())
    lines += ["| checkout | nightly walls | median |", "|---|---|---:|"]
    medians = {}
    for name, runs in timed.items():
        walls = [r.wall_s for r in runs]
        medians[name] = statistics.median(walls)
        lines.append(f"| {name} | {', '.join(f'{w:.1f} s' for w in walls)} | {medians[name]:.1f} s |")
    names = list(timed)
    if len(names) == 2 and medians[names[0]]:
        lines += ["", f"This checkout against the base: {medians[names[1]] / medians[names[0]]:.2f}x."]
    # where the time went: the median of each part over each arm's rounds
    table = {name: {} for name in names}
    for name, runs in timed.items():
        keys = {k for r in runs for k in parts(r)}
        table[name] = {k: statistics.median(parts(r).get(k, 0.0) for r in runs) for k in keys}
    order = sorted({k for t in table.values() for k in t},
                   key=lambda k: (k != CREATION, -max(t.get(k, 0.0) for t in table.values())))
    lines += ["", "Where the time went (medians of the rounds, from each run's event log):", "",
              "| part | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    shown, rest = order[:10], order[10:]
    for part in shown:
        label = part if part == CREATION else f"`{part}`"
        lines.append(f"| {label} | " + " | ".join(f"{table[n].get(part, 0.0):.1f} s" for n in names) + " |")
    if rest:
        lines.append(f"| {len(rest)} other steps | "
                     + " | ".join(f"{sum(table[n].get(p, 0.0) for p in rest):.1f} s" for n in names) + " |")
    lines.append("| all steps | " + " | ".join(
        f"{sum(v for p, v in table[n].items() if p != CREATION):.1f} s" for n in names) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
