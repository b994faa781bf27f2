"""`python -m pipelines.hashprice_history START END`: the hashprice's lineage alone, for a long history in one run.

The hashprice back through a halving needs years of days, and a full backfill builds everything for each of them
(the option chains, gamma and the blocks walk: ~2.7 s a day). The blockchain.com charts give the hashprice at two
requests a year, so this materialises only what fct_hashprice_daily and fct_miner_breakeven_daily read: the price
(Binance and Coinbase daily candles, range requests), mempool.space's daily hash rate, blockchain.com's hash rate and
miners' revenue, their staging views, the fleet seed and the mining marts, every check of those assets included.
mempool.space's blocks are not walked (~10 requests a day live): days without them take blockchain.com's hashprice,
and a later full run of some days (make backfill) fills their blocks route, which the marts then prefer. Honours the
BTCW_* settings like make backfill (BTCW_START_DATE must reach START), and holds the same writer lock.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

import dagster as dg

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
        "marts/fct_pool_share_daily", "marts/fct_miner_revenue_daily", "marts/fct_hashprice_daily", "marts/fct_miner_breakeven_daily",
    )
)


# dbt's default ("eager") would also run a test of a selected model that reads an unselected one (the dashboard
# mart's relationship to the price mart): "buildable" keeps the tests whose every parent is built or upstream.
INDIRECT_SELECTION_ENV = "DBT_INDIRECT_SELECTION"


def hashprice_job(settings: Settings) -> dg.JobDefinition:
    import os

    from pipelines.runner import range_job

    os.environ[INDIRECT_SELECTION_ENV] = "buildable"  # read by the dbt process the run starts

    return range_job(settings).get_subset(asset_selection=set(HASHPRICE_LINEAGE))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.hashprice_history", description=__doc__)
    parser.add_argument("start", type=dt.date.fromisoformat)
    parser.add_argument("end", type=dt.date.fromisoformat)
    args = parser.parse_args(argv)
    from pipelines.cli import sole_writer
    from pipelines.runner import RangeError, materialize_range, validate_range
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
            result = materialize_range(settings, args.start, args.end, instance, log_level="WARNING",
                                       job=hashprice_job(settings))
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
