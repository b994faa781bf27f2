"""Landing and quarantine checks: what happened to each day's archived body, from the window's load."""

from __future__ import annotations

import json

from pipelines.checks.outcome import CheckOutcome
from pipelines.ingest.extract import WindowLoad
from pipelines.ingest.load_log import FAILED, REJECTED

QUARANTINE_SAMPLE = 10


def landing_bodies_parsed(dataset: str, load: WindowLoad) -> CheckOutcome:
    """Every day's body matched its sha256, was data (no error envelope, no HTML) and parsed into rows."""
    failed = [d for d in load.days if d.status == FAILED]  # an empty body is FAILED too: it empties nothing
    if not load.days:
        return CheckOutcome(True, f"{dataset}: no day of the window is within the source's history", {"days": 0})
    metadata = {
        "days": len(load.days),
        "rows_landed": sum(d.rows_landed for d in load.days),
        "landing_files": {d.day.isoformat(): d.landing_file for d in load.days if d.landing_file},
    }
    if failed:
        reasons = [d.reason for d in failed]
        metadata["failed_days"] = [d.day.isoformat() for d in failed]
        metadata["reasons"] = reasons
        return CheckOutcome(False, f"{len(reasons)} day(s) not loaded: " + " | ".join(reasons[:3]), metadata)
    return CheckOutcome(True, f"{dataset}: {len(load.days)} day(s) parsed from verified archive bodies", metadata)


def rejects_within_threshold(dataset: str, load: WindowLoad, threshold: float) -> CheckOutcome:
    """Quarantined rows are fine in small numbers; a day above the threshold was not loaded and fails."""
    rejected = [d for d in load.days if d.status == REJECTED]
    metadata = {
        "threshold": threshold,
        "rows_quarantined": load.quarantined.num_rows,
        "quarantined_by_day": {d.day.isoformat(): d.rows_quarantined for d in load.days if d.rows_quarantined},
        "sample_quarantined": [
            json.dumps({k: r[k] for k in ("partition_date", "row_number", "reason", "row_json")}, default=str)
            for r in load.quarantined.slice(0, QUARANTINE_SAMPLE).to_pylist()
        ],
    }
    if rejected:
        listed = " | ".join(f"{dataset} for {d.day}: {d.reason}" for d in rejected[:3])
        return CheckOutcome(False, f"{len(rejected)} day(s) over the reject threshold: {listed}", metadata)
    return CheckOutcome(True, f"{dataset}: {load.quarantined.num_rows} row(s) quarantined, every day within "
                              f"the {threshold:.1%} threshold (see raw.quarantine)", metadata)
