"""`audit` and `failing-rows` run dbt outside a run: dbt's files (its manifest among them) go to the warehouse's own
target folder, never to dbt/target, whose manifest every run's definitions read at their start. CI caught a run
failing on a manifest half-written there by an audit in another process ("orjson.JSONDecodeError: unexpected end of
data"). Here the dbt command each builds is taken from subprocess.run, without running dbt."""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess

import pytest

from pipelines import cli, engine
from pipelines.dbt_project import DBT_PROJECT_DIR, dbt_target_path
from pipelines.settings import Settings, SourceMode


@pytest.mark.parametrize("command", ["audit", "failing-rows"])
def test_dbt_outside_a_run_writes_the_warehouses_target_folder_not_the_projects(command, tmp_path, monkeypatch):
    settings = Settings(source_mode=SourceMode.DEMO, warehouse_dir=tmp_path)
    calls = []
    monkeypatch.setattr(engine, "exists", lambda s: True)
    monkeypatch.setattr(cli, "sole_writer", lambda s, what: contextlib.nullcontext())
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append((args, kw)) or
                        subprocess.CompletedProcess(args, 0))
    if command == "audit":
        assert cli._audit(settings) == 0
    else:
        assert cli._failing_rows(settings, "not_null_x", dt.date(2025, 11, 1), dt.date(2025, 11, 2)) == 0
    (args, kw), = calls
    assert kw["cwd"] == DBT_PROJECT_DIR and args[1] == "test"
    target = args[args.index("--target-path") + 1]
    assert target == str(dbt_target_path(settings)) and not target.startswith(str(DBT_PROJECT_DIR))
