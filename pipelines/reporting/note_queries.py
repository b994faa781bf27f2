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
        "BTC perpetuals' open interest at the day's end on every exchange that has it, in USD, and its change over "
        "the day",
        "select count(*) as venues, string_agg(exchange, ', ' order by exchange) as exchanges, "
        "sum(open_interest_usd) as open_interest_usd, sum(open_interest_btc) as open_interest_btc, "
        "count(open_interest_change_usd) as venues_with_change, "
        "sum(open_interest_change_usd) as open_interest_change_usd, "
        "sum(open_interest_start_usd) as open_interest_start_usd "
        "from marts.fct_derivatives_daily where date = ? and open_interest_usd is not null",
        ledger.day, tables=("fct_derivatives_daily",),
    )


def taker_flow_and_positions(ledger: Ledger) -> Query | None:
    return ledger.ask(
        "Binance: the day's taker buys and sells, and the top traders' long/short position ratio",
        "select taker_buy_volume_btc, taker_sell_volume_btc, taker_buy_sell_ratio, top_trader_position_ratio, "
        "top_trader_long_position_share "
        "from marts.fct_derivatives_daily where exchange = 'binance' and date = ?",
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


def hashprice_since_halving(ledger: Ledger) -> Query | None:
    return ledger.ask(
        "hashprice's 30-day average against the 30 days before the last halving",
        "select hashprice_30d_avg_usd_per_ph_day, days_in_30d_avg, halving_epoch, epoch_start_date, "
        "days_since_halving, pre_halving_30d_avg_usd_per_ph_day, pre_halving_days, change_vs_pre_halving_pct "
        "from marts.fct_hashprice_daily where date = ?",
        ledger.day, tables=("fct_hashprice_daily",),
    )


def breakeven(ledger: Ledger) -> Query | None:
    return ledger.ask(
        "the configured mining fleets' power cost against the day's hashprice",
        "select fleet_profile, efficiency_j_per_th, power_usd_per_kwh, breakeven_hashprice_usd_per_ph_day, "
        "hashprice_usd_per_ph_day, margin_pct "
        "from marts.fct_miner_breakeven_daily where date = ? "
        "order by breakeven_hashprice_usd_per_ph_day, fleet_profile",
        ledger.day, tables=("fct_miner_breakeven_daily",),
    )


def gamma(ledger: Ledger) -> Query | None:
    return ledger.ask(
        "BTC dealer gamma: spot, total net GEX, the zero-gamma level, the walls, the regime and the dealer convention",
        "select spot_usd, total_net_gex_usd, zero_gamma_usd, call_wall_usd, put_wall_usd, regime, dealer_convention "
        "from marts.fct_gamma_summary_daily where currency = 'BTC' and snapshot_date = ?",
        ledger.day, tables=("fct_gamma_summary_daily",),
    )


def gamma_flip_events(ledger: Ledger) -> Query | None:
    return ledger.ask(
        "the day's zero-gamma events: spot crossed the flip, the flip moved more than its threshold",
        "select event, direction, previous_spot_usd, previous_zero_gamma_usd, flip_move_pct, threshold_pct "
        "from marts.fct_gamma_flip_events where currency = 'BTC' and snapshot_date = ? order by event",
        ledger.day, tables=("fct_gamma_flip_events",),
    )


def gamma_downside(ledger: Ledger) -> Query | None:
    return ledger.ask(
        "below the zero-gamma level: the short-gamma peak, the acceleration zone, the put-OI cluster and the "
        "downside target range",
        "select short_gamma_peak_usd, short_gamma_peak_gex_usd, accel_zone_low_usd, accel_zone_high_usd, "
        "put_oi_cluster_strike_usd, put_oi_cluster_oi, target_low_usd, target_high_usd "
        "from marts.fct_gamma_downside_daily where currency = 'BTC' and snapshot_date = ?",
        ledger.day, tables=("fct_gamma_downside_daily",),
    )


def gamma_around_nearest_level(ledger: Ledger) -> Query | None:
    """Gamma within the band around the configured price level nearest spot."""
    return ledger.ask(
        "dealer gamma and open interest around the configured price level nearest spot",
        "select level_usd, band_pct, strikes_in_band, net_gex_usd, gross_gex_usd, oi_in_band, oi_in_band_usd "
        "from marts.fct_gamma_level_bands where currency = 'BTC' and snapshot_date = ? and level_kind = 'configured' "
        "order by abs(level_usd - spot_usd), level_usd limit 1",
        ledger.day, tables=("fct_gamma_level_bands",),
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
