"""One typed settings object, read from the environment when resources are built (never at import)."""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class SourceMode(StrEnum):
    DEMO = "demo"  # the embedded market simulator (default; no network)
    LIVE = "live"  # the real public APIs
    REPLAY = "replay"  # nothing fetched: the newest archived body of the live tree is parsed again

    @property
    def tree(self) -> str:
        """Demo and live data never mix; replay reads and writes the live tree."""
        return "demo" if self is SourceMode.DEMO else "live"


# The first daily partition, per mode (BTCW_START_DATE overrides it). The UI counts a partition set's "% filled"
# and "Materialize all" backfills from here, so it is where the mode's data starts:
# - demo: the first day of the demo window `make run` materialises (pipelines/cli.py DEMO_WINDOW). The simulator
#   answers for any day since 2020, but a demo warehouse holds this window; an earlier backfill sets the variable.
# - live and replay (which reads the live tree): the first day every source with a history serves. The latest of
#   the sources' history starts is Bybit's open interest, from the BTCUSDT contract's launch (2020-03-25; Binance
#   futures 2019-09-10, Binance spot 2017-08-17, Coinbase 2015, mempool.space and blockchain.com 2009). Deribit's
#   volatility index is younger (served from 2021-03-24): a derived index, not a market's history, so it does not
#   hold every other source's first year back; its earlier days have nothing to ask and are skipped. Sources
#   that serve only the present (Deribit's chain, Polymarket's markets) or a rolling window (Binance's ratios: 30
#   days; OKX's liquidations: ~24 h) have days only from the night a deployment began archiving them: a deployment
#   sets BTCW_START_DATE to that night, as the soak does, and an earlier day fails its landing check by name.
DEMO_START_DATE = dt.date(2025, 10, 1)
LIVE_START_DATE = dt.date(2020, 3, 25)
# No source has a day before Bitcoin's first block.
EARLIEST_START_DATE = dt.date(2009, 1, 3)
START_DATE_ENV = "BTCW_START_DATE"


def default_start_date(mode: SourceMode) -> dt.date:
    return DEMO_START_DATE if mode is SourceMode.DEMO else LIVE_START_DATE


def parse_start_date(raw: str, today: dt.date, variable: str = START_DATE_ENV) -> dt.date:
    """The first daily partition: a date from Bitcoin's first block to today (UTC); else a one-line SettingsError."""
    try:
        start = dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise SettingsError(f"{variable}={raw!r} is not a date (YYYY-MM-DD)") from None
    if start < EARLIEST_START_DATE:
        raise SettingsError(f"{variable}={raw!r} is before Bitcoin's first block ({EARLIEST_START_DATE}): no source "
                            "has a day before it")
    if start > today:
        raise SettingsError(f"{variable}={raw!r} is after today ({today} UTC): no day would be a partition; the "
                            "last partition is yesterday")
    return start


class SettingsError(ValueError):
    pass


# Live mode redirected to a local server (the soak, pipelines/soak): loopback only, so that a typo cannot send the
# warehouse's requests, or a simulated clock's stamps, to a third party's host by mistake.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def parse_live_base_url(raw: str, *, allow_remote: bool = False, variable: str = "BTCW_LIVE_BASE_URL") -> str:
    """`raw` as an origin `scheme://host[:port]` (no trailing slash), or a one-line SettingsError naming `variable`."""
    text = raw.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        host, _port = parts.hostname, parts.port  # .port raises ValueError on a non-numeric or out-of-range port
    except ValueError as error:
        raise SettingsError(f"{variable}={raw!r} is not a URL: {error}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise SettingsError(f"{variable}={raw!r} is not an http(s)://host[:port] origin")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise SettingsError(f"{variable}={raw!r} must be an origin only (scheme://host[:port]): no path, query, "
                            "fragment or credentials")
    if host not in LOOPBACK_HOSTS and not allow_remote:
        raise SettingsError(f"{variable}={raw!r} is not on 127.0.0.1, localhost or ::1 (set "
                            f"{variable}_ALLOW_REMOTE=1 to redirect live mode to another host on purpose)")
    return text


def parse_simulated_now(raw: str, variable: str = "BTCW_SIMULATED_NOW") -> dt.datetime:
    """An ISO-8601 instant WITH its UTC offset (e.g. 2026-01-01T00:30:00Z), as UTC; else a one-line SettingsError."""
    try:
        moment = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise SettingsError(f"{variable}={raw!r} is not an ISO-8601 date and time (e.g. 2026-01-01T00:30:00Z)") from None
    if moment.tzinfo is None:
        # A naive time would be read as the machine's local time by some callers and as UTC by others.
        raise SettingsError(f"{variable}={raw!r} has no UTC offset: write it as e.g. {raw.strip()}Z or +00:00")
    return moment.astimezone(dt.UTC)


