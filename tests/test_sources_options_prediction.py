"""Deribit instruments and index price, Polymarket market and prices history: requests, real bodies, errors."""

from __future__ import annotations

import datetime as dt
import json
import re

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.demo.prediction import DEMO_MARKET
from pipelines.ingest.errors import ParseError
from pipelines.sources import deribit_reference, polymarket
from pipelines.sources.prediction_config import parse_config
from pipelines.sources.spec import PARTITION_COLUMN

UTC = dt.timezone.utc
LATE = dt.datetime(2030, 1, 1, tzinfo=UTC)
NOV21 = dt.date(2025, 11, 21)
NIGHTLY = dt.datetime(2025, 11, 22, 0, 30, tzinfo=UTC)  # when the nightly run snapshots 2025-11-21
NIGHTLY_US = int(NIGHTLY.timestamp()) * 1_000_000
INSTRUMENTS = deribit_reference.OPTION_INSTRUMENTS
INDEX = deribit_reference.INDEX_PRICE
MARKET = polymarket.MARKETS
HISTORY = polymarket.PRICES_HISTORY
SLUG_PARAMS = {"slug": DEMO_MARKET.slug}
TOKEN_PARAMS = {"market": DEMO_MARKET.yes_token_id}


def parse_error(spec, body: bytes, day: dt.date, fetched_at: dt.datetime = LATE, params=None) -> str:
    """Parse and return the ParseError message, asserting it names source/dataset and the date."""
    with pytest.raises(ParseError) as info:
        if spec.parse_takes_params:
            spec.parse(body, day, fetched_at, params if params is not None else
                       (TOKEN_PARAMS if spec is HISTORY else SLUG_PARAMS))
        else:
            spec.parse(body, day, fetched_at)
    message = str(info.value)
    assert message.startswith(f"{spec.source}/{spec.dataset} for {day.isoformat()}: "), message
    assert (info.value.source, info.value.dataset, info.value.day) == (spec.source, spec.dataset, day)
    return message


def s(day: dt.date, hour: int = 0) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp())


# ---- specs and request builders -----------------------------------------------------------------------------


def test_raw_schemas_keys_and_history_are_the_contract():
    ts, f64, text = pa.timestamp("us"), pa.float64(), pa.string()
    assert INSTRUMENTS.raw_schema == pa.schema(
        [(PARTITION_COLUMN, pa.date32()), ("instrument_name", text), ("option_type", text), ("strike", f64),
         ("expiration_time", ts), ("creation_time", ts), ("settlement_period", text), ("contract_size", f64),
         ("tick_size", f64), ("is_active", pa.bool_()), ("instrument_id", pa.int64()), ("price_index", text)]
    )
    assert INDEX.raw_schema == pa.schema(
        [(PARTITION_COLUMN, pa.date32()), ("snapshot_time", ts), ("index_name", text), ("index_price", f64),
         ("estimated_delivery_price", f64)]
    )
    assert MARKET.raw_schema == pa.schema(
        [(PARTITION_COLUMN, pa.date32()), ("market_id", text), ("slug", text), ("question", text),
         ("condition_id", text), ("event_slug", text), ("event_title", text), ("group_item_title", text),
         ("threshold_usd", f64), ("direction", text), ("period_start", pa.date32()), ("period_end", pa.date32()),
         ("yes_token_id", text), ("no_token_id", text), ("yes_price", f64), ("volume_usd", f64),
         ("liquidity_usd", f64), ("active", pa.bool_()), ("closed", pa.bool_()), ("listed_at", ts),
         ("end_date", ts), ("resolved_outcome", text), ("resolved_at", ts), ("headline", pa.bool_())]
    )
    assert HISTORY.raw_schema == pa.schema(
        [(PARTITION_COLUMN, pa.date32()), ("yes_token_id", text), ("point_time", ts), ("yes_price", f64)]
    )
    got = {d.name: (d.key_columns, d.event_time_column, d.backfillable, d.history)
           for d in (*deribit_reference.DATASETS, *polymarket.DATASETS)}
    assert got == {
        "deribit/option_instruments": ((PARTITION_COLUMN, "instrument_name"), None, False,
                                       "current listing only: archive nightly"),
        "deribit/index_price": ((PARTITION_COLUMN,), None, False, "current value only: archive nightly"),
        "polymarket/markets": ((PARTITION_COLUMN, "market_id"), None, False,
                               "current state only: archive nightly (closed markets only with closed=true)"),
        "polymarket/prices_history": ((PARTITION_COLUMN, "yes_token_id", "point_time"), "point_time", True,
                                      "each followed market from its listing to its resolution (tokens from "
                                      "polymarket/markets)"),
    }
    assert MARKET.parse_takes_params and HISTORY.parse_takes_params and MARKET.empty_day_ok
    assert HISTORY.upstream == ("polymarket/markets",) and HISTORY.bind is not None
    for spec in (*deribit_reference.DATASETS, *polymarket.DATASETS):
        assert spec.description and "\n" not in spec.description and len(spec.description) < 140


