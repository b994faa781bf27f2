"""The tests that read the recorded real API bodies (the `real_fixtures` fixture, tests/conftest.py) never skip
silently: the run's summary counts them, and BTCW_REQUIRE_REAL_FIXTURES=1 (CI with ../shared, .ci/run) makes their
absence a failure naming the path. Real pytest runs of this conftest on a tiny test file."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")
USES_THEM = """
def test_reads_a_recording(real_fixtures):
    assert (real_fixtures / "binance" / "one.json").read_text() == "{}"

def test_reads_another(real_fixtures):
    assert real_fixtures.is_dir()

def test_needs_none():
    assert 1 + 1 == 2
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_uses_them=USES_THEM)
    return pytester


def run(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fixtures: Path, require: str | None):
    monkeypatch.setenv("BTCW_REAL_FIXTURES", str(fixtures))
    if require is None:
        monkeypatch.delenv("BTCW_REQUIRE_REAL_FIXTURES", raising=False)
    else:
        monkeypatch.setenv("BTCW_REQUIRE_REAL_FIXTURES", require)
    return project.runpytest_subprocess("-p", "no:cacheprovider", "-rs")


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_absent_recordings_are_counted_in_one_line(project, monkeypatch, tmp_path, state):
    fixtures = tmp_path / "recordings"
    if state == "empty":
        fixtures.mkdir()
    result = run(project, monkeypatch, fixtures, require=None)
    result.assert_outcomes(passed=1, skipped=2)
    assert result.ret == 0
    assert f"2 tests did not run: real API recordings absent at {fixtures}" in result.outlines


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_required_recordings_that_are_absent_fail_naming_the_path(project, monkeypatch, tmp_path, state):
    fixtures = tmp_path / "recordings"
    if state == "empty":
        fixtures.mkdir()
    result = run(project, monkeypatch, fixtures, require="1")
    result.assert_outcomes(passed=1, errors=2)
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"*BTCW_REQUIRE_REAL_FIXTURES=1 but real API recordings absent at {fixtures} *"])
    assert not any("did not run" in line for line in result.outlines)


def test_present_recordings_are_read_and_nothing_is_said(project, monkeypatch, tmp_path):
    fixtures = tmp_path / "recordings"
    (fixtures / "binance").mkdir(parents=True)
    (fixtures / "binance" / "one.json").write_text("{}")
    result = run(project, monkeypatch, fixtures, require="1")
    result.assert_outcomes(passed=3)
    assert not any("did not run" in line for line in result.outlines)


@pytest.mark.parametrize(("shared", "given", "required"), [(True, None, "1"), (False, None, ""), (False, "/x", "1")])
def test_ci_requires_them_where_the_shared_folder_exists(tmp_path, shared, given, required):
    """.ci/run itself, in a scratch workplace, with `make` replaced on PATH by a script that reports what it was
    given (the real `make test` is the 17-minute suite)."""
    import os
    import shutil
    import subprocess

    project = tmp_path / "workplace" / "project"
    (project / ".ci").mkdir(parents=True)
    shutil.copy2(Path(__file__).parents[1] / ".ci" / "run", project / ".ci" / "run")
    if shared:
        (tmp_path / "workplace" / "shared").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").write_text('#!/bin/sh\necho "make $* require=${BTCW_REQUIRE_REAL_FIXTURES:-}"\n')
    # On a machine still without the Debian packages .ci/run installs, it would run the real apt-get (its output on
    # stdout, the packages installed as root): a silent stand-in keeps the test to what it checks.
    (bin_dir / "apt-get").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("make", "apt-get"):
        (bin_dir / tool).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("BTCW_REAL_FIXTURES", "BTCW_REQUIRE_REAL_FIXTURES")}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    if given:
        env["BTCW_REAL_FIXTURES"] = given
    done = subprocess.run([str(project / ".ci" / "run")], capture_output=True, text=True, env=env, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"make test require={required}\n"
    warned = "WARNING: no ../shared beside the project: the tests of the real APIs' recorded bodies will NOT run"
    assert (warned in done.stderr) is (required == "")