# What DuckDB's memory_limit takes (checked against duckdb 1.5.5): a number and a unit, decimal (KB, MB, GB, TB) or
# binary (KiB, MiB, GiB, TiB), any case, optionally spaced. A share of the machine's RAM, 1%..100%, is accepted too
# and turned into MiB here (DuckDB 2.0 takes "80%" itself, 1.5 refuses it: a setting kept from 2.0 still works). Checked
# here because DuckDB's own refusal ("Memory must have a number") names neither the variable nor where it was set,
# and a unit-less number or a bare B is read as bytes: a limit too small to run any query.
_MEMORY_SIZE = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+) *(?P<unit>[kmgt]i?b)", re.IGNORECASE)
_MEMORY_SHARE = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+) *%")
MEMORY_LIMIT_ACCEPTED = ("a size such as 4GB or 512MiB (KB, MB, GB, TB or KiB, MiB, GiB, TiB) or a share of RAM "
                         "such as 50%")


def parse_memory_limit(raw: str, variable: str = "BTCW_DUCKDB_MEMORY_LIMIT") -> str:
    """`raw` stripped, when DuckDB's memory_limit takes it and it is above zero; else a one-line SettingsError."""
    text = raw.strip()
    size, share = _MEMORY_SIZE.fullmatch(text), _MEMORY_SHARE.fullmatch(text)
    match = size or share
    if match is None or float(match["number"]) <= 0 or (share and float(match["number"]) > 100):
        raise SettingsError(f"{variable}={raw!r} is not a DuckDB memory limit: use {MEMORY_LIMIT_ACCEPTED}")
    if share:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return f"{max(1, int(ram * float(share['number']) / 100) // 2**20)}MiB"
    return text


def _choice(env: Mapping[str, str], name: str, choices: type[StrEnum], default: StrEnum) -> Any:
    """One of an enum's values, case and spaces aside; anything else is one line listing the choices."""
    raw = env.get(name, default.value)
    try:
        return choices(raw.strip().lower())
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not one of: {', '.join(c.value for c in choices)}") from None


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    # ASCII digits only: str.isdigit() also passes '²', which int() then refuses with a traceback.
    if not re.fullmatch(r"[0-9]+", raw.strip()) or int(raw) < 1:
        raise SettingsError(f"{name}={raw!r} is not a positive integer (e.g. {default})")
    return int(raw)


