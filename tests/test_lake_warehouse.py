"""The warehouse on a DuckLake for real (BTCW_WAREHOUSE=lake, issue 16): `make lake-up`'s PostgreSQL catalog and
SeaweedFS S3 server (tests/lake_servers.py), whole demo backfills as `make backfill` runs them, each in a scratch
project of its own (tests/crash_harness.py), compared table by table with ONE uninterrupted run of the embedded
default over the same days:

- a backfill on the lake builds the same marts as the embedded file, and publishes them for BI;
- two backfills of different windows at once, as two machines would run them (their own folders and run history,
  one lake), with a reader in a third process: both succeed, together they build what one run builds, and the reader
  never sees a partial write;
- a writer killed while it commits leaves the lake as it was; the next run succeeds and heals it."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines import engine
from pipelines.settings import Settings, WarehouseKind
from pipelines.soak.compare import compare_marts
from tests.crash_harness import PROJECT_ROOT, Warehouse, uninterrupted
from tests.lake_reader import one_round
from tests.lake_servers import running_lake

pytestmark = pytest.mark.e2e

FIRST, LAST = "2025-11-15", "2025-11-20"  # the break below $92,000 is on 2025-11-20 of the demo market
HALVES = (("2025-11-15", "2025-11-17"), ("2025-11-18", "2025-11-20"))
AS_BUILT = ("-o", "dbt/target/manifest.json", "-o", ".venv/.installed",
            "-o", "pipelines/quality/web/node_modules/.installed")

# Dies while the gamma tables' COMMIT runs: their Parquet files are in S3, the catalog's transaction in flight.
KILLED_IN_COMMIT = """
import contextlib, os, signal, sys, threading
import pipelines.duckdb_tables as tables

@contextlib.contextmanager
def transaction(conn):
    conn.execute("BEGIN TRANSACTION")
    yield
    print("committing, to be killed", file=sys.stderr, flush=True)
    threading.Timer(0.005, os.kill, [os.getpid(), signal.SIGKILL]).start()
    conn.execute("COMMIT")
    threading.Event().wait(60)  # the kill lands during the COMMIT or right after it: never past here

tables.transaction = transaction  # replace_date_windows (the gamma write) looks it up at each call
from pipelines.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Warehouse:
    """One uninterrupted run of the embedded default over [FIRST, LAST]."""
    return uninterrupted(tmp_path_factory.mktemp("embedded"), FIRST, LAST)


@contextlib.contextmanager
def lake_in_environ():
    """A lake, its BTCW_LAKE_* in this process's environment too (where pipelines/engine reads them), restored after."""
    with running_lake() as lake, pytest.MonkeyPatch.context() as patch:
        for name, value in lake.client_env.items():
            patch.setenv(name, value)
        yield lake


@pytest.fixture(scope="module")
def lake():
    with lake_in_environ() as lake:
        yield lake


def on_lake(lake, **extra: str) -> dict[str, str]:
    return {"BTCW_WAREHOUSE": "lake", **lake.client_env, **extra}


def lake_settings(lake) -> Settings:
    return Settings(warehouse=WarehouseKind.LAKE, warehouse_dir=lake.scratch)


def differences(lake, reference: Warehouse) -> list[str]:
    marts = reference.marts()
    assert len(marts) >= 19, marts
    settings = lake_settings(lake)
    with duckdb.connect() as conn:
        engine.attach_source(settings, conn, "lake")
        on_the_lake = {t for (t,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'lake' "
            "AND table_schema = 'marts'").fetchall()}
    missing = [f"mart missing on the lake: {m}" for m in sorted(set(marts) - on_the_lake)]
    return missing + [d.line() for d in compare_marts(settings, reference.duckdb_path, tuple(marts)) if not d.equal]


