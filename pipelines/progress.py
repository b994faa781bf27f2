"""What a run is doing, on one line, and the summary printed when a backfill ends.

`make run` and `make backfill` spend a while before their first step (loading the pipeline's code, building the
definitions, creating the run) and over a minute inside the dbt step. The line says which: a phase before the steps,
then the steps done of the total and the step running, and inside the dbt step dbt's own progress (nodes done of
the total and the node running, from the structured events dbt streams to dagster-dbt: DbtProgress, reported by
pipelines/assets/dbt_models.py through `report_detail`).

On a terminal the line is rewritten in place; anywhere else (a CI log, a pipe) it becomes plain lines, one per
phase, per step started, per tenth of dbt's nodes and per failure, so a log stays short and readable.

Imports are kept light (Dagster and DuckDB are imported where used): the CLI shows its first phase before the
pipeline's code is loaded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import dagster as dg

    from pipelines.settings import Settings


# ---- what a step reports while it runs (in this process) ----------------------------------------------------------

@dataclass(frozen=True)
class Detail:
    """What the running step is doing: `text`, and when it counts something, `done` of `total`."""

    step: str
    text: str
    done: int | None = None
    total: int | None = None

    @property
    def tenth(self) -> int | None:
        return None if not self.total or self.done is None else min(10, self.done * 10 // self.total)


_LISTENERS: dict[str, Callable[[Detail | None], None]] = {}
_LISTENERS_LOCK = threading.Lock()


def report_detail(run_id: str, step: str, progress: DbtProgress | Detail | str | None) -> None:
    """Tell whoever shows run `run_id`'s progress in this process what step `step` is doing (None: nothing more).
    A no-op when nobody listens: a run launched by the UI's daemon, a test."""
    with _LISTENERS_LOCK:
        listener = _LISTENERS.get(run_id)
    if listener is None:
        return
    if isinstance(progress, DbtProgress):
        progress = Detail(step, progress.line(), progress.done, progress.total)
    elif isinstance(progress, str):
        progress = Detail(step, progress)
    listener(progress)


@contextlib.contextmanager
def listening(run_id: str, listener: Callable[[Detail | None], None]) -> Iterator[None]:
    with _LISTENERS_LOCK:
        _LISTENERS[run_id] = listener
    try:
        yield
    finally:
        with _LISTENERS_LOCK:
            _LISTENERS.pop(run_id, None)


class DbtProgress:
    """dbt's progress, from the structured events it streams (`--log-format json`, as dagster-dbt runs it): the
    nodes done of the total, the node running, and before the first node what dbt is doing."""

    def __init__(self) -> None:
        self.done = 0
        self.total: int | None = None
        self.running: str | None = None
        self.phase = "starting (parsing the project)"

    def see(self, event: Mapping[str, Any]) -> bool:
        """Take one raw dbt event; True when the line it gives changed."""
        info, data = event.get("info") or {}, event.get("data") or {}
        name = info.get("name")
        before = (self.done, self.total, self.running, self.phase)
        # "N of M START …" and its result line (OK, PASS, WARN, ERROR, SKIP …); a test's result names M num_models.
        total = data.get("total", data.get("num_models"))
        if "index" in data and total is not None:
            self.total = int(total)
            if name == "LogStartLine":
                self.running = data.get("description") or (data.get("node_info") or {}).get("node_name")
            else:
                self.done = min(self.total, self.done + 1)
                self.running = None if self.done == self.total else self.running
        elif name == "FoundStats" and self.total is None:
            self.phase = f"found {data.get('stat_line', 'the project')}"
        return (self.done, self.total, self.running, self.phase) != before

    def line(self) -> str:
        if self.total is None:
            return f"dbt {self.phase}"
        return f"dbt {self.done}/{self.total}" + (f" {self.running}" if self.running else "")


# ---- the line -----------------------------------------------------------------------------------------------------

def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


