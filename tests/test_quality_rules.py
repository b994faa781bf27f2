"""The declared quality rules, their Great Expectations suites and the derived columns they read."""

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from pipelines.checks.raw_checks import raw_expectations, raw_volume_in_band
from pipelines.ingest.raw_loader import ensure_raw_table
from pipelines.quality import rules as q
from pipelines.quality.derived import with_derived_columns
from pipelines.quality.suites import row_expectations
from pipelines.quality.validation import validate_rows
from pipelines.sources.registry import DATASETS, get_dataset

DAY = dt.date(2025, 11, 20)


def test_every_dataset_declares_rules_on_its_own_columns():
    derived = {v for k, v in vars(q).items() if k.isupper() and isinstance(v, str) and v.startswith("_q_")}
    for spec in DATASETS:
        for rule in q.rules_for(spec).rules:
            columns = [rule.column] + ([rule.other] if isinstance(rule, q.NotBelow) else [])
            for column in columns:
                assert column in spec.raw_schema.names or column in derived, (spec.name, column)


def test_an_undeclared_dataset_is_an_error_not_a_free_pass():
    spec = get_dataset("binance", "spot_klines_1d")
    with pytest.MonkeyPatch.context() as mp:
        mp.delitem(q.RULES, spec.raw_table)
        with pytest.raises(KeyError, match="no quality rules declared"):
            q.rules_for(spec)


def kline(**changes) -> dict:
    row = dict(partition_date=DAY, open_time=dt.datetime(2025, 11, 20), close_time=dt.datetime(2025, 11, 20, 23, 59),
               open=100.0, high=110.0, low=90.0, close=105.0, volume_btc=1.0, quote_volume_usdt=100.0, trades=3,
               taker_buy_base_btc=0.5, taker_buy_quote_usdt=50.0)
    return {**row, **changes}


def reasons_for(spec, rows: list[dict]) -> dict[int, list[str]]:
    table = pa.Table.from_pylist(rows, schema=spec.raw_schema)
    return validate_rows("t", row_expectations(spec), with_derived_columns(spec, table)).row_reasons


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"high": 104.0}, "high ≥ max(open, close)"),
        ({"low": 101.0}, "min(open, close) ≥ low"),
        ({"close": 0.0, "low": 0.0}, "prices are positive"),
        ({"volume_btc": float("nan")}, "numbers are finite"),
        ({"open_time": dt.datetime(2025, 11, 21)}, "open_time inside the partition's UTC day"),
        # microseconds read as milliseconds: a timestamp 1000× too far from the epoch
        ({"open_time": dt.datetime(2025, 11, 20) + dt.timedelta(days=365 * 50)}, "inside the partition's UTC day"),
    ],
)
def test_kline_rules_name_the_broken_rule(changes, reason):
    spec = get_dataset("binance", "spot_klines_1d")
    found = reasons_for(spec, [kline(**changes)])
    assert list(found) == [0] and any(reason in r for r in found[0])


def test_a_good_kline_passes():
    assert reasons_for(get_dataset("binance", "spot_klines_1d"), [kline()]) == {}


def open_interest_day(**changes) -> dict:
    row = dict(partition_date=DAY, start_time=dt.datetime(2025, 11, 20), end_time=dt.datetime(2025, 11, 21),
               open_interest_start_btc=80_346.1, open_interest_end_btc=79_160.2,
               open_interest_start_usd=7.394e9, open_interest_end_usd=7.114e9)
    return {**row, **changes}


