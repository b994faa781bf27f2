"""Processes opening the Dagster instance of a new DAGSTER_HOME at the same moment (two backfills started together)
all get it: its SQLite storage is created once, under pipelines.runs.instance's lock.

Without the lock, 6 trials of 4 processes opening a fresh home together saw 6 of the 24 fail here ("Version table
'alembic_version' has more than one head present")."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
OPEN = ("from pipelines.runs.instance import open_instance\n"
        "with open_instance() as instance:\n"
        "    print(len(instance.get_runs(limit=1)))\n")


def test_processes_opening_a_new_home_at_once_all_get_the_instance(tmp_path):
    for trial in range(3):
        home = tmp_path / f"home{trial}"
        home.mkdir()
        shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BTCW_", "DAGSTER_"))}
        env["DAGSTER_HOME"] = str(home)
        processes = [subprocess.Popen([sys.executable, "-c", OPEN], cwd=PROJECT, env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
        outcomes = [(p.wait(timeout=300), *p.communicate()) for p in processes]
        failed = [err.strip().splitlines()[-1] for code, _, err in outcomes if code != 0]
        assert failed == [], (trial, failed)
        assert [out.strip() for _, out, _ in outcomes] == ["0"] * 4
        assert (home / "warehouse" / "dagster" / ".storage.lock").exists()
