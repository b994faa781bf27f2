"""What a valid raw row is, per dataset, as plain data.

The rules are declared once here and used twice: translated into a Great Expectations suite (quality/suites.py)
that (1) splits incoming rows into loaded and quarantined before they reach `raw`, and (2) audits the loaded
partitions afterwards as a Dagster asset check. Rules on values that are not columns of the raw table (a strike's
remainder on the exchange's grid, seconds into the partition's day) read derived `_q_*` columns computed by
quality/derived.py; they never reach the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.sources.spec import DatasetSpec


@dataclass(frozen=True)
class Between:
    """min ≤ column ≤ max (strict where said); nulls pass (null-ness is the schema's business)."""

    column: str
    min_value: float | None = None
    max_value: float | None = None
    strict_min: bool = False
    strict_max: bool = False
    why: str = ""


@dataclass(frozen=True)
class NotBelow:
    """column ≥ other column, row by row (OHLC order)."""

    column: str
    other: str
    why: str = ""


@dataclass(frozen=True)
class OneOf:
    column: str
    values: tuple[str, ...]
    why: str = ""


Rule = Between | NotBelow | OneOf

# Row counts of a day against the median of the 14 days before it: outside [low, high] × median is an anomaly.
VOLUME_TRAILING_DAYS = 14
VOLUME_MIN_HISTORY_DAYS = 7


@dataclass(frozen=True)
class VolumeBand:
    low: float = 0.5
    high: float = 2.0


@dataclass(frozen=True)
class DatasetRules:
    rules: tuple[Rule, ...] = ()
    # None: the row count is itself the signal (liquidations multiply on the days this warehouse is about).
    volume: VolumeBand | None = field(default_factory=VolumeBand)


# Derived columns (see quality/derived.py), present for every dataset.
NONFINITE = "_q_nonfinite"
EVENT_OFFSET = "_q_event_offset_s"
# Derived columns of some datasets.
MAX_OPEN_CLOSE = "_q_max_open_close"
MIN_OPEN_CLOSE = "_q_min_open_close"
STRIKE_OFF_GRID = "_q_strike_off_grid"
DAYS_TO_EXPIRY = "_q_days_to_expiry"
HASHRATE_VS_DIFFICULTY = "_q_hashrate_vs_difficulty"
ACCOUNT_SHARE_SUM = "_q_account_share_sum"
REWARD_GAP = "_q_reward_gap_sats"

# Deribit's finest BTC strike spacing: every strike of the real 2020-05-21 chain (58 strikes, $2,500–$36,000) is a
# multiple of 125; today's chains use 500 and coarser, which are multiples of it.
DERIBIT_STRIKE_GRID_USD = 125.0
# Hash rate implied by difficulty is difficulty × 2^32 / 600 s. A daily estimate more than 2× away from it means
# a unit error (TH/s for H/s) or a broken row: retargets move difficulty by at most 4× and rarely by 10%.
HASHRATE_DIFFICULTY_BAND = (0.5, 2.0)
# blockchain.com reports TH/s. The network has never exceeded 2 ZH/s; 1e10 TH/s (10 ZH/s) leaves years of room
# and still catches H/s or EH/s written into the TH/s field.
BLOCKCHAIN_COM_MAX_THS = 1e10
# blockchain.com's miners' revenue, USD a day: the highest days so far were near $100M (the April 2024 halving's
# fee rush); $1B a day leaves a tenfold margin and still catches cents written as dollars (×100) or a cumulative
# series. 0 is allowed: the chart reads 0 USD until bitcoin had a market price (2009 and part of 2010).
BLOCKCHAIN_COM_MAX_REVENUE_USD = 1e9

_POSITIVE = "prices are positive"
# Either option chain's book summary (BTC, ETH): the same fields, units in the chain's own coin.
_CHAIN_RULES = (
    Between("mark_iv", 0, 500, strict_min=True, why="mark IV in (0, 500]%"),
    Between("open_interest", 0, why="open interest is not negative"),
    Between("underlying_price", 0, strict_min=True, why=_POSITIVE),
    Between("mark_price", 0, why="option prices are not negative"),
    Between("bid_price", 0, why="option prices are not negative"),
    Between("ask_price", 0, why="option prices are not negative"),
    Between("volume", 0, why="volume is not negative"),
    Between(DAYS_TO_EXPIRY, 0, strict_min=True, why="a listed option has not expired"),
)
_OHLC = "high ≥ max(open, close) ≥ min(open, close) ≥ low"
_OHLC_ORDER = (NotBelow("high", MAX_OPEN_CLOSE, why=_OHLC), NotBelow(MIN_OPEN_CLOSE, "low", why=_OHLC))


def _ohlc_rules() -> tuple[Rule, ...]:
    return (
        *(Between(c, 0, strict_min=True, why=_POSITIVE) for c in ("open", "high", "low", "close")),
        *_OHLC_ORDER,
        Between("volume_btc", 0, why="volume is not negative"),
    )


# Deribit's volatility index, in percent. BTC's has ranged ~30-170 and ETH's ~30-210 since 2021 (hourly candles,
# pipelines/sources/deribit_dvol.py); below 5 it is a fraction written as a percent (0.55 for 55%), above 500 a
# unit or feed error.
DVOL_PERCENT_BAND = (5.0, 500.0)


def _dvol_rules(currency: str) -> tuple[Rule, ...]:
    why = f"a volatility index in ({DVOL_PERCENT_BAND[0]:g}, {DVOL_PERCENT_BAND[1]:g}) percent"
    return (
        *(Between(c, *DVOL_PERCENT_BAND, strict_min=True, strict_max=True, why=why)
          for c in ("open", "high", "low", "close")),
        *_OHLC_ORDER,
        OneOf("currency", (currency,), why=f"the {currency} index"),
    )


_RATIO_RULES: tuple[Rule, ...] = (
    Between("long_short_ratio", 0, strict_min=True, why="a ratio of two positive shares"),
    Between("long_account", 0, 1, why="a share of accounts"),
    Between("short_account", 0, 1, why="a share of accounts"),
    Between(ACCOUNT_SHARE_SUM, 0.99, 1.01, why="long and short shares add up to 1"),
)

# Open interest of one exchange's BTC perpetual: ~30k-110k BTC at each of these venues in 2025; 2 million BTC
# (a tenth of all bitcoin) on one contract is a unit error (contracts written as coins, USD in the BTC field).
MAX_VENUE_OPEN_INTEREST_BTC = 2_000_000.0


def _open_interest_day_rules(usd: bool) -> tuple[Rule, ...]:
    why = f"open interest in [0, {MAX_VENUE_OPEN_INTEREST_BTC:,.0f}] BTC"
    rules = [Between(c, 0, MAX_VENUE_OPEN_INTEREST_BTC, why=why)
             for c in ("open_interest_start_btc", "open_interest_end_btc")]
    if usd:
        rules += [Between(c, 0, why="open interest is not negative")
                  for c in ("open_interest_start_usd", "open_interest_end_usd")]
    return tuple(rules)


RULES: dict[str, DatasetRules] = {
    "binance__spot_klines_1d": DatasetRules(
        (*_ohlc_rules(), Between("quote_volume_usdt", 0, why="volume is not negative"),
         Between("trades", 0, why="a count"))
    ),
    "coinbase__spot_candles_1d": DatasetRules(_ohlc_rules()),
    "mempool__hashrate": DatasetRules(
        (
            Between("avg_hashrate_hs", 0, strict_min=True, why="hash rate is positive"),
            Between("difficulty", 0, strict_min=True, why="difficulty is positive"),
            Between(HASHRATE_VS_DIFFICULTY, *HASHRATE_DIFFICULTY_BAND, why="hash rate within 2× of difficulty's"),
        )
    ),
    "mempool__blocks": DatasetRules(
        (
            Between("height", 1, why="heights start at 1 after genesis"),
            Between("tx_count", 1, why="every block has a coinbase transaction"),
            Between("weight", 1, 4_000_000, why="the consensus weight limit"),
            Between("difficulty", 0, strict_min=True, why="difficulty is positive"),
            Between(REWARD_GAP, 0, 0, why="reward = subsidy + fees"),
        ),
        volume=VolumeBand(0.5, 2.0),
    ),
    "blockchain_com__hash_rate": DatasetRules(
        (Between("hashrate_ths", 0, BLOCKCHAIN_COM_MAX_THS, strict_min=True, why="hash rate in a plausible TH/s band"),)
    ),
    "blockchain_com__miners_revenue": DatasetRules(
        (Between("revenue_usd", 0, BLOCKCHAIN_COM_MAX_REVENUE_USD,
                 why="miners' revenue in a plausible USD-a-day band"),)
    ),
    "deribit__option_book_summary": DatasetRules(
        (
            *_CHAIN_RULES,
            Between(STRIKE_OFF_GRID, 0, 0, why=f"strikes on Deribit's ${DERIBIT_STRIKE_GRID_USD:.0f} grid"),
            OneOf("base_currency", ("BTC",), why="the BTC option chain"),
        )
    ),
    # No strike grid rule for ETH: no real ETH chain is recorded here to state Deribit's grid from (the names
    # already carry whole-dollar strikes).
    "deribit__eth_option_book_summary": DatasetRules(
        (*_CHAIN_RULES, OneOf("base_currency", ("ETH",), why="the ETH option chain"))
    ),
    "binance__funding_rate": DatasetRules(
        (
            # The real recording's 201 rates (2025-07..09) lie in [-0.0014%, 0.01%] per 8 h; even crash days
            # stay well under 1%. 5% per interval is a broken row (a percent written as a fraction), not a market.
            Between("funding_rate", -0.05, 0.05, why="funding rate within ±5% per interval"),
            Between("mark_price", 0, strict_min=True, why=_POSITIVE),
            OneOf("symbol", ("BTCUSDT",), why="the BTCUSDT perpetual"),
        )
    ),
    "binance__top_trader_long_short_ratio": DatasetRules(_RATIO_RULES),
    "binance__global_long_short_ratio": DatasetRules(_RATIO_RULES),
    "binance__top_trader_position_ratio": DatasetRules(_RATIO_RULES),
    "binance__taker_volume": DatasetRules(
        (
            Between("buy_volume_btc", 0, why="volume is not negative"),
            Between("sell_volume_btc", 0, why="volume is not negative"),
            # A day's taker buys and sells stay within a few percent to ~20% of each other, even on cascade days;
            # 5x either way is a broken row (one side missing, a ratio inverted into a percentage).
            Between("buy_sell_ratio", 0.2, 5.0, why="taker buys within 5x of sells"),
        )
    ),
    "binance__open_interest_day": DatasetRules(_open_interest_day_rules(usd=True)),
    "bybit__open_interest_day": DatasetRules(_open_interest_day_rules(usd=False)),
    "okx__open_interest_day": DatasetRules(_open_interest_day_rules(usd=True)),
    "bybit__open_interest_1d": DatasetRules(
        (Between("open_interest_btc", 0, why="open interest is not negative"),)
    ),
    "okx__liquidation_orders": DatasetRules(
        (
            Between("bankruptcy_price", 0, strict_min=True, why=_POSITIVE),
            Between("size_contracts", 0, strict_min=True, why="a liquidation has a size"),
            Between("size_btc", 0, strict_min=True, why="a liquidation has a size"),
            Between("notional_usd", 0, why="notional is not negative"),
            OneOf("side", ("buy", "sell"), why="order sides"),
            OneOf("pos_side", ("long", "short", "net"), why="position sides"),
        ),
        volume=None,
    ),
    "deribit__option_instruments": DatasetRules(
        (
            Between("strike", 0, strict_min=True, why=_POSITIVE),
            Between(STRIKE_OFF_GRID, 0, 0, why=f"strikes on Deribit's ${DERIBIT_STRIKE_GRID_USD:.0f} grid"),
            Between("contract_size", 0, strict_min=True, why="contracts have a size"),
            OneOf("option_type", ("call", "put"), why="calls and puts"),
        )
    ),
    "deribit__index_price": DatasetRules(
        (
            Between("index_price", 0, strict_min=True, why=_POSITIVE),
            OneOf("index_name", ("btc_usd",), why="the BTC index"),
        )
    ),
    "deribit__btc_dvol": DatasetRules(_dvol_rules("BTC")),
    "deribit__eth_dvol": DatasetRules(_dvol_rules("ETH")),
    # The rows of a day are the markets followed that day: the count steps with listings and resolutions (a month's
    # ladder lists, another's resolves), so it is no anomaly signal (volume=None); the warn-level check
    # `prediction_markets_followed` says what is missing instead.
    "polymarket__markets": DatasetRules(
        (
            Between("yes_price", 0, 1, why="a probability"),
            Between("volume_usd", 0, why="volume is not negative"),
            Between("liquidity_usd", 0, why="liquidity is not negative"),
            Between("threshold_usd", 0, strict_min=True, why="a price threshold is positive"),
            OneOf("direction", ("reach", "dip"), why="reach (a high at or above) or dip (a low at or below)"),
            OneOf("resolved_outcome", ("yes", "no"), why="a resolved market's outcome"),
        ),
        volume=None,
    ),
    "polymarket__prices_history": DatasetRules((Between("yes_price", 0, 1, why="a probability"),), volume=None),
}


def rules_for(spec: DatasetSpec) -> DatasetRules:
    """Every dataset must declare its rules: a new dataset without them is a mistake, not a free pass."""
    try:
        return RULES[spec.raw_table]
    except KeyError:
        raise KeyError(f"{spec.name}: no quality rules declared in pipelines/quality/rules.py") from None
