"""The market note's figures: every number the note states comes from one of these queries on `marts`, and each
query the note ran is listed at its end, as it ran (its parameters written in), so a reader can rerun it on the
serving copy and get the same figures.

A `Ledger` runs the queries of one day and keeps them in order, each with its rows as dicts. A question that
cannot be asked (its table is not in the warehouse, or lacks a column: marts older than the note) gives None: the
note leaves its sentence out and says why.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import duckdb

from pipelines.reporting.day_data import table_exists

# How far back the comparisons reach: the liquidation and funding baselines (30 days), the price's recent high
# (60 days, as the report's price picture), the week-earlier comparisons (7 days).
BASELINE_DAYS = 30
PRICE_HIGH_DAYS = 60
WEEK_DAYS = 7


@dataclass(frozen=True)
class Query:
    number: int  # Q<number> in the note
    purpose: str  # what it asks, in words
    sql: str  # as run, with ? placeholders
    params: tuple
    rows: tuple[dict, ...]  # every row it returned, in its order

    @property
    def row(self) -> dict | None:
        """Its first row (None: no row); most queries ask for one."""
        return self.rows[0] if self.rows else None

    def sql_as_run(self) -> str:
        """The SQL with its parameters written in as literals, to be pasted into a DuckDB shell."""
        parts = self.sql.split("?")
        if len(parts) != len(self.params) + 1:
            raise ValueError(f"Q{self.number}: {len(parts) - 1} placeholders for {len(self.params)} parameters")
        out = [parts[0]]
        for value, rest in zip(self.params, parts[1:], strict=True):
            out.extend([sql_literal(value), rest])
        return " ".join("".join(out).split())


def sql_literal(value: object) -> str:
    if isinstance(value, dt.date):
        return f"date '{value.isoformat()}'"
    if isinstance(value, bool) or value is None:
        raise TypeError(f"no literal for {value!r}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"no literal for {value!r}")
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class Ledger:
    """Runs the day's queries on a read-only connection and keeps each one, numbered in the order asked."""

    conn: duckdb.DuckDBPyConnection
    day: dt.date
    queries: list[Query] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)  # why a question could not be asked, once each

    def _cannot(self, reason: str) -> None:
        if reason not in self.unanswered:
            self.unanswered.append(reason)

    def has(self, *tables: str) -> bool:
        absent = [t for t in tables if not table_exists(self.conn, "marts", t)]
        for table in absent:
            self._cannot(f"marts.{table} is not in this warehouse")
        return not absent

    def ask(self, purpose: str, sql: str, *params: object, tables: tuple[str, ...]) -> Query | None:
        """Run `sql` (its tables named in `tables`, checked first) and record it; None (and why, in `unanswered`)
        if a table is absent or lacks a column it reads."""
        if not self.has(*tables):
            return None
        for earlier in self.queries:  # asked before (two sections use the same figures): one query, one number
            if earlier.sql == sql and earlier.params == params:
                return earlier
        try:
            result = self.conn.execute(sql, list(params))
        except duckdb.BinderException as error:  # a warehouse whose marts predate a column the note reads
            self._cannot(f"{purpose}: {str(error).splitlines()[0]}")
            return None
        names = [d[0] for d in result.description]
        rows = tuple(dict(zip(names, row, strict=True)) for row in result.fetchall())
        query = Query(len(self.queries) + 1, purpose, sql, tuple(params), rows)
        self.queries.append(query)
        return query


