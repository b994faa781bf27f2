"""Where the serving publish's time goes on a warehouse, part by part, and what publishing only the changed days
would save (issue 17: the publish is the part of a nightly that grows with history).

    .venv/bin/python -m bench.publish_parts --source <tree>/warehouse.duckdb [--changed-days 4]

On a copy of every mart of `--source` (attached read-only), one table after the other, in one DuckDB file as the
publish writes (pipelines/serving/publish.py, 2 threads):
  - sorted copy: CREATE TABLE … AS SELECT * … ORDER BY ALL, what the publish does;
  - unsorted copy: the same without ORDER BY ALL, to tell the sort from the copy;
  - Parquet: COPY of the sorted copy to zstd Parquet, and its sha256, as the publish does;
  - incremental: what a publish reusing the previous version would do for a table whose first column is its day:
    the previous version's rows before the changed days (a sorted copy made beforehand, read in stored order) and
    the source's changed days sorted, checked equal to the sorted copy row for row; plus the per-day fingerprints
    (rows and a sum of row hashes, source and previous version) that would find the changed days.
The times are summed over the marts and printed with the CPU; the report goes to bench/results/publish_parts.md."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import duckdb

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import report_header, show_and_save  # noqa: E402
from pipelines.assets.serving import DAY_COLUMNS  # noqa: E402  (the marts' day columns)
from pipelines.duckdb_tables import string_literal  # noqa: E402
from pipelines.serving.publish import SERVING_STORAGE_VERSION, quote  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "publish_parts.md"
PARTS = ("sorted copy", "unsorted copy", "Parquet", "sha256", "incremental copy", "fingerprints")


def measure(source: Path, changed_days: int, work: Path) -> tuple[dict[str, float], int, list[str]]:
    previous = work / "previous.duckdb"
    config = {"threads": "2", "storage_compatibility_version": SERVING_STORAGE_VERSION}
    with duckdb.connect(str(previous), config=config) as conn:
        conn.execute(f"ATTACH {string_literal(source)} AS source (READ_ONLY)")
        tables = [t for (t,) in conn.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'source' "
                                             "AND schema_name = 'marts' ORDER BY estimated_size DESC").fetchall()]
        for table in tables:  # the previous version: every mart sorted, as a publish left it
            conn.execute(f"CREATE TABLE {quote(table)} AS SELECT * FROM source.marts.{quote(table)} ORDER BY ALL")
    seconds: dict[str, float] = defaultdict(float)
    rows = 0
    notes: list[str] = []
    conn = duckdb.connect(str(work / "copy.duckdb"), config=config)

    def timed(part: str, sql: str, params: list | None = None) -> list:
        started = time.perf_counter()
        out = conn.execute(sql, params or []).fetchall()
        seconds[part] += time.perf_counter() - started
        return out

    try:
        conn.execute(f"ATTACH {string_literal(source)} AS source (READ_ONLY)")
        conn.execute(f"ATTACH {string_literal(previous)} AS previous (READ_ONLY)")
        for table in tables:
            name = quote(table)
            timed("sorted copy", f"CREATE TABLE {name} AS SELECT * FROM source.marts.{name} ORDER BY ALL")
            timed("unsorted copy", f"CREATE TABLE {quote(table + '_unsorted')} AS SELECT * FROM source.marts.{name}")
            rows += conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            parquet = work / f"{table}.parquet"
            timed("Parquet", f"COPY (SELECT * FROM {name}) TO {string_literal(parquet)} (FORMAT parquet, "
                             "COMPRESSION zstd)")
            started = time.perf_counter()
            hashlib.sha256(parquet.read_bytes()).hexdigest()
            seconds["sha256"] += time.perf_counter() - started
            first = conn.execute("SELECT column_name FROM duckdb_columns() WHERE database_name = 'source' AND "
                                 "schema_name = 'marts' AND table_name = ? ORDER BY column_index LIMIT 1",
                                 [table]).fetchone()[0]
            incremental = quote(table + "_incremental")
            if first not in DAY_COLUMNS:
                timed("incremental copy", f"CREATE TABLE {incremental} AS SELECT * FROM source.marts.{name} "
                                          "ORDER BY ALL")
                notes.append(f"`{table}`: first column `{first}` is no day: copied whole")
                continue
            day = quote(first)
            for database in ("source.marts", "previous"):
                timed("fingerprints", f"SELECT {day}, count(*), sum(hash(t)::HUGEINT) FROM {database}.{name} t "
                                      "GROUP BY 1")
            (cut,) = conn.execute(f"SELECT max({day}) - INTERVAL ({changed_days - 1}) DAY FROM source.marts.{name}"
                                  ).fetchone()
            timed("incremental copy", f"CREATE TABLE {incremental} AS SELECT * FROM previous.{name} "
                                      f"WHERE {day} < ?", [cut])
            timed("incremental copy", f"INSERT INTO {incremental} SELECT * FROM source.marts.{name} WHERE {day} >= ? "
                                      f"OR {day} IS NULL ORDER BY ALL", [cut])
            differ = conn.execute(f"SELECT count(*) FROM (SELECT *, row_number() OVER () FROM {name} EXCEPT ALL "
                                  f"SELECT *, row_number() OVER () FROM {incremental})").fetchone()[0]
            if differ:
                raise SystemExit(f"{table}: the incremental copy differs from the sorted one in {differ} rows")
    finally:
        conn.close()
    return dict(seconds), rows, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True, help="a warehouse's DuckDB file (read only)")
    parser.add_argument("--changed-days", type=int, default=4, help="days a publish would take from the source "
                        "(a nightly's 3 days and the day before them)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="btcw-publish-parts-"))
    try:
        seconds, rows, notes = measure(args.source, args.changed_days, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = report_header(f"The publish's parts on {args.source.name} ({rows:,} mart rows)", "bench.publish_parts",
                          " ".join(sys.argv[1:]), load_before, os.getloadavg())
    lines += ["| part | seconds (all marts) |", "|---|---:|"]
    lines += [f"| {part} | {seconds.get(part, 0.0):.2f} s |" for part in PARTS]
    now = seconds["sorted copy"] + seconds["Parquet"] + seconds["sha256"]
    then = seconds["incremental copy"] + seconds["fingerprints"] + seconds["Parquet"] + seconds["sha256"]
    lines += ["", f"Today's publish of these marts (sorted copy, Parquet, sha256): {now:.2f} s; reusing the previous "
              f"version for all but the last {args.changed_days} days: {then:.2f} s ({then / now:.2f}x)."]
    lines += [f"- {note}" for note in notes]
    show_and_save(RESULTS, "\n".join(lines) + "\n", keep_earlier=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
