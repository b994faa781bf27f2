"""The audit of the volatility-surface tables before they are written (pipelines.assets.vol_surface)."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa

from pipelines.checks.outcome import CheckOutcome

MAX_IV = 500.0  # vol points: Deribit's marks stay far below; a higher figure is a unit or parse error


def vol_surface_sane(surface: pa.Table, daily: pa.Table, expected: dict[dt.date, set[str]]) -> CheckOutcome:
    """Every day of `expected` has a daily row per currency its chain holds; every IV is in (0, MAX_IV]; the risk
    reversal and butterfly are the wings' difference and curvature (to 1e-9 vol points)."""
    problems = []
    got = {(row["snapshot_date"], row["currency"]) for row in daily.select(["snapshot_date", "currency"]).to_pylist()}
    missing = sorted(f"{day} {cur}" for day, currencies in expected.items() for cur in currencies
                     if (day, cur) not in got)
    if missing:
        problems.append(f"no term-structure row for {', '.join(missing[:10])}")
    for table, columns in ((surface, ("atm_iv", "call_25d_iv", "put_25d_iv")),
                           (daily, ("atm_iv_7d", "atm_iv_30d", "atm_iv_90d"))):
        for column in columns:
            bad = [v for v in table.column(column).to_pylist()
                   if v is not None and not (math.isfinite(v) and 0 < v <= MAX_IV)]
            if bad:
                problems.append(f"{len(bad)} {column} outside (0, {MAX_IV:g}] (first {bad[0]!r})")
    for row in surface.to_pylist():
        call, put, atm = row["call_25d_iv"], row["put_25d_iv"], row["atm_iv"]
        rr = None if call is None or put is None else call - put
        bf = None if rr is None or atm is None else (call + put) / 2 - atm
        for name, want in (("rr_25d", rr), ("bf_25d", bf)):
            have = row[name]
            if (have is None) != (want is None) or (have is not None and abs(have - want) > 1e-9):
                problems.append(f"{row['snapshot_date']} {row['currency']} {row['expiry_date']}: {name} {have!r} "
                                f"is not what the wings give ({want!r})")
                break
    metadata = {"days": len(expected), "expiry_rows": surface.num_rows, "daily_rows": daily.num_rows}
    if problems:
        return CheckOutcome(False, "; ".join(problems[:10]), metadata)
    return CheckOutcome(True, f"{len(expected)} day(s): every IV in (0, {MAX_IV:g}], every currency has its term "
                              "structure, RR and BF match the wings", metadata)
