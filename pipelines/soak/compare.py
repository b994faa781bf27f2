"""The soak's marts against ONE backfill of the same days: what night-by-night runs built must be what a single run
over the whole window builds, for every dataset that can be asked for again.

Which marts are compared is derived, not listed: a dataset can be backfilled over the soak when the registry says
it serves past days (`DatasetSpec.backfillable`) AND the server still answers its first soaked day at the backfill's
clock (Binance's long/short ratios serve only the last 30 days: a soak longer than that cannot re-ask its first
days). A mart is compared when every raw table upstream of it (through the Dagster asset graph) is such a dataset.
The others read a now-only source (a Deribit chain, OKX's last ~24 h, a Polymarket market's current state): only
the nights' archive knows those days, so a backfill has nothing independent to rebuild them from.

The backfill is a real single-run materialisation of that asset subset (raw extracts → dbt staging → marts), in
the same live mode against the same server, at a clock one hour after the last night, into its own warehouse.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from pipelines import engine
from pipelines.duckdb_tables import string_literal
from pipelines.ingest.archive import LandingArchive
from pipelines.ingest.body_source import FetchingBodySource
from pipelines.ingest.errors import PipelineDataError
from pipelines.resources import body_source_for
from pipelines.settings import Settings
from pipelines.sources.registry import DATASETS
from pipelines.sources.spec import DatasetSpec

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class BackfillPlan:
    datasets: tuple[str, ...]  # source/dataset names re-asked by the backfill
    excluded_datasets: dict[str, str]  # name → why it cannot be re-asked
    marts: tuple[str, ...]  # marts.<name> compared
    excluded_marts: dict[str, str]  # name → the excluded datasets it reads
    selection: frozenset[dg.AssetKey]  # the backfill run's assets

    def lines(self) -> list[str]:
        return [
            f"backfillable over the soak ({len(self.datasets)}): {', '.join(self.datasets)}",
            *(f"  not re-askable: {name}: {why}" for name, why in sorted(self.excluded_datasets.items())),
            f"marts compared ({len(self.marts)}): {', '.join(self.marts)}",
            *(f"  not compared: {name}: reads {why}" for name, why in sorted(self.excluded_marts.items())),
        ]


@dataclass(frozen=True)
class MartDiff:
    mart: str
    soak_rows: int
    backfill_rows: int
    only_in_soak: int
    only_in_backfill: int
    sample: tuple[str, ...] = ()

    @property
    def equal(self) -> bool:
        return self.only_in_soak == self.only_in_backfill == 0 and self.soak_rows == self.backfill_rows

    def line(self) -> str:
        verdict = "equal" if self.equal else (f"DIFFERENT: {self.only_in_soak} row(s) only in the soak, "
                                              f"{self.only_in_backfill} only in the backfill")
        text = f"  marts.{self.mart}: soak {self.soak_rows} rows, backfill {self.backfill_rows} rows: {verdict}"
        return "\n".join([text, *(f"    {row}" for row in self.sample)])


def reaskable(spec: DatasetSpec, settings: Settings, first: dt.date, scratch: Path,
              excluded: dict[str, str | None]) -> str | None:
    """None when the server answers `spec`'s first soaked day at `settings`' clock, else why not (one line).
    `excluded`: the verdicts on the datasets before it in the registry (its `upstream` among them)."""
    if not spec.backfillable:
        return f"serves only the present ({spec.history or 'no history'})"
    blocked = [name for name in spec.upstream if excluded.get(name)]
    if blocked:
        return f"its requests come from the rows of {', '.join(blocked)}, which cannot be re-asked"
    if not spec.covers(first):
        return None  # skipped by the extract on those days anyway, the same in both warehouses
    live = body_source_for(settings)
    source = FetchingBodySource(live.fetcher, LandingArchive(scratch))  # a scratch archive: the probe is no data
    try:
        # A dataset bound to what the warehouse holds is probed unbound (no warehouse): what it asks then.
        source.obtain(spec.bind(None, [first]) if spec.bind is not None else spec, first)
    except PipelineDataError as error:
        return f"no longer served for {first} at {settings.now():%Y-%m-%dT%H:%MZ}: {error.reason}"
    except ValueError as error:  # a request builder with nothing to ask for that day
        return f"cannot be asked for {first}: {error}"
    return None


def plan_backfill(defs: dg.Definitions, settings: Settings, first: dt.date, scratch: Path) -> BackfillPlan:
    graph = defs.resolve_asset_graph()
    by_raw = {dg.AssetKey(["raw", spec.raw_table]): spec for spec in DATASETS}
    why_not: dict[str, str | None] = {}
    for spec in DATASETS:  # upstream datasets come first in the registry
        why_not[spec.name] = reaskable(spec, settings, first, scratch / spec.source / spec.dataset, why_not)
    ok_raw = {key for key, spec in by_raw.items() if why_not[spec.name] is None}

    def raw_ancestors(key: dg.AssetKey) -> set[dg.AssetKey]:
        return {k for k in graph.get_ancestor_asset_keys(key) if k in by_raw}

    selection = set(ok_raw)
    marts, excluded_marts = [], {}
    for key in graph.toposorted_asset_keys:
        if key in by_raw or not graph.get(key).is_materializable:
            continue
        blocked = sorted(by_raw[k].name for k in raw_ancestors(key) - ok_raw)
        if not blocked:
            selection.add(key)
        if key.path[0] == "marts":
            name = key.path[-1]
            if blocked:
                excluded_marts[name] = ", ".join(blocked)
            else:
                marts.append(name)
    return BackfillPlan(
        datasets=tuple(spec.name for key, spec in by_raw.items() if key in ok_raw),
        excluded_datasets={name: why for name, why in why_not.items() if why is not None},
        marts=tuple(sorted(marts)),
        excluded_marts=excluded_marts,
        selection=frozenset(selection),
    )


def compare_marts(soak_db: Path | Settings, backfill_db: Path | Settings, marts: tuple[str, ...],
                  sample: int = 3) -> list[MartDiff]:
    """Table by table, every column, rows as multisets (EXCEPT ALL both ways): equal means identical values. Each
    side is a DuckDB file or the Settings of a warehouse of either kind (a lake, pipelines/engine)."""
    diffs = []
    with duckdb.connect() as conn:
        for alias, source in (("soak", soak_db), ("backfill", backfill_db)):
            if isinstance(source, Settings):
                engine.attach_source(source, conn, alias)
            else:
                conn.execute(f"ATTACH {string_literal(source)} AS {alias} (READ_ONLY)")
        for mart in marts:
            if not _IDENTIFIER.fullmatch(mart):
                raise ValueError(f"not a plain mart name: {mart!r}")
            a, b = f'soak.marts."{mart}"', f'backfill.marts."{mart}"'
            missing = [db for db, table in (("soak", a), ("backfill", b)) if not _exists(conn, db, mart)]
            if missing:
                diffs.append(MartDiff(mart, -1, -1, 0, 0, (f"no table in the {' and '.join(missing)} warehouse",)))
                continue
            only_a = conn.execute(f"SELECT * FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) LIMIT 1000000"
                                  ).fetchall()
            only_b = conn.execute(f"SELECT * FROM (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a}) LIMIT 1000000"
                                  ).fetchall()
            rows_a = conn.execute(f"SELECT count(*) FROM {a}").fetchone()[0]
            rows_b = conn.execute(f"SELECT count(*) FROM {b}").fetchone()[0]
            shown = [f"soak:     {row}" for row in only_a[:sample]] + [f"backfill: {row}" for row in only_b[:sample]]
            diffs.append(MartDiff(mart, rows_a, rows_b, len(only_a), len(only_b), tuple(shown)))
    return diffs


def _exists(conn: duckdb.DuckDBPyConnection, database: str, table: str) -> bool:
    return conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = ? AND table_schema = 'marts' "
        "AND table_name = ?", [database, table]).fetchone()[0] > 0
