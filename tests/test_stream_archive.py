"""The stream archive (pipelines.collector.hourly_files): hourly files of websocket frames, appended, flushed, sealed
write-once; kill -9 of a writer and recovery, a live writer left alone, a full disk, frames of another day, coverage
and the audit. Real files and real processes throughout."""

import datetime as dt
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipelines.collector.hourly_files import (
    Gap,
    StreamArchiveError,
    StreamArchiveWriter,
    audit_stream_archive,
    coverage,
    hour_files,
    iter_frames,
    open_hour_files,
    recover,
)

REPO = Path(__file__).resolve().parents[1]
VENUE = "binance"
DAY = dt.date(2025, 11, 20)


def at(hour: int, minute: int = 0, second: int = 0, us: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second, us), tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="microseconds")


class Clock:
    """A clock the test sets."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def folder(root: Path, hour: dt.datetime) -> Path:
    return root / VENUE / "liquidation_stream" / f"hour={hour:%Y-%m-%dT%H}"


def line(frame: str, received_at: dt.datetime) -> bytes:
    """An archived line, written out independently of the module."""
    return ('{"received_at":"' + iso(received_at) + '","frame":' + json.dumps(frame, ensure_ascii=False)
            + "}\n").encode()


def sealed_hashes(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.name.endswith((".frames.jsonl", ".meta.json"))}


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def frames_of(root: Path, day: dt.date = DAY) -> list[str]:
    return [frame for sealed in hour_files(root, VENUE, day) for _received_at, frame in iter_frames(sealed)]


# --- writing and sealing -------------------------------------------------------------------------------------------


def test_frames_land_in_their_hour_verbatim_and_the_hour_is_sealed_when_the_next_one_starts(tmp_path):
    clock = Clock(at(10, 15))
    writer = StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False)
    frames = ['{"e":"forceOrder","o":{"s":"BTCUSDT","S":"SELL","q":"0.500"}}', 'ünï "quoted" \\ and\na newline', ""]
    stamps = [at(10, 20, i, 123456) for i in range(len(frames))]
    for frame, stamp in zip(frames, stamps):
        clock.now = stamp
        writer.append(frame, stamp)
    (open_path,) = writer.open_paths
    assert open_path == folder(tmp_path, at(10)) / "20251120T101500.000000Z.frames.jsonl.open"
    clock.now = at(11, 0, 0, 250000)
    writer.append("the next hour", at(11, 0, 0, 200000))

    hour10 = folder(tmp_path, at(10))
    assert sorted(p.name for p in hour10.iterdir()) == ["20251120T101500.000000Z.frames.jsonl",
                                                       "20251120T101500.000000Z.meta.json"]
    body = (hour10 / "20251120T101500.000000Z.frames.jsonl").read_bytes()
    assert body == b"".join(line(f, s) for f, s in zip(frames, stamps))
    assert (hour10 / "20251120T101500.000000Z.frames.jsonl").stat().st_mode & 0o222 == 0  # read-only once sealed
    assert json.loads((hour10 / "20251120T101500.000000Z.meta.json").read_text()) == {
        "venue": "binance", "hour": "2025-11-20T10", "file": "20251120T101500.000000Z.frames.jsonl",
        "opened_at": "2025-11-20T10:15:00.000000+00:00", "closed_at": "2025-11-20T11:00:00.250000+00:00",
        "messages": 3, "first_received_at": iso(stamps[0]), "last_received_at": iso(stamps[-1]),
        "sha256": hashlib.sha256(body).hexdigest(), "size_bytes": len(body), "disconnections": [],
        "interruptions": [], "sealed_by": "hour end", "interrupted": False,
    }
    clock.now = at(11, 30)
    writer.close()
    (sealed10, sealed11) = hour_files(tmp_path, VENUE, DAY)
    assert [frame for _at, frame in iter_frames(sealed10)] == frames
    assert list(iter_frames(sealed11)) == [(at(11, 0, 0, 200000), "the next hour")]
    assert (sealed11.meta["sealed_by"], sealed11.meta["opened_at"]) == ("close", "2025-11-20T11:00:00.250000+00:00")
    assert open_hour_files(tmp_path, VENUE, DAY) == [] and audit_stream_archive(tmp_path) == []


def test_hours_join_up_quiet_hours_have_their_file_and_late_frames_of_the_last_hour_still_land_in_it(tmp_path):
    clock = Clock(at(10, 40))
    writer = StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False, seal_grace_s=5)
    writer.append("a", at(10, 40))
    clock.now = at(10, 59, 58)
    writer.tick()  # opens hour 11's file before 11:00, so the writer's coverage has no hole at the hour
    clock.now = at(11, 0, 3)
    writer.tick()
    writer.append("stamped just before the hour", at(10, 59, 59, 900000))  # within the grace: hour 10's file
    clock.now = at(11, 0, 6)
    writer.tick()  # grace over: hour 10 sealed
    clock.now = at(11, 59, 57)
    writer.tick()  # (a running writer ticks every second or so)
    clock.now = at(12, 0, 10)
    writer.tick()  # no frame in hour 11: its file is sealed empty, the writer was up
    clock.now = at(12, 30)
    writer.close()
    files = hour_files(tmp_path, VENUE, DAY)
    assert [(f.meta["hour"], f.messages, f.meta["sealed_by"]) for f in files] == [
        ("2025-11-20T10", 2, "hour end"), ("2025-11-20T11", 0, "hour end"), ("2025-11-20T12", 0, "close")]
    assert files[1].meta["opened_at"] == "2025-11-20T10:59:58.000000+00:00"
    cover = coverage(tmp_path, VENUE, DAY)
    assert cover.covered_seconds == (at(12, 30) - at(10, 40)).total_seconds()
    assert cover.gaps == (Gap(at(0), at(10, 40), "no file"), Gap(at(12, 30), at(0, day=DAY + dt.timedelta(1)),
                                                                   "no file"))
    assert cover.hours == (10, 11, 12) and cover.messages == 2


def test_lines_are_buffered_then_flushed_and_fsynced(tmp_path, monkeypatch):
    fsynced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsynced.append(fd), real_fsync(fd))[1])
    clock = Clock(at(10, 20))
    writer = StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False, flush_every_s=3600)
    (path,) = writer.open_paths
    writer.append("one", at(10, 20))
    assert path.read_bytes() == b"" and writer.flushed_messages == 0  # buffered, not yet written
    fsynced.clear()
    writer.flush()
    assert path.read_bytes() == line("one", at(10, 20)) and writer.flushed_messages == 1
    assert fsynced  # flushed to the disk, not only to the page cache
    writer.close()


def test_a_reader_sees_each_frame_within_flush_every_s(tmp_path):
    """The background thread flushes on its own: nobody calls flush()."""
    flush_every_s = 0.4
    start, base = time.monotonic(), at(10, 20)
    clock = lambda: base + dt.timedelta(seconds=time.monotonic() - start)  # noqa: E731 (real time, fixed hour)
    writer = StreamArchiveWriter(tmp_path, VENUE, clock=clock, flush_every_s=flush_every_s)
    try:
        (path,) = writer.open_paths
        latencies = []
        for i in range(4):
            sent = time.monotonic()
            writer.append(f"frame {i}", clock())
            while len(list(iter_frames(path))) < i + 1:
                assert time.monotonic() - sent < flush_every_s + 1.0, "a frame was not flushed in time"
                time.sleep(0.005)
            latencies.append(time.monotonic() - sent)
            time.sleep(0.05)
        assert max(latencies) <= flush_every_s + 0.3, latencies
        assert [frame for _at, frame in iter_frames(path)] == [f"frame {i}" for i in range(4)]
    finally:
        writer.close()


def test_the_same_frames_and_times_give_byte_identical_files_and_sidecars(tmp_path):
    def run(root: Path) -> dict[str, bytes]:
        clock = Clock(at(9, 58))
        writer = StreamArchiveWriter(root, VENUE, clock=clock, background=False)
        for i in range(5):
            clock.now = at(9, 59, 50 + i)
            writer.append(f'{{"i":{i}}}', clock.now)
        writer.tick()
        writer.record_disconnect(at(9, 59, 55))
        clock.now = at(10, 0, 20)
        writer.record_disconnect(at(9, 59, 55), at(10, 0, 20))
        writer.append("after", clock.now)
        clock.now = at(10, 5)
        writer.close()
        return tree(root)

    first, second = run(tmp_path / "a"), run(tmp_path / "b")
    assert first == second and len(first) == 4


def test_a_disconnection_is_written_in_every_hour_it_touches_and_counts_as_a_gap(tmp_path):
    clock = Clock(at(10, 15))
    writer = StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False)
    writer.append("x", at(10, 20))
    clock.now = at(10, 30)
    writer.record_disconnect(at(10, 30))  # the feed drops...
    clock.now = at(10, 59, 58)
    writer.tick()
    clock.now = at(11, 0, 6)
    writer.tick()  # ...hour 10 is sealed while still disconnected
    clock.now = at(11, 10)
    writer.record_disconnect(at(10, 30), at(11, 10))  # ...and is back
    writer.append("y", at(11, 15))
    clock.now = at(11, 20)
    writer.close()
    hour10, hour11 = hour_files(tmp_path, VENUE, DAY)
    assert hour10.meta["disconnections"] == [[iso(at(10, 30)), iso(at(11, 0, 6))]]
    assert hour11.meta["disconnections"] == [[iso(at(10, 30)), iso(at(11, 10))]]
    cover = coverage(tmp_path, VENUE, DAY)
    assert cover.covered_seconds == 15 * 60 + 10 * 60
    assert cover.gaps == (Gap(at(0), at(10, 15), "no file"), Gap(at(10, 30), at(11, 10), "disconnected"),
                          Gap(at(11, 20), at(0, day=DAY + dt.timedelta(1)), "no file"))
    assert cover.messages == 2 and cover.interrupted_files == 0


def test_a_frame_stamped_in_another_day_goes_to_that_days_hour(tmp_path):
    next_day, previous_day = DAY + dt.timedelta(1), DAY - dt.timedelta(1)
    clock = Clock(at(23, 59, 58))
    writer = StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False)
    writer.append("before midnight", at(23, 59, 59, 900000))
    writer.append("after midnight", at(0, 0, 0, 100000, day=next_day))
    writer.append("a clock stepped back a day", at(12, day=previous_day))
    writer.append("after midnight again", at(0, 0, 1, day=next_day))
    clock.now = at(0, 1, day=next_day)
    writer.close()
    assert frames_of(tmp_path, previous_day) == ["a clock stepped back a day"]
    assert frames_of(tmp_path) == ["before midnight"]
    assert frames_of(tmp_path, next_day) == ["after midnight", "after midnight again"]
    (late,) = hour_files(tmp_path, VENUE, next_day)
    assert late.path.parent.name == "hour=2025-11-21T00"
    assert audit_stream_archive(tmp_path) == []


# --- write-once -----------------------------------------------------------------------------------------------------


def test_a_sealed_name_is_never_taken_again(tmp_path):
    clock = Clock(at(10, 20))
    with StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False) as writer:
        writer.append("first", at(10, 20))
    before = sealed_hashes(tmp_path)
    with StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False) as writer:  # the same clock reading
        assert writer.open_paths[0].name == "20251120T102000.000001Z.frames.jsonl.open"
        writer.append("second", at(10, 20))
    assert {k: v for k, v in sealed_hashes(tmp_path).items() if k in before} == before
    assert frames_of(tmp_path) == ["first", "second"]


def test_a_file_put_under_the_sealed_name_is_not_overwritten_and_the_frames_stay(tmp_path):
    clock = Clock(at(10, 20))
    writer = StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False)
    writer.append("kept", at(10, 20))
    (open_path,) = writer.open_paths
    intruder = open_path.with_name("20251120T102000.000000Z.frames.jsonl")
    intruder.write_bytes(b"someone else's bytes")  # a writer that ignores the folder's rules
    with pytest.raises(StreamArchiveError, match=r"stream archive binance hour 2025-11-20T10: cannot seal .*"
                                                 r"write-once"):
        writer.close()
    assert intruder.read_bytes() == b"someone else's bytes"
    assert [frame for _at, frame in iter_frames(open_path)] == ["kept"]  # flushed, still there
    with pytest.raises(StreamArchiveError, match="different files; left for a person"):
        recover(tmp_path, VENUE, at(10, 30))
    assert intruder.read_bytes() == b"someone else's bytes" and open_path.exists()


def test_the_final_name_is_linked_never_replaced_even_when_it_appears_at_the_last_moment(tmp_path, monkeypatch):
    """A writer that ignores the folder lock puts a file at the final name between the check and the link."""
    clock = Clock(at(10, 20))
    writer = StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False)
    writer.append("kept", at(10, 20))
    (open_path,) = writer.open_paths
    final = open_path.with_name("20251120T102000.000000Z.frames.jsonl")
    real_link = os.link

    def intruder_first(src, dst, *args, **kwargs):
        if Path(dst) == final:
            final.write_bytes(b"someone else's bytes")
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", intruder_first)
    with pytest.raises(StreamArchiveError, match=r"stream archive binance hour 2025-11-20T10: cannot seal .*File "
                                                 r"exists"):
        writer.close()
    assert final.read_bytes() == b"someone else's bytes"
    assert [frame for _at, frame in iter_frames(open_path)] == ["kept"]


# --- kill -9 and recovery -------------------------------------------------------------------------------------------


WRITER_LOOP = textwrap.dedent("""
    import datetime as dt, sys, time
    from pathlib import Path
    from pipelines.collector.hourly_files import StreamArchiveWriter

    base, start = dt.datetime.fromisoformat(sys.argv[2]), time.monotonic()
    clock = lambda: base + dt.timedelta(seconds=time.monotonic() - start)
    writer = StreamArchiveWriter(Path(sys.argv[1]), "binance", clock=clock, flush_every_s=0.1)
    shown, i = 0, 0
    while True:
        writer.append('{"i":%d}' % i, clock())
        i += 1
        if writer.flushed_messages != shown:
            shown = writer.flushed_messages
            print(shown, flush=True)
        time.sleep(0.002)
