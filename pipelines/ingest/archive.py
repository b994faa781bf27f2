"""The landing archive: the exact body of every response, write-once, before anything parses it.

Layout (data engineers and tests rely on it):
    <tree>/landing/<source>/<dataset>/date=YYYY-MM-DD/<fetched_at YYYYMMDDTHHMMSSZ>.json.gz
    <tree>/landing/<source>/<dataset>/date=YYYY-MM-DD/<fetched_at YYYYMMDDTHHMMSSZ>.meta.json
The sidecar holds url, params, HTTP status, fetched_at, sha256 and size of the (uncompressed) body.

A paged dataset (mempool blocks, OKX liquidations) needs several requests for one day. Its pages share the
stem of the first page's fetched_at: page 1 is `<stem>.json.gz`, page k is `<stem>.pNNN.json.gz` (each with
its own sidecar), and once the last page has arrived `<stem>.pages.json` lists them with their sha256.
A fetch with page files but no such list was interrupted and is never replayed.

A range request (a backfill asking many days at once) lands once, under the days it covers:
    <tree>/landing/<source>/<dataset>/range=YYYY-MM-DD_YYYY-MM-DD/<fetched_at>.json.gz   (first_last, inclusive)
The fetches of a day are those of its `date=` folder and of every `range=` folder covering it; the newest by
fetched_at answers for it (on a tie, the narrowest: a day's own fetch over a range's).

A poll of a rolling source (pipelines.polling: what OKX serves of its last ~24 h, every hour) lands under the UTC
date it was sent, whatever days its rows belong to; its sidecars add `poll_at` and `poll_since`:
    <tree>/landing/<source>/<dataset>/poll=YYYY-MM-DD/<fetched_at>.json.gz   (+ .pNNN pages, .pages.json)
A day's rows are read from every poll whose window reaches into it (pipelines.ingest.polls).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipelines.ingest.fetcher import FetchedBody, FetchRequest
from pipelines.sources.spec import validate_name

BODY_SUFFIX = ".json.gz"
META_SUFFIX = ".meta.json"
PAGES_SUFFIX = ".pages.json"
FETCHED_AT_FORMAT = "%Y%m%dT%H%M%SZ"
RANGE_PREFIX = "range="
POLL_PREFIX = "poll="


class ArchiveError(Exception):
    pass


def fetched_at_stem(fetched_at: dt.datetime) -> str:
    if fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware (UTC)")
    return fetched_at.astimezone(dt.UTC).strftime(FETCHED_AT_FORMAT)


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def gzip_deterministic(body: bytes) -> bytes:
    # mtime=0 and no file name in the header: the same body always gives the same archive bytes.
    return gzip.compress(body, compresslevel=6, mtime=0)


@dataclass(frozen=True)
class ArchivedBody:
    path: Path
    meta: dict

    @property
    def meta_path(self) -> Path:
        return self.path.with_name(self.path.name[: -len(BODY_SUFFIX)] + META_SUFFIX)

    @property
    def fetched_at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.meta["fetched_at"])

    @property
    def status(self) -> int:
        return int(self.meta["status"])

    def read_body(self) -> bytes:
        """The exact body bytes, verified against the sidecar's sha256 and size."""
        body = gzip.decompress(self.path.read_bytes())
        if len(body) != self.meta["size_bytes"] or sha256_hex(body) != self.meta["sha256"]:
            raise ArchiveError(f"{self.path}: body does not match the sha256/size recorded in {self.meta_path.name}")
        return body


@dataclass(frozen=True)
class ArchivedFetch:
    """One fetch of a (source, dataset, day): its page bodies, in order (one page for most datasets)."""

    stem: str
    pages: tuple[ArchivedBody, ...]

    @property
    def fetched_at(self) -> dt.datetime:
        return self.pages[0].fetched_at

    @property
    def first(self) -> ArchivedBody:
        return self.pages[0]


