"""Small DuckDB helpers shared by the raw loader and the Python-built marts."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import duckdb
import pyarrow as pa

_DUCKDB_TYPES = {
    pa.date32(): "DATE",
    pa.timestamp("us"): "TIMESTAMP",
    pa.timestamp("ms"): "TIMESTAMP_MS",
    pa.int32(): "INTEGER",
    pa.float64(): "DOUBLE",
    pa.int64(): "BIGINT",
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
}


def duckdb_type(arrow_type: pa.DataType) -> str:
    try:
        return _DUCKDB_TYPES[arrow_type]
    except KeyError:
        raise TypeError(f"no DuckDB mapping for arrow type {arrow_type}") from None


def column_definitions(schema: pa.Schema, not_null: tuple[str, ...] = ()) -> list[str]:
    return [
        f'"{field.name}" {duckdb_type(field.type)}{" NOT NULL" if field.name in not_null else ""}'
        for field in schema
    ]


def replace_declared_windows(
    conn: duckdb.DuckDBPyConnection,
    declared: dict[str, tuple[pa.Schema, tuple[str, ...]]],
    rows_by_table: dict[str, pa.Table],
    date_column: str,
    start: dt.date,
    end: dt.date,
    *,
    windows: dict[str, tuple[dt.date, dt.date]] | None = None,
) -> None:
    """Create the `declared` tables ("schema.table" -> (columns, NOT NULL key columns)) that do not exist yet, then
    replace the rows of [start, end) of every one of them in ONE transaction (replace_date_windows)."""
    for schema in sorted({table.split(".")[0] for table in declared}):
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for table, (columns, keys) in declared.items():
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(column_definitions(columns, keys))})")
    replace_date_windows(conn, rows_by_table, date_column, start, end, windows=windows)


def replace_date_window(
    conn: duckdb.DuckDBPyConnection,
    qualified_table: str,
    date_column: str,
    start: dt.date,
    end: dt.date,
    rows: pa.Table,
) -> None:
    """Replace the rows of [start, end) of one table in one transaction."""
    replace_date_windows(conn, {qualified_table: rows}, date_column, start, end)


def replace_date_windows(
    conn: duckdb.DuckDBPyConnection,
    rows_by_table: dict[str, pa.Table],
    date_column: str,
    start: dt.date,
    end: dt.date,
    *,
    windows: dict[str, tuple[dt.date, dt.date]] | None = None,
) -> None:
    """Replace the rows of [start, end) of every table in ONE transaction: readers see the old window of all
    of them or the new one, never a mix. Table and column names are identifiers owned by the code. `windows` gives
    a table its own [start, end) instead (e.g. events that also depend on the day after the window)."""
    windows = windows or {}
    with transaction(conn):
        for qualified_table, rows in rows_by_table.items():
            conn.execute(
                f'DELETE FROM {qualified_table} WHERE "{date_column}" >= ? AND "{date_column}" < ?',
                list(windows.get(qualified_table, (start, end))),
            )
            conn.register("incoming_rows", rows)
            conn.execute(f"INSERT INTO {qualified_table} SELECT * FROM incoming_rows")
            conn.unregister("incoming_rows")


@contextlib.contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN … COMMIT, rolled back on any error, and the error raised is the one that says what went wrong.

    A COMMIT that fails (a full disk: "No space left on device") has already ended the transaction, so the ROLLBACK
    after it fails too ("no transaction is active"); raising that instead would hide the cause from the operator.
    The rollback's own failure is kept as a note on the original error."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException as error:
        try:
            conn.execute("ROLLBACK")
        except duckdb.Error as rollback_error:
            error.add_note(f"(the ROLLBACK after it failed too: {rollback_error})")
        raise


def string_literal(value: object) -> str:
    """A value as a SQL string literal, for the statements DuckDB takes no parameter in: ATTACH and COPY … TO
    (DuckDB 1.5 refuses `?` there; 2.0 accepts it), CREATE SECRET. Quotes are doubled; a NUL, which would end the
    string early, is refused."""
    text = str(value)
    if "\x00" in text:
        raise ValueError("a value with a NUL byte cannot be given to DuckDB")
    return "'" + text.replace("'", "''") + "'"


def in_ducklake(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection's default catalog is a DuckLake (pipelines/engine: the lake kind of warehouse), which
    takes no primary key, unique constraint or index."""
    row = conn.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return row is not None and row[0] == "ducklake"
