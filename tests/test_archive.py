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
    assert len(archive.fetches("binance", "spot_klines_1d", DAY)) == 2


@pytest.mark.parametrize("name", ["../etc", "Binance", "a/b", "", "x__y"])
def test_names_used_in_paths_are_validated(tmp_path, name):
    with pytest.raises(ValueError, match="invalid"):
        LandingArchive(tmp_path).partition_dir(name, "spot_klines_1d", DAY)


class _Spec:
    source, dataset, name = "binance", "spot_klines_1d", "binance/spot_klines_1d"
    backfillable, next_page, max_pages, history = True, None, 10, ""

    def request_for(self, day, at):
        return self.build_request(day)

    def build_request(self, day):
        return FetchRequest(self.source, self.dataset, day, "https://example.invalid/k")


class _Fetcher:
    def __init__(self, status, body):
        self.status, self.body = status, body

    def fetch(self, request):
        return FetchedBody(request, self.status, self.body, AT)

    def serves_present_of(self, day):
        return False

    def request_time(self, day):
        return AT


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
    assert ReplayBodySource(archive).obtain(_Spec(), DAY).first.read_body() == b"[2]"


class _NowOnlySpec(_Spec):
    backfillable, history = False, "current chain only"


def test_now_only_dataset_for_a_past_day_is_served_from_the_archive(tmp_path):
    archive = LandingArchive(tmp_path)
    archive.write(fetched(b"[1]"))
    source = FetchingBodySource(_Fetcher(200, b"[99]"), archive)  # would answer with today's data
    assert source.obtain(_NowOnlySpec(), DAY).first.read_body() == b"[1]"


def test_now_only_dataset_for_a_past_day_without_archive_fails_saying_so(tmp_path):
    source = FetchingBodySource(_Fetcher(200, b"[99]"), LandingArchive(tmp_path))
    with pytest.raises(FetchError, match="serves only the present .*; no archived snapshot for 2025-11-20"):
        source.obtain(_NowOnlySpec(), DAY)


def _paged_spec(last_page: int):
    class Paged(_Spec):
        @staticmethod
        def next_page(request, body):
            page = int(request.params.get("page", "1"))
            if page >= last_page:
                return None
            return FetchRequest(request.source, request.dataset, request.day, request.url, {"page": str(page + 1)})

    return Paged()


class _PageFetcher(_Fetcher):
    def __init__(self, fail_on: int | None = None):
        self.fail_on = fail_on

    def fetch(self, request):
        page = int(request.params.get("page", "1"))
        status = 503 if page == self.fail_on else 200
        return FetchedBody(request, status, f"[{page}]".encode(), AT)


def test_pages_share_a_stem_and_a_listing_marks_the_fetch_complete(tmp_path):
    archive = LandingArchive(tmp_path)
    fetch = FetchingBodySource(_PageFetcher(), archive).obtain(_paged_spec(3), DAY)
    assert [p.read_body() for p in fetch.pages] == [b"[1]", b"[2]", b"[3]"]
    names = sorted(p.name for p in archive.partition_dir("binance", "spot_klines_1d", DAY).iterdir())
    assert "20251121T003000Z.p002.json.gz" in names and "20251121T003000Z.pages.json" in names
    replayed = ReplayBodySource(archive).obtain(_paged_spec(3), DAY)
    assert [p.read_body() for p in replayed.pages] == [b"[1]", b"[2]", b"[3]"]


def test_an_interrupted_paged_fetch_keeps_its_pages_but_is_never_replayed(tmp_path):
    archive = LandingArchive(tmp_path)
    with pytest.raises(FetchError, match="HTTP 503"):
        FetchingBodySource(_PageFetcher(fail_on=2), archive).obtain(_paged_spec(3), DAY)
    folder = archive.partition_dir("binance", "spot_klines_1d", DAY)
    assert len(list(folder.glob("*.json.gz"))) == 2  # what was received is archived
    with pytest.raises(MissingArchiveError):
        ReplayBodySource(archive).obtain(_paged_spec(3), DAY)