def test_request_builders_use_the_documented_urls_and_params():
    r = INSTRUMENTS.build_request(NOV21)
    assert (r.source, r.dataset, r.day) == ("deribit", "option_instruments", NOV21)
    assert r.url == "https://www.deribit.com/api/v2/public/get_instruments"
    assert r.params == {"currency": "BTC", "kind": "option", "expired": "false"}
    r = INDEX.build_request(NOV21)
    assert r.url == "https://www.deribit.com/api/v2/public/get_index_price" and r.params == {"index_name": "btc_usd"}
    r = MARKET.build_request(NOV21)
    assert r.url == "https://gamma-api.polymarket.com/events"
    assert r.params == {"slug": "what-price-will-bitcoin-hit-in-november-2025"}
    r = polymarket.prices_history_request(DEMO_MARKET.yes_token_id, NOV21)
    assert r.url == "https://clob.polymarket.com/prices-history"
    assert r.params == {
        "market": DEMO_MARKET.yes_token_id,
        "startTs": "1763683200",  # 2025-11-21 00:00 UTC
        "endTs": "1763769600",  # 2025-11-22 00:00 UTC
        "fidelity": "60",
    }
    assert all(isinstance(v, str) for v in r.params.values())


def test_the_day_asks_each_configured_event_and_market_open_then_closed():
    planned = polymarket.markets_requests(polymarket.CONFIG, NOV21)
    asked = [(r.url.rsplit("/", 1)[1], r.params["slug"], r.params.get("closed")) for r in planned]
    months = ["november-2025", "december-2025", "january-2026", "february-2026", "march-2026"]
    assert asked == [
        *[("events", f"what-price-will-bitcoin-hit-in-{m}", c) for m in months for c in (None, "true")],
        ("markets", DEMO_MARKET.slug, None), ("markets", DEMO_MARKET.slug, "true"),
    ]
    # the pages chain through the day's plan, and end with it
    request, walked = MARKET.build_request(NOV21), []
    while request is not None:
        walked.append(request)
        request = MARKET.next_page(request, b"[]")
    assert walked == planned
    # a single market is asked from its listing to its end + grace days, a series' month from list_ahead before it
    config = polymarket.CONFIG
    assert not MARKET.covers(dt.date(2025, 5, 31)) and MARKET.covers(dt.date(2025, 6, 1))
    last = {r.params["slug"] for r in polymarket.markets_requests(config, dt.date(2026, 2, 3))}
    late = {r.params["slug"] for r in polymarket.markets_requests(config, dt.date(2026, 2, 5))}
    assert DEMO_MARKET.slug in last and DEMO_MARKET.slug not in late  # ends 2026-02-01, + 3 grace days
    assert DEMO_MARKET.event_slug in last and DEMO_MARKET.event_slug not in late  # January ends 01-31, + 3


