"""Write locks of the lake: never two writers replacing rows of the same tables at once, on any machine.

DuckLake lets many processes commit, but two transactions that both delete from one table conflict ("Transaction
conflict … another transaction has deleted from it": measured 3 in 16 for two processes delete+inserting the same
table) and the later one fails. Every write of the pipeline is such a delete+insert of a window, so each takes the
lock of what it writes first, for as long as its transaction lasts:

    with write_locks(config, ["raw"], holder="raw__binance__funding_rate 2025-11-18…2025-11-20"):
        … BEGIN; DELETE …; INSERT …; COMMIT

The locks are PostgreSQL advisory locks in the catalog's own database, which every writer already reaches: held by
a session of their own (not the catalog connection DuckDB pools), released when it ends, and so also when its process
dies (a killed writer holds nothing: PostgreSQL drops its session). Names are namespaced by the lake's catalog
schema, so the demo and live lakes never wait for each other. A lock not granted within `wait_s` is an error that
names the lock and who holds it."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable, Iterator

import psycopg2

from pipelines.lake.connect import LakeConfig

# Long enough for the longest write it waits behind (a year's dbt build on the lake is minutes), short enough that a
# lock held by a hung process is reported rather than waited on forever.
DEFAULT_WAIT_S = 3600.0
POLL_S = 0.2


class LakeLockTimeout(RuntimeError):
    pass


def lock_key(config: LakeConfig, name: str) -> str:
    return f"btcw:{config.metadata_schema or 'main'}:{name}"


@contextlib.contextmanager
def write_locks(config: LakeConfig, names: Iterable[str], holder: str, wait_s: float = DEFAULT_WAIT_S
                ) -> Iterator[None]:
    """Hold the named locks (taken in sorted order, so two writers wanting several never deadlock) for the block."""
    wanted = sorted(set(names))
    conn = psycopg2.connect(host=config.pg_host, port=config.pg_port, user=config.pg_user,
                            password=config.pg_password, dbname=config.pg_database,
                            application_name=f"btcw lock: {holder}"[:63])
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            for name in wanted:
                _acquire(cursor, lock_key(config, name), holder, wait_s)
        yield
    finally:
        conn.close()  # ends the session: PostgreSQL releases every advisory lock it held


def _acquire(cursor, key: str, holder: str, wait_s: float) -> None:
    """Take `key`; while another session holds it, say once on stderr who waits for whom (a run otherwise looks
    stuck on its step), then poll until granted or `wait_s` has passed."""
    deadline = time.monotonic() + wait_s
    said = False
    while True:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        if cursor.fetchone()[0]:
            if said:
                print(f"lake lock {key!r} granted to {holder}", file=sys.stderr, flush=True)
            return
        if not said and wait_s > 0:
            print(f"lake lock {key!r} held by {holders(cursor, key) or 'another writer'}: {holder} waits for it "
                  f"(up to {wait_s:.0f} s)", file=sys.stderr, flush=True)
            said = True
        if time.monotonic() >= deadline:
            raise LakeLockTimeout(f"lake lock {key!r} not granted in {wait_s:.0f} s for {holder}: held by "
                                  f"{holders(cursor, key) or 'a session that ended meanwhile'}")
        time.sleep(POLL_S)


def holders(cursor, key: str) -> str:
    """Who holds `key`: the application name each writer gave its lock session (what it was writing), and its pid."""
    cursor.execute(
        "SELECT string_agg(a.application_name || ' (backend pid ' || a.pid || ')', ', ') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(%s, 0)", [key])
    return cursor.fetchone()[0] or ""
