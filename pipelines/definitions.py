"""The Dagster code location: everything the warehouse runs, gathered in one place.

Definitions are built by a function from a Settings object; `defs` loads them lazily, so importing
this module reads no environment variable and parses no dbt project.
"""

from __future__ import annotations

import warnings

import dagster as dg

from pipelines import engine
from pipelines.assets.dbt_models import ProjectDbtCli, build_dbt_assets
from pipelines.assets.extracts import build_extract_asset
from pipelines.assets.gamma_exposure import GAMMA_KEYS, build_gamma_asset
from pipelines.assets.prediction_checks import build_prediction_check
from pipelines.assets.reports import build_notes_asset, build_reports_asset
from pipelines.assets.serving import build_serving_asset
from pipelines.assets.stream_extracts import build_stream_asset
from pipelines.assets.vol_surface import VOL_KEYS, build_vol_surface_asset
from pipelines.dbt_project import dbt_executable, dbt_project
from pipelines.partitions import daily_partitions
from pipelines.polling.jobs import build_poll_schedule, rolling_source_polls_job
from pipelines.resources import WarehouseResource
from pipelines.schedules import build_nightly_schedule
from pipelines.settings import Settings
from pipelines.sources.registry import DATASETS


# Every asset takes BackfillPolicy.single_run() (one run, one dbt invocation, for a window), which this Dagster
# release marks beta: its warning, once per asset, buried `make dev`'s output. Chosen knowingly; said once here.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` of function `(multi_)?asset` is currently in "
                        r"beta", category=dg.BetaWarning)


def build_definitions(settings: Settings) -> dg.Definitions:
    partitions_def = daily_partitions(settings.start_date)
    extracts = [build_extract_asset(spec, partitions_def, settings.poll_cron) for spec in DATASETS]
    dbt_assets = build_dbt_assets(partitions_def)
    marts = [key for assets in dbt_assets for key in assets.keys if key.path[0] == "marts"] + [*GAMMA_KEYS, *VOL_KEYS]
    jobs: list = [rolling_source_polls_job]
    schedules = [build_nightly_schedule(partitions_def), build_poll_schedule(settings.poll_cron)]
    if engine.is_lake(settings):
        from pipelines.lake.jobs import build_maintenance_schedule, lake_maintenance_job

        jobs.append(lake_maintenance_job)
        schedules.append(build_maintenance_schedule())
    return dg.Definitions(
        assets=[*extracts, build_stream_asset(partitions_def), *dbt_assets, build_gamma_asset(partitions_def),
                build_vol_surface_asset(partitions_def), build_serving_asset(partitions_def, marts),
                build_reports_asset(partitions_def), build_notes_asset(partitions_def)],
        asset_checks=[build_prediction_check()],
        jobs=jobs,
        schedules=schedules,
        resources={
            "warehouse": WarehouseResource.from_settings(settings),
            "dbt": ProjectDbtCli(project_dir=dbt_project(), dbt_executable=dbt_executable()),
        },
        # DuckDB takes one writer at a time: steps run one after another in the run's process. (On a lake too, for
        # now: the write locks would serialise most steps, and one process keeps a nightly's memory in one place.)
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
