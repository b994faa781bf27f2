"""What a killed, crashed or concurrent run leaves for the next one (pipelines/runs), and the errors that must say
what went wrong: each test here fails on the code before issue 13."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pytest
from bi_clients.clients import CLIENTS_DIR

from pipelines.cli import LONG_RANGE_DAYS, _announce_long_range
from pipelines.duckdb_tables import replace_date_windows
from pipelines.ingest.load_log import ensure_load_log
from pipelines.progress import backfill_summary
from pipelines.settings import Settings
from pipelines.runs.instance import instance_dirs
from pipelines.runs.launcher import ProcessCheckingRunLauncher
from pipelines.runs.orphans import PID_TAG, RunProcess, process_tags, sweep_orphaned_runs
from pipelines.runs.writer_lock import WarehouseBusyError, WarehouseFormatError, ensure_duckdb_writable, writer_lock

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# A run executing in its own process, as `make backfill` runs one: it says when it is inside its step, then waits to
# be killed. The instance is the project's dagster.yaml in a scratch DAGSTER_HOME.
RUN_THEN_WAIT = textwrap.dedent("""
    import sys, time
    import dagster as dg
    from pipelines.runs.instance import open_instance
    from pipelines.runs.orphans import process_tags

    @dg.op
    def inside(context):
        print("inside", flush=True)
        time.sleep(600)

    @dg.job
    def waits():
        inside()

    with open_instance() as instance:
        waits.execute_in_process(instance=instance, tags=process_tags())
""")


def project_home(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BTCW_", "DAGSTER_"))}
    return {**env, "DAGSTER_HOME": str(home)}


def open_home(env: dict[str, str], monkeypatch) -> dg.DagsterInstance:
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    for name, value in instance_dirs(Path(env["DAGSTER_HOME"])).items():
        monkeypatch.setenv(name, value)
    return dg.DagsterInstance.get()


def test_a_run_whose_process_was_killed_is_marked_failed_and_frees_the_queue(tmp_path, monkeypatch):
    env = project_home(tmp_path)
    process = subprocess.Popen([sys.executable, "-c", RUN_THEN_WAIT], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stdout.readline().strip() == "inside"  # the run's own output: it is inside its step
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    with open_home(env, monkeypatch) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.STARTED  # what Dagster alone leaves: the queue's slot held forever
        assert run.tags[PID_TAG] == str(process.pid)
        assert isinstance(instance.run_launcher, ProcessCheckingRunLauncher)  # dagster.yaml's launcher
        health = instance.run_launcher.check_run_worker_health(run)
        assert health.status.value == "FAILED" and f"process {process.pid}, which no longer exists" in health.msg

        (line,) = sweep_orphaned_runs(instance)

        assert f"by process {process.pid}" in line and "marked failed" in line
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert sweep_orphaned_runs(instance) == []


def test_a_live_run_is_never_swept(tmp_path, monkeypatch):
    env = project_home(tmp_path)
    with open_home(env, monkeypatch) as instance:
        run = instance.create_run_for_job(dg.GraphDefinition("g").to_job(), tags=process_tags())
        instance.handle_run_event(run.run_id, dg.DagsterEvent(
            dg.DagsterEventType.RUN_START.value, job_name=run.job_name, message="started"))
        assert instance.run_launcher.check_run_worker_health(run).status.value == "RUNNING"
        assert sweep_orphaned_runs(instance) == []
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED


def test_a_reused_pid_does_not_keep_a_dead_run_alive():
    me = os.getpid()
    # alive, but started an hour after the run began: another process now wears the pid
    assert RunProcess(None, me, time.time() - 3600).is_gone(started_at=lambda pid: time.time()) is True
    assert RunProcess(None, me, time.time() + 60).is_gone() is False
    assert RunProcess("another-host", 1, None).is_gone() is None  # never judged from here


def test_the_storage_is_the_same_whichever_directory_the_command_runs_from(tmp_path):
    env = project_home(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = "from pipelines.runs.instance import open_instance\nwith open_instance() as i: print(i.root_directory)"
    for cwd in (tmp_path, elsewhere):
        subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True, capture_output=True)
    assert (tmp_path / "home" / "warehouse" / "dagster" / "storage").is_dir()
    assert not (tmp_path / "warehouse").exists() and not (elsewhere / "warehouse").exists()


class CommitThenFail:
    """A connection whose COMMIT ends the transaction and then fails, as a full disk makes DuckDB's COMMIT fail."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn

    def execute(self, sql: str, *args):
        result = self.conn.execute(sql, *args)
        if sql == "COMMIT":
            raise duckdb.IOException('Could not write file "warehouse.duckdb.wal": No space left on device')
        return result

    def __getattr__(self, name):
        return getattr(self.conn, name)