def price(ledger: Ledger) -> Query | None:
    day = ledger.day
    return ledger.ask(
        "the day's consolidated close, its range, the close before, and the window's highest close",
        "select d.close, d.low, d.high, "
        "(select p.close from marts.fct_btc_price_daily p where p.date = d.date - 1) as previous_close, "
        "(select p.close from marts.fct_btc_price_daily p where p.date = d.date - ?) as week_ago_close, "
        "(select max(p.close) from marts.fct_btc_price_daily p where p.date between d.date - ? and d.date) "
        "as high_close, "
        "(select min(p.date) from marts.fct_btc_price_daily p where p.date between d.date - ? and d.date and "
        "p.close = (select max(q.close) from marts.fct_btc_price_daily q where q.date between d.date - ? and d.date)) "
        "as high_close_date "
        "from marts.fct_btc_price_daily d where d.date = ?",
        WEEK_DAYS, PRICE_HIGH_DAYS - 1, PRICE_HIGH_DAYS - 1, PRICE_HIGH_DAYS - 1, day,
        tables=("fct_btc_price_daily",),
    )


def level_events(ledger: Ledger) -> Query | None:
    return ledger.ask(
        "the configured levels the close crossed on the day (from the close before)",
        "select string_agg(direction || ' ' || level_usd, ', ' order by level_usd desc) as events, count(*) as n "
        "from marts.fct_price_level_events where date = ?",
        ledger.day, tables=("fct_price_level_events",),
    )


def last_level_crossing(ledger: Ledger, level_usd: int, direction: str) -> Query | None:
    """When the close last crossed `level_usd` the other way: how long it had held on that side."""
    return ledger.ask(
        f"the last crossing of ${level_usd:,} the other way before the day",
        "select max(date) as date from marts.fct_price_level_events "
        "where level_usd = ? and direction <> ? and date < ?",
        level_usd, direction, ledger.day, tables=("fct_price_level_events",),
    )


def liquidations(ledger: Ledger) -> Query | None:
    return ledger.ask(
        f"liquidations on all three exchanges on the day, and against the {BASELINE_DAYS} days before",
        "select d.total_liquidated_usd, d.long_liquidated_usd, d.short_liquidated_usd, d.long_share_pct, "
        "(select median(b.total_liquidated_usd) from marts.fct_liquidations_daily b "
        " where b.exchange = 'all' and b.date between d.date - ? and d.date - 1) as baseline_median_usd, "
        "(select count(*) from marts.fct_liquidations_daily b "
        " where b.exchange = 'all' and b.date between d.date - ? and d.date - 1) as baseline_days, "
        "(select count(*) from marts.fct_liquidations_daily b where b.exchange = 'all' "
        " and b.date between d.date - ? and d.date - 1 and b.total_liquidated_usd > d.total_liquidated_usd) "
        "as larger_days "
        "from marts.fct_liquidations_daily d where d.exchange = 'all' and d.date = ?",
        BASELINE_DAYS, BASELINE_DAYS, BASELINE_DAYS, ledger.day, tables=("fct_liquidations_daily",),
    )


def funding_and_ratios(ledger: Ledger) -> Query | None:
    return ledger.ask(
        "Binance: the day's funding, the top traders' and all accounts' long/short ratios, and the day before's",
        "select d.funding_rate_daily, d.top_trader_long_short_ratio, d.global_long_short_ratio, "
        "p.funding_rate_daily as previous_funding_rate_daily, "
        "p.top_trader_long_short_ratio as previous_top_trader_long_short_ratio, "
        "p.global_long_short_ratio as previous_global_long_short_ratio "
        "from marts.fct_derivatives_daily d "
        "left join marts.fct_derivatives_daily p on p.exchange = d.exchange and p.date = d.date - 1 "
        "where d.exchange = 'binance' and d.date = ?",
        ledger.day, tables=("fct_derivatives_daily",),
    )


def open_interest(ledger: Ledger) -> Query | None:
    return ledger.ask(
        "Bybit's BTCUSDT open interest at the day's end and its change over the day",
        "select open_interest_btc, open_interest_change_btc, open_interest_change_pct "
        "from marts.fct_derivatives_daily where exchange = 'bybit' and date = ?",
        ledger.day, tables=("fct_derivatives_daily",),
    )