class ProgressLine:
    """One line about what a run is doing, on `out`: rewritten in place on a terminal, plain lines elsewhere."""

    BAR_WIDTH = 20

    def __init__(self, out: TextIO, tty: bool | None = None, clock: Callable[[], float] = time.monotonic,
                 tick_s: float | None = 1.0) -> None:
        self.out = out
        self.tty = _isatty(out) if tty is None else tty
        self._clock = clock
        self._started = clock()
        self._lock = threading.RLock()
        self._phase: str | None = None
        self._steps: tuple[int, int, str | None, tuple[str, ...]] | None = None  # finished, total, running, failed
        self._detail: Detail | None = None
        self._drawn = False
        self._closed = False
        self._stop = threading.Event()
        if self.tty and tick_s:  # the elapsed time moves while a phase blocks (an import, dbt parsing)
            threading.Thread(target=self._tick, args=(tick_s,), name="progress-line", daemon=True).start()

    # -- what is running --
    def phase(self, text: str) -> None:
        """A phase before the steps (or between them): loading the code, building the definitions, creating the run."""
        with self._lock:
            if text != self._phase:
                self._phase = text
                self._plain(f"{self._position()}{text}")
                self._draw()

    def steps(self, finished: int, total: int, running: str | None, failed: list[str] | tuple[str, ...],
              started: Sequence[str] | None = None) -> None:
        """The run's steps as its event log has them: finished of total, the one running, the ones that failed.
        `started`: every step that started since the last call, in order, including one that already ended
        (a step shorter than a poll); without it, a change of the running step is what started."""
        with self._lock:
            before = self._steps or (0, total, None, ())
            self._steps = (finished, total, running, tuple(failed))
            if started is None:
                started = [running] if running is not None and running != before[2] else []
            for name in started:
                self._plain(f"[{finished}/{total}] {name}")
            if started or finished > before[0]:
                self._phase = None  # a step started or ended
            if len(failed) > len(before[3]):
                self._plain(f"[{finished}/{total}] failed: {', '.join(failed[len(before[3]):])}")
            if self._detail is not None and running is not None and self._detail.step != running:
                self._detail = None  # a later step: what the previous one reported is over
            self._draw()

    def detail(self, detail: Detail | None) -> None:
        """What the running step reports (dbt's nodes): shown after the step's name. A plain line when the step
        changes, and for a count, each tenth of it (else each new text)."""
        with self._lock:
            before, self._detail = self._detail, detail
            if detail is not None:
                same_step = before is not None and before.step == detail.step
                news = (detail.tenth != before.tenth if detail.tenth is not None else detail.text != before.text
                        ) if same_step else True
                if news:
                    self._plain(f"{self._position()}{detail.step}: {detail.text}")
            self._draw()

    def message(self, text: str) -> None:
        """A line printed above the progress line (which is drawn again under it)."""
        with self._lock:
            if self.tty and self._drawn:
                self.out.write("\r\x1b[K")
            self.out.write(text + "\n")
            self.out.flush()
            self._draw()

    def above(self) -> TextIO:
        """A stream whose text goes above the line (on a terminal: the line erased, the text, the line drawn again):
        stderr while the run goes on, so that Dagster's warnings do not land in the middle of the line."""
        return _Above(self)

    def erase(self) -> None:
        """Clear the terminal's line (drawn again at the next change): before other output takes the line."""
        with self._lock:
            if self.tty and self._drawn:
                self.out.write("\r\x1b[K")
                self.out.flush()
                self._drawn = False

    def close(self) -> None:
        """The last state, once: on a terminal the line is left as it is, with a newline; elsewhere one last line."""
        with self._lock:
            if self._closed:
                return
            self._stop.set()
            if self._steps is not None:
                finished, total, _, failed = self._steps
                self._plain(f"[{finished}/{total}] done" + (f", failed: {', '.join(failed)}" if failed else ""))
            if self.tty and self._drawn:
                self._draw()
                self.out.write("\n")
                self.out.flush()
            self._closed = True

    # -- drawing --
    def text(self) -> str:
        """The line as it is now, without the elapsed time a terminal shows before it."""
        doing = None
        if self._detail is not None:
            doing = f"{self._detail.step}: {self._detail.text}"
        elif self._steps is not None and self._steps[2] is not None:
            doing = self._steps[2]
        elif self._phase is not None:
            doing = f"{self._phase}…"
        if self._steps is None:
            return doing or ""
        finished, total, _, failed = self._steps
        filled = self.BAR_WIDTH * finished // total if total else 0
        parts = [f"|{'█' * filled}{' ' * (self.BAR_WIDTH - filled)}| {finished}/{total} steps"]
        parts += [doing] if doing else []
        parts += [f"failed: {', '.join(failed)}"] if failed else []
        return " | ".join(parts)

    def _draw(self) -> None:
        if not self.tty or self._closed:
            return
        width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
        line = f"{self._elapsed()} {self.text()}"
        self.out.write("\r" + line[:width] + "\x1b[K")
        self.out.flush()
        self._drawn = True

    def _plain(self, line: str) -> None:
        if not self.tty and not self._closed:
            self.out.write(f"{self._elapsed()} {line}\n")
            self.out.flush()

    def _position(self) -> str:
        if self._steps is None:
            return ""
        finished, total, _, _ = self._steps
        return f"[{finished}/{total}] "

    def _elapsed(self) -> str:
        seconds = int(self._clock() - self._started)
        return f"{seconds // 60:d}:{seconds % 60:02d}"

    def _tick(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            with self._lock:
                if self._drawn:
                    self._draw()


class _Above(io.TextIOBase):
    def __init__(self, line: ProgressLine) -> None:
        self._line = line

    def write(self, text: str) -> int:
        line = self._line
        with line._lock:
            if line.tty and line._drawn:
                line.out.write("\r\x1b[K")
                line._drawn = False
            line.out.write(text)
            if text.endswith("\n"):
                line._draw()
            line.out.flush()
        return len(text)

    def flush(self) -> None:
        self._line.out.flush()

    def isatty(self) -> bool:
        return self._line.tty


# ---- a run's steps, from its event log ----------------------------------------------------------------------------

class RunFollower:
    """A run's step events and planned events, read as they are written: each poll fetches only the records after
    the last one seen (a storage cursor). Re-reading the whole log every half second, as this did before, cost ~5 s
    of CPU over a nightly (123 reads of every step event, 15 of the 705 planned ones), taken from the run's own
    thread through the GIL, and it grew with the run."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str):
        from dagster._core.events import DagsterEventType

        self._instance, self._run_id, self._cursor = instance, run_id, None
        self._finished_types = {DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE,
                                DagsterEventType.STEP_SKIPPED}
        self._failure, self._start = DagsterEventType.STEP_FAILURE, DagsterEventType.STEP_START
        self._planned_types = {DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
                               DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED}
        self.finished, self.running, self.failed, self.planned = 0, None, [], 0
        self.started: list[str] = []  # the steps that started since the last poll, in order

    def poll(self) -> RunFollower:
        """Read what the run wrote since the last poll."""
        types = self._finished_types | self._planned_types | {self._start}
        self.started = []
        while True:
            page = self._instance.get_records_for_run(self._run_id, cursor=self._cursor, of_type=types, limit=1000)
            for record in page.records:
                event = record.event_log_entry.dagster_event
                if event.event_type in self._planned_types:
                    self.planned += 1
                elif event.event_type in self._finished_types:
                    self.finished += 1
                    self.running = None if self.running == event.step_key else self.running
                    if event.event_type == self._failure:
                        self.failed.append(event.step_key)
                else:
                    self.running = event.step_key
                    self.started.append(event.step_key)
            self._cursor = page.cursor
            if not page.has_more:
                return self

    @property
    def steps(self) -> tuple[int, str | None, list[str]]:
        return self.finished, self.running, list(self.failed)


CREATING_THE_RUN = "creating the run"


def run_with_progress(
    work: Callable[[], dg.ExecuteInProcessResult],
    instance: dg.DagsterInstance,
    run_id: str,
    total_steps: int,
    out: TextIO | None = None,
    poll_s: float = 0.5,
    line: ProgressLine | None = None,
    planned: int | None = None,
) -> dg.ExecuteInProcessResult:
    """Run `work` (the run `run_id`) in a thread while `line` (or a new one on `out`) follows its steps, and the
    running step's own progress (dbt's nodes) as it reports it. Until the first step starts, the run's creation:
    with `planned` (its planned events: one per asset and one per check), how many are written; Dagster writes
    them one by one before the first step, ~0.1 s each on a busy machine, 400+ with every dbt test a check."""
    owned = line is None
    line = line or ProgressLine(out)
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=target, name=f"run-{run_id[:8]}")
    # On a terminal, what the run writes to stderr (Dagster's warnings and errors) goes above the line.
    above = contextlib.redirect_stderr(line.above()) if line.tty else contextlib.nullcontext()
    with listening(run_id, line.detail), above:
        line.phase(f"{CREATING_THE_RUN} (its plan, then its planned materializations and checks)")
        worker.start()
        created = False
        alive = True
        follower = RunFollower(instance, run_id)
        while alive:  # one last look after the run ended: a run shorter than poll_s still shows its steps done
            worker.join(poll_s)
            alive = worker.is_alive()
            finished, running, failed = follower.poll().steps
            created = created or running is not None or finished > 0
            if planned and not created:
                written = min(planned, follower.planned)
                line.detail(Detail(CREATING_THE_RUN, f"{written}/{planned} planned events written", written, planned))
            line.steps(finished, total_steps, running, failed, started=follower.started)
    if owned:
        line.close()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def backfill_summary(settings: Settings, first: dt.date, last: dt.date, result: dg.ExecuteInProcessResult,
                     seconds: float, since: dt.datetime | None = None) -> str:
    """Days and rows per dataset from raw.load_log, failed checks, and the wall time. `since`: when the run started
    (its clock, settings.now()): only the log rows this run wrote count, so a run that failed before loading a
    dataset does not print an earlier run's figures as its own."""
    import duckdb

    from pipelines import engine

    days = (last - first).days + 1
    lines = [f"{'succeeded' if result.success else 'FAILED'}: {first} … {last} ({days} days) in one run, "
             f"{seconds:,.1f} s ({seconds / days:,.2f} s per day)"]
    failed = [f"[{e.severity.value.lower()}] {e.asset_key.to_user_string()} › {e.check_name}: "
              + (e.description or f"a dbt test failed; its failing rows: `make failing-rows CHECK={e.check_name} "
                                  f"START={first} END={last}`")
              for e in result.get_asset_check_evaluations() if not e.passed]
    try:
        logged_since = (since.astimezone(dt.UTC).replace(tzinfo=None) if since is not None
                        else dt.datetime(1970, 1, 1))
        with engine.connect(settings, read_only=True) as conn:
            rows = conn.execute(
                "SELECT dataset, count(*) FILTER (status = 'loaded'), count(*) FILTER (status <> 'loaded'), "
                "sum(rows_loaded), sum(rows_quarantined) FROM raw.load_log "
                "WHERE partition_date BETWEEN ? AND ? AND _logged_at >= ? GROUP BY dataset ORDER BY dataset",
                [first, last, logged_since],
            ).fetchall()
    except duckdb.Error as error:
        # Another process holding the file (or a run that failed before raw.load_log existed): the run's own outcome
        # above still stands; a traceback here would hide it.
        reason = str(error).splitlines()[0]
        lines.append(f"  rows per dataset unavailable: {engine.describe(settings)} could not be read ({reason})")
        rows = None
    if rows == []:
        lines.append("  no dataset was loaded by this run (raw.load_log holds no row of it for these days)")
    if rows:
        lines.append(f"  {'dataset':<40} {'days ok':>8} {'not ok':>7} {'rows':>10} {'quarantined':>12}")
        lines += [f"  {d:<40} {ok:>8} {bad:>7} {n:>10,} {q:>12,}" for d, ok, bad, n, q in rows]
    if failed:
        lines.append(f"  {len(failed)} failed check(s):")
        lines += [f"    {line}" for line in failed[:20]]
    return "\n".join(lines)