""")


def test_kill_9_mid_hour_loses_only_unflushed_frames_and_recovery_seals_and_records_the_gap(tmp_path):
    clock = Clock(at(9, 40))
    with StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False) as earlier:  # sealed files before
        earlier.append("hour 9", at(9, 40))
        clock.now = at(10, 10)
        earlier.append("hour 10, an earlier writer", at(10, 10))
    before = sealed_hashes(tmp_path)
    assert len(before) == 4

    child = subprocess.Popen([sys.executable, "-c", WRITER_LOOP, str(tmp_path), iso(at(10, 20))], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        shown = 0
        while shown < 150:  # a few flushes (one every 0.1 s)
            text = child.stdout.readline()
            assert text, child.stderr.read()
            shown = int(text)
    finally:
        child.send_signal(signal.SIGKILL)
        rest, _err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    shown = max([shown, *map(int, rest.split())])  # every count printed was flushed before it was printed
    (open_file,) = open_hour_files(tmp_path, VENUE, DAY)
    assert not open_file.live
    assert audit_stream_archive(tmp_path) == [
        f"{open_file.path}: open file left by a writer that is gone (recover() seals it)"]

    (sealed,) = recover(tmp_path, VENUE, now=at(10, 25))
    assert sealed.path == open_file.path.with_name(open_file.path.name[: -len(".open")])
    assert not open_file.path.exists()
    records = list(iter_frames(sealed))  # whole lines only (iter_frames refuses anything else)
    assert [frame for _at, frame in records] == [f'{{"i":{i}}}' for i in range(len(records))]
    assert len(records) >= shown
    last = iso(records[-1][0])
    assert sealed.meta["sealed_by"] == "recovery" and sealed.meta["interrupted"] is True
    assert sealed.meta["messages"] == len(records) and sealed.meta["last_received_at"] == last
    assert sealed.meta["disconnections"] == sealed.meta["interruptions"] == [[last, iso(at(10, 25))]]
    assert sealed.meta["closed_at"] == iso(at(10, 25))
    assert audit_stream_archive(tmp_path) == []

    clock.now = at(10, 25, 30)
    with StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False) as restarted:
        assert restarted.recovered == []  # nothing left to recover
        (new_path,) = restarted.open_paths
        assert new_path == folder(tmp_path, at(10)) / "20251120T102530.000000Z.frames.jsonl.open"  # a new file
        restarted.append("after the restart", at(10, 25, 31))
        clock.now = at(10, 30)
    after = sealed_hashes(tmp_path)
    assert {k: after[k] for k in before} == before  # no sealed file changed
    assert after[str(sealed.path)] == hashlib.sha256(sealed.path.read_bytes()).hexdigest()
    cover = coverage(tmp_path, VENUE, DAY)
    assert Gap(records[-1][0], at(10, 25), "interrupted") in cover.gaps
    assert Gap(at(10, 25), at(10, 25, 30), "no file") in cover.gaps
    assert cover.interrupted_files == 1 and cover.messages == 2 + len(records) + 1


TORN_WRITE = textwrap.dedent("""
    import datetime as dt, os, signal, sys
    from pathlib import Path
    from pipelines.collector.hourly_files import StreamArchiveWriter

    at = lambda s: dt.datetime(2025, 11, 20, 10, 20, s, tzinfo=dt.UTC)
    writer = StreamArchiveWriter(Path(sys.argv[1]), "binance", clock=lambda: at(0), background=False)
    for i in range(3):
        writer.append('{"i":%d}' % i, at(i))
    writer.flush()
    fd = os.open(writer.open_paths[0], os.O_WRONLY | os.O_APPEND)
    os.write(fd, bytes.fromhex(sys.argv[2]))  # a write the kill cut short
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.parametrize("torn", [b'{"received_at":"2025-11-20T10:20:03.000000+00:00","fra',
                                  b'{"received_at":"2025-11-20T10:20:0\n', b"\0" * 40],
                         ids=["no newline", "not a whole record", "zeros a power cut left"])
