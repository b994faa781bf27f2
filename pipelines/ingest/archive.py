"""The landing archive: the exact body of every response, write-once, before anything parses it.

Layout (data engineers and tests rely on it):
    <tree>/landing/<source>/<dataset>/date=YYYY-MM-DD/<fetched_at YYYYMMDDTHHMMSSZ>.json.gz
    <tree>/landing/<source>/<dataset>/date=YYYY-MM-DD/<fetched_at YYYYMMDDTHHMMSSZ>.meta.json
The sidecar holds url, params, HTTP status, fetched_at, sha256 and size of the (uncompressed) body.

A paged dataset (mempool blocks, OKX liquidations) needs several requests for one day. Its pages share the
stem of the first page's fetched_at: page 1 is `<stem>.json.gz`, page k is `<stem>.pNNN.json.gz` (each with
its own sidecar), and once the last page has arrived `<stem>.pages.json` lists them with their sha256.
A fetch with page files but no such list was interrupted and is never replayed. Page 1 of a paged dataset says
so in its sidecar (`"paged": true`) and its fetch is listed even when it has one page, so a walk cut short after
page 1 is not read as a single-page fetch (a page 1 without the flag, written before it existed, still is).

Crash safety (kill -9, power cut, full disk). Every file is written to `.incoming-<pid>-*` beside its name,
flushed, then hard-linked into place (link() never overwrites) and the folder flushed. A body's sidecar is linked
BEFORE the body: the body's link is the commit point, so a crash leaves at worst a sidecar without body, which is
never read and is replaced by the next write of that name. What older code or a crash left is healed by the next
write into the folder: temporaries of dead writers are removed; a body without sidecar gets its sidecar when the
new body has the same bytes, and is otherwise moved to `.orphans/` (never read without a sidecar; kept, not
deleted) so the new fetch lands. A body under a name that has its sidecar is never replaced (write-once).
Writers of one folder (a backfill and the poll lane, say) take turns on a lock of the folder (flock, released
when the process dies). `audit_archive` lists whatever would break these rules.

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
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from pipelines.atomic_files import (
    TEMP_NAME,
    TEMP_PREFIX,
    fsync_dir,
    folder_lock,
    make_dirs_durably,
    replace_with,
    stale_temp,
    write_exclusive,
)
from pipelines.ingest.fetcher import FetchedBody, FetchRequest
from pipelines.sources.spec import validate_name

BODY_SUFFIX = ".json.gz"
META_SUFFIX = ".meta.json"
PAGES_SUFFIX = ".pages.json"
FETCHED_AT_FORMAT = "%Y%m%dT%H%M%SZ"
RANGE_PREFIX = "range="
POLL_PREFIX = "poll="
ORPHANS_DIR = ".orphans"


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
        return _meta_path_of(self.path)

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


def _body_sha256(path: Path) -> str | None:
    """The sha256 of an archived body's uncompressed bytes; None when the file is not whole gzip."""
    try:
        return sha256_hex(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, zlib.error):
        return None


def _meta_path_of(body_path: Path) -> Path:
    return body_path.with_name(body_path.name[: -len(BODY_SUFFIX)] + META_SUFFIX)


