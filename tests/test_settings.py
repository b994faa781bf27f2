import datetime as dt
import os
import re
from pathlib import Path

import pytest

from pipelines.settings import Settings, SettingsError, SourceMode


def test_defaults_are_demo_mode_under_warehouse():
    settings = Settings.from_env({})
    assert settings.source_mode is SourceMode.DEMO
    assert settings.warehouse_dir == Path("warehouse").resolve()
    assert settings.start_date == dt.date(2025, 10, 1)  # the demo window's first day (`make run`)
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
        ({"BTCW_START_DATE": "2008-12-31"}, "BTCW_START_DATE='2008-12-31' is before Bitcoin's first block (2009-01-03)"),
        ({"BTCW_START_DATE": "2026-01-02", "BTCW_SIMULATED_NOW": "2026-01-01T00:30:00Z"},
         "BTCW_START_DATE='2026-01-02' is after today (2026-01-01 UTC): no day would be a partition"),
        ({"BTCW_DUCKDB_THREADS": "0"}, "BTCW_DUCKDB_THREADS='0' is not a positive integer"),
    ],
)
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(env)


def test_the_first_partition_is_where_the_modes_data_starts_unless_set():
    """Demo: the demo window's first day; live and replay (the live tree): the first day every source with a history
    serves (pipelines/settings.py says why); BTCW_START_DATE wins in every mode, and a Settings made in code
    without one takes its mode's."""
    from pipelines.cli import DEMO_WINDOW
    from pipelines.sources.registry import DATASETS

    assert Settings.from_env({}).start_date == DEMO_WINDOW[0] == dt.date(2025, 10, 1)
    # Polymarket's markets are followed from a listing; Deribit's DVOL, an index launched in 2021, skips earlier days.
    dated = {spec.name: spec.available_from for spec in DATASETS if spec.available_from is not None
             and spec.source != "polymarket" and not spec.dataset.endswith("_dvol")}
    for mode in ("live", "replay"):
        assert Settings.from_env({"BTCW_SOURCE_MODE": mode}).start_date == max(dated.values()) == dt.date(2020, 3, 25)
        assert Settings.from_env({"BTCW_SOURCE_MODE": mode, "BTCW_START_DATE": " 2025-12-15 "}).start_date == \
            dt.date(2025, 12, 15)
    assert Settings.from_env({"BTCW_START_DATE": "2020-01-01"}).start_date == dt.date(2020, 1, 1)
    assert Settings(source_mode=SourceMode.LIVE).start_date == dt.date(2020, 3, 25)
    assert Settings(start_date=dt.date(2024, 1, 1)).start_date == dt.date(2024, 1, 1)


def test_a_range_before_the_first_partition_names_the_setting_to_change(tmp_path):
    from pipelines.runner import RangeError, validate_range

    settings = Settings(warehouse_dir=tmp_path)
    with pytest.raises(RangeError) as caught:
        validate_range(settings, dt.date(2025, 9, 30), dt.date(2025, 10, 2), dt.date(2025, 11, 1))
    assert str(caught.value) == ("START 2025-09-30 is before the first partition, 2025-10-01 (demo mode): set "
                                 "BTCW_START_DATE=2025-09-30 (or earlier) to backfill it")
    validate_range(settings, dt.date(2025, 10, 1), dt.date(2025, 10, 2), dt.date(2025, 11, 1))  # from the first day: fine


def test_duckdb_config_is_explicit(tmp_path):
    config = Settings.from_env({"BTCW_WAREHOUSE_DIR": str(tmp_path), "BTCW_DUCKDB_MEMORY_LIMIT": "1GB"}).duckdb_config()
    assert config == {"memory_limit": "1GB", "threads": "2", "temp_directory": str(tmp_path / "demo" / "tmp")}


