"""A reader of the lake in a process of its own, run by tests/test_lake_warehouse.py while writers write: until the
file named by its first argument exists, it reads the lake read-only, each round in one transaction (one snapshot),
and checks what the writers promise to commit together:

- every raw table holds, for each day raw.load_log says it loaded, exactly the rows the log says (the rows and the log
  row are one transaction, pipelines/ingest/extract.py);
- the gamma tables hold the same days (one transaction, pipelines/assets/gamma_exposure.py), and so do the two
  volatility-surface tables (pipelines/assets/vol_surface.py); the flip events, written in the same transaction but
  only on the days something happened, hold no day the others lack.

It prints one JSON line at the end: rounds read, rounds that saw rows, the violations, the errors."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

import duckdb

from pipelines import engine
from pipelines.assets import gamma_exposure, vol_surface
from pipelines.settings import Settings
from pipelines.sources.registry import DATASETS

# The tables each numpy asset writes in one transaction, as it declares them ("marts.<name>").
TOGETHER = {label: tuple(name.removeprefix("marts.") for name in module.TABLES)
            for label, module in (("gamma", gamma_exposure), ("volatility", vol_surface))}
# Tables of those that hold rows only on some of the days (events): their days are a subset of the others'.
SPARSE = {gamma_exposure.FLIP_EVENTS_TABLE.removeprefix("marts.")}


def one_round(conn: duckdb.DuckDBPyConnection) -> tuple[bool, list[str]]:
    tables = {(s, t) for s, t in conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = 'lake'").fetchall()}
    problems: list[str] = []
    saw = False
    if ("raw", "load_log") in tables:
        for spec in DATASETS:
            if ("raw", spec.raw_table) not in tables:
                continue
            for day, logged, held in conn.execute(
                    f'SELECT l.partition_date, l.rows_loaded, (SELECT count(*) FROM raw."{spec.raw_table}" r '
                    "WHERE r.partition_date = l.partition_date) FROM raw.load_log l "
                    "WHERE l.dataset = ? AND l.status = 'loaded'", [spec.raw_table]).fetchall():
                saw = True
                if logged != held:
                    problems.append(f"raw.{spec.raw_table} {day}: the log says {logged} rows, the table holds {held}")
    for label, group in TOGETHER.items():
        present = [t for t in group if ("marts", t) in tables]
        if not present:
            continue
        days = {t: {d for (d,) in conn.execute(f"SELECT DISTINCT snapshot_date FROM marts.{t}").fetchall()}
                for t in present}
        if len(present) < len(group) and any(days.values()):
            problems.append(f"{label} tables {sorted(set(group) - set(present))} missing beside rows of others")
        dense = {t: d for t, d in days.items() if t not in SPARSE}
        every = set().union(*dense.values())
        if len({frozenset(d) for d in dense.values()}) > 1 or any(days[t] - every for t in days if t in SPARSE):
            problems.append(f"{label} tables hold different days: "
                            + "; ".join(f"{t}: {sorted(map(str, d))}" for t, d in days.items()))
    return saw, problems


def main() -> int:
    stop = Path(sys.argv[1])
    settings = Settings.from_env()
    rounds = seen = 0
    problems: list[str] = []
    errors: list[str] = []
    with contextlib.ExitStack() as connections:
        db = None
        while not stop.exists():
            try:
                if db is None:  # one connection for all rounds: each transaction reads the newest snapshot
                    db = connections.enter_context(engine.connect(settings, read_only=True))
                db.execute("BEGIN TRANSACTION")
                saw, found = one_round(db)
                db.execute("COMMIT")
                rounds += 1
                seen += saw
                problems += found
            except (duckdb.Error, engine.NoWarehouseYet) as error:
                errors.append(str(error).splitlines()[0])
                db = None  # a new connection next round
            time.sleep(1.0)  # a reader among others, not a busy loop on a shared machine
    print(json.dumps({"rounds": rounds, "rounds_with_rows": seen, "problems": problems[:20], "errors": errors[:20],
                      "error_count": len(errors)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