class LandingArchive:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._swept: set[Path] = set()  # folders whose dead writers' temporaries this archive has removed

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

    def write(self, fetched: FetchedBody, page: int = 1, stem: str | None = None, paged: bool = False
              ) -> ArchivedBody:
        """Archive a response body, write-once. Pages after the first pass the first page's `stem`; page 1 of a
        paged dataset passes `paged` (its fetch then counts only once sealed, see the module docstring).

        Archiving the very same body at the same fetched_at again is a no-op that returns the existing
        entry (the demo source fetches at a fixed simulated time, so reruns reuse their archive);
        a different body under an existing name is refused. What a crash left under the name is healed first.
        """
        req = fetched.request
        directory = self.request_dir(req)
        make_dirs_durably(directory)
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
            **({"paged": True} if page == 1 and paged else {}),
        }
        archived = ArchivedBody(body_path, meta)
        meta_bytes = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode()
        with folder_lock(directory):
            self._sweep(directory)
            if body_path.exists():
                existing = self._load(body_path)
                if existing is not None:
                    if existing.meta["sha256"] != meta["sha256"]:
                        raise ArchiveError(
                            f"{body_path} already holds a different body; the landing archive is write-once"
                        )
                    return existing
                # A body without sidecar (older code linked the body first; a crash or a full disk stopped it
                # before the sidecar). Never readable, so never read: the same bytes get their sidecar, others
                # are moved aside for the new body.
                if _body_sha256(body_path) == meta["sha256"]:
                    write_exclusive(archived.meta_path, meta_bytes)
                    return archived
                self._set_aside(body_path)
            # Sidecar first, body last: until the body's link the entry does not exist for any reader. One flush
            # of the folder after both links: should a power cut keep the body's name and lose the sidecar's,
            # the next write of the name heals it as above.
            if archived.meta_path.exists():  # a sidecar whose body never landed: never read, so replaceable
                if archived.meta_path.read_bytes() != meta_bytes:
                    replace_with(archived.meta_path, meta_bytes)
            else:
                write_exclusive(archived.meta_path, meta_bytes, flush_folder=False)
            if not write_exclusive(body_path, gzip_deterministic(fetched.body)):
                raise ArchiveError(f"{body_path} appeared while its folder was locked: a writer that does not "
                                   "take the folder's lock (older code?) is writing the landing archive")
        return archived

    def _sweep(self, directory: Path) -> None:
        """Remove the temporaries dead writers left in `directory` (once per folder for this archive)."""
        if directory in self._swept:
            return
        for path in directory.glob(f"{TEMP_PREFIX}*"):
            if stale_temp(path):
                path.unlink(missing_ok=True)
        self._swept.add(directory)

    @staticmethod
    def _set_aside(body_path: Path) -> Path:
        """Move a body without sidecar to `.orphans/` beside it, named by its bytes' sha256 (same bytes, same
        name: nothing is lost when it is moved there twice)."""
        orphans = body_path.parent / ORPHANS_DIR
        make_dirs_durably(orphans)
        digest = hashlib.sha256(body_path.read_bytes()).hexdigest()[:16]
        target = orphans / f"{body_path.name[: -len(BODY_SUFFIX)]}.orphan-{digest}{BODY_SUFFIX}"
        os.replace(body_path, target)
        fsync_dir(orphans)
        fsync_dir(body_path.parent)
        return target

    def _load(self, body_path: Path) -> ArchivedBody | None:
        meta_path = _meta_path_of(body_path)
        if not meta_path.exists():
            return None
        return ArchivedBody(body_path, json.loads(meta_path.read_text()))

    def seal(self, pages: list[ArchivedBody], paged: bool = False) -> None:
        """Mark a fetch complete by listing its pages (write-once like everything here). A fetch of several pages,
        or of a paged dataset (`paged`, or page 1's sidecar says so), is read only once listed; a single-page
        fetch of any other dataset needs no listing."""
        if not pages or (len(pages) < 2 and not paged and not pages[0].meta.get("paged")):
            return
        first = pages[0]
        listing = [{"file": p.path.name, "sha256": p.meta["sha256"]} for p in pages]
        stem = first.path.name[: -len(BODY_SUFFIX)]
        data = (json.dumps({"pages": listing}, indent=2) + "\n").encode()
        listing_path = first.path.with_name(stem + PAGES_SUFFIX)
        with folder_lock(listing_path.parent):
            if not write_exclusive(listing_path, data) and json.loads(listing_path.read_text())["pages"] != listing:
                raise ArchiveError(f"{listing_path} already lists other pages; the landing archive is write-once")

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
        (page files without their listing: the walk failed or was killed mid-way; never parsed)."""
        directory = self.poll_dir(source, dataset, day)
        complete = self._complete_fetches(directory)
        return complete, [path.name[: -len(BODY_SUFFIX)] for path in self._cut_short(directory, complete)]

    def cut_short(self, source: str, dataset: str, day: dt.date) -> list[Path]:
        """The first pages of the fetches holding a partition that are NOT complete (a walk stopped before its
        listing: an error page, a kill, a full disk), oldest first: never read, but worth naming when nothing else
        answers."""
        folders = [self.partition_dir(source, dataset, day)]
        folders += [folder for folder, first, last in self._ranges(source, dataset) if first <= day <= last]
        return sorted((path for folder in folders for path in self._cut_short(folder)), key=lambda p: p.name)

    def _cut_short(self, directory: Path, complete: list[ArchivedFetch] | None = None) -> list[Path]:
        if not directory.is_dir():
            return []
        done = {fetch.stem for fetch in (self._complete_fetches(directory) if complete is None else complete)}
        firsts = sorted(directory.glob(f"*{BODY_SUFFIX}"))
        return [path for path in firsts if "." not in (stem := path.name[: -len(BODY_SUFFIX)]) and stem not in done]

    def pages_of(self, directory: Path, stem: str) -> list[ArchivedBody]:
        """The committed pages (those with their sidecar) archived under `stem` in `directory`, in page order:
        what a walk cut short left, for saying why it stopped."""
        paths = [directory / f"{stem}{BODY_SUFFIX}", *sorted(directory.glob(f"{stem}.p*{BODY_SUFFIX}"))]
        return [page for page in map(self._load, paths) if page is not None and page.path.exists()]

    def _complete_fetches(self, directory: Path) -> list[ArchivedFetch]:
        if not directory.is_dir():
            return []
        complete = []
        for first_path in sorted(directory.glob(f"*{BODY_SUFFIX}")):
            stem = first_path.name[: -len(BODY_SUFFIX)]
            if "." in stem:  # a page after the first: reached through its stem's listing
                continue
            first = self._load(first_path)
            if first is None:  # a body without sidecar was never committed
                continue
            listing_path = directory / f"{stem}{PAGES_SUFFIX}"
            if listing_path.exists():
                names = [entry["file"] for entry in json.loads(listing_path.read_text())["pages"]]
                pages = [self._load(directory / name) for name in names]
                if any(p is None for p in pages):
                    continue
                complete.append(ArchivedFetch(stem, tuple(pages)))
            elif not first.meta.get("paged") and not any(directory.glob(f"{stem}.p*{BODY_SUFFIX}")):
                complete.append(ArchivedFetch(stem, (first,)))
        return complete

    def newest_fetch(self, source: str, dataset: str, day: dt.date) -> ArchivedFetch | None:
        fetches = self.fetches(source, dataset, day)
        return fetches[-1] if fetches else None

    def newest(self, source: str, dataset: str, day: dt.date) -> ArchivedBody | None:
        """The first page of the newest complete fetch."""
        newest = self.newest_fetch(source, dataset, day)
        return newest.first if newest else None


def audit_archive(root: Path) -> list[str]:
    """Whatever in the landing archive under `root` breaks its rules, one line per problem (empty: whole):
    a body without sidecar, a body that does not match its sidecar's sha256/size, a fetch read as complete
    though pages are missing from it (page files without listing, a listed page absent or different, page 1 of a
    paged dataset without listing), a temporary file whose writer is gone. A sidecar without body (a write
    stopped before its commit point) and what `.orphans/` keeps are not problems: neither is ever read."""
    root = Path(root)
    archive = LandingArchive(root)
    problems: list[str] = []
    now = time.time()
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d != ORPHANS_DIR)
        directory = Path(folder)
        for name in sorted(files):
            path = directory / name
            if TEMP_NAME.match(name):
                if stale_temp(path, now):
                    problems.append(f"{path}: temporary file left by a writer that is gone")
                continue
            if not name.endswith(BODY_SUFFIX):
                continue
            entry = archive._load(path)
            if entry is None:
                problems.append(f"{path}: body without sidecar {_meta_path_of(path).name}")
                continue
            try:
                entry.read_body()
            except (ArchiveError, OSError, EOFError, zlib.error):
                problems.append(f"{path}: body does not match the sha256/size of {entry.meta_path.name}")
        for fetch in archive._complete_fetches(directory):
            problems += _fetch_problems(directory, fetch)
    return problems


def _fetch_problems(directory: Path, fetch: ArchivedFetch) -> list[str]:
    """Why a fetch the reader counts as complete is not (checked against the files, not the reader's rule)."""
    listing_path = directory / f"{fetch.stem}{PAGES_SUFFIX}"
    on_disk = {p.name for p in directory.glob(f"{fetch.stem}.p*{BODY_SUFFIX}")}
    read = {page.path.name for page in fetch.pages}
    problems = []
    if on_disk - read:
        problems.append(f"{directory / fetch.stem}: read as complete without its page(s) {sorted(on_disk - read)}")
    if not listing_path.exists():
        if fetch.first.meta.get("paged"):
            problems.append(f"{fetch.first.path}: page 1 of a paged fetch read as complete without {listing_path.name}")
        return problems
    for entry in json.loads(listing_path.read_text())["pages"]:
        page = directory / entry["file"]
        meta_path = _meta_path_of(page)
        if not page.exists() or not meta_path.exists():
            problems.append(f"{listing_path}: lists {entry['file']}, which is not archived")
        elif json.loads(meta_path.read_text()).get("sha256") != entry["sha256"]:
            problems.append(f"{listing_path}: {entry['file']} is not the page it lists (sha256)")
    return problems
