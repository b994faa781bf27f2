"""A publish killed with SIGKILL at any step: BI still opens ONE whole version (the previous one, or the new one
once `current` was switched), the next publish succeeds and sweeps what the kill left, and a reader that had the
previous version open keeps reading it.

The kill is real: a child process publishes with its file-system calls (mkdir, rename, replace, symlink, link,
unlink, rmdir) and its copy/export steps counted, and sends itself SIGKILL before the k-th call (or after the k-th
copy or export step), so no `except`/`finally` runs. A first child counts the calls of an uninterrupted publish;
then every call is a kill point. What BI sees is judged twice: by content (each table of the DuckDB copy and each
Parquet file names the source version it came from) and by `publication_consistent`, the check the kill harness
uses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.serving.publish import (
    KEEP_VERSIONS,
    PARQUET_DIR,
    SERVING_FILE,
    publication_consistent,
    publish_serving,
)

CONFIG = {"threads": "1"}
REPO = Path(__file__).resolve().parents[2]
TABLES = ("events", "extra", "prices")

# Publishes argv[1] into argv[2]; kills itself at kill point (argv[3], argv[4]): ("fs", k) before the k-th
# file-system call, (<step>, k) after the k-th call of that step; ("none", 0) runs through. Prints what it counted.
CHILD = r"""
import json, os, signal, sys
from pathlib import Path
import pipelines.serving.publish as publish

source, serving, kind, at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
fs_calls, steps = [], {}

def wrap_fs(name):
    real = getattr(os, name)
    def call(*args, **kwargs):
        fs_calls.append(f"os.{name}(" + ", ".join(os.path.basename(str(a)) for a in args) + ")")
        if kind == "fs" and len(fs_calls) == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    setattr(os, name, call)

def wrap_step(name):
    real = getattr(publish, name)
    def call(*args, **kwargs):
        result = real(*args, **kwargs)
        steps[name] = steps.get(name, 0) + 1
        if kind == name and steps[name] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    setattr(publish, name, call)

for name in ("mkdir", "rename", "replace", "symlink", "link", "unlink", "rmdir"):
    wrap_fs(name)
for name in ("copy_table", "export_parquet"):
    wrap_step(name)
