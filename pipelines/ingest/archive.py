"""The landing archive: the exact body of every response, write-once, before anything parses it.

Layout (data engineers and tests rely on it):
    <tree>/landing/<source>/<dataset>/date=YYYY-MM-DD/<fetched_at YYYYMMDDTHHMMSSZ>.json.gz
    <tree>/landing/<source>/<dataset>/date=YYYY-MM-DD/<fetched_at YYYYMMDDTHHMMSSZ>.meta.json
The sidecar holds url, params, HTTP status, fetched_at, sha256 and size of the (uncompressed) body.
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

from pipelines.ingest.fetcher import FetchedBody
from pipelines.sources.spec import validate_name

BODY_SUFFIX = ".json.gz"
META_SUFFIX = ".meta.json"
FETCHED_AT_FORMAT = "%Y%m%dT%H%M%SZ"


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

    def partition_dir(self, source: str, dataset: str, day: dt.date) -> Path:
        validate_name("source", source)
        validate_name("dataset", dataset)
        return self.root / source / dataset / f"date={day.isoformat()}"

    def write(self, fetched: FetchedBody) -> ArchivedBody:
        """Archive a response body, write-once.

        Archiving the very same body at the same fetched_at again is a no-op that returns the existing
        entry (the demo source fetches at a fixed simulated time, so reruns reuse their archive);
        a different body under an existing name is refused.
        """
        req = fetched.request
        directory = self.partition_dir(req.source, req.dataset, req.day)
        directory.mkdir(parents=True, exist_ok=True)
        stem = fetched_at_stem(fetched.fetched_at)
        body_path = directory / f"{stem}{BODY_SUFFIX}"
        meta = {
            "source": req.source,
            "dataset": req.dataset,
            "date": req.day.isoformat(),
            "url": req.url,
            "params": dict(sorted(req.params.items())),
            "status": fetched.status,
            "fetched_at": fetched.fetched_at.astimezone(dt.UTC).isoformat(),
            "sha256": sha256_hex(fetched.body),
            "size_bytes": len(fetched.body),
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

    def entries(self, source: str, dataset: str, day: dt.date) -> list[ArchivedBody]:
        """Every complete (body + sidecar) entry of a partition, oldest first."""
        directory = self.partition_dir(source, dataset, day)
        if not directory.is_dir():
            return []
        found = (self._load(p) for p in sorted(directory.glob(f"*{BODY_SUFFIX}")))
        return [entry for entry in found if entry is not None]

    def newest(self, source: str, dataset: str, day: dt.date) -> ArchivedBody | None:
        entries = self.entries(source, dataset, day)
        return entries[-1] if entries else None
