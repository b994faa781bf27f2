from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The recorded real API bodies live beside the project, in the workplace's shared folder (never copied into it);
# BTCW_REAL_FIXTURES points elsewhere.
REAL_FIXTURES = Path(os.environ.get("BTCW_REAL_FIXTURES") or PROJECT_ROOT.parent / "shared" / "fixtures" / "real")
# BTCW_REQUIRE_REAL_FIXTURES=1 (.ci/run sets it where ../shared exists): a test needing them fails instead of skipping.
REQUIRE_REAL_FIXTURES = os.environ.get("BTCW_REQUIRE_REAL_FIXTURES", "").strip().lower() in ("1", "true", "yes")
ABSENT = "real API recordings absent at"


def real_fixtures_absent(path: Path) -> str:
    return (f"{ABSENT} {path} (they live beside the project, in ../shared/fixtures/real; BTCW_REAL_FIXTURES "
            "points elsewhere)")


@pytest.fixture(scope="session")
def real_fixtures() -> Path:
    """The recorded real API bodies. Absent: the test skips, and the run's summary counts it (below), unless
    BTCW_REQUIRE_REAL_FIXTURES=1 makes that a failure."""
    # An empty folder (a mount point, a shared folder not filled yet) holds no recording either.
    if not REAL_FIXTURES.is_dir() or not any(REAL_FIXTURES.iterdir()):
        if REQUIRE_REAL_FIXTURES:
            pytest.fail(f"BTCW_REQUIRE_REAL_FIXTURES=1 but {real_fixtures_absent(REAL_FIXTURES)}", pytrace=False)
        pytest.skip(real_fixtures_absent(REAL_FIXTURES))
    return REAL_FIXTURES


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter):
    """One line when tests skipped for want of the recordings, a green run must not hide that ~20 tests of the real
    APIs' formats never ran. The outermost wrapper, so that the line follows pytest's short summary."""
    yield
    skipped = [report for report in terminalreporter.stats.get("skipped", [])
               if isinstance(report.longrepr, tuple) and ABSENT in str(report.longrepr[2])]
    if skipped:
        tests = "test" if len(skipped) == 1 else "tests"
        terminalreporter.write_line(f"{len(skipped)} {tests} did not run: {ABSENT} {REAL_FIXTURES}", yellow=True,
                                    bold=True)
