"""`python -m pipelines.lake up|down [--purge]|status|env`: the lake's local PostgreSQL and SeaweedFS S3 servers
(pipelines.lake.services; `make lake-up`, `make lake-down [PURGE=1]`, `make lake-status`).

up      start both (each only when not running), wait until they accept requests, print ports, folders and logs
down    stop both; --purge also deletes <warehouse>/lake: data, logs, state and credentials
status  whether each runs (exit 0 when both do, 3 otherwise)
env     `export` lines for a shell: eval "$(.venv/bin/python -m pipelines.lake env)" (credentials included; and
        BTCW_DAGSTER_PG_URL, for Dagster's storage in the same PostgreSQL: deploy/dagster-postgres)
maintain  merge small files, expire snapshots older than --keep-days (7), delete unneeded files, on the lake of
        BTCW_WAREHOUSE=lake (pipelines/lake/maintenance.py; `make lake-maintain`)"""

from __future__ import annotations

import argparse
import shlex
import sys

import duckdb
import psycopg2

from pipelines.lake.connect import LakeConfig, LakeConfigError
from pipelines.lake.locks import LakeLockTimeout
from pipelines.lake.services import LakeError, client_env, down, status, up
from pipelines.settings import SettingsError


DAGSTER_URL_ENV = "BTCW_DAGSTER_PG_URL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.lake", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the servers")
    stop = commands.add_parser("down", help="stop the servers")
    stop.add_argument("--purge", action="store_true", help="also delete the lake's data, logs, state and credentials")
    commands.add_parser("status", help="whether the servers run")
    commands.add_parser("env", help="export lines for a shell (credentials included)")
    maintain = commands.add_parser("maintain", help="merge files, expire old snapshots, delete unneeded files")
    maintain.add_argument("--keep-days", type=float, default=7.0, help="days of snapshots kept (time travel)")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up()
        elif args.command == "down":
            down(purge=args.purge)
        elif args.command == "status":
            return 0 if status() else 3
        elif args.command == "maintain":
            import datetime as dt

            from pipelines.lake.maintenance import maintain_warehouse
            from pipelines.settings import Settings

            if args.keep_days < 0:
                raise LakeError(f"--keep-days {args.keep_days} is negative")
            print(maintain_warehouse(Settings.from_env(), keep=dt.timedelta(days=args.keep_days)).line())
        else:
            values = client_env()
            values[DAGSTER_URL_ENV] = LakeConfig.from_env(values).dagster_storage_url()
            for name, value in values.items():
                print(f"export {name}={shlex.quote(value)}")
    except (LakeError, LakeConfigError, LakeLockTimeout, SettingsError, duckdb.Error, psycopg2.Error) as error:
        print(f"lake {args.command}: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
