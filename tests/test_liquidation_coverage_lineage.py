"""raw.load_log is no asset: a dbt model reading it depends on the extract assets that write the rows it reads."""

from __future__ import annotations

import copy
import json

import dagster as dg
import pytest

from pipelines.assets.dbt_models import LOAD_LOG_SOURCE, WarehouseDbtTranslator
from pipelines.dbt_project import dbt_project

COVERAGE = "model.btc_stress_warehouse.stg_okx__liquidation_coverage"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(dbt_project().manifest_path.read_text())


def deps(manifest: dict, unique_id: str) -> set[str]:
    spec = WarehouseDbtTranslator().get_asset_spec(manifest, unique_id, None)
    return {dep.asset_key.to_user_string() for dep in spec.deps}


def test_the_coverage_view_depends_on_the_okx_extract_not_on_a_load_log_asset(manifest):
    assert LOAD_LOG_SOURCE in manifest["nodes"][COVERAGE]["depends_on"]["nodes"]
    assert deps(manifest, COVERAGE) == {"raw/okx__liquidation_orders"}
    assert deps(manifest, "model.btc_stress_warehouse.fct_liquidations_daily") == {
        "staging/stg_okx__liquidation_coverage", "staging/stg_liquidation_stream__coverage",
        "marts/fct_liquidation_events"}
    # models that do not read the log are left as dagster-dbt made them
    assert deps(manifest, "model.btc_stress_warehouse.stg_okx__liquidation_orders") == {"raw/okx__liquidation_orders"}


@pytest.mark.parametrize("meta, message", [
    ({}, r"stg_okx__liquidation_coverage .* reads source\('raw', 'load_log'\) but declares no meta.load_log_datasets"),
    ({"load_log_datasets": ["okx__liquidations"]}, r"names unknown datasets \['okx__liquidations'\]"),
])
def test_a_model_reading_the_log_must_name_known_datasets(manifest, meta, message):
    broken = copy.deepcopy(manifest)
    node = broken["nodes"][COVERAGE]
    node["meta"], node["config"]["meta"] = dict(meta), dict(meta)
    with pytest.raises(ValueError, match=message):
        WarehouseDbtTranslator().get_asset_spec(broken, COVERAGE, None)


def test_no_asset_key_for_the_log_in_the_definitions(tmp_path):
    from pipelines.definitions import build_definitions
    from pipelines.settings import Settings

    graph = build_definitions(Settings(warehouse_dir=tmp_path)).resolve_asset_graph()
    assert dg.AssetKey(["raw", "load_log"]) not in graph.get_all_asset_keys()
    assert graph.get(dg.AssetKey(["staging", "stg_okx__liquidation_coverage"])).parent_keys == {
        dg.AssetKey(["raw", "okx__liquidation_orders"])}
