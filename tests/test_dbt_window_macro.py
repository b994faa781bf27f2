"""dbt/macros/window.sql pastes the run's window bounds into SQL between quotes: a bound that is not a date written
YYYY-MM-DD is refused while compiling, with the variable and the value named. Real dbt compiles, in one process (one
parse, then each case), on a copy of the project so that nothing is written under dbt/target."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.dbt_project import DBT_PROJECT_DIR, dbt_env
from pipelines.settings import Settings

PROBE = """
import copy, json, os, sys
from dbt.cli.main import dbtRunner

project, cases = sys.argv[1], json.loads(sys.argv[2])
base = ["--project-dir", project, "--profiles-dir", project]
parsed = dbtRunner().invoke(["parse", *base, "--quiet"])
assert parsed.success, parsed.exception
for case in cases:
    runner = dbtRunner(manifest=copy.deepcopy(parsed.result))  # a failed inline query stays in the manifest it used
    for name in ("BTCW_DBT_MIN_DATE", "BTCW_DBT_MAX_DATE"):
        os.environ.pop(name, None)
    os.environ.update(case["env"])
    what = ["--select", case["select"]] if case.get("select") else ["--inline", case["inline"]]
    result = runner.invoke(["compile", *base, *what, *(["--vars", json.dumps(case["vars"])] if case.get("vars") else [])])
    sql = result.result.results[0].node.compiled_code if result.success else None
    print("CASE " + json.dumps({"success": result.success, "sql": sql,
                                "error": None if result.success else str(result.exception)}), flush=True)
"""
BOUNDS = "select {{ window_start() }} as s, {{ window_end() }} as e"
HOSTILE = "2025-10-01' OR 1=1 --"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> list[dict]:
    """Each case of CASES compiled by dbt: its outcome, and everything dbt printed for it."""
    project = tmp_path_factory.mktemp("dbt") / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "target").mkdir()
    # dbt's saved parse, so that only the files read differently re-parse.
    if (DBT_PROJECT_DIR / "target" / "partial_parse.msgpack").exists():
        shutil.copy2(DBT_PROJECT_DIR / "target" / "partial_parse.msgpack", project / "target")
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run([sys.executable, "-c", PROBE, str(project), json.dumps(CASES)], capture_output=True,
                          text=True, env=env, cwd=project, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # Each case's line follows what dbt printed while compiling it: "<log>CASE {json}\n<log>CASE {json}\n..."
    chunks = done.stdout.split("CASE ")
    printed = [chunks[0]] + [chunk.split("\n", 1)[1] for chunk in chunks[1:-1]]
    outcomes = [json.loads(chunk.split("\n", 1)[0]) | {"printed": log}
                for chunk, log in zip(chunks[1:], printed, strict=True)]
    assert len(outcomes) == len(CASES)
    return outcomes


# How the pipeline sets the bounds (pipelines/dbt_project.py): ISO dates from the run's partitions.
PIPELINE_ENV = {k: v for k, v in dbt_env(Settings(), "2025-10-01", "2025-10-03").items() if "DATE" in k}
CASES = [
    {"env": PIPELINE_ENV, "inline": BOUNDS},
    {"env": {"BTCW_DBT_MIN_DATE": HOSTILE, "BTCW_DBT_MAX_DATE": "2025-10-03"}, "inline": BOUNDS},
    {"env": {"BTCW_DBT_MIN_DATE": "2025-10-01", "BTCW_DBT_MAX_DATE": "2025-10-03'); drop table x; --"},
     "select": "fct_spot_ohlcv_daily"},
    {"env": {"BTCW_DBT_MIN_DATE": "2025-13-01"}, "inline": BOUNDS},
    {"env": {}, "vars": {"max_date": "2100-01-01')--"}, "inline": BOUNDS},
    {"env": {}, "inline": BOUNDS},
    # A unit test's `overrides: vars` (dbt/models/**.yml), over an environment that would say otherwise.
    {"env": PIPELINE_ENV, "vars": {"min_date": "2025-11-20", "max_date": "2025-11-22"}, "inline": BOUNDS},
]


def test_the_pipelines_bounds_and_a_unit_tests_vars_compile_as_dates(compiled):
    assert compiled[0]["sql"] == "select cast('2025-10-01' as date) as s, cast('2025-10-03' as date) as e"
    # With neither var nor environment: everything (a plain `dbt build`).
    assert compiled[5]["sql"] == "select cast('2009-01-03' as date) as s, cast('2100-01-01' as date) as e"
    assert compiled[6]["sql"] == "select cast('2025-11-20' as date) as s, cast('2025-11-22' as date) as e"


@pytest.mark.parametrize(
    ("case", "source", "value"),
    [
        (1, "BTCW_DBT_MIN_DATE", HOSTILE),
        (2, "BTCW_DBT_MAX_DATE", "2025-10-03'); drop table x; --"),  # a real model's compile
        (3, "BTCW_DBT_MIN_DATE", "2025-13-01"),
        (4, "var max_date", "2100-01-01')--"),
    ],
)
def test_a_bound_that_is_not_a_date_is_refused_naming_it(compiled, case, source, value):
    outcome = compiled[case]
    assert not outcome["success"] and outcome["sql"] is None
    expected = f"{source}='{value}' is not a date (YYYY-MM-DD): the run's window bound is refused before it reaches SQL"
    assert expected in (outcome["error"] or "") + outcome["printed"], outcome
