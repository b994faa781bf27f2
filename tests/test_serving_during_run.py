"""An analyst queries the BI copy while a real run rebuilds the warehouse: never an error, never a mixed answer.

A first run publishes days 2025-11-19..20 (the "old" version). A second real run over 2025-11-19..21 then
materialises every asset into the same tree, publishing the "new" version (one more day) at its end. All the
while, a reader in ANOTHER process opens `<tree>/serving/warehouse.duckdb` read-only again and again and asks
analyst questions in one connection per sample, and also reads `serving/parquet/mart_market_daily.parquet`.
Every answer must be exactly the old or the new version (never a lock error, never one table from each), and
both versions must have been seen: the switch happened while the reader was reading.

Versions are told apart by content, not just counts: the fixture fingerprints the old publication before the
second run starts and the new one after it, and every sample's fingerprint must be one of the two.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pa_parquet
import pytest

from pipelines.runner import materialize_range
from pipelines.serving.publish import PARQUET_DIR, serving_dir, serving_duckdb_path
from pipelines.settings import Settings, SourceMode

pytestmark = pytest.mark.e2e

FIRST, OLD_LAST, NEW_LAST = dt.date(2025, 11, 19), dt.date(2025, 11, 20), dt.date(2025, 11, 21)
# What a complete version answers (max date and day counts of three marts): old = the first run's, new = the second's.
OLD = {"max_date": OLD_LAST.isoformat(), "market_rows": 2, "price_days": 2, "gamma_days": 2}
NEW = {"max_date": NEW_LAST.isoformat(), "market_rows": 3, "price_days": 3, "gamma_days": 3}
PARQUET_OLD = {"max_date": OLD_LAST.isoformat(), "rows": 2, "days": 2}
PARQUET_NEW = {"max_date": NEW_LAST.isoformat(), "rows": 3, "days": 3}
MIN_SAMPLES_DURING_RUN = 20
NEW_SAMPLES_WANTED = 5  # after the run, sample until the reader has answered this many times from the new version
SAFETY_TIMEOUT_S = 60  # only bounds waiting for the reader (a hung reader fails the test instead of hanging it)

# Analyst questions, asked in one connection; `fingerprint` is a digest of the whole dashboard mart.
DUCKDB_QUESTIONS = """
SELECT (SELECT max(date)::VARCHAR FROM marts.mart_market_daily) AS max_date,
       (SELECT count(*) FROM marts.mart_market_daily) AS market_rows,
       (SELECT count(DISTINCT date) FROM marts.fct_btc_price_daily) AS price_days,
       (SELECT count(DISTINCT snapshot_date) FROM marts.fct_gamma_summary_daily) AS gamma_days,
       (SELECT md5(string_agg(t::VARCHAR, '|' ORDER BY t::VARCHAR)) FROM marts.mart_market_daily t) AS fingerprint
"""
PARQUET_QUESTION = """
SELECT max(date)::VARCHAR AS max_date, count(*) AS rows, count(DISTINCT date) AS days,
       md5(string_agg(t::VARCHAR, '|' ORDER BY t::VARCHAR)) AS fingerprint
FROM mart t
"""

# The reader process: one JSON line per sample (its monotonic start/end times, the answers or the errors) until
# the stop file appears. Python's monotonic clock is system-wide on Linux, so its times compare with the test's.
READER = r"""
import json, os, sys, time, duckdb, pyarrow.parquet as pq
db, parquet, stop, out, duckdb_questions, parquet_question, safety_s = sys.argv[1:8]
deadline = time.monotonic() + float(safety_s)
with open(out, "w", buffering=1) as log:
    while not os.path.exists(stop) and time.monotonic() < deadline:
        sample = {"start": time.monotonic()}
        try:
            with duckdb.connect(db, read_only=True) as conn:  # one connection per sample, like a dashboard refresh
                columns = ("max_date", "market_rows", "price_days", "gamma_days", "fingerprint")
                sample["duckdb"] = dict(zip(columns, conn.execute(duckdb_questions).fetchone()))
        except Exception as error:
            sample["duckdb_error"] = f"{type(error).__name__}: {error}"
        try:
            # Through ONE open handle (pyarrow), as the publish's promise is per open file: DuckDB's read_parquet
            # re-opens the path during a query, so a swap in between tears it (README, "Parquet, from any engine").
            with open(parquet, "rb") as handle, duckdb.connect() as conn:
                conn.register("mart", pq.read_table(handle))
                columns = ("max_date", "rows", "days", "fingerprint")
                sample["parquet"] = dict(zip(columns, conn.execute(parquet_question).fetchone()))
        except Exception as error:
            sample["parquet_error"] = f"{type(error).__name__}: {error}"
        sample["end"] = time.monotonic()
        log.write(json.dumps(sample) + "\n")
        time.sleep(0.2)  # ~4 samples a second, ~15% of a core: leave the cores to the pipeline