def test_a_restarted_writer_cuts_the_torn_line_seals_the_dead_file_and_notes_the_gap_in_its_own(tmp_path, torn):
    child = subprocess.run([sys.executable, "-c", TORN_WRITE, str(tmp_path), torn.hex()], cwd=REPO, capture_output=True,
                           text=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr
    clock = Clock(at(10, 40))
    with StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False) as restarted:
        (dead,) = restarted.recovered
        clock.now = at(10, 45)
    assert dead.path.read_bytes() == b"".join(line(f'{{"i":{i}}}', at(10, 20, i)) for i in range(3))
    assert dead.meta["truncated_bytes"] == len(torn) and dead.messages == 3
    gap = [iso(at(10, 20, 2)), iso(at(10, 40))]
    assert dead.meta["interruptions"] == [gap]
    (new,) = [f for f in hour_files(tmp_path, VENUE, DAY) if f.path != dead.path]
    assert new.meta["disconnections"] == new.meta["interruptions"] == [gap]  # the restart notes the gap too
    cover = coverage(tmp_path, VENUE, DAY)
    assert cover.covered_seconds == 2 + 5 * 60
    assert cover.gaps == (Gap(at(0), at(10, 20), "no file"), Gap(at(10, 20, 2), at(10, 40), "interrupted"),
                          Gap(at(10, 45), at(0, day=DAY + dt.timedelta(1)), "no file"))
    assert audit_stream_archive(tmp_path) == []