def test_the_configured_markets_file_is_valid_and_another_config_can_be_used():
    config = polymarket.CONFIG
    assert config.headline_slugs == {DEMO_MARKET.slug}
    (series,) = config.series
    assert series.slug_of(2026, 1) == DEMO_MARKET.event_slug
    assert series.month_of("what-price-will-bitcoin-hit-in-march-2027") == (2027, 3)
    assert series.month_of("what-price-will-bitcoin-hit-in-smarch-2027") is None
    other = parse_config(
        'grace_days = 1\n[[market]]\nslug = "bitcoin-above-90k-on-december-5"\nlisted = 2025-12-01\n'
        'ends = 2025-12-05\n'
    )
    spec = polymarket.markets_dataset(other)
    assert spec.build_request(dt.date(2025, 12, 2)).params == {"slug": "bitcoin-above-90k-on-december-5"}
    assert spec.covers(dt.date(2025, 12, 6)) and not spec.covers(dt.date(2025, 12, 7))
    assert not spec.covers(dt.date(2025, 11, 30))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[[market]]\nslug = \"Bad Slug\"\nlisted = 2025-01-01\nends = 2025-02-01\n", "is not a Polymarket slug"),
        ("[[market]]\nslug = \"ok\"\nlisted = 2025-03-01\nends = 2025-02-01\n", "`ends` 2025-02-01 is before"),
        ("[[market]]\nslug = \"ok\"\nends = 2025-02-01\n", "missing `listed`"),
        ("[[series]]\nname = \"m\"\nevent_slug = \"btc-{month}\"\nfirst_month = \"2025-01\"\n",
         "needs both {month} and {year}"),
        ("[[series]]\nname = \"m\"\nevent_slug = \"btc-{month}-{year}\"\nfirst_month = \"2025-13\"\n",
         "`first_month` must be YYYY-MM"),
        ("grace_days = -1\n", "`grace_days` must be an integer"),
        ("[[markets]]\n", "unknown keys ['markets']"),
        ("[[market]\n", "not valid TOML"),
    ],
)
def test_a_config_mistake_is_one_line_naming_the_entry(text, reason):
    from pipelines.sources.prediction_config import PredictionConfigError

    with pytest.raises(PredictionConfigError) as info:
        parse_config(text)
    assert reason in str(info.value) and "\n" not in str(info.value)


# ---- Deribit instruments -------------------------------------------------------------------------------------


def instrument(name: str = "BTC-28NOV25-90000-C", **over) -> dict:
    m = re.fullmatch(r"BTC-(\d+)([A-Z]{3})(\d\d)-(\d+)-([CP])", name)
    row = {
        "price_index": "btc_usd", "rfq": False, "kind": "option", "instrument_name": name,
        "option_type": "call" if m and m[5] == "C" else "put", "strike": float(m[4]) if m else 1.0,
        "maker_commission": 0.0003, "taker_commission": 0.0003, "instrument_type": "reversed",
        "expiration_timestamp": 1764316800000, "creation_timestamp": 1761897600000, "is_active": True,
        "tick_size": 0.0001, "contract_size": 1.0, "instrument_id": 412345, "min_trade_amount": 0.1,
        "settlement_currency": "BTC", "settlement_period": "month", "base_currency": "BTC", "counter_currency": "USD",
        "quote_currency": "BTC", "tick_size_steps": [{"above_price": 0.005, "tick_size": 0.0005}],
    }
    row.update(over)
    return row


def deribit_body(result, us_out: int | None = NIGHTLY_US, **envelope) -> bytes:
    body: dict = {"jsonrpc": "2.0", "result": result, "usIn": (us_out or 0) - 900, "usOut": us_out, "usDiff": 900,
                  "testnet": False}
    if us_out is None:
        del body["usOut"]
    body.update(envelope)
    return json.dumps(body).encode()


def test_instruments_read_the_real_sample_keeping_options_only(real_fixtures):
    raw = (real_fixtures / "deribit" / "get_instruments_sample.json").read_bytes()
    assert {i["kind"] for i in json.loads(raw)["result"]} == {"future", "option", "future_combo"}
    day = dt.date(2025, 12, 9)  # usOut 1765308000000500 = 2025-12-09 19:20 UTC
    table = INSTRUMENTS.parse(raw, day, dt.datetime(2025, 12, 9, 19, 21, tzinfo=UTC))
    assert table.schema == INSTRUMENTS.raw_schema
    assert table.to_pylist() == [
        {
            "partition_date": day, "instrument_name": "BTC-27DEC24-100000-C", "option_type": "call",
            "strike": 100000.0,
            # the sample's expiry is 12:00 UTC (edited: Deribit's is 08:00), still on the name's day
            "expiration_time": dt.datetime(2024, 12, 27, 12, 0), "creation_time": dt.datetime(2024, 6, 28, 8, 0),
            "settlement_period": "month", "contract_size": 1.0, "tick_size": 0.0005, "is_active": True,
            "instrument_id": 345678, "price_index": "btc_usd",
        }
    ]