publish.publish_serving(Path(source), Path(serving), duckdb_config={"threads": "1"})
print(json.dumps({"fs": fs_calls, "steps": steps}))
"""

# Holds the publication open as BI tools do, then answers from what it holds when told to (one line on stdin per
# question): the DuckDB copy (a connection), a Parquet file (an open handle), and the version folder it resolved
# through current.json (what a reader of many Parquet files, or DuckDB's read_parquet, should use).
READER = r"""
import json, sys, duckdb, pyarrow.parquet as pq
from pathlib import Path
serving = Path(sys.argv[1])
conn = duckdb.connect(str(serving / "warehouse.duckdb"), read_only=True)
handle = open(serving / "parquet" / "prices.parquet", "rb")
version_dir = serving / "versions" / json.loads((serving / "current.json").read_text())["version_id"]
print("ready", flush=True)
for question in sys.stdin:
    answer = {"duckdb": conn.execute("SELECT version FROM marts.events").fetchone()[0],
              "parquet_handle": sorted(set(pq.read_table(handle).column("tag").to_pylist()))}
    try:
        with duckdb.connect() as folder:
            answer["version_folder"] = folder.execute(
                "SELECT DISTINCT version FROM read_parquet(?)", [str(version_dir / "parquet" / "events.parquet")]
            ).fetchall()
    except duckdb.Error as error:
        answer["version_folder"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    print(json.dumps(answer), flush=True)
"""


def make_source(path: Path, version: int) -> Path:
    """Three marts that each name the source version they came from: events (one row `version`), prices
    (version + 2 rows tagged v<version>), extra (version rows of `version`)."""
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.execute("CREATE OR REPLACE TABLE marts.events AS SELECT ?::INTEGER AS version", [version])
        conn.execute("CREATE OR REPLACE TABLE marts.prices AS SELECT DATE '2025-11-01' + i::INTEGER AS date, "
                     "90000.0 + i AS close, ? AS tag FROM range(?) r(i)", [f"v{version}", version + 2])
        conn.execute("CREATE OR REPLACE TABLE marts.extra AS SELECT ?::INTEGER AS x FROM range(?)", [version, version])
    return path


def what_bi_sees(serving: Path) -> int | str:
    """The source version behind every name BI opens, if they all agree and each table is whole; else what
    each one says. Opens and closes the copy (an open instance would be reused for the same path)."""
    said = {}
    try:
        with duckdb.connect(str(serving / SERVING_FILE), read_only=True) as conn:
            said["duckdb tables"] = sorted(t for (t,) in conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall())
            (version,) = conn.execute("SELECT version FROM marts.events").fetchone()
            said["duckdb"] = version
            said["duckdb whole"] = conn.execute(
                "SELECT (SELECT count(*) = ? AND min(tag) = max(tag) AND max(tag) = ? FROM marts.prices) "
                "AND (SELECT count(*) = ? AND min(x) = ? FROM marts.extra)",
                [version + 2, f"v{version}", version, version]).fetchone()[0]
    except (duckdb.Error, OSError) as error:
        said["duckdb"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    parquet = serving / PARQUET_DIR
    said["parquet files"] = sorted(p.name for p in parquet.glob("*.parquet")) if parquet.is_dir() else []
    for table, column in (("events", "version"), ("extra", "x")):
        try:
            said[f"{table}.parquet"] = sorted(set(pq.read_table(parquet / f"{table}.parquet")[column].to_pylist()))
        except OSError as error:
            said[f"{table}.parquet"] = f"{type(error).__name__}: {error}"
    try:
        tags = pq.read_table(parquet / "prices.parquet")["tag"].to_pylist()
        said["prices.parquet"] = sorted({int(t.removeprefix("v")) for t in tags}), len(tags)
    except OSError as error:
        said["prices.parquet"] = f"{type(error).__name__}: {error}"
    version = said["duckdb"]
    whole = isinstance(version, int) and said == {
        "duckdb tables": list(TABLES), "duckdb": version, "duckdb whole": True,
        "parquet files": [f"{t}.parquet" for t in TABLES], "events.parquet": [version], "extra.parquet": [version],
        "prices.parquet": ([version], version + 2)}
    return version if whole else json.dumps(said, default=str)


def hidden_leftovers(serving: Path) -> list[str]:
    return sorted(str(p.relative_to(serving)) for p in serving.rglob(".*"))


def run_child(source: Path, serving: Path, kind: str, at: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, str(source), str(serving), kind, str(at)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def dry_run(source: Path, serving: Path, scratch: Path) -> dict:
    """The calls an uninterrupted publish makes, counted on a copy of `serving` (links kept as links)."""
    copy = scratch / "serving"
    shutil.copytree(serving, copy, symlinks=True)
    child = run_child(source, copy, "none", 0)
    assert child.returncode == 0, child.stderr
    shutil.rmtree(scratch)
    return json.loads(child.stdout)


def legacy_layout(serving: Path) -> None:
    """Turn a publication into the layout of before versions: a plain warehouse.duckdb and parquet/ folder."""
    version_dir = (serving / "current").resolve()
    for name in ("warehouse.duckdb", "parquet", "current.json", "current"):
        (serving / name).unlink()
    shutil.copy2(version_dir / SERVING_FILE, serving / SERVING_FILE)
    shutil.copytree(version_dir / PARQUET_DIR, serving / PARQUET_DIR)
    shutil.rmtree(serving / "versions")


@pytest.mark.parametrize("layout", ["versions", "legacy"])
def test_a_kill_at_any_step_leaves_one_whole_version_and_the_next_publish_sweeps_it(tmp_path, layout):
    """`versions`: KEEP_VERSIONS versions already published, so the killed publish also prunes one. `legacy`:
    the first publish after an upgrade, which adopts the old layout's files before publishing."""
    previous, killed, next_ = (make_source(tmp_path / f"source{v}.duckdb", v) for v in (1, 2, 3))
    template = tmp_path / "template" / "serving"
    for _ in range(KEEP_VERSIONS if layout == "versions" else 1):
        publish_serving(previous, template, duckdb_config=CONFIG)
    if layout == "legacy":
        legacy_layout(template)
    assert what_bi_sees(template) == 1

    calls = dry_run(killed, template, tmp_path / "dry")
    assert len(calls["fs"]) >= 5 and calls["steps"] == {"copy_table": 3, "export_parquet": 3}, calls
    points = []
    for k, label in enumerate(calls["fs"], start=1):
        if layout == "legacy" and ".000002." in label:
            break  # the adoption is over: what follows is an ordinary publish, killed in the other case
        # The unlinks of one rmtree (of a folder already renamed aside) are alike: kill at the first one only.
        if not (label.startswith("os.unlink(") and points and points[-1][2].startswith("os.unlink(")):
            points.append(("fs", k, label))
    if layout == "versions":
        points += [(step, k, f"after {step} #{k}") for step, n in sorted(calls["steps"].items())
                   for k in range(1, n + 1)]

    failures, seen = [], []
    for index, (kind, at, label) in enumerate(points):
        tree = tmp_path / f"kill{index:02d}"
        serving = tree / "serving"
        shutil.copytree(template, serving, symlinks=True)
        where = f"killed at {kind} #{at} ({label})"
        child = run_child(killed, serving, kind, at)
        if child.returncode != -signal.SIGKILL:
            failures.append(f"{where}: the child was not killed there (exit {child.returncode}): {child.stderr}")
            continue
        after_kill = what_bi_sees(serving)
        seen.append((kind, after_kill))
        if after_kill not in (1, 2):
            failures.append(f"{where}: BI sees no single whole version: {after_kill}")
        if layout == "versions" and publication_consistent(tree):
            failures.append(f"{where}: publication_consistent after the kill: {publication_consistent(tree)}")

        report = publish_serving(next_, serving, duckdb_config=CONFIG)
        if what_bi_sees(serving) != 3:
            failures.append(f"{where}: after the next publish BI sees {what_bi_sees(serving)}")
        if publication_consistent(tree):
            failures.append(f"{where}: publication_consistent after the next publish: {publication_consistent(tree)}")
        if hidden_leftovers(serving):
            failures.append(f"{where}: left after the next publish: {hidden_leftovers(serving)}")
        versions = sorted(p.name for p in (serving / "versions").iterdir())
        if len(versions) > KEEP_VERSIONS or versions[-1] != report.version_dir.name:
            failures.append(f"{where}: versions after the next publish: {versions}")
        shutil.rmtree(tree)
    assert failures == []
    # The previous version until one instant (the switch of `current`), the new one after it; never back. A kill
    # while copying or exporting is before that instant.
    in_order = [version for kind, version in seen if kind == "fs"]
    assert in_order == sorted(in_order) and in_order[0] == 1, seen
    assert {version for kind, version in seen if kind != "fs"} <= {1}, seen
    # The versions case kills after the switch too (while pruning); the legacy case only while adopting.
    assert in_order[-1] == (2 if layout == "versions" else 1), seen


def test_a_reader_holding_the_previous_version_keeps_reading_it_after_a_kill_and_later_publishes(tmp_path):
    serving = tmp_path / "serving"
    publish_serving(make_source(tmp_path / "source1.duckdb", 1), serving, duckdb_config=CONFIG)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(serving)], cwd=REPO, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def ask() -> dict:
        reader.stdin.write("?\n")
        reader.stdin.flush()
        line = reader.stdout.readline()
        assert line, reader.stderr.read()
        return json.loads(line)

    whole_v1 = {"duckdb": 1, "parquet_handle": ["v1"], "version_folder": [[1]]}
    try:
        assert reader.stdout.readline() == "ready\n", reader.stderr.read()
        # Killed just before `current` is switched: the new version is complete on disk, BI still sees v1.
        source2 = make_source(tmp_path / "source2.duckdb", 2)
        switch = [k for k, label in enumerate(dry_run(source2, serving, tmp_path / "dry")["fs"], start=1)
                  if label.startswith("os.replace(") and label.endswith(", current)")]
        child = run_child(source2, serving, "fs", switch[0])
        assert child.returncode == -signal.SIGKILL, child.stderr
        assert what_bi_sees(serving) == 1 and ask() == whole_v1
        # The next publishes: the reader's version folder stays for KEEP_VERSIONS - 1 of them.
        for version in range(3, 3 + KEEP_VERSIONS - 1):
            publish_serving(make_source(tmp_path / f"source{version}.duckdb", version), serving, duckdb_config=CONFIG)
            assert ask() == whole_v1
        # One more removes it; what the reader holds open still reads v1.
        publish_serving(make_source(tmp_path / "source9.duckdb", 9), serving, duckdb_config=CONFIG)
        answer = ask()
        assert {k: answer[k] for k in ("duckdb", "parquet_handle")} == {"duckdb": 1, "parquet_handle": ["v1"]}
        assert "IOException" in answer["version_folder"], answer
        assert what_bi_sees(serving) == 9 and publication_consistent(tmp_path) == []
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)


