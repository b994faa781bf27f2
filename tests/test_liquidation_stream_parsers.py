"""The three venues' liquidation streams: feeds a collector connects to, frame classification and parsing, on the
venues' recorded samples (tests/fixtures/liquidation_streams, PROVENANCE.md there) and on frames built from the
documented shapes where no BTC recording exists."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.ingest.errors import ParseError
from pipelines.sources import okx
from pipelines.sources import liquidation_streams as ls
from pipelines.sources.spec import validate_name

FIXTURES = Path(__file__).parent / "fixtures" / "liquidation_streams"
RECEIVED = dt.datetime(2026, 12, 2, 10, 0, 0, 123456)


@pytest.fixture
def usdm_sample(real_fixtures) -> str:
    """Binance's USDⓈ-M `forceOrder` event: the workplace's recording (../shared/fixtures/real), never copied here."""
    return (real_fixtures / "binance" / "ws_force_order_event.json").read_text(encoding="utf-8")


def sample(venue: str, name: str) -> str:
    return (FIXTURES / venue / name).read_text(encoding="utf-8")


def utc_ms(ms: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)


def parse_error(venue: str, frame: str, received_at: dt.datetime = RECEIVED) -> str:
    with pytest.raises(ParseError) as info:
        ls.parse_frame(venue, frame, received_at)
    message = str(info.value)
    assert message.startswith(f"{venue}/liquidation_stream for {received_at.date().isoformat()}: "), message
    assert "\n" not in message
    return message


# ---- feeds ---------------------------------------------------------------------------------------------


def test_feeds_name_the_documented_endpoints_subscriptions_and_heartbeats():
    assert sorted(ls.FEEDS) == sorted(ls.VENUES) == ["binance", "bybit", "okx"]
    for venue in ls.VENUES:
        assert validate_name("venue", venue) == venue  # names reach archive paths
    binance = {f.market: f for f in ls.FEEDS["binance"]}
    assert binance["usdm"].url == "wss://fstream.binance.com/market/ws/!forceOrder@arr"
    assert binance["coinm"].url == "wss://dstream.binance.com/ws/!forceOrder@arr"
    for feed in binance.values():
        assert feed.subscribe == () and feed.ping_text is None and feed.max_connection_s == 24 * 3600
        assert feed.throttled and "1000 ms" in feed.coverage and "lower bound" in feed.coverage
    bybit = {f.market: f for f in ls.FEEDS["bybit"]}
    assert bybit["linear"].url == "wss://stream.bybit.com/v5/public/linear"
    assert bybit["inverse"].url == "wss://stream.bybit.com/v5/public/inverse"
    assert [json.loads(t) for t in bybit["linear"].subscribe] == [
        {"op": "subscribe", "args": ["allLiquidation.BTCUSDT", "allLiquidation.BTCPERP"]}]
    assert [json.loads(t) for t in bybit["inverse"].subscribe] == [
        {"op": "subscribe", "args": ["allLiquidation.BTCUSD"]}]
    for feed in bybit.values():
        assert json.loads(feed.ping_text) == {"op": "ping"} and feed.ping_interval_s == 20
        assert not feed.throttled
    (okx_feed,) = ls.FEEDS["okx"]
    assert okx_feed.url == "wss://ws.okx.com:8443/ws/v5/public"
    assert [json.loads(t) for t in okx_feed.subscribe] == [{"op": "subscribe", "args": [
        {"channel": "liquidation-orders", "instType": "SWAP"},
        {"channel": "liquidation-orders", "instType": "FUTURES"}]}]
    assert okx_feed.ping_text == "ping" and okx_feed.ping_interval_s < 30 and okx_feed.throttled
    assert "total number of liquidations" in okx_feed.coverage
    # Every followed instrument is reachable through exactly one feed.
    followed = [i for feeds in ls.FEEDS.values() for f in feeds for i in f.instruments]
    assert sorted(map(repr, followed)) == sorted(map(repr, ls.INSTRUMENTS))


def test_okx_contract_value_is_the_rest_parsers():
    inst = ls.instrument_for("okx", "BTC-USDT-SWAP", "SWAP")
    assert inst.contract_value == Decimal(str(okx.CONTRACT_VALUE_BTC["BTC-USDT-SWAP"])) == Decimal("0.01")


def test_instrument_symbols_of_a_venue_are_disjoint_across_markets():
    # The archive holds one venue's frames of every market: a symbol must name its market by itself.
    for symbol in ("BTCUSDT", "BTCUSDC", "BTCUSDT_261225", "BTCUSD_PERP", "BTCUSD_261225", "BTCPERP", "BTCUSD",
                   "BTC-USDT-SWAP", "BTC-USD-SWAP", "BTC-USD-261225"):
        for venue in ls.VENUES:
            assert sum(i.matches(symbol) for i in ls.INSTRUMENTS if i.venue == venue) <= 1
    assert ls.instrument_for("binance", "ETHUSDT") is None
    assert ls.instrument_for("binance", "BTCDOMUSDT") is None
    assert ls.instrument_for("okx", "BTC-USD-SWAP", "FUTURES") is None


# ---- Binance -------------------------------------------------------------------------------------------


def test_binance_usdm_recorded_sample_sell_is_a_long_liquidated_in_btc(usdm_sample):
    parsed = ls.parse_frame("binance", usdm_sample, RECEIVED)
    assert parsed.frame == ls.FrameKind(ls.Kind.DATA) and parsed.skipped == {}
    (row,) = parsed.rows
    assert row == {
        "venue": "binance", "instrument": "BTCUSDT", "market": "usdm", "contract_type": "linear", "side": "long",
        "price": 9910.12345678,  # the average fill price ap, not the order price p 9910
        "quantity": 0.014, "quantity_unit": "BTC", "btc": 0.014,
        "usd": float(Decimal("0.014") * Decimal("9910.12345678")),  # 138.74172839492
        "event_time": dt.datetime(2019, 9, 9, 7, 34, 20, 893000), "received_at": RECEIVED,
        "order_key": "binance|BTCUSDT|1568014460893|long|9910.12345678|0.014",
    }
    assert row["usd"] == 138.74172839492


def test_binance_coinm_recorded_sample_is_inverse_contracts_of_100_usd():
    (row,) = ls.parse_frame("binance", sample("binance", "force_order_coinm_BTCUSD_200925.json"), RECEIVED).rows
    assert (row["instrument"], row["market"], row["contract_type"], row["side"]) == (
        "BTCUSD_200925", "coinm", "inverse", "long")
    assert (row["quantity"], row["quantity_unit"], row["price"]) == (1.0, "contracts", 9496.5)
    assert row["usd"] == 100.0
    assert row["btc"] == float(Decimal(100) / Decimal("9496.5"))  # 0.010530195335118201…, not 1 BTC
    assert row["event_time"] == utc_ms(1591154240949)


def test_binance_buy_is_a_short_and_other_coins_are_skipped_and_counted(usdm_sample):
    frame = json.loads(usdm_sample)
    frame["o"]["S"] = "BUY"
    (row,) = ls.parse_frame("binance", json.dumps(frame), RECEIVED).rows
    assert row["side"] == "short"
    frame["o"]["s"] = "ETHUSDT"
    parsed = ls.parse_frame("binance", json.dumps(frame), RECEIVED)
    assert parsed.rows == () and parsed.skipped == {"not followed": 1}
    # A combined-stream wrapper and an array of events read the same.
    btc = json.loads(usdm_sample)
    wrapped = ls.parse_frame("binance", json.dumps({"stream": "!forceOrder@arr", "data": btc}), RECEIVED)
    listed = ls.parse_frame("binance", json.dumps([frame, btc]), RECEIVED)
    assert wrapped.rows == listed.rows and listed.skipped == {"not followed": 1}


def test_binance_unfilled_order_holds_nothing_and_no_average_price_falls_back_to_the_order_price(usdm_sample):
    frame = json.loads(usdm_sample)
    frame["o"].update({"ap": "0", "z": "0.014"})
    (row,) = ls.parse_frame("binance", json.dumps(frame), RECEIVED).rows
    assert row["price"] == 9910.0 and row["order_key"].endswith("|9910|0.014")
    frame["o"]["z"] = "0"
    assert ls.parse_frame("binance", json.dumps(frame), RECEIVED).skipped == {"not filled": 1}


def test_binance_subscribe_response_and_error_recorded_samples():
    assert ls.classify("binance", sample("binance", "subscribe_response.json")) == ls.FrameKind(ls.Kind.SUBSCRIBED)
    refused = ls.classify("binance", sample("binance", "error_request_id.json"))
    assert refused == ls.FrameKind(ls.Kind.ERROR, "2", "Invalid request: request ID must be an unsigned integer")
    parsed = ls.parse_frame("binance", sample("binance", "error_request_id.json"), RECEIVED)
    assert parsed.frame == refused and parsed.rows == ()
    # Binance's heartbeat is a protocol ping frame answered by the websocket library: a text "pong" is unknown.
    assert ls.classify("binance", "pong").kind == ls.Kind.UNKNOWN


# ---- Bybit ---------------------------------------------------------------------------------------------


def bybit_frame(symbol: str, side: str, v: str, p: str, t: int = 1739502302929, extra: list | None = None) -> str:
    """The documented allLiquidation frame (the recorded ROSEUSDT sample's envelope) with BTC values."""
    frame = json.loads(sample("bybit", "all_liquidation_ROSEUSDT.json"))
    frame["topic"] = f"allLiquidation.{symbol}"
    frame["data"] = [{"T": t, "s": symbol, "S": side, "v": v, "p": p}] + (extra or [])
    return json.dumps(frame)


def test_bybit_recorded_sample_of_another_coin_is_skipped_and_counted():
    parsed = ls.parse_frame("bybit", sample("bybit", "all_liquidation_ROSEUSDT.json"), RECEIVED)
    assert parsed.frame.kind == ls.Kind.DATA and parsed.rows == () and parsed.skipped == {"not followed": 1}


def test_bybit_buy_is_a_long_liquidated_linear_quantity_in_btc():
    (row,) = ls.parse_frame("bybit", bybit_frame("BTCUSDT", "Buy", "0.003", "43511.70"), RECEIVED).rows
    assert (row["side"], row["market"], row["contract_type"], row["quantity_unit"]) == (
        "long", "linear", "linear", "BTC")
    assert (row["quantity"], row["btc"], row["price"]) == (0.003, 0.003, 43511.7)
    assert row["usd"] == float(Decimal("0.003") * Decimal("43511.70")) == 130.5351
    assert row["event_time"] == utc_ms(1739502302929)
    assert row["order_key"] == "bybit|BTCUSDT|1739502302929|long|43511.7|0.003"


def test_bybit_inverse_quantity_is_usd_and_sell_is_a_short():
    (row,) = ls.parse_frame("bybit", bybit_frame("BTCUSD", "Sell", "25000", "62500"), RECEIVED).rows
    assert (row["side"], row["market"], row["contract_type"], row["quantity_unit"]) == (
        "short", "inverse", "inverse", "USD")
    assert (row["quantity"], row["usd"], row["btc"]) == (25000.0, 25000.0, 0.4)  # 25000 USD / 62500, not 25000 BTC


def test_bybit_subscribe_ack_refusal_and_pong_recorded_samples():
    assert ls.classify("bybit", sample("bybit", "subscribe_ack_linear_inverse.json")) == ls.FrameKind(
        ls.Kind.SUBSCRIBED)
    assert ls.classify("bybit", sample("bybit", "subscribe_refused.json")) == ls.FrameKind(
        ls.Kind.ERROR, None, "Invalid topic: invalid.topic.BTCUSDT")
    assert ls.classify("bybit", sample("bybit", "pong_linear_inverse.json")) == ls.FrameKind(ls.Kind.HEARTBEAT)
    assert ls.parse_frame("bybit", sample("bybit", "pong_linear_inverse.json"), RECEIVED).rows == ()


# ---- OKX -----------------------------------------------------------------------------------------------


def okx_frame(inst_id: str, side: str, pos_side: str, sz: str, bk_px: str, ts: str = "1692266434010",
              inst_type: str = "SWAP") -> str:
    """The documented liquidation-orders push (the recorded IOST sample's envelope) with a BTC contract."""
    frame = json.loads(sample("okx", "liquidation_orders_IOST-USDT-SWAP.json"))
    frame["arg"]["instType"] = inst_type
    entry = frame["data"][0]
    entry.update({"instId": inst_id, "instType": inst_type, "instFamily": inst_id.rsplit("-", 1)[0],
                  "uly": inst_id.rsplit("-", 1)[0]})
    entry["details"][0].update({"side": side, "posSide": pos_side, "sz": sz, "bkPx": bk_px, "ts": ts})
    return json.dumps(frame)


def test_okx_recorded_sample_of_another_coin_is_skipped_and_counted():
    parsed = ls.parse_frame("okx", sample("okx", "liquidation_orders_IOST-USDT-SWAP.json"), RECEIVED)
    assert parsed.frame.kind == ls.Kind.DATA and parsed.rows == () and parsed.skipped == {"not followed": 1}


def test_okx_linear_swap_converts_sz_like_the_rest_parser():
    detail = {"side": "sell", "posSide": "long", "bkPx": "64250.3", "sz": "21.85", "bkLoss": "0", "ccy": "",
              "ts": "1764669600123"}
    (row,) = ls.parse_frame("okx", okx_frame("BTC-USDT-SWAP", "sell", "long", "21.85", "64250.3",
                                             ts="1764669600123"), RECEIVED).rows
    assert (row["side"], row["market"], row["contract_type"], row["quantity_unit"]) == (
        "long", "SWAP", "linear", "contracts")
    assert (row["quantity"], row["btc"], row["price"]) == (21.85, 0.2185, 64250.3)
    rest_body = json.dumps({"code": "0", "msg": "", "data": [{"instId": "BTC-USDT-SWAP", "instType": "SWAP",
                                                               "details": [detail]}]}).encode()
    rest = okx.parse_liquidation_orders(rest_body, dt.date(2025, 12, 2), dt.datetime(2026, 1, 1)).to_pylist()
    assert rest[0]["size_btc"] == row["btc"] and rest[0]["ts"] == row["event_time"]
    assert rest[0]["notional_usd"] == pytest.approx(row["usd"], rel=1e-15)
    assert row["order_key"] == "okx|BTC-USDT-SWAP|1764669600123|long|64250.3|21.85"


def test_okx_inverse_swap_and_futures_are_contracts_of_100_usd():
    (row,) = ls.parse_frame("okx", okx_frame("BTC-USD-SWAP", "buy", "short", "3", "60000"), RECEIVED).rows
    assert (row["side"], row["contract_type"], row["usd"], row["btc"]) == ("short", "inverse", 300.0, 0.005)
    (row,) = ls.parse_frame("okx", okx_frame("BTC-USD-261225", "sell", "net", "5", "80000", inst_type="FUTURES"),
                            RECEIVED).rows
    assert (row["side"], row["market"], row["usd"], row["btc"]) == ("long", "FUTURES", 500.0, 0.00625)
    # Net mode: the order side alone says which position; hedge mode must agree with it.
    assert "cannot liquidate a short position" in parse_error(
        "okx", okx_frame("BTC-USD-SWAP", "sell", "short", "3", "60000"))


def test_okx_ack_refusal_notice_and_pong_recorded_samples():
    assert ls.classify("okx", sample("okx", "subscribe_ack.json")) == ls.FrameKind(ls.Kind.SUBSCRIBED)
    refused = ls.classify("okx", sample("okx", "subscribe_refused.json"))
    assert refused.kind == ls.Kind.ERROR and refused.code == "60012"
    assert refused.message.startswith('Invalid request: {"op": "subscribe", "argss"')
    assert ls.classify("okx", sample("okx", "notice_service_upgrade.json")) == ls.FrameKind(
        ls.Kind.NOTICE, "64008", "The connection will soon be closed for a service upgrade. Please reconnect.")
    assert ls.classify("okx", sample("okx", "pong.txt")) == ls.FrameKind(ls.Kind.HEARTBEAT)
    assert ls.parse_frame("okx", sample("okx", "pong.txt"), RECEIVED).rows == ()


# ---- bad input, duplicates, clock skew -----------------------------------------------------------------


@pytest.mark.parametrize("venue,frame,reason", [
    ("binance", "", "empty frame"),
    ("binance", "{\"e\":\"forceOrder\",", "invalid JSON"),
    ("bybit", "<html>502 Bad Gateway</html>", "invalid JSON"),
    ("okx", '{"event":"login","code":"0"}', "not a okx liquidation, heartbeat, ack or error frame"),
    ("okx", "PONG", "invalid JSON"),
    ("bybit", '{"topic":"allLiquidation.BTCUSDT","data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":NaN,"p":"1"}]}',
     "non-finite number NaN"),
])
def test_unknown_or_malformed_frames_are_parse_errors_naming_venue_day_and_reason(venue, frame, reason):
    assert ls.classify(venue, frame).kind == ls.Kind.UNKNOWN  # classify itself never raises
    assert reason in parse_error(venue, frame)


@pytest.mark.parametrize("venue,frame,reason", [
    ("bybit", bybit_frame("BTCUSDT", "Long", "1", "1"), "side S 'Long' is not Buy or Sell"),
    ("bybit", bybit_frame("BTCUSDT", "Buy", "1_000", "1"), "v is not a decimal number: '1_000'"),
    ("bybit", bybit_frame("BTCUSDT", "Buy", "-1", "1"), "v must be positive"),
    ("bybit", bybit_frame("BTCUSDT", "Buy", "1", "1", t=1739502302929000), "looks like microseconds"),
    ("bybit", bybit_frame("BTCUSDT", "Buy", "1", "Infinity"), "p is not a decimal number"),
    ("okx", okx_frame("BTC-USDT-SWAP", "sell", "long", "1", "0"), "bkPx must be positive"),
    ("okx", okx_frame("BTC-USDT-SWAP", "sell", "long", "1", "1", ts="17x"), "ts must be a positive ms timestamp"),
    ("okx", json.dumps({"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [
        {"instId": "BTC-USDT-SWAP", "details": "none"}]}), "details must be an array"),
    ("binance", json.dumps({"e": "forceOrder", "E": 1, "o": {"s": "BTCUSDT", "S": "SELL", "z": "1", "p": "1",
                                                             "ap": "1"}}), "missing field 'T'"),
])
def test_bad_values_in_a_data_frame_are_parse_errors(venue, frame, reason):
    assert reason in parse_error(venue, frame)