def test_the_single_instrument_object_reads_the_same_inside_a_listing(real_fixtures):
    # public/get_instrument returns one object; get_instruments returns a list of the same objects
    one = json.loads((real_fixtures / "deribit" / "get_instrument_option_sample.json").read_bytes())
    listing = dict(one, result=[one["result"]])
    day = dt.date(2025, 12, 9)  # usOut 1765297564479750 = 2025-12-09 16:26 UTC
    table = INSTRUMENTS.parse(json.dumps(listing).encode(), day, LATE)
    assert table.column("instrument_name").to_pylist() == ["BTC-27DEC24-100000-C"]
    assert table.column("strike").to_pylist() == [one["result"]["strike"]]
    assert parse_error(INSTRUMENTS, json.dumps(one).encode(), day).endswith(
        "result must be an array of instruments, got dict"
    )


def test_instruments_keep_btc_inverse_options_sorted_and_nulls_for_missing_optional_fields():
    rows = [
        instrument("BTC-5DEC25-85000-P", expiration_timestamp=1764921600000, tick_size=None),
        instrument("BTC-28NOV25-90000-C"),
        instrument("BTC_USDC-28NOV25-90000-C"),  # linear USDC option
        instrument("BTC-PERPETUAL", kind="future"),
        {k: v for k, v in instrument("BTC-28NOV25-95000-C").items() if k != "instrument_id"},
    ]
    table = INSTRUMENTS.parse(deribit_body(rows), NOV21, NIGHTLY)
    assert table.column("instrument_name").to_pylist() == [
        "BTC-28NOV25-90000-C", "BTC-28NOV25-95000-C", "BTC-5DEC25-85000-P"
    ]
    assert table.column("tick_size").to_pylist() == [0.0001, 0.0001, None]
    assert table.column("instrument_id").to_pylist() == [412345, None, 412345]
    assert table.column("option_type").to_pylist() == ["call", "call", "put"]
    assert table.column("expiration_time").to_pylist()[2] == dt.datetime(2025, 12, 5, 8)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (deribit_body(None, error={"message": "too_many_requests", "code": 10028}),
         "error envelope: code 10028: too_many_requests"),
        (deribit_body([]), "empty result"),
        (deribit_body([instrument("BTC-PERPETUAL", kind="future")]), "no BTC option instruments"),
        (deribit_body({"a": 1}), "result must be an array"),
        (b"<html><body>502 Bad Gateway</body></html>", "HTML page instead of JSON"),
        (b"[]", "expected a JSON-RPC object"),
        (deribit_body([instrument()], us_out=None), "missing field 'usOut'"),
        (deribit_body([instrument()], us_out=NIGHTLY_US + 2 * 86_400_000_000), "snapshot taken at 2025-11-24T00:30"),
        (deribit_body([instrument()], us_out=NIGHTLY_US - 2 * 86_400_000_000), "must be taken between"),
        (deribit_body([{k: v for k, v in instrument().items() if k != "strike"}]),
         "missing field 'strike' in BTC-28NOV25-90000-C"),
        (deribit_body([instrument(strike=95000.0)]), "strike 95000.0 contradicts the name's 90000"),
        (deribit_body([instrument(option_type="put")]), "option_type 'put' contradicts the name's 'C'"),
        (deribit_body([instrument(expiration_timestamp=1764403200000)]), "is not on the name's day 2025-11-28"),
        (deribit_body([instrument("BTC-31NOV25-90000-C")]), "is not a calendar day"),
        (deribit_body([instrument(creation_timestamp=1764403200000)]), "after its expiry"),
        (deribit_body([instrument(is_active="true")]), "is_active must be a JSON boolean"),
        (deribit_body([instrument(strike="90000")]), "strike must be a JSON number"),
        (deribit_body([instrument(contract_size=0.0)]), "non-positive contract_size"),
        (deribit_body([instrument(instrument_id=1.5)]), "instrument_id must be a JSON integer"),
        (deribit_body([instrument(), instrument()]), "appears twice"),
        # an option that is not a BTC option is not dropped: the body is not the BTC listing asked for
        (deribit_body([instrument(), instrument("ETH-28NOV25-3000-C")]),
         "result[1] 'ETH-28NOV25-3000-C' is an option but not a BTC option"),
        (deribit_body([instrument(), instrument("BTC-05DEC25-90000-P")]), "'BTC-05DEC25-90000-P' is an option but"),
        (deribit_body(["BTC-28NOV25-90000-C"]), "result[0] is not an object"),
    ],
)
def test_instrument_errors(body, reason):
    message = parse_error(INSTRUMENTS, body, NOV21)
    assert reason in message, message


