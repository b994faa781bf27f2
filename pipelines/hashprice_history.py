"""`python -m pipelines.hashprice_history START END`: the hashprice's lineage alone, for a long history in one run.

The hashprice back through a halving needs years of days, and a full backfill builds everything for each of them
(the option chains, gamma and the blocks walk: ~2.7 s a day). The blockchain.com charts give the hashprice at two
requests a year, so this materialises only what fct_hashprice_daily and fct_miner_breakeven_daily read: the price
(Binance and Coinbase daily candles, range requests), mempool.space's daily hash rate, blockchain.com's hash rate and
miners' revenue, their staging views, the fleet seed and the mining marts, every check of those assets included.
mempool.space's blocks are not walked (~10 requests a day live): days without them take blockchain.com's hashprice,
and a later full run of some days (make backfill) fills their blocks route, which the marts then prefer. Honours the
BTCW_* settings like make backfill (BTCW_START_DATE must reach START), and holds the same writer lock. It neither
publishes the serving copy nor writes the report: the next make backfill or nightly run does.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import time
from collections.abc import Iterable, Iterator

import dagster as dg

from pipelines.runs.signals import answer_stop_signals
from pipelines.settings import Settings, SettingsError

# What the two marts read, upstream to the seed and the raw tables (mempool/blocks' raw table is created empty
# before dbt runs, so fct_miner_revenue_daily builds, with no rows for days not walked).
HASHPRICE_LINEAGE: tuple[dg.AssetKey, ...] = tuple(
    dg.AssetKey(key.split("/"))
    for key in (
        "raw/binance__spot_klines_1d", "raw/coinbase__spot_candles_1d", "raw/mempool__hashrate",
        "raw/blockchain_com__hash_rate", "raw/blockchain_com__miners_revenue",
        "staging/stg_binance__spot_klines_1d", "staging/stg_coinbase__spot_candles_1d",
        "staging/stg_mempool__hashrate", "staging/stg_mempool__blocks",
        "staging/stg_blockchain_com__hash_rate", "staging/stg_blockchain_com__miners_revenue",
        "staging/mining_fleet_profiles", "staging/price_levels", "marts/fct_price_level_events",
        "marts/fct_spot_ohlcv_daily", "marts/fct_btc_price_daily", "marts/fct_hashrate_daily",
        "marts/fct_pool_share_daily", "marts/fct_miner_revenue_daily", "marts/fct_hashprice_daily",
        "marts/fct_miner_breakeven_daily",
    )
)


# dbt's default ("eager") would also run a test of a selected model that reads an unselected one (the dashboard
# mart's relationship to the price mart): "buildable" keeps the tests whose every parent is built or upstream.
INDIRECT_SELECTION_ENV = "DBT_INDIRECT_SELECTION"


def hashprice_job(settings: Settings, also: Iterable[dg.AssetKey] = ()) -> dg.JobDefinition:
    """Every asset's job cut to the lineage (and `also`: e.g. raw/mempool__blocks for days whose blocks are wanted)."""
    from pipelines.runner import range_job

    return range_job(settings).get_subset(asset_selection={*HASHPRICE_LINEAGE, *also})


@contextlib.contextmanager
def buildable_tests_only() -> Iterator[None]:
    """DBT_INDIRECT_SELECTION=buildable for the dbt processes started inside (they inherit our environment),
    restored after: a later full run in the same process keeps dbt's default."""
    before = os.environ.get(INDIRECT_SELECTION_ENV)
    os.environ[INDIRECT_SELECTION_ENV] = "buildable"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(INDIRECT_SELECTION_ENV, None)
        else:
            os.environ[INDIRECT_SELECTION_ENV] = before


def materialize_hashprice_history(
    settings: Settings, first: dt.date, last: dt.date, instance: dg.DagsterInstance,
    also: Iterable[dg.AssetKey] = (), log_level: str = "INFO",
) -> dg.ExecuteInProcessResult:
    """The lineage (and `also`) for first..last in one run, as `make backfill` runs every asset."""
    from pipelines.runner import materialize_range

    job = hashprice_job(settings, also)
    with buildable_tests_only():
        return materialize_range(settings, first, last, instance, log_level=log_level, job=job)


def main(argv: list[str] | None = None) -> int:
    answer_stop_signals()
    parser = argparse.ArgumentParser(prog="python -m pipelines.hashprice_history", description=__doc__)
    parser.add_argument("start", type=dt.date.fromisoformat)
    parser.add_argument("end", type=dt.date.fromisoformat)
    args = parser.parse_args(argv)
    from pipelines.cli import sole_writer
    from pipelines.runner import RangeError, validate_range
    from pipelines.runs.instance import open_instance
    from pipelines.runs.writer_lock import WarehouseBusyError

    try:
        settings = Settings.from_env()
        validate_range(settings, args.start, args.end, settings.now().date())
    except (SettingsError, RangeError) as error:
        print(f"hashprice_history: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        with sole_writer(settings, f"hashprice_history {args.start} {args.end}"), open_instance() as instance:
            result = materialize_hashprice_history(settings, args.start, args.end, instance, log_level="WARNING")
    except WarehouseBusyError as error:
        print(f"hashprice_history: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    failed = [e.message for e in result.all_events if e.is_failure]
    checks = result.get_asset_check_evaluations()
    bad = [f"{e.asset_key.to_user_string()} › {e.check_name} ({e.severity.value.lower()})"
           for e in checks if not e.passed]
    print(f"hashprice_history {args.start} … {args.end}: {'succeeded' if result.success else 'FAILED'} in "
          f"{seconds:.0f} s; {len(checks)} checks, {len(bad)} failed" + (f": {', '.join(bad)}" if bad else ""))
    for message in failed:
        print(message, file=sys.stderr)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
