"""mempool.space: the daily network hash rate and the difficulty its blocks were mined at.

Backfill. `/api/v1/mining/hashrate/{period}` has no date parameter: a period is a window trailing *now*
(24h, 3d, 1w, 1m, 3m, 6m, 1y, 2y, 3y, 4y; any other string means no filter, i.e. all data since 2009), and
the `difficulty` list in the answer is cut to the same window. So the request for day D depends on when it
is sent: `hashrate_period(D, fetch_date)` picks the smallest period whose window still holds D's row and
the retarget D's blocks were mined at (at least `RETARGET_MARGIN_DAYS` before D's label), and
`build_hashrate_request` reads the fetch date from a clock at build time (the system clock by default,
injectable for tests and replays). Trade-off: the same day asks a different period as time passes (the
archived body records which), in exchange for small bodies: the nightly run (D = yesterday) asks `1m`
(~31 rows) as before, a backfill of last quarter `3m`, and only days more than four years old ask `all`
(every day since 2009, some 6,000 rows: hundreds of kB per request). The alternative of always asking
`all` would be clock-free but would download the whole history for every day of a backfill.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from collections.abc import Callable

import pyarrow as pa

from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources._wire import Failer, day_start_ms, decode_json, epoch_ms, iso_ms, json_float, json_int, need
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec

SOURCE = "mempool"
HASHRATE_URL_PREFIX = "https://mempool.space/api/v1/mining/hashrate/"
HASHRATE_URL = HASHRATE_URL_PREFIX + "1m"  # the nightly request (the newest complete day)

# mempool's periods (Common.getSqlInterval), smallest first, as calendar months before now.
HASHRATE_PERIODS: tuple[tuple[str, int], ...] = (
    ("1m", 1), ("3m", 3), ("6m", 6), ("1y", 12), ("2y", 24), ("3y", 36), ("4y", 48),
)
ALL_PERIOD = "all"  # not a listed period: mempool applies no filter and returns every day since 2009
# The window must reach this far before the day's label so that it holds the retarget the day's blocks were
# mined at: an epoch is 2016 blocks, ~14 days at the 600 s target (the demo's epochs last 8-20 days, see
# tests/test_demo_source.py::test_difficulty_retargets_every_2016_blocks); 28 days is two target epochs.
RETARGET_MARGIN_DAYS = 28

HASHRATE_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("label_time", pa.timestamp("us")),
        ("avg_hashrate_hs", pa.float64()),
        ("difficulty", pa.float64()),
    ]
)


def _months_before(day: dt.date, months: int) -> dt.date:
    m = day.month - 1 - months
    year, month = day.year + m // 12, m % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def hashrate_period(day: dt.date, fetch_date: dt.date) -> str:
    """The smallest mempool period whose window, at any time on `fetch_date` (UTC), holds `day`'s row.

    The newest complete day (label = fetch_date 00:00) keeps the trailing month: it holds the day and, at
    ~2 weeks per epoch, the retarget before it (and without one the parser may use currentDifficulty, which
    is the newest day's). An older day needs the window to start `RETARGET_MARGIN_DAYS` before its label;
    the window is taken as seen at the END of fetch_date (the latest, hence shortest, it can be that day).
    """
    label = day + dt.timedelta(days=1)
    if label >= fetch_date:
        return "1m"  # the newest complete day, or a day not over yet (the parser refuses it)
    latest_now = fetch_date + dt.timedelta(days=1)
    need_from = label - dt.timedelta(days=RETARGET_MARGIN_DAYS)
    for name, months in HASHRATE_PERIODS:
        if _months_before(latest_now, months) <= need_from:
            return name
    return ALL_PERIOD


def utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def build_hashrate_request(day: dt.date, today: Callable[[], dt.date] = utc_today) -> FetchRequest:
    """The request for `day` as sent today: the period is chosen from the fetch date read now (see module)."""
    period = hashrate_period(day, today())
    return FetchRequest(source=SOURCE, dataset="hashrate", day=day, url=HASHRATE_URL_PREFIX + period, params={})


# mempool's caps are its periods, not a row count: `/mining/hashrate/{period}` answers every daily row of the window
# the period names (mining-routes.ts; Common.getSqlInterval), with no limit parameter, and no period is refused (an
# unlisted one means all data). What must hold is the window: at the send time the period chosen for the range's
# first day holds that day's row and the retarget before it (hashrate_period), and the range's last day must have
# ended by then (the parser refuses an open day). A range needs no more than its first day does: the period that holds the oldest day (and its retarget) holds
# every later one. A year at a time keeps the body at the `1y`-`2y` periods' size (49 kB for the demo's
# 2024-11-22 … 2025-11-21).
DAYS_PER_REQUEST = 366


def build_hashrate_range_request(first: dt.date, last: dt.date, at: dt.datetime) -> FetchRequest:
    """The days first … last in one request sent at `at`: the period chosen for `first`."""
    return dataclasses.replace(build_hashrate_request(first, today=lambda: at.date()), last_day=last)


def parse_hashrate(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    """Row of `day`: mempool labels a day's hash rate with the midnight that ENDS it (day + 1, 00:00 UTC)."""
    fail = Failer(SOURCE, "hashrate", day)
    data = decode_json(body, fail)
    if not isinstance(data, dict):
        fail.raise_(f"expected a JSON object {{hashrates, difficulty, ...}}, got {type(data).__name__}")
    if "error" in data:
        fail.raise_(f"error envelope: {data['error']}")
    hashrates = need(data, "hashrates", fail, "the body")
    adjustments = need(data, "difficulty", fail, "the body")
    current_difficulty = need(data, "currentDifficulty", fail, "the body")
    need(data, "currentHashrate", fail, "the body")
    if not isinstance(hashrates, list) or not isinstance(adjustments, list):
        fail.raise_("hashrates and difficulty must be arrays")
    if not hashrates:
        fail.raise_("empty hashrates array")

    label_s = day_start_ms(day + dt.timedelta(days=1)) // 1000
    latest_label = None
    found = None
    for i, row in enumerate(hashrates):
        if not isinstance(row, dict):
            fail.raise_(f"hashrates[{i}] is not an object")
        ts = json_int(need(row, "timestamp", fail, f"hashrates[{i}]"), f"hashrates[{i}].timestamp", fail)
        need(row, "avgHashrate", fail, f"hashrates[{i}]")
        latest_label = ts if latest_label is None else max(latest_label, ts)
        if ts == label_s:
            if found is not None:
                fail.raise_(f"two hashrate rows labelled {iso_ms(label_s * 1000)}")
            found = row
    if found is None:
        fail.raise_(
            f"no hashrate row labelled {iso_ms(label_s * 1000)} (the midnight ending the day: day absent) "
            f"among {len(hashrates)} rows"
        )
    if label_s * 1000 > epoch_ms(fetched_at):
        fail.raise_(f"hashrate row labelled {iso_ms(label_s * 1000)} is after fetched_at: the day was not over")
    avg_hashrate = json_float(found["avgHashrate"], "avgHashrate", fail)
    if avg_hashrate <= 0:
        fail.raise_(f"non-positive avgHashrate {avg_hashrate}")

    # Difficulty of the day's blocks: the latest retarget before the label time. Retargets come every
    # 2016 blocks (~2 weeks), so a one-month body normally holds one.
    before, after = None, False
    for i, adj in enumerate(adjustments):
        if not isinstance(adj, dict):
            fail.raise_(f"difficulty[{i}] is not an object")
        t = json_int(need(adj, "time", fail, f"difficulty[{i}]"), f"difficulty[{i}].time", fail)
        d = json_float(need(adj, "difficulty", fail, f"difficulty[{i}]"), f"difficulty[{i}].difficulty", fail)
        if t < label_s:
            if before is None or t > before[0]:
                before = (t, d)
        else:
            after = True
    if before is not None:
        difficulty = before[1]
    elif label_s == latest_label and not after:
        # No retarget in the body before the day, none since: the current difficulty is the day's.
        difficulty = json_float(current_difficulty, "currentDifficulty", fail)
    else:
        fail.raise_(
            f"no difficulty adjustment before {iso_ms(label_s * 1000)} in the body, and currentDifficulty "
            "does not apply (the day is not the latest labelled day, or a retarget followed it)"
        )
    if difficulty <= 0:
        fail.raise_(f"non-positive difficulty {difficulty}")

    return pa.Table.from_pydict(
        {
            PARTITION_COLUMN: [day],
            "label_time": [label_s * 1_000_000],
            "avg_hashrate_hs": [avg_hashrate],
            "difficulty": [difficulty],
        },
        schema=HASHRATE_SCHEMA,
    )


HASHRATE = DatasetSpec(
    source=SOURCE,
    dataset="hashrate",
    description="mempool.space daily network hash rate (H/s, from the day's blocks) and their difficulty.",
    raw_schema=HASHRATE_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=build_hashrate_request,
    build_request_at=lambda day, at: build_hashrate_request(day, today=lambda: at.date()),
    build_range_request=build_hashrate_range_request,
    max_range_days=DAYS_PER_REQUEST,
    parse=parse_hashrate,
    event_time_column=None,
    history="since 2009-01-03 (the period asked grows with the day's age: 1m nightly, up to all data)",
)

DATASETS: tuple[DatasetSpec, ...] = (HASHRATE,)
