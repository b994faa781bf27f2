"""What machine a benchmark ran on, for its report."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def report_header(title: str, module: str, argv: str, before: tuple[float, ...], after: tuple[float, ...],
                  measured_at: dt.datetime | None = None) -> list[str]:
    """A benchmark report's first lines: its title, the command that made it, the CPU, the load around it, when."""
    return [f"# {title}", "", f"`.venv/bin/python -m {module} {argv}`".replace(" `", "`"), "",
            f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average {before[0]:.2f} before, {after[0]:.2f} after; "
            f"measured {measured_at or dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", ""]


def show_and_save(path: Path, text: str, keep_earlier: bool = False) -> None:
    """Print a benchmark's report and write it to `path`; with `keep_earlier`, the runs already in the file stay below
    it (newest first), for the benchmarks whose history the README quotes (a run of an hour is not redone to
    compare)."""
    print(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    earlier = path.read_text() if keep_earlier and path.exists() else ""
    path.write_text(text + (f"\n---\n\n{earlier}" if earlier.strip() else ""))
