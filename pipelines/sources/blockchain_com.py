"""blockchain.com charts API: the daily network hash rate, a second estimate beside mempool.space's, and the
miners' revenue in USD, which with it gives the hashprice over the whole history in one request a year.

`GET https://api.blockchain.info/charts/{hash-rate,miners-revenue}?start=YYYY-MM-DD&timespan=…&format=json
&sampled=false` answers `{"status":"ok","name","unit","period":"day","description","values":[{"x","y"}]}` with
`x` in unix SECONDS and `y` in the chart's unit: TH/s (`"unit":"Hash Rate TH/s"`) or USD a day (`"unit":"USD"`,
the coinbase rewards, subsidy and fees, valued at the day's market price). Unlike mempool (which labels a day by
the midnight ending it), blockchain.com labels a day by its START: the point x = D 00:00 covers day D.
`sampled=false` keeps every daily point (the default down-samples long spans to ~1.5k points).

The request asks three days centred on D (start = D - 1, timespan 3days): the day's point lies inside the
window whatever blockchain.com's conventions at the window's ends (inclusive or not), and the parser keeps
only the point labelled D 00:00.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources._wire import (
    EPOCH,
    Failer,
    day_start_ms,
    decode_json,
    epoch_ms,
    iso_ms,
    json_float,
    json_int,
    need,
)
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec, ignoring_send_time

SOURCE = "blockchain_com"
CHARTS_URL = "https://api.blockchain.info/charts/"
HASH_RATE_URL = CHARTS_URL + "hash-rate"
MINERS_REVENUE_URL = CHARTS_URL + "miners-revenue"
_SECONDS_LIMIT = 10**11  # unix seconds stay below this; ms timestamps (the chart-page export) are far above

HASH_RATE_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("point_time", pa.timestamp("us")),
        ("hashrate_ths", pa.float64()),
    ]
)

MINERS_REVENUE_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("point_time", pa.timestamp("us")),
        ("revenue_usd", pa.float64()),
    ]
)


# blockchain.com documents no row cap (blockchain.com/explorer/api/charts_api): `timespan` and `start` name the
# window and every daily point of it is served with sampled=false; only `sampled` (true by default) thins a long
# answer to about 1,500 points (sources.md §3.2). A range asks its days plus a day of margin either side (the
# points start .. start + timespan - 1 day, counted inclusively), and stays under that threshold so that even a
# server ignoring sampled=false would serve every day. A backfill asks a year at a time, which keeps a body near
# 15 kB (14 kB for the demo's 365 days 2024-11-22 … 2025-11-21).
SAMPLED_MAX_POINTS = 1500
DAYS_PER_REQUEST = 366
if DAYS_PER_REQUEST + 2 > SAMPLED_MAX_POINTS:
    raise ValueError("blockchain_com/hash_rate: a range would be down-sampled")


def _chart_range_request(dataset: str, url: str, first: dt.date, last: dt.date) -> FetchRequest:
    # One day of margin either side of the days asked for: the points are labelled by the day's start, and the
    # margin keeps the day's own point inside the answer whichever way the API rounds `start`.
    days = (last - first).days + 3
    if not 3 <= days <= DAYS_PER_REQUEST + 2:
        raise ValueError(f"{SOURCE}/{dataset}: {first} … {last} is not 1 to {DAYS_PER_REQUEST} days")
    return FetchRequest(
        source=SOURCE,
        dataset=dataset,
        day=first,
        last_day=last,
        url=url,
        params={
            "timespan": f"{days}days",
            "start": (first - dt.timedelta(days=1)).isoformat(),
            "format": "json",
            "sampled": "false",
        },
    )


def build_hash_rate_range_request(first: dt.date, last: dt.date) -> FetchRequest:
    return _chart_range_request("hash_rate", HASH_RATE_URL, first, last)


def build_hash_rate_request(day: dt.date) -> FetchRequest:
    return build_hash_rate_range_request(day, day)


def build_miners_revenue_range_request(first: dt.date, last: dt.date) -> FetchRequest:
    return _chart_range_request("miners_revenue", MINERS_REVENUE_URL, first, last)


def build_miners_revenue_request(day: dt.date) -> FetchRequest:
    return build_miners_revenue_range_request(day, day)


def _chart_point(
    body: bytes, day: dt.date, fetched_at: dt.datetime, dataset: str, unit_word: str, chart: str,
    name_word: str | None = None,
) -> tuple[int, float]:
    """The label (unix s) and value of the point labelled `day` 00:00 (blockchain.com's start-of-day label) of
    a daily chart whose unit contains `unit_word` (and name `name_word`, when given and the body has a name);
    every other point is checked for its shape and left."""
    fail = Failer(SOURCE, dataset, day)
    data = decode_json(body, fail)
    if not isinstance(data, dict):
        fail.raise_(f"expected a JSON object {{status, values, ...}}, got {type(data).__name__}")
    status = need(data, "status", fail, "the body")
    if status != "ok":
        detail = data.get("error") or data.get("message") or ""
        fail.raise_(f"error envelope: status={status!r} {detail}".rstrip())
    unit = data.get("unit")
    if unit is not None and unit_word not in str(unit):
        fail.raise_(f"unit {unit!r} is not {unit_word}: not the {chart} chart?")
    name = data.get("name")
    if name_word is not None and name is not None and name_word.lower() not in str(name).lower():
        fail.raise_(f"chart named {name!r}: not the {chart} chart?")
    period = data.get("period")
    if period is not None and period != "day":
        fail.raise_(f"period {period!r}: expected daily points (period 'day')")
    values = need(data, "values", fail, "the body")
    if not isinstance(values, list):
        fail.raise_(f"values must be an array, got {type(values).__name__}")
    if not values:
        fail.raise_("empty values array")

    label_s = day_start_ms(day) // 1000
    found = None
    for i, point in enumerate(values):
        if not isinstance(point, dict):
            fail.raise_(f"values[{i}] is not an object")
        x = json_int(need(point, "x", fail, f"values[{i}]"), f"values[{i}].x", fail)
        if x >= _SECONDS_LIMIT:
            fail.raise_(f"values[{i}].x {x} looks like milliseconds, expected unix seconds")
        if x == label_s:
            if found is not None:
                fail.raise_(f"two points labelled {iso_ms(label_s * 1000)}")
            found = point
    if found is None:
        fail.raise_(
            f"no point labelled {iso_ms(label_s * 1000)} (blockchain.com labels a day by its start: day absent) "
            f"among {len(values)} points"
        )
    end_ms = (label_s + 86_400) * 1000
    if end_ms > epoch_ms(fetched_at):
        fail.raise_(
            f"the point labelled {iso_ms(label_s * 1000)} covers a day not over at fetched_at "
            f"{iso_ms(epoch_ms(fetched_at))}: still-open period"
        )
    return label_s, json_float(need(found, "y", fail, "the day's point"), "y", fail)


def parse_hash_rate(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    """The point labelled `day` 00:00 (blockchain.com's start-of-day label), in TH/s as served."""
    label_s, ths = _chart_point(body, day, fetched_at, "hash_rate", "TH/s", "hash-rate")
    if ths <= 0:
        Failer(SOURCE, "hash_rate", day).raise_(f"non-positive hash rate {ths} TH/s")
    return pa.Table.from_pydict(
        {PARTITION_COLUMN: [day], "point_time": [EPOCH + dt.timedelta(seconds=label_s)], "hashrate_ths": [ths]},
        schema=HASH_RATE_SCHEMA,
    )


def parse_miners_revenue(body: bytes, day: dt.date, fetched_at: dt.datetime) -> pa.Table:
    """The point labelled `day` 00:00: the coinbase rewards (subsidy + fees) of the day's blocks in USD, as served.
    The unit must say USD and the name revenue: `transaction-fees` (BTC) or `transaction-fees-usd` (another
    chart in USD) are refused. A negative revenue is refused here; the plausible band is a quality rule."""
    label_s, usd = _chart_point(body, day, fetched_at, "miners_revenue", "USD", "miners-revenue", "revenue")
    if usd < 0:
        Failer(SOURCE, "miners_revenue", day).raise_(f"negative miners' revenue {usd} USD")
    return pa.Table.from_pydict(
        {PARTITION_COLUMN: [day], "point_time": [EPOCH + dt.timedelta(seconds=label_s)], "revenue_usd": [usd]},
        schema=MINERS_REVENUE_SCHEMA,
    )


HASH_RATE = DatasetSpec(
    source=SOURCE,
    dataset="hash_rate",
    description="blockchain.com daily network hash rate estimate (TH/s), the point labelled by the day's start.",
    raw_schema=HASH_RATE_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=build_hash_rate_request,
    parse=parse_hash_rate,
    event_time_column="point_time",
    backfillable=True,
    history="since 2009-01-03",
    available_from=dt.date(2009, 1, 3),  # the chart starts with the genesis block
    build_range_request=ignoring_send_time(build_hash_rate_range_request),
    max_range_days=DAYS_PER_REQUEST,
)

MINERS_REVENUE = DatasetSpec(
    source=SOURCE,
    dataset="miners_revenue",
    description="blockchain.com miners' revenue of the UTC day (coinbase rewards, subsidy + fees) in USD.",
    raw_schema=MINERS_REVENUE_SCHEMA,
    key_columns=(PARTITION_COLUMN,),
    build_request=build_miners_revenue_request,
    parse=parse_miners_revenue,
    event_time_column="point_time",
    backfillable=True,
    history="since 2009-01-03 (0 USD until bitcoin had a market price, in 2010)",
    available_from=dt.date(2009, 1, 3),
    build_range_request=ignoring_send_time(build_miners_revenue_range_request),
    max_range_days=DAYS_PER_REQUEST,
)

DATASETS: tuple[DatasetSpec, ...] = (HASH_RATE, MINERS_REVENUE)
