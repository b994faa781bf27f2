"""The DuckDB clients BI users have installed, and how a test asks each of them for the serving copy's tables.

`make bi-clients` installs them into build/bi-clients/ (outside the project's venv, which holds the DuckDB the
pipeline writes with):
    python-duckdb-<version>/   DuckDB's Python package, one folder per version (pip install --target)
    duckdb-cli-<version>/      the DuckDB command-line shell from PyPI (duckdb-cli)
and tests/bi_clients/node_modules/ the Node.js client (@duckdb/node-api, package.json beside this file).

Every client runs the same queries, which cast every column to VARCHAR and sort by all of them, so answers are
compared as text: DuckDB writes a value's text the same way in every version (doubles in their shortest
round-trip form, so equal text is an equal double). The environment sets TZ=UTC: a TIMESTAMPTZ's text depends on
the client's time zone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CLIENTS_DIR = ROOT / "build" / "bi-clients"
NODE_CLIENT = HERE / "node_modules" / "@duckdb" / "node-api"


@dataclass(frozen=True)
class Client:
    name: str  # e.g. "python duckdb 1.1.3", "duckdb CLI 1.5.6", "node @duckdb/node-api"
    argv: tuple[str, ...]  # the command before <warehouse.duckdb> <queries.json>, or the CLI binary
    env: dict[str, str]
    cli: bool = False


def installed_clients() -> list[Client]:
    env = {**os.environ, "TZ": "UTC"}
    clients: list[Client] = []
    for folder in sorted(CLIENTS_DIR.glob("python-duckdb-*")):
        if (folder / ".installed").exists():
            clients.append(Client(f"python duckdb {folder.name.removeprefix('python-duckdb-')}",
                                  (sys.executable, "-S", str(HERE / "read_tables.py")), {**env, "PYTHONPATH": str(folder)}))
    for folder in sorted(CLIENTS_DIR.glob("duckdb-cli-*")):
        if (folder / ".installed").exists():
            clients.append(Client(f"duckdb CLI {folder.name.removeprefix('duckdb-cli-')}",
                                  (str(folder / "duckdb_cli" / "duckdb"),), env, cli=True))
    node = shutil.which("node")
    if node and NODE_CLIENT.is_dir():
        version = json.loads((NODE_CLIENT / "package.json").read_text())["version"]
        clients.append(Client(f"node @duckdb/node-api {version}", (node, str(HERE / "read_tables.mjs")), env))
    return clients


def missing_clients() -> list[str]:
    """What `make bi-clients` installs that is not there (empty when all are)."""
    missing = [] if any(CLIENTS_DIR.glob("python-duckdb-*/.installed")) else ["Python wheels"]
    missing += [] if any(CLIENTS_DIR.glob("duckdb-cli-*/.installed")) else ["duckdb-cli"]
    missing += [] if NODE_CLIENT.is_dir() and shutil.which("node") else ["node @duckdb/node-api"]
    return missing


def text_queries(conn: duckdb.DuckDBPyConnection, parquet_dir: Path | None = None) -> dict[str, str]:
    """One query per base table of the open database (and per Parquet file in `parquet_dir`), every column cast
    to VARCHAR under a plain alias, rows sorted by all columns."""
    queries: dict[str, str] = {}
    tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                          "WHERE table_type = 'BASE TABLE' ORDER BY ALL").fetchall()
    for schema, table in tables:
        columns = [c for (c,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position", [schema, table]).fetchall()]
        queries[f"{schema}.{table}"] = _as_text(columns, f'"{schema}"."{table}"')
    for path in sorted(parquet_dir.glob("*.parquet")) if parquet_dir else ():
        source = "read_parquet('" + str(path).replace("'", "''") + "')"
        columns = [c for (c, *_rest) in conn.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        queries[f"parquet/{path.name}"] = _as_text(columns, source)
    return queries


def _as_text(columns: list[str], source: str) -> str:
    select = ", ".join(f'CAST("{c}" AS VARCHAR) AS c{i}' for i, c in enumerate(columns))
    return f"SELECT {select} FROM {source} ORDER BY ALL"


def answer_in_process(path: Path, queries: dict[str, str]) -> dict[str, list[list[str | None]]]:
    """The reference: the pipeline's own DuckDB reading the same file."""
    with duckdb.connect(str(path), read_only=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        return {name: [list(row) for row in conn.execute(sql).fetchall()] for name, sql in queries.items()}


def ask(client: Client, path: Path, queries: dict[str, str], work: Path) -> dict[str, list[list[str | None]]]:
    """The client's answer to every query, opening `path` read-only; a refusal raises with the client's words."""
    if client.cli:
        return {name: _ask_cli(client, path, sql) for name, sql in queries.items()}
    queries_file = work / "queries.json"
    queries_file.write_text(json.dumps(queries))
    done = subprocess.run([*client.argv, str(path), str(queries_file)], env=client.env, capture_output=True,
                          text=True, timeout=300)
    if done.returncode:
        raise AssertionError(f"{client.name} could not read {path}: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout)["tables"]


def _ask_cli(client: Client, path: Path, sql: str) -> list[list[str | None]]:
    done = subprocess.run([*client.argv, "-readonly", "-json", str(path), "-c", sql], env=client.env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode or "Error" in done.stderr:
        raise AssertionError(f"{client.name} could not read {path}: {(done.stderr or done.stdout).strip()[-800:]}")
    rows = json.loads(done.stdout) if done.stdout.strip() else []
    return [[row[f"c{i}"] for i in range(len(row))] for row in rows]


def clients_or_skip() -> list[Client]:
    """The installed clients; a test without them skips naming what is missing, or fails under
    BTCW_REQUIRE_BI_CLIENTS=1 (.ci/run), where `make test` has installed them."""
    missing = missing_clients()
    if missing:
        message = f"{', '.join(missing)} not installed: run `make bi-clients`"
        if os.environ.get("BTCW_REQUIRE_BI_CLIENTS") == "1":
            pytest.fail(f"BTCW_REQUIRE_BI_CLIENTS=1 but {message}")
        pytest.skip(message)
    return installed_clients()


def assert_every_client_reads_the_copy(serving: Path, work: Path) -> list[str]:
    """Each installed client opens `serving`/warehouse.duckdb read-only and reads its Parquet set: the same rows,
    as text, as the pipeline's DuckDB reads. Returns the clients' names."""
    clients = clients_or_skip()
    copy = serving / "warehouse.duckdb"
    with duckdb.connect(str(copy), read_only=True) as conn:
        queries = text_queries(conn, serving / "parquet")
    assert any(name.startswith("marts.") for name in queries) and any(name.startswith("parquet/") for name in queries)
    expected = answer_in_process(copy, queries)
    for client in clients:
        got = ask(client, copy, queries, work)
        wrong = sorted(name for name in expected if got.get(name) != expected[name])
        assert not wrong, f"{client.name} reads {len(wrong)} tables differently from DuckDB {duckdb.__version__}: {wrong}"
    return [client.name for client in clients]
