"""The gamma step's days in chunks computed by worker processes (pipelines/analytics/gamma_chunks.py): the tables and
pictures are the in-process ones bit for bit, whatever the workers and the chunk size; a day that cannot be computed
is one line naming it; the settings that choose the plan."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from pipelines.analytics.gamma_chunks import ChunkPlan, GammaChunkError, compute_in_chunks
from pipelines.analytics.gamma_daily import Assumptions
from pipelines.assets.gamma_exposure import _CHAIN_QUERY, compute_window, concat_days
from pipelines.settings import Settings, SettingsError
from tests.test_gamma_tables import _SEVERAL, DAY
from tests.test_gamma_window import _ETH, _chain_db

DAYS = [DAY - dt.timedelta(days=i) for i in range(6, -1, -1)]


def _week():
    """Seven days of BTC chains (each day's rows a little different) and ETH on four of them."""
    btc = {day: _SEVERAL[i % 3:] for i, day in enumerate(DAYS)}
    eth = {day: _ETH[::-1] if i % 2 else _ETH for i, day in enumerate(DAYS) if i % 2 == 0}
    return _chain_db(btc, eth)


def _assert_same(got, want) -> None:
    assert [(d, c) for d, c, _ in got.days] == [(d, c) for d, c, _ in want.days]
    got_tables, want_tables = concat_days(got.days), concat_days(want.days)
    for table in want_tables:
        assert got_tables[table].equals(want_tables[table]), table
    assert got.pictures == want.pictures


@pytest.mark.parametrize("plan", [ChunkPlan(workers=2, chunk_days=2), ChunkPlan(workers=2, chunk_days=1),
                                  ChunkPlan(workers=1, chunk_days=3), ChunkPlan(workers=3, chunk_days=7)],
                         ids=lambda p: f"{p.workers}w-{p.chunk_days}d")
def test_chunks_by_worker_processes_give_the_in_process_tables_and_pictures(plan):
    conn = _week()
    drawn = frozenset(DAYS[2:])
    want = compute_window(conn, DAYS, picture_days=drawn)  # one chunk, this process
    got = compute_window(conn, DAYS, plan=plan, picture_days=drawn)
    _assert_same(got, want)
    assert sorted(got.pictures) == sorted(drawn)
    assert all(png.startswith(b"\x89PNG") for png in got.pictures.values())
    assert {c for _, c, _ in got.days} == {"BTC", "ETH"}


def test_the_assumptions_reach_the_workers():
    conn = _week()
    assumed = Assumptions(dealer_convention="short_calls_long_puts", near_expiry_policy="exclude")
    got = compute_window(conn, DAYS, assumed, ChunkPlan(workers=2, chunk_days=3))
    _assert_same(got, compute_window(conn, DAYS, assumed))
    conventions = set(concat_days(got.days)["marts.fct_gamma_summary_daily"].column("dealer_convention").to_pylist())
    assert conventions == {"short_calls_long_puts"}


def test_a_day_that_cannot_be_computed_is_one_line_naming_it_from_a_worker_too():
    conn = _week()
    chains = conn.sql(_CHAIN_QUERY, params=[DAYS[0], DAYS[-1] + dt.timedelta(days=1)]).to_arrow_table()
    # the strikes of the fifth day's rows are not numbers (a mart edited by hand, say)
    bad_day = DAYS[4]
    strikes = [("x" if d == bad_day else str(k)) for d, k in zip(chains.column("snapshot_date").to_pylist(),
                                                                  chains.column("strike").to_pylist())]
    broken = chains.set_column(chains.schema.get_field_index("strike"), "strike", pa.array(strikes))
    for plan in (ChunkPlan(), ChunkPlan(workers=2, chunk_days=2)):
        with pytest.raises(GammaChunkError) as caught:
            compute_in_chunks(broken, DAYS, plan, assumptions=Assumptions())
        message = str(caught.value)
        assert message.startswith(f"gamma BTC {bad_day}: ValueError: ") and "\n" not in message, message


def test_chunks_cut_the_days_in_order():
    assert ChunkPlan(chunk_days=3).chunks(DAYS) == [DAYS[:3], DAYS[3:6], DAYS[6:]]
    assert ChunkPlan(chunk_days=32).chunks(DAYS) == [DAYS]
    assert ChunkPlan().chunks([]) == []
    with pytest.raises(ValueError, match=">= 1"):
        ChunkPlan(workers=0)


def test_settings_choose_the_plan():
    settings = Settings.from_env({"BTCW_GAMMA_WORKERS": "3", "BTCW_GAMMA_CHUNK_DAYS": "10"})
    assert ChunkPlan.from_settings(settings) == ChunkPlan(workers=3, chunk_days=10)
    default = Settings.from_env({})
    assert 1 <= default.gamma_workers <= 8 and default.gamma_chunk_days == 32
    for name, value in (("BTCW_GAMMA_WORKERS", "0"), ("BTCW_GAMMA_CHUNK_DAYS", "two")):
        with pytest.raises(SettingsError, match=f"^{name}='{value}' is not a positive integer"):
            Settings.from_env({name: value})


def _stamp(chains: pa.Table, hour: int, oi_factor: float) -> pa.Table:
    """`chains` as one snapshot a day at `hour`:05 (every row stamped so), its open interest scaled by `oi_factor`."""
    days = chains.column("snapshot_date").to_pylist()
    stamps = pa.array([dt.datetime.combine(d, dt.time(hour, 5)) for d in days], chains.schema.field("snapshot_ts").type)
    out = chains.set_column(chains.schema.get_field_index("snapshot_ts"), "snapshot_ts", stamps)
    oi = pa.array([v * oi_factor for v in out.column("open_interest").to_pylist()],
                  out.schema.field("open_interest").type)
    return out.set_column(out.schema.get_field_index("open_interest"), "open_interest", oi)


def test_intraday_snapshots_get_tables_each_keyed_by_their_stamp_whatever_the_workers():
    """The hourly archive's path (bench.gamma_scaling --hourly): two snapshots a day, each computed as if it were the
    day's only chain, its tables stamped with snapshot_ts; the day's picture is its last snapshot's; the checks judge
    every snapshot on its own and name the stamp of one that does not reconcile."""
    from pipelines.assets.gamma_exposure import audit

    conn = _week()
    chains = conn.sql(_CHAIN_QUERY, params=[DAYS[0], DAYS[-1] + dt.timedelta(days=1)]).to_arrow_table()
    morning, evening = _stamp(chains, 8, 1.0), _stamp(chains, 20, 1.5)
    position = pa.array(list(range(chains.num_rows)) * 2)  # the read's own order within a snapshot
    both = pa.concat_tables([morning, evening]).append_column("position", position).sort_by(
        [(c, "ascending") for c in ("snapshot_date", "currency", "snapshot_ts", "position")]).drop_columns("position")
    drawn = frozenset(DAYS[-2:])
    got = {plan: compute_in_chunks(both, DAYS, plan, assumptions=Assumptions(), picture_days=drawn,
                                   snapshot_column="snapshot_ts")
           for plan in (ChunkPlan(), ChunkPlan(workers=2, chunk_days=3))}
    one, two = got.values()
    _assert_same(two, one)

    alone = {hour: compute_in_chunks(rows, DAYS, ChunkPlan(), assumptions=Assumptions(), picture_days=drawn)
             for hour, rows in ((8, morning), (20, evening))}
    assert one.pictures == alone[20].pictures  # the day's last snapshot is drawn
    tables = concat_days(one.days)
    for table, rows in concat_days(alone[8].days).items():
        if table == "marts.fct_gamma_flip_events":
            continue
        hours = {8: [], 20: []}
        for row in tables[table].to_pylist():
            hours[row.pop("snapshot_ts").hour].append(row)
        assert hours[8] == rows.to_pylist(), table
        assert hours[20] == concat_days(alone[20].days)[table].to_pylist(), table
    assert len(one.days) == 2 * len(alone[8].days)

    assert all(outcome.passed for _, outcome in audit(tables, DAYS))
    summary = tables["marts.fct_gamma_summary_daily"]
    totals = summary.column("total_net_gex_usd").to_pylist()
    totals[3] += 1e12  # one snapshot's total no longer its by-strike sum
    bad = tables | {"marts.fct_gamma_summary_daily": summary.set_column(
        summary.schema.get_field_index("total_net_gex_usd"), "total_net_gex_usd", pa.array(totals))}
    outcome = dict(audit(bad, DAYS))["gamma_tables_reconcile"]
    row = summary.slice(3, 1).to_pylist()[0]
    assert not outcome.passed
    assert outcome.description.startswith(f"{row['snapshot_date']} {row['currency']} {row['snapshot_ts']}: ")


def test_the_reconciliation_reads_a_group_of_days_at_a_time_and_judges_the_same():
    """gamma_tables_reconcile holds `days_at_once` days' rows as Python objects at a time (a year's backfill would
    hold ~1 KB a row of all eight tables at once): its verdict, problems and counts are the same whatever the group."""
    from pipelines.checks.gamma_checks import gamma_tables_reconcile

    tables = concat_days(compute_window(_week(), DAYS).days)
    summary = tables["marts.fct_gamma_summary_daily"]
    totals = summary.column("total_net_gex_usd").to_pylist()
    for i in (1, summary.num_rows - 1):  # a problem on the first group's day and on the last
        totals[i] *= 2
    broken = summary.set_column(summary.schema.get_field_index("total_net_gex_usd"), "total_net_gex_usd",
                                pa.array(totals))
    args = [tables[t] for t in ("marts.fct_gamma_exposure_by_strike", "marts.fct_gamma_exposure_by_expiry_strike",
                                "marts.fct_gamma_profile", "marts.fct_gamma_regime_bands",
                                "marts.fct_gamma_level_bands", "marts.fct_gamma_downside_daily")]
    for table, want_passed in ((summary, True), (broken, False)):
        outcomes = [gamma_tables_reconcile(table, *args[:4], *args[4:], days_at_once=n) for n in (1, 3, 32)]
        assert all(o == outcomes[0] for o in outcomes[1:])
        assert outcomes[0].passed is want_passed
    assert outcomes[0].metadata["problems"] >= 2
    first, last = summary.slice(1, 1).to_pylist()[0], summary.slice(summary.num_rows - 1, 1).to_pylist()[0]
    for row in (first, last):
        assert f"{row['snapshot_date']} {row['currency']}: " in outcomes[0].description
