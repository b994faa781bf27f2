"""The dbt project handle. The manifest is prepared at build time (`make manifest`, i.e. `dbt parse`),
never parsed on import: the definitions read the prepared target/manifest.json."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.settings import Settings, WarehouseKind

if TYPE_CHECKING:
    from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt"

# dbt build of the models, seeds and data tests: the window and the DuckDB settings go through the environment
# (dbt_env). `--vars` would do, but dbt re-parses the whole project whenever --vars differ from those of its saved
# partial parse, and the window differs on every run: ~15 s of a nightly's dbt step, twice (two invocations).
# Unit tests are left out: they check the models' SQL on fixed inputs, so they can only fail after the code changes,
# and dbt's guidance is to run them in development and CI, not in production builds. `make test` runs them (every
# `audit` runs `dbt test`, unit tests included, and the end-to-end audit test counts them); a run skips ~1.5 s.
DBT_BUILD_ARGS = ("build", "--exclude-resource-type", "unit_test")

# dbt's log file (dbt.log in the warehouse's dbt_target folder) keeps each node's result and time (dbt's "info"),
# not every SQL statement, connection and Jinja line ("debug", dbt's default: ~10 MB and ~2 s of a nightly).
# DBT_LOG_LEVEL_FILE=debug in the environment of the run (or of `make audit`) brings the statements back.
DBT_LOG_LEVEL_FILE = "info"


def dbt_project() -> DbtProject:
    from dagster_dbt import DbtProject  # here, not on import: ~1 s that the CLI's refusals and `audit` need not pay

    return DbtProject(project_dir=DBT_PROJECT_DIR)


class ManifestMissing(RuntimeError):
    """The dbt manifest the definitions read has not been prepared (`make manifest`)."""


def prepared_manifest(project: DbtProject) -> Path:
    """The project's manifest.json, which `make manifest` (dbt parse) prepares; ManifestMissing, one line saying so,
    when it is not there (a fresh checkout used without make), instead of dagster-dbt's traceback."""
    path = Path(project.manifest_path)
    if not path.is_file():
        raise ManifestMissing(f"the dbt manifest {path} does not exist: run `make manifest` (dbt parse) in "
                              f"{DBT_PROJECT_DIR.parent}, or any make target, which prepares it first")
    return path


# The window's variables (dbt/macros/window.sql); without them dbt's window is every day there can be.
WINDOW_VARIABLES = ("BTCW_DBT_MIN_DATE", "BTCW_DBT_MAX_DATE")


def dbt_env(settings: Settings, min_date: str | None = None, max_date: str | None = None) -> dict[str, str]:
    """Everything dbt needs from Settings, as the variables dbt/profiles.yml and dbt/macros/window.sql read:
    the half-open window [min_date, max_date) (none given: no window, all history) and where/how to open DuckDB."""
    window = dict(zip(WINDOW_VARIABLES, (min_date, max_date))) if min_date and max_date else {}
    return {
        **window,
        "DBT_LOG_LEVEL_FILE": os.environ.get("DBT_LOG_LEVEL_FILE") or DBT_LOG_LEVEL_FILE,
        "BTCW_DBT_DUCKDB_PATH": str(settings.duckdb_path),
        "BTCW_DBT_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "BTCW_DBT_DUCKDB_THREADS": str(settings.duckdb_threads),
        "BTCW_DBT_DUCKDB_TEMP_DIRECTORY": str(settings.temp_dir),
        # The profile's target: the file, or the tree's DuckLake (dbt/profiles.yml).
        "BTCW_DBT_TARGET": "lake" if settings.warehouse is WarehouseKind.LAKE else "default",
        "BTCW_DBT_LAKE_TREE": settings.source_mode.tree,
    }


def venv_dbt() -> Path:
    """Where this interpreter's environment (the venv) has its dbt."""
    return Path(sys.executable).with_name("dbt")


def dbt_executable() -> str:
    """The dbt of this interpreter's environment (the venv), not whatever dbt is on PATH."""
    beside = venv_dbt()
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def dbt_target_path(settings: Settings) -> Path:
    """dbt's target folder for this warehouse, kept from one invocation to the next.

    dagster-dbt's default is a fresh folder per invocation, seeded with dbt/target/partial_parse.msgpack from
    `make manifest`; but that parse saw the profile's parse-only DuckDB path, and dbt hashes the profile's values
    (path, database name) into its partial-parse check, so every invocation re-parsed the whole project. Kept per
    warehouse, the folder's partial parse was made with this warehouse's profile: only the first invocation on a
    new warehouse (or after a dbt upgrade) parses fully; the run's second invocation and every later run reuse it,
    and dbt itself re-parses just the files that changed. One invocation at a time uses it: DuckDB takes one
    writer, runs are queued one at a time (dagster.yaml) and steps run one after another (definitions.py)."""
    return settings.tree_dir / "dbt_target"


@contextlib.contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set `values` in os.environ for the block, then restore what was there. DbtCliResource.cli takes no env
    argument: it copies os.environ when it starts dbt, so the variables need only be present during that call."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