def test_a_snapshot_from_after_the_fetch_is_refused():
    message = parse_error(INSTRUMENTS, deribit_body([instrument()]), NOV21, dt.datetime(2025, 11, 22, 0, 0, tzinfo=UTC))
    assert "is after fetched_at" in message


# ---- Deribit index price -------------------------------------------------------------------------------------


def test_index_price_reads_the_documented_shape_with_the_server_time():
    body = deribit_body({"index_price": 88661.74, "estimated_delivery_price": 88661.74})
    table = INDEX.parse(body, NOV21, NIGHTLY)
    assert table.schema == INDEX.raw_schema
    assert table.to_pylist() == [
        {"partition_date": NOV21, "snapshot_time": dt.datetime(2025, 11, 22, 0, 30), "index_name": "btc_usd",
         "index_price": 88661.74, "estimated_delivery_price": 88661.74}
    ]
    # an integer price is a JSON number too
    assert INDEX.parse(deribit_body({"index_price": 88662, "estimated_delivery_price": 88662}), NOV21, NIGHTLY
                       ).column("index_price").to_pylist() == [88662.0]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (deribit_body(None, error={"message": "Invalid params", "code": -32602}), "error envelope: code -32602"),
        (deribit_body([88661.74]), "result must be an object"),
        (deribit_body({"index_price": 88661.74}), "missing field 'estimated_delivery_price' in result"),
        (deribit_body({"index_price": "88661.74", "estimated_delivery_price": 1.0}),
         "index_price must be a JSON number"),
        (deribit_body({"index_price": 0.0, "estimated_delivery_price": 1.0}), "non-positive index_price"),
        (b'{"jsonrpc":"2.0","result":{"index_price":NaN,"estimated_delivery_price":1.0},"usOut":1}', "non-finite"),
        (deribit_body({"index_price": 1.0, "estimated_delivery_price": 1.0}, us_out=NIGHTLY_US // 1000),
         "snapshot taken at 1970-01-21"),  # usOut in ms instead of µs
        (b"", "empty body"),
    ],
)
def test_index_price_errors(body, reason):
    message = parse_error(INDEX, body, NOV21)
    assert reason in message, message


# ---- Polymarket Gamma market ---------------------------------------------------------------------------------


def parse_market(market: dict, day: dt.date, *, slug: str | None = None) -> dict:
    """GET /markets?slug= answers an array: the one market's row."""
    (row,) = MARKET.parse(json.dumps([market]).encode(), day, LATE, {"slug": slug or market["slug"]}).to_pylist()
    return row


def test_market_reads_the_real_closed_yes_no_market(real_fixtures):
    market = json.loads((real_fixtures / "polymarket" / "gamma_market_closed.json").read_bytes())
    day = dt.date(2026, 3, 20)
    row = parse_market(market, day)
    assert {k: row[k] for k in ("partition_date", "market_id", "condition_id", "slug", "question", "end_date",
                                "yes_token_id", "no_token_id", "yes_price", "volume_usd", "liquidity_usd",
                                "active", "closed", "headline")} == {
        "partition_date": day, "market_id": "1460332",
        "condition_id": "0x8ccc3f4951ff02c1d34b87988752b4444ad17228732780a6cf22afefe8478bb6",
        "slug": "katana-fdv-above-1b-one-day-after-launch-395-996",
        "question": "Katana FDV above $1B one day after launch?", "end_date": dt.datetime(2028, 1, 1, 5, 0),
        "yes_token_id": "108872296183993054938831082799825620165440189659433018108548854929333464287226",
        "no_token_id": "89711174926330519158043401581181146613785179104141808554061413232025882707365",
        "yes_price": 0.0,
        # a resolved market's object has neither volume nor liquidity: unknown, not zero
        "volume_usd": None, "liquidity_usd": None, "active": True, "closed": True, "headline": False,
    }
    # not a price market: no threshold or direction; its own start..end is the period
    assert row["threshold_usd"] is None and row["direction"] is None and row["period_end"] == dt.date(2028, 1, 1)
    assert row["resolved_outcome"] == ("no" if json.loads(market["outcomePrices"]) == ["0", "1"] else None)


