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

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        """A model reading raw.load_log depends on the extract assets that write the log rows it reads.

        raw.load_log is no asset of its own: every extract asset writes its days' rows into it, in the same
        transaction as its raw partition (pipelines/ingest/extract.py). Left as is, dagster-dbt would make the
        source an asset key `raw/load_log` that nothing materialises (an external asset in the UI, with no
        lineage to what fills it). An external AssetSpec for it would say the same less truly: its rows are not
        produced outside the pipeline. So the dependency is redirected: the model names the datasets whose log
        rows it reads in `meta.load_log_datasets` (stg_okx__liquidation_coverage: okx__liquidation_orders), and
        depends on `raw/<dataset>`, the extract that writes them. Tests reading the log (rows_reconcile_with_
        load_log) are checks on their model and add no dependency."""
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] != "model" or LOAD_LOG_SOURCE not in props.get("depends_on", {}).get("nodes", []):
            return spec
        datasets = _meta(props).get("load_log_datasets") or []
        known = {key.path[1] for key in _raw_keys(manifest)}
        unknown = sorted(set(datasets) - known)
        if not datasets or unknown:
            raise ValueError(
                f"dbt model {props['name']} ({props.get('original_file_path')}) reads source('raw', 'load_log') but "
                + (f"names unknown datasets {unknown} in meta.load_log_datasets (raw sources: {sorted(known)})"
                   if unknown else "declares no meta.load_log_datasets: list the datasets whose log rows it reads, "
                                   "so it depends on their extract assets"))
        load_log_key = dg.AssetKey(["raw", "load_log"])
        deps = [dep for dep in spec.deps if dep.asset_key != load_log_key]
        deps += [dg.AssetDep(dg.AssetKey(["raw", name])) for name in datasets
                 if dg.AssetKey(["raw", name]) not in {dep.asset_key for dep in deps}]
        return spec.replace_attributes(deps=deps)


LOAD_LOG_SOURCE = "source.btc_stress_warehouse.raw.load_log"


def _meta(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return {**(props.get("meta") or {}), **(props.get("config", {}).get("meta") or {})}


def _raw_keys(manifest: Mapping[str, Any]) -> list[dg.AssetKey]:
    """The raw tables the dbt project declares as sources (the extract assets' keys), the log itself excepted."""
    return [dg.AssetKey(["raw", source["name"]]) for uid, source in manifest.get("sources", {}).items()
            if source["source_name"] == "raw" and uid != LOAD_LOG_SOURCE]


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