@pytest.mark.parametrize("name", ["binance/open_interest_day", "okx/open_interest_day", "bybit/open_interest_day"])
@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, None),
        # USD written into the BTC column: billions of "BTC" on one contract
        ({"open_interest_end_btc": 7.114e9}, "open interest in [0, 2,000,000] BTC"),
        ({"open_interest_start_btc": -1.0}, "open interest in [0, 2,000,000] BTC"),
        ({"open_interest_end_usd": -5.0}, "open interest is not negative"),
        ({"end_time": dt.datetime(2025, 11, 20, 12)}, None),  # the end instant is not the event time
        ({"start_time": dt.datetime(2025, 11, 21)}, "start_time inside the partition's UTC day"),
    ],
)
def test_open_interest_day_rules(name, changes, reason):
    spec = get_dataset(*name.split("/"))
    row = {k: v for k, v in open_interest_day(**changes).items() if k in spec.raw_schema.names}
    if name.startswith("bybit") and "open_interest_end_usd" in changes:
        reason = None  # Bybit has no USD columns
    found = reasons_for(spec, [row])
    if reason is None:
        assert found == {}
    else:
        assert list(found) == [0] and any(reason in r for r in found[0]), found


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, None),
        ({"buy_sell_ratio": 98.57}, "taker buys within 5x of sells"),  # a percentage
        ({"sell_volume_btc": -1.0}, "volume is not negative"),
    ],
)
def test_taker_volume_rules(changes, reason):
    row = {"partition_date": DAY, "timestamp": dt.datetime(2025, 11, 20), "buy_volume_btc": 58_307.2,
           "sell_volume_btc": 59_152.9, "buy_sell_ratio": 0.9857, **changes}
    found = reasons_for(get_dataset("binance", "taker_volume"), [row])
    if reason is None:
        assert found == {}
    else:
        assert list(found) == [0] and any(reason in r for r in found[0]), found


def test_position_ratio_shares_add_up_to_one():
    row = {"partition_date": DAY, "timestamp": dt.datetime(2025, 11, 20), "long_short_ratio": 1.13,
           "long_account": 0.5312, "short_account": 0.6}
    found = reasons_for(get_dataset("binance", "top_trader_position_ratio"), [row])
    assert list(found) == [0] and any("long and short shares add up to 1" in r for r in found[0])


def option(name="BTC-28NOV25-90000-C", **changes) -> dict:
    row = dict(partition_date=DAY, instrument_name=name, creation_time=dt.datetime(2025, 11, 21, 0, 30),
               base_currency="BTC", quote_currency="BTC", underlying_index="BTC-28NOV25", underlying_price=90_000.0,
               estimated_delivery_price=90_000.0, interest_rate=0.0, open_interest=10.0, volume=1.0, mark_price=0.01,
               mark_iv=50.0, bid_price=0.009, ask_price=0.011, mid_price=0.01, last=0.01, high=0.02, low=0.005,
               price_change=1.0)
    return {**row, **changes}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (option(mark_iv=0.0), "mark IV in (0, 500]%"),
        (option(mark_iv=10_000.0), "mark IV in (0, 500]%"),
        (option(open_interest=-1.0), "open interest is not negative"),
        (option("BTC-28NOV25-90100-C"), "strikes on Deribit's $125 grid"),
        (option("BTC-20NOV25-90000-C"), "a listed option has not expired"),
        (option("ETH-28NOV25-3000-C", base_currency="ETH"), "the BTC option chain"),
    ],
)
def test_option_rules(row, reason):
    found = reasons_for(get_dataset("deribit", "option_book_summary"), [option("BTC-5DEC25-80000-P"), row])
    assert list(found) == [1] and any(reason in r for r in found[1])


def dvol(**changes) -> dict:
    row = dict(partition_date=DAY, currency="ETH", candle_time=dt.datetime(2025, 11, 20), open=55.87, high=56.14,
               low=52.38, close=53.88)
    return {**row, **changes}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"open": 0.5587, "high": 0.5614, "low": 0.5238, "close": 0.5388}, "a volatility index in (5, 500) percent"),
        ({"high": 5000.0}, "a volatility index in (5, 500) percent"),
        ({"high": 54.0}, "high ≥ max(open, close)"),
        ({"low": 54.0}, "min(open, close) ≥ low"),
        ({"currency": "BTC"}, "the ETH index"),
        ({"candle_time": dt.datetime(2025, 11, 21)}, "candle_time inside the partition's UTC day"),
        ({"close": float("nan")}, "numbers are finite"),
    ],
)
def test_dvol_rules_name_the_broken_rule(changes, reason):
    yesterday = dvol(partition_date=DAY - dt.timedelta(days=1), candle_time=dt.datetime(2025, 11, 19))
    found = reasons_for(get_dataset("deribit", "eth_dvol"), [yesterday, dvol(**changes)])
    assert list(found) == [1] and any(reason in r for r in found[1])


