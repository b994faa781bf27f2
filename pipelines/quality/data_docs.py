"""Great Expectations Data Docs of the raw stage: every dataset's suites validated against the warehouse's raw
tables (read-only) over a window, rendered as a static site in <warehouse dir>/<mode>/quality/.

    python -m pipelines.quality.data_docs [--start YYYY-MM-DD] [--end YYYY-MM-DD]   (or: make quality-docs)

Without dates, the window is the 30 days up to the newest day in raw.load_log.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import duckdb

from pipelines.checks.raw_checks import daily_volumes, read_raw_window, schema_frame
from pipelines.quality.derived import with_derived_columns
from pipelines.quality.suites import row_expectations, schema_expectations, volume_expectations
from pipelines.quality.validation import to_frame
from pipelines.settings import Settings, SettingsError
from pipelines.sources.registry import DATASETS

SITE = "quality"
DEFAULT_DAYS = 30


def build_data_docs(conn: duckdb.DuckDBPyConnection, out_dir: Path, start: dt.date, end: dt.date) -> dict[str, bool]:
    """Validate every dataset present in `raw` over [start, end); write the site; return suite → success."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(site_name=SITE, site_config={
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(out_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    source = context.data_sources.add_pandas("raw")
    present = {row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'").fetchall()}
    results: dict[str, bool] = {}
    for spec in DATASETS:
        if spec.raw_table not in present:
            continue
        rows = read_raw_window(conn, spec, start, end)
        frames = {
            "rows": (row_expectations(spec), with_derived_columns(spec, rows)),
            "schema": (schema_expectations(), schema_frame(conn, spec)),
            "volume": (volume_expectations(spec), daily_volumes(conn, spec, start, end)),
        }
        for kind, (expectations, table) in frames.items():
            if expectations:
                name = f"{spec.raw_table}.{kind}"
                results[name] = _validate(context, source, name, expectations, table)
    context.build_data_docs(site_names=[SITE])
    return results


def _validate(context: Any, source: Any, name: str, expectations: list[Any], table: Any) -> bool:
    import great_expectations as gx

    batch_definition = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch_definition,
                                                                            suite=suite))
    return bool(definition.run(batch_parameters={"dataframe": to_frame(table)}).success)


def default_window(conn: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date] | None:
    """The 30 days up to the newest day in raw.load_log, half-open; None when nothing was ever loaded."""
    newest = conn.execute("SELECT max(partition_date) FROM raw.load_log").fetchone()[0]
    if newest is None:
        return None
    return newest - dt.timedelta(days=DEFAULT_DAYS - 1), newest + dt.timedelta(days=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=dt.date.fromisoformat, help="first day (default: 30 days before the newest)")
    parser.add_argument("--end", type=dt.date.fromisoformat, help="last day, inclusive (default: the newest)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"quality-docs: {error}", file=sys.stderr)
        return 2
    if args.start and args.end and args.end < args.start:
        print(f"quality-docs: END {args.end} is before START {args.start}", file=sys.stderr)
        return 2
    if not settings.duckdb_path.exists():
        print(f"quality-docs: no warehouse at {settings.duckdb_path}: run the pipeline first (make run)",
              file=sys.stderr)
        return 2
    out_dir = settings.tree_dir / "quality"
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        window = default_window(conn)
        if window is None:
            print("quality-docs: raw.load_log is empty: run the pipeline first (make run)", file=sys.stderr)
            return 1
        start = args.start or window[0]
        end = args.end + dt.timedelta(days=1) if args.end else window[1]
        if end <= start:
            print(f"quality-docs: the window [{start}, {end}) holds no day", file=sys.stderr)
            return 2
        loaded = conn.execute("SELECT count(*) FROM raw.load_log WHERE status = 'loaded' AND partition_date >= ? "
                              "AND partition_date < ?", [start, end]).fetchone()[0]
        if not loaded:
            first, last = conn.execute("SELECT min(partition_date), max(partition_date) FROM raw.load_log "
                                       "WHERE status = 'loaded'").fetchone()
            print(f"quality-docs: no data: no day of [{start}, {end}) was loaded (the warehouse holds "
                  f"{first} … {last}); nothing validated", file=sys.stderr)
            return 1
        results = build_data_docs(conn, out_dir, start, end)
    failed = sorted(name for name, ok in results.items() if not ok)
    print(f"{len(results)} suites validated over [{start}, {end}): {len(failed)} failed {failed if failed else ''}")
    print(f"Data Docs: {out_dir / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
