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

import functools
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from pipelines.duckdb_tables import string_literal
from pipelines.lake import extensions
from pipelines.lake.services import CLIENT_ENV
from pipelines.settings import SettingsError

LAKE_ALIAS = "lake"


class LakeConfigError(SettingsError):  # a lake setting missing or wrong: refused in one line like the others
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
    # The PostgreSQL schema of the catalog's tables: one lake per name in the same database (the demo and live trees
    # are two lakes, as they are two files embedded). None: DuckLake's default.
    metadata_schema: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, data_prefix: str = "warehouse",
                 metadata_schema: str | None = None) -> LakeConfig:
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
        if metadata_schema is not None and not metadata_schema.isidentifier():
            raise LakeConfigError(f"{metadata_schema!r} is not a plain name for the lake's catalog schema")
        return cls(pg_port=port, s3_use_ssl=use_ssl, data_prefix=data_prefix, metadata_schema=metadata_schema,
                   **values)

    @classmethod
    def for_tree(cls, tree: str, env: Mapping[str, str] | None = None) -> LakeConfig:
        """The lake of a mode's tree ("demo", "live"): its catalog in the PostgreSQL schema of that name, its files
        under s3://<bucket>/<tree>/."""
        return cls.from_env(env, data_prefix=tree, metadata_schema=tree)

    def describe(self) -> str:
        """Where the lake is, for a message (no credential)."""
        schema = f", catalog schema {self.metadata_schema}" if self.metadata_schema else ""
        return (f"the lake (catalog postgres://{self.pg_user}@{self.pg_host}:{self.pg_port}/{self.pg_database}"
                f"{schema}, data {self.data_path})")

    def catalog_dsn(self) -> str:
        """libpq's key=value form; a value with a space or quote is quoted as libpq expects."""
        def quoted(value: object) -> str:
            text = str(value)
            return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'" if (not text or any(
                c in text for c in " '\\")) else text
        return " ".join(f"{key}={quoted(value)}" for key, value in (
            ("dbname", self.pg_database), ("host", self.pg_host), ("port", self.pg_port), ("user", self.pg_user),
            ("password", self.pg_password)))

    def dagster_storage_url(self) -> str:
        """The SQLAlchemy URL of Dagster's storage in the catalog's database (deploy/dagster-postgres/dagster.yaml
        reads it from BTCW_DAGSTER_PG_URL): Dagster's tables in its public schema, beside the lakes' schemas."""
        quote = functools.partial(urllib.parse.quote, safe="")
        return (f"postgresql+psycopg2://{quote(self.pg_user)}:{quote(self.pg_password)}@{self.pg_host}:"
                f"{self.pg_port}/{quote(self.pg_database)}")

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
    if config.metadata_schema:
        options.append(f"METADATA_SCHEMA {string_literal(config.metadata_schema)}")
    if read_only:
        options.insert(0, "READ_ONLY")
    conn.execute(f"ATTACH {string_literal('ducklake:postgres:' + config.catalog_dsn())} AS \"{alias}\" "
                 f"({', '.join(options)})")
