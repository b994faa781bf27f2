"""One Dagster asset per dataset: source → landing archive → raw.<source>__<dataset> (+ raw.quarantine)."""


import datetime as dt

import dagster as dg

from pipelines.checks.landing_checks import landing_bodies_parsed, rejects_within_threshold
from pipelines.checks.outcome import CheckOutcome
from pipelines.checks.raw_checks import raw_expectations, raw_volume_in_band
from pipelines.ingest.extract import days_in_window, load_window
from pipelines.partitions import window_dates
from pipelines.resources import WarehouseResource
from pipelines.sources.spec import DatasetSpec

LANDING_CHECK = "landing_bodies_parsed"
REJECTS_CHECK = "raw_rejects_within_threshold"
EXPECTATIONS_CHECK = "raw_expectations"
VOLUME_CHECK = "raw_row_volume"


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


def extract_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    # Blocking: a failed check fails the step, so dbt, the numpy asset and the BI publish do not run on it.
    described = {
        LANDING_CHECK: "each day's archived body matches its sha256, is data (no error envelope, no HTML) and parses",
        REJECTS_CHECK: "rows refused by the quality rules go to raw.quarantine; a day above the threshold fails",
        EXPECTATIONS_CHECK: "the dataset's Great Expectations suite on the window's raw rows (read-only connection)",
        VOLUME_CHECK: "each day's row count within a band around the median of its trailing 14 days",
    }
    return [dg.AssetCheckSpec(name, asset=key, blocking=True, description=text) for name, text in described.items()]


def build_extract_asset(spec: DatasetSpec, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    key = raw_asset_key(spec)

    @dg.asset(
        key=key,
        description=spec.description,
        group_name="raw",
        kinds={"duckdb", "python"},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=extract_check_specs(key),
        metadata={"source": spec.source, "dataset": spec.dataset, "raw_table": f"raw.{spec.raw_table}"},
    )
    def _extract(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        start, end = window_dates(context)
        settings = warehouse.settings
        days = days_in_window(start, end)
        covered = [day for day in days if spec.covers(day)]
        if len(covered) < len(days):
            context.log.info(f"{spec.name}: {len(days) - len(covered)} day(s) before {spec.available_from}, "
                             "when the source's history starts: skipped")
        with warehouse.connect() as conn:
            load = load_window(spec, covered, warehouse.body_source(), conn, settings.tree_dir,
                               dt.datetime.now(dt.UTC), settings.reject_threshold)
        # The writer is closed: the audit reads what was committed, as any reader would.
        with warehouse.connect(read_only=True) as conn:
            expectations = raw_expectations(conn, spec, start, end)
            volume = raw_volume_in_band(conn, spec, start, end)
        landing = landing_bodies_parsed(spec.name, load)
        rejects = rejects_within_threshold(spec.name, load, settings.reject_threshold)
        for outcome in (landing, rejects, expectations, volume):
            if not outcome.passed:
                context.log.error(outcome.description)
        context.log.info(f"{spec.name}: loaded {load.rows_loaded} rows over {len(load.days)} day(s), "
                         f"quarantined {load.quarantined.num_rows}")
        yield dg.MaterializeResult(
            metadata={
                "rows_loaded": load.rows_loaded,
                "rows_quarantined": load.quarantined.num_rows,
                "days": len(load.days),
                "days_by_status": {s: sum(d.status == s for d in load.days) for s in {d.status for d in load.days}},
                "days_before_source_history": len(days) - len(covered),
                "window": f"[{start}, {end})",
                "source_mode": settings.source_mode.value,
            }
        )
        yield to_check_result(landing, key, LANDING_CHECK)
        yield to_check_result(rejects, key, REJECTS_CHECK)
        yield to_check_result(expectations, key, EXPECTATIONS_CHECK)
        yield to_check_result(volume, key, VOLUME_CHECK)

    return _extract
