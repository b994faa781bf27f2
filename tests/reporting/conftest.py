"""Fixtures of the reporting tests: the hand-made warehouse of report_warehouse.py."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from report_warehouse import build_report_warehouse


@pytest.fixture
def report_db(tmp_path) -> Path:
    return build_report_warehouse(tmp_path / "warehouse.duckdb")


@pytest.fixture
def report_conn(report_db):
    conn = duckdb.connect(str(report_db), read_only=True)
    yield conn
    conn.close()
