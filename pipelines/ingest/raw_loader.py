"""The `raw` schema's tables: their DDL, and the contract rows meet before they are written (see ingest/extract.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import duckdb
import pyarrow as pa

from pipelines.duckdb_tables import column_definitions
from pipelines.ingest.errors import ParseError
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec

RAW_SCHEMA = "raw"
# Lineage columns, and only they, start with "_".
LINEAGE_COLUMNS = ("_landing_file", "_loaded_at")

def create_table_sql(spec: DatasetSpec) -> str:
    # Identifiers come from DatasetSpec, whose names are validated against a strict alphabet.
    columns = column_definitions(spec.raw_schema, not_null=spec.key_columns)
    columns += ['"_landing_file" VARCHAR NOT NULL', '"_loaded_at" TIMESTAMP NOT NULL']
    return f'CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}."{spec.raw_table}" (\n  ' + ",\n  ".join(columns) + "\n)"


def ensure_raw_table(conn: duckdb.DuckDBPyConnection, spec: DatasetSpec) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    conn.execute(create_table_sql(spec))
    existing = [
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [RAW_SCHEMA, spec.raw_table],
        ).fetchall()
    ]
    expected = list(spec.raw_schema.names) + list(LINEAGE_COLUMNS)
    if existing != expected:
        raise RuntimeError(
            f"raw.{spec.raw_table} has columns {existing}, the dataset now declares {expected}: "
            "migrate the table (or reload it from the landing archive) before loading"
        )


def missing_raw_tables(conn: duckdb.DuckDBPyConnection, specs: Iterable[DatasetSpec]) -> list[DatasetSpec]:
    """The datasets among `specs` whose raw table does not exist yet (never loaded)."""
    present = {row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [RAW_SCHEMA]).fetchall()}
    return [spec for spec in specs if spec.raw_table not in present]


def validate_rows(spec: DatasetSpec, day: dt.date, table: pa.Table) -> pa.Table:
    """The contract at ingestion: exact schema, one partition, unique keys. Returns rows sorted by key."""
    if not table.schema.equals(spec.raw_schema, check_metadata=False):
        raise ParseError(spec.source, spec.dataset, day, f"parsed schema {table.schema} != declared {spec.raw_schema}")
    days = set(table.column(PARTITION_COLUMN).to_pylist())
    if days - {day}:
        raise ParseError(spec.source, spec.dataset, day, f"rows for other partitions: {sorted(days - {day})}")
    keys = table.select(list(spec.key_columns))
    if keys.group_by(list(spec.key_columns)).aggregate([]).num_rows != table.num_rows:
        raise ParseError(spec.source, spec.dataset, day, f"duplicate keys {spec.key_columns}")
    return table.sort_by([(k, "ascending") for k in spec.key_columns])
