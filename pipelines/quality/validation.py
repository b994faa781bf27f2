"""Run a list of Great Expectations expectations on Arrow rows and say, plainly, what failed and which rows.

GX 1.x validates pandas DataFrames reliably here (its SQL datasource over DuckDB is broken: every expectation
fails with a MetricResolutionError), so rows are read from DuckDB as Arrow and handed over as pandas.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

SAMPLE_SIZE = 5


@dataclass(frozen=True)
class ExpectationFailure:
    expectation: str
    column: str
    why: str
    unexpected_count: int
    sample: list[Any]
    observed: Any = None

    def describe(self) -> str:
        seen = f"observed {self.observed}" if self.observed is not None else f"e.g. {self.sample[:3]}"
        return f"{self.expectation}({self.column}): {self.why}; {self.unexpected_count} unexpected, {seen}"


@dataclass(frozen=True)
class SuiteVerdict:
    suite: str
    evaluated: int
    failures: tuple[ExpectationFailure, ...]
    # Row position in the validated frame → the reasons it failed (column-map expectations only).
    row_reasons: dict[int, list[str]] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return not self.failures

    def metadata(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "expectations_evaluated": self.evaluated,
            "expectations_failed": len(self.failures),
            "failing_expectations": [f.describe() for f in self.failures],
        }


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow → pandas keeping integers and booleans nullable (a null must not turn an int column into floats)."""
    mapping = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    frame = table.to_pandas(types_mapper=mapping.get, date_as_object=False)
    # pandas 3 reads strings as its "str" dtype, which GX's type expectations do not recognise: plain objects.
    for column in table.schema:
        if pa.types.is_string(column.type):
            frame[column.name] = frame[column.name].astype(object)
    return frame


def validate_rows(suite: str, expectations: list[Any], table: pa.Table) -> SuiteVerdict:
    """Validate `table` (row positions 0..n-1) against `expectations`; never raises on failing data."""
    if not expectations:
        return SuiteVerdict(suite, 0, ())
    results = _run(suite, expectations, to_frame(table))
    failures: list[ExpectationFailure] = []
    row_reasons: dict[int, list[str]] = {}
    for result in results:
        if result.success:
            continue
        failure = _failure(result)
        failures.append(failure)
        for index in result.result.get("unexpected_index_list") or []:
            row_reasons.setdefault(int(index), []).append(failure.why + f" ({failure.expectation} on {failure.column})")
    return SuiteVerdict(suite, len(results), tuple(failures), row_reasons)


@functools.cache
def _context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@functools.cache
def _frames() -> Any:
    """One pandas datasource, asset and whole-frame batch definition for the process; each validation hands it its
    frame as a batch parameter. (Adding and deleting a datasource per validation saved the context's configuration
    each time: ~15% of a small suite's run.)"""
    return _context().data_sources.add_pandas("frames").add_dataframe_asset("frames") \
        .add_batch_definition_whole_dataframe("frames")


def _run(suite: str, expectations: list[Any], frame: pd.DataFrame) -> list[Any]:
    """The suite's results on `frame`: first with GX's BOOLEAN_ONLY result format, which only says whether each
    expectation held (half the time of COMPLETE, measured on a 13-expectation suite: 37 against 73 ms); when one
    failed, again with COMPLETE, whose results name the failing rows and values. A suite that passes, as nearly every
    suite does, costs the first pass only; one that fails gives the same results as COMPLETE alone."""
    results = _validate(suite, expectations, frame, "BOOLEAN_ONLY")
    if all(result.success for result in results):
        return results
    return _validate(suite, expectations, frame, "COMPLETE")


def _validate(suite: str, expectations: list[Any], frame: pd.DataFrame, result_format: str) -> list[Any]:
    import great_expectations as gx

    batch = _frames().get_batch(batch_parameters={"dataframe": frame})
    # The suite is only validated, never added to the context: its name need not be unique.
    gx_suite = gx.ExpectationSuite(name=suite, expectations=[e.copy() for e in expectations])
    outcome = batch.validate(gx_suite, result_format={"result_format": result_format})
    if any(r.exception_info and r.exception_info.get("raised_exception") for r in outcome.results):
        broken = [r for r in outcome.results if r.exception_info.get("raised_exception")]
        raise RuntimeError(f"suite {suite}: expectation raised {broken[0].exception_info['exception_message']}")
    return list(outcome.results)


def _failure(result: Any) -> ExpectationFailure:
    config = result.expectation_config
    kwargs = config.kwargs
    column = kwargs.get("column") or ", ".join(
        str(c) for c in (kwargs.get("column_list") or [kwargs.get("column_A"), kwargs.get("column_B")]) if c)
    details = result.result or {}
    sample = [_json_safe(v) for v in (details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]]
    return ExpectationFailure(
        expectation=config.type,
        column=column or "(table)",
        why=(config.meta or {}).get("why", ""),
        unexpected_count=int(details.get("unexpected_count") or 0),
        sample=sample,
        observed=_json_safe(details.get("observed_value")),
    )


def _json_safe(value: Any) -> Any:
    """Values GX returns (numpy scalars, tuples, NaN, timestamps) as plain JSON-able values for metadata."""
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