def test_make_backfill_on_the_lake_builds_the_embedded_marts_and_publishes_them(lake, reference, tmp_path):
    project = Warehouse(tmp_path)
    env = project.env(**on_lake(lake))
    done = subprocess.run(["make", "--no-print-directory", "-C", str(PROJECT_ROOT), *AS_BUILT, "backfill",
                           f"START={FIRST}", f"END={LAST}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Warehouse: the lake (catalog postgres://" in done.stdout
    assert differences(lake, reference) == []
    assert not project.duckdb_path.exists()  # nothing was written to a file
    with duckdb.connect() as conn:  # every row is in Parquet in S3 (no inlining in the catalog)
        engine.attach_source(lake_settings(lake), conn, "lake")
        files = conn.execute("SELECT count(*), count(*) FILTER (data_file LIKE 's3://%') "
                             "FROM ducklake_list_files('lake', 'fct_gamma_profile', schema => 'marts')").fetchone()
    assert files[0] > 0 and files[0] == files[1], files
    # BI's copy was published from the lake: its marts are the lake's.
    serving = project.tree / "serving" / "warehouse.duckdb"
    assert [d.line() for d in compare_marts(serving, reference.duckdb_path, tuple(reference.marts()))
            if not d.equal] == []


def test_two_backfills_at_once_and_a_reader_build_what_one_run_builds(reference, tmp_path):
    with lake_in_environ() as lake:  # a lake of its own: nothing built before
        with engine.connect(lake_settings(lake)):
            pass  # the first writable attach creates the lake: the reader can attach it (read-only) from the start
        stop = tmp_path / "stop-reading"
        reader = subprocess.Popen([sys.executable, str(Path(__file__).with_name("lake_reader.py")), str(stop)],
                                  cwd=PROJECT_ROOT, env={**lake.env, **on_lake(lake)},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        writers, logs = [], []
        try:
            for n, (first, last) in enumerate(HALVES):
                project = Warehouse(tmp_path / f"machine-{n}")
                logs.append(tmp_path / f"machine-{n}.log")
                with logs[-1].open("w") as log:  # a file, not a pipe: a writer never blocks on its output
                    writers.append(subprocess.Popen(project.command(first, last), cwd=project.root,
                                                    env=project.env(**on_lake(lake)), stdout=log,
                                                    stderr=subprocess.STDOUT))
            for w in writers:
                w.wait(timeout=1800)
        finally:
            stop.touch()
            for w in writers:
                if w.poll() is None:
                    w.kill()
            read, read_err = reader.communicate(timeout=120)
        for writer, log in zip(writers, logs, strict=True):
            output = log.read_text()
            assert writer.returncode == 0 and "\nsucceeded: " in output, output[-4000:]
        report = json.loads(read.strip().splitlines()[-1]) if read.strip() else {"stderr": read_err[-2000:]}
        assert report.get("problems") == [] and report.get("error_count") == 0, report
        assert report["rounds_with_rows"] >= 10, report  # it read while the writers wrote, not only before
        assert differences(lake, reference) == []


def test_a_writer_killed_while_committing_leaves_the_lake_whole_and_the_next_run_heals_it(lake, reference, tmp_path):
    """The gamma tables' rows of the window are committed whole or not at all, every table still reads (no file the
    catalog names is missing), and the next run succeeds."""
    project = Warehouse(tmp_path)
    killed = project.run(*HALVES[1], wrapper=KILLED_IN_COMMIT, **on_lake(lake))
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert "committing, to be killed" in killed.stderr
    with engine.connect(lake_settings(lake), read_only=True) as conn:
        conn.execute("BEGIN TRANSACTION")
        saw, problems = one_round(conn)
        for (table,) in conn.execute("SELECT table_name FROM information_schema.tables "
                                     "WHERE table_catalog = 'lake' AND table_schema = 'marts'").fetchall():
            conn.execute(f'SELECT count(*), max(COLUMNS(*)) FROM marts."{table}"').fetchall()  # every file reads
        conn.execute("COMMIT")
    assert saw and problems == []

    rerun = project.run(FIRST, LAST, **on_lake(lake))  # the whole window: equal to the reference whatever ran before
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert differences(lake, reference) == []