def test_a_failed_commit_raises_its_own_error_not_the_rollback_after_it():
    with duckdb.connect() as conn:
        conn.execute("CREATE TABLE t (day DATE, v BIGINT)")
        rows = pa.table({"day": pa.array([dt.date(2025, 10, 1)], pa.date32()), "v": pa.array([1], pa.int64())})
        with pytest.raises(duckdb.IOException, match="No space left on device") as raised:
            replace_date_windows(CommitThenFail(conn), {"t": rows}, "day", dt.date(2025, 10, 1), dt.date(2025, 10, 2))
        assert any("ROLLBACK after it failed too" in note for note in raised.value.__notes__)


def test_a_second_writer_is_refused_in_one_line_naming_the_first(tmp_path):
    with writer_lock(tmp_path, "backfill 2025-10-01 2025-10-31"):
        with pytest.raises(WarehouseBusyError) as raised:
            with writer_lock(tmp_path, "run"):
                pass
    message = str(raised.value)
    assert "\n" not in message
    assert f"pid {os.getpid()} (backfill 2025-10-01 2025-10-31" in message
    with writer_lock(tmp_path, "run"):  # released with its holder
        pass


def test_a_second_backfill_refuses_at_once_instead_of_crashing(tmp_path):
    env = {**project_home(tmp_path), "BTCW_WAREHOUSE_DIR": str(tmp_path / "wh")}
    with writer_lock(tmp_path / "wh" / "demo", "backfill 2025-10-01 2025-10-02"):
        second = subprocess.run([sys.executable, "-m", "pipelines.cli", "backfill", "2025-10-01", "2025-10-02"],
                                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 2
    assert "Traceback" not in second.stderr
    assert "is being written by pid" in second.stderr.strip().splitlines()[-1]


def test_a_settings_error_is_one_line_and_exit_2(tmp_path):
    env = {**project_home(tmp_path), "BTCW_SOURCE_MODE": "bogus"}
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "backfill", "2025-10-01", "2025-10-02"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["backfill: BTCW_SOURCE_MODE='bogus' is not one of: demo, live, replay"]


def test_the_summary_of_a_run_says_why_it_cannot_read_the_warehouse_instead_of_crashing(tmp_path):
    settings = Settings(warehouse_dir=tmp_path)
    path = settings.duckdb_path
    path.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(path)!r}); "
                               "c.execute('CREATE SCHEMA raw'); print('held', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = type("Result", (), {"success": False, "get_asset_check_evaluations": lambda self: []})()
        text = backfill_summary(settings, dt.date(2025, 10, 1), dt.date(2025, 10, 2), result, 3.0)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert text.splitlines()[0].startswith("FAILED: 2025-10-01 … 2025-10-02")
    assert f"rows per dataset unavailable: {path} could not be read" in text