def hashrate(ledger: Ledger) -> Query | None:
    return ledger.ask(
        "the 7-day average hash rate, its 52-week peak and the drawdown from it",
        "select hashrate_7d_avg_ehs, peak_7d_avg_ehs, peak_date, drawdown_from_peak_pct "
        "from marts.fct_hashrate_daily where date = ?",
        ledger.day, tables=("fct_hashrate_daily",),
    )


def hashrate_last_on_other_side(ledger: Ledger, threshold_ehs: float, below: bool) -> Query | None:
    """The last day before this one whose 7-day average was on the other side of `threshold_ehs`."""
    comparison = ">=" if below else "<"
    return ledger.ask(
        f"the last day the 7-day average was {'at or above' if below else 'below'} {threshold_ehs:,.0f} EH/s",
        f"select max(date) as date from marts.fct_hashrate_daily where date < ? and hashrate_7d_avg_ehs {comparison} ?",
        ledger.day, threshold_ehs, tables=("fct_hashrate_daily",),
    )


def hashprice(ledger: Ledger) -> Query | None:
    return ledger.ask(
        f"hashprice on the day and {BASELINE_DAYS} days before, and the fees' share of revenue",
        "select d.hashprice_usd_per_ph_day, d.fee_share_pct, d.revenue_usd, "
        "p.hashprice_usd_per_ph_day as month_ago_hashprice_usd_per_ph_day "
        "from marts.fct_miner_revenue_daily d "
        "left join marts.fct_miner_revenue_daily p on p.date = d.date - ? where d.date = ?",
        BASELINE_DAYS, ledger.day, tables=("fct_miner_revenue_daily",),
    )


def gamma(ledger: Ledger) -> Query | None:
    return ledger.ask(
        "BTC dealer gamma: spot, total net GEX, the zero-gamma level, the walls and the regime",
        "select spot_usd, total_net_gex_usd, zero_gamma_usd, call_wall_usd, put_wall_usd, regime "
        "from marts.fct_gamma_summary_daily where currency = 'BTC' and snapshot_date = ?",
        ledger.day, tables=("fct_gamma_summary_daily",),
    )


def gamma_previous_flip(ledger: Ledger) -> Query | None:
    return ledger.ask(
        "the zero-gamma level and spot the day before",
        "select zero_gamma_usd, spot_usd from marts.fct_gamma_summary_daily "
        "where currency = 'BTC' and snapshot_date = ?",
        ledger.day - dt.timedelta(days=1), tables=("fct_gamma_summary_daily",),
    )


def gamma_short_band_below(ledger: Ledger, below_usd: float) -> Query | None:
    """The short-gamma band of the profile that starts at or below `below_usd` (the acceleration zone)."""
    return ledger.ask(
        "the short-gamma band of the profile below the zero-gamma level",
        "select low_usd, high_usd from marts.fct_gamma_regime_bands "
        "where currency = 'BTC' and snapshot_date = ? and regime = 'short_gamma' and low_usd < ? "
        "order by high_usd desc limit 1",
        ledger.day, below_usd, tables=("fct_gamma_regime_bands",),
    )


def prediction(ledger: Ledger) -> Query | None:
    return ledger.ask(
        "the headline prediction market's YES probability on the day and a week before",
        "select d.question, d.yes_probability, "
        "(select w.yes_probability from marts.fct_prediction_market_daily w "
        " where w.market_id = d.market_id and w.date = d.date - ?) as week_ago_yes_probability "
        "from marts.fct_prediction_market_daily d where d.is_headline and d.date = ? order by d.market_id limit 1",
        WEEK_DAYS, ledger.day, tables=("fct_prediction_market_daily",),
    )


def recent_levels(ledger: Ledger) -> Query | None:
    return ledger.ask(
        f"the configured levels the close crossed in the last {PRICE_HIGH_DAYS} days",
        "select distinct level_usd from marts.fct_price_level_events where date between ? and ? order by level_usd",
        ledger.day - dt.timedelta(days=PRICE_HIGH_DAYS - 1), ledger.day, tables=("fct_price_level_events",),
    )
