from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures" / "real"


@pytest.fixture(scope="session")
def real_fixtures() -> Path:
    """The recorded real API bodies kept beside the project (never copied into it)."""
    if not REAL_FIXTURES.is_dir():
        pytest.skip(f"real API recordings not found at {REAL_FIXTURES} (they live beside the project, in ../shared)")
    return REAL_FIXTURES