def test_the_summary_counts_only_what_this_run_logged(tmp_path):
    """A run that failed before loading a dataset must not print an earlier run's rows as its own."""
    settings = Settings(warehouse_dir=tmp_path)
    path = settings.duckdb_path
    path.parent.mkdir(parents=True)
    earlier, started = dt.datetime(2026, 12, 1, 0, 30), dt.datetime(2026, 12, 2, 0, 30, tzinfo=dt.UTC)
    with duckdb.connect(str(path)) as conn:
        ensure_load_log(conn)
        for dataset, logged_at, rows in (("binance__spot_klines_1d", earlier, 1),
                                         ("coinbase__spot_candles_1d", started.replace(tzinfo=None), 2)):
            conn.execute("INSERT INTO raw.load_log (dataset, partition_date, status, rows_landed, rows_loaded, "
                         "rows_quarantined, _logged_at) VALUES (?, ?, 'loaded', ?, ?, 0, ?)",
                         [dataset, dt.date(2025, 10, 1), rows, rows, logged_at])
    result = type("Result", (), {"success": False, "get_asset_check_evaluations": lambda self: []})()
    text = backfill_summary(settings, dt.date(2025, 10, 1), dt.date(2025, 10, 1), result, 3.0, since=started)
    assert "coinbase__spot_candles_1d" in text and "binance__spot_klines_1d" not in text
    later = backfill_summary(settings, dt.date(2025, 10, 1), dt.date(2025, 10, 1), result, 3.0,
                             since=started + dt.timedelta(hours=1))
    assert "no dataset was loaded by this run" in later and "coinbase" not in later


def test_an_end_before_the_start_is_refused_before_the_run_is_announced(tmp_path):
    env = {**project_home(tmp_path), "BTCW_WAREHOUSE_DIR": str(tmp_path / "wh")}
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "backfill", "2025-10-02", "2025-10-01"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("backfill: ") and "2025-10-02" in line


def test_a_warehouse_open_in_another_program_is_one_line_naming_it_before_the_run_starts(tmp_path):
    """A notebook holding the pipeline's DuckDB file: the run says who holds it and what to do, in one line, instead
    of every step failing with DuckDB's lock error."""
    env = {**project_home(tmp_path), "BTCW_WAREHOUSE_DIR": str(tmp_path / "wh")}
    path = tmp_path / "wh" / "demo" / "warehouse.duckdb"
    path.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(path)!r}); "
                               "print('held', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", "backfill", "2025-10-01", "2025-10-01"],
                              cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"backfill: the warehouse {path} is open in ") and f"(PID {holder.pid})" in line
    assert "serving copy" in line


def test_a_long_range_is_announced_before_it_starts(capsys):
    _announce_long_range("backfill", dt.date(2019, 1, 1), dt.date(2025, 12, 1))
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("backfill: 2,527 days in one run (2019-01-01 … 2025-12-01): expect about")
    _announce_long_range("backfill", dt.date(2025, 1, 1), dt.date(2025, 1, 1) + dt.timedelta(days=LONG_RANGE_DAYS - 1))
    assert capsys.readouterr().err == ""


def test_a_warehouse_written_by_a_newer_duckdb_is_refused_in_one_line(tmp_path):
    """A file from a DuckDB whose storage format this one cannot read (the project ran on 2.0 before 1.5.5): one
    line saying so and how to rebuild, not DuckDB's error in every step of a run. The file is written by DuckDB
    2.0.1's Python package, one of the BI clients `make bi-clients` installs."""
    newer = CLIENTS_DIR / "python-duckdb-2.0.1"
    if not (newer / ".installed").exists():
        pytest.skip(f"{newer} not installed: run `make bi-clients`")
    path = tmp_path / "warehouse.duckdb"
    subprocess.run([sys.executable, "-S", "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).execute("
                    "'CREATE TABLE t AS SELECT 1').close()", str(path)],
                   env={**os.environ, "PYTHONPATH": str(newer)}, check=True, timeout=120)
    with pytest.raises(WarehouseFormatError) as raised:
        ensure_duckdb_writable(path)
    message = str(raised.value)
    assert "\n" not in message and "written by a newer DuckDB" in message and "make run" in message
    assert isinstance(raised.value, WarehouseBusyError)  # what the CLI tells in one line


def test_a_corrupt_warehouse_is_not_called_busy(tmp_path):
    """DuckDB's corrupt-file error names a "block"; that is not a lock held by another program."""
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).execute("CREATE TABLE t AS SELECT 1").close()
    with open(path, "r+b") as f:
        f.seek(16)
        f.write(b"\xff" * 8)
    with pytest.raises(duckdb.Error, match="(?i)corrupt|checksum"):
        ensure_duckdb_writable(path)
