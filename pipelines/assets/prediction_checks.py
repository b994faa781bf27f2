"""The warn-level check on the followed prediction markets (pipelines/checks/prediction_checks.py), as a Dagster
asset check on raw/polymarket__markets. Not blocking: a market that resolved, was delisted or is missing never stops
dbt, gamma or the BI publish; the check's description says what is missing, one line per gap."""


import datetime as dt

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from pipelines.assets.extracts import raw_asset_key
from pipelines.checks.prediction_checks import markets_followed
from pipelines.ingest.extract import days_in_window
from pipelines.metadata import tidy
from pipelines.resources import WarehouseResource
from pipelines.sources.polymarket import CONFIG, MARKETS

FOLLOWED_CHECK = "prediction_markets_followed"


def run_days(tags: dict[str, str]) -> list[dt.date]:
    """The partition days a run covers, from its tags (a ranged run, or one partition)."""
    if ASSET_PARTITION_RANGE_START_TAG in tags:
        first = dt.date.fromisoformat(tags[ASSET_PARTITION_RANGE_START_TAG])
        last = dt.date.fromisoformat(tags[ASSET_PARTITION_RANGE_END_TAG])
        return days_in_window(first, last + dt.timedelta(days=1))
    if PARTITION_NAME_TAG in tags:
        return [dt.date.fromisoformat(tags[PARTITION_NAME_TAG])]
    return []


def build_prediction_check() -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=raw_asset_key(MARKETS),
        name=FOLLOWED_CHECK,
        blocking=False,
        description="every configured market (prediction_markets.toml) is in the day's snapshot and every monthly "
                    "event is listed once its month has begun; lists the markets that resolved (warn only)",
    )
    def prediction_markets_followed(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        days = [day for day in run_days(context.run.tags) if MARKETS.covers(day)]
        with warehouse.connect(read_only=True) as conn:
            outcome = markets_followed(conn, CONFIG, days)
        if not outcome.passed:
            context.log.warning(outcome.description)
        return dg.AssetCheckResult(passed=outcome.passed, severity=dg.AssetCheckSeverity.WARN,
                                   description=outcome.description, metadata=tidy(outcome.metadata))

    return prediction_markets_followed
