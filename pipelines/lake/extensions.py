"""DuckDB extensions the lake needs (ducklake, httpfs, postgres_scanner), loaded from their PyPI wheels.

DuckDB installs extensions from its own repository (extensions.duckdb.org) by default; machines that reach only
the package registries cannot. For DuckDB 1.5.5 the extensions ship as wheels (`duckdb-extension-<name>==1.5.5`,
pinned in pyproject.toml), each holding `extensions/v<duckdb version>/<name>.duckdb_extension`. `load` LOADs that
file when the wheel for the running DuckDB is installed, and otherwise falls back to DuckDB's own INSTALL + LOAD
(a DuckDB the wheels do not match, a machine with the repository in reach)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb

from pipelines.duckdb_tables import string_literal

LAKE_EXTENSIONS = ("postgres_scanner", "httpfs", "ducklake")  # the catalog's client, S3, the lake itself


class ExtensionError(RuntimeError):
    pass


def wheel_file(name: str, version: str = duckdb.__version__) -> Path | None:
    """The extension's file in its installed wheel for this DuckDB version, or None."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
    return path if path.is_file() else None


def load(conn: duckdb.DuckDBPyConnection, names: tuple[str, ...] = LAKE_EXTENSIONS) -> dict[str, str]:
    """LOAD each extension into `conn`; returns name → where it came from (the wheel's file or "repository")."""
    origins: dict[str, str] = {}
    for name in names:
        path = wheel_file(name)
        try:
            if path is not None:
                conn.execute(f"LOAD {string_literal(path)}")
                origins[name] = str(path)
            else:
                conn.execute(f"INSTALL {name}")
                conn.execute(f"LOAD {name}")
                origins[name] = "repository"
        except duckdb.Error as error:
            where = path or "DuckDB's extension repository"
            raise ExtensionError(f"DuckDB {duckdb.__version__} could not load the {name} extension from {where}: "
                                 f"{str(error).splitlines()[0]} (pip install duckdb-extension-{name.replace('_', '-')}"
                                 f"=={duckdb.__version__})") from None
    return origins
