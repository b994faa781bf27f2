"""A warehouse that recovers by itself: `kill -9` at each phase of a real run, and a full disk, then the next identical
run — which must succeed and leave exactly what an uninterrupted run leaves (tests/crash_harness.py says how).

After each: the rerun exits 0; its marts equal an uninterrupted run's, table by table, every column; the landing
archive has no body without its sidecar, no leftover temporary and no cut-short fetch counted as complete; no run is
left in progress in Dagster's storage (the killed one is marked failed, naming its dead process); the serving DuckDB
copy and the Parquet set describe the same publication.
"""

from __future__ import annotations

import pytest

from tests.crash_harness import Warehouse, materializations_of, step_started, uninterrupted

pytestmark = pytest.mark.e2e

DAY = "2025-10-20"

# The phases of a run, each told by an event the run writes: landing (the paged mempool walk starting), the raw load
# (the Deribit chain: its parse, checks and load are most of its step), dbt mid-way (its fifth model materialised),
# the numpy gamma asset, the serving publication, the reports.
PHASES = {
    "landing": step_started("raw__mempool__blocks"),
    "raw load": step_started("raw__deribit__option_book_summary"),
    "dbt": materializations_of("dbt_models", 5),
    "gamma": step_started("gamma_exposure"),
    "serving publish": step_started("serving__warehouse"),
    "reports": step_started("reports__daily_html"),
}

# A disk that fills while the archive is being written: every link into the landing archive after the first few
# fails with ENOSPC, as a full file system does (the run then fails; the rerun has room again).
FULL_DISK = """
import errno, os, sys
_link, _replace, links = os.link, os.replace, [0]
def _full(name):
    if "/landing/" in str(name):
        links[0] += 1
        if links[0] > 12:
            raise OSError(errno.ENOSPC, "No space left on device", str(name))
def link(src, dst, *args, **kwargs):
    _full(dst)
    return _link(src, dst, *args, **kwargs)
def replace(src, dst, *args, **kwargs):
    _full(dst)
    return _replace(src, dst, *args, **kwargs)
os.link, os.replace = link, replace
from pipelines.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Warehouse:
    """The uninterrupted run every recovered warehouse must equal."""
    return uninterrupted(tmp_path_factory.mktemp("uninterrupted"), DAY, DAY)


@pytest.mark.parametrize("phase", list(PHASES))
def test_a_run_killed_at_each_phase_is_healed_by_the_next(phase, reference, tmp_path):
    warehouse = Warehouse(tmp_path)
    seen = warehouse.run_and_kill(DAY, DAY, PHASES[phase])
    assert warehouse.runs_in_progress(), f"the killed run should still look STARTED before the rerun: {seen[-5:]}"

    rerun = warehouse.run(DAY, DAY)

    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "marked failed so queued and scheduled runs can start" in rerun.stderr  # the orphan, said in one line
    assert warehouse.problems_against(reference) == []


def test_a_full_disk_while_landing_fails_the_run_and_the_next_run_heals(reference, tmp_path):
    warehouse = Warehouse(tmp_path)
    failed = warehouse.run(DAY, DAY, wrapper=FULL_DISK)
    assert failed.returncode != 0
    assert "No space left on device" in failed.stderr + failed.stdout

    rerun = warehouse.run(DAY, DAY)

    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert warehouse.problems_against(reference) == []
