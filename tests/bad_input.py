"""Helpers of the bad-input corpus (tests/test_bad_input_corpus.py): a replay warehouse holding one demo day,
archiving a body as a newer fetch, materializing one extract asset, and fingerprints of every table.

Nothing here touches the network: the demo fetcher answers from the simulator and the runs replay the archive.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from pipelines.assets.extracts import build_extract_asset
from pipelines.demo.fetcher import DemoFetcher, scheduled_fetch_time
from pipelines.ingest.archive import ArchivedFetch, LandingArchive
from pipelines.ingest.body_source import FetchingBodySource
from pipelines.ingest.extract import load_window
from pipelines.ingest.fetcher import FetchedBody, FetchRequest
from pipelines.ingest.load_log import LOAD_LOG_TABLE
from pipelines.ingest.raw_loader import LINEAGE_COLUMNS
from pipelines.partitions import daily_partitions
from pipelines.quality.quarantine import QUARANTINE_TABLE
from pipelines.resources import WarehouseResource
from pipelines.settings import Settings, SourceMode
from pipelines.sources.spec import DatasetSpec

# Tables a bad body may write to by design: the quarantine (its reasons are the outcome) and the load log.
AUDIT_TABLES = frozenset({QUARANTINE_TABLE, LOAD_LOG_TABLE})


@dataclass
class Warehouse:
    settings: Settings
    day: dt.date
    archive: LandingArchive
    assets: dict[str, dg.AssetsDefinition]
    instance: dg.DagsterInstance
    good: dict[str, ArchivedFetch]  # the demo fetch of each dataset, archived first
    clock: Iterator[dt.datetime]  # fetched_at of the next archived fetch, later than every earlier one
    original: dict[str, dict[str, str]] = field(default_factory=dict)  # fingerprints after the first load

    @property
    def resource(self) -> WarehouseResource:
        return WarehouseResource.from_settings(self.settings)


def replay_warehouse(
    root: Path, day: dt.date, specs: tuple[DatasetSpec, ...], instance: dg.DagsterInstance
) -> Warehouse:
    """A replay-mode warehouse whose live tree holds the demo bodies of `day` for every dataset."""
    settings = Settings(source_mode=SourceMode.REPLAY, warehouse_dir=root, start_date=day)
    archive = LandingArchive(settings.landing_dir)
    fetcher = DemoFetcher()
    assert fetcher.serves_present_of(day)  # now-only datasets (Deribit chain, OKX) need the day's "present"
    source = FetchingBodySource(fetcher, archive)
    # A polled dataset (OKX liquidations) is read from polls; its good body here is the night's day fetch (a
    # `date=` fetch, read as one more poll), which the corrupted fetches below replace as the newest.
    good = {}
    upstream = {name for spec in specs for name in spec.upstream}
    with duckdb.connect() as conn:  # a dataset whose requests come from another's rows (Polymarket) reads them here
        for spec in specs:
            if spec.bind is not None:
                spec = spec.bind(conn, [day])
            good[spec.name] = (source.fetch_request(spec, spec.request_for(day, fetcher.request_time(day)))
                               if spec.poll else source.obtain(spec, day))
            if spec.name in upstream:
                load_window(spec, [day], source, conn, root, scheduled_fetch_time(day), 0.0)
    partitions = daily_partitions(day)
    # Seconds after the demo's fetch time: still the night after the day, as the snapshot parsers require.
    start = scheduled_fetch_time(day) + dt.timedelta(minutes=1)
    clock = (start + dt.timedelta(seconds=n) for n in itertools.count())
    assets = {spec.name: build_extract_asset(spec, partitions) for spec in specs}
    return Warehouse(settings, day, archive, assets, instance, good, clock)


def materialize(w: Warehouse, names: list[str]) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [w.assets[n] for n in names],
        partition_key=w.day.isoformat(),
        resources={"warehouse": w.resource},
        instance=w.instance,
        raise_on_error=False,
    )


def archive_fetch(w: Warehouse, spec: DatasetSpec, bodies: list[bytes], status: int = 200) -> ArchivedFetch:
    """Archive `bodies` as one newer, complete (sealed) fetch of (spec, day), page k under the request of the good
    fetch's page k (same url and params: only the answer differs). A bad page inside a sealed fetch is what
    replay must still refuse, though a fetch that meets one stops there and leaves its pages unsealed."""
    good = w.good[spec.name].pages
    if len(bodies) > len(good):
        raise ValueError(f"{spec.name}: {len(bodies)} pages, the good fetch has {len(good)} requests")
    fetched_at = next(w.clock)
    pages, stem = [], None
    for number, (body, model) in enumerate(zip(bodies, good), start=1):
        request = FetchRequest(spec.source, spec.dataset, w.day, model.meta["url"], model.meta["params"])
        page = w.archive.write(FetchedBody(request, status, body, fetched_at), number, stem)
        stem = stem or page.path.name.split(".")[0]
        pages.append(page)
    w.archive.seal(pages)
    fetch = w.archive.newest_fetch(spec.source, spec.dataset, w.day)
    assert fetch is not None and fetch.stem == stem, "the fetch just archived must be the newest"
    return fetch


def good_bodies(w: Warehouse, spec: DatasetSpec) -> list[bytes]:
    return [page.read_body() for page in w.good[spec.name].pages]


# ---- fingerprints ---------------------------------------------------------------------------------------------


def fingerprints(w: Warehouse) -> dict[str, dict[str, str]]:
    """Per table of every schema (the audit tables aside): row count and an order-free checksum of its content,
    the lineage columns left out (`_loaded_at` is the load time; `_landing_file` names the fetch the rows came
    from, and a newer fetch of the same rows is a new file), and the same of `_landing_file` alone."""
    found = {}
    with duckdb.connect(str(w.settings.duckdb_path), read_only=True) as conn:
        columns: dict[str, list[str]] = {}
        for schema, table, column in conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "JOIN information_schema.tables USING (table_catalog, table_schema, table_name) "
            "WHERE table_type = 'BASE TABLE' ORDER BY table_schema, table_name, ordinal_position"
        ).fetchall():
            columns.setdefault(f"{schema}.{table}", []).append(column)
        for table, names in columns.items():
            if table in AUDIT_TABLES:
                continue
            content = [c for c in names if c not in LINEAGE_COLUMNS]
            lineage = [c for c in names if c == "_landing_file"]
            found[table] = {"content": _checksum(conn, table, content), "lineage": _checksum(conn, table, lineage)}
    return found


def _checksum(conn: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> str:
    if not columns:
        return ""
    schema, name = table.split(".")
    listed = ", ".join(f'"{c}"' for c in columns)
    count, total = conn.execute(f'SELECT count(*), sum(hash({listed})) FROM "{schema}"."{name}"').fetchone()
    return f"{count} rows, hash sum {total}"


def query(w: Warehouse, sql: str, params: list[Any] | None = None) -> list[tuple]:
    with duckdb.connect(str(w.settings.duckdb_path), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def relative(w: Warehouse, fetch: ArchivedFetch) -> str:
    return fetch.first.path.relative_to(w.settings.tree_dir).as_posix()


# ---- corruptions ----------------------------------------------------------------------------------------------

Corrupt = Callable[[list[bytes]], list[bytes]]


def dumps(doc: Any) -> bytes:
    # json.dumps writes NaN/Infinity for non-finite floats: what a broken server would send.
    return json.dumps(doc, separators=(",", ":")).encode()


def edit(change: Callable[[Any], object], page: int = 0) -> Corrupt:
    """Decode page `page`, let `change` alter the document in place, encode it again (other pages unchanged)."""

    def corrupt(pages: list[bytes]) -> list[bytes]:
        doc = json.loads(pages[page])
        change(doc)
        return [*pages[:page], dumps(doc), *pages[page + 1:]]

    return corrupt


def rewrite(make: Callable[[Any], Any], page: int = 0) -> Corrupt:
    """Decode page `page` and encode `make(document)` in its place."""

    def corrupt(pages: list[bytes]) -> list[bytes]:
        return [*pages[:page], dumps(make(json.loads(pages[page]))), *pages[page + 1:]]

    return corrupt


def whole_body(body: bytes) -> Corrupt:
    """The fetch is one page holding `body` (an error page, an empty answer): the walk would stop there."""
    return lambda pages: [body]


def truncate(page: int = 0, keep: float = 0.5) -> Corrupt:
    def corrupt(pages: list[bytes]) -> list[bytes]:
        cut = pages[page][: int(len(pages[page]) * keep)]
        return [*pages[:page], cut, *pages[page + 1:]]

    return corrupt
