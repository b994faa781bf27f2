"""The README's dataset catalogue is generated from the registry: it may not drift from the code."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pipelines.sources.catalog import markdown_table
from pipelines.sources.registry import DATASETS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_catalog_matches_the_registry():
    text = README.read_text()
    start = text.index("<!-- catalog:start -->") + len("<!-- catalog:start -->")
    end = text.index("<!-- catalog:end -->")
    expected = markdown_table(DATASETS, dt.date(2025, 11, 20))
    assert text[start:end].strip() == expected, "regenerate with: .venv/bin/python -m pipelines.sources.catalog"