def test_publication_consistent_names_each_disagreement(tmp_path):
    """The check is not vacuous: a Parquet file or a DuckDB copy from another version is reported."""
    serving = tmp_path / "serving"
    first = publish_serving(make_source(tmp_path / "source1.duckdb", 1), serving, duckdb_config=CONFIG)
    second = publish_serving(make_source(tmp_path / "source2.duckdb", 2), serving, duckdb_config=CONFIG)
    assert publication_consistent(tmp_path) == []
    assert publication_consistent(tmp_path / "nothing published") == []

    shutil.copy2(first.version_dir / PARQUET_DIR / "events.parquet", second.version_dir / PARQUET_DIR / "events.parquet")
    problems = publication_consistent(tmp_path)
    assert problems == [f"{serving}: version 000002: parquet/events.parquet differs from the size/sha256 in "
                        "manifest.json"]

    shutil.copy2(first.version_dir / SERVING_FILE, second.version_dir / SERVING_FILE)
    problems = publication_consistent(tmp_path)
    assert f"{serving}: version 000002: warehouse.duckdb differs from the size/sha256 in manifest.json" in problems
    assert f"{serving}: version 000002: the DuckDB copy's serving.publication says [(1,)]" in problems
    assert any("prices has 3 rows in the DuckDB copy, 4 in manifest.json" in p for p in problems), problems

    (serving / SERVING_FILE).unlink()
    os.symlink(f"versions/{first.version_dir.name}/{SERVING_FILE}", serving / SERVING_FILE)
    assert any("warehouse.duckdb is not the link" in p for p in publication_consistent(tmp_path))
