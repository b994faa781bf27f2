"""Real `dbt test` runs of a few of the project's tests on a small DuckDB file (not a test module).

A case writes only the relations the selected tests read (as plain tables, with rows on and around a run's window),
runs dbt's own `dbt test --select … --store-failures` in a subprocess with the window as --vars, and reads back each
test's result (run_results.json, with its severity from the manifest) and its failing rows
(dbt_test__audit.<test>). The cases of one harness share its DuckDB path and target folder, so every dbt call after
the first parses partially (seconds, not the ~10 s of a full parse).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import duckdb

from pipelines.dbt_project import DBT_PROJECT_DIR

DBT = Path(sys.executable).parent / "dbt"
Table = tuple[dict[str, str], list[tuple]]  # ({column: DuckDB type}, rows)


class DbtTestHarness:
    def __init__(self, workdir: Path, min_date: dt.date, max_date: dt.date):
        self.workdir = workdir
        self.db = workdir / "tested.duckdb"
        self.target = workdir / "target"
        self.vars = json.dumps({"duckdb_path": str(self.db), "duckdb_temp_directory": str(workdir / "duckdb_tmp"),
                                "min_date": min_date.isoformat(), "max_date": max_date.isoformat()})

    def write(self, tables: dict[str, Table], schema: str = "staging") -> None:
        """Replace `schema`.<name> for each table, and drop the failing rows a previous case stored."""
        with duckdb.connect(str(self.db)) as conn:
            conn.execute(f"create schema if not exists {schema}")
            conn.execute("drop schema if exists dbt_test__audit cascade")
            for name, (columns, rows) in tables.items():
                conn.execute(f"create or replace table {schema}.{name} "
                             f"({', '.join(f'{c} {t}' for c, t in columns.items())})")
                if rows:
                    conn.executemany(f"insert into {schema}.{name} values ({', '.join('?' for _ in columns)})", rows)

    def dbt(self, *args: str) -> subprocess.CompletedProcess:
        """`dbt <args>` on the project, with this harness's DuckDB file, window, target and log folders."""
        return subprocess.run(
            [str(DBT), *args, "--vars", self.vars, "--project-dir", str(DBT_PROJECT_DIR),
             "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(self.target),
             "--log-path", str(self.workdir / "logs")],
            capture_output=True, text=True, timeout=300,
        )

    def run(self, tests: list[str], order_by: str) -> tuple[dict[str, dict], dict[str, list[dict]]]:
        """Per test: its result ({status, failures, severity, message}) and, unless it passed, its stored failing
        rows (dicts, ordered by `order_by`)."""
        proc = self.dbt("test", "--select", *tests, "--store-failures")
        results_file = self.target / "run_results.json"
        assert results_file.exists(), f"dbt test did not run:\n{proc.stdout}\n{proc.stderr}"
        manifest = json.loads((self.target / "manifest.json").read_text())
        results = {}
        for r in json.loads(results_file.read_text())["results"]:
            node = manifest["nodes"][r["unique_id"]]
            results[node["name"]] = {"status": r["status"], "failures": r["failures"],
                                     "severity": node["config"]["severity"].lower(), "message": r["message"]}
        assert set(results) == set(tests), proc.stdout
        failing = {}
        with duckdb.connect(str(self.db), read_only=True) as conn:
            for name, result in results.items():
                if result["status"] == "pass":
                    continue
                cursor = conn.execute(f"select * from dbt_test__audit.{name} order by {order_by}")
                columns = [d[0] for d in cursor.description]
                failing[name] = [dict(zip(columns, row)) for row in cursor.fetchall()]
        return results, failing
