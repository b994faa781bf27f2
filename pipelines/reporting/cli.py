"""Render daily reports: `python -m pipelines.reporting.cli --date YYYY-MM-DD [--date …]` or `--all`; with
`--note`, the day's market note instead (Markdown, `<tree>/notes/<date>.md`, also printed).

Reads the tree of the settings (BTCW_* environment, pipelines/settings.py): the published serving copy
`<tree>/serving/warehouse.duckdb` when there is one, since a BI-side reader should never hold the pipeline's file
(a run that starts would fail on the lock); otherwise the pipeline's file, read-only. Writes
`<tree>/reports/<date>.html` (the market note is a section of it) and prints each path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import duckdb

from pipelines.reporting.daily_report import render_daily_report
from pipelines.reporting.market_note import write_note
from pipelines.reporting.day_data import table_exists
from pipelines.serving.publish import serving_duckdb_path
from pipelines.settings import Settings, SettingsError, SourceMode


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipelines.reporting.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", dest="dates", action="append", type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                       help="a day to render (repeat for several)")
    which.add_argument("--all", action="store_true", help="every day of marts.mart_market_daily")
    parser.add_argument("--note", action="store_true",
                        help="write the market note (Markdown) of each day instead of the HTML report, and print it")
    return parser.parse_args(argv)


def report_source(settings: Settings) -> Path:
    serving = serving_duckdb_path(settings.tree_dir)
    return serving if serving.is_file() else settings.duckdb_path


def reports_dir(settings: Settings) -> Path:
    return settings.tree_dir / "reports"


def notes_dir(settings: Settings) -> Path:
    return settings.tree_dir / "notes"


def all_days(conn: duckdb.DuckDBPyConnection) -> list[dt.date]:
    if not table_exists(conn, "marts", "mart_market_daily"):
        return []
    rows = conn.execute("SELECT DISTINCT date FROM marts.mart_market_daily ORDER BY date").fetchall()
    return [day for (day,) in rows]


def unique_in_order(days: list[dt.date]) -> list[dt.date]:
    return list(dict.fromkeys(days))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"report: {error}", file=sys.stderr)
        return 2
    source = report_source(settings)
    if not source.is_file():
        print(f"report: no warehouse at {source}; run the pipeline first (make run)", file=sys.stderr)
        return 2
    config = {"memory_limit": settings.duckdb_memory_limit, "threads": str(settings.duckdb_threads)}
    try:
        conn = duckdb.connect(str(source), read_only=True, config=config)
    # IOException: another process (a run) holds the file for writing; ConnectionException: this process
    # already has it open with other settings.
    except (duckdb.IOException, duckdb.ConnectionException) as error:
        print(f"report: cannot open {source} read-only: {error}", file=sys.stderr)
        return 1
    try:
        days = all_days(conn) if args.all else unique_in_order(args.dates)
        if not days:
            print(f"report: no day to render in {source}", file=sys.stderr)
            return 1
        print(f"Reading {source}")
        simulated = settings.source_mode is SourceMode.DEMO
        for day in days:
            if args.note:
                path, text = write_note(conn, day, notes_dir(settings), simulated=simulated)
                print(text)
                print(f"(written to {path})")
            else:
                print(render_daily_report(conn, day, reports_dir(settings), simulated=simulated))
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
