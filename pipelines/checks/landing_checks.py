"""Landing stage: every day's archived body verified against its sidecar, parsed, and not empty."""

from __future__ import annotations

from pipelines.checks.outcome import CheckOutcome
from pipelines.ingest.extract import DayLoad


def landing_bodies_parsed(dataset: str, loads: list[DayLoad]) -> CheckOutcome:
    """`loads` only holds days whose body matched its sha256 and parsed; a failed parse already failed the run."""
    empty = [load.day.isoformat() for load in loads if load.rows == 0]
    files = {load.day.isoformat(): load.landing_file for load in loads}
    if not loads:
        return CheckOutcome(True, f"{dataset}: no day of the window is within the source's history", {"days": 0})
    if empty:
        return CheckOutcome(
            False,
            f"{dataset}: body parsed but held no rows for {len(empty)} day(s): {', '.join(empty[:10])}",
            {"empty_days": empty, "landing_files": files},
        )
    return CheckOutcome(
        True,
        f"{dataset}: {len(loads)} day(s) parsed from verified archive bodies",
        {"days": len(loads), "rows": sum(load.rows for load in loads), "first_file": loads[0].landing_file},
    )
