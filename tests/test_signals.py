"""A run's process answers SIGTERM, and so do the processes it starts, whatever its parent ignored.

pytest-xdist's workers (and some supervisors) ignore SIGTERM, and an ignored signal is inherited through exec. A CLI
run started from such a parent passed it on to Dagster's `tail -F` compute-log mirrors, which Dagster stops with
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
tail = subprocess.Popen(["tail", "-F", "-c", "+0", sys.argv[2]], stdout=subprocess.DEVNULL)
tail.terminate()
try:
    print(tail.wait(timeout=10))
except subprocess.TimeoutExpired:
    tail.kill()
    print("survived")
"""


def _run(tmp_path: Path, module: str, how: str) -> str:
    watched = tmp_path / "compute.log"
    watched.write_text("")
    done = subprocess.run([sys.executable, "-c", CHILD.format(module=module), how, str(watched)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_without_the_reset_a_child_inherits_sigterm_ignored_and_survives_it(tmp_path):
    assert _run(tmp_path, "cli", "none") == "survived"


@pytest.mark.parametrize("module", ["cli", "hashprice_history", "soak.__main__"])
def test_every_entry_point_gives_sigterm_back_to_the_processes_it_starts(tmp_path, module):
    assert _run(tmp_path, module, "entry") == str(-signal.SIGTERM)