def test_dvol_is_one_row_per_day():
    spec = get_dataset("deribit", "btc_dvol")
    assert reasons_for(spec, [dvol(currency="BTC")]) == {}
    found = reasons_for(spec, [dvol(currency="BTC"), dvol(currency="BTC", close=54.0)])
    assert list(found) == [0, 1] and all(any("one row per key ('partition_date',)" in r for r in found[i])
                                         for i in found)


def test_hashrate_band_is_relative_to_difficulty():
    spec = get_dataset("mempool", "hashrate")
    difficulty = 150e12
    implied = difficulty * 2**32 / 600
    rows = [dict(partition_date=DAY + dt.timedelta(days=i), label_time=dt.datetime(2025, 11, 20), avg_hashrate_hs=h,
                 difficulty=difficulty) for i, h in enumerate([implied * 1.1, implied / 1e6])]  # EH/s written as H/s
    found = reasons_for(spec, rows)
    assert list(found) == [1] and "hash rate within 2× of difficulty's" in found[1][0]


@pytest.mark.parametrize(
    ("usd", "reason"),
    [
        (3.8e9, "miners' revenue in a plausible USD-a-day band"),  # cents written as dollars
        (-1.0, "miners' revenue in a plausible USD-a-day band"),
        (float("nan"), "numbers are finite"),
    ],
)
def test_miners_revenue_band(usd, reason):
    spec = get_dataset("blockchain_com", "miners_revenue")
    row = dict(partition_date=DAY, point_time=dt.datetime(2025, 11, 20), revenue_usd=3.8e7)
    assert reasons_for(spec, [row]) == {}
    assert reasons_for(spec, [{**row, "revenue_usd": 0.0}]) == {}  # the chart's 0 USD before bitcoin had a price
    found = reasons_for(spec, [{**row, "revenue_usd": usd}])
    assert list(found) == [0] and any(reason in r for r in found[0]), found


def load_raw(conn, spec, rows):
    ensure_raw_table(conn, spec)
    table = pa.Table.from_pylist(rows, schema=spec.raw_schema)
    conn.register("r", table)
    conn.execute(f'INSERT INTO raw."{spec.raw_table}" SELECT *, \'landing/x\', TIMESTAMP \'2025-11-22\' FROM r')


def test_raw_expectations_report_failing_expectations_and_sample_rows():
    spec = get_dataset("binance", "spot_klines_1d")
    conn = duckdb.connect()
    load_raw(conn, spec, [kline(), kline(partition_date=DAY + dt.timedelta(days=1), open_time=dt.datetime(2025, 11, 21),
                                         high=1.0)])
    outcome = raw_expectations(conn, spec, DAY, DAY + dt.timedelta(days=2))
    assert not outcome.passed and "high ≥ max(open, close)" in outcome.description
    assert outcome.metadata["rows_checked"] == 2 and '"high": 1.0' in outcome.metadata["sample_failing_rows"][0]
    conn.execute(f'ALTER TABLE raw."{spec.raw_table}" ALTER trades TYPE DOUBLE')
    outcome = raw_expectations(conn, spec, DAY, DAY + dt.timedelta(days=1))
    assert not outcome.passed and "the declared raw column types" in outcome.description


def test_volume_anomaly_against_the_trailing_days():
    spec = get_dataset("mempool", "blocks")
    conn = duckdb.connect()
    rows, height = [], 1
    counts = [144] * 10 + [40]  # ten ordinary days, then a day with 40 blocks
    for offset, count in enumerate(counts):
        day = DAY + dt.timedelta(days=offset)
        for i in range(count):
            rows.append(dict(partition_date=day, height=height, block_hash=f"h{height}",
                             block_time=dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=i * 9), tx_count=1,
                             size_bytes=1, weight=4, difficulty=1.0, reward_sats=3, total_fees_sats=0, subsidy_sats=3,
                             pool_name="p", pool_slug="p"))
            height += 1
    load_raw(conn, spec, rows)
    ordinary = raw_volume_in_band(conn, spec, DAY, DAY + dt.timedelta(days=10))
    assert ordinary.passed
    odd = raw_volume_in_band(conn, spec, DAY, DAY + dt.timedelta(days=11))
    assert not odd.passed and "2025-11-30: 40 rows vs median 144" in odd.description
    liquidations = raw_volume_in_band(conn, get_dataset("okx", "liquidation_orders"), DAY, DAY)
    assert liquidations.passed and "row count is the signal" in liquidations.description
