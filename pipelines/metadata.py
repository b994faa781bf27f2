"""Metadata on Dagster events: floats rounded for reading, and each partition of a ranged run its own figures.

Every asset and check builds its metadata through `tidy` (directly, or through `record_partitions`), so the UI shows
`0.3`, not `0.30000000000000004`, and `672412345.12` USD, not `672412345.1234567`:

- a float under a key ending in `_usd` is money: rounded to the cent;
- any other float keeps 6 significant digits (ratios, shares, seconds, hash rates: 0.123457, 12.3457, 1.41234e+14);
- ints, bools, strings (evidence such as sample failing rows is kept as JSON text, exact), None, and non-finite
  floats are left as they are; dicts and lists are tidied inside, a nested key deciding for its own values.

A ranged run (one run for a window of daily partitions, the single-run backfill policy) makes one
ASSET_MATERIALIZATION per asset per partition out of the step's one output (dagster's execute_step:
_get_output_asset_events). Metadata given with the output (`MaterializeResult(metadata=…)`, `Output(metadata=…)`)
goes on every one of them: a window's total would show on each day, and the Plots tab would draw a flat line.
`record_partitions` gives each partition its own through `context.add_asset_metadata(…, partition_key=…)`, which
Dagster merges into that partition's event only: still one event per partition, never a second one (yielding an
`AssetMaterialization` per day beside the output would record two). A window's totals stay with the step: its log.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import dagster as dg

MONEY_SUFFIX = "_usd"
SIGNIFICANT_DIGITS = 6


def round_float(value: float, money: bool = False) -> float:
    """`value` to the cent (money) or to SIGNIFICANT_DIGITS significant digits; non-finite values unchanged."""
    value = float(value)
    if not math.isfinite(value) or value == 0:
        return value
    if money:
        return round(value, 2) + 0.0  # + 0.0: no -0.0 for a loss under half a cent
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def tidy_value(value: Any, key: str = "") -> Any:
    """One metadata value with its floats rounded (see the module's docstring); `key` names it (money or not)."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float) or (type(value).__module__ == "numpy" and hasattr(value, "item")):
        plain = value.item() if hasattr(value, "item") else value  # a numpy scalar as a Python one
        return round_float(plain, key.endswith(MONEY_SUFFIX)) if isinstance(plain, float) else plain
    if isinstance(value, dg.FloatMetadataValue):
        return dg.MetadataValue.float(tidy_value(value.value, key)) if value.value is not None else value
    if isinstance(value, dg.JsonMetadataValue):
        return dg.MetadataValue.json(tidy_value(value.data, key))
    if isinstance(value, dg.MetadataValue):
        return value  # markdown, paths, tables …: as they are
    if isinstance(value, Mapping):
        return {k: tidy_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [tidy_value(v, key) for v in value]
    return value


def tidy(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """A metadata dict with every float rounded for reading: what every asset and check of the pipeline emits."""
    return {key: tidy_value(value, key) for key, value in (metadata or {}).items()}


def record_partitions(context: dg.AssetExecutionContext, per_day: Mapping[dt.date | str, Mapping[str, Any]],
                      asset_key: dg.AssetKey | None = None) -> None:
    """Give each partition of the run its own metadata, `per_day[day]` (tidied), on its one materialization.

    Called before the step yields the asset's output (`MaterializeResult`, or dbt's `Output`): Dagster reads it when
    it turns the output into the per-partition events. Every partition of the run must have an entry; entries for
    days outside the run are ignored."""
    given = {day.isoformat() if isinstance(day, dt.date) else str(day): figures for day, figures in per_day.items()}
    keys = context.partition_keys
    missing = [key for key in keys if key not in given]
    if missing:
        raise ValueError(f"no metadata for partition(s) {', '.join(missing[:5])} of {asset_key or 'the asset'}")
    for key in keys:
        context.add_asset_metadata(tidy(given[key]), asset_key=asset_key, partition_key=key)

