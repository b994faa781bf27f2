"""How Dagster hands the run's window and DuckDB settings to dbt: through the environment, not --vars, so that
dbt keeps its partial parse (pipelines/dbt_project.py). The real dbt build runs in tests/test_end_to_end.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

import yaml

from pipelines.dbt_project import DBT_BUILD_ARGS, DBT_PROJECT_DIR, dbt_env, dbt_target_path, environ
from pipelines.settings import Settings, SourceMode, WarehouseKind


def settings(tmp_path: Path) -> Settings:
    return Settings(source_mode=SourceMode.DEMO, warehouse_dir=tmp_path, start_date=dt.date(2025, 10, 1),
                    duckdb_memory_limit="3GB", duckdb_threads=3)


def test_no_vars_on_the_command_line():
    # Any --vars would make dbt re-parse the whole project on every run (the window changes every run).
    assert DBT_BUILD_ARGS == ("build", "--exclude-resource-type", "unit_test")


def test_env_carries_the_window_and_duckdb_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("DBT_LOG_LEVEL_FILE", raising=False)
    s = settings(tmp_path)
    assert dbt_env(s, "2025-11-19", "2025-11-22") == {
        "DBT_LOG_LEVEL_FILE": "info",  # dbt's own variable: read by dbt, not by the project
        "BTCW_DBT_MIN_DATE": "2025-11-19",
        "BTCW_DBT_MAX_DATE": "2025-11-22",
        "BTCW_DBT_DUCKDB_PATH": str(s.duckdb_path),
        "BTCW_DBT_DUCKDB_MEMORY_LIMIT": "3GB",
        "BTCW_DBT_DUCKDB_THREADS": "3",
        "BTCW_DBT_DUCKDB_TEMP_DIRECTORY": str(s.temp_dir),
        "BTCW_DBT_TARGET": "default",
        "BTCW_DBT_LAKE_TREE": "demo",
    }
    lake = dataclasses.replace(s, warehouse=WarehouseKind.LAKE)
    assert dbt_env(lake, "2025-11-19", "2025-11-22")["BTCW_DBT_TARGET"] == "lake"


def test_the_dbt_project_reads_every_variable_passed():
    read = (DBT_PROJECT_DIR / "profiles.yml").read_text() + (DBT_PROJECT_DIR / "macros" / "window.sql").read_text()
    for name in dbt_env(settings(Path("/nowhere")), "2025-11-19", "2025-11-22"):
        if name.startswith("DBT_"):
            continue  # dbt's own settings (DBT_LOG_LEVEL_FILE), which dbt reads
        assert f"'{name}'" in read or f'"{name}"' in read, name


def test_the_window_is_not_a_declared_var():
    # A var declared in dbt_project.yml would always win over the environment (macros/window.sql).
    project_vars = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    assert "min_date" not in project_vars and "max_date" not in project_vars


def test_target_path_is_per_warehouse_tree(tmp_path):
    demo, live = settings(tmp_path), Settings(source_mode=SourceMode.LIVE, warehouse_dir=tmp_path)
    assert dbt_target_path(demo) != dbt_target_path(live)
    assert dbt_target_path(demo).parent == demo.tree_dir


def test_environ_sets_then_restores(monkeypatch):
    monkeypatch.setenv("BTCW_DBT_TEST_KEPT", "before")
    monkeypatch.delenv("BTCW_DBT_TEST_NEW", raising=False)
    with environ({"BTCW_DBT_TEST_KEPT": "during", "BTCW_DBT_TEST_NEW": "x"}):
        assert os.environ["BTCW_DBT_TEST_KEPT"] == "during" and os.environ["BTCW_DBT_TEST_NEW"] == "x"
    assert os.environ["BTCW_DBT_TEST_KEPT"] == "before" and "BTCW_DBT_TEST_NEW" not in os.environ