def test_unknown_venue_is_refused():
    with pytest.raises(ValueError, match="unknown liquidation venue 'deribit'"):
        ls.classify("deribit", "{}")


def test_the_same_order_twice_has_one_key_and_identical_items_in_one_push_are_two_orders():
    frame = bybit_frame("BTCUSDT", "Sell", "0.5", "97000")
    first = ls.parse_frame("bybit", frame, RECEIVED).rows
    again = ls.parse_frame("bybit", frame, RECEIVED + dt.timedelta(minutes=3)).rows  # after a reconnect
    assert [r["order_key"] for r in first] == [r["order_key"] for r in again]
    item = {"T": 1739502302929, "s": "BTCUSDT", "S": "Sell", "v": "0.5", "p": "97000"}
    batched = ls.parse_frame("bybit", bybit_frame("BTCUSDT", "Sell", "0.5", "97000", extra=[item]), RECEIVED).rows
    assert [r["order_key"] for r in batched] == [first[0]["order_key"], first[0]["order_key"] + "#1"]
    # Padding zeros do not make another order.
    padded = ls.parse_frame("bybit", bybit_frame("BTCUSDT", "Sell", "0.500", "97000.00"), RECEIVED).rows
    assert padded[0]["order_key"] == first[0]["order_key"]


def test_a_frame_stamped_far_from_its_receipt_keeps_its_event_time():
    received = dt.datetime(2026, 12, 5, 0, 0, 1, tzinfo=dt.timezone.utc)
    (row,) = ls.parse_frame("okx", okx_frame("BTC-USDT-SWAP", "buy", "short", "2", "90000", ts="1764633600000"),
                            received).rows
    assert row["event_time"] == dt.datetime(2025, 12, 2) and row["received_at"] == dt.datetime(2026, 12, 5, 0, 0, 1)
    assert ls.skew_ms(row) == (dt.datetime(2026, 12, 5, 0, 0, 1) - dt.datetime(2025, 12, 2)) // dt.timedelta(
        milliseconds=1)


