"""The landing archive after a crash: kill -9 or a full disk between its steps, leftovers of dead writers, walks cut
short, bodies without sidecar left by older code, concurrent writers. The next write heals; `audit_archive` says
what is not whole."""

import datetime as dt
import errno
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import pipelines.atomic_files as atomic_files
import pipelines.ingest.archive as archive_module
from pipelines.ingest.archive import ArchiveError, LandingArchive, audit_archive, gzip_deterministic
from pipelines.ingest.body_source import FetchingBodySource, ReplayBodySource
from pipelines.ingest.errors import FetchError, MissingArchiveError
from pipelines.ingest.fetcher import FetchedBody, FetchRequest, PollWindow

DAY = dt.date(2025, 11, 20)
AT = dt.datetime(2025, 11, 21, 0, 30, tzinfo=dt.UTC)
STEM = "20251121T003000Z"
REPO = Path(__file__).resolve().parents[1]


def request(params: dict | None = None) -> FetchRequest:
    return FetchRequest("okx", "liquidation_orders", DAY, "https://example.invalid/liq", params or {})


def fetched(body: bytes, params: dict | None = None, status: int = 200) -> FetchedBody:
    return FetchedBody(request(params), status, body, AT)


def folder_of(root: Path) -> Path:
    return LandingArchive(root).partition_dir("okx", "liquidation_orders", DAY)


def bodies_without_sidecar(root: Path) -> list[str]:
    """Checked on the files themselves, not through the archive's code."""
    return sorted(str(p) for p in root.rglob("*.json.gz")
                  if ".orphans" not in p.parts and not p.with_name(p.name[: -len(".json.gz")] + ".meta.json").exists())


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# --- the two links of a (body, sidecar) pair -----------------------------------------------------------------


def test_a_full_disk_between_the_two_links_leaves_nothing_readable_and_the_rerun_lands(tmp_path, monkeypatch):
    real_link, calls = os.link, []

    def link_then_disk_full(src, dst, *args, **kwargs):
        calls.append(Path(dst).name)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", link_then_disk_full)
    archive = LandingArchive(tmp_path)
    with pytest.raises(OSError, match="No space left"):
        archive.write(fetched(b"[1]"))
    monkeypatch.setattr(os, "link", real_link)
    assert bodies_without_sidecar(tmp_path) == []
    assert archive.fetches("okx", "liquidation_orders", DAY) == []  # nothing half-written is visible
    assert not list(folder_of(tmp_path).glob(".incoming-*"))  # the failed writer removed its temporary files
    # The rerun (the demo's fixed fetch time: the same name) lands, and the archive is whole.
    entry = LandingArchive(tmp_path).write(fetched(b"[1]"))
    assert entry.read_body() == b"[1]"
    assert audit_archive(tmp_path) == []


KILL_AT_LINK = textwrap.dedent("""
    import datetime as dt, os, signal, sys
    from pathlib import Path
    from pipelines.ingest.archive import LandingArchive
    from pipelines.ingest.fetcher import FetchedBody, FetchRequest, PollWindow

    real_link, count = os.link, [0]
    def link(src, dst, *a, **k):
        count[0] += 1
        if count[0] == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9 right before this link
        return real_link(src, dst, *a, **k)
    os.link = link
    request = FetchRequest("okx", "liquidation_orders", dt.date(2025, 11, 20), "https://example.invalid/liq", {})
    at = dt.datetime(2025, 11, 21, 0, 30, tzinfo=dt.UTC)
    LandingArchive(Path(sys.argv[1])).write(FetchedBody(request, 200, b"[1]", at))
""")


