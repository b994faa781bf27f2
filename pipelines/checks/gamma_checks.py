"""Gamma stage: totals finite, a summary every day, and the tables reconciling with each other (per day and
currency)."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.checks.outcome import CheckOutcome

# Relative tolerance of the reconciliations, on the day's gross GEX (sum of |call| + |put| by strike): the
# tables are sums of the same per-option figures in different orders, so they agree to ~1e-14 in practice.
RECONCILE_RTOL = 1e-9
# Days whose rows the reconciliation holds as Python objects at once (a day of both chains: ~1,700 rows, ~2 MB).
RECONCILE_DAYS_AT_ONCE = 32


def gex_totals_finite(summary: pa.Table, by_strike: pa.Table, days: list[dt.date]) -> CheckOutcome:
    problems = []
    got_days = set(summary.column("snapshot_date").to_pylist())
    missing = [d.isoformat() for d in days if d not in got_days]
    if missing:
        problems.append(f"no summary for {', '.join(missing[:10])}")
    for column, table in (("total_net_gex_usd", summary), ("net_gex_usd", by_strike),
                          ("call_gex_usd", by_strike), ("put_gex_usd", by_strike)):
        values = table.column(column)  # counted in Arrow: a year of hourly rows is millions of values
        bad = values.null_count + (pc.sum(pc.invert(pc.is_finite(values))).as_py() or 0)
        if bad:
            problems.append(f"{bad} non-finite {column}")
    metadata = {"days": len(days), "strike_rows": by_strike.num_rows}
    if problems:
        return CheckOutcome(False, "; ".join(problems), metadata)
    return CheckOutcome(True, f"{len(days)} day(s): every GEX total finite", metadata)


def _key(row: dict) -> tuple:
    """(day, currency), and the snapshot's stamp when the tables hold several snapshots a day (snapshot_ts)."""
    return row["snapshot_date"], row["currency"], row.get("snapshot_ts")


def _by_day(table: pa.Table) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for row in table.to_pylist():
        out[_key(row)].append(row)
    return out


