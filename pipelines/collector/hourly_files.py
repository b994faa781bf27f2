"""The stream archive: every websocket frame of a venue's liquidation feed, exactly as received, in hourly files.

Layout (the daily load and tests rely on it), under the landing folder (settings.landing_dir):
    <landing>/<venue>/liquidation_stream/hour=YYYY-MM-DDTHH/<opened_at YYYYMMDDTHHMMSS.ffffffZ>.frames.jsonl.open
    <landing>/<venue>/liquidation_stream/hour=YYYY-MM-DDTHH/<opened_at ...>.frames.jsonl     (sealed)
    <landing>/<venue>/liquidation_stream/hour=YYYY-MM-DDTHH/<opened_at ...>.meta.json        (its sidecar)
One JSON object a line, {"received_at": "<ISO-8601 UTC, µs>", "frame": "<the text frame exactly as received>"},
in the folder of the hour of received_at (a frame stamped in another hour or day goes to that hour's folder).
An hour may hold several files: a writer started mid-hour, a writer killed and restarted, a clock stepped back.

Writing (StreamArchiveWriter, one per venue at a time: it holds a lock on the venue's folder). Frames are buffered
and written + fsync'ed every `flush_every_s` seconds and at flush(), so a kill -9 loses at most those seconds.
The file of an hour is opened shortly before the hour starts (so one writer's hours join without a gap) and sealed
once the hour is over (the first frame of a later hour, or `seal_grace_s` after its end) or at close():
fsync, sidecar, then the `.open` name hard-linked to the final name (link() never overwrites: write-once), the
`.open` name removed and the folder flushed. As in the landing archive (pipelines.ingest.archive) the sidecar is
linked BEFORE the file: the final name's link is the commit point, and a sealed file is made read-only.
Sidecar: venue, hour, file, opened_at, closed_at, messages, first/last_received_at, sha256 and size_bytes of the
file, disconnections [[start, end], ...] (every one touching the hour, whole), sealed_by ("hour end" | "close" |
"recovery"), interrupted (true for a file sealed by recovery), interruptions (the gaps of dead writers among the
disconnections: a recovered file's own, and in the file of the writer that recovered it, those touching its hour).

Crash safety. The writer holds a flock on each `.open` file (released by the kernel when it dies), so recover()
seals exactly the files whose writer is gone and never touches a live one: a torn last line (no newline, or not
a whole record) is cut off (`truncated_bytes`), the file sealed with sealed_by "recovery", interrupted true, and
the gap [last_received_at (or opened_at when it holds no frame), now] recorded as a disconnection. A writer runs
recover() for its venue when it starts, continues in a NEW file and notes the gap in its own sidecar too.
Writers and recover() take turns on each hour folder with the landing archive's folder lock.

Known limit: a disconnection the writer was told of is kept in memory until its hour's file is sealed; a writer
killed later in that hour loses it, and the recovered gap only starts at the file's last frame.

Reading: hour_files (sealed files of a day, verified against their sidecars), sealed_files (of given hours, verified
when read), open_hour_files (not yet sealed),
iter_frames, coverage (seconds covered, gaps with their reason) and audit_stream_archive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# The landing archive's write-once primitives: the same temporaries (`.incoming-<pid>-`), folder lock and rules.
from pipelines.atomic_files import (
    TEMP_PREFIX,
    LockBusy,
    flock_exclusive,
    folder_lock,
    fsync_dir,
    make_dirs_durably,
    replace_with,
    stale_temp,
    write_exclusive,
)
from pipelines.sources.spec import validate_name

log = logging.getLogger(__name__)

DATASET = "liquidation_stream"
HOUR_PREFIX = "hour="
HOUR_FORMAT = "%Y-%m-%dT%H"
OPENED_AT_FORMAT = "%Y%m%dT%H%M%S.%fZ"
FRAMES_SUFFIX = ".frames.jsonl"
OPEN_SUFFIX = FRAMES_SUFFIX + ".open"
META_SUFFIX = ".meta.json"
HOUR = dt.timedelta(hours=1)
DAY_SECONDS = 86400
# The next hour's file is opened this long (at least) before the hour starts, so a writer's hours join up.
_PREOPEN_S = 5.0

SealedBy = str  # "hour end" | "close" | "recovery"


class StreamArchiveError(Exception):
    """A stream archive file could not be written, sealed or read; the message names venue, hour and reason."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError(f"{what} must be a timezone-aware datetime (UTC), got {value!r}")
    return value.astimezone(dt.UTC)