def _write_exclusive(path: Path, data: bytes) -> bool:
    """Write `data` to `path` only if `path` does not exist. Returns False if it already existed.

    The bytes go to a temporary file first and are then hard-linked into place: readers never see a
    half-written file, and link() fails if the name is taken, so nothing is ever overwritten.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o444)  # archived bodies are never edited in place
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


class LandingArchive:
    def __init__(self, root: Path):
        self.root = Path(root)

    def dataset_dir(self, source: str, dataset: str) -> Path:
        validate_name("source", source)
        validate_name("dataset", dataset)
        return self.root / source / dataset

    def partition_dir(self, source: str, dataset: str, day: dt.date) -> Path:
        return self.dataset_dir(source, dataset) / f"date={day.isoformat()}"

    def range_dir(self, source: str, dataset: str, first: dt.date, last: dt.date) -> Path:
        return self.dataset_dir(source, dataset) / f"{RANGE_PREFIX}{first.isoformat()}_{last.isoformat()}"

    def poll_dir(self, source: str, dataset: str, day: dt.date) -> Path:
        return self.dataset_dir(source, dataset) / f"{POLL_PREFIX}{day.isoformat()}"

    def request_dir(self, request: FetchRequest) -> Path:
        """Where a request's bodies land: its day's folder, its range's, or its poll date's."""
        if request.poll is not None:
            return self.poll_dir(request.source, request.dataset, request.day)
        if request.last_day is None:
            return self.partition_dir(request.source, request.dataset, request.day)
        return self.range_dir(request.source, request.dataset, request.day, request.last_day)

    def write(self, fetched: FetchedBody, page: int = 1, stem: str | None = None) -> ArchivedBody:
        """Archive a response body, write-once. Pages after the first pass the first page's `stem`.

        Archiving the very same body at the same fetched_at again is a no-op that returns the existing
        entry (the demo source fetches at a fixed simulated time, so reruns reuse their archive);
        a different body under an existing name is refused.
        """
        req = fetched.request
        directory = self.request_dir(req)
        directory.mkdir(parents=True, exist_ok=True)
        if page < 1 or (page > 1) != (stem is not None):
            raise ValueError("page 1 has no stem; pages after it pass the stem of page 1")
        stem = stem or fetched_at_stem(fetched.fetched_at)
        name = stem if page == 1 else f"{stem}.p{page:03d}"
        body_path = directory / f"{name}{BODY_SUFFIX}"
        meta = {
            "source": req.source,
            "dataset": req.dataset,
            "date": req.day.isoformat(),
            **({"last_date": req.last_day.isoformat()} if req.last_day else {}),
            **({"poll_at": req.poll.at.astimezone(dt.UTC).isoformat(),
                "poll_since": req.poll.since.astimezone(dt.UTC).isoformat()} if req.poll else {}),
            "url": req.url,
            "params": dict(sorted(req.params.items())),
            "status": fetched.status,
            "fetched_at": fetched.fetched_at.astimezone(dt.UTC).isoformat(),
            "sha256": sha256_hex(fetched.body),
            "size_bytes": len(fetched.body),
            **({"page": page} if page > 1 else {}),
        }
        archived = ArchivedBody(body_path, meta)
        if not _write_exclusive(body_path, gzip_deterministic(fetched.body)):
            existing = self._load(body_path)
            if existing is None or existing.meta["sha256"] != meta["sha256"]:
                raise ArchiveError(
                    f"{body_path} already holds a different body; the landing archive is write-once"
                )
            return existing
        meta_bytes = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode()
        _write_exclusive(archived.meta_path, meta_bytes)
        return archived

    def _load(self, body_path: Path) -> ArchivedBody | None:
        meta_path = body_path.with_name(body_path.name[: -len(BODY_SUFFIX)] + META_SUFFIX)
        if not meta_path.exists():
            return None
        return ArchivedBody(body_path, json.loads(meta_path.read_text()))

    def seal(self, pages: list[ArchivedBody]) -> None:
        """Mark a multi-page fetch complete by listing its pages (write-once like everything here)."""
        if len(pages) < 2:
            return
        first = pages[0]
        listing = [{"file": p.path.name, "sha256": p.meta["sha256"]} for p in pages]
        stem = first.path.name[: -len(BODY_SUFFIX)]
        data = (json.dumps({"pages": listing}, indent=2) + "\n").encode()
        _write_exclusive(first.path.with_name(stem + PAGES_SUFFIX), data)

    def fetches(self, source: str, dataset: str, day: dt.date) -> list[ArchivedFetch]:
        """Every complete fetch holding a partition, oldest first: stems sort chronologically, and of two fetched
        at the same moment the narrower (the day's own) comes last."""
        spans = [(self.partition_dir(source, dataset, day), 1)]
        spans += [(folder, (last - first).days + 1) for folder, first, last in self._ranges(source, dataset)
                  if first <= day <= last]
        found = [(fetch.stem, -span, fetch) for folder, span in spans for fetch in self._complete_fetches(folder)]
        return [fetch for _stem, _span, fetch in sorted(found, key=lambda item: item[:2])]

    def _ranges(self, source: str, dataset: str) -> list[tuple[Path, dt.date, dt.date]]:
        """The dataset's range folders with the days they cover (a folder whose name does not parse is skipped)."""
        found = []
        for folder in self.dataset_dir(source, dataset).glob(f"{RANGE_PREFIX}*"):
            first_text, _, last_text = folder.name[len(RANGE_PREFIX):].partition("_")
            try:
                found.append((folder, dt.date.fromisoformat(first_text), dt.date.fromisoformat(last_text)))
            except ValueError:
                continue
        return found

    def polls(self, source: str, dataset: str, day: dt.date) -> tuple[list[ArchivedFetch], list[str]]:
        """The polls sent on the UTC date `day`, oldest first: the complete ones, and the stems of those cut short
        (page files without their listing: the walk failed mid-way; never parsed)."""
        directory = self.poll_dir(source, dataset, day)
        complete = self._complete_fetches(directory)
        done = {fetch.stem for fetch in complete}
        firsts = sorted(p.name[: -len(BODY_SUFFIX)] for p in directory.glob(f"*{BODY_SUFFIX}")) if directory.is_dir() else []
        return complete, [stem for stem in firsts if "." not in stem and stem not in done]

    def _complete_fetches(self, directory: Path) -> list[ArchivedFetch]:
        if not directory.is_dir():
            return []
        complete = []
        for first_path in sorted(directory.glob(f"*{BODY_SUFFIX}")):
            stem = first_path.name[: -len(BODY_SUFFIX)]
            if "." in stem:  # a page after the first: reached through its stem's listing
                continue
            first = self._load(first_path)
            if first is None:
                continue
            listing_path = directory / f"{stem}{PAGES_SUFFIX}"
            if listing_path.exists():
                names = [entry["file"] for entry in json.loads(listing_path.read_text())["pages"]]
                pages = [self._load(directory / name) for name in names]
                if any(p is None for p in pages):
                    continue
                complete.append(ArchivedFetch(stem, tuple(pages)))
            elif not any(directory.glob(f"{stem}.p*{BODY_SUFFIX}")):
                complete.append(ArchivedFetch(stem, (first,)))
        return complete

    def newest_fetch(self, source: str, dataset: str, day: dt.date) -> ArchivedFetch | None:
        fetches = self.fetches(source, dataset, day)
        return fetches[-1] if fetches else None

    def newest(self, source: str, dataset: str, day: dt.date) -> ArchivedBody | None:
        """The first page of the newest complete fetch."""
        newest = self.newest_fetch(source, dataset, day)
        return newest.first if newest else None
