"""A run's process answers SIGTERM, and so do the processes it starts, whatever its parent ignored.

An ignored signal is inherited through exec: a shell ignores SIGINT in its background jobs, and Dagster, running on
the main thread, gives SIGTERM whatever SIGINT has (so pytest-xdist's workers end up ignoring SIGTERM). A CLI run
started from such a parent passed it on to Dagster's `tail -F` compute-log mirrors, which Dagster stops with
SIGTERM: they outlived the run holding its stderr open, and a test reading the CLI's output waited 30 minutes for
its end (measured: tests/test_crash_recovery.py's reference run and tests/test_lake_warehouse.py's, both)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# In a process that inherited SIGTERM ignored: optionally an entry point's main, then a child like Dagster's tail,
# stopped as Dagster stops it. Prints the child's exit status, or "survived".
CHILD = """
import subprocess, sys
if sys.argv[1] == "entry":
    from pipelines.{module} import main
    try:
        main(["--help"])
    except SystemExit:
        pass
if sys.argv[3] == "dagster":  # what Dagster does on the main thread when a run starts
    from dagster._utils.interrupts import setup_interrupt_handlers
    setup_interrupt_handlers()
tail = subprocess.Popen(["tail", "-F", "-c", "+0", sys.argv[2]], stdout=subprocess.DEVNULL)
tail.terminate()
try:
    print(tail.wait(timeout=10))
except subprocess.TimeoutExpired:
    tail.kill()
    print("survived")
"""


def _ignore_both() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _run(tmp_path: Path, module: str, how: str, then: str = "-", ignore=_ignore_both) -> str:
    watched = tmp_path / "compute.log"
    watched.write_text("")
    done = subprocess.run([sys.executable, "-c", CHILD.format(module=module), how, str(watched), then], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, preexec_fn=ignore)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_without_the_reset_a_child_inherits_sigterm_ignored_and_survives_it(tmp_path):
    assert _run(tmp_path, "cli", "none") == "survived"
    # SIGTERM itself not ignored, only SIGINT (a background job): Dagster's handlers make SIGTERM ignored
    assert _run(tmp_path, "cli", "none", "dagster", lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) == "survived"


@pytest.mark.parametrize("module", ["cli", "hashprice_history", "soak.__main__"])
@pytest.mark.parametrize("then", ["-", "dagster"])
def test_every_entry_point_gives_sigterm_back_to_the_processes_it_starts(tmp_path, module, then):
    assert _run(tmp_path, module, "entry", then) == str(-signal.SIGTERM)
