"""Command line for the Makefile: `run` (the demo window), `backfill START END`, `summary`.

Each materialises every asset for a date range in ONE Dagster run (single-run backfill policy), so dbt is
invoked once for the whole window.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipelines.definitions import build_definitions
from pipelines.settings import Settings
from pipelines.summary import format_summary

DEMO_WINDOW = (dt.date(2025, 10, 1), dt.date(2025, 11, 21))


def materialize_range(settings: Settings, first: dt.date, last: dt.date, instance: dg.DagsterInstance) -> bool:
    """Materialise every asset for partitions first..last (inclusive) in one run."""
    if last < first:
        raise SystemExit(f"backfill: END {last} is before START {first}")
    if first < settings.start_date:
        raise SystemExit(f"backfill: START {first} is before the first partition BTCW_START_DATE={settings.start_date}")
    job = build_definitions(settings).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: first.isoformat(), ASSET_PARTITION_RANGE_END_TAG: last.isoformat()},
        raise_on_error=False,
    )
    return result.success


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

    settings = Settings.from_env()
    if args.command in ("run", "backfill"):
        first, last = DEMO_WINDOW if args.command == "run" else (args.start, args.end)
        print(f"Materialising every asset for {first} … {last} ({settings.source_mode.value} mode) in one run")
        with _instance() as instance:
            if not materialize_range(settings, first, last, instance):
                print("Run failed: see the errors above (and the run in the Dagster UI, `make dev`).", file=sys.stderr)
                return 1
    print(format_summary(settings.duckdb_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
