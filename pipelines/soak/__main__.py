"""`python -m pipelines.soak --nights N --start YYYY-MM-DD [--warehouse DIR] [--no-compare]` (see pipelines.soak)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from pipelines.runs.signals import answer_stop_signals
from pipelines.settings import Settings, SettingsError
from pipelines.soak.harness import SoakError, run_soak


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def main(argv: list[str] | None = None) -> int:
    answer_stop_signals()
    parser = argparse.ArgumentParser(prog="python -m pipelines.soak", description=__doc__)
    parser.add_argument("--nights", type=int, required=True, help="nightly runs to soak (days loaded)")
    parser.add_argument("--start", type=_date, required=True, help="the first day loaded (its nightly runs the "
                                                                      "next day at 00:30 UTC)")
    parser.add_argument("--warehouse", type=Path, default=None,
                        help="an empty or new directory (default: <BTCW_WAREHOUSE_DIR>/soak/<START>+<NIGHTS>)")
    parser.add_argument("--compare", action=argparse.BooleanOptionalAction, default=True,
                        help="compare the marts with one backfill of the same days (default: on)")
    args = parser.parse_args(argv)
    try:
        warehouse = args.warehouse or Settings.from_env().warehouse_dir / "soak" / f"{args.start}+{args.nights}"
        report = run_soak(args.start, args.nights, warehouse, compare=args.compare)
    except (SoakError, SettingsError) as error:
        print(error, file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
