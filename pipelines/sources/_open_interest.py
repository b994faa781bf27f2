"""What the open-interest-of-the-day datasets share (Binance openInterestHist, Bybit, OKX rubik): the raw schema of a
day's start and end values in BTC and USD, the check of one value pair, the day's two instants and its raw row.

A day's open interest is a stock sampled at two instants: 00:00 UTC of the day (its start) and 00:00 UTC of the
next day (its end). Both are read from the ONE body fetched for the day, once the day is over, so a day's change
is known from its own partition: the newest day included.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from pipelines.sources._wire import MS_PER_DAY, Failer, day_start_ms, decimal_str_float, epoch_ms, iso_ms
from pipelines.sources.spec import PARTITION_COLUMN

OPEN_INTEREST_DAY_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("start_time", pa.timestamp("us")),  # 00:00 UTC of the day
        ("end_time", pa.timestamp("us")),  # 00:00 UTC of the next day: the end of the day
        ("open_interest_start_btc", pa.float64()),
        ("open_interest_end_btc", pa.float64()),
        ("open_interest_start_usd", pa.float64()),  # the exchange's own USD value (BTC x its price at that instant)
        ("open_interest_end_usd", pa.float64()),
    ]
)
# A USD value implying a BTC price outside this band is a unit error (USD in the BTC field, contracts for coins).
OI_IMPLIED_PRICE_BAND = (100.0, 10_000_000.0)


def open_interest_values(btc_raw: object, usd_raw: object, fail: Failer, where: str, btc_name: str,
                         usd_name: str) -> tuple[float, float]:
    """(BTC, USD) of one open-interest row from its decimal strings, checked for sign and a plausible price."""
    btc = decimal_str_float(btc_raw, f"{where} {btc_name}", fail)
    usd = decimal_str_float(usd_raw, f"{where} {usd_name}", fail)
    if btc < 0 or usd < 0:
        fail.raise_(f"{where} negative open interest: {btc_name} {btc}, {usd_name} {usd}")
    if btc > 0 and not OI_IMPLIED_PRICE_BAND[0] <= usd / btc <= OI_IMPLIED_PRICE_BAND[1]:
        fail.raise_(f"{where} {usd_name} / {btc_name} = {usd / btc:.2f} USD per BTC is not a BTC price "
                    f"({usd_name} {usd}, {btc_name} {btc})")
    return btc, usd


def day_instants_once_over(day: dt.date, fetched_at: dt.datetime, fail: Failer) -> tuple[int, int]:
    """(00:00 UTC of `day`, 00:00 UTC of the next day) in epoch ms; refuses a body fetched before the day was over
    (its end-of-day value cannot be in it)."""
    start_ms = day_start_ms(day)
    end_ms = start_ms + MS_PER_DAY
    if epoch_ms(fetched_at) < end_ms:
        fail.raise_(f"the day is not over: fetched_at {iso_ms(epoch_ms(fetched_at))} is before {iso_ms(end_ms)}, "
                    "the end-of-day value")
    return start_ms, end_ms


def day_row(day: dt.date, start_ms: int, end_ms: int, btc: tuple[float, float], usd: tuple[float, float] | None = None,
            schema: pa.Schema = OPEN_INTEREST_DAY_SCHEMA) -> pa.Table:
    """The day's raw row: its two instants and the (start, end) values, BTC and (where the venue sends it) USD."""
    columns = {PARTITION_COLUMN: [day], "start_time": [start_ms * 1000], "end_time": [end_ms * 1000],
               "open_interest_start_btc": [btc[0]], "open_interest_end_btc": [btc[1]]}
    if usd is not None:
        columns |= {"open_interest_start_usd": [usd[0]], "open_interest_end_usd": [usd[1]]}
    return pa.Table.from_pydict(columns, schema=schema)
