"""python -m pipelines.reporting.cli: arguments, which warehouse file it reads, where it writes."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from report_warehouse import DAYS, build_report_warehouse

from pipelines.reporting import cli
from pipelines.serving.publish import publish_serving
from pipelines.settings import Settings

# A stand-in for a pipeline run: holds the file open read-write until killed.
HOLD_WRITER = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('holding', flush=True); time.sleep(60)"


def test_dates_are_collected_in_order():
    args = cli.parse_args(["--date", "2025-11-21", "--date", "2025-11-20"])
    assert args.dates == [dt.date(2025, 11, 21), dt.date(2025, 11, 20)] and not args.all
    assert cli.parse_args(["--all"]).all


@pytest.mark.parametrize(
    "argv", [[], ["--all", "--date", "2025-11-21"], ["--date", "21/11/2025"], ["--date"], ["2025-11-21"]]
)
def test_bad_arguments_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_repeated_dates_render_once():
    days = [dt.date(2025, 11, 21), dt.date(2025, 11, 20), dt.date(2025, 11, 21)]
    assert cli.unique_in_order(days) == [dt.date(2025, 11, 21), dt.date(2025, 11, 20)]


def test_the_serving_copy_is_preferred_when_published(tmp_path):
    settings = Settings(warehouse_dir=tmp_path)
    assert cli.report_source(settings) == tmp_path / "demo" / "warehouse.duckdb"
    (tmp_path / "demo" / "serving").mkdir(parents=True)
    (tmp_path / "demo" / "serving" / "warehouse.duckdb").write_bytes(b"")
    assert cli.report_source(settings) == tmp_path / "demo" / "serving" / "warehouse.duckdb"


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("BTCW_WAREHOUSE_DIR", str(tmp_path))
    monkeypatch.delenv("BTCW_SOURCE_MODE", raising=False)
    (tmp_path / "demo").mkdir()
    build_report_warehouse(tmp_path / "demo" / "warehouse.duckdb", with_gamma=False)
    return tmp_path / "demo"


def test_main_renders_the_dates_into_the_tree_reports_folder(tree, capsys):
    assert cli.main(["--date", "2025-11-20", "--date", "2025-11-25"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"Reading {tree / 'warehouse.duckdb'}",
        str(tree / "reports" / "2025-11-20.html"),
        str(tree / "reports" / "2025-11-25.html"),
    ]
    assert "No data for 2025-11-25" in (tree / "reports" / "2025-11-25.html").read_text(encoding="utf-8")


def test_main_all_renders_every_dashboard_day(tree, capsys, monkeypatch):
    rendered = []
    monkeypatch.setattr(cli, "render_daily_report", lambda conn, day, out, simulated: rendered.append(day) or out / "x")
    assert cli.main(["--all"]) == 0
    assert rendered == DAYS


def test_main_reads_the_published_copy_not_the_pipeline_file(tree, capsys):
    publish_serving(tree / "warehouse.duckdb", tree / "serving")
    with duckdb.connect(str(tree / "warehouse.duckdb")) as conn:  # the pipeline moves on after publishing
        conn.execute("UPDATE marts.mart_market_daily SET close = 1 WHERE date = ?", [DAYS[-1]])
    assert cli.main(["--date", DAYS[-1].isoformat()]) == 0
    assert capsys.readouterr().out.startswith(f"Reading {tree / 'serving' / 'warehouse.duckdb'}")
    page = (tree / "reports" / f"{DAYS[-1]}.html").read_text(encoding="utf-8")
    assert "$88,820 (range" in page and "<td>$1 (range" not in page


def test_main_without_a_warehouse_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BTCW_WAREHOUSE_DIR", str(tmp_path))
    monkeypatch.delenv("BTCW_SOURCE_MODE", raising=False)
    assert cli.main(["--date", "2025-11-21"]) == 2
    assert "no warehouse at" in capsys.readouterr().err


def test_main_all_on_a_warehouse_without_the_dashboard_mart(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BTCW_WAREHOUSE_DIR", str(tmp_path))
    monkeypatch.delenv("BTCW_SOURCE_MODE", raising=False)
    (tmp_path / "demo").mkdir()
    with duckdb.connect(str(tmp_path / "demo" / "warehouse.duckdb")) as conn:
        conn.execute("CREATE SCHEMA marts")
    assert cli.main(["--all"]) == 1
    assert "no day to render" in capsys.readouterr().err


def test_main_reports_a_bad_setting(monkeypatch, capsys):
    monkeypatch.setenv("BTCW_SOURCE_MODE", "paper")
    assert cli.main(["--all"]) == 2
    assert "BTCW_SOURCE_MODE" in capsys.readouterr().err


def test_main_when_a_running_pipeline_holds_its_file(tree, capsys):
    """Another process writing the pipeline's file (and no serving copy yet): a clear message, no traceback."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER, str(tree / "warehouse.duckdb")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert cli.main(["--date", "2025-11-21"]) == 1
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert "cannot open" in capsys.readouterr().err
    assert not (tree / "reports").exists()
