import datetime as dt
from pathlib import Path

import pytest

from pipelines.settings import Settings, SettingsError, SourceMode


def test_defaults_are_demo_mode_under_warehouse():
    settings = Settings.from_env({})
    assert settings.source_mode is SourceMode.DEMO
    assert settings.warehouse_dir == Path("warehouse").resolve()
    assert settings.start_date == dt.date(2020, 1, 1)
    assert settings.duckdb_path == Path("warehouse").resolve() / "demo" / "warehouse.duckdb"
    assert settings.landing_dir == Path("warehouse").resolve() / "demo" / "landing"


def test_replay_reads_and_writes_the_live_tree(tmp_path):
    replay = Settings.from_env({"BTCW_SOURCE_MODE": "replay", "BTCW_WAREHOUSE_DIR": str(tmp_path)})
    live = Settings.from_env({"BTCW_SOURCE_MODE": "LIVE", "BTCW_WAREHOUSE_DIR": str(tmp_path)})
    demo = Settings.from_env({"BTCW_WAREHOUSE_DIR": str(tmp_path)})
    assert replay.tree_dir == live.tree_dir == tmp_path / "live"
    assert demo.tree_dir == tmp_path / "demo"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BTCW_SOURCE_MODE": "prod"}, "BTCW_SOURCE_MODE='prod' is not one of: demo, live, replay"),
        ({"BTCW_START_DATE": "2020-13-01"}, "BTCW_START_DATE='2020-13-01' is not a date"),
        ({"BTCW_DUCKDB_THREADS": "0"}, "BTCW_DUCKDB_THREADS='0' is not a positive integer"),
    ],
)
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_env(env)


def test_duckdb_config_is_explicit(tmp_path):
    config = Settings.from_env({"BTCW_WAREHOUSE_DIR": str(tmp_path), "BTCW_DUCKDB_MEMORY_LIMIT": "1GB"}).duckdb_config()
    assert config == {"memory_limit": "1GB", "threads": "2", "temp_directory": str(tmp_path / "demo" / "tmp")}


def test_importing_definitions_reads_no_environment(monkeypatch):
    import importlib

    monkeypatch.setenv("BTCW_SOURCE_MODE", "not-a-mode")
    module = importlib.import_module("pipelines.definitions")
    importlib.reload(module)  # would raise SettingsError if settings were built at import
