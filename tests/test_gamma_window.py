"""The gamma asset's window path: one read of the chain for the whole window split by day, and the columnar chain
conversion.  Each must give exactly (bit for bit) what the per-day path gave.  No Dagster run, no dbt; the chain
lives in an in-memory DuckDB."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from pipelines.analytics.gamma_daily import CHAIN_COLUMNS, ChainArrays, gamma_day, spot_from_index, split_by_day
from pipelines.assets.gamma_exposure import (
    TABLES,
    chain_days,
    compute_window,
    concat_days,
    configured_levels,
    outdated_tables,
    rebuild_tables,
)
from tests.test_gamma_tables import _SEVERAL, DAY, E7, E30, SPOT, chain_table

D0, D1, D2 = DAY - dt.timedelta(days=2), DAY - dt.timedelta(days=1), DAY


def _with_date(table: pa.Table, day: dt.date) -> pa.Table:
    return table.add_column(0, "snapshot_date", pa.array([day] * table.num_rows, pa.date32()))


def _old_from_table(chain: pa.Table) -> ChainArrays:
    """The conversion as it was (Python objects via to_pylist): the oracle for the columnar one."""
    def col(name):
        return chain.column(name).to_numpy(zero_copy_only=False).astype(float)

    expiry = np.array(chain.column("expiry_date").to_pylist(), dtype="datetime64[D]")
    years = col("time_to_expiry_years")
    years[np.isnat(expiry)] = np.nan
    stamps = np.array(chain.column("snapshot_ts").to_pylist(), dtype="datetime64[us]")
    return ChainArrays(
        strike=col("strike"), expiry_years=years,
        is_call=np.asarray(chain.column("option_type").to_pylist()) == "call",
        open_interest=col("open_interest"), iv=col("mark_iv") / 100.0, forward=col("forward_usd"),
        expiry_date=expiry, spot=spot_from_index(col("index_usd"), stamps),
    )


def _assert_same_arrays(a: ChainArrays, b: ChainArrays) -> None:
    for name in ("strike", "expiry_years", "is_call", "open_interest", "iv", "forward", "expiry_date"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert a.spot == b.spot or (np.isnan(a.spot) and np.isnan(b.spot))


# ----------------------------------------------------------------------------------------------------------------
# columnar conversion
# ----------------------------------------------------------------------------------------------------------------


def test_columnar_conversion_equals_the_python_object_one():
    rows = [*_SEVERAL, (95_000.0, E30, "put", 0.0, None, SPOT)]
    chain = chain_table(rows)
    _assert_same_arrays(ChainArrays.from_table(chain), _old_from_table(chain))


def test_columnar_conversion_with_nulls_and_all_null_columns():
    chain = chain_table(_SEVERAL)
    n = chain.num_rows
    # nulls in the expiry, the stamp and the option type; then columns of Arrow's null type (all None)
    with_nulls = (chain.set_column(1, "expiry_date", pa.array([None] + chain.column(1).to_pylist()[1:], pa.date32()))
                  .set_column(0, "snapshot_ts", pa.array([None] + chain.column(0).to_pylist()[1:], pa.timestamp("us")))
                  .set_column(4, "option_type", pa.array([None] + chain.column(4).to_pylist()[1:], pa.string())))
    _assert_same_arrays(ChainArrays.from_table(with_nulls), _old_from_table(with_nulls))
    all_null = chain
    for name in ("expiry_date", "snapshot_ts", "option_type"):
        all_null = all_null.set_column(all_null.schema.get_field_index(name), name, pa.nulls(n))
    got, want = ChainArrays.from_table(all_null), _old_from_table(all_null)
    _assert_same_arrays(got, want)
    assert not got.is_call.any() and np.isnat(got.expiry_date).all() and np.isnan(got.spot)


def test_columnar_conversion_of_an_empty_chain():
    empty = chain_table([])
    _assert_same_arrays(ChainArrays.from_table(empty), _old_from_table(empty))


# ----------------------------------------------------------------------------------------------------------------
# one read for the window, split by day
# ----------------------------------------------------------------------------------------------------------------


def test_split_by_day_gives_each_days_rows_in_order_and_empty_days_empty():
    t = pa.table({"snapshot_date": pa.array([D0, D0, D2, D2, D2], pa.date32()), "x": [1, 2, 3, 4, 5]})
    parts = split_by_day(t, [D0, D1, D2])
    assert [p.column("x").to_pylist() for p in parts] == [[1, 2], [], [3, 4, 5]]
    assert all(p.schema == t.schema for p in parts)
    assert [p.num_rows for p in split_by_day(t.slice(0, 0), [D0, D1])] == [0, 0]
    assert split_by_day(t, [D2, D0])[0].column("x").to_pylist() == [3, 4, 5]  # any order of days asked


def test_split_by_day_refuses_rows_not_sorted_by_day():
    t = pa.table({"snapshot_date": pa.array([D2, D0], pa.date32()), "x": [1, 2]})
    with pytest.raises(ValueError, match="sorted"):
        split_by_day(t, [D0, D2])
    with pytest.raises(ValueError, match="sorted"):
        split_by_day(pa.table({"snapshot_date": pa.array([None, D0], pa.date32())}), [D0])


def _chain_db(days_rows: dict[dt.date, list], eth_days_rows: dict[dt.date, list] | None = None
              ) -> duckdb.DuckDBPyConnection:
    """marts.fct_option_chain_snapshot holding the given days (BTC, and ETH rows where given), inserted in a
    scrambled order."""
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA marts")
    parts = []
    for currency, by_day in (("BTC", days_rows), ("ETH", eth_days_rows or {})):
        for day, rows in by_day.items():
            index = SPOT if currency == "BTC" else SPOT / 30
            t = _with_date(chain_table(rows, snap=dt.datetime.combine(day, dt.time(0, 30)), index=index), day)
            names = [f"{currency}-{i:04d}" for i in range(t.num_rows)]
            t = t.append_column("instrument_name", pa.array(names))
            parts.append(t.append_column("currency", pa.array([currency] * t.num_rows)))
    incoming = pa.concat_tables(parts)
    incoming = incoming.take(np.random.default_rng(7).permutation(incoming.num_rows))
    conn.register("incoming", incoming)
    conn.execute("CREATE TABLE marts.fct_option_chain_snapshot AS SELECT * FROM incoming")
    conn.unregister("incoming")
    return conn


# An ETH chain: the BTC rows scaled to ETH's price level (strikes, forward, spot / 30).
_ETH = [(k / 30, e, side, oi, iv, f / 30) for k, e, side, oi, iv, f in _SEVERAL]


def test_window_read_gives_byte_identical_tables_to_per_day_reads():
    """Each (day, currency) of one window read equals a per-day read of that currency's chain (the query the asset
    ran before), BTC first, then ETH, and ETH only on the days its chain is there."""
    days_rows = {D0: _SEVERAL, D1: [(90_000.0, E7, "call", 50.0, 60.0, SPOT), *_SEVERAL[:3]], D2: _SEVERAL[::-1]}
    conn = _chain_db(days_rows, {D1: _ETH, D2: _ETH[::-1]})
    results = compute_window(conn, [D0, D1, D2]).days
    assert [(day, currency) for day, currency, _ in results] == [
        (D0, "BTC"), (D1, "BTC"), (D1, "ETH"), (D2, "BTC"), (D2, "ETH")]
    got = concat_days(results)
    want = []
    for day, currency, _ in results:
        chain = conn.sql(f"SELECT {', '.join(CHAIN_COLUMNS)} FROM marts.fct_option_chain_snapshot "
                         "WHERE snapshot_date = ? AND currency = ? ORDER BY instrument_name",
                         params=[day, currency]).to_arrow_table()
        levels = configured_levels() if currency == "BTC" else ()  # the price levels are BTC's
        want.append((day, currency, gamma_day(day, _old_from_table(chain), currency=currency,
                                              configured_levels=levels)))
    want = concat_days(want)
    for table in want:
        assert got[table].equals(want[table]), table
        assert got[table].to_pylist() == want[table].to_pylist(), table
    summary = got["marts.fct_gamma_summary_daily"].to_pylist()
    eth = [r for r in summary if r["currency"] == "ETH"]
    btc = {r["snapshot_date"]: r for r in summary if r["currency"] == "BTC"}
    # the same positions at 1/30 of the price: the same contracts' gamma in USD scales with S^2 * (1/S) = S
    assert eth[1]["total_net_gex_usd"] == pytest.approx(btc[D2]["total_net_gex_usd"] / 30, rel=1e-9)


def test_tables_of_the_layout_before_currency_are_found_and_rebuilt_whole():
    """A warehouse built before gamma per currency: its tables lack the column; rebuild_tables replaces all five in
    one go, and the rebuilt tables are what this code would have written for every day of the chain."""
    conn = _chain_db({D0: _SEVERAL, D1: _SEVERAL[:4]}, {D1: _ETH})
    conn.execute("CREATE TABLE marts.fct_gamma_summary_daily (snapshot_date DATE PRIMARY KEY, spot_usd DOUBLE)")
    conn.execute("INSERT INTO marts.fct_gamma_summary_daily VALUES (?, 1.0)", [D0])
    # the summary of the old layout, and the tables it had no counterpart of (missing beside it)
    assert outdated_tables(conn) == list(TABLES)
    days = chain_days(conn)
    assert days == [D0, D1]
    tables = concat_days(compute_window(conn, days).days)
    rebuild_tables(conn, tables)
    assert outdated_tables(conn) == []
    for table, rows in tables.items():
        assert conn.sql(f"SELECT * FROM {table} ORDER BY ALL").fetchall() == \
            sorted(tuple(r.values()) for r in rows.to_pylist()), table
    assert conn.sql("SELECT currency, count(*) FROM marts.fct_gamma_summary_daily GROUP BY 1 ORDER BY 1").fetchall() \
        == [("BTC", 2), ("ETH", 1)]


def test_window_read_fails_on_a_day_without_rows():
    conn = _chain_db({D0: _SEVERAL, D2: _SEVERAL})
    with pytest.raises(RuntimeError, match=f"no rows for {D1}"):
        compute_window(conn, [D0, D1, D2])
    assert compute_window(conn, []).days == []
