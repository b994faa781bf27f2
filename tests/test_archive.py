import datetime as dt
import gzip
import hashlib
import json

import pytest

from pipelines.ingest.archive import ArchiveError, LandingArchive
from pipelines.ingest.body_source import FetchingBodySource, ReplayBodySource
from pipelines.ingest.errors import FetchError, MissingArchiveError
from pipelines.ingest.fetcher import FetchedBody, FetchRequest

DAY = dt.date(2025, 11, 20)
AT = dt.datetime(2025, 11, 21, 0, 30, tzinfo=dt.UTC)


def fetched(body: bytes, at: dt.datetime = AT, status: int = 200) -> FetchedBody:
    request = FetchRequest("binance", "spot_klines_1d", DAY, "https://example.invalid/k", {"symbol": "BTCUSDT"})
    return FetchedBody(request, status, body, at)


def test_layout_body_and_sidecar(tmp_path):
    archive = LandingArchive(tmp_path)
    entry = archive.write(fetched(b'[["x"]]'))
    assert entry.path == tmp_path / "binance/spot_klines_1d/date=2025-11-20/20251121T003000Z.json.gz"
    assert gzip.decompress(entry.path.read_bytes()) == b'[["x"]]'
    meta = json.loads(entry.meta_path.read_text())
    assert meta["url"] == "https://example.invalid/k"
    assert meta["params"] == {"symbol": "BTCUSDT"}
    assert meta["status"] == 200
    assert meta["fetched_at"] == "2025-11-21T00:30:00+00:00"
    assert meta["size_bytes"] == 7
    assert meta["sha256"] == hashlib.sha256(b"[[\"x\"]]").hexdigest()
    assert len(meta["sha256"]) == 64
    assert entry.read_body() == b'[["x"]]'


def test_archive_bytes_are_deterministic(tmp_path):
    a = LandingArchive(tmp_path / "a").write(fetched(b"{}")).path.read_bytes()
    b = LandingArchive(tmp_path / "b").write(fetched(b"{}")).path.read_bytes()
    assert a == b


def test_write_once_refuses_a_different_body_under_the_same_name(tmp_path):
    archive = LandingArchive(tmp_path)
    first = archive.write(fetched(b"[1]"))
    assert archive.write(fetched(b"[1]")) == first  # same body again: reused, not rewritten
    with pytest.raises(ArchiveError, match="write-once"):
        archive.write(fetched(b"[2]"))
    assert first.read_body() == b"[1]"


def test_tampered_body_is_detected(tmp_path):
    entry = LandingArchive(tmp_path).write(fetched(b"[1]"))
    entry.path.chmod(0o644)
    entry.path.write_bytes(gzip.compress(b"[9]"))
    with pytest.raises(ArchiveError, match="sha256"):
        entry.read_body()


def test_newest_is_the_latest_fetch(tmp_path):
    archive = LandingArchive(tmp_path)
    archive.write(fetched(b"[1]", AT))
    archive.write(fetched(b"[2]", AT + dt.timedelta(hours=1)))
    assert archive.newest("binance", "spot_klines_1d", DAY).read_body() == b"[2]"
    assert len(archive.entries("binance", "spot_klines_1d", DAY)) == 2


@pytest.mark.parametrize("name", ["../etc", "Binance", "a/b", "", "x__y"])
def test_names_used_in_paths_are_validated(tmp_path, name):
    with pytest.raises(ValueError, match="invalid"):
        LandingArchive(tmp_path).partition_dir(name, "spot_klines_1d", DAY)


class _Spec:
    source, dataset = "binance", "spot_klines_1d"

    def build_request(self, day):
        return FetchRequest(self.source, self.dataset, day, "https://example.invalid/k")


class _Fetcher:
    def __init__(self, status, body):
        self.status, self.body = status, body

    def fetch(self, request):
        return FetchedBody(request, self.status, self.body, AT)


def test_error_status_is_archived_then_raised(tmp_path):
    archive = LandingArchive(tmp_path)
    with pytest.raises(FetchError, match=r"binance/spot_klines_1d for 2025-11-20: HTTP 503"):
        FetchingBodySource(_Fetcher(503, b"<html>down</html>"), archive).obtain(_Spec(), DAY)
    assert archive.newest("binance", "spot_klines_1d", DAY).read_body() == b"<html>down</html>"


def test_replay_names_what_is_missing(tmp_path):
    with pytest.raises(MissingArchiveError, match=r"binance/spot_klines_1d for 2025-11-20: replay found no archived body"):
        ReplayBodySource(LandingArchive(tmp_path)).obtain(_Spec(), DAY)


def test_replay_uses_newest_archived_body(tmp_path):
    archive = LandingArchive(tmp_path)
    archive.write(fetched(b"[1]", AT))
    archive.write(fetched(b"[2]", AT + dt.timedelta(minutes=5)))
    assert ReplayBodySource(archive).obtain(_Spec(), DAY).read_body() == b"[2]"