def available_cpus(cap: int) -> int:
    """The CPUs this process may run on (its affinity, where the OS tells it), at most `cap`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, cap))


def check_warehouse_dir(path: Path, variable: str = "BTCW_WAREHOUSE_DIR") -> None:
    """A one-line SettingsError unless `path` is a directory this process can create files in, or can be made one.

    Tried by creating (and dropping) an unnamed file, not by reading permission bits: root ignores them, and a
    read-only filesystem or a full quota shows only when a file is made. A folder not there yet is checked at the
    nearest one that is, where the run will create it."""
    target = path
    try:
        while not target.exists() and target != target.parent:
            if target.is_symlink():  # a dangling link: the run's mkdir would fail on it
                raise SettingsError(f"{variable}={str(path)!r} is not usable: {str(target)!r} is a broken "
                                    "symbolic link")
            target = target.parent
        is_dir = target.is_dir()
    except OSError as error:  # e.g. a parent this user may not search
        raise SettingsError(f"{variable}={str(path)!r} cannot be checked: {error.strerror} at "
                            f"{str(target)!r}") from None
    if not is_dir:
        where = "is not a directory" if target == path else f"would be inside {str(target)!r}, not a directory"
        raise SettingsError(f"{variable}={str(path)!r} {where}: point it at a directory (or one to be created)")
    try:
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as error:
        reason = errno.errorcode.get(error.errno or 0, "error")
        which = "it" if target == path else f"{str(target)!r}, where it would be created,"
        raise SettingsError(f"{variable}={str(path)!r} is not writable: {which} refused a new file "
                            f"({reason}: {error.strerror}); choose a directory this user can write") from None


def _non_negative_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value >= 0 and value != float("inf")):
        raise SettingsError(f"{name}={raw!r} is not a finite number >= 0 (e.g. {default})")
    return value


class DealerConvention(StrEnum):
    """Which side of the option book dealers are assumed to hold (gamma.md: the sign s of each option's GEX)."""

    LONG_CALLS_SHORT_PUTS = "long_calls_short_puts"  # the standard one: customers sell calls, buy puts
    SHORT_CALLS_LONG_PUTS = "short_calls_long_puts"  # the opposite, as some desks assume

    @property
    def dealer_long_calls(self) -> bool:
        return self is DealerConvention.LONG_CALLS_SHORT_PUTS


class NearExpiryPolicy(StrEnum):
    """What the gamma tables do with same-day expiries (options expiring within 24 hours of the snapshot, whose
    gamma grows like 1/sqrt(T) as T shrinks)."""

    INCLUDE = "include"  # priced with their own T (the default, and what every release before did)
    EXCLUDE = "exclude"  # left out of every gamma table (counted in rows_excluded and rows_same_day)
    FLOOR = "floor"  # priced with T raised to BTCW_GAMMA_T_FLOOR_HOURS when it is shorter


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise SettingsError(f"{name}={raw!r} is not a boolean (1/true/yes or 0/false/no)")


class WarehouseKind(StrEnum):
    """Where the warehouse's tables live. DUCKDB: one file, <tree>/warehouse.duckdb, one writer at a time (the
    default). LAKE: a DuckLake, its catalog in PostgreSQL and its data as Parquet in S3-compatible storage, written by
    several processes and machines at once (BTCW_LAKE_* say where; pipelines/lake). The models are the same."""

    DUCKDB = "duckdb"
    LAKE = "lake"


@dataclass(frozen=True)
class Settings:
    source_mode: SourceMode = SourceMode.DEMO
    warehouse: WarehouseKind = WarehouseKind.DUCKDB
    warehouse_dir: Path = Path("warehouse")
    # The first daily partition; None: the mode's own (default_start_date), filled in when the object is made.
    start_date: dt.date | None = None
    # DuckDB limits, shared by the Dagster resource and the dbt profile (passed as dbt vars).
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    # A day with more than this share of its rows quarantined is not loaded and fails its check. 2%: a chain of
    # ~400 options may lose a few odd quotes; a one-row daily dataset fails on its only row.
    reject_threshold: float = 0.02
    # When rolling sources (OKX liquidation orders) are polled: a 5-field cron, UTC (pipelines/polling).
    poll_cron: str = "5 * * * *"
    # Live mode only: every live source's origin is redirected here (the demo APIs served on 127.0.0.1 by the soak);
    # None asks the real hosts. The archive still records the real URL asked for.
    live_base_url: str | None = None
    # A fixed clock for a whole run (timezone-aware): what live fetches are stamped with and what "today" means to
    # the range check and the scheduled run's freshness check. None: the real UTC clock. The soak sets it per night.
    simulated_now: dt.datetime | None = None
    # Gamma assumptions (pipelines/analytics/gamma_daily.py); every gamma row records the ones it was computed under.
    gamma_dealer_convention: DealerConvention = DealerConvention.LONG_CALLS_SHORT_PUTS
    gamma_near_expiry: NearExpiryPolicy = NearExpiryPolicy.INCLUDE
    gamma_t_floor_hours: float = 24.0  # the floor of T under NearExpiryPolicy.FLOOR
    gamma_level_band_pct: float = 1.0  # gamma around a level: strikes within +/- this percent of it
    gamma_flip_move_pct: float = 2.0  # a 'flip_moved' event: the zero-gamma level moved more than this from the day before
    # The gamma step's days in chunks computed side by side in worker processes (pipelines/analytics/gamma_chunks.py):
    # at most this many workers (1: all in the run's process), this many days per chunk. A window of one chunk (the
    # nightly) never starts a worker. Default: the CPUs this process may use, at most 8.
    gamma_workers: int = field(default_factory=lambda: available_cpus(8))
    gamma_chunk_days: int = 32

    def __post_init__(self) -> None:
        if self.start_date is None:
            object.__setattr__(self, "start_date", default_start_date(self.source_mode))
        if self.simulated_now is not None and self.simulated_now.tzinfo is None:
            raise SettingsError(f"simulated_now={self.simulated_now.isoformat()!r} has no UTC offset")
        if self.live_base_url is not None and self.source_mode is not SourceMode.LIVE:
            raise SettingsError(f"BTCW_LIVE_BASE_URL={self.live_base_url!r} redirects live mode only, but "
                                f"BTCW_SOURCE_MODE={self.source_mode.value}")
        if self.simulated_now is not None and self.source_mode is SourceMode.LIVE and self.live_base_url is None:
            # The real APIs answer for the real present: stamping their bodies with another time would file them
            # under the wrong days.
            raise SettingsError("BTCW_SIMULATED_NOW in live mode needs BTCW_LIVE_BASE_URL (a local server that "
                                "follows the same clock)")

    def now(self) -> dt.datetime:
        """The run's clock: the simulated instant when set, else the real UTC time."""
        return self.simulated_now if self.simulated_now is not None else dt.datetime.now(dt.UTC)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        mode = _choice(env, "BTCW_SOURCE_MODE", SourceMode, SourceMode.DEMO)
        threads = _positive_int(env, "BTCW_DUCKDB_THREADS", cls.duckdb_threads)
        memory_limit = parse_memory_limit(env.get("BTCW_DUCKDB_MEMORY_LIMIT", cls.duckdb_memory_limit))
        threshold_raw = env.get("BTCW_REJECT_THRESHOLD", str(cls.reject_threshold))
        try:
            threshold = float(threshold_raw)
        except ValueError:
            threshold = -1.0
        if not 0 <= threshold < 1:
            raise SettingsError(f"BTCW_REJECT_THRESHOLD={threshold_raw!r} is not a share in [0, 1) (e.g. 0.02 for 2%)")
        raw_base_url = env.get("BTCW_LIVE_BASE_URL", "")
        base_url = (parse_live_base_url(raw_base_url, allow_remote=_flag(env, "BTCW_LIVE_BASE_URL_ALLOW_REMOTE"))
                    if raw_base_url.strip() else None)
        raw_now = env.get("BTCW_SIMULATED_NOW", "")
        simulated_now = parse_simulated_now(raw_now) if raw_now.strip() else None
        raw_start = env.get(START_DATE_ENV, "")
        today = (simulated_now or dt.datetime.now(dt.UTC)).date()
        start = parse_start_date(raw_start, today) if raw_start.strip() else None
        poll_cron = " ".join(env.get("BTCW_POLL_CRON", cls.poll_cron).split())
        from pipelines.polling.cadence import valid_cron  # dagster's cron parser, loaded only when settings are read

        if not valid_cron(poll_cron):
            raise SettingsError(f"BTCW_POLL_CRON={poll_cron!r} is not a 5-field cron schedule (e.g. '5 * * * *')")
        kind = _choice(env, "BTCW_WAREHOUSE", WarehouseKind, WarehouseKind.DUCKDB)
        warehouse_dir = Path(env.get("BTCW_WAREHOUSE_DIR", "warehouse")).expanduser().resolve()
        check_warehouse_dir(warehouse_dir)
        gamma_floor = _non_negative_float(env, "BTCW_GAMMA_T_FLOOR_HOURS", cls.gamma_t_floor_hours)
        if gamma_floor <= 0:
            raise SettingsError(f"BTCW_GAMMA_T_FLOOR_HOURS={gamma_floor!r} must be > 0 hours (e.g. 24)")
        return cls(
            source_mode=mode,
            warehouse=kind,
            warehouse_dir=warehouse_dir,
            start_date=start,
            duckdb_memory_limit=memory_limit,
            duckdb_threads=threads,
            reject_threshold=threshold,
            live_base_url=base_url,
            simulated_now=simulated_now,
            poll_cron=poll_cron,
            gamma_dealer_convention=_choice(env, "BTCW_GAMMA_DEALERS", DealerConvention,
                                            DealerConvention.LONG_CALLS_SHORT_PUTS),
            gamma_near_expiry=_choice(env, "BTCW_GAMMA_SAME_DAY", NearExpiryPolicy, NearExpiryPolicy.INCLUDE),
            gamma_t_floor_hours=gamma_floor,
            gamma_level_band_pct=_non_negative_float(env, "BTCW_GAMMA_LEVEL_BAND_PCT", cls.gamma_level_band_pct),
            gamma_flip_move_pct=_non_negative_float(env, "BTCW_GAMMA_FLIP_MOVE_PCT", cls.gamma_flip_move_pct),
            gamma_workers=_positive_int(env, "BTCW_GAMMA_WORKERS", available_cpus(8)),
            gamma_chunk_days=_positive_int(env, "BTCW_GAMMA_CHUNK_DAYS", cls.gamma_chunk_days),
        )

    @property
    def tree_dir(self) -> Path:
        return self.warehouse_dir / self.source_mode.tree

    @property
    def duckdb_path(self) -> Path:
        return self.tree_dir / "warehouse.duckdb"

    @property
    def landing_dir(self) -> Path:
        return self.tree_dir / "landing"

    @property
    def temp_dir(self) -> Path:
        return self.tree_dir / "tmp"

    def duckdb_config(self) -> dict[str, str]:
        """Set explicitly so large jobs spill to disk instead of being killed."""
        return {
            "memory_limit": self.duckdb_memory_limit,
            "threads": str(self.duckdb_threads),
            "temp_directory": str(self.temp_dir),
        }


def main(argv: list[str] | None = None) -> int:
    """`python -m pipelines.settings duckdb_path`: one setting read from the environment, for a Makefile recipe;
    a bad setting is its one line on stderr and exit 2, not a traceback inside a shell substitution."""
    import sys

    names = sys.argv[1:] if argv is None else argv
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    for name in names:
        print(getattr(settings, name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