def test_market_reads_the_live_capture_with_string_volume_and_liquidity(real_fixtures):
    doc = json.loads((real_fixtures / "polymarket" / "api_response_samples_2026-02-21.json").read_bytes())
    item = doc["gamma_api"]["GET /markets?active=true&closed=false&limit=5"]["sample_item"]
    assert isinstance(item["volume"], str) and isinstance(item["outcomePrices"], str)
    row = parse_market(item, dt.date(2026, 2, 20))
    assert row["yes_price"] == 0.0295 and row["volume_usd"] == 1198758.20317 and row["liquidity_usd"] == 20526.9358
    assert row["yes_token_id"] == doc["_meta"]["market_used"]["yes_token_id"]
    assert row["no_token_id"] == doc["_meta"]["market_used"]["no_token_id"]
    assert row["end_date"] == dt.datetime(2025, 12, 31, 12, 0) and row["closed"] is False
    assert row["resolved_outcome"] is None and row["resolved_at"] is None


def test_an_up_down_market_is_not_a_yes_no_market(real_fixtures):
    market = json.loads((real_fixtures / "polymarket" / "gamma_market_btc_updown.json").read_bytes())
    message = parse_error(MARKET, json.dumps([market]).encode(), dt.date(2026, 3, 11), params={"slug": market["slug"]})
    assert message.endswith('not a Yes/No market: outcomes ["Up", "Down"]')


def gamma(**over) -> dict:
    market = {
        "id": DEMO_MARKET.market_id, "question": DEMO_MARKET.question, "conditionId": DEMO_MARKET.condition_id,
        "slug": DEMO_MARKET.slug, "endDate": "2026-02-01T05:00:00Z", "liquidity": "57728.0526",
        "outcomes": '["Yes", "No"]', "outcomePrices": '["0.235", "0.765"]', "volume": "3175025.40525",
        "active": True, "closed": False, "groupItemTitle": "↑ 100,000",
        "clobTokenIds": json.dumps([DEMO_MARKET.yes_token_id, DEMO_MARKET.no_token_id]),
        "events": [{"slug": DEMO_MARKET.event_slug, "title": DEMO_MARKET.event_title}],
    }
    market.update(over)
    return {k: v for k, v in market.items() if v is not ...}


def gamma_body(*markets) -> bytes:
    return json.dumps(list(markets) or [gamma()]).encode()


