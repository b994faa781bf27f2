"""Great Expectations Data Docs of the raw stage, built from a small warehouse."""

import datetime as dt

import duckdb
import pyarrow as pa

from pipelines.ingest.load_log import ensure_load_log
from pipelines.ingest.raw_loader import ensure_raw_table
from pipelines.quality.data_docs import build_data_docs, default_window
from pipelines.sources.registry import get_dataset

DAY = dt.date(2025, 11, 20)


def test_data_docs_show_each_suite_and_its_failures(tmp_path):
    spec = get_dataset("coinbase", "spot_candles_1d")
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_raw_table(conn, spec)
    rows = [dict(partition_date=DAY, bucket_start=dt.datetime(2025, 11, 20), open=100.0, high=90.0, low=80.0,
                 close=95.0, volume_btc=1.0)]  # high below open: the suite fails
    conn.register("r", pa.Table.from_pylist(rows, schema=spec.raw_schema))
    conn.execute(f'INSERT INTO raw."{spec.raw_table}" SELECT *, \'landing/x\', TIMESTAMP \'2025-11-21\' FROM r')
    ensure_load_log(conn)
    conn.execute("INSERT INTO raw.load_log (dataset, partition_date, status, reason, landing_file, landing_sha256, "
                 "rows_landed, rows_loaded, rows_quarantined, _logged_at) VALUES ('coinbase__spot_candles_1d', ?, "
                 "'loaded', NULL, 'landing/x', '00', 1, 1, 0, TIMESTAMP '2025-11-21')", [DAY])
    assert default_window(conn) == (DAY - dt.timedelta(days=29), DAY + dt.timedelta(days=1))

    results = build_data_docs(conn, tmp_path / "quality", DAY, DAY + dt.timedelta(days=1))
    assert results == {"coinbase__spot_candles_1d.rows": False, "coinbase__spot_candles_1d.schema": True,
                       "coinbase__spot_candles_1d.volume": True}
    index = (tmp_path / "quality" / "index.html").read_text()
    assert "coinbase__spot_candles_1d.rows" in index
    pages = list((tmp_path / "quality" / "validations").rglob("*.html"))
    assert len(pages) == 3 and any("expect_column_pair_values_a_to_be_greater_than_b" in p.read_text() or
                                   "greater than" in p.read_text() for p in pages)


def test_a_bad_setting_is_one_line_and_exit_2(monkeypatch, capsys):
    from pipelines.quality.data_docs import main

    monkeypatch.setenv("BTCW_SOURCE_MODE", "bogus")
    assert main([]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "quality-docs: BTCW_SOURCE_MODE='bogus' is not one of: demo, live, replay"]


def test_a_reversed_window_is_refused_and_an_empty_one_says_no_data(tmp_path, monkeypatch, capsys):
    from pipelines.quality.data_docs import main
    from pipelines.settings import Settings

    monkeypatch.setenv("BTCW_WAREHOUSE_DIR", str(tmp_path))
    monkeypatch.setenv("BTCW_SOURCE_MODE", "demo")
    assert main(["--start", "2025-11-20", "--end", "2025-11-19"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "quality-docs: END 2025-11-19 is before START 2025-11-20"]
    path = Settings.from_env().duckdb_path
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as conn:
        ensure_load_log(conn)
        conn.execute("INSERT INTO raw.load_log (dataset, partition_date, status, rows_landed, rows_loaded, "
                     "rows_quarantined, _logged_at) VALUES ('coinbase__spot_candles_1d', ?, 'loaded', 1, 1, 0, "
                     "TIMESTAMP '2025-11-21')", [DAY])
    assert main(["--start", "2024-01-01", "--end", "2024-01-31"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == ("quality-docs: no data: no day of [2024-01-01, 2024-02-01) was loaded (the warehouse holds "
                    "2025-11-20 … 2025-11-20); nothing validated")
    assert not (tmp_path / "demo" / "quality").exists()
