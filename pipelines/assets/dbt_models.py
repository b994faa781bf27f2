"""The dbt models as Dagster assets: staging views and incremental marts, built once per run window."""


from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from pipelines.dbt_project import DBT_BUILD_ARGS, dbt_env, dbt_project, dbt_target_path, environ
from pipelines.partitions import window_dates
from pipelines.resources import WarehouseResource


class WarehouseDbtTranslator(DagsterDbtTranslator):
    """Asset keys follow the warehouse: ["raw", table] for sources (the extract assets' keys),
    [schema, model] for models, so `marts/fct_btc_price_daily` reads like the table it is."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props["schema"]
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props.get("config", {}).get("schema") or "dbt"


# Models that read the numpy asset's tables (the dashboard mart) run in a second dbt invocation, after it:
# dbt → numpy → dbt would otherwise be a cycle inside one Dagster step.
AFTER_GAMMA_TAG = "after_gamma"


def build_dbt_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    project = dbt_project()

    def build(name: str, select: str, exclude: str | None) -> dg.AssetsDefinition:
        @dbt_assets(
            manifest=project.manifest_path,
            project=project,
            select=select,
            exclude=exclude,
            dagster_dbt_translator=WarehouseDbtTranslator(),
            partitions_def=partitions_def,
            backfill_policy=dg.BackfillPolicy.single_run(),
            name=name,
        )
        def _models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
            start, end = window_dates(context)
            settings = warehouse.settings
            # dbt runs in its own process and opens DuckDB itself: no connection of ours is open now.
            # The window and DuckDB settings reach dbt through its environment, and its target folder is the
            # warehouse's own, so dbt reuses its partial parse (both: pipelines/dbt_project.py).
            with environ(dbt_env(settings, start.isoformat(), end.isoformat())):
                invocation = dbt.cli(list(DBT_BUILD_ARGS), context=context, target_path=dbt_target_path(settings))
            yield from invocation.stream()

        return _models

    return [
        build("dbt_models", "fqn:*", f"tag:{AFTER_GAMMA_TAG}"),
        build("dbt_dashboard", f"tag:{AFTER_GAMMA_TAG}", None),
    ]
