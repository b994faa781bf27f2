"""The dbt project handle. The manifest is prepared at build time (`make manifest`, i.e. `dbt parse`),
never parsed on import: the definitions read the prepared target/manifest.json."""

from __future__ import annotations

import json
from pathlib import Path

from dagster_dbt import DbtProject

from pipelines.settings import Settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt"


def dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR)


def dbt_vars(settings: Settings, min_date: str, max_date: str) -> dict[str, str | int]:
    """Everything dbt needs from Settings: the half-open window and where/how to open DuckDB."""
    return {
        "min_date": min_date,
        "max_date": max_date,
        "duckdb_path": str(settings.duckdb_path),
        "duckdb_memory_limit": settings.duckdb_memory_limit,
        "duckdb_threads": settings.duckdb_threads,
        "duckdb_temp_directory": str(settings.temp_dir),
    }


def dbt_build_args(settings: Settings, min_date: str, max_date: str) -> list[str]:
    return ["build", "--vars", json.dumps(dbt_vars(settings, min_date, max_date), sort_keys=True)]
