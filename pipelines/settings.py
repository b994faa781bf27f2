"""One typed settings object, read from the environment when resources are built (never at import)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class SourceMode(StrEnum):
    DEMO = "demo"  # the embedded market simulator (default; no network)
    LIVE = "live"  # the real public APIs
    REPLAY = "replay"  # nothing fetched: the newest archived body of the live tree is parsed again

    @property
    def tree(self) -> str:
        """Demo and live data never mix; replay reads and writes the live tree."""
        return "demo" if self is SourceMode.DEMO else "live"


DEFAULT_START_DATE = dt.date(2020, 1, 1)


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    source_mode: SourceMode = SourceMode.DEMO
    warehouse_dir: Path = Path("warehouse")
    start_date: dt.date = DEFAULT_START_DATE
    # DuckDB limits, shared by the Dagster resource and the dbt profile (passed as dbt vars).
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    # A day with more than this share of its rows quarantined is not loaded and fails its check. 2%: a chain of
    # ~400 options may lose a few odd quotes; a one-row daily dataset fails on its only row.
    reject_threshold: float = 0.02

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        raw_mode = env.get("BTCW_SOURCE_MODE", SourceMode.DEMO.value).strip().lower()
        try:
            mode = SourceMode(raw_mode)
        except ValueError:
            choices = ", ".join(m.value for m in SourceMode)
            raise SettingsError(f"BTCW_SOURCE_MODE={raw_mode!r} is not one of: {choices}") from None
        raw_start = env.get("BTCW_START_DATE", DEFAULT_START_DATE.isoformat())
        try:
            start = dt.date.fromisoformat(raw_start)
        except ValueError:
            raise SettingsError(f"BTCW_START_DATE={raw_start!r} is not a date (YYYY-MM-DD)") from None
        threads_raw = env.get("BTCW_DUCKDB_THREADS", str(cls.duckdb_threads))
        if not threads_raw.isdigit() or int(threads_raw) < 1:
            raise SettingsError(f"BTCW_DUCKDB_THREADS={threads_raw!r} is not a positive integer")
        threshold_raw = env.get("BTCW_REJECT_THRESHOLD", str(cls.reject_threshold))
        try:
            threshold = float(threshold_raw)
        except ValueError:
            threshold = -1.0
        if not 0 <= threshold < 1:
            raise SettingsError(f"BTCW_REJECT_THRESHOLD={threshold_raw!r} is not a share in [0, 1)")
        return cls(
            source_mode=mode,
            warehouse_dir=Path(env.get("BTCW_WAREHOUSE_DIR", "warehouse")).expanduser().resolve(),
            start_date=start,
            duckdb_memory_limit=env.get("BTCW_DUCKDB_MEMORY_LIMIT", cls.duckdb_memory_limit),
            duckdb_threads=int(threads_raw),
            reject_threshold=threshold,
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