def iso_us(moment: dt.datetime) -> str:
    """ISO-8601 UTC with microseconds always written (fixed width: the same instant, the same text)."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def hour_label(hour: dt.datetime) -> str:
    return hour.strftime(HOUR_FORMAT)


def stream_dir(landing_root: Path, venue: str) -> Path:
    validate_name("venue", venue)
    return Path(landing_root) / venue / DATASET


def hour_dir(landing_root: Path, venue: str, hour: dt.datetime) -> Path:
    return stream_dir(landing_root, venue) / f"{HOUR_PREFIX}{hour_label(hour_of(hour))}"


def _hour_of_dir(folder: Path) -> dt.datetime | None:
    if not folder.name.startswith(HOUR_PREFIX):
        return None
    try:
        return dt.datetime.strptime(folder.name[len(HOUR_PREFIX):], HOUR_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _opened_at_of(stem: str) -> dt.datetime:
    return dt.datetime.strptime(stem, OPENED_AT_FORMAT).replace(tzinfo=dt.UTC)


def encode_line(frame_text: str, received_at: dt.datetime) -> bytes:
    """One archived line: the frame's text as received (ensure_ascii=False keeps it byte for byte in UTF-8)."""
    record = {"received_at": iso_us(received_at), "frame": frame_text}
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _decode_line(line: bytes) -> tuple[dt.datetime, str] | None:
    """(received_at, frame) of one archived line (without its newline); None when it is not a whole record."""
    try:
        record = json.loads(line)
        received_at = dt.datetime.fromisoformat(record["received_at"])
        frame = record["frame"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(frame, str) or received_at.tzinfo is None or set(record) != {"received_at", "frame"}:
        return None
    return received_at.astimezone(dt.UTC), frame


def _sidecar_bytes(meta: dict) -> bytes:
    return (json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _is_locked(path: Path) -> bool:
    """Whether a live writer holds the flock of an `.open` file (False once its writer is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the shared lock taken to look
    return False


# --- writing ------------------------------------------------------------------------------------------------------


class _OpenFile:
    """One `.open` file of the writer: its descriptor (flocked), what is on disk and what is still buffered."""

    def __init__(self, folder: Path, stem: str, hour: dt.datetime, opened_at: dt.datetime, fd: int):
        self.folder, self.stem, self.hour, self.opened_at, self.fd = folder, stem, hour, opened_at, fd
        self.buffer = bytearray()
        self.buffered = 0  # frames in the buffer (a partly written one included)
        self.messages = 0
        self.flushed = 0  # frames written and fsync'ed
        self.size = 0
        self.sha = hashlib.sha256()
        self.first: dt.datetime | None = None
        self.last: dt.datetime | None = None

    @property
    def path(self) -> Path:
        return self.folder / f"{self.stem}{OPEN_SUFFIX}"

    @property
    def final_path(self) -> Path:
        return self.folder / f"{self.stem}{FRAMES_SUFFIX}"

    @property
    def meta_path(self) -> Path:
        return self.folder / f"{self.stem}{META_SUFFIX}"


class StreamArchiveWriter:
    """Appends a venue's frames to its hourly files (see the module docstring for the rules).

    `clock` gives the writer's time (aware UTC): file names, opened_at/closed_at, when an hour is over. With
    `background` a thread flushes every `flush_every_s` and rolls the hours; without it the caller runs tick()
    (a simulated clock then gives byte-identical files). Usable as a context manager (close() on exit).
    """

    def __init__(self, landing_root: Path, venue: str, clock: Callable[[], dt.datetime] = _utc_now,
                 flush_every_s: float = 2.0, seal_grace_s: float = 5.0, background: bool = True):
        if flush_every_s <= 0 or seal_grace_s < 0:
            raise ValueError("flush_every_s must be > 0 and seal_grace_s >= 0")
        self.landing_root = Path(landing_root)
        self.venue = validate_name("venue", venue)
        self.clock = clock
        self.flush_every_s = flush_every_s
        self.seal_grace_s = seal_grace_s
        self.folder = stream_dir(self.landing_root, venue)
        self._lock = threading.RLock()
        self._files: dict[dt.datetime, _OpenFile] = {}
        self._disconnections: set[tuple[dt.datetime, dt.datetime]] = set()
        self._interruptions: set[tuple[dt.datetime, dt.datetime]] = set()  # dead writers' gaps among them
        self._disconnected_since: dt.datetime | None = None
        self._last_flush = time.monotonic()
        self._failure: StreamArchiveError | None = None  # what the background thread could not do
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sealed: list[SealedHourFile] = []  # what this writer sealed, oldest first
        try:
            make_dirs_durably(self.folder)
        except OSError as exc:
            raise StreamArchiveError(f"stream archive {venue}: cannot create {self.folder}: {exc}") from exc
        self._venue_fd = self._lock_venue()
        try:
            now = self._now()
            self.recovered = recover(self.landing_root, venue, now)
            for sealed in self.recovered:  # the gap a dead writer left is this writer's to note too
                self._disconnections.update(sealed.interruptions)
                self._interruptions.update(sealed.interruptions)
            self._file_for(hour_of(now), now)
        except BaseException:
            self._release()
            raise
        if background:
            self._thread = threading.Thread(target=self._run, name=f"stream-archive-{venue}", daemon=True)
            self._thread.start()

    def _lock_venue(self) -> int:
        try:
            return flock_exclusive(self.folder, wait_s=0)
        except LockBusy:
            raise StreamArchiveError(f"stream archive {self.venue}: another writer is already collecting into "
                                     f"{self.folder} (one writer per venue)") from None

    def _now(self) -> dt.datetime:
        return _aware(self.clock(), "the writer's clock")

    def __enter__(self) -> StreamArchiveWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def flushed_messages(self) -> int:
        """Frames on disk (written and fsync'ed) in the files still open."""
        with self._lock:
            return sum(f.flushed for f in self._files.values())

    @property
    def open_paths(self) -> list[Path]:
        with self._lock:
            return [self._files[hour].path for hour in sorted(self._files)]

    def append(self, frame_text: str, received_at: dt.datetime) -> None:
        """Buffer one frame for the file of its received_at's hour; a frame of a later hour seals the earlier
        hours' files first. Raises StreamArchiveError (venue, hour, reason) when the disk refuses; the frame is
        then still buffered unless its own file could not be opened."""
        if not isinstance(frame_text, str):
            raise TypeError(f"stream archive {self.venue}: a frame is the websocket text frame (str), "
                            f"not {type(frame_text).__name__}")
        received_at = _aware(received_at, "received_at")
        try:
            line = encode_line(frame_text, received_at)
        except UnicodeEncodeError as exc:  # a lone surrogate: no websocket text frame holds one
            raise ValueError(f"stream archive {self.venue}: a frame received at {iso_us(received_at)} is not "
                             f"UTF-8 text ({exc.reason})") from None
        hour = hour_of(received_at)
        with self._lock:
            self._check_open()
            target = self._file_for(hour, self._now())
            target.buffer += line
            target.buffered += 1
            target.messages += 1
            target.first = received_at if target.first is None else min(target.first, received_at)
            target.last = received_at if target.last is None else max(target.last, received_at)
            # The writer was up when this frame came: the earlier hours' files cover up to it at least.
            failures = [self._seal_quietly(f, "hour end", received_at) for f in self._ordered() if f.hour < hour]
            if time.monotonic() - self._last_flush >= self.flush_every_s:
                failures.append(self._flush_quietly())
            pending, self._failure = self._failure, None
            _raise_first([*failures, pending])

    def record_disconnect(self, start: dt.datetime, end: dt.datetime | None = None) -> None:
        """Note a disconnection, written into the sidecar of every hour it touches. Call it with `end` None when
        the connection drops (an hour sealed meanwhile records it up to its closed_at) and again with the same
        `start` and its `end` once connected again."""
        start = _aware(start, "a disconnection's start")
        with self._lock:
            self._check_open()
            if end is None:
                self._disconnected_since = min(start, self._disconnected_since or start)
                return
            end = _aware(end, "a disconnection's end")
            if end < start:
                raise ValueError(f"stream archive {self.venue}: disconnection ends ({iso_us(end)}) before it "
                                 f"starts ({iso_us(start)})")
            if self._disconnected_since is not None and self._disconnected_since <= end:
                start = min(start, self._disconnected_since)
                self._disconnected_since = None
            self._disconnections.add((start, end))

    def flush(self) -> None:
        """Write and fsync every buffered frame now."""
        with self._lock:
            self._check_open()
            _raise_first([self._flush_quietly()])

    def tick(self) -> None:
        """What time alone does: flush when due, open the coming hour's file a little before it starts (so a quiet
        hour still has its file: the writer was up), seal the files of hours over for `seal_grace_s`."""
        with self._lock:
            self._check_open()
            _raise_first(self._tick())

    def _tick(self) -> list[StreamArchiveError | None]:
        now = self._now()
        failures = []
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            failures.append(self._flush_quietly())
        for hour in (hour_of(now), hour_of(now + dt.timedelta(seconds=max(_PREOPEN_S, self.flush_every_s)))):
            try:
                self._file_for(hour, now)
            except StreamArchiveError as exc:
                failures.append(exc)
        grace = dt.timedelta(seconds=self.seal_grace_s)
        failures += [self._seal_quietly(f, "hour end") for f in self._ordered() if f.hour + HOUR + grace <= now]
        self._prune()
        return failures

    def close(self) -> None:
        """Seal every open file ("close", or "hour end" for an hour already over) and release the venue."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._closed:
                return
            try:
                now = self._now()
                failures = [self._seal_quietly(f, "hour end" if f.hour + HOUR <= now else "close")
                            for f in self._ordered()]
            finally:
                self._release()
            _raise_first(failures)

    # -- inside the lock --

    def _check_open(self) -> None:
        if self._closed:
            raise StreamArchiveError(f"stream archive {self.venue}: the writer is closed")

    def _ordered(self) -> list[_OpenFile]:
        return [self._files[hour] for hour in sorted(self._files)]

    def _file_for(self, hour: dt.datetime, now: dt.datetime) -> _OpenFile:
        """The open file of `hour`, opened now if there is none (named after `now`, a µs later if that name was
        ever used in the folder: names are write-once too)."""
        if hour in self._files:
            return self._files[hour]
        folder = hour_dir(self.landing_root, self.venue, hour)
        opened_at = now
        try:
            make_dirs_durably(folder)
            with folder_lock(folder):
                while True:
                    stem = opened_at.strftime(OPENED_AT_FORMAT)
                    names = (f"{stem}{OPEN_SUFFIX}", f"{stem}{FRAMES_SUFFIX}", f"{stem}{META_SUFFIX}")
                    if not any((folder / name).exists() for name in names):
                        break
                    opened_at += dt.timedelta(microseconds=1)
                fd = os.open(folder / names[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
                # Locked before the folder lock is let go: recover() never sees this file unlocked.
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    fsync_dir(folder)
                except BaseException:
                    os.close(fd)
                    raise
        except OSError as exc:
            raise StreamArchiveError(f"stream archive {self.venue} hour {hour_label(hour)}: cannot open a file in "
                                     f"{folder}: {exc}") from exc
        opened = _OpenFile(folder, stem, hour, opened_at, fd)
        self._files[hour] = opened
        return opened

    def _flush_file(self, f: _OpenFile) -> None:
        try:
            while f.buffer:
                written = os.write(f.fd, f.buffer)
                f.sha.update(f.buffer[:written])
                f.size += written
                del f.buffer[:written]
            os.fsync(f.fd)
        except OSError as exc:
            raise StreamArchiveError(f"stream archive {self.venue} hour {hour_label(f.hour)}: cannot write "
                                     f"{f.buffered} frame(s) to {f.path}: {exc} (they stay buffered; what is "
                                     "sealed is untouched)") from exc
        f.flushed += f.buffered
        f.buffered = 0

    def _flush_quietly(self) -> StreamArchiveError | None:
        failure = None
        for f in self._ordered():
            try:
                self._flush_file(f)
            except StreamArchiveError as exc:
                failure = failure or exc
        if failure is None:
            self._last_flush = time.monotonic()
        return failure

    def _disconnections_of(self, hour: dt.datetime, closed_at: dt.datetime) -> list[list[str]]:
        spans = set(self._disconnections)
        if self._disconnected_since is not None and self._disconnected_since < closed_at:
            spans.add((self._disconnected_since, closed_at))  # still disconnected when the hour was sealed
        return _touching(spans, hour)

    def _seal_quietly(self, f: _OpenFile, sealed_by: SealedBy, alive_at: dt.datetime | None = None
                      ) -> StreamArchiveError | None:
        try:
            self._seal(f, sealed_by, alive_at)
        except StreamArchiveError as exc:
            return exc
        return None

    def _seal(self, f: _OpenFile, sealed_by: SealedBy, alive_at: dt.datetime | None = None) -> None:
        self._flush_file(f)
        closed_at = max(self._now(), f.opened_at, alive_at or f.opened_at)
        meta = {
            "venue": self.venue,
            "hour": hour_label(f.hour),
            "file": f.final_path.name,
            "opened_at": iso_us(f.opened_at),
            "closed_at": iso_us(closed_at),
            "messages": f.messages,
            "first_received_at": iso_us(f.first) if f.first else None,
            "last_received_at": iso_us(f.last) if f.last else None,
            "sha256": f.sha.hexdigest(),
            "size_bytes": f.size,
            "disconnections": self._disconnections_of(f.hour, closed_at),
            "interruptions": _touching(self._interruptions, f.hour),
            "sealed_by": sealed_by,
            "interrupted": False,
        }
        try:
            _commit(f.folder, f.stem, meta, f.fd)
        except OSError as exc:
            raise StreamArchiveError(f"stream archive {self.venue} hour {hour_label(f.hour)}: cannot seal "
                                     f"{f.path.name}: {exc} (its frames stay in it; recover() seals it if this "
                                     "writer dies)") from exc
        os.close(f.fd)  # the file is sealed: its lock goes with it
        del self._files[f.hour]
        self.sealed.append(SealedHourFile(f.final_path, meta))

    def _prune(self) -> None:
        """Forget disconnections that ended before every hour still open (no file will record them again)."""
        if self._files:
            oldest = min(self._files)
            self._disconnections = {span for span in self._disconnections if span[1] > oldest}
            self._interruptions = {span for span in self._interruptions if span[1] > oldest}

    def _release(self) -> None:
        """Close what is open, unflushed frames dropped (close() sealed what it could; what failed stays
        `.open` for recover()), and release the venue."""
        self._closed = True
        for f in self._files.values():
            with contextlib.suppress(OSError):
                os.close(f.fd)
        self._files.clear()
        with contextlib.suppress(OSError):
            os.close(self._venue_fd)

    def _run(self) -> None:
        period = min(self.flush_every_s / 2, 1.0)
        while not self._stop.wait(period):
            with self._lock:
                if self._closed:
                    return
                try:
                    failures = [exc for exc in self._tick() if exc is not None]
                except Exception as exc:  # a clock that fails, say: told at the next append, the thread goes on
                    failures = [StreamArchiveError(f"stream archive {self.venue}: {exc}")]
                if failures:
                    log.warning("%s", failures[0])
                    self._failure = self._failure or failures[0]


def _touching(spans, hour: dt.datetime) -> list[list[str]]:
    """The spans touching `hour`, whole, in order, as ISO text."""
    return [[iso_us(start), iso_us(end)] for start, end in sorted(spans) if start < hour + HOUR and end > hour]


def _raise_first(failures: list[StreamArchiveError | None]) -> None:
    for failure in failures:
        if failure is not None:
            raise failure


def _commit(folder: Path, stem: str, meta: dict, fd: int, folder_locked: bool = False) -> None:
    """Seal `<stem>.frames.jsonl.open` (whose flushed, flocked descriptor is `fd`): sidecar, read-only, final name
    linked (the commit point; link() never overwrites), `.open` name removed, folder flushed. `folder_locked`: the
    caller holds the folder's lock already (recover: a second flock of the folder from this process would wait
    for the first forever)."""
    open_path = folder / f"{stem}{OPEN_SUFFIX}"
    final_path = folder / f"{stem}{FRAMES_SUFFIX}"
    meta_path = folder / f"{stem}{META_SUFFIX}"
    data = _sidecar_bytes(meta)
    with contextlib.nullcontext() if folder_locked else folder_lock(folder):
        if final_path.exists():
            raise FileExistsError(errno.EEXIST, "a sealed file already has this name; the stream archive is "
                                                "write-once", str(final_path))
        if meta_path.exists():  # a sidecar whose file never got its final name: never read, so replaceable
            if meta_path.read_bytes() != data:
                replace_with(meta_path, data)
        else:
            write_exclusive(meta_path, data, flush_folder=False)
        os.fchmod(fd, 0o444)
        os.link(open_path, final_path)
        os.unlink(open_path)
        fsync_dir(folder)


# --- recovery -----------------------------------------------------------------------------------------------------


def recover(landing_root: Path, venue: str, now: dt.datetime) -> list[SealedHourFile]:
    """Seal every `.open` file of `venue` whose writer is gone (one still flocked is a live writer's: left alone),
    see the module docstring. Returns the files it sealed, oldest first. Also finishes a seal cut short after the
    final link and sweeps dead writers' temporaries."""
    now = _aware(now, "now")
    folder = stream_dir(landing_root, venue)
    if not folder.is_dir():
        return []
    recovered = []
    for hour_folder in sorted(folder.glob(f"{HOUR_PREFIX}*")):
        hour = _hour_of_dir(hour_folder)
        if hour is None or not hour_folder.is_dir():
            continue
        if not any(hour_folder.glob(f"*{OPEN_SUFFIX}")) and not any(hour_folder.glob(f"{TEMP_PREFIX}*")):
            continue  # nothing a dead writer could have left (most folders): no need to lock it
        with folder_lock(hour_folder):
            for temp in hour_folder.glob(f"{TEMP_PREFIX}*"):
                if stale_temp(temp):
                    temp.unlink(missing_ok=True)
            for open_path in sorted(hour_folder.glob(f"*{OPEN_SUFFIX}")):
                sealed = _recover_one(venue, hour, open_path, now)
                if sealed is not None:
                    recovered.append(sealed)
    return recovered


def _recover_one(venue: str, hour: dt.datetime, open_path: Path, now: dt.datetime) -> SealedHourFile | None:
    label = f"stream archive {venue} hour {hour_label(hour)}"
    stem = open_path.name[: -len(OPEN_SUFFIX)]
    folder = open_path.parent
    final_path, meta_path = folder / f"{stem}{FRAMES_SUFFIX}", folder / f"{stem}{META_SUFFIX}"
    fd = os.open(open_path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # its writer is alive
        if final_path.exists():
            if not os.path.samestat(os.fstat(fd), final_path.stat()):
                raise StreamArchiveError(f"{label}: {open_path.name} and the sealed {final_path.name} are "
                                         "different files; left for a person to compare")
            os.unlink(open_path)  # sealed, but killed before the `.open` name was removed
            fsync_dir(folder)
            return None
        try:
            opened_at = _opened_at_of(stem)
        except ValueError:
            raise StreamArchiveError(f"{label}: {open_path.name} is not named <opened_at>{OPEN_SUFFIX}; "
                                     "left for a person") from None
        data = open_path.read_bytes()
        keep, records = _whole_records(data, f"{label}: {open_path.name}")
        if keep < len(data):  # a torn last line: the part of a frame a kill cut short
            os.chmod(open_path, 0o644)
            wfd = os.open(open_path, os.O_WRONLY)
            try:
                os.ftruncate(wfd, keep)
                os.fsync(wfd)
            finally:
                os.close(wfd)
        kept = data[:keep]
        stamps = [received_at for received_at, _frame in records]
        last = max(stamps) if stamps else None
        gap_start = last or opened_at
        gap = [iso_us(gap_start), iso_us(max(now, gap_start))]
        meta = {
            "venue": venue,
            "hour": hour_label(hour),
            "file": final_path.name,
            "opened_at": iso_us(opened_at),
            "closed_at": gap[1],
            "messages": len(records),
            "first_received_at": iso_us(min(stamps)) if stamps else None,
            "last_received_at": iso_us(last) if last else None,
            "sha256": hashlib.sha256(kept).hexdigest(),
            "size_bytes": len(kept),
            "disconnections": [gap],
            "interruptions": [gap],
            "sealed_by": "recovery",
            "interrupted": True,
            "truncated_bytes": len(data) - keep,
        }
        if meta_path.exists():
            # Its writer died sealing it, after the sidecar: when the sidecar is of these very bytes, the seal is
            # finished as the writer meant it.
            written = json.loads(meta_path.read_bytes())
            if written.get("sha256") == meta["sha256"] and written.get("size_bytes") == len(kept):
                meta = written
        try:
            _commit(folder, stem, meta, fd, folder_locked=True)
        except OSError as exc:
            raise StreamArchiveError(f"{label}: cannot seal {open_path.name} left by a dead writer: {exc}") from exc
        log.info("%s: sealed %s left by a dead writer (%d frames, gap %s to %s)", label, final_path.name,
                 len(records), *gap)
        return SealedHourFile(final_path, meta)
    finally:
        os.close(fd)


def _whole_records(data: bytes, where: str) -> tuple[int, list[tuple[dt.datetime, str]]]:
    """How many leading bytes of an `.open` file are whole records, and those records. Only the end may be torn
    (a write cut short, or the zeros a power cut can leave); a bad line before good ones is not a torn write."""
    lines = data.split(b"\n")
    complete = lines[:-1]  # what follows the last newline has none: torn
    decoded = [_decode_line(line) for line in complete]
    good = len(decoded)
    while good and decoded[good - 1] is None:
        good -= 1
    bad = [i + 1 for i, record in enumerate(decoded[:good]) if record is None]
    if bad:
        raise StreamArchiveError(f"{where}: line {bad[0]} is not a frame record and whole records follow it (not "
                                 "a torn write); left unsealed for a person")
    keep = sum(len(line) + 1 for line in complete[:good])
    return keep, [record for record in decoded[:good] if record is not None]


# --- reading ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedHourFile:
    path: Path
    meta: dict

    @property
    def meta_path(self) -> Path:
        return self.path.with_name(self.path.name[: -len(FRAMES_SUFFIX)] + META_SUFFIX)

    @property
    def venue(self) -> str:
        return self.meta["venue"]

    @property
    def hour(self) -> dt.datetime:
        return dt.datetime.strptime(self.meta["hour"], HOUR_FORMAT).replace(tzinfo=dt.UTC)

    @property
    def opened_at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.meta["opened_at"])

    @property
    def closed_at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.meta["closed_at"])

    @property
    def messages(self) -> int:
        return int(self.meta["messages"])

    @property
    def interrupted(self) -> bool:
        return bool(self.meta.get("interrupted"))

    @property
    def disconnections(self) -> list[tuple[dt.datetime, dt.datetime]]:
        return [(dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(e)) for s, e in self.meta["disconnections"]]

    @property
    def interruptions(self) -> list[tuple[dt.datetime, dt.datetime]]:
        """The disconnections that are a dead writer's gap (recorded by recovery)."""
        return [(dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(e))
                for s, e in self.meta.get("interruptions", [])]

    def read_bytes(self) -> bytes:
        """The file's bytes, verified against the sidecar's sha256 and size."""
        data = self.path.read_bytes()
        if len(data) != self.meta["size_bytes"] or hashlib.sha256(data).hexdigest() != self.meta["sha256"]:
            raise StreamArchiveError(f"stream archive {self.meta['venue']} hour {self.meta['hour']}: {self.path} "
                                     f"does not match the sha256/size recorded in {self.meta_path.name}")
        return data


@dataclass(frozen=True)
class OpenHourFile:
    """An `.open` file: being written by a live writer, or left by a dead one until recover() seals it."""

    path: Path
    hour: dt.datetime
    live: bool


def _sealed_in(folder: Path) -> list[SealedHourFile]:
    found = []
    for path in sorted(folder.glob(f"*{FRAMES_SUFFIX}")):
        meta_path = path.with_name(path.name[: -len(FRAMES_SUFFIX)] + META_SUFFIX)
        if meta_path.exists():  # without its sidecar a file was never committed
            found.append(SealedHourFile(path, json.loads(meta_path.read_text(encoding="utf-8"))))
    return found


def _day_hours(day: dt.date) -> list[dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return [start + i * HOUR for i in range(24)]


def sealed_files(landing_root: Path, venue: str, hours: list[dt.datetime]) -> list[SealedHourFile]:
    """The sealed files of `hours`, in hour then opened_at order, as their sidecars describe them (not verified:
    reading one with iter_frames or read_bytes verifies it)."""
    return [sealed for hour in hours for sealed in _sealed_in(hour_dir(landing_root, venue, hour))]


def hour_files(landing_root: Path, venue: str, day: dt.date) -> list[SealedHourFile]:
    """The sealed files of the day's 24 hours, in hour then opened_at order, each verified against its sidecar
    (StreamArchiveError naming venue, hour and file when one does not match)."""
    found = sealed_files(landing_root, venue, _day_hours(day))
    for sealed in found:
        sealed.read_bytes()
    return found


def open_hour_files(landing_root: Path, venue: str, day: dt.date) -> list[OpenHourFile]:
    """The day's `.open` files, not yet sealed (never read by the daily load)."""
    return [OpenHourFile(path, hour, _is_locked(path)) for hour in _day_hours(day)
            for path in sorted(hour_dir(landing_root, venue, hour).glob(f"*{OPEN_SUFFIX}"))]


def iter_frames(file: SealedHourFile | Path) -> Iterator[tuple[dt.datetime, str]]:
    """(received_at, frame text) of each line, in file order. A sealed file is verified first; an `.open` file
    (a Path) is read up to its last whole line (what its writer has flushed so far)."""
    if isinstance(file, SealedHourFile):
        data, where, torn_ok = file.read_bytes(), str(file.path), False
    else:
        data, where, torn_ok = Path(file).read_bytes(), str(file), True
    lines = data.split(b"\n")
    if lines[-1] and not torn_ok:
        raise StreamArchiveError(f"{where}: the last line has no newline (not a whole record)")
    for number, line in enumerate(lines[:-1], start=1):
        record = _decode_line(line)
        if record is None:
            raise StreamArchiveError(f"{where}: line {number} is not a frame record")
        yield record


@dataclass(frozen=True)
class Gap:
    start: dt.datetime
    end: dt.datetime
    # "no file": no writer was recording; "disconnected": the writer noted the feed down; "interrupted": the
    # writer died (the gap recovery recorded); "not sealed": a live writer's file, read once sealed.
    reason: str

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Coverage:
    venue: str
    day: dt.date
    hours: tuple[int, ...]  # hours of the day with a sealed file
    covered_seconds: float  # seconds a writer was up and connected, per the sealed files
    gaps: tuple[Gap, ...]  # the rest of the day, in order, each with its reason
    messages: int
    interrupted_files: int
    day_seconds: int = DAY_SECONDS

    @property
    def fraction(self) -> float:
        return self.covered_seconds / self.day_seconds


Span = tuple[dt.datetime, dt.datetime]


def _clip(span: Span, lo: dt.datetime, hi: dt.datetime) -> Span | None:
    start, end = max(span[0], lo), min(span[1], hi)
    return (start, end) if start < end else None


def _inside(moment: dt.datetime, spans: list[Span]) -> bool:
    return any(start <= moment < end for start, end in spans)


def coverage(landing_root: Path, venue: str, day: dt.date, files: list[SealedHourFile] | None = None) -> Coverage:
    """What the day's sealed files say of the feed: each file covers its hour from opened_at to closed_at, less
    the disconnections its sidecar records; the rest of the day is gaps, each with its reason. `files`: the day's
    sealed files when the caller has them (verified as it reads them), else hour_files (verified here)."""
    day_start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    day_end = day_start + dt.timedelta(days=1)
    if files is None:
        files = hour_files(landing_root, venue, day)
    else:
        files = [f for f in files if day_start <= f.hour < day_end]
    up, down, interrupted = [], [], []
    for sealed in files:
        span = _clip((sealed.opened_at, sealed.closed_at), sealed.hour, sealed.hour + HOUR)
        if span:
            up.append(span)
        for gap in sealed.disconnections:
            clipped = _clip(gap, day_start, day_end)
            if clipped:
                (interrupted if gap in sealed.interruptions else down).append(clipped)
    not_sealed = [(f.hour, f.hour + HOUR) for f in open_hour_files(landing_root, venue, day) if f.live]
    # Cut the day at every boundary; each piece is covered or a gap of one reason.
    cuts = sorted({day_start, day_end, *(m for s in (*up, *down, *interrupted, *not_sealed) for m in s
                                         if day_start <= m <= day_end)})
    covered = 0.0
    gaps: list[Gap] = []
    for start, end in zip(cuts, cuts[1:]):
        if _inside(start, interrupted):
            reason = "interrupted"
        elif _inside(start, down):
            reason = "disconnected"
        elif _inside(start, up):
            covered += (end - start).total_seconds()
            continue
        elif _inside(start, not_sealed):
            reason = "not sealed"
        else:
            reason = "no file"
        if gaps and gaps[-1].reason == reason and gaps[-1].end == start:
            gaps[-1] = Gap(gaps[-1].start, end, reason)
        else:
            gaps.append(Gap(start, end, reason))
    return Coverage(venue=venue, day=day, hours=tuple(sorted({f.hour.hour for f in files})),
                    covered_seconds=covered, gaps=tuple(gaps), messages=sum(f.messages for f in files),
                    interrupted_files=sum(f.interrupted for f in files))


def audit_stream_archive(root: Path) -> list[str]:
    """Whatever in the stream archive under `root` (a landing folder, or any tree holding one) breaks its rules, one
    line per problem (empty: whole): a sealed file without sidecar, or not matching its sidecar's sha256/size/
    messages/hour, a line that is not a frame record or is stamped outside its folder's hour, an `.open` file or a
    temporary whose writer is gone (recover() seals and sweeps them). A sidecar without its file (a seal stopped
    before its commit point) is not a problem: it is never read."""
    problems: list[str] = []
    now = time.time()
    for folder_text, subfolders, files in os.walk(root):
        subfolders.sort()
        folder = Path(folder_text)
        hour = _hour_of_dir(folder)
        if hour is None or folder.parent.name != DATASET:
            continue
        for name in sorted(files):
            path = folder / name
            if name.startswith(TEMP_PREFIX):
                if stale_temp(path, now):
                    problems.append(f"{path}: temporary file left by a writer that is gone")
            elif name.endswith(OPEN_SUFFIX):
                if not _is_locked(path):
                    problems.append(f"{path}: open file left by a writer that is gone (recover() seals it)")
            elif name.endswith(FRAMES_SUFFIX):
                problems += _sealed_problems(path, hour)
    return problems


def _sealed_problems(path: Path, hour: dt.datetime) -> list[str]:
    meta_path = path.with_name(path.name[: -len(FRAMES_SUFFIX)] + META_SUFFIX)
    if not meta_path.exists():
        return [f"{path}: sealed file without sidecar {meta_path.name}"]
    sealed = SealedHourFile(path, json.loads(meta_path.read_text(encoding="utf-8")))
    try:
        sealed.read_bytes()
    except (StreamArchiveError, OSError):
        return [f"{path}: does not match the sha256/size of {meta_path.name}"]
    if sealed.meta.get("hour") != hour_label(hour):
        return [f"{path}: its sidecar says hour {sealed.meta.get('hour')}, its folder {hour_label(hour)}"]
    try:
        records = list(iter_frames(sealed))
    except StreamArchiveError as exc:
        return [str(exc)]
    problems = []
    if len(records) != sealed.messages:
        problems.append(f"{path}: {len(records)} frames, its sidecar says {sealed.messages}")
    outside = [i for i, (received_at, _frame) in enumerate(records, start=1) if hour_of(received_at) != hour]
    if outside:
        problems.append(f"{path}: line {outside[0]} is stamped outside hour {hour_label(hour)}")
    return problems
