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


# ---- live mode against a local server, on a simulated clock (the soak: pipelines/soak) ----------------------------

LIVE_LOCAL = {"BTCW_SOURCE_MODE": "live", "BTCW_LIVE_BASE_URL": "http://127.0.0.1:8787/"}


def test_live_base_url_and_simulated_now_are_read_and_normalised():
    settings = Settings.from_env({**LIVE_LOCAL, "BTCW_SIMULATED_NOW": "2026-01-01T01:30:00+01:00"})
    assert settings.live_base_url == "http://127.0.0.1:8787"
    assert settings.simulated_now == dt.datetime(2026, 1, 1, 0, 30, tzinfo=dt.UTC)
    assert settings.now() == settings.simulated_now
    assert Settings.from_env({**LIVE_LOCAL, "BTCW_LIVE_BASE_URL": "https://localhost"}).live_base_url == "https://localhost"


def test_without_a_simulated_clock_now_is_the_real_utc_time():
    before = dt.datetime.now(dt.UTC)
    now = Settings.from_env({}).now()
    assert now.tzinfo is not None and before <= now <= dt.datetime.now(dt.UTC)


def test_a_remote_base_url_needs_the_explicit_allowance():
    env = {**LIVE_LOCAL, "BTCW_LIVE_BASE_URL": "https://mirror.example.org"}
    with pytest.raises(SettingsError, match=r"^BTCW_LIVE_BASE_URL='https://mirror.example.org' is not on 127.0.0.1, "
                                            r"localhost or ::1 \(set BTCW_LIVE_BASE_URL_ALLOW_REMOTE=1"):
        Settings.from_env(env)
    allowed = Settings.from_env({**env, "BTCW_LIVE_BASE_URL_ALLOW_REMOTE": "1"})
    assert allowed.live_base_url == "https://mirror.example.org"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**LIVE_LOCAL, "BTCW_LIVE_BASE_URL": "ftp://127.0.0.1"}, "BTCW_LIVE_BASE_URL='ftp://127.0.0.1' is not an http(s)"),
        ({**LIVE_LOCAL, "BTCW_LIVE_BASE_URL": "127.0.0.1:8787"}, "BTCW_LIVE_BASE_URL='127.0.0.1:8787' is not an http(s)"),
        ({**LIVE_LOCAL, "BTCW_LIVE_BASE_URL": "http://127.0.0.1:99999"}, "BTCW_LIVE_BASE_URL='http://127.0.0.1:99999' is not a URL"),
        ({**LIVE_LOCAL, "BTCW_LIVE_BASE_URL": "http://127.0.0.1:8787/api"}, "BTCW_LIVE_BASE_URL='http://127.0.0.1:8787/api' must be an origin only"),
        ({**LIVE_LOCAL, "BTCW_LIVE_BASE_URL": "http://10.0.0.1", "BTCW_LIVE_BASE_URL_ALLOW_REMOTE": "maybe"},
         "BTCW_LIVE_BASE_URL_ALLOW_REMOTE='maybe' is not a boolean"),
        ({"BTCW_LIVE_BASE_URL": "http://127.0.0.1:8787"}, "BTCW_LIVE_BASE_URL='http://127.0.0.1:8787' redirects live mode only, "
                                                          "but BTCW_SOURCE_MODE=demo"),
        ({"BTCW_SIMULATED_NOW": "2026-01-01T00:30:00"}, "BTCW_SIMULATED_NOW='2026-01-01T00:30:00' has no UTC offset"),
        ({"BTCW_SIMULATED_NOW": "tonight"}, "BTCW_SIMULATED_NOW='tonight' is not an ISO-8601 date and time"),
        ({"BTCW_SOURCE_MODE": "live", "BTCW_SIMULATED_NOW": "2026-01-01T00:30:00Z"},
         "BTCW_SIMULATED_NOW in live mode needs BTCW_LIVE_BASE_URL"),
    ],
)
def test_bad_live_redirect_or_clock_is_one_line_naming_the_variable(env, message):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_the_warehouse_resource_carries_the_redirect_and_the_clock(tmp_path):
    from pipelines.resources import WarehouseResource

    settings = Settings.from_env({**LIVE_LOCAL, "BTCW_SIMULATED_NOW": "2026-01-31T00:30:00Z",
                                  "BTCW_WAREHOUSE_DIR": str(tmp_path)})
    resource = WarehouseResource.from_settings(settings)
    assert (resource.live_base_url, resource.simulated_now) == ("http://127.0.0.1:8787", "2026-01-31T00:30:00+00:00")
    assert resource.settings == settings
    plain = Settings.from_env({"BTCW_WAREHOUSE_DIR": str(tmp_path)})
    assert WarehouseResource.from_settings(plain).settings == plain
