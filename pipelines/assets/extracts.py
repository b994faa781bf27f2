"""One Dagster asset per dataset: source → landing archive → raw.<source>__<dataset>."""


import datetime as dt

import dagster as dg

from pipelines.checks.landing_checks import landing_bodies_parsed
from pipelines.checks.outcome import CheckOutcome
from pipelines.checks.raw_checks import raw_keys_unique_and_in_day
from pipelines.ingest.extract import DayLoad, days_in_window, extract_day
from pipelines.partitions import window_dates
from pipelines.resources import WarehouseResource
from pipelines.sources.spec import DatasetSpec

LANDING_CHECK = "landing_bodies_parsed"
RAW_CHECK = "raw_keys_unique_and_in_day"


def raw_asset_key(spec: DatasetSpec) -> dg.AssetKey:
    # Matches dbt's source('raw', '<source>__<dataset>'), so dagster-dbt links the models to it.
    return dg.AssetKey(["raw", spec.raw_table])


def to_check_result(outcome: CheckOutcome, asset_key: dg.AssetKey, name: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=outcome.description,
        metadata=outcome.metadata,
    )


def build_extract_asset(spec: DatasetSpec, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    key = raw_asset_key(spec)

    @dg.asset(
        key=key,
        description=spec.description,
        group_name="raw",
        kinds={"duckdb", "python"},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec(LANDING_CHECK, asset=key, blocking=True,
                              description="each day's archived body matches its sha256, parses, and is not empty"),
            dg.AssetCheckSpec(RAW_CHECK, asset=key, blocking=True,
                              description="raw keys unique and event times inside the partition's UTC day"),
        ],
        metadata={"source": spec.source, "dataset": spec.dataset, "raw_table": f"raw.{spec.raw_table}"},
    )
    def _extract(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        start, end = window_dates(context)
        settings = warehouse.settings
        body_source = warehouse.body_source()
        loaded_at = dt.datetime.now(dt.UTC)
        loads: list[DayLoad] = []
        days = days_in_window(start, end)
        covered = [day for day in days if spec.covers(day)]
        if len(covered) < len(days):
            context.log.info(f"{spec.name}: {len(days) - len(covered)} day(s) before {spec.available_from}, "
                             "when the source's history starts: skipped")
        with warehouse.connect() as conn:
            for day in covered:
                loads.append(extract_day(spec, day, body_source, conn, settings.tree_dir, loaded_at))
            raw_outcome = raw_keys_unique_and_in_day(conn, spec, start, end)
        context.log.info(f"{spec.name}: loaded {sum(load.rows for load in loads)} rows over {len(loads)} day(s)")
        yield dg.MaterializeResult(
            metadata={
                "rows_loaded": sum(load.rows for load in loads),
                "days": len(loads),
                "days_before_source_history": len(days) - len(covered),
                "window": f"[{start}, {end})",
                "source_mode": settings.source_mode.value,
            }
        )
        yield to_check_result(landing_bodies_parsed(spec.name, loads), key, LANDING_CHECK)
        yield to_check_result(raw_outcome, key, RAW_CHECK)

    return _extract
