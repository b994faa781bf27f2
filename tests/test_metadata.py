"""Floats in asset and check metadata are rounded for reading, by the one helper every asset and check uses
(pipelines/metadata.py); the real run's metadata is checked in tests/test_end_to_end.py."""

import math

import dagster as dg
import numpy as np

from pipelines.metadata import round_float, tidy


def test_the_issues_examples_read_as_people_write_them():
    assert tidy({"share": 0.30000000000000004, "total_net_gex_usd": 672412345.1234567}) == {
        "share": 0.3, "total_net_gex_usd": 672412345.12}


def test_money_to_the_cent_anything_else_to_six_significant_digits():
    assert tidy({"spot_usd": 86988.84087406108, "zero_gamma_usd": -0.004999, "ratio": 0.123456789,
                 "seconds": 12.3456789, "difficulty": 149301312345678.9, "tiny": 1.23456789e-9}) == {
        "spot_usd": 86988.84, "zero_gamma_usd": 0.0, "ratio": 0.123457, "seconds": 12.3457,
        "difficulty": 149301000000000.0, "tiny": 1.23457e-9}


def test_only_floats_change_inside_dicts_lists_and_metadata_values():
    raw = {"counts": {"rows": 3, "ok": True, "name": "x", "none": None, "wall_usd": 90000.004},
           "series": (1 / 3, 2, "0.30000000000000004"), "numpy": [np.float64(2 / 3), np.int64(7), np.float32(0.1)],
           "value": dg.MetadataValue.float(1 / 7), "json": dg.MetadataValue.json({"gex_usd": 1 / 3}),
           "path": dg.MetadataValue.path("/a/b"), "nan": math.nan, "inf": -math.inf}
    out = tidy(raw)
    assert out["counts"] == {"rows": 3, "ok": True, "name": "x", "none": None, "wall_usd": 90000.0}
    assert out["series"] == [0.333333, 2, "0.30000000000000004"]  # text (evidence) is kept as written
    assert out["numpy"] == [0.666667, 7, 0.1] and type(out["numpy"][1]) is int
    assert out["value"] == dg.MetadataValue.float(0.142857)
    assert out["json"] == dg.MetadataValue.json({"gex_usd": 0.33})
    assert out["path"] == raw["path"] and math.isnan(out["nan"]) and out["inf"] == -math.inf


def test_rounding_twice_changes_nothing():
    for value in (0.1 + 0.2, 672412345.1234567, 1 / 3, 2.5e-7, 123456.5):
        for money in (False, True):
            once = round_float(value, money)
            assert round_float(once, money) == once
