"""Command line for the Makefile: `run` (the demo window), `backfill START END`, `summary`.

Each materialises every asset for a date range in ONE Dagster run (single-run backfill policy), so dbt is
invoked once for the whole window.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import warnings

import dagster as dg

from pipelines.runner import RangeError, materialize_range
from pipelines.settings import Settings
from pipelines.summary import format_summary

DEMO_WINDOW = (dt.date(2025, 10, 1), dt.date(2025, 11, 21))


def _instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help=f"materialise the demo window {DEMO_WINDOW[0]} … {DEMO_WINDOW[1]}")
    backfill = commands.add_parser("backfill", help="materialise START … END (inclusive) in one run")
    backfill.add_argument("start", type=dt.date.fromisoformat)
    backfill.add_argument("end", type=dt.date.fromisoformat)
    commands.add_parser("summary", help="print rows per mart and the last day's headline")
    args = parser.parse_args(argv)

    # BackfillPolicy.single_run() is marked beta in this Dagster release; the warning is noise for make users.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    settings = Settings.from_env()
    if args.command in ("run", "backfill"):
        first, last = DEMO_WINDOW if args.command == "run" else (args.start, args.end)
        print(f"Materialising every asset for {first} … {last} ({settings.source_mode.value} mode) in one run")
        with _instance() as instance:
            try:
                result = materialize_range(settings, first, last, instance)
            except RangeError as error:
                print(f"{args.command}: {error}", file=sys.stderr)
                return 2
            if not result.success:
                print("Run failed: see the errors above (and the run in the Dagster UI, `make dev`).", file=sys.stderr)
                return 1
    print(format_summary(settings.duckdb_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
