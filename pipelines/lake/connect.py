"""A DuckDB connection to the lake: the extensions loaded from their wheels, the S3 secret, the DuckLake attached.

    conn = duckdb.connect()
    attach_lake(conn, LakeConfig.from_env())      # then: CREATE TABLE lake.marts.x AS …, SELECT … FROM lake.…

The catalog is a PostgreSQL database, the table data Parquet files under s3://<bucket>/<prefix>/. The settings come
from the environment (BTCW_LAKE_*; `python -m pipelines.lake env` prints those of the local lake `make lake-up`
started), never from the repository. DuckDB takes no parameter in CREATE SECRET or ATTACH: values go in as escaped
literals (duckdb_tables.string_literal).

DATA_INLINING_ROW_LIMIT 0: DuckLake otherwise keeps small inserts (a few rows) inside the catalog database instead of
in Parquet on S3 (seen with 5 rows): every row of the warehouse goes to object storage, where readers expect it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from pipelines.duckdb_tables import string_literal
from pipelines.lake import extensions
from pipelines.lake.services import CLIENT_ENV

LAKE_ALIAS = "lake"


class LakeConfigError(ValueError):
    pass


@dataclass(frozen=True)
class LakeConfig:
    pg_host: str
    pg_port: int
    pg_user: str
    pg_database: str
    pg_password: str
    s3_endpoint: str  # host:port
    s3_bucket: str
    s3_region: str
    s3_access_key_id: str
    s3_secret_access_key: str
    s3_use_ssl: bool = False
    data_prefix: str = "warehouse"  # s3://<bucket>/<data_prefix>/

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, data_prefix: str = "warehouse") -> LakeConfig:
        env = os.environ if env is None else env
        missing = [name for name in CLIENT_ENV.values() if not env.get(name)]
        if missing:
            raise LakeConfigError(f"the lake is not configured: {', '.join(missing)} not set (for the local lake: "
                                  "make lake-up, then eval \"$(.venv/bin/python -m pipelines.lake env)\")")
        values = {field: env[name] for field, name in CLIENT_ENV.items()}
        try:
            port = int(values.pop("pg_port"))
        except ValueError:
            raise LakeConfigError(f"BTCW_LAKE_PG_PORT={env['BTCW_LAKE_PG_PORT']!r} is not a port number") from None
        use_ssl = env.get("BTCW_LAKE_S3_USE_SSL", "false").strip().lower() in ("1", "true", "yes")
        return cls(pg_port=port, s3_use_ssl=use_ssl, data_prefix=data_prefix, **values)

    def catalog_dsn(self) -> str:
        """libpq's key=value form; a value with a space or quote is quoted as libpq expects."""
        def quoted(value: object) -> str:
            text = str(value)
            return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'" if (not text or any(
                c in text for c in " '\\")) else text
        return " ".join(f"{key}={quoted(value)}" for key, value in (
            ("dbname", self.pg_database), ("host", self.pg_host), ("port", self.pg_port), ("user", self.pg_user),
            ("password", self.pg_password)))

    @property
    def data_path(self) -> str:
        return f"s3://{self.s3_bucket}/{self.data_prefix.strip('/')}/"


def attach_lake(conn: duckdb.DuckDBPyConnection, config: LakeConfig, *, alias: str = LAKE_ALIAS,
                read_only: bool = False) -> None:
    """Load the lake's extensions, give DuckDB the S3 credentials (a temporary secret: this connection only) and
    attach the DuckLake as `alias`."""
    if not alias.isidentifier():
        raise LakeConfigError(f"{alias!r} is not a plain name for the attached lake")
    extensions.load(conn)
    conn.execute(
        f"CREATE OR REPLACE TEMPORARY SECRET {alias}_s3 (TYPE s3, KEY_ID {string_literal(config.s3_access_key_id)}, "
        f"SECRET {string_literal(config.s3_secret_access_key)}, REGION {string_literal(config.s3_region)}, "
        f"ENDPOINT {string_literal(config.s3_endpoint)}, URL_STYLE 'path', "
        f"USE_SSL {'true' if config.s3_use_ssl else 'false'}, SCOPE {string_literal(config.data_path)})")
    options = [f"DATA_PATH {string_literal(config.data_path)}", "DATA_INLINING_ROW_LIMIT 0"]
    if read_only:
        options.insert(0, "READ_ONLY")
    conn.execute(f"ATTACH {string_literal('ducklake:postgres:' + config.catalog_dsn())} AS \"{alias}\" "
                 f"({', '.join(options)})")