LIVE_WRITER = textwrap.dedent("""
    import datetime as dt, sys, time
    from pathlib import Path
    from pipelines.collector.hourly_files import StreamArchiveWriter

    clock = lambda: dt.datetime(2025, 11, 20, 10, 20, tzinfo=dt.UTC)
    writer = StreamArchiveWriter(Path(sys.argv[1]), "binance", clock=clock, background=False)
    writer.append("live", clock())
    writer.flush()
    print("ready", flush=True)
    time.sleep(120)
""")


def test_a_live_writers_open_file_is_not_recovered_by_another_process(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n", child.stderr.read()
        (open_file,) = open_hour_files(tmp_path, VENUE, DAY)
        body = open_file.path.read_bytes()
        assert open_file.live
        assert recover(tmp_path, VENUE, at(10, 30)) == []
        assert open_file.path.read_bytes() == body and hour_files(tmp_path, VENUE, DAY) == []
        assert audit_stream_archive(tmp_path) == []  # a live writer's file is no problem
        assert coverage(tmp_path, VENUE, DAY).gaps[1] == Gap(at(10), at(11), "not sealed")
        with pytest.raises(StreamArchiveError, match="stream archive binance: another writer is already collecting"):
            StreamArchiveWriter(tmp_path, VENUE, clock=lambda: at(10, 30), background=False)
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    (sealed,) = recover(tmp_path, VENUE, at(10, 30))  # its writer is gone now
    assert [frame for _at, frame in iter_frames(sealed)] == ["live"]


# --- a full disk ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["write", "fsync", "link"])
def test_a_full_disk_names_venue_and_hour_and_loses_nothing(tmp_path, monkeypatch, call):
    clock = Clock(at(9, 30))
    writer = StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False, flush_every_s=3600)
    writer.append("sealed before", at(9, 30, 1))
    clock.now = at(10, 0, 1)
    writer.append("hour 10, first", at(10, 0, 1))  # seals hour 9
    before = sealed_hashes(tmp_path)
    assert len(before) == 2
    real = getattr(os, call)

    def disk_full(*args, **kwargs):
        target = str(args[1]) if call == "link" else os.readlink(f"/proc/self/fd/{args[0]}")
        if target.startswith(str(tmp_path)):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(os, call, disk_full)
    clock.now = at(10, 10)
    writer.append("hour 10, second", at(10, 10))
    with pytest.raises(StreamArchiveError, match=r"^stream archive binance hour 2025-11-20T10: .*No space left"):
        if call == "link":  # sealing hour 10 needs the links
            clock.now = at(11, 0, 1)
            writer.append("hour 11", at(11, 0, 1))
        else:
            writer.flush()
    assert sealed_hashes(tmp_path) == before  # nothing sealed changed, nothing half-sealed appeared
    monkeypatch.undo()
    writer.close()  # the disk has room again: everything lands
    expected = ["sealed before", "hour 10, first", "hour 10, second"] + (["hour 11"] if call == "link" else [])
    assert frames_of(tmp_path) == expected
    assert audit_stream_archive(tmp_path) == []


# --- the audit ------------------------------------------------------------------------------------------------------


def test_the_audit_and_the_reader_catch_a_tampered_sealed_file(tmp_path):
    clock = Clock(at(10, 20))
    with StreamArchiveWriter(tmp_path, VENUE, clock=clock, background=False) as writer:
        writer.append('{"q":"1.0"}', at(10, 20))
    assert audit_stream_archive(tmp_path) == []
    (sealed,) = hour_files(tmp_path, VENUE, DAY)
    sealed.path.chmod(0o644)
    sealed.path.write_bytes(sealed.path.read_bytes().replace(b"1.0", b"9.0"))
    assert audit_stream_archive(tmp_path) == [
        f"{sealed.path}: does not match the sha256/size of 20251120T102000.000000Z.meta.json"]
    with pytest.raises(StreamArchiveError, match=r"stream archive binance hour 2025-11-20T10: .* does not match"):
        hour_files(tmp_path, VENUE, DAY)
    sealed.meta_path.unlink()
    assert audit_stream_archive(tmp_path) == [
        f"{sealed.path}: sealed file without sidecar 20251120T102000.000000Z.meta.json"]