@pytest.mark.parametrize("kill_before_link", [1, 2])
def test_kill_9_at_either_link_then_the_rerun_heals(tmp_path, kill_before_link):
    child = subprocess.run([sys.executable, "-c", KILL_AT_LINK, str(tmp_path), str(kill_before_link)], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr
    folder = folder_of(tmp_path)
    (leftover,) = folder.glob(".incoming-*")  # the killed writer could not clean up
    assert bodies_without_sidecar(tmp_path) == []
    assert audit_archive(tmp_path) == [f"{leftover}: temporary file left by a writer that is gone"]
    entry = LandingArchive(tmp_path).write(fetched(b"[1]"))
    assert entry.read_body() == b"[1]"
    assert not list(folder.glob(".incoming-*"))  # swept by the next write into the folder
    assert sorted(p.name for p in folder.iterdir()) == [f"{STEM}.json.gz", f"{STEM}.meta.json"]
    assert audit_archive(tmp_path) == []


def test_links_are_sidecar_then_body_and_the_folder_is_flushed_after_them(tmp_path, monkeypatch):
    events = []
    real_link, real_fsync_dir = os.link, archive_module.fsync_dir
    monkeypatch.setattr(os, "link", lambda src, dst: (events.append(("link", Path(dst).name)), real_link(src, dst))[1])
    for module in (archive_module, atomic_files):  # the archive's own flushes and its write-once primitives'
        monkeypatch.setattr(module, "fsync_dir",
                            lambda folder: (events.append(("fsync", Path(folder).name)), real_fsync_dir(folder))[1])
    archive = LandingArchive(tmp_path)
    page = archive.write(fetched(b"[1]"), paged=True)
    archive.seal([page])
    links = [(kind, name) for kind, name in events if kind == "link" or name == "date=2025-11-20"]
    assert links == [("link", f"{STEM}.meta.json"), ("link", f"{STEM}.json.gz"), ("fsync", "date=2025-11-20"),
                     ("link", f"{STEM}.pages.json"), ("fsync", "date=2025-11-20")]
    # The new folders themselves were flushed into their parents.
    assert ("fsync", "liquidation_orders") in events and ("fsync", "okx") in events


# --- what older code (or a crash) left --------------------------------------------------------------------------


def body_without_sidecar(root: Path, body: bytes, name: str = f"{STEM}.json.gz") -> Path:
    """What older code left when killed between its two links (body first): a body and no sidecar."""
    folder = folder_of(root)
    folder.mkdir(parents=True)
    path = folder / name
    path.write_bytes(gzip_deterministic(body))
    path.chmod(0o444)
    return path


def test_a_body_without_sidecar_with_the_same_bytes_gets_its_sidecar(tmp_path):
    path = body_without_sidecar(tmp_path, b"[1]")
    assert audit_archive(tmp_path) == [f"{path}: body without sidecar {STEM}.meta.json"]
    entry = LandingArchive(tmp_path).write(fetched(b"[1]"))
    assert entry.path == path and entry.read_body() == b"[1]"
    assert not (path.parent / ".orphans").exists()
    assert audit_archive(tmp_path) == []


def test_a_body_without_sidecar_with_other_bytes_is_kept_aside_and_the_new_fetch_lands(tmp_path):
    path = body_without_sidecar(tmp_path, b"[old]")
    old_bytes = path.read_bytes()
    entry = LandingArchive(tmp_path).write(fetched(b"[new]"))
    assert entry.read_body() == b"[new]"
    (orphan,) = (path.parent / ".orphans").iterdir()
    assert orphan.read_bytes() == old_bytes and orphan.name.startswith(f"{STEM}.orphan-")  # nothing is lost
    assert LandingArchive(tmp_path).newest("okx", "liquidation_orders", DAY).read_body() == b"[new]"
    assert audit_archive(tmp_path) == []


def test_a_different_body_under_a_name_with_its_sidecar_is_still_refused(tmp_path):
    archive = LandingArchive(tmp_path)
    archive.write(fetched(b"[1]"))
    with pytest.raises(ArchiveError, match="already holds a different body; the landing archive is write-once"):
        archive.write(fetched(b"[2]"))
    assert archive.newest("okx", "liquidation_orders", DAY).read_body() == b"[1]"
    assert not (folder_of(tmp_path) / ".orphans").exists()


def test_a_sidecar_whose_body_never_landed_is_replaced(tmp_path, monkeypatch):
    """A crash after the sidecar of another body (the source answered differently before the kill)."""
    real_link = os.link

    def no_room_for_bodies(src, dst):
        if str(dst).endswith(".json.gz"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_link(src, dst)

    monkeypatch.setattr(os, "link", no_room_for_bodies)
    with pytest.raises(OSError):
        LandingArchive(tmp_path).write(fetched(b"[before the kill]"))
    monkeypatch.setattr(os, "link", real_link)
    entry = LandingArchive(tmp_path).write(fetched(b"[after]"))
    assert entry.read_body() == b"[after]"  # the sidecar matches the body that landed
    assert audit_archive(tmp_path) == []


def test_temporaries_of_dead_writers_are_swept_and_live_ones_kept(tmp_path):
    folder = folder_of(tmp_path)
    folder.mkdir(parents=True)
    dead = folder / f".incoming-{dead_pid()}-abc123"
    live_writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = folder / f".incoming-{live_writer.pid}-def456"
        old_style_stale = folder / ".incoming-k2j4h5g6"  # older code's name, no pid: swept once an hour old
        old_style_fresh = folder / ".incoming-a1b2c3d4"
        for path in (dead, live, old_style_stale, old_style_fresh):
            path.write_bytes(b"partial")
        hours_ago = time.time() - 2 * 3600
        os.utime(old_style_stale, (hours_ago, hours_ago))
        assert sorted(audit_archive(tmp_path)) == sorted(f"{p}: temporary file left by a writer that is gone"
                                                         for p in (dead, old_style_stale))
        LandingArchive(tmp_path).write(fetched(b"[1]"))
        assert sorted(p.name for p in folder.glob(".incoming-*")) == sorted([live.name, old_style_fresh.name])
        assert audit_archive(tmp_path) == []
    finally:
        live_writer.kill()
        live_writer.wait()


# --- paged fetches ------------------------------------------------------------------------------------------------


class _Paged:
    """A dataset answered in `pages` pages (OKX liquidations, mempool blocks)."""

    source, dataset, name = "okx", "liquidation_orders", "okx/liquidation_orders"
    backfillable, max_pages, history, poll = True, 10, "", None

    def __init__(self, pages: int):
        self.pages = pages

    def request_for(self, day, at):
        return request()

    def next_page(self, req, body):
        page = int(req.params.get("page", "1"))
        return None if page >= self.pages else request({"page": str(page + 1)})


class _Fetcher:
    """Serves `[k]` for page k; `die_on` raises instead (a lost connection or the process dying there)."""

    def __init__(self, die_on: int | None = None, status_on: dict | None = None):
        self.die_on, self.status_on = die_on, status_on or {}

    def fetch(self, req):
        page = int(req.params.get("page", "1"))
        if page == self.die_on:
            raise KeyboardInterrupt(f"died before page {page}")
        return FetchedBody(req, self.status_on.get(page, 200), f"[{page}]".encode(), AT)

    def serves_present_of(self, day):
        return True

    def request_time(self, day):
        return AT


def test_a_walk_cut_after_page_1_is_not_a_complete_fetch(tmp_path):
    archive = LandingArchive(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        FetchingBodySource(_Fetcher(die_on=2), archive).obtain(_Paged(3), DAY)
    assert [p.name for p in folder_of(tmp_path).glob("*.json.gz")] == [f"{STEM}.json.gz"]
    assert archive.fetches("okx", "liquidation_orders", DAY) == []
    assert archive.cut_short("okx", "liquidation_orders", DAY) == [folder_of(tmp_path) / f"{STEM}.json.gz"]
    with pytest.raises(MissingArchiveError, match=r"okx/liquidation_orders for 2025-11-20: replay found no archived "
                                                  r"body .*1 fetch\(es\) archived but cut short before their last "
                                                  rf"page, never read: .*{STEM}\.json\.gz"):
        ReplayBodySource(archive).obtain(_Paged(3), DAY)
    assert audit_archive(tmp_path) == []  # cut short, and not read as complete: whole
    # The rerun (same fetch time) reuses page 1, fetches the rest and seals: all three pages are read.
    fetch = FetchingBodySource(_Fetcher(), LandingArchive(tmp_path)).obtain(_Paged(3), DAY)
    assert [p.read_body() for p in fetch.pages] == [b"[1]", b"[2]", b"[3]"]
    replayed = ReplayBodySource(LandingArchive(tmp_path)).obtain(_Paged(3), DAY)
    assert [p.read_body() for p in replayed.pages] == [b"[1]", b"[2]", b"[3]"]
    assert audit_archive(tmp_path) == []


def test_a_poll_cut_after_page_1_is_reported_cut_short(tmp_path):
    archive = LandingArchive(tmp_path)
    window = PollWindow(AT, AT - dt.timedelta(hours=24))
    poll = FetchRequest("okx", "liquidation_orders", AT.date(), "https://example.invalid/liq", {}, poll=window)
    archive.write(FetchedBody(poll, 200, b"[1]", AT), paged=True)  # page 1 of 3, then the kill
    complete, cut = archive.polls("okx", "liquidation_orders", AT.date())
    assert complete == [] and cut == ["20251121T003000Z"]


def test_a_paged_fetch_of_one_page_is_listed_and_read(tmp_path):
    archive = LandingArchive(tmp_path)
    fetch = FetchingBodySource(_Fetcher(), archive).obtain(_Paged(1), DAY)
    assert fetch.first.meta["paged"] is True
    listing = json.loads((folder_of(tmp_path) / f"{STEM}.pages.json").read_text())
    assert [entry["file"] for entry in listing["pages"]] == [f"{STEM}.json.gz"]
    assert [p.read_body() for p in ReplayBodySource(archive).obtain(_Paged(1), DAY).pages] == [b"[1]"]


def test_an_error_on_page_1_is_a_complete_failed_fetch_as_before(tmp_path):
    archive = LandingArchive(tmp_path)
    with pytest.raises(FetchError, match="HTTP 503"):
        FetchingBodySource(_Fetcher(status_on={1: 503}), archive).obtain(_Paged(3), DAY)
    with pytest.raises(FetchError, match=r"okx/liquidation_orders for 2025-11-20: HTTP 503"):
        ReplayBodySource(archive).obtain(_Paged(3), DAY)  # the answer was an error: replay says so


def test_an_archive_written_before_the_flag_reads_as_it_did(tmp_path):
    """Older code wrote page 1 of a single-page walk with no flag and no listing: still one complete fetch."""
    archive = LandingArchive(tmp_path)
    archive.write(fetched(b"[1]"))
    (fetch,) = archive.fetches("okx", "liquidation_orders", DAY)
    assert fetch.first.read_body() == b"[1]" and "paged" not in fetch.first.meta
    assert [p.read_body() for p in ReplayBodySource(archive).obtain(_Paged(3), DAY).pages] == [b"[1]"]
    assert audit_archive(tmp_path) == []


def test_sealing_other_pages_under_a_listed_stem_is_refused(tmp_path):
    archive = LandingArchive(tmp_path)
    first = archive.write(fetched(b"[1]"), paged=True)
    second = archive.write(fetched(b"[2]", {"page": "2"}), 2, STEM)
    archive.seal([first, second])
    archive.seal([first, second])  # the same listing again: a no-op
    with pytest.raises(ArchiveError, match="already lists other pages"):
        archive.seal([first])


# --- audit ----------------------------------------------------------------------------------------------------------


def test_audit_names_a_tampered_body_and_a_fetch_read_without_all_its_pages(tmp_path):
    archive = LandingArchive(tmp_path)
    first = archive.write(fetched(b"[1]"), paged=True)
    second = archive.write(fetched(b"[2]", {"page": "2"}), 2, STEM)
    archive.seal([first, second])
    assert audit_archive(tmp_path) == []
    third = archive.write(fetched(b"[3]", {"page": "3"}), 3, STEM)  # a page the listing does not name
    second.path.chmod(0o644)
    second.path.write_bytes(gzip_deterministic(b"[9]"))
    folder = folder_of(tmp_path)
    assert audit_archive(tmp_path) == [
        f"{second.path}: body does not match the sha256/size of {STEM}.p002.meta.json",
        f"{folder / STEM}: read as complete without its page(s) ['{third.path.name}']",
    ]


# --- two writers ---------------------------------------------------------------------------------------------------


def _write_many(root: str, names: int) -> None:
    archive = LandingArchive(Path(root))
    for n in range(names):
        at = AT + dt.timedelta(seconds=n)
        archive.write(FetchedBody(request(), 200, f"[{n}]".encode(), at))


def test_writers_in_two_processes_share_a_folder_safely(tmp_path):
    """A backfill and the poll lane (or two runs of the demo's fixed fetch times) writing the same names at once."""
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_write_many, args=(str(tmp_path), 40)) for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert [w.exitcode for w in writers] == [0, 0, 0, 0]
    assert len(LandingArchive(tmp_path).fetches("okx", "liquidation_orders", DAY)) == 40
    assert audit_archive(tmp_path) == []


# --- a poll's walk killed midway --------------------------------------------------------------------------------


class _StopsSecondPage:
    """The demo API, until the second page of some poll: then the process dies (`status` None) or the source
    refuses it with `status`."""

    def __init__(self, status: int | None):
        from pipelines.demo.fetcher import DemoFetcher

        self.demo, self.status, self.pages, self.stopped_at = DemoFetcher(), status, {}, None

    def __getattr__(self, name):
        return getattr(self.demo, name)

    def fetch(self, req):
        self.pages[req.poll.at] = self.pages.get(req.poll.at, 0) + 1
        if self.pages[req.poll.at] == 2 and self.stopped_at is None:
            self.stopped_at = req.poll.at
            if self.status is None:
                raise KeyboardInterrupt("killed between pages")
            return FetchedBody(req, self.status, b"<html>busy</html>", self.demo.fetch(req).fetched_at)
        return self.demo.fetch(req)


@pytest.mark.parametrize("status", [None, 503])
def test_a_poll_walk_killed_midway_is_flagged_interrupted_one_refused_is_not(tmp_path, status):
    from pipelines.ingest.polls import PollReader, PollRecord
    from pipelines.polling.cadence import DEFAULT_POLL_CRON
    from pipelines.polling.poller import simulate_schedule
    from pipelines.sources.okx import LIQUIDATION_ORDERS

    fetcher = _StopsSecondPage(status)
    body_source = FetchingBodySource(fetcher, LandingArchive(tmp_path))
    try:
        simulate_schedule(body_source, LIQUIDATION_ORDERS, [dt.date(2025, 10, 11)], DEFAULT_POLL_CRON)
    except KeyboardInterrupt:
        pass
    at = fetcher.stopped_at
    reader = PollReader(LandingArchive(tmp_path), LIQUIDATION_ORDERS)
    (record,) = [r for r in reader.sent_on(at.date()) if r.at == at]
    assert not record.ok and "walk cut short" in record.reason
    assert record.interrupted is (status is None)  # a kill is ours to redo; a refusal is the source's answer
    reader.note(PollRecord(None, at, at, True))  # the walk sent again, complete this time
    assert [r.ok for r in reader.sent_on(at.date()) if r.at == at] == ([True] if status is None else [False, True])
