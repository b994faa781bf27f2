"""Liquidation orders: what the demo stream emitted for the soaked days against what reached the warehouse.

The demo endpoint (pipelines.demo.endpoints_okx) serves `DerivativesModel.liquidation_events(day)`, the same model
instance the server answers from, so "emitted" is exactly the stream a poller could have seen. An order is matched
by (ts in ms, side, size in contracts): the demo keeps ts unique per event, so a match is that order and no other.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.demo.derivatives import DerivativesModel

RAW_TABLE = "okx__liquidation_orders"
MART = "fct_liquidations_daily"

Order = tuple[int, str, float]  # (ts ms, order side, contracts)


@dataclass(frozen=True)
class DayLedger:
    day: dt.date
    emitted: int
    loaded: int  # rows in raw for the day
    missing: int  # emitted, not in raw
    extra: int  # in raw, never emitted
    duplicated: int  # raw rows beyond the first of the same order
    mart_orders: int | None  # marts.fct_liquidations_daily.orders for okx (None: no row)

    @property
    def exact(self) -> bool:
        # A day without a liquidation has no mart row at all.
        return self.missing == self.extra == self.duplicated == 0 and (self.mart_orders or 0) == self.emitted


@dataclass(frozen=True)
class LiquidationLedger:
    days: tuple[DayLedger, ...]

    def total(self, field: str) -> int:
        return sum(getattr(d, field) or 0 for d in self.days)

    @property
    def exact(self) -> bool:
        """Every emitted order in raw exactly once, nothing else, and the mart counting the same."""
        return all(d.exact for d in self.days)

    def lines(self) -> list[str]:
        head = (f"liquidation orders (okx BTC-USDT-SWAP), {len(self.days)} days: emitted {self.total('emitted')}, "
                f"in raw.{RAW_TABLE} {self.total('loaded')} (missing {self.total('missing')}, extra "
                f"{self.total('extra')}, duplicated {self.total('duplicated')}), in marts.{MART} "
                f"{self.total('mart_orders')} -> {'exactly once' if self.exact else 'MISMATCH'}")
        off = [f"  {d.day}: emitted {d.emitted}, raw {d.loaded} (missing {d.missing}, extra {d.extra}, duplicated "
               f"{d.duplicated}), mart {d.mart_orders}" for d in self.days if not d.exact]
        return [head, *off]


def emitted_orders(model: DerivativesModel, day: dt.date) -> list[Order]:
    events = model.liquidation_events(day)
    return [(int(ts), "sell" if sell else "buy", round(float(size), 2))
            for ts, sell, size in zip(events.ts, events.sell, events.contracts, strict=True)]


def liquidation_ledger(model: DerivativesModel, days: list[dt.date], duckdb_path: Path) -> LiquidationLedger:
    first, last = min(days), max(days)
    with duckdb.connect(str(duckdb_path), read_only=True) as conn:
        raw = _rows(conn, f"""
            SELECT partition_date, epoch_ms(ts), side, round(size_contracts, 2) FROM raw."{RAW_TABLE}"
            WHERE partition_date BETWEEN ? AND ?""", [first, last])
        mart = dict(_rows(conn, f"""
            SELECT date, orders FROM marts."{MART}" WHERE exchange = 'okx' AND date BETWEEN ? AND ?""", [first, last]))
    loaded: dict[dt.date, Counter[Order]] = {}
    for day, ts, side, size in raw:
        loaded.setdefault(day, Counter())[(int(ts), side, float(size))] += 1
    ledgers = []
    for day in days:
        emitted = set(emitted_orders(model, day))  # unique: the demo keeps one event per ms
        got = loaded.get(day, Counter())
        ledgers.append(DayLedger(
            day=day,
            emitted=len(emitted),
            loaded=sum(got.values()),
            missing=len(emitted - got.keys()),
            extra=len(got.keys() - emitted),
            duplicated=sum(n - 1 for n in got.values()),
            mart_orders=mart.get(day),
        ))
    return LiquidationLedger(tuple(ledgers))


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[tuple]:
    """The query's rows, or none when the table does not exist yet (no night loaded it)."""
    try:
        return conn.execute(sql, params).fetchall()
    except duckdb.CatalogException:
        return []