"""


@dataclass(frozen=True)
class Observed:
    result: dg.ExecuteInProcessResult
    samples: list[dict]
    run_start: float
    run_end: float
    fingerprints: dict[str, str]  # "old"/"new" DuckDB copy, "parquet_old"/"parquet_new"
    wall_s: float


def run(settings: Settings, last: dt.date) -> dg.ExecuteInProcessResult:
    with dg.DagsterInstance.ephemeral() as instance:
        return materialize_range(settings, FIRST, last, instance)


def fingerprints(settings: Settings) -> tuple[dict, dict]:
    """The publication's answers as the reader computes them (a reader in this process; no run is writing)."""
    with duckdb.connect(str(serving_duckdb_path(settings.tree_dir)), read_only=True) as conn:
        db = dict(zip(("max_date", "market_rows", "price_days", "gamma_days", "fingerprint"),
                      conn.execute(DUCKDB_QUESTIONS).fetchone()))
    with duckdb.connect() as conn:
        conn.register("mart", pa_parquet.read_table(parquet_path(settings)))
        pq = dict(zip(("max_date", "rows", "days", "fingerprint"), conn.execute(PARQUET_QUESTION).fetchone()))
    return db, pq


def parquet_path(settings: Settings) -> Path:
    return serving_dir(settings.tree_dir) / PARQUET_DIR / "mart_market_daily.parquet"


def read_samples(log: Path) -> list[dict]:
    if not log.exists():
        return []
    # The last line may be half-written while the reader runs: keep whole lines only.
    return [json.loads(line) for line in log.read_text().splitlines(keepends=True) if line.endswith("\n")]


def wait_for(log: Path, reader: subprocess.Popen, enough) -> list[dict]:
    """Poll the reader's log until `enough(samples)`; stop early if the reader died or the safety timeout passed
    (the assertions then report what is missing)."""
    deadline = time.monotonic() + SAFETY_TIMEOUT_S
    while time.monotonic() < deadline and reader.poll() is None:
        samples = read_samples(log)
        if enough(samples):
            break
        time.sleep(0.1)
    return read_samples(log)


def version_of(answer: dict, old: dict, new: dict) -> str | None:
    return "old" if answer == old else "new" if answer == new else None


