"""The asset graph as text, compared with a committed snapshot: an accidental change shows as a diff.

Regenerate after an intended change: UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_definitions.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from pipelines.assets.gamma_exposure import GAMMA_KEYS
from pipelines.assets.vol_surface import VOL_KEYS
from pipelines.dbt_project import DBT_PROJECT_DIR
from pipelines.definitions import build_definitions
from pipelines.ingest.stream_days import SCHEMAS as STREAM_TABLES
from pipelines.resources import WarehouseResource
from pipelines.settings import Settings
from pipelines.sources.registry import DATASETS

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


def test_definitions_hold_every_asset_job_schedule_check_and_resource(tmp_path):
    """What the code location must hold, each part derived from where it is declared (the source registry, the dbt
    manifest), not from the definitions themselves."""
    settings = Settings(warehouse_dir=tmp_path)
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}

    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    models = {node["unique_id"]: node for node in manifest["nodes"].values()
              if node["resource_type"] in ("model", "seed")}
    raw = {f"raw/{spec.name.replace('/', '__')}" for spec in DATASETS}
    # Each model and seed as [schema, name] (pipelines/assets/dbt_models.py): marts/… and staging/….
    dbt_models = {f"{node['config']['schema']}/{node['name']}" for node in models.values()}
    assert {key.split("/")[0] for key in dbt_models} == {"marts", "staging"} and len(dbt_models) == len(models)
    gamma = {key.to_user_string() for key in GAMMA_KEYS}
    vol = {key.to_user_string() for key in VOL_KEYS}
    streams = {f"raw/{table}" for table in STREAM_TABLES}  # the stream archive's daily load: one multi-asset
    assert keys == raw | streams | dbt_models | gamma | vol | {"serving/warehouse", "reports/daily_html",
                                                                   "reports/market_note"}
    assert len(raw) == len(DATASETS) == 24 and len(gamma) == 8 and len(vol) == 2

    # Jobs and schedules, by name: the nightly job materialises everything; the hourly one polls.
    assert {job.name for job in defs.resolve_all_job_defs()} == {"__ASSET_JOB", "nightly_all_assets",
                                                                  "rolling_source_polls"}
    nightly = defs.resolve_job_def("nightly_all_assets")
    assert {key.to_user_string() for key in nightly.asset_layer.executable_asset_keys} == keys
    assert {(s.name, s.job_name, s.cron_schedule) for s in defs.schedules} == {
        ("nightly", "nightly_all_assets", "30 0 * * *"), ("hourly_polls", "rolling_source_polls", settings.poll_cron)}

    # Checks: every raw dataset's four, the sources' own, the serving copy's, and every dbt test of one model.
    checks = {(check.asset_key.to_user_string(), check.name) for check in graph.asset_check_keys}
    for key in raw:
        assert {(key, name) for name in ("landing_bodies_parsed", "raw_expectations", "raw_rejects_within_threshold",
                                         "raw_row_volume")} <= checks, key
    assert {("raw/okx__liquidation_orders", "liquidation_polls_complete"),
            ("raw/polymarket__markets", "prediction_markets_followed"), ("serving/warehouse", "marts_fresh"),
            ("marts/fct_gamma_summary_daily", "gamma_tables_reconcile"),
            ("marts/fct_gamma_summary_daily", "gex_totals_finite"),
            ("marts/fct_option_vol_daily", "vol_surface_sane")} <= checks
    one_model_tests = [(node, [models[p] for p in node["depends_on"]["nodes"] if p in models])
                       for node in manifest["nodes"].values() if node["resource_type"] == "test"]
    expected_dbt_checks = {(f"{parents[0]['config']['schema']}/{parents[0]['name']}", node["name"])
                           for node, parents in one_model_tests if len(parents) == 1}
    assert len(expected_dbt_checks) > 150 and expected_dbt_checks <= checks

    # Resources: the warehouse carries these settings; dbt runs this project with the venv's dbt.
    assert set(defs.resources) == {"warehouse", "dbt"}
    warehouse, dbt = defs.resources["warehouse"], defs.resources["dbt"]
    assert isinstance(warehouse, WarehouseResource) and warehouse.settings == settings
    assert isinstance(dbt, DbtCliResource) and Path(dbt.project_dir) == DBT_PROJECT_DIR
    assert Path(dbt.dbt_executable).name == "dbt"


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


def test_descriptions_keep_their_placeholders_in_the_ui(tmp_path):
    """The Dagster UI renders descriptions as Markdown, where a bare `<tree>` is an HTML tag and vanishes
    ("/reports/.html"): every `<…>` placeholder of an asset's or check's description sits in a code span."""
    defs = build_definitions(Settings(warehouse_dir=tmp_path))
    graph = defs.resolve_asset_graph()
    texts = {key.to_user_string(): graph.get(key).description or "" for key in graph.get_all_asset_keys()}
    checks = [spec for assets_def in defs.assets for spec in assets_def.check_specs]  # every AssetsDefinition
    assert len(checks) > 300  # dbt's tests among them
    texts |= {f"{spec.asset_key.to_user_string()} › {spec.name}": spec.description or "" for spec in checks}
    bare = {name: re.findall(r"<[^<>\s]+>", re.sub(r"`[^`]*`", "", text)) for name, text in texts.items()}
    assert {name: tags for name, tags in bare.items() if tags} == {}


def test_the_code_location_is_named_for_the_project_and_the_schedules_say_they_start_off(tmp_path):
    import tomllib

    tool = tomllib.loads((DBT_PROJECT_DIR.parent / "pyproject.toml").read_text())["tool"]["dagster"]
    assert tool == {"module_name": "pipelines.definitions", "code_location_name": "btc_stress_warehouse"}
    makefile = (DBT_PROJECT_DIR.parent / "Makefile").read_text()
    assert "dagster dev -h 127.0.0.1 -p 3000\n" in makefile  # no -m: the name above, not the module's
    defs = build_definitions(Settings(warehouse_dir=tmp_path))
    for schedule in defs.schedules:
        assert "Off until turned on" in schedule.description, schedule.name


def test_lake_mode_adds_the_weekly_maintenance_job_off_until_turned_on_and_the_file_mode_has_none(tmp_path):
    from pipelines.lake.jobs import MAINTENANCE_JOB, MAINTENANCE_SCHEDULE
    from pipelines.settings import WarehouseKind

    lake = build_definitions(Settings(warehouse_dir=tmp_path, warehouse=WarehouseKind.LAKE))
    schedule = lake.get_schedule_def(MAINTENANCE_SCHEDULE)
    assert schedule.job_name == MAINTENANCE_JOB and schedule.cron_schedule == "0 3 * * 0"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED and "Off until turned on" in schedule.description
    assert lake.get_job_def(MAINTENANCE_JOB).tags["btcw/lane"] == "warehouse_writer"
    embedded = build_definitions(Settings(warehouse_dir=tmp_path))
    assert MAINTENANCE_SCHEDULE not in {s.name for s in embedded.schedules}
    assert lake.resources["warehouse"].warehouse == "lake" and embedded.resources["warehouse"].warehouse == "duckdb"