def test_importing_definitions_reads_no_environment(monkeypatch):
    import importlib

    monkeypatch.setenv("BTCW_SOURCE_MODE", "not-a-mode")
    module = importlib.import_module("pipelines.definitions")
    importlib.reload(module)  # would raise SettingsError if settings were built at import
    # ... and the environment is read when the code location loads them: the bad mode is reported then.
    with pytest.raises(SettingsError, match=r"^BTCW_SOURCE_MODE='not-a-mode' is not one of"):
        module.defs.load_fn()


# ---- each bad setting is one line naming the variable, the value and what is accepted ------------------------------


def one_line_error(env) -> str:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    # One line, and no chained exception for a traceback to show ("During handling of the above exception ...").
    assert "\n" not in message and caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    return message


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("lots", True), ("4", True), ("4 PB", True), ("0GB", True), ("150%", True), ("-1GB", True), ("4GB; drop", True),
        ("4GB", False), ("512 MiB", False), ("1.5gib", False), (" 2TB ", False), ("100KB", False), ("80%", False),
    ],
)
def test_memory_limit_is_checked_against_duckdbs_syntax(tmp_path, value, accepted):
    env = {"BTCW_WAREHOUSE_DIR": str(tmp_path), "BTCW_DUCKDB_MEMORY_LIMIT": value}
    if accepted:
        assert one_line_error(env) == (
            f"BTCW_DUCKDB_MEMORY_LIMIT={value!r} is not a DuckDB memory limit: use a size such as 4GB or 512MiB "
            "(KB, MB, GB, TB or KiB, MiB, GiB, TiB) or a share of RAM such as 50%")
    elif value.endswith("%"):  # a share of RAM, in MiB: DuckDB 1.5 takes no percentage
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        assert Settings.from_env(env).duckdb_memory_limit == f"{int(ram * 0.8) // 2**20}MiB"
    else:
        assert Settings.from_env(env).duckdb_memory_limit == value.strip()


def test_every_memory_limit_accepted_is_one_duckdb_takes(tmp_path):
    import duckdb

    for value in ("4GB", "512 MiB", "1.5gib", "2TB", "100KB", "80%", ".5GB"):
        limit = Settings.from_env({"BTCW_WAREHOUSE_DIR": str(tmp_path), "BTCW_DUCKDB_MEMORY_LIMIT": value})
        with duckdb.connect(config={"memory_limit": limit.duckdb_memory_limit}) as conn:
            assert conn.execute("select current_setting('memory_limit')").fetchone()[0]
    with pytest.raises(duckdb.Error, match="Memory must have a number"):  # what "lots" used to reach
        duckdb.connect(config={"memory_limit": "lots"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BTCW_SOURCE_MODE": " Prod "}, "BTCW_SOURCE_MODE=' Prod ' is not one of: demo, live, replay"),
        ({"BTCW_DUCKDB_THREADS": "two"}, "BTCW_DUCKDB_THREADS='two' is not a positive integer (e.g. 2)"),
        # '²'.isdigit() is true and int('²') a ValueError: this was a traceback.
        ({"BTCW_DUCKDB_THREADS": "²"}, "BTCW_DUCKDB_THREADS='²' is not a positive integer (e.g. 2)"),
        ({"BTCW_REJECT_THRESHOLD": "nan"}, "BTCW_REJECT_THRESHOLD='nan' is not a share in [0, 1) (e.g. 0.02 for 2%)"),
        ({"BTCW_REJECT_THRESHOLD": "5%"}, "BTCW_REJECT_THRESHOLD='5%' is not a share in [0, 1) (e.g. 0.02 for 2%)"),
    ],
)
def test_bad_numbers_and_modes_say_what_is_accepted(tmp_path, env, message):
    assert one_line_error({"BTCW_WAREHOUSE_DIR": str(tmp_path), **env}) == message


