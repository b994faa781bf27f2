"""How long the demo simulator takes to build one answer body, per dataset: every page of each dataset's daily fetch,
through the DemoFetcher the offline pipeline uses, on days the models have warmed (the first call of a day builds
its market, chain and mining models; that is timed apart). (`python -m bench.demo_bodies`, part of `make bench`.)

This was three timed assertions in the demo tests (< 0.1 s or < 50 ms per body), which failed CI on a loaded
machine; timings belong here, printed with the CPU, never asserted."""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time

from bench.machine import cpu_name
from pipelines.demo.fetcher import DemoFetcher
from pipelines.sources.registry import DATASETS

DAYS = [dt.date(2025, 11, 17) + dt.timedelta(days=i) for i in range(5)]  # the demo's break week
REPEATS = 3


def pages(fetcher: DemoFetcher, spec, day: dt.date) -> int:
    request, count = spec.build_request(day), 0
    while request is not None:
        got = fetcher.fetch(request)
        if got.status != 200:
            raise SystemExit(f"{spec.source}/{spec.name} for {day}: HTTP {got.status}: {got.body[:200]!r}")
        count += 1
        request = spec.next_page(request, got.body) if spec.next_page else None
    return count


def main() -> None:
    print(f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {cpu_name()} ({os.cpu_count()} CPUs)")
    specs = [spec for spec in DATASETS if spec.bind is None]
    fetcher = DemoFetcher()
    started = time.perf_counter()
    for day in DAYS:  # cold: builds the days' models
        for spec in specs:
            pages(fetcher, spec, day)
    cold = time.perf_counter() - started
    print(f"cold: {len(DAYS)} days × {len(specs)} datasets in {cold:.2f} s (models built)")
    print(f"{'dataset':<44} {'pages/day':>9} {'ms/page (median of days)':>26} {'max':>8}")
    worst = 0.0
    for spec in specs:
        per_page = []
        for day in DAYS:
            best = float("inf")
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                count = pages(fetcher, spec, day)
                best = min(best, (time.perf_counter() - t0) / count)
            per_page.append(best * 1000)
        worst = max(worst, max(per_page))
        print(f"{spec.name:<44} {count:>9} {statistics.median(per_page):>26.2f} "
              f"{max(per_page):>8.2f}")
    print(f"slowest page: {worst:.2f} ms (warm; best of {REPEATS})")


if __name__ == "__main__":
    main()
