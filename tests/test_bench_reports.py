"""The benchmarks' reports: earlier runs kept below the newest where the README quotes a history of runs, and the
A/B nightly's table (bench/nightly_ab.py) built from each arm's runs."""

from __future__ import annotations

import argparse

from bench.machine import show_and_save
from bench.nightly import CREATION, Timed
from bench.nightly_ab import report


def test_a_report_keeps_earlier_runs_below_when_asked(tmp_path, capsys):
    path = tmp_path / "results" / "nightly.md"
    show_and_save(path, "# run 1\n", keep_earlier=True)
    assert path.read_text() == "# run 1\n"
    show_and_save(path, "# run 2\n", keep_earlier=True)
    assert path.read_text() == "# run 2\n\n---\n\n# run 1\n"
    show_and_save(path, "# run 3\n")
    assert path.read_text() == "# run 3\n"
    assert capsys.readouterr().out == "# run 1\n\n# run 2\n\n# run 3\n\n"  # each printed as it is saved


def test_the_ab_report_gives_each_arms_walls_median_ratio_and_parts():
    def run(wall, creation, dbt):
        return Timed(wall, 500.0, True, steps={"dbt_models": dbt, "publish": 1.0}, creation_s=creation)

    timed = {"base abc123": [run(40.0, 5.0, 17.0), run(44.0, 5.2, 18.0), run(42.0, 5.1, 17.5)],
             "this checkout def456": [run(30.0, 4.0, 11.0), run(31.0, 4.1, 11.5), run(29.0, 4.2, 10.5)]}
    text = report(timed, argparse.Namespace(history=30), (0.5, 0.5, 0.5))
    assert "| base abc123 | 40.0 s, 44.0 s, 42.0 s | 42.0 s |" in text
    assert "| this checkout def456 | 30.0 s, 31.0 s, 29.0 s | 30.0 s |" in text
    assert "This checkout against the base: 0.71x." in text
    assert f"| {CREATION} | 5.1 s | 4.1 s |" in text
    assert "| `dbt_models` | 17.5 s | 11.0 s |" in text
    assert "| all steps | 18.5 s | 12.0 s |" in text


def test_publish_parts_times_each_part_and_checks_the_incremental_copy_equals_the_sorted_one(tmp_path):
    import datetime as dt

    import duckdb

    from bench.publish_parts import PARTS, measure

    source = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(source)) as conn:
        conn.execute("CREATE SCHEMA marts")
        conn.execute("CREATE TABLE marts.daily (date DATE, exchange VARCHAR, v DOUBLE)")
        days = [dt.date(2025, 11, 1) + dt.timedelta(days=i) for i in range(10)]
        # inserted newest first, as incremental runs leave them: the copy must sort them
        conn.executemany("INSERT INTO marts.daily VALUES (?, ?, ?)",
                         [(d, e, i * 1.5) for i, d in reversed(list(enumerate(days))) for e in ("okx", "binance")])
        conn.execute("CREATE TABLE marts.blocks (height BIGINT, date DATE)")
        conn.execute("INSERT INTO marts.blocks VALUES (2, '2025-11-02'), (1, '2025-11-01')")
    (work := tmp_path / "work").mkdir()
    seconds, rows, notes = measure(source, 4, work)
    assert set(seconds) == set(PARTS) and rows == 22
    assert notes == ["`blocks`: first column `height` is no day: copied whole"]