def test_a_warehouse_dir_that_is_a_file(tmp_path):
    file = tmp_path / "warehouse"
    file.write_text("not a folder")
    assert one_line_error({"BTCW_WAREHOUSE_DIR": str(file)}) == (
        f"BTCW_WAREHOUSE_DIR={str(file)!r} is not a directory: point it at a directory (or one to be created)")
    # A folder still to be created, but under that file: no user, root included, can make it.
    assert one_line_error({"BTCW_WAREHOUSE_DIR": str(file / "demo")}) == (
        f"BTCW_WAREHOUSE_DIR={str(file / 'demo')!r} would be inside {str(file)!r}, not a directory: point it at a "
        "directory (or one to be created)")


def test_a_warehouse_dir_to_be_created_is_checked_where_it_will_be(tmp_path):
    settings = Settings.from_env({"BTCW_WAREHOUSE_DIR": str(tmp_path / "new" / "warehouse")})
    assert settings.warehouse_dir == tmp_path / "new" / "warehouse"
    assert list(tmp_path.iterdir()) == []  # checking made nothing: the run creates its folders


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits: the unwritable case root meets too is "
                    "test_a_warehouse_dir_no_user_can_write")
def test_a_read_only_warehouse_dir(tmp_path):
    read_only = tmp_path / "warehouse"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        assert one_line_error({"BTCW_WAREHOUSE_DIR": str(read_only)}) == (
            f"BTCW_WAREHOUSE_DIR={str(read_only)!r} is not writable: it refused a new file (EACCES: Permission "
            "denied); choose a directory this user can write")
        assert one_line_error({"BTCW_WAREHOUSE_DIR": str(read_only / "demo")}) == (
            f"BTCW_WAREHOUSE_DIR={str(read_only / 'demo')!r} is not writable: {str(read_only)!r}, where it would be "
            "created, refused a new file (EACCES: Permission denied); choose a directory this user can write")
    finally:
        read_only.chmod(0o755)


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's sysfs at /sys")
def test_a_warehouse_dir_no_user_can_write():
    """sysfs refuses new files to every user, root included (EACCES, or EROFS where /sys is mounted read-only):
    writability is found by trying a file, not by reading permission bits that root ignores."""
    message = one_line_error({"BTCW_WAREHOUSE_DIR": "/sys/btcw-warehouse"})
    assert message.startswith("BTCW_WAREHOUSE_DIR='/sys/btcw-warehouse' is not writable: '/sys', where it would be "
                              "created, refused a new file (E")
    assert message.endswith("); choose a directory this user can write")


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


def test_the_cli_reports_a_bad_setting_in_one_line_and_exits_2(tmp_path):
    """What `make backfill` shows: the setting's one line on stderr, no traceback, exit 2, nothing run. (One case:
    each bad setting's line is tested above; this is the path from Settings.from_env to the terminal.)"""
    import subprocess
    import sys

    variable, bad = "BTCW_DUCKDB_MEMORY_LIMIT", "lots"
    env = {**os.environ, "BTCW_WAREHOUSE_DIR": str(tmp_path / "warehouse"), variable: bad}
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "backfill", "2025-10-01", "2025-10-02"],
                          capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1], timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"backfill: {variable}={bad!r} ") and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "warehouse").exists()
    # A window before the mode's first partition: one line naming the setting, before any run is created.
    env = {**os.environ, "BTCW_WAREHOUSE_DIR": str(tmp_path / "warehouse"), "DAGSTER_HOME": str(tmp_path)}
    env.pop("BTCW_START_DATE", None)
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "backfill", "2025-09-29", "2025-10-02"],
                          capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1], timeout=120)
    assert done.returncode == 2 and done.stdout == "", done.stdout
    assert done.stderr == ("backfill: START 2025-09-29 is before the first partition, 2025-10-01 (demo mode): set "
                           "BTCW_START_DATE=2025-09-29 (or earlier) to backfill it\n")
    assert not (tmp_path / "warehouse").exists()  # neither the warehouse nor the run history (DAGSTER_HOME's)
