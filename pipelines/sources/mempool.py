"""mempool.space: the daily network hash rate and the difficulty its blocks were mined at."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from pipelines.ingest.fetcher import FetchRequest
from pipelines.sources._wire import Failer, day_start_ms, decode_json, epoch_ms, iso_ms, json_float, json_int, need
from pipelines.sources.spec import PARTITION_COLUMN, DatasetSpec

SOURCE = "mempool"
HASHRATE_URL = "https://mempool.space/api/v1/mining/hashrate/1m"

HASHRATE_SCHEMA = pa.schema(
    [
        (PARTITION_COLUMN, pa.date32()),
        ("label_time", pa.timestamp("us")),
        ("avg_hashrate_hs", pa.float64()),
        ("difficulty", pa.float64()),
    ]
)


def build_hashrate_request(day: dt.date) -> FetchRequest:
    # The trailing month always holds the newest day and at least one retarget before it (every ~2 weeks).
    return FetchRequest(source=SOURCE, dataset="hashrate", day=day, url=HASHRATE_URL, params={})


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
    parse=parse_hashrate,
    event_time_column=None,
)

DATASETS: tuple[DatasetSpec, ...] = (HASHRATE,)