@pytest.fixture(scope="module")
def observed(tmp_path_factory) -> Observed:
    started = time.monotonic()
    root = tmp_path_factory.mktemp("serving_during_run")
    settings = Settings(source_mode=SourceMode.DEMO, warehouse_dir=root / "wh", start_date=dt.date(2025, 10, 1))
    first = run(settings, OLD_LAST)
    assert first.success, [e.message for e in first.all_events if e.is_failure]
    old_db, old_pq = fingerprints(settings)
    assert {k: v for k, v in old_db.items() if k != "fingerprint"} == OLD
    assert {k: v for k, v in old_pq.items() if k != "fingerprint"} == PARQUET_OLD

    log, stop = root / "reader.jsonl", root / "stop"
    reader = subprocess.Popen([
        sys.executable, "-c", READER, str(serving_duckdb_path(settings.tree_dir)), str(parquet_path(settings)),
        str(stop), str(log), DUCKDB_QUESTIONS, PARQUET_QUESTION, str(10 * SAFETY_TIMEOUT_S),
    ])
    try:
        wait_for(log, reader, lambda samples: len(samples) >= 3)  # the reader is reading before the run starts
        run_start = time.monotonic()
        result = run(settings, NEW_LAST)
        run_end = time.monotonic()
        new_db, new_pq = fingerprints(settings)
        # Keep sampling after the run: the new version arrives only near its end (the publish is the last asset).
        wait_for(log, reader, lambda samples: bool(samples) and samples[-1]["start"] > run_end and sum(
            s.get("duckdb") == new_db and s.get("parquet") == new_pq for s in samples) >= NEW_SAMPLES_WANTED)
        stop.touch()
        reader.wait(timeout=SAFETY_TIMEOUT_S)
    finally:
        stop.touch()
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode == 0
    samples = read_samples(log)
    wall_s = time.monotonic() - started
    new_seen = sum(s.get("duckdb") == new_db for s in samples)
    during = sum(run_start <= s["start"] and s["end"] <= run_end for s in samples)
    print(f"\n{len(samples)} samples ({during} during the run, {len(samples) - new_seen} old, {new_seen} new); "
          f"second run {run_end - run_start:.1f} s; module setup {wall_s:.1f} s")
    return Observed(result, samples, run_start, run_end,
                    {"old": old_db, "new": new_db, "parquet_old": old_pq, "parquet_new": new_pq}, wall_s)


def test_the_second_run_succeeds_and_publishes_one_more_day(observed):
    assert observed.result.success, [e.message for e in observed.result.all_events if e.is_failure]
    assert {k: v for k, v in observed.fingerprints["new"].items() if k != "fingerprint"} == NEW
    assert {k: v for k, v in observed.fingerprints["parquet_new"].items() if k != "fingerprint"} == PARQUET_NEW
    assert observed.fingerprints["old"]["fingerprint"] != observed.fingerprints["new"]["fingerprint"]


def test_the_reader_sampled_before_during_and_after_the_run(observed):
    samples = observed.samples
    during = [s for s in samples if observed.run_start <= s["start"] and s["end"] <= observed.run_end]
    assert samples[0]["end"] < observed.run_start
    assert samples[-1]["start"] > observed.run_end
    assert len(during) >= MIN_SAMPLES_DURING_RUN, len(during)


def test_no_reader_ever_got_an_error(observed):
    errors = [(s.get("duckdb_error"), s.get("parquet_error")) for s in observed.samples
              if "duckdb_error" in s or "parquet_error" in s]
    assert errors == []


def test_every_duckdb_answer_is_one_complete_version(observed):
    old, new = observed.fingerprints["old"], observed.fingerprints["new"]
    versions = [version_of(s.get("duckdb"), old, new) for s in observed.samples]
    mixed = [s.get("duckdb") for s, v in zip(observed.samples, versions) if v is None]
    assert mixed == []
    # Old until the switch, new after it, never back: the rename is the commit point.
    assert versions == sorted(versions, key=["old", "new"].index)
    assert versions.count("old") >= 1 and versions.count("new") >= 1, (versions.count("old"), versions.count("new"))


def test_every_parquet_read_is_one_complete_version(observed):
    old, new = observed.fingerprints["parquet_old"], observed.fingerprints["parquet_new"]
    versions = [version_of(s.get("parquet"), old, new) for s in observed.samples]
    mixed = [s.get("parquet") for s, v in zip(observed.samples, versions) if v is None]
    assert mixed == []
    assert versions == sorted(versions, key=["old", "new"].index)
    assert versions.count("old") >= 1 and versions.count("new") >= 1, (versions.count("old"), versions.count("new"))


def test_the_switch_happened_while_the_reader_was_reading(observed):
    """The first new answer came during the run or after it, and an old answer came after the run started: the
    reader saw the publication change under it rather than before or after all its samples."""
    new = observed.fingerprints["new"]
    first_new = next(i for i, s in enumerate(observed.samples) if s.get("duckdb") == new)
    assert first_new > 0
    assert any(s["start"] >= observed.run_start for s in observed.samples[:first_new])
