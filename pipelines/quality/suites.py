"""Great Expectations suites built from the declared rules (quality/rules.py) and the dataset's spec.

Great Expectations is imported inside the functions: importing it costs ~4 s, which a process that never
validates (dbt parse, the CLI's --help, most unit tests) should not pay.
"""

from __future__ import annotations

from typing import Any

from pipelines.quality import rules as q
from pipelines.sources.spec import DatasetSpec

def row_expectations(spec: DatasetSpec) -> list[Any]:
    """Expectations each row must meet; a row failing any of them is quarantined with the rule's reason."""
    import great_expectations.expectations as gxe

    declared = q.rules_for(spec)
    found: list[Any] = []
    keys = list(spec.key_columns)
    why_keys = f"one row per key {tuple(keys)}"
    if len(keys) > 1:
        found.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=keys, meta={"why": why_keys}))
    else:
        found.append(gxe.ExpectColumnValuesToBeUnique(column=keys[0], meta={"why": why_keys}))
    for key in keys:
        found.append(gxe.ExpectColumnValuesToNotBeNull(column=key, meta={"why": "keys are never null"}))
    found.append(gxe.ExpectColumnValuesToBeBetween(
        column=q.NONFINITE, min_value=0, max_value=0, meta={"why": "numbers are finite (no NaN, no Infinity)"}))
    if spec.event_time_column:
        found.append(gxe.ExpectColumnValuesToBeBetween(
            column=q.EVENT_OFFSET, min_value=0, max_value=86_400, strict_max=True,
            meta={"why": f"{spec.event_time_column} inside the partition's UTC day"}))
    for rule in declared.rules:
        found.append(_expectation(gxe, rule))
    return found


def schema_expectations() -> list[Any]:
    """On the frame of schema_frame(): every declared column present, at its position, with its type.
    (GX's type expectations misread pandas' nullable integer columns, so types are compared as catalog text.)"""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnPairValuesToBeEqual(column_A="declared_column", column_B="table_column",
                                            meta={"why": "the declared raw columns, in order"}),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="declared_type", column_B="table_type",
                                            meta={"why": "the declared raw column types"}),
    ]


def volume_expectations(spec: DatasetSpec) -> list[Any]:
    """On a frame of (partition_date, rows, trailing_median, ratio): each day's rows near its trailing median."""
    import great_expectations.expectations as gxe

    band = q.rules_for(spec).volume
    if band is None:
        return []
    return [gxe.ExpectColumnValuesToBeBetween(
        column="ratio", min_value=band.low, max_value=band.high,
        meta={"why": f"rows of a day within {band.low}–{band.high}× the median of the "
                     f"{q.VOLUME_TRAILING_DAYS} days before it"})]


def _expectation(gxe: Any, rule: q.Rule) -> Any:
    meta = {"why": rule.why}
    if isinstance(rule, q.Between):
        return gxe.ExpectColumnValuesToBeBetween(
            column=rule.column, min_value=rule.min_value, max_value=rule.max_value,
            strict_min=rule.strict_min, strict_max=rule.strict_max, meta=meta)
    if isinstance(rule, q.NotBelow):
        return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=rule.column, column_B=rule.other, or_equal=True, meta=meta)
    if isinstance(rule, q.OneOf):
        return gxe.ExpectColumnValuesToBeInSet(column=rule.column, value_set=list(rule.values), meta=meta)
    raise TypeError(f"unknown rule {rule!r}")
