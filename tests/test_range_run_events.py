"""A ranged run (one run for a window of daily partitions) writes ONE planned-materialization event per asset,
carrying the window (pipelines/runner.py), and every day of the window still ends up materialized in the
Dagster instance: the partition status the UI, the schedule and backfills read. Each day's one materialization
carries that day's own metadata (pipelines/metadata.py; the real assets' figures: tests/test_end_to_end.py)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import dagster as dg
import pytest

from pipelines.cli import planned_events as planned_event_count
from pipelines.metadata import record_partitions
from pipelines.partitions import daily_partitions
from pipelines.progress import RunFollower
from pipelines.runner import PLANNED_EVENTS_ENV, materialize_range
from pipelines.settings import Settings, SourceMode

FIRST, LAST = dt.date(2025, 11, 20), dt.date(2025, 11, 21)
KEYS = {"2025-11-20", "2025-11-21"}
START = dt.date(2025, 10, 1)


def test_runner_turns_on_one_planned_event_per_asset():
    env = {k: v for k, v in os.environ.items() if k != PLANNED_EVENTS_ENV}
    code = f"import os, pipelines.runner; print(os.environ[{PLANNED_EVENTS_ENV!r}])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "true"


def tiny_job(fail_downstream: bool = False) -> dg.JobDefinition:
    partitions_def = daily_partitions(START)

    @dg.asset(partitions_def=partitions_def, backfill_policy=dg.BackfillPolicy.single_run())
    def upstream(context):
        return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})

    @dg.asset(deps=[upstream], partitions_def=partitions_def, backfill_policy=dg.BackfillPolicy.single_run())
    def downstream(context):
        if fail_downstream:
            raise RuntimeError("downstream fails")
        return dg.MaterializeResult()

    return dg.Definitions(assets=[upstream, downstream]).resolve_implicit_global_asset_job_def()


def planned_events(instance: dg.DagsterInstance, run_id: str) -> list[dg.DagsterEvent]:
    return [e.dagster_event for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)]


def test_range_marks_every_day_materialized_with_one_planned_event_per_asset(tmp_path):
    settings = Settings(source_mode=SourceMode.DEMO, warehouse_dir=tmp_path, start_date=START)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(settings, FIRST, LAST, instance, job=tiny_job())
        assert result.success
        planned = planned_events(instance, result.run_id)
        assert sorted(e.asset_key.to_user_string() for e in planned) == ["downstream", "upstream"]
        for event in planned:
            data = event.asset_materialization_planned_data
            assert data.partition is None and set(data.partitions_subset.get_partition_keys()) == KEYS
        for key in ("upstream", "downstream"):
            assert instance.get_materialized_partitions(dg.AssetKey(key)) == KEYS
            mats = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
            assert {e.dagster_event.partition for e in mats if e.dagster_event.asset_key == dg.AssetKey(key)} == KEYS


def test_failed_range_leaves_the_failed_asset_unmaterialized(tmp_path):
    settings = Settings(source_mode=SourceMode.DEMO, warehouse_dir=tmp_path, start_date=START)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(settings, FIRST, LAST, instance, job=tiny_job(fail_downstream=True))
        assert not result.success
        assert instance.get_materialized_partitions(dg.AssetKey("upstream")) == KEYS
        assert instance.get_materialized_partitions(dg.AssetKey("downstream")) == set()


@pytest.mark.e2e
def test_real_range_run_marks_every_asset_materialized_for_every_day(tmp_path):
    settings = Settings(source_mode=SourceMode.DEMO, warehouse_dir=tmp_path / "wh", start_date=START)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(settings, FIRST, LAST, instance)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        asset_keys = result.job_def.asset_layer.asset_graph.materializable_asset_keys
        planned = planned_events(instance, result.run_id)
        assert sorted(e.asset_key for e in planned) == sorted(asset_keys)
        for key in asset_keys:
            assert instance.get_materialized_partitions(key) == KEYS, key.to_user_string()


def per_day_job() -> dg.JobDefinition:
    """One asset giving each partition of a ranged run its own figures (pipelines/metadata.py record_partitions)."""
    partitions_def = daily_partitions(START)

    @dg.asset(partitions_def=partitions_def, backfill_policy=dg.BackfillPolicy.single_run())
    def per_day(context):
        record_partitions(context, {key: {"rows": 100 + i, "share": (i + 1) / 3, "spot_usd": 90000 + i / 7}
                                    for i, key in enumerate(context.partition_keys)})
        return dg.MaterializeResult()

    return dg.Definitions(assets=[per_day]).resolve_implicit_global_asset_job_def()


def test_each_day_of_a_range_has_one_materialization_with_its_own_metadata(tmp_path):
    settings = Settings(source_mode=SourceMode.DEMO, warehouse_dir=tmp_path, start_date=START)
    job = per_day_job()
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(settings, FIRST, LAST, instance, job=job)
        assert result.success
        mats = [r.dagster_event.event_specific_data.materialization
                for r in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)]
        # What the CLI's line counts while the run is created: one planned event per asset (and per check).
        assert RunFollower(instance, result.run_id).poll().planned == planned_event_count(job, 2) == 1
    assert sorted(m.partition for m in mats) == sorted(KEYS)  # one event per day, not one more
    figures = {m.partition: {k: v.value for k, v in m.metadata.items()} for m in mats}
    assert figures == {"2025-11-20": {"rows": 100, "share": 0.333333, "spot_usd": 90000.0},
                       "2025-11-21": {"rows": 101, "share": 0.666667, "spot_usd": 90000.14}}


def test_a_day_without_its_figures_is_refused(tmp_path):
    partitions_def = daily_partitions(START)

    @dg.asset(partitions_def=partitions_def, backfill_policy=dg.BackfillPolicy.single_run())
    def first_day_only(context):
        record_partitions(context, {context.partition_keys[0]: {"rows": 1}})
        return dg.MaterializeResult()

    job = dg.Definitions(assets=[first_day_only]).resolve_implicit_global_asset_job_def()
    settings = Settings(source_mode=SourceMode.DEMO, warehouse_dir=tmp_path, start_date=START)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_range(settings, FIRST, LAST, instance, job=job)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "no metadata for partition(s) 2025-11-21 of the asset" in str(failure.event_specific_data.error)