def test_market_takes_the_yes_outcome_wherever_it_is_and_what_the_question_asks():
    swapped = gamma(outcomes='["No", "Yes"]', outcomePrices='["0.765", "0.235"]',
                    clobTokenIds=json.dumps([DEMO_MARKET.no_token_id, DEMO_MARKET.yes_token_id]))
    row = MARKET.parse(gamma_body(swapped), NOV21, NIGHTLY, SLUG_PARAMS).to_pylist()[0]
    assert row["yes_price"] == 0.235 and row["yes_token_id"] == DEMO_MARKET.yes_token_id
    assert row["no_token_id"] == DEMO_MARKET.no_token_id and row["market_id"] == "618354"
    assert row["volume_usd"] == 3175025.40525 and row["liquidity_usd"] == 57728.0526
    assert (row["threshold_usd"], row["direction"]) == (100_000.0, "reach")
    assert (row["period_start"], row["period_end"]) == (dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    assert row["event_slug"] == DEMO_MARKET.event_slug and row["headline"] is True


@pytest.mark.parametrize(
    ("group", "question", "expected"),
    [
        ("↑ 100,000", "", (100_000.0, "reach")),
        ("↓ 80,000", "", (80_000.0, "dip")),
        (None, "Will Bitcoin reach $150,000 in December?", (150_000.0, "reach")),
        (None, "Will Bitcoin dip to $75,000 in January 2026?", (75_000.0, "dip")),
        (None, "Bitcoin above $90k on December 5?", (90_000.0, "reach")),
        (None, "Will Katana launch?", (None, None)),
    ],
)
def test_threshold_and_direction_from_the_rung_or_the_question(group, question, expected):
    assert polymarket.threshold_and_direction(group, question) == expected


def test_a_resolved_market_carries_its_outcome_and_time_and_an_unlisted_one_is_no_row():
    resolved = gamma(closed=True, outcomePrices='["1", "0"]', closedTime="2026-01-18 14:51:00+00", liquidity=...)
    row = MARKET.parse(gamma_body(resolved), dt.date(2026, 1, 19), LATE, {"slug": DEMO_MARKET.slug,
                                                                         "closed": "true"}).to_pylist()[0]
    assert (row["resolved_outcome"], row["resolved_at"]) == ("yes", dt.datetime(2026, 1, 18, 14, 51))
    disputed = gamma(closed=True, outcomePrices='["0.5", "0.5"]')
    assert MARKET.parse(gamma_body(disputed), NOV21, LATE, SLUG_PARAMS).to_pylist()[0]["resolved_outcome"] is None
    # an empty answer: not listed yet, delisted, or closed (asked without closed=true): no rows, not an error
    assert MARKET.parse(b"[]", NOV21, LATE, SLUG_PARAMS).num_rows == 0


def test_an_event_page_lists_its_markets():
    rungs = [gamma(id="1", slug="a", groupItemTitle="↑ 120,000", events=...),
             gamma(id="2", slug="b", groupItemTitle="↓ 80,000", events=...,
                   clobTokenIds=json.dumps(["11", "12"]))]
    event = {"slug": DEMO_MARKET.event_slug, "title": DEMO_MARKET.event_title, "markets": rungs}
    rows = MARKET.parse(json.dumps([event]).encode(), NOV21, LATE, {"slug": DEMO_MARKET.event_slug}).to_pylist()
    assert [(r["slug"], r["threshold_usd"], r["direction"], r["event_slug"]) for r in rows] == [
        ("a", 120_000.0, "reach", DEMO_MARKET.event_slug), ("b", 80_000.0, "dip", DEMO_MARKET.event_slug)]
    empty = {"slug": DEMO_MARKET.event_slug, "title": "t", "markets": []}
    assert MARKET.parse(json.dumps([empty]).encode(), NOV21, LATE, {"slug": DEMO_MARKET.event_slug}).num_rows == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (json.dumps(gamma()).encode(), "expected a JSON array of events or markets, got an object"),
        (b'{"error": "rate limited"}', "error envelope: rate limited"),
        (gamma_body(gamma(slug="another-market")), "asked for market 'will-bitcoin-reach-100000-in-january-2026', "
                                                   "the answer is market 'another-market'"),
        (json.dumps([{"slug": "another-event", "markets": []}]).encode(), "the answer is event 'another-event'"),
        (gamma_body(gamma(), gamma(question="Other?")), "appears twice with different fields"),
        (gamma_body(gamma(outcomes=["Yes", "No"])), "field outcomes must be a JSON-encoded string"),
        (gamma_body(gamma(outcomePrices='["0.2"')), "field outcomePrices is not a JSON-encoded array"),
        (gamma_body(gamma(outcomePrices='["0.2"]')), "differ in length"),
        (gamma_body(gamma(outcomePrices='["0.2x", "0.8"]')), "outcomePrices[Yes] is not a decimal number"),
        (gamma_body(gamma(outcomePrices='["1.2", "-0.2"]')), "outside [0, 1]"),
        (gamma_body(gamma(clobTokenIds=json.dumps(["0xabc", DEMO_MARKET.no_token_id]))),
         "is not a decimal token id"),
        (gamma_body(gamma(volume=3175025.4)), "field volume must be a decimal string"),
        (gamma_body(gamma(liquidity="-1")), "field liquidity is negative"),
        (gamma_body(gamma(endDate="2026-02-01")), "field endDate has no time zone"),
        (gamma_body(gamma(endDate="Feb 1, 2026")), "field endDate is not an ISO-8601 timestamp"),
        (gamma_body(gamma(closed="false")), "field closed must be a JSON boolean"),
        (gamma_body(gamma(id=618354)), "field id must be a non-empty string"),
        (gamma_body(gamma(conditionId="0x12")), "conditionId is not 0x + 64 hex digits"),
        (gamma_body(gamma(question=...)), "missing field 'question' in market"),
        (gamma_body(gamma(closed=True, outcomePrices='["1", "0"]', closedTime="yesterday")),
         "field closedTime is not a timestamp"),
    ],
)
def test_market_errors(body, reason):
    message = parse_error(MARKET, body, NOV21)
    assert reason in message, message