def test_rows_make_a_table_of_the_declared_schema(usdm_sample):
    rows = (ls.parse_frame("binance", usdm_sample, RECEIVED).rows
            + ls.parse_frame("bybit", bybit_frame("BTCUSD", "Buy", "100", "50000"), RECEIVED).rows)
    table = ls.events_table(rows)
    assert table.schema == ls.LIQUIDATION_EVENT_SCHEMA and table.num_rows == 2
    assert table.schema.field("event_time").type == pa.timestamp("ms")
    assert ls.events_table([]).num_rows == 0


# ---- round trip ----------------------------------------------------------------------------------------

decimals = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("999999.9999"), places=4,
                       allow_nan=False, allow_infinity=False)
stamps = st.integers(min_value=1_500_000_000_000, max_value=2_000_000_000_000)


def build(venue: str, symbol: str, market: str, long: bool, price: Decimal, qty: Decimal, ms: int) -> str:
    if venue == "binance":
        return json.dumps({"e": "forceOrder", "E": ms + 1, "o": {
            "s": symbol, "S": "SELL" if long else "BUY", "o": "LIMIT", "f": "IOC", "q": str(qty), "p": str(price),
            "ap": str(price), "X": "FILLED", "l": str(qty), "z": str(qty), "T": ms}})
    if venue == "bybit":
        return bybit_frame(symbol, "Buy" if long else "Sell", str(qty), str(price), t=ms)
    return okx_frame(symbol, "sell" if long else "buy", "long" if long else "short", str(qty), str(price),
                     ts=str(ms), inst_type=market)


