"""The signals a run's process must answer, whatever its parent left it with."""

from __future__ import annotations

import signal


def answer_stop_signals() -> None:
    """Give SIGTERM and SIGINT their default actions back when this process inherited them ignored (an ignored
    signal passes through exec: a shell ignores SIGINT in the jobs it starts in the background, pytest-xdist's
    workers end up ignoring SIGTERM, and so may a supervisor or a wrapper). Dagster stops the `tail -F` processes
    that mirror a run's compute logs with SIGTERM, and while it runs on the main thread it gives SIGTERM whatever
    SIGINT has (an ignored SIGINT makes SIGTERM ignored too). Ignoring it, the tails outlived the run holding its
    stderr open, so whatever read the CLI's output (a scheduler, a test) waited for an end that never came, and an
    orchestrator's SIGTERM could not stop the run either. Call it first, in an entry point's main thread."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