# ---- Polymarket CLOB prices history --------------------------------------------------------------------------


def history_body(points) -> bytes:
    return json.dumps({"history": [{"t": t, "p": p} for t, p in points]}).encode()


def test_prices_history_keeps_the_points_of_the_day_sorted():
    start = s(NOV21)
    points = [(start + 3600, 0.245), (start, 0.255), (start - 3600, 0.27), (start + 86_400, 0.215),
              (start + 82_800, 0.235)]
    table = HISTORY.parse(history_body(points), NOV21, NIGHTLY, TOKEN_PARAMS)
    assert table.schema == HISTORY.raw_schema
    token = DEMO_MARKET.yes_token_id
    assert table.to_pylist() == [
        {"partition_date": NOV21, "yes_token_id": token, "point_time": dt.datetime(2025, 11, 21, 0), "yes_price": 0.255},
        {"partition_date": NOV21, "yes_token_id": token, "point_time": dt.datetime(2025, 11, 21, 1), "yes_price": 0.245},
        {"partition_date": NOV21, "yes_token_id": token, "point_time": dt.datetime(2025, 11, 21, 23),
         "yes_price": 0.235},
    ]
    # prices 0 and 1 are JSON integers on a resolved market
    assert HISTORY.parse(history_body([(start, 1)]), NOV21, NIGHTLY, TOKEN_PARAMS).column("yes_price").to_pylist() == [
        1.0]
    # no point inside the day (not trading yet, or resolved before it): no rows, not an error
    assert HISTORY.parse(b'{"history": []}', NOV21, NIGHTLY, TOKEN_PARAMS).num_rows == 0
    assert HISTORY.parse(history_body([(start - 60, 0.3)]), NOV21, NIGHTLY, TOKEN_PARAMS).num_rows == 0


def test_the_data_api_v2_shape_is_refused_with_a_pointer(real_fixtures):
    raw = (real_fixtures / "polymarket" / "data_v2_prices-history.json").read_bytes()
    assert "data-api v2 shape" in parse_error(HISTORY, raw, NOV21)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"error": "invalid filters: startTs is after endTs"}', "error envelope: invalid filters"),
        (b'{"data": []}', "missing field 'history' in the body"),
        (b'{"history": {"t": 1}}', "history must be an array"),
        (history_body([(s(NOV21) * 1000, 0.3)]), "looks like milliseconds"),
        (history_body([(s(NOV21), 1.3)]), "history[0].p = 1.3 is outside [0, 1]"),
        (history_body([(s(NOV21), "0.3")]), "history[0].p must be a JSON number"),
        (history_body([(float(s(NOV21)), 0.3)]), "history[0].t must be a JSON integer"),
        (history_body([(s(NOV21), 0.3), (s(NOV21), 0.31)]), "two points at 2025-11-21T00:00"),
        (b'{"history": [[1763683200, 0.3]]}', "history[0] is not an object"),
        (b"<!DOCTYPE html><html>Cloudflare</html>", "HTML page instead of JSON"),
    ],
)
def test_prices_history_errors(body, reason):
    message = parse_error(HISTORY, body, NOV21)
    assert reason in message, message


def test_prices_history_needs_to_know_the_token_it_asked_for():
    assert "names no CLOB token" in parse_error(HISTORY, history_body([(s(NOV21), 0.3)]), NOV21, params={})


def test_prices_history_refuses_a_day_that_is_not_over():
    late_evening = dt.datetime(2025, 11, 21, 23, 59, tzinfo=UTC)
    message = parse_error(HISTORY, history_body([(s(NOV21), 0.3)]), NOV21, late_evening)
    assert "day not over" in message


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-2 * 1440, max_value=3 * 1440), unique=True, max_size=80))
def test_prices_history_keeps_exactly_the_in_day_minutes(offsets):
    start = s(NOV21)
    points = [(start + 60 * k, round(0.2 + 0.0001 * (k % 1000), 4)) for k in offsets]
    inside = sorted((t, p) for t, p in points if start <= t < start + 86_400)
    body = history_body(points)
    table = HISTORY.parse(body, NOV21, NIGHTLY, TOKEN_PARAMS)
    assert [(int(r["point_time"].replace(tzinfo=UTC).timestamp()), r["yes_price"]) for r in table.to_pylist()] == inside
