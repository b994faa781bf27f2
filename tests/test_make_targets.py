"""The Makefile hands the caller's values (START, END, DATE, NIGHTS, WAREHOUSE) to the programs as data, never as
part of a shell command line. Real `make` runs: `make -n` would only print the recipe, while an injection happens
when the shell runs it. The venv and the dbt manifest are taken as built (`-o`), so nothing is rebuilt here."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Taken as up to date even when a dbt file is newer than the manifest: a test must not re-run `dbt parse`, nor `npm ci`
# for the Data Docs' web assets.
AS_BUILT = ("-o", "dbt/target/manifest.json", "-o", ".venv/.installed",
            "-o", "pipelines/quality/web/node_modules/.installed")


def make(target: str, tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BTCW_WAREHOUSE_DIR": str(tmp_path / "warehouse")}
    for name in ("START", "END", "DATE", "NIGHTS", "WAREHOUSE"):
        env.pop(name, None)
    return subprocess.run(["make", "--no-print-directory", "-C", str(PROJECT_ROOT), *AS_BUILT, target,
                           *(f"{name}={value}" for name, value in variables.items())],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)


@pytest.mark.parametrize(
    ("target", "variables", "refused"),
    [
        # The case: the shell ran everything after the ';'.
        ("backfill", {"START": "2025-10-21;touch {marker};", "END": "2025-10-22"}, "argument start: invalid"),
        ("backfill", {"START": "2025-10-21", "END": "$$(touch {marker})"}, "argument end: invalid"),
        # make's own syntax in a value: make expanded it while exporting the command line's variables.
        ("backfill", {"START": "$(shell touch {marker})2025-10-21", "END": "2025-10-22"}, "argument start: invalid"),
        ("report", {"DATE": "2025-10-21;touch {marker};"}, "argument --date: invalid"),
        ("quality-docs", {"START": "2025-10-21 ;touch {marker};", "END": "x"}, "argument --start: invalid"),
        ("soak", {"NIGHTS": "1;touch {marker};", "START": "2025-10-21", "WAREHOUSE": "w;touch {marker};"},
         "argument --nights: invalid int value"),
    ],
)
def test_a_value_given_to_make_never_runs_as_a_command(tmp_path, target, variables, refused):
    marker = tmp_path / "INJECTED"
    done = make(target, tmp_path, **{name: value.format(marker=marker) for name, value in variables.items()})
    assert not marker.exists(), f"make {target} ran a command from its variables:\n{done.stdout}{done.stderr}"
    # Refused at once by the program's own argument check (argparse: exit 2), with the value as given; no run began.
    assert done.returncode != 0 and "error: " + refused in done.stderr, done.stderr
    assert "INJECTED" in done.stderr.split("error: ", 1)[1]  # the whole value reached it, payload included
    assert not (tmp_path / "warehouse").exists()


def test_values_reach_the_program_whole(tmp_path):
    """A well-formed range goes through as the two dates (here refused by the range check, before any run)."""
    done = make("backfill", tmp_path, START="2025-10-22", END="2025-10-21")
    assert done.returncode != 0 and "backfill: END 2025-10-21 is before START 2025-10-22\n" in done.stderr, done.stderr


def test_missing_values_print_the_usage(tmp_path):
    done = make("backfill", tmp_path, START="2025-10-21")
    assert done.returncode != 0 and done.stdout.strip() == "usage: make backfill START=YYYY-MM-DD END=YYYY-MM-DD"


def test_make_docs_stops_at_a_bad_setting_in_one_line(tmp_path):
    """The warehouse path was read inside a $(…) substitution: a bad setting printed a traceback there and dbt still
    ran with an empty path."""
    env_bad = {"BTCW_DUCKDB_MEMORY_LIMIT": "lots"}
    done = subprocess.run(["make", "--no-print-directory", "-C", str(PROJECT_ROOT), *AS_BUILT, "docs"],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path,
                          env={**os.environ, "BTCW_WAREHOUSE_DIR": str(tmp_path / "warehouse"), **env_bad})
    assert done.returncode != 0
    assert "BTCW_DUCKDB_MEMORY_LIMIT='lots' is not a DuckDB memory limit" in done.stderr
    assert "Traceback" not in done.stderr and "Running with dbt" not in done.stdout + done.stderr
