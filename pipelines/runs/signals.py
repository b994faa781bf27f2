"""The signals a run's process must answer, whatever its parent left it with."""

from __future__ import annotations

import signal


def default_sigterm() -> None:
    """Give SIGTERM its default action back when this process inherited it ignored (a parent that ignores it passes
    that on through exec: pytest-xdist's workers do, and so may a supervisor or a shell wrapper). Dagster stops the
    `tail -F` processes that mirror a run's compute logs with SIGTERM: ignoring it, they outlived the run holding its
    stderr open, so whatever read the CLI's output (a scheduler, a test) waited for an end that never came, and an
    orchestrator's SIGTERM could not stop the run either. Call it first, in an entry point's main thread."""
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
