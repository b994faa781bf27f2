"""The lake's real servers for a test module: `make lake-up`'s PostgreSQL and SeaweedFS in a scratch warehouse,
stopped and purged at the end even when a test fails. Skipped when PostgreSQL or `weed` is not installed, unless
BTCW_REQUIRE_LAKE=1 (.ci/run sets it): then that is a failure."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipelines.lake import services

ROOT = Path(__file__).resolve().parents[1]
REQUIRE = os.environ.get("BTCW_REQUIRE_LAKE", "").strip().lower() in ("1", "true", "yes")


def lake_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines.lake", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)


def absent() -> str | None:
    try:
        services.pg_bindir(os.environ)
        services.weed_binary()
    except services.LakeError as error:
        return str(error)
    return None


@contextlib.contextmanager
def running_lake() -> Iterator[SimpleNamespace]:
    """Up, yield (env: the environment `up` ran in; client_env: the BTCW_LAKE_* a client of it needs; paths; first:
    `up`'s output; state; scratch), then down --purge, every server process killed if `down` left one."""
    missing = absent()
    if missing:
        if REQUIRE:
            pytest.fail(f"BTCW_REQUIRE_LAKE=1 but {missing}", pytrace=False)
        pytest.skip(missing)
    # Not pytest's tmp_path: its /tmp/pytest-of-<user> is mode 0700, where the `postgres` user (PostgreSQL's, when
    # the tests run as root) cannot reach the data folder.
    scratch = Path(tempfile.mkdtemp(prefix="btcw-lake-"))
    os.chmod(scratch, 0o755)
    env = {**os.environ, "BTCW_WAREHOUSE_DIR": str(scratch / "warehouse")}
    for variable in services.CREDENTIAL_ENV.values():
        env.pop(variable, None)
    paths = services.LakePaths(scratch / "warehouse" / "lake")
    pids: list[int] = []
    try:
        first = lake_cli(env, "up")
        state = services.read_state(paths)
        pids = [pid for pid in ((state.get("postgres") or {}).get("pid"), (state.get("s3") or {}).get("pid")) if pid]
        assert first.returncode == 0, first.stdout + first.stderr
        yield SimpleNamespace(env=env, paths=paths, first=first, state=state, scratch=scratch,
                              client_env=services.client_env(env))
    finally:
        lake_cli(env, "down", "--purge")
        for pid in pids:  # whatever `down` left: never a server outliving the tests
            for member in services.process_tree(pid):
                os.kill(member, signal.SIGKILL)
        shutil.rmtree(scratch, ignore_errors=True)
