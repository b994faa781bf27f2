"""Gamma stage: totals finite and one summary per day of the window."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa

from pipelines.checks.outcome import CheckOutcome


def gex_totals_finite(summary: pa.Table, by_strike: pa.Table, days: list[dt.date]) -> CheckOutcome:
    problems = []
    got_days = set(summary.column("snapshot_date").to_pylist())
    missing = [d.isoformat() for d in days if d not in got_days]
    if missing:
        problems.append(f"no summary for {', '.join(missing[:10])}")
    for column, table in (("total_net_gex_usd", summary), ("net_gex_usd", by_strike),
                          ("call_gex_usd", by_strike), ("put_gex_usd", by_strike)):
        bad = [v for v in table.column(column).to_pylist() if v is None or not math.isfinite(v)]
        if bad:
            problems.append(f"{len(bad)} non-finite {column}")
    metadata = {"days": len(days), "strike_rows": by_strike.num_rows}
    if problems:
        return CheckOutcome(False, "; ".join(problems), metadata)
    return CheckOutcome(True, f"{len(days)} day(s): every GEX total finite", metadata)
