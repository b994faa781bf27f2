"""The Dagster side of lake maintenance: the `lake_maintenance` job and its weekly schedule, in lake mode only
(pipelines/definitions.py adds them when BTCW_WAREHOUSE=lake). What it does: pipelines/lake/maintenance.py."""

import dagster as dg

from pipelines.lake.maintenance import maintain_warehouse
from pipelines.resources import WarehouseResource
from pipelines.schedules import RUN_LANE_TAG, SCHEDULE_OFF_NOTE, WRITER_LANE

MAINTENANCE_JOB = "lake_maintenance"
MAINTENANCE_SCHEDULE = "weekly_lake_maintenance"


@dg.op(description="Merge the lake's small files, expire snapshots older than a week, delete the files nothing "
                   "needs; every write lock held (pipelines/lake/maintenance.py).")
def maintain_lake_op(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> dg.Output:
    report = maintain_warehouse(warehouse.settings)
    context.log.info(report.line())
    return dg.Output(None, metadata={
        "seconds": round(report.seconds, 1), "snapshots_before": report.before.snapshots,
        "snapshots_after": report.after.snapshots, "data_files_before": report.before.data_files,
        "data_files_after": report.after.data_files, "mib_after": round(report.after.bytes / 2**20, 1)})


# In the writers' lane: never beside a run of this instance that writes (the locks would make it wait anyway).
@dg.job(name=MAINTENANCE_JOB, tags={RUN_LANE_TAG: WRITER_LANE}, description=__doc__)
def lake_maintenance_job():
    maintain_lake_op()


def build_maintenance_schedule() -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=MAINTENANCE_SCHEDULE, cron_schedule="0 3 * * 0", execution_timezone="UTC", job=lake_maintenance_job,
        description=SCHEDULE_OFF_NOTE.format(what="Sundays at 03:00 UTC, lake maintenance (merge, expire, clean up)"))
