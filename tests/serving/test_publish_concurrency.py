"""Readers in other processes query the serving copy while it is republished over and over: never an error (no
lock conflict, no half-written file) and never two tables from different versions in one answer."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from pipelines.serving.publish import SERVING_FILE, publish_serving

VERSIONS = 20  # ~0.3 s per version on 2 busy cores (write the source, publish): ~6 s in all
READERS = 2

# Opens the serving copy read-only, asks one question that reads both tables, closes; again until told to stop.
# Each answer (or error) is one JSON line. Version k: marts.a has k rows of x = k, marts.b one row k.
READER = r"""
import json, os, sys, time, duckdb
path, stop, out = sys.argv[1:4]
deadline = time.monotonic() + 60  # a safety net if the test dies before creating the stop file
with open(out, "w") as log:
    while time.monotonic() < deadline:
        try:
            with duckdb.connect(path, read_only=True) as conn:
                count_a, sum_a, k_b = conn.execute(
                    "SELECT (SELECT count(*) FROM marts.a), (SELECT sum(x) FROM marts.a), (SELECT max(k) FROM marts.b)"
                ).fetchone()
            log.write(json.dumps({"a": count_a, "sum": sum_a, "b": k_b}) + "\n")
        except Exception as error:
            log.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")
        if os.path.exists(stop):
            break
"""


def write_version(source: Path, k: int) -> None:
    with duckdb.connect(str(source)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.execute("CREATE OR REPLACE TABLE marts.a AS SELECT ? AS x FROM range(?)", [k, k])
        conn.execute("CREATE OR REPLACE TABLE marts.b AS SELECT ? AS k", [k])


def test_readers_never_fail_and_always_see_one_version(tmp_path):
    source, serving, stop = tmp_path / "warehouse.duckdb", tmp_path / "serving", tmp_path / "stop"
    config = {"threads": "1"}
    write_version(source, 1)
    publish_serving(source, serving, duckdb_config=config)

    logs = [tmp_path / f"reader{i}.jsonl" for i in range(READERS)]
    readers = [
        subprocess.Popen([sys.executable, "-c", READER, str(serving / SERVING_FILE), str(stop), str(log)])
        for log in logs
    ]
    try:
        started = time.monotonic()
        for k in range(2, VERSIONS + 1):
            write_version(source, k)
            publish_serving(source, serving, duckdb_config=config)
        publishing_s = time.monotonic() - started
        time.sleep(0.3)  # let the readers see the last version
        stop.touch()
        for reader in readers:
            assert reader.wait(timeout=30) == 0
    finally:
        stop.touch()
        for reader in readers:
            if reader.poll() is None:
                reader.kill()

    answers = [json.loads(line) for log in logs for line in log.read_text().splitlines()]
    errors = [a["error"] for a in answers if "error" in a]
    assert errors == []
    inconsistent = [a for a in answers if not (a["a"] == a["b"] and a["sum"] == a["b"] * a["b"])]
    assert inconsistent == []
    seen = {a["b"] for a in answers}
    # The readers really read during the publishes: many versions went by, and the last one arrived.
    assert len(seen) >= 5, (len(answers), publishing_s, sorted(seen))
    assert VERSIONS in seen
    print(f"{len(answers)} answers, {len(seen)} versions seen, publishing {publishing_s:.2f} s")