def _close(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= RECONCILE_RTOL * max(abs(a), abs(b), scale)


def _day_problems(summary: dict, strikes: list[dict], expiry_strikes: list[dict], profile: list[dict],
                  bands: list[dict]) -> list[str]:
    problems = []
    scale = math.fsum(abs(r["call_gex_usd"]) + abs(r["put_gex_usd"]) for r in strikes)

    # 1. by (expiry, strike) sums over expiries to by strike, column by column
    summed: dict[float, list[float]] = defaultdict(lambda: [0.0] * 5)
    columns = ("call_gex_usd", "put_gex_usd", "net_gex_usd", "call_oi", "put_oi")
    for r in expiry_strikes:
        acc = summed[r["strike"]]
        for i, c in enumerate(columns):
            acc[i] += r[c]
    if set(summed) != {r["strike"] for r in strikes}:
        problems.append("by-expiry strikes differ from by-strike strikes")
    else:
        for r in strikes:
            got = summed[r["strike"]]
            for i, c in enumerate(columns):
                oi_scale = abs(r[c]) if c.endswith("_oi") else scale
                if not _close(got[i], r[c], oi_scale):
                    problems.append(f"strike {r['strike']:g}: by-expiry {c} sums to {got[i]!r}, by-strike {r[c]!r}")
                    break

    # 2. the profile at spot is the total
    total, spot = summary["total_net_gex_usd"], summary["spot_usd"]
    levels = [r["price_level_usd"] for r in profile]
    values = [r["net_gex_usd"] for r in profile]
    if spot is not None and math.isfinite(spot) and levels:
        at_spot = [v for lv, v in zip(levels, values) if lv == spot]
        if not at_spot:
            problems.append(f"profile has no row at spot {spot!r}")
        elif not _close(at_spot[0], total, scale):
            problems.append(f"profile at spot {at_spot[0]!r} != total net GEX {total!r}")

    # 3. bands tile the grid, alternate, and agree with the profile's sign
    if levels and bands:
        bands = sorted(bands, key=lambda b: b["low_usd"])
        if bands[0]["low_usd"] != min(levels) or bands[-1]["high_usd"] != max(levels):
            problems.append("regime bands do not span the profile grid")
        for a, b in zip(bands, bands[1:]):
            if a["high_usd"] != b["low_usd"] or a["regime"] == b["regime"]:
                problems.append(f"regime bands at {a['high_usd']!r} neither meet nor alternate")
                break
        zero = RECONCILE_RTOL * scale
        for band in bands:
            want = 1 if band["regime"] == "long_gamma" else -1
            wrong = [lv for lv, v in zip(levels, values)
                     if band["low_usd"] < lv < band["high_usd"] and v * want < -zero]
            if wrong:
                problems.append(f"{band['regime']} band [{band['low_usd']:.2f}, {band['high_usd']:.2f}] holds "
                                f"{len(wrong)} level(s) of the other sign, e.g. {wrong[0]:.2f}")
        crossings = [b["low_usd"] for b in bands[1:]]
        zg = summary["zero_gamma_usd"]
        nearest = min(crossings, key=lambda x: (abs(x - spot), x)) if crossings else None
        if zg != nearest:
            problems.append(f"zero_gamma_usd {zg!r} is not the band edge nearest to spot ({nearest!r})")
    elif levels and any(v != 0.0 for v in values):
        problems.append("no regime bands although the profile is not zero")
    return problems


def _extra_problems(summary: dict, strikes: list[dict], level_bands: list[dict], downside: list[dict]) -> list[str]:
    """Level bands are the by-strike sums in their band; the totals with/without same-day expiries agree with the
    policy; the downside row names the summary's flip and its figures lie below it, in order."""
    problems = []
    scale = math.fsum(abs(r["call_gex_usd"]) + abs(r["put_gex_usd"]) for r in strikes)
    for band in level_bands:
        inside = [r for r in strikes if band["band_low_usd"] <= r["strike"] <= band["band_high_usd"]]
        net = math.fsum(r["net_gex_usd"] for r in inside)
        gross = math.fsum(abs(r["call_gex_usd"]) + abs(r["put_gex_usd"]) for r in inside)
        if len(inside) != band["strikes_in_band"] or not (_close(net, band["net_gex_usd"], scale)
                                                          and _close(gross, band["gross_gex_usd"], scale)):
            problems.append(f"level band {band['level_usd']:g} differs from the by-strike rows in it")
            break
    if "total_net_gex_incl_same_day_usd" in summary:
        policy_total = (summary["total_net_gex_excl_same_day_usd"] if summary["near_expiry_policy"] == "exclude"
                        else summary["total_net_gex_incl_same_day_usd"])
        if not _close(policy_total, summary["total_net_gex_usd"], scale):
            problems.append(f"total {summary['total_net_gex_usd']!r} is not the {summary['near_expiry_policy']} "
                            f"policy's total {policy_total!r}")
    for row in downside:
        if row["zero_gamma_usd"] != summary["zero_gamma_usd"]:
            problems.append("downside row names another zero-gamma level than the summary")
        chain = [row[c] for c in ("target_low_usd", "accel_zone_low_usd", "short_gamma_peak_usd",
                                  "accel_zone_high_usd", "short_band_high_usd") if row[c] is not None]
        if chain != sorted(chain) or (chain and summary["zero_gamma_usd"] is not None
                                      and chain[-1] > summary["zero_gamma_usd"]):
            problems.append("downside levels are not ordered target <= zone <= peak <= zone <= flip")
    return problems


def gamma_tables_reconcile(summary: pa.Table, by_strike: pa.Table, by_expiry_strike: pa.Table,
                           profile: pa.Table, regime_bands: pa.Table, level_bands: pa.Table | None = None,
                           downside: pa.Table | None = None, *,
                           days_at_once: int = RECONCILE_DAYS_AT_ONCE) -> CheckOutcome:
    """Per day and currency (and snapshot, when the tables have a snapshot_ts): by-expiry sums equal by-strike; the
    profile at spot equals the total; the regime bands tile the profile's grid, alternate, agree with the profile's
    sign, and their inner edge nearest spot is zero gamma; each level band is the by-strike rows in it; the total is
    the policy's of the with/without same-day totals; the downside row's figures are ordered below the flip.

    The rows are read as Python objects (~1 KB a row) `days_at_once` days at a time, so a year's backfill (or an
    hourly archive) is checked in bounded memory."""
    problems = []
    tables = (summary, by_strike, by_expiry_strike, profile, regime_bands, level_bands, downside)
    all_days = sorted(set(summary.column("snapshot_date").to_pylist()))
    for first in range(0, len(all_days), days_at_once):
        group = pa.array(all_days[first:first + days_at_once], summary.schema.field("snapshot_date").type)
        part = [None if t is None else t.filter(pc.is_in(t.column("snapshot_date"), value_set=group)) for t in tables]
        strikes, expiries, profiles, bands, levels, downsides = (_by_day(t) if t is not None else {} for t in part[1:])
        for day_summary in part[0].to_pylist():
            key = _key(day_summary)
            for p in _day_problems(day_summary, strikes.get(key, []), expiries.get(key, []), profiles.get(key, []),
                                   bands.get(key, [])) + _extra_problems(day_summary, strikes.get(key, []),
                                                                         levels.get(key, []), downsides.get(key, [])):
                problems.append(" ".join(str(k) for k in key if k is not None) + f": {p}")
    metadata = {"day_currencies": summary.num_rows, "profile_rows": profile.num_rows,
                "band_rows": regime_bands.num_rows, "expiry_strike_rows": by_expiry_strike.num_rows}
    if problems:
        return CheckOutcome(False, "; ".join(problems[:10]), metadata | {"problems": len(problems)})
    return CheckOutcome(True, f"{summary.num_rows} day(s) x currency: by-expiry, by-strike, profile, bands and summary "
                              "agree",
                        metadata)
