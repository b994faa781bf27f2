"""validate_rows (pipelines/quality/validation.py) asks GX first only whether each expectation held (BOOLEAN_ONLY),
and asks again for the failing rows and values (COMPLETE) only when one did not: a passing suite costs one pass, and
a failing one says exactly what COMPLETE alone says."""

from __future__ import annotations

import great_expectations.expectations as gxe
import pyarrow as pa
import pytest

from pipelines.quality import validation


def expectations():
    return [gxe.ExpectColumnValuesToNotBeNull(column="price", meta={"why": "a price"}),
            gxe.ExpectColumnValuesToBeBetween(column="price", min_value=0, meta={"why": "prices are not negative"}),
            gxe.ExpectColumnValuesToBeUnique(column="day", meta={"why": "one row a day"})]


@pytest.fixture
def formats(monkeypatch):
    seen: list[str] = []
    validate = validation._validate

    def recording(suite, expectations, frame, result_format):
        seen.append(result_format)
        return validate(suite, expectations, frame, result_format)

    monkeypatch.setattr(validation, "_validate", recording)
    return seen


def test_a_passing_suite_is_validated_once_without_details(formats):
    table = pa.table({"day": [1, 2, 3], "price": [10.0, 11.0, 12.0]})
    verdict = validation.validate_rows("prices", expectations(), table)
    assert verdict.success and verdict.evaluated == 3 and verdict.row_reasons == {}
    assert formats == ["BOOLEAN_ONLY"]


def test_a_failing_suite_is_validated_again_for_its_rows_and_says_what_complete_says(formats):
    table = pa.table({"day": [1, 2, 2, 4], "price": [10.0, -1.0, 12.0, None]})
    verdict = validation.validate_rows("prices", expectations(), table)
    assert formats == ["BOOLEAN_ONLY", "COMPLETE"]
    frame = validation.to_frame(table)
    complete = validation._validate("prices", expectations(), frame, "COMPLETE")  # (recorded too)
    assert [f.describe() for f in verdict.failures] == [
        validation._failure(r).describe() for r in complete if not r.success]
    assert verdict.row_reasons == {
        1: ["prices are not negative (expect_column_values_to_be_between on price)",
            "one row a day (expect_column_values_to_be_unique on day)"],
        2: ["one row a day (expect_column_values_to_be_unique on day)"],
        3: ["a price (expect_column_values_to_not_be_null on price)"]}
