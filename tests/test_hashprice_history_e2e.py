"""The hashprice back through the April 2024 halving, end to end: real Dagster runs of the hashprice's lineage
(pipelines.hashprice_history: blockchain.com's charts a year a request, no blocks walked) over two months around
the halving into a temporary demo warehouse, then mempool's blocks for three days of it; fct_hashprice_daily and
fct_miner_breakeven_daily are recomputed here from the archived bodies (the JSON read directly, not through the
parsers) and the fleet seed (the CSV read directly), with plain loops."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import os
import time

import dagster as dg
import duckdb
import pytest

from pipelines.dbt_project import DBT_PROJECT_DIR
from pipelines.hashprice_history import HASHPRICE_LINEAGE, INDIRECT_SELECTION_ENV, materialize_hashprice_history
from pipelines.settings import Settings, SourceMode

pytestmark = pytest.mark.e2e

FIRST, LAST = dt.date(2024, 3, 10), dt.date(2024, 5, 25)
HALVING = dt.date(2024, 4, 20)
BLOCK_DAYS = (dt.date(2024, 4, 19), dt.date(2024, 4, 21))  # the blocks route, either side of the halving
REL = 1e-9


def run(settings: Settings, first: dt.date, last: dt.date, also=()) -> dg.ExecuteInProcessResult:
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_hashprice_history(settings, first, last, instance, also=also)
    assert INDIRECT_SELECTION_ENV not in os.environ  # restored: a later full run keeps dbt's default
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    failed = [(e.check_name, e.severity) for e in result.get_asset_check_evaluations() if not e.passed]
    assert all(severity == dg.AssetCheckSeverity.WARN for _, severity in failed), failed
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    settings = Settings(source_mode=SourceMode.DEMO, warehouse_dir=tmp_path_factory.mktemp("wh"),
                        start_date=dt.date(2024, 3, 1))
    started = time.perf_counter()
    result = run(settings, FIRST, LAST)
    history_s = time.perf_counter() - started
    run(settings, *BLOCK_DAYS, also=[dg.AssetKey(["raw", "mempool__blocks"])])
    print(f"\nhashprice lineage {FIRST} … {LAST}: {history_s:.1f} s")
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        marts = {name: conn.sql(f"SELECT * FROM marts.{name} ORDER BY ALL").to_arrow_table().to_pylist()
                 for name in ("fct_hashprice_daily", "fct_miner_breakeven_daily", "fct_miner_revenue_daily")}
    return settings, result, marts


def chart_values(settings: Settings, dataset: str) -> dict[dt.date, float]:
    """Every point of every archived blockchain.com body of `dataset`, by its UTC day (x is unix seconds)."""
    out: dict[dt.date, float] = {}
    for path in sorted((settings.landing_dir / "blockchain_com" / dataset).rglob("*.json.gz")):
        for point in json.loads(gzip.decompress(path.read_bytes()))["values"]:
            assert point["x"] % 86_400 == 0  # labelled by the day's start
            day = dt.date(1970, 1, 1) + dt.timedelta(days=point["x"] // 86_400)
            assert out.setdefault(day, point["y"]) == point["y"]  # two bodies holding a day agree on it
    return out


def test_only_the_lineage_ran_and_the_long_history_took_two_requests_per_chart(built):
    settings, result, _ = built
    materialized = {e.materialization.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == set(HASHPRICE_LINEAGE)
    for dataset in ("miners_revenue", "hash_rate"):
        bodies = sorted((settings.landing_dir / "blockchain_com" / dataset).rglob("*.json.gz"))
        # 77 days: one range request each; the second run's three days another
        assert {b.parent.name for b in bodies} == {f"range={FIRST}_{LAST}", f"range={BLOCK_DAYS[0]}_{BLOCK_DAYS[1]}"}
        assert len(bodies) == 2
    assert not list((settings.landing_dir / "mempool" / "blocks").glob(f"date={FIRST}*"))  # no blocks walked then


def test_the_mart_spans_the_halving_and_equals_the_charts_recomputed(built):
    settings, _, marts = built
    rows = {r["date"]: r for r in marts["fct_hashprice_daily"]}
    revenue, hashrate = chart_values(settings, "miners_revenue"), chart_values(settings, "hash_rate")
    days = [FIRST + dt.timedelta(days=k) for k in range((LAST - FIRST).days + 1)]
    assert sorted(rows) == days
    blocks = {r["date"]: r["hashprice_usd_per_ph_day"] for r in marts["fct_miner_revenue_daily"]}
    assert sorted(blocks) == [BLOCK_DAYS[0], HALVING, BLOCK_DAYS[1]]
    chosen = {}
    for day in days:
        row = rows[day]
        chart = revenue[day] / (hashrate[day] / 1e6 * 1000)  # TH/s -> EH/s -> PH/s
        assert row["hashprice_blockchain_com_usd_per_ph_day"] == pytest.approx(chart, rel=REL)
        chosen[day] = blocks.get(day, chart)
        assert row["hashprice_usd_per_ph_day"] == pytest.approx(chosen[day], rel=REL)
        assert row["hashprice_source"] == ("mempool_blocks" if day in blocks else "blockchain_com")
        epoch = 5 if day >= HALVING else 4
        assert (row["halving_epoch"], row["subsidy_btc_per_block"]) == (epoch, 3.125 if epoch == 5 else 6.25)
        assert row["days_since_halving"] == (day - (HALVING if epoch == 5 else dt.date(2020, 5, 11))).days
    for day in days:
        window = [chosen[d] for d in days if day - dt.timedelta(days=29) <= d <= day]
        assert rows[day]["days_in_30d_avg"] == len(window)
        assert rows[day]["hashprice_30d_avg_usd_per_ph_day"] == pytest.approx(sum(window) / len(window), rel=REL)
    pre = [chosen[d] for d in days if HALVING - dt.timedelta(days=30) <= d < HALVING]
    assert len(pre) == 30
    for day in days:
        row = rows[day]
        if day < HALVING:  # epoch 4's halving (2020) is long before the loaded history
            assert row["pre_halving_30d_avg_usd_per_ph_day"] is None and row["change_vs_pre_halving_pct"] is None
        else:
            assert row["pre_halving_days"] == 30
            assert row["pre_halving_30d_avg_usd_per_ph_day"] == pytest.approx(sum(pre) / 30, rel=REL)
            expected = (row["hashprice_30d_avg_usd_per_ph_day"] / (sum(pre) / 30) - 1) * 100
            assert row["change_vs_pre_halving_pct"] == pytest.approx(expected, rel=REL)
    # the demo's halving: the hashprice of the month after is about half the month before's
    after = [chosen[d] for d in days if HALVING < d <= HALVING + dt.timedelta(days=30)]
    assert 0.4 < (sum(after) / len(after)) / (sum(pre) / 30) < 0.75


def test_the_breakeven_band_equals_an_independent_calculation(built):
    _, _, marts = built
    with (DBT_PROJECT_DIR / "seeds" / "mining_fleet_profiles.csv").open(newline="") as f:
        fleets = {r["fleet_profile"]: (float(r["efficiency_j_per_th"]), float(r["power_usd_per_kwh"]))
                  for r in csv.DictReader(f)}
    hashprice = {r["date"]: r for r in marts["fct_hashprice_daily"]}
    band = marts["fct_miner_breakeven_daily"]
    assert len(band) == len(hashprice) * len(fleets) and len(fleets) >= 3
    for row in band:
        j_per_th, usd_per_kwh = fleets[row["fleet_profile"]]
        assert (row["efficiency_j_per_th"], row["power_usd_per_kwh"]) == (j_per_th, usd_per_kwh)
        h = hashprice[row["date"]]
        # a fleet of 1 PH/s = 1,000 TH/s draws J/TH x 1,000 W; over 24 h that is J/TH x 24 kWh
        kwh_per_ph_day = j_per_th * 1000 * 24 / 1000
        cost = kwh_per_ph_day * usd_per_kwh
        assert row["breakeven_hashprice_usd_per_ph_day"] == pytest.approx(cost, rel=REL)
        assert row["margin_usd_per_ph_day"] == pytest.approx(h["hashprice_usd_per_ph_day"] - cost, rel=REL, abs=1e-9)
        share_left = (h["hashprice_usd_per_ph_day"] - cost) / h["hashprice_usd_per_ph_day"] * 100
        assert row["margin_pct"] == pytest.approx(share_left, rel=REL, abs=1e-9)
        assert row["breakeven_power_usd_per_kwh"] == pytest.approx(h["hashprice_usd_per_ph_day"] / kwh_per_ph_day,
                                                                   rel=REL)
        avg30 = h["hashprice_30d_avg_usd_per_ph_day"]
        assert row["margin_30d_avg_pct"] == pytest.approx((avg30 - cost) / avg30 * 100, rel=REL, abs=1e-9)
        pre = h["pre_halving_30d_avg_usd_per_ph_day"]
        if pre is None:
            assert row["pre_halving_margin_pct"] is None
        else:
            assert row["pre_halving_margin_pct"] == pytest.approx((pre - cost) / pre * 100, rel=REL, abs=1e-9)
    # the band's story: every fleet's margin shrank at the halving, the dearest fleet the most
    month_after = [r for r in band if 20 <= r["days_since_halving"] < 30 and r["halving_epoch"] == 5]
    for name in fleets:
        mine = [r for r in month_after if r["fleet_profile"] == name]
        assert all(r["margin_30d_avg_pct"] < r["pre_halving_margin_pct"] for r in mine), name
