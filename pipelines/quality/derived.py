"""Derived `_q_*` columns the quality rules read: computed on Arrow rows, never stored in the warehouse."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.quality import rules as q
from pipelines.sources import deribit
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec

_SECONDS_PER_DAY = 86_400
_HASHES_PER_DIFFICULTY_PER_SECOND = 2**32 / 600
# BTC-27DEC24-100000-C, ETH-27DEC24-3000-C: expiry day, month, year and strike (expiry is 08:00 UTC). Which
# currency a row must be is the rules' business (base_currency), not this parse's.
_OPTION_NAME = re.compile(r"^[A-Z]+-(\d{1,2})([A-Z]{3})(\d{2})-(\d+)-[CP]$")
_CHAIN_TABLES = tuple(spec.raw_table for spec in deribit.DATASETS)  # the BTC and ETH chains
_MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}


def with_derived_columns(spec: DatasetSpec, table: pa.Table) -> pa.Table:
    """`table` plus the derived columns its dataset's rules need."""
    columns = {q.NONFINITE: nonfinite_count(table), q.EVENT_OFFSET: event_offset_seconds(spec, table)}
    names = set(table.schema.names)
    if {"open", "close"} <= names:
        columns[q.MAX_OPEN_CLOSE] = pc.max_element_wise(table["open"], table["close"])
        columns[q.MIN_OPEN_CLOSE] = pc.min_element_wise(table["open"], table["close"])
    if spec.raw_table in _CHAIN_TABLES:
        strikes, expiries = _strike_and_expiry_from_names(table["instrument_name"].to_pylist())
        columns[q.STRIKE_OFF_GRID] = _off_grid(pa.array(strikes, pa.float64()))
        columns[q.DAYS_TO_EXPIRY] = _days_between(table["creation_time"], pa.array(expiries, pa.timestamp("us")))
    if spec.raw_table == "deribit__option_instruments":
        columns[q.STRIKE_OFF_GRID] = _off_grid(table["strike"])
    if spec.raw_table == "mempool__hashrate":
        implied = pc.multiply(table["difficulty"], _HASHES_PER_DIFFICULTY_PER_SECOND)
        columns[q.HASHRATE_VS_DIFFICULTY] = pc.divide(table["avg_hashrate_hs"], implied)
    if {"long_account", "short_account"} <= names:
        columns[q.ACCOUNT_SHARE_SUM] = pc.add(table["long_account"], table["short_account"])
    if spec.raw_table == "mempool__blocks":
        paid_out = pc.add(table["subsidy_sats"], table["total_fees_sats"])
        columns[q.REWARD_GAP] = pc.subtract(table["reward_sats"], paid_out)
    for name, values in columns.items():
        table = table.append_column(name, values)
    return table


def nonfinite_count(table: pa.Table) -> pa.Array:
    """Per row, how many float columns hold NaN or ±Infinity (JSON parsers accept both; nulls are not counted)."""
    counts = np.zeros(table.num_rows, dtype=np.int64)
    for name, column in zip(table.schema.names, table.columns):
        if pa.types.is_floating(column.type):
            finite = pc.fill_null(pc.is_finite(column), True)
            counts += ~np.asarray(finite.to_numpy(zero_copy_only=False), dtype=bool)
    return pa.array(counts)


def event_offset_seconds(spec: DatasetSpec, table: pa.Table) -> pa.Array:
    """Seconds from the partition day's 00:00 UTC to the row's event time: [0, 86400) inside the day.
    Null for snapshot datasets, which have no event time of their own."""
    if not spec.event_time_column:
        return pa.nulls(table.num_rows, pa.float64())
    event_us = table[spec.event_time_column].cast(pa.int64()).to_numpy(zero_copy_only=False)
    day_start = table[PARTITION_COLUMN].cast(pa.timestamp("us")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    return pa.array((event_us - day_start) / 1e6)


def _off_grid(strikes: pa.Array | pa.ChunkedArray) -> pa.Array:
    values = np.asarray(pc.fill_null(strikes, np.nan).to_numpy(zero_copy_only=False), dtype=float)
    return pa.array(np.remainder(values, q.DERIBIT_STRIKE_GRID_USD), from_pandas=True)


def _days_between(start: pa.ChunkedArray, end: pa.Array) -> pa.Array:
    start_us = start.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(float)
    end_us = np.asarray(pc.fill_null(end.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), dtype=float)
    days = (end_us - start_us) / (_SECONDS_PER_DAY * 1e6)
    return pa.array(np.where(end.is_null().to_numpy(zero_copy_only=False), np.nan, days), from_pandas=True)


def _strike_and_expiry_from_names(names: list[str | None]) -> tuple[list[float | None], list[dt.datetime | None]]:
    """A name that does not parse gets nulls here; such a row is refused by the parser before it gets here."""
    strikes: list[float | None] = []
    expiries: list[dt.datetime | None] = []
    for name in names:
        match = _OPTION_NAME.fullmatch(name or "")
        month = _MONTHS.get(match.group(2)) if match else None
        if not match or month is None:
            strikes.append(None)
            expiries.append(None)
            continue
        day, _, year, strike = match.groups()
        strikes.append(float(strike))
        try:
            expiries.append(dt.datetime(2000 + int(year), month, int(day), 8))
        except ValueError:  # 31FEB: not a date
            expiries.append(None)
    return strikes, expiries
