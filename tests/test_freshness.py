"""mart_freshness: each mart's newest day against the night's run day, on an in-memory DuckDB."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from pipelines.checks.freshness import mart_freshness

NIGHT = dt.date(2025, 11, 22)  # the nightly run of Nov 22 loads Nov 21
NOV21, NOV20 = dt.date(2025, 11, 21), dt.date(2025, 11, 20)


@pytest.fixture
def conn():
    conn = duckdb.connect(":memory:")
    conn.execute("create schema marts")
    for table, newest in (("fct_fresh", NOV21), ("fct_stale", NOV20)):
        conn.execute(f"create table marts.{table} (date date, value double)")
        conn.execute(f"insert into marts.{table} values (?, 1.0), (? - interval 5 day, 2.0)", [newest, newest])
    conn.execute("create table marts.fct_empty (date date)")
    conn.execute("create table marts.fct_snapshot (snapshot_date date)")
    conn.execute("insert into marts.fct_snapshot values (?)", [NOV21])
    conn.execute("create table marts.fct_stamped (date timestamp)")
    conn.execute("insert into marts.fct_stamped values (?)", [dt.datetime(2025, 11, 21, 23, 59)])
    yield conn
    conn.close()


def test_yesterday_is_fresh(conn):
    outcome = mart_freshness(conn, [("marts", "fct_fresh"), ("marts", "fct_stamped")], as_of=NIGHT)
    assert outcome.passed, outcome.description
    assert outcome.metadata["marts"] == {
        "marts.fct_fresh": {"newest": "2025-11-21", "lag_days": 1},
        "marts.fct_stamped": {"newest": "2025-11-21", "lag_days": 1},  # a timestamp counts by its day
    }
    assert outcome.metadata["as_of"] == "2025-11-22" and outcome.metadata["oldest_allowed"] == "2025-11-21"


def test_a_missed_night_fails_and_names_the_mart(conn):
    outcome = mart_freshness(conn, [("marts", "fct_fresh"), ("marts", "fct_stale")], as_of=NIGHT)
    assert not outcome.passed
    assert "1 of 2" in outcome.description
    assert "marts.fct_stale: newest 2025-11-20 is 2 day(s) behind 2025-11-22" in outcome.description
    assert "fct_fresh" not in outcome.description
    assert outcome.metadata["marts"]["marts.fct_stale"] == {"newest": "2025-11-20", "lag_days": 2}


def test_the_allowed_lag_is_inclusive(conn):
    assert mart_freshness(conn, [("marts", "fct_stale")], as_of=NIGHT, max_lag_days=2).passed
    assert not mart_freshness(conn, [("marts", "fct_fresh")], as_of=NIGHT, max_lag_days=0).passed
    assert mart_freshness(conn, [("marts", "fct_fresh")], as_of=NOV21, max_lag_days=0).passed


def test_a_newest_day_after_as_of_is_not_stale(conn):
    outcome = mart_freshness(conn, [("marts", "fct_fresh")], as_of=NOV20)
    assert outcome.passed and outcome.metadata["marts"]["marts.fct_fresh"]["lag_days"] == -1


def test_empty_missing_and_columnless_marts_fail(conn):
    outcome = mart_freshness(conn, [("marts", "fct_empty"), ("marts", "fct_nowhere"), ("marts", "fct_snapshot")],
                             as_of=NIGHT)
    assert not outcome.passed
    assert "marts.fct_empty: empty" in outcome.description
    assert "marts.fct_nowhere: no such table or no column date" in outcome.description
    assert "marts.fct_snapshot: no such table or no column date" in outcome.description
    assert all(m == {"newest": None, "lag_days": None} for m in outcome.metadata["marts"].values())


def test_another_date_column(conn):
    outcome = mart_freshness(conn, [("marts", "fct_snapshot")], as_of=NIGHT, date_column="snapshot_date")
    assert outcome.passed and outcome.metadata["marts"]["marts.fct_snapshot"]["newest"] == "2025-11-21"


@pytest.mark.parametrize(
    ("marts", "date_column"),
    [
        ([('marts"; drop table marts.fct_fresh; --', "fct_fresh")], "date"),
        ([("marts", "fct fresh")], "date"),
        ([("marts", "Fct_Fresh")], "date"),  # upper case would need quoting to mean what it says: refused
        ([("marts", "")], "date"),
        ([("marts", "1fct")], "date"),
        ([("marts", "fct_fresh")], "date) from marts.fct_stale --"),
        ([("marts", "x" * 64)], "date"),
    ],
)
def test_identifiers_are_validated(conn, marts, date_column):
    with pytest.raises(ValueError, match="identifier"):
        mart_freshness(conn, marts, as_of=NIGHT, date_column=date_column)
    assert conn.execute("select count(*) from marts.fct_fresh").fetchone()[0] == 2


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"as_of": dt.datetime(2025, 11, 22, 0, 30)}, TypeError),
        ({"as_of": "2025-11-22"}, TypeError),
        ({"as_of": NIGHT, "max_lag_days": -1}, ValueError),
        ({"as_of": NIGHT, "max_lag_days": 1.5}, ValueError),
        ({"as_of": NIGHT, "max_lag_days": True}, ValueError),
    ],
)
def test_arguments_are_checked(conn, kwargs, error):
    with pytest.raises(error):
        mart_freshness(conn, [("marts", "fct_fresh")], **kwargs)


def test_no_marts_is_a_mistake(conn):
    with pytest.raises(ValueError, match="no marts"):
        mart_freshness(conn, [], as_of=NIGHT)
