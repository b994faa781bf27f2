"""The day's market note, written from the marts by fixed rules (no language model).

Every figure in the note is a column of a query on `marts` (pipelines/reporting/note_queries.py); each sentence
names the queries it used ([Q1], …) and the note ends with them, as they ran. Every sentence is chosen by a rule
below, from those figures only. The rules, section by section (README › The market note repeats them):

Price and leverage
- The close, and its change on the day: "up"/"down" by the percentage, "little changed" within ±0.25%.
- Each configured level the close crossed that day ("closed below $92,000"), with the day it had last crossed it the
  other way (how long the level had held).
- The distance from the highest close of the last 60 days, when it is 5% or more below it.
- Liquidations on the three exchanges: the total and the long share ("mostly longs" from 70%, "mostly shorts" up to
  30%); "the largest day of the last 30" when no day of the 30 before was larger (with at least 7 of them loaded),
  else "N× the 30-day median" from 3× the median up.
- Binance funding of the day (its three prints summed): who paid whom, and "turning negative/positive" when its
  sign differs from the day before's.
- Open interest of the BTC perpetuals at the day's end, in USD, summed over the exchanges that have it, and its
  change over the day (stated when every one of them has the day's start; "little changed" within ±0.5%).
- Binance's taker buys and sells: "sellers pressed" at a buy/sell ratio of 0.95 or less, "buyers pressed" from 1.05.

Hash rate and miners
- The 7-day average hash rate and its drawdown from the 52-week peak ("at its 52-week peak" within 1%).
- The average against the round number nearest to it in steps of the peak's order of magnitude (peak 1,131 EH/s,
  steps of 1,000: 928 → 1,000 EH/s), and the last day it was on the other side of it.
- Hashprice and its change from 30 days before; the fees' share of miners' revenue.
- Its 30-day average against the 30 days before the last halving, when both averages hold 20 days or more.
- The configured fleets (dbt/seeds/mining_fleet_profiles.csv) against the day's hashprice: how many mined at a loss
  on power alone, with their margins; else the dearest fleet's margin.

Options gamma (Deribit BTC options; USD per 1% move)
- Total net GEX, whether dealers are net long or short gamma, and the dealer convention it was computed under.
- The zero-gamma level (the flip) against spot, and the day's flip events (marts.fct_gamma_flip_events): spot
  crossed below/above the flip, the flip moved more than its threshold.
- Below the flip (marts.fct_gamma_downside_daily): the short-gamma peak, the acceleration zone, the largest put open
  interest under it and the downside target range.
- Gamma within the band around the configured price level nearest spot (marts.fct_gamma_level_bands): net and gross
  GEX and the open interest there (its notional is options, not gamma).
- The call and put walls.

Whales and retail
- Binance's top traders' long/short account ratio against all accounts', which of the two leans longer, and the
  top traders' change from the day before (from a change of 0.05); their long/short position-size ratio.
- The headline prediction market's YES probability and its change from a week before (in points).

What to watch
- The levels nearest the close within ±10% (up to four, nearest first): the zero-gamma level, the walls, the top
  of the acceleration zone, and the configured levels the close crossed in the last 60 days.
- When spot is below the flip: that dealers' hedging adds to moves down to the acceleration zone and the target
  range.

A sentence whose figures are missing (no row for the day, a table or column not in the warehouse) is left out; the
note says which questions the warehouse could not answer.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.atomic_files import write_bytes_atomic
from pipelines.reporting import note_queries as q
from pipelines.reporting.headline import usd
from pipelines.reporting.html_page import e
from pipelines.reporting.note_queries import Ledger, Query

LITTLE_CHANGED_PCT = 0.25  # the close's change on the day
OI_LITTLE_CHANGED_PCT = 0.5
DRAWDOWN_FROM_HIGH_PCT = 5.0
MOSTLY_SHARE_PCT = 70.0
CASCADE_MULTIPLE = 3.0
MIN_BASELINE_DAYS = 7
PEAK_WITHIN_PCT = 1.0
TAKER_LEAN = 0.05  # taker buy/sell ratio: from 0.95 down sellers pressed, from 1.05 up buyers
MIN_AVERAGE_DAYS = 20  # hashprice against the halving: both 30-day averages hold at least this many days
RATIO_CHANGE = 0.05
WATCH_WITHIN_PCT = 10.0
WATCH_MAX = 4
VENUES = {"binance": "Binance", "bybit": "Bybit", "okx": "OKX"}
DEALERS = {"long_calls_short_puts": "long calls and short puts", "short_calls_long_puts": "short calls and long puts"}


@dataclass(frozen=True)
class Sentence:
    text: str
    refs: tuple[int, ...]  # the Q numbers of the queries whose figures it states


@dataclass
class NoteSection:
    anchor: str
    title: str
    sentences: list[Sentence] = field(default_factory=list)

    def say(self, text: str, *queries: Query | None) -> None:
        self.sentences.append(Sentence(text, tuple(sorted({x.number for x in queries if x is not None}))))


@dataclass(frozen=True)
class MarketNote:
    day: dt.date
    sections: list[NoteSection]
    queries: list[Query]
    unanswered: list[str]  # questions the warehouse could not answer, and why
    simulated: bool = False

    def sentences(self) -> list[str]:
        return [s.text for section in self.sections for s in section.sentences]


def _ok(value) -> bool:
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def money(value: float) -> str:
    """$1.40B, $672.4M, $89,907."""
    if abs(value) >= 1e9:
        return f"${value / 1e9:,.2f}B"
    if abs(value) >= 1e6:
        return f"${value / 1e6:,.1f}M"
    return usd(value)


def signed_money(value: float) -> str:
    return ("−" if value < 0 else "+") + money(abs(value))


def pct_change(new: float, old: float) -> float:
    return (new / old - 1) * 100


def moved(change_pct: float, little: float, up: str = "up", down: str = "down") -> str:
    if abs(change_pct) < little:
        return f"little changed ({change_pct:+.2f}%)"
    return f"{up if change_pct > 0 else down} {abs(change_pct):.1f}%"


def round_threshold(value: float, scale: float) -> float:
    """The multiple of `scale`'s order of magnitude nearest `value`: with a peak of 1,131 EH/s (steps of 1,000),
    928 → 1,000 and 1,450 → 1,000; with a peak of 250 (steps of 100), 180 → 200. Halves go up."""
    step = 10 ** math.floor(math.log10(scale))
    return max(step, math.floor(value / step + 0.5) * step)


def listed(names: list[str]) -> str:
    """'Binance', 'Binance and Bybit', 'Binance, Bybit and OKX'."""
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1]])) if names else ""


def days_between(later: dt.date, earlier: dt.date) -> str:
    n = (later - earlier).days
    return f"{n} day{'s' if n != 1 else ''}"


# --- sections -------------------------------------------------------------------------------------------------

def price_and_leverage(ledger: Ledger) -> NoteSection:
    section = NoteSection("price-leverage", "Price and leverage")
    day = ledger.day
    p = q.price(ledger)
    row = p.row if p else None
    if row:
        text = f"BTC closed at {usd(row['close'])} (consolidated across exchanges)"
        if _ok(row["previous_close"]):
            text += f", {moved(pct_change(row['close'], row['previous_close']), LITTLE_CHANGED_PCT)} on the day"
        section.say(text + f", in a range of {usd(row['low'])} to {usd(row['high'])}.", p)
    events = q.level_events(ledger)
    if events and events.row and events.row["n"]:
        for event in events.row["events"].split(", "):
            direction, level = event.split(" ")
            level_usd = int(level)
            last = q.last_level_crossing(ledger, level_usd, direction)
            since = last.row["date"] if last and last.row else None
            where = "below" if direction == "break_down" else "above"
            other = "above" if direction == "break_down" else "below"
            text = f"It closed {where} ${level_usd:,}, a configured level"
            text += (f" it had closed {other} since {since} ({days_between(day, since)})" if since
                     else f" it had stayed {other} of in the warehouse's history")
            section.say(text + ".", events, last)
    if row and _ok(row["high_close"]):
        below = pct_change(row["close"], row["high_close"])
        if below <= -DRAWDOWN_FROM_HIGH_PCT:
            text = (f"That is {abs(below):.1f}% below the highest close of the last {q.PRICE_HIGH_DAYS} days, "
                    f"{usd(row['high_close'])} on {row['high_close_date']}")
            if _ok(row["week_ago_close"]):
                text += f", and {moved(pct_change(row['close'], row['week_ago_close']), LITTLE_CHANGED_PCT)} on the week"
            section.say(text + ".", p)

    liq = q.liquidations(ledger)
    if liq and liq.row and _ok(liq.row["total_liquidated_usd"]):
        r = liq.row
        share = r["long_share_pct"]
        lean = ("mostly longs" if share >= MOSTLY_SHARE_PCT else "mostly shorts" if share <= 100 - MOSTLY_SHARE_PCT
                else "longs and shorts alike")
        text = (f"{money(r['total_liquidated_usd'])} of BTC positions were liquidated on Binance, Bybit and OKX, "
                f"{lean} ({share:.0f}% longs)")
        if r["baseline_days"] >= MIN_BASELINE_DAYS and r["larger_days"] == 0:
            text += f": the largest day of the last {q.BASELINE_DAYS}"
        elif _ok(r["baseline_median_usd"]) and r["baseline_median_usd"] > 0 and \
                r["total_liquidated_usd"] >= CASCADE_MULTIPLE * r["baseline_median_usd"]:
            text += (f": {r['total_liquidated_usd'] / r['baseline_median_usd']:.1f}× the median day of the "
                     f"{q.BASELINE_DAYS} before ({money(r['baseline_median_usd'])})")
        section.say(text + ".", liq)
    fr = q.funding_and_ratios(ledger)
    if fr and fr.row and _ok(fr.row["funding_rate_daily"]):
        rate = fr.row["funding_rate_daily"] * 100
        payer = "longs paid shorts" if rate > 0 else "shorts paid longs" if rate < 0 else "nobody paid"
        text = f"Funding on Binance summed to {rate:+.4f}% over the day ({payer})"
        before = fr.row["previous_funding_rate_daily"]
        if _ok(before) and (before > 0) != (rate > 0) and before != 0 and rate != 0:
            text += f", turning {'negative' if rate < 0 else 'positive'} from {before * 100:+.4f}% the day before"
        section.say(text + ".", fr)
    oi = q.open_interest(ledger)
    if oi and oi.row and oi.row["venues"] and _ok(oi.row["open_interest_usd"]):
        r = oi.row
        venues = listed([VENUES.get(name, name) for name in r["exchanges"].split(", ")])
        text = f"Open interest in BTC perpetuals on {venues}"
        start = r["open_interest_start_usd"]
        if r["venues_with_change"] == r["venues"] and _ok(start) and start:
            change = r["open_interest_change_usd"] / start * 100
            text += (f" {moved(change, OI_LITTLE_CHANGED_PCT, 'rose', 'fell')} over the day "
                     f"({signed_money(r['open_interest_change_usd'])}), to")
        else:
            text += " was"
        section.say(text + f" {money(r['open_interest_usd'])} ({r['open_interest_btc']:,.0f} BTC) at its end.", oi)
    flow = q.taker_flow_and_positions(ledger)
    if flow and flow.row and _ok(flow.row["taker_buy_sell_ratio"]):
        r = flow.row
        ratio = r["taker_buy_sell_ratio"]
        lean = ("sellers pressed" if ratio <= 1 - TAKER_LEAN else "buyers pressed" if ratio >= 1 + TAKER_LEAN
                else "neither side pressed")
        section.say(f"Takers on Binance's BTCUSDT perpetual bought {r['taker_buy_volume_btc']:,.0f} BTC and sold "
                    f"{r['taker_sell_volume_btc']:,.0f} (buy/sell {ratio:.2f}): {lean}.", flow)
    return section


def hashrate_and_miners(ledger: Ledger) -> NoteSection:
    section = NoteSection("miners", "Hash rate and miners")
    h = q.hashrate(ledger)
    if h and h.row and _ok(h.row["hashrate_7d_avg_ehs"]):
        r = h.row
        avg, drawdown = r["hashrate_7d_avg_ehs"], r["drawdown_from_peak_pct"]
        text = f"The network's 7-day average hash rate was {avg:,.1f} EH/s"
        if _ok(drawdown) and drawdown > -PEAK_WITHIN_PCT:
            text += ", at its 52-week peak"
        elif _ok(drawdown):
            text += (f", {abs(drawdown):.1f}% below its 52-week peak of {r['peak_7d_avg_ehs']:,.1f} EH/s "
                     f"on {r['peak_date']}")
        section.say(text + ".", h)
        threshold = round_threshold(avg, r["peak_7d_avg_ehs"] if _ok(r["peak_7d_avg_ehs"]) else avg)
        below = avg < threshold
        other = q.hashrate_last_on_other_side(ledger, threshold, below)
        last = other.row["date"] if other and other.row else None
        side, other_side = ("below", "above") if below else ("at or above", "below")
        text = f"That is {side} {threshold:,.0f} EH/s"
        text += (f"; it was last {other_side} on {last}" if last
                 else ", as on every earlier day in the warehouse")
        section.say(text + ".", h, other)
    hp = q.hashprice(ledger)
    if hp and hp.row and _ok(hp.row["hashprice_usd_per_ph_day"]):
        r = hp.row
        text = f"Hashprice was {usd(r['hashprice_usd_per_ph_day'], 2)} per PH/s per day"
        if _ok(r["month_ago_hashprice_usd_per_ph_day"]):
            change = pct_change(r["hashprice_usd_per_ph_day"], r["month_ago_hashprice_usd_per_ph_day"])
            text += f", {moved(change, 0.5)} from {q.BASELINE_DAYS} days before"
        if _ok(r["fee_share_pct"]):
            text += f"; fees were {r['fee_share_pct']:.1f}% of miners' revenue"
        section.say(text + ".", hp)
    epoch = q.hashprice_since_halving(ledger)
    if epoch and epoch.row and _ok(epoch.row["change_vs_pre_halving_pct"]) and \
            epoch.row["days_in_30d_avg"] >= MIN_AVERAGE_DAYS and epoch.row["pre_halving_days"] >= MIN_AVERAGE_DAYS:
        r = epoch.row
        change = r["change_vs_pre_halving_pct"]
        section.say(f"Its 30-day average, {usd(r['hashprice_30d_avg_usd_per_ph_day'], 2)}, was {abs(change):.1f}% "
                    f"{'below' if change < 0 else 'above'} the 30 days before the halving of {r['epoch_start_date']} "
                    f"({usd(r['pre_halving_30d_avg_usd_per_ph_day'], 2)}; {r['days_since_halving']:,} days since).",
                    epoch)
    be = q.breakeven(ledger)
    if be and be.rows and all(_ok(r["margin_pct"]) for r in be.rows):
        fleets = be.rows  # cheapest power cost first
        losing = [r for r in fleets if r["margin_pct"] < 0]
        lo, hi = fleets[0]["breakeven_hashprice_usd_per_ph_day"], fleets[-1]["breakeven_hashprice_usd_per_ph_day"]
        text = (f"Against the {len(fleets)} configured fleets' power costs ({usd(lo, 2)} to {usd(hi, 2)} per PH/s "
                f"per day), ")
        if not losing:
            dearest = fleets[-1]
            text += f"every one covered its power; the dearest, {_fleet(dearest)}, kept {dearest['margin_pct']:.0f}%"
        else:
            text += (f"{len(losing)} mined at a loss on power alone: "
                     + ", ".join(f"{_fleet(r)}, margin {r['margin_pct']:+.0f}%" for r in losing))
            if len(losing) < len(fleets):
                text += f"; the cheapest, {_fleet(fleets[0])}, kept {fleets[0]['margin_pct']:.0f}%"
        section.say(text + " of hashprice.", be)
    return section


def _fleet(row: dict) -> str:
    return f"{row['fleet_profile']} ({row['efficiency_j_per_th']:g} J/TH at ${row['power_usd_per_kwh']:.2f}/kWh)"


@dataclass(frozen=True)
class GammaFacts:
    """What the gamma section found, for the levels to watch."""

    spot: float | None = None
    flip: float | None = None
    call_wall: float | None = None
    put_wall: float | None = None
    zone: tuple[float, float] | None = None  # (low, high) of the acceleration zone
    target: tuple[float, float] | None = None  # (low, high) of the downside target range
    query: Query | None = None
    zone_query: Query | None = None


def options_gamma(ledger: Ledger) -> tuple[NoteSection, GammaFacts]:
    section = NoteSection("gamma", "Options gamma")
    g = q.gamma(ledger)
    if not (g and g.row and _ok(g.row["total_net_gex_usd"])):
        return section, GammaFacts()
    r = g.row
    spot, flip, total = r["spot_usd"], r["zero_gamma_usd"], r["total_net_gex_usd"]
    stance = "net long" if total > 0 else "net short"
    dealers = DEALERS.get(r["dealer_convention"], r["dealer_convention"])
    section.say(f"Dealers were {stance} gamma in Deribit's BTC options: total net GEX {signed_money(total)} per 1% "
                f"move, with spot at {usd(spot)} (dealers taken to be {dealers}).", g)
    if _ok(flip):
        side = "below" if flip < spot else "above"
        text = f"The zero-gamma level (the flip) sat at {usd(flip)}, {abs(pct_change(flip, spot)):.1f}% {side} spot"
        events = q.gamma_flip_events(ledger)
        for event in events.rows if events else ():
            if event["event"] == "spot_crossed_flip":
                where = "below" if event["direction"] == "down" else "above"
                text += (f"; spot crossed {where} the flip, which was at "
                         f"{usd(event['previous_zero_gamma_usd'])} the day before")
            elif event["event"] == "flip_moved":
                text += (f"; the flip moved {event['direction']} {abs(event['flip_move_pct']):.1f}% from "
                         f"{usd(event['previous_zero_gamma_usd'])} (more than {event['threshold_pct']:g}%)")
        section.say(text + ".", g, events if events and events.rows else None)
    down = q.gamma_downside(ledger)
    d = down.row if down else None
    zone = None
    if d and _ok(d["accel_zone_high_usd"]) and _ok(d["accel_zone_low_usd"]):
        zone = (d["accel_zone_low_usd"], d["accel_zone_high_usd"])
        section.say(f"Below the flip dealers are most short gamma at {usd(d['short_gamma_peak_usd'])} "
                    f"({signed_money(d['short_gamma_peak_gex_usd'])} per 1% move); the acceleration zone, where their "
                    f"hedging sells into a fall at least half as hard as there, runs from {usd(zone[1])} down to "
                    f"{usd(zone[0])}.", down)
        if _ok(d["target_low_usd"]) and _ok(d["target_high_usd"]):
            section.say(f"Under it the largest put open interest sits at the {usd(d['put_oi_cluster_strike_usd'])} "
                        f"strike ({d['put_oi_cluster_oi']:,.0f} BTC): a downside target range of "
                        f"{usd(d['target_low_usd'])} to {usd(d['target_high_usd'])}.", down)
    band = q.gamma_around_nearest_level(ledger)
    b = band.row if band else None
    if b and _ok(b["net_gex_usd"]) and b["strikes_in_band"]:
        section.say(f"Within ±{b['band_pct']:g}% of {usd(b['level_usd'])}, the configured level nearest spot, "
                    f"dealers' net GEX was {signed_money(b['net_gex_usd'])} per 1% move "
                    f"(gross {money(b['gross_gex_usd'])}), "
                    f"on {b['oi_in_band']:,.0f} BTC of open interest ({money(b['oi_in_band_usd'])} of options, "
                    f"not gamma).", band)
    if _ok(r["call_wall_usd"]) and _ok(r["put_wall_usd"]):
        if r["call_wall_usd"] == r["put_wall_usd"]:
            section.say(f"Both walls sit at {usd(r['call_wall_usd'])}: the strike with the largest call GEX is also "
                        f"the one with the largest put GEX.", g)
        else:
            section.say(f"The call wall is at {usd(r['call_wall_usd'])} and the put wall at "
                        f"{usd(r['put_wall_usd'])} (the strikes with the largest call and put GEX).", g)
    target = (d["target_low_usd"], d["target_high_usd"]) if d and _ok(d["target_low_usd"]) else None
    return section, GammaFacts(spot, flip, r["call_wall_usd"], r["put_wall_usd"], zone, target, g,
                               down if zone else None)


def whales_and_retail(ledger: Ledger) -> NoteSection:
    section = NoteSection("whales-retail", "Whales and retail")
    fr = q.funding_and_ratios(ledger)
    if fr and fr.row and _ok(fr.row["top_trader_long_short_ratio"]) and _ok(fr.row["global_long_short_ratio"]):
        r = fr.row
        whales, retail = r["top_trader_long_short_ratio"], r["global_long_short_ratio"]
        lean = ("all accounts leaned longer than the top traders" if retail > whales
                else "the top traders leaned longer than all accounts" if whales > retail
                else "both leaned alike")
        text = (f"On Binance, top traders held {whales:.2f} long accounts per short and all accounts {retail:.2f}: "
                f"{lean}")
        before = r["previous_top_trader_long_short_ratio"]
        if _ok(before) and abs(whales - before) >= RATIO_CHANGE:
            text += f"; the top traders' ratio {'rose' if whales > before else 'fell'} from {before:.2f} the day before"
        section.say(text + ".", fr)
    flow = q.taker_flow_and_positions(ledger)
    if flow and flow.row and _ok(flow.row["top_trader_position_ratio"]) and \
            _ok(flow.row["top_trader_long_position_share"]):
        r = flow.row
        section.say(f"Weighted by position size, the top traders held {r['top_trader_position_ratio']:.2f} long per "
                    f"short ({r['top_trader_long_position_share'] * 100:.1f}% of their positions long).", flow)
    pm = q.prediction(ledger)
    if pm and pm.row and _ok(pm.row["yes_probability"]):
        r = pm.row
        text = f"The prediction market gave \u201c{r['question']}\u201d {r['yes_probability'] * 100:.0f}%"
        if _ok(r["week_ago_yes_probability"]):
            points = (r["yes_probability"] - r["week_ago_yes_probability"]) * 100
            text += (f", {'up' if points > 0 else 'down'} {abs(points):.0f} points from a week before"
                     if round(points) else ", as a week before")
        section.say(text + ".", pm)
    return section


def what_to_watch(ledger: Ledger, gamma: GammaFacts) -> NoteSection:
    section = NoteSection("watch", "What to watch")
    p = q.price(ledger)
    close = p.row["close"] if p and p.row else None
    if not _ok(close):
        return section
    candidates: list[tuple[float, str, Query | None]] = []
    if _ok(gamma.flip):
        candidates.append((gamma.flip, "the zero-gamma level", gamma.query))
    if _ok(gamma.put_wall):
        candidates.append((gamma.put_wall, "the put wall", gamma.query))
    if _ok(gamma.call_wall):
        candidates.append((gamma.call_wall, "the call wall", gamma.query))
    if gamma.zone is not None:
        candidates.append((gamma.zone[1], "the top of the acceleration zone", gamma.zone_query))
    levels = q.recent_levels(ledger)
    if levels is not None:
        candidates += [(float(r["level_usd"]), "a configured level", levels) for r in levels.rows]
    near: dict[float, tuple[str, list[Query | None]]] = {}
    for level, what, query in candidates:
        if abs(pct_change(level, close)) <= WATCH_WITHIN_PCT:
            label, queries = near.get(level, ("", []))
            near[level] = (f"{label} and {what}" if label else what, [*queries, query])
    ranked = sorted(near.items(), key=lambda item: (abs(item[0] - close), item[0]))[:WATCH_MAX]
    if ranked:
        parts = [f"{usd(level)} ({what}, {pct_change(level, close):+.1f}%)" for level, (what, _) in ranked]
        refs = [query for _, (_, queries) in ranked for query in queries]
        section.say(f"Levels nearest the close of {usd(close)}: " + "; ".join(parts) + ".", p, *refs)
    if _ok(gamma.flip) and _ok(gamma.spot) and gamma.spot < gamma.flip:
        text = "With spot below the flip, dealers' hedging adds to moves"
        if gamma.zone is not None:
            text += f"; a fall would meet the acceleration zone of {usd(gamma.zone[1])} to {usd(gamma.zone[0])}"
            if gamma.target is not None:
                text += f", then the target range of {usd(gamma.target[1])} to {usd(gamma.target[0])}"
        section.say(text + ".", gamma.query, gamma.zone_query)
    return section


def build_note(conn: duckdb.DuckDBPyConnection, day: dt.date, *, simulated: bool = False) -> MarketNote:
    ledger = Ledger(conn, day)  # sections in the note's order, so the queries are numbered as they are read
    price, miners = price_and_leverage(ledger), hashrate_and_miners(ledger)
    gamma_section, gamma = options_gamma(ledger)
    sections = [price, miners, gamma_section, whales_and_retail(ledger), what_to_watch(ledger, gamma)]
    return MarketNote(day, sections, list(ledger.queries), list(ledger.unanswered), simulated)


# --- rendering ------------------------------------------------------------------------------------------------

SIMULATED = "Simulated data: the demo simulator's market (BTCW_SOURCE_MODE=demo), not real exchanges."


def _refs(sentence: Sentence) -> str:
    return f" [{', '.join(f'Q{n}' for n in sentence.refs)}]" if sentence.refs else ""


def _value(value: object) -> str:
    if isinstance(value, float):
        return format(value, ".10g")
    return str(value)


def query_line(query: Query) -> str:
    rows = "; ".join(", ".join(f"{name} = {_value(value)}" for name, value in row.items()) for row in query.rows)
    return f"{query.purpose}: `{query.sql_as_run()}` → {rows or 'no row'}"


def render_markdown(note: MarketNote) -> str:
    lines = [f"# Market note, {note.day.isoformat()}", ""]
    if note.simulated:
        lines += [f"*{SIMULATED}*", ""]
    for section in note.sections:
        lines += [f"## {section.title}", ""]
        if section.sentences:
            lines += [" ".join(s.text + _refs(s) for s in section.sentences), ""]
        else:
            lines += [f"No figures for {note.day.isoformat()}.", ""]
    if note.unanswered:
        lines += ["Not answered by this warehouse: " + "; ".join(note.unanswered) + ".", ""]
    lines += ["## Figures and their queries", "",
              "Every figure above is a column of one of these queries on the marts, as they ran:", ""]
    lines += [f"- **Q{query.number}** {query_line(query)}" for query in note.queries]
    return "\n".join(lines) + "\n"


def render_html(note: MarketNote) -> str:
    """The note as an HTML fragment for the daily report (every text escaped)."""
    parts = ['<section id="note">', "<h2>Market note</h2>"]
    for section in note.sections:
        parts.append(f'<h3 id="note-{e(section.anchor)}">{e(section.title)}</h3>')
        body = " ".join(s.text + _refs(s) for s in section.sentences) or f"No figures for {note.day.isoformat()}."
        parts.append(f"<p>{e(body)}</p>")
    parts.append("<details><summary>Figures and their queries</summary><ol>")
    parts += [f"<li>{e(f'Q{query.number} ' + query_line(query))}</li>" for query in note.queries]
    parts += ["</ol></details>", "</section>"]
    return "\n".join(parts)


def note_path(out_dir: Path, day: dt.date) -> Path:
    return Path(out_dir) / f"{day.isoformat()}.md"


def write_note(conn: duckdb.DuckDBPyConnection, day: dt.date, out_dir: Path, *,
               simulated: bool = False) -> tuple[Path, str]:
    """Write `out_dir/<day>.md` (aside, then renamed) and return its path and text."""
    text = render_markdown(build_note(conn, day, simulated=simulated))
    path = note_path(out_dir, day)
    write_bytes_atomic(path, text.encode("utf-8"))
    return path, text
