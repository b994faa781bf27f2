"""The dbt models as Dagster assets: staging views and incremental marts, built once per run window."""


import datetime as dt
import importlib.metadata
import json
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets
from packaging import version

from pipelines.dbt_project import (DBT_BUILD_ARGS, dbt_env, dbt_project, dbt_target_path, environ,
                                   prepared_manifest, venv_dbt)
from pipelines import engine
from pipelines.engine import DBT_WRITES, RAW_WRITES
from pipelines.ingest.extract import days_in_window
from pipelines.ingest.raw_loader import ensure_raw_table, missing_raw_tables
from pipelines.metadata import record_partitions, tidy
from pipelines.partitions import window_dates
from pipelines.progress import DbtProgress, report_detail
from pipelines.resources import WarehouseResource
from pipelines.sources.registry import DATASETS


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


# dagster-dbt's metadata that describes the whole invocation, not a day: kept in the step's log, off the partitions.
WINDOW_METADATA = ("Execution Duration",)
# The line macros/rows_per_day.sql logs for each model (a post-hook): its rows on each day of the window.
ROWS_PER_DAY = "btcw_rows_per_day "


def per_partition_events(context: dg.AssetExecutionContext, invocation, start: dt.date,
                         end: dt.date) -> Iterator[Any]:
    """dagster-dbt's events for the invocation, as dbt streams them, each model's output carrying per-partition
    metadata: its rows on each day of the window, which the model's post-hook logged just before it finished
    (macros/rows_per_day.sql). dbt's own progress (nodes done of the total, the node running) goes to the CLI's
    progress line. Metadata floats are rounded; the invocation's timings stay in the step's log."""
    progress = DbtProgress()
    step = context.op_execution_context.op.name
    rows_per_day: dict[str, dict[str, int]] = {}  # unique_id -> {day: rows}
    durations: list[tuple[float, str]] = []
    days = days_in_window(start, end)
    report_detail(context.run_id, step, progress)
    try:
        # stream() is stream_raw_events() turned into Dagster events; taken apart here to see each raw event.
        for raw in invocation.stream_raw_events():
            event = raw.raw_event
            if progress.see(event):
                report_detail(context.run_id, step, progress)
            message = (event.get("info") or {}).get("msg") or ""
            if message.startswith(ROWS_PER_DAY):
                unique_id = ((event.get("data") or {}).get("node_info") or {}).get("unique_id")
                rows_per_day[unique_id] = json.loads(message[len(ROWS_PER_DAY):])["rows"]
            for out in raw.to_default_asset_events(
                    manifest=invocation.manifest, dagster_dbt_translator=invocation.dagster_dbt_translator,
                    context=invocation.context, target_path=invocation.target_path, project=invocation.project):
                if isinstance(out, dg.Output):
                    key = context.assets_def.keys_by_output_name[out.output_name]
                    counted = rows_per_day.get(_plain(out.metadata.get("unique_id")))
                    if counted is not None:
                        record_partitions(context, {day: {"rows": counted.get(day.isoformat(), 0)} for day in days},
                                          key)
                    durations.append((_plain(out.metadata.get("Execution Duration")) or 0.0, key.to_user_string()))
                    out = out.with_metadata({k: v for k, v in out.metadata.items() if k not in WINDOW_METADATA})
                yield out.with_metadata(tidy(out.metadata))
    finally:
        report_detail(context.run_id, step, None)
        if durations:
            durations.sort(reverse=True)
            context.log.info(f"dbt built {len(durations)} model(s) for [{start}, {end}) in "
                             f"{sum(d for d, _ in durations):,.1f} s; slowest: "
                             + ", ".join(f"{name} {d:,.2f} s" for d, name in durations[:3])
                             + " (each node's time: dbt's log)")


def _plain(value: Any) -> Any:
    """A metadata entry's plain value (dagster-dbt's Output metadata may hold MetadataValue objects)."""
    return getattr(value, "value", value)


# Models that read the numpy asset's tables (the dashboard mart) run in a second dbt invocation, after it:
# dbt → numpy → dbt would otherwise be a cycle inside one Dagster step.
AFTER_GAMMA_TAG = "after_gamma"


class ProjectDbtCli(DbtCliResource):
    """dagster-dbt's resource without two costs it pays at every invocation that this project gains nothing from
    (dagster-dbt 0.29; tests/test_dbt_cli_resource.py fails if a new version no longer calls them):

    - `dbt --version` in a subprocess, to learn which dbt runs (~1.2 s: dbt also asks PyPI for its latest
      version, which a machine without internet waits out). The dbt run here is the venv's, the dbt-core this
      interpreter imports: its version is read from the package's metadata. Another executable is still asked.
    - a dbt adapter built in this process (~1 s: profile, project, macros), which dagster-dbt uses only to fetch
      column metadata and row counts after the build. The project asks for neither: its metadata are the rows per
      day that each model logs (pipelines/assets/dbt_models.py), so no adapter is built."""

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable) == venv_dbt():
            return version.parse(importlib.metadata.version("dbt-core"))
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


def ensure_sources(warehouse: WarehouseResource) -> None:
    """Every dataset's raw table exists before dbt reads them: one never loaded (a dataset added to the project
    after the warehouse was built and skipped for older days, or left out of a run's selection) reads as empty
    instead of failing the staging models that union it with others."""
    missing = list(DATASETS)
    try:
        if engine.exists(warehouse.settings):
            with warehouse.connect(read_only=True) as conn:
                missing = missing_raw_tables(conn, DATASETS)
    except engine.NoWarehouseYet:
        pass
    if missing:
        with warehouse.connect() as conn, warehouse.writing(RAW_WRITES, "empty raw tables for dbt"):
            for spec in missing:
                ensure_raw_table(conn, spec)


def build_dbt_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    project = dbt_project()

    def build(name: str, select: str, exclude: str | None, reads_raw: bool) -> dg.AssetsDefinition:
        @dbt_assets(
            manifest=prepared_manifest(project),
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
            # The lock is held until dbt has ended (its events are read to the end inside the block).
            if reads_raw:  # the dashboard build reads marts only: no connection for it
                ensure_sources(warehouse)
            with warehouse.writing(DBT_WRITES, f"{name} [{start}, {end})"):
                with environ(dbt_env(settings, start.isoformat(), end.isoformat())):
                    invocation = dbt.cli(list(DBT_BUILD_ARGS), context=context,
                                         target_path=dbt_target_path(settings))
                yield from per_partition_events(context, invocation, start, end)

        return _models

    return [
        build("dbt_models", "fqn:*", f"tag:{AFTER_GAMMA_TAG}", reads_raw=True),
        build("dbt_dashboard", f"tag:{AFTER_GAMMA_TAG}", None, reads_raw=False),
    ]
