"""The dataset catalogue as a Markdown table (README's "Datasets" section is this output, kept in sync by a test).

    .venv/bin/python -m pipelines.sources.catalog
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from urllib.parse import urlsplit

from pipelines.sources.spec import DatasetSpec

HEADER = (
    "| source/dataset | raw table | endpoint | past days | history |\n"
    "|---|---|---|---|---|"
)


def catalog_row(spec: DatasetSpec, example_day) -> str:
    # As the nightly run asks it (00:30 UTC the day after), so the table does not change with the calendar.
    nightly = dt.datetime.combine(example_day + dt.timedelta(days=1), dt.time(0, 30), tzinfo=dt.UTC)
    parts = urlsplit(spec.endpoint_url or spec.request_for(example_day, nightly).url)
    paged = " (a page per market)" if spec.bind is not None else " (paged)" if spec.next_page else ""
    endpoint = f"`{parts.netloc}{parts.path}`" + paged
    past = "archive only"
    if spec.backfillable:  # how a backfill asks: a range of days per request, or each day on its own
        past = f"backfill, {spec.max_range_days} days a request" if spec.asks_ranges else "backfill, a day a request"
    return f"| `{spec.name}` | `raw.{spec.raw_table}` | {endpoint} | {past} | {spec.history or '-'} |"


def markdown_table(specs: Iterable[DatasetSpec], example_day) -> str:
    return "\n".join([HEADER, *(catalog_row(spec, example_day) for spec in specs)])


def main() -> None:
    from pipelines.sources.registry import DATASETS

    print(markdown_table(DATASETS, dt.date(2025, 11, 20)))


if __name__ == "__main__":
    main()
