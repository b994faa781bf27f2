"""The asset graph as text, compared with a committed snapshot: an accidental change shows as a diff.

Regenerate after an intended change: UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_definitions.py
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg

from pipelines.definitions import build_definitions
from pipelines.settings import Settings

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.txt"


def describe(defs: dg.Definitions) -> str:
    graph = defs.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        part = f"daily from {partitions.start.date()}" if isinstance(partitions, dg.DailyPartitionsDefinition) else str(partitions)
        policy = node.backfill_policy.policy_type.value if node.backfill_policy else "none"
        deps = ", ".join(sorted(d.to_user_string() for d in node.parent_keys)) or "-"
        lines.append(f"{key.to_user_string()}  [{part}; backfill {policy}; group {node.group_name}]")
        lines.append(f"    deps: {deps}")
        for check_key in sorted(node.check_keys, key=lambda c: c.name):
            spec = graph.get_check_spec(check_key)
            lines.append(f"    check {check_key.name}{' (blocking)' if spec.blocking else ''}")
    for schedule in sorted(defs.schedules, key=lambda s: s.name):
        lines.append(f"schedule {schedule.name}: '{schedule.cron_schedule}' {schedule.execution_timezone or 'UTC'} "
                     f"-> {schedule.job_name}")
    return "\n".join(lines) + "\n"


def test_asset_graph_matches_snapshot(tmp_path):
    defs = build_definitions(Settings(warehouse_dir=tmp_path, start_date=dt.date(2020, 1, 1)))
    text = describe(defs)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), f"no snapshot yet: run with UPDATE_SNAPSHOTS=1 and commit {SNAPSHOT}"
    assert text == SNAPSHOT.read_text()


def test_definitions_validate(tmp_path):
    defs = build_definitions(Settings(warehouse_dir=tmp_path))
    defs.resolve_all_job_defs()
    assert defs.resolve_job_def("nightly_all_assets") is not None


def test_nightly_schedule_reruns_the_last_three_days_in_one_run(tmp_path):
    defs = build_definitions(Settings(warehouse_dir=tmp_path, start_date=dt.date(2025, 10, 1)))
    schedule = defs.resolve_schedule_def("nightly")
    assert schedule.cron_schedule == "30 0 * * *" and schedule.execution_timezone == "UTC"
    at = dt.datetime(2025, 11, 22, 0, 30, tzinfo=dt.UTC)
    with dg.build_schedule_context(scheduled_execution_time=at) as context:
        requests = list(schedule.evaluate_tick(context).run_requests)
    assert len(requests) == 1 and requests[0].run_key == "nightly-2025-11-21"
    assert requests[0].tags["dagster/asset_partition_range_start"] == "2025-11-19"
    assert requests[0].tags["dagster/asset_partition_range_end"] == "2025-11-21"
    job = defs.resolve_job_def("nightly_all_assets")
    assert job.op_retry_policy.max_retries == 2


def test_nightly_window_never_starts_before_the_first_partition():
    from pipelines.schedules import nightly_window

    at = dt.datetime(2025, 10, 2, 0, 30, tzinfo=dt.UTC)
    assert nightly_window(at, dt.date(2025, 10, 1)) == (dt.date(2025, 10, 1), dt.date(2025, 10, 1))
