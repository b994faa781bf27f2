"""The Dagster side of polling: the `rolling_source_polls` job and its `hourly_polls` schedule.

The job writes the landing archive only, never DuckDB, so it may run beside a warehouse run: dagster.yaml queues
runs tagged as warehouse writers one at a time and poll runs in a lane of their own (RUN_LANE_TAG), so a long
backfill never holds the hourly polls back.
"""


import dagster as dg

from pipelines.polling.poller import poll_now, rolling_datasets
from pipelines.resources import WarehouseResource
from pipelines.schedules import POLL_LANE, RUN_LANE_TAG, SCHEDULE_OFF_NOTE
from pipelines.settings import SourceMode

POLL_JOB = "rolling_source_polls"
POLL_SCHEDULE = "hourly_polls"


@dg.op(description="One poll of every rolling source now; each page archived write-once (landing archive only).")
def poll_rolling_sources_op(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> None:
    settings = warehouse.settings
    if settings.source_mode is SourceMode.REPLAY:
        context.log.info("replay mode sends no request: nothing polled")
        return
    outcomes = poll_now(settings)
    for outcome in outcomes:
        (context.log.info if outcome.ok and not outcome.capped else context.log.warning)(outcome.line())
    failed = [o for o in outcomes if not o.ok]
    if failed and len(failed) == len(outcomes):
        # Every source failed: the run shows red, so hours of failures are seen before the source rolls off.
        raise dg.Failure(f"every poll failed: {' | '.join(o.line() for o in failed)}")


@dg.job(name=POLL_JOB, tags={RUN_LANE_TAG: POLL_LANE},
        description=f"Poll the sources whose history rolls off within a day or is capped: "
                    f"{', '.join(s.name for s in rolling_datasets())}.")
def rolling_source_polls_job():
    poll_rolling_sources_op()


def build_poll_schedule(cron: str) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(name=POLL_SCHEDULE, cron_schedule=cron, execution_timezone="UTC",
                                 job=rolling_source_polls_job,
                                 description=SCHEDULE_OFF_NOTE.format(what=f"Polls the rolling sources ({cron} UTC)"))