SYMBOLS = [("binance", "BTCUSDT", "usdm"), ("binance", "BTCUSDT_261225", "usdm"), ("binance", "BTCUSD_PERP", "coinm"),
           ("bybit", "BTCUSDT", "linear"), ("bybit", "BTCPERP", "linear"), ("bybit", "BTCUSD", "inverse"),
           ("okx", "BTC-USDT-SWAP", "SWAP"), ("okx", "BTC-USD-SWAP", "SWAP"), ("okx", "BTC-USD-261225", "FUTURES")]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SYMBOLS), st.booleans(), decimals.filter(lambda d: d > 0), decimals.filter(lambda d: d > 0),
       stamps)
def test_a_frame_of_random_valid_values_parses_back_to_them(where, long, price, qty, ms):
    venue, symbol, market = where
    (row,) = ls.parse_frame(venue, build(venue, symbol, market, long, price, qty, ms), RECEIVED).rows
    inst = ls.instrument_for(venue, symbol, market)
    assert (row["venue"], row["instrument"], row["market"]) == (venue, symbol, market)
    assert row["side"] == ("long" if long else "short")
    assert (row["price"], row["quantity"]) == (float(price), float(qty))
    assert row["event_time"] == utc_ms(ms)
    if inst.contract_type == "linear":
        assert row["btc"] == float(qty * inst.contract_value)
        assert row["usd"] == float(qty * inst.contract_value * price)
    else:
        assert row["usd"] == float(qty * inst.contract_value)
        assert row["btc"] == float(qty * inst.contract_value / price)
    assert row["order_key"] == ls.order_key(venue, symbol, ms, row["side"], price, qty)
