"""The instance's event log keeps its SQLite connections open (pipelines/runs/event_storage.py): the project's
dagster.yaml selects it, it writes Dagster's own files (a stock instance on the same folder reads every event and
check, and the other way round), each event is committed when the call returns (another process sees it at once),
and it holds at most OPEN_SHARDS files open, however many runs a long-lived reader looks at."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.runs import event_storage
from pipelines.runs.event_storage import PooledSqliteEventLogStorage
from pipelines.runs.instance import instance_dirs

PROJECT = Path(__file__).resolve().parents[1]
CHECKS = 5

specs = [dg.AssetCheckSpec(f"check_{i}", asset="probe") for i in range(CHECKS)]


@dg.multi_asset(specs=[dg.AssetSpec("probe")], check_specs=specs)
def probe():
    yield dg.MaterializeResult(asset_key="probe")
    for i in range(CHECKS):
        yield dg.AssetCheckResult(check_name=f"check_{i}", asset_key="probe", passed=i != 3)


JOB = dg.Definitions(assets=[probe]).resolve_implicit_global_asset_job_def()
STOCK = "telemetry:\n  enabled: false\nstorage:\n  sqlite:\n    base_dir:\n      env: BTCW_DAGSTER_STORAGE_DIR\n"


@pytest.fixture
def homes(tmp_path, monkeypatch):
    """Two DAGSTER_HOMEs on the same storage folder: the project's dagster.yaml, and Dagster's stock SQLite."""
    project, stock = tmp_path / "project", tmp_path / "stock"
    project.mkdir()
    stock.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", project / "dagster.yaml")
    (stock / "dagster.yaml").write_text(STOCK)
    for name, value in instance_dirs(tmp_path).items():
        monkeypatch.setenv(name, value)
    return project, stock


def checks_of(instance: dg.DagsterInstance) -> dict[str, str]:
    keys = [dg.AssetCheckKey(dg.AssetKey("probe"), f"check_{i}") for i in range(CHECKS)]
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    return {key.name: record.status.value for key, record in latest.items()}


def test_the_projects_instance_writes_dagsters_own_files_and_reads_what_a_stock_instance_wrote(homes):
    project, stock = homes
    with dg.DagsterInstance.from_config(str(project)) as pooled:
        assert isinstance(pooled.event_log_storage, PooledSqliteEventLogStorage)
        first = JOB.execute_in_process(instance=pooled, raise_on_error=False)
        written = [e.dagster_event_type for e in pooled.all_logs(first.run_id)]
    with dg.DagsterInstance.from_config(str(stock)) as plain:
        assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert [e.dagster_event_type for e in plain.all_logs(first.run_id)] == written
        assert checks_of(plain) == {f"check_{i}": "FAILED" if i == 3 else "SUCCEEDED" for i in range(CHECKS)}
        second = JOB.execute_in_process(instance=plain, raise_on_error=False)
    with dg.DagsterInstance.from_config(str(project)) as pooled:
        assert {r.run_id for r in pooled.get_runs()} == {first.run_id, second.run_id}
        record = pooled.get_latest_materialization_event(dg.AssetKey("probe"))
        assert record is not None and record.run_id == second.run_id
        assert len(written) > 3 * CHECKS  # planned, output and evaluation per check, and the run's own events


def test_an_event_is_committed_when_the_call_returns_another_process_reads_it(homes):
    project, _ = homes
    read = ("import sys, dagster as dg\n"
            "with dg.DagsterInstance.from_config(sys.argv[1]) as i:\n"
            "    print(len(i.all_logs(sys.argv[2])))\n")
    with dg.DagsterInstance.from_config(str(project)) as pooled:
        result = JOB.execute_in_process(instance=pooled)  # its connections are still open
        seen = subprocess.run([sys.executable, "-c", read, str(project), result.run_id], cwd=PROJECT,
                              env=dict(os.environ), capture_output=True, text=True, timeout=120)
        assert seen.returncode == 0, seen.stderr
        assert int(seen.stdout) == len(pooled.all_logs(result.run_id)) > 0


def test_a_reader_of_many_runs_holds_at_most_open_shards_files(homes, monkeypatch):
    project, _ = homes
    monkeypatch.setattr(event_storage, "OPEN_SHARDS", 3)
    with dg.DagsterInstance.from_config(str(project)) as pooled:
        runs = [JOB.execute_in_process(instance=pooled).run_id for _ in range(5)]
        storage = pooled.event_log_storage
        for run_id in runs:
            assert len(storage.get_records_for_run(run_id).records) > 0
        assert len(storage._engines) == 3
        assert list(storage._engines)[-1] == runs[-1]  # the last one read is kept; the oldest were closed
        monkeypatch.setattr(event_storage, "_current_pid", lambda: -1)  # as in a forked child
        assert len(storage.get_records_for_run(runs[0]).records) > 0
        assert list(storage._engines) == [runs[0]]  # the parent's connections were left to the parent


def test_the_benchmarks_stock_variant_is_the_projects_file_with_dagsters_storage(homes):
    """bench.event_log compares the project's dagster.yaml with the same file on Dagster's stock SQLite storage:
    both open, on the same folders, and differ in their `storage:` only."""
    import yaml

    from bench.event_log import storages

    project, stock = homes
    texts = list(storages().values())
    parsed = [yaml.safe_load(text) for text in texts]
    pooled = {"module": "pipelines.runs.event_storage", "class": "PooledSqliteStorage"}
    assert [p.pop("storage") for p in parsed] == [
        {"sqlite": {"base_dir": {"env": "BTCW_DAGSTER_STORAGE_DIR"}}},
        {"custom": {**pooled, "config": {"base_dir": {"env": "BTCW_DAGSTER_STORAGE_DIR"}, "synchronous": "FULL"}}},
        {"custom": {**pooled, "config": {"base_dir": {"env": "BTCW_DAGSTER_STORAGE_DIR"}, "synchronous": "NORMAL"}}}]
    assert parsed[0] == parsed[1] == parsed[2]
    (stock / "dagster.yaml").write_text(texts[0])
    with dg.DagsterInstance.from_config(str(stock)) as plain:
        assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"


@pytest.mark.parametrize(("synchronous", "pragma"), [("NORMAL", 1), ("FULL", 2)])
def test_the_event_logs_commits_are_fsynced_as_dagster_yaml_says(tmp_path, synchronous, pragma):
    storage = PooledSqliteEventLogStorage(str(tmp_path), synchronous=synchronous)
    with storage._connect("index") as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == pragma
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"  # NORMAL is consistent in WAL mode
    storage.dispose()


def test_the_projects_instance_commits_without_an_fsync_and_refuses_an_unknown_setting(homes, tmp_path):
    project, _ = homes
    with dg.DagsterInstance.from_config(str(project)) as instance, instance.event_log_storage._connect("index") as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL, from the project's dagster.yaml
    with pytest.raises(ValueError, match="synchronous must be one of NORMAL, FULL, not 'OFF'"):
        PooledSqliteEventLogStorage(str(tmp_path), synchronous="OFF")


def _planned_check_event(partitions: int):
    """An ASSET_CHECK_EVALUATION_PLANNED entry as run creation writes it for a run over `partitions` days."""
    from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationPlanned
    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.events.log import EventLogEntry

    days = dg.DailyPartitionsDefinition(start_date="2024-01-01")
    keys = days.get_partition_keys()[:partitions]
    subset = days.empty_subset().with_partition_keys(keys).to_serializable_subset() if partitions else None
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED.value, job_name="nightly",
        message="nightly intends to execute asset check check_0 on asset probe", step_key="probe",
        event_specific_data=AssetCheckEvaluationPlanned(asset_key=dg.AssetKey("probe"), check_name="check_0",
                                                        partitions_subset=subset))
    return EventLogEntry(error_info=None, level="DEBUG", user_message="", run_id="0" * 36, timestamp=1764547200.0,
                         dagster_event=event)


@pytest.mark.parametrize("partitions", [0, 1, 400])
def test_a_planned_check_writes_dagsters_own_rows_for_every_partition(tmp_path, partitions):
    """The override of _store_asset_check_evaluation_planned (one serialization, one executemany) writes exactly the
    rows Dagster's own writes: one per planned partition (one with no partition for an unpartitioned check), the same
    values byte for byte. An upgrade that changes Dagster's rows fails here, not in a user's UI."""
    import sqlalchemy as sa
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    event = _planned_check_event(partitions)
    rows = {}
    for name, storage in (("stock", SqliteEventLogStorage(str(tmp_path / "stock"))),
                          ("pooled", PooledSqliteEventLogStorage(str(tmp_path / "pooled")))):
        try:
            storage.store_event(event)
            with storage.index_connection() as conn:
                columns = [c for c in AssetCheckExecutionsTable.c if c.name != "id"]
                rows[name] = conn.execute(sa.select(*columns).order_by(AssetCheckExecutionsTable.c.id)).fetchall()
        finally:
            storage.dispose()
    assert len(rows["pooled"]) == max(partitions, 1)
    assert rows["pooled"] == rows["stock"]
    assert [row.partition for row in rows["pooled"][:2]] == (["2024-01-01", "2024-01-02"][:partitions] or [None])
