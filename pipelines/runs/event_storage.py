"""Dagster's SQLite storage with its event log connections kept open, so that a run's events cost one commit each.

Dagster's SqliteEventLogStorage creates a new SQLAlchemy engine and opens a new SQLite connection for every event
it stores, once for the run's shard and again for the index shard (asset events, check evaluations), and closes
both after one insert. Closing the last connection to a WAL database checkpoints it: every event paid an engine, two
or three connections, their commits and a checkpoint with its fsyncs. A nightly writes ~2,400 events (three per
dbt test, which are Dagster asset checks): under py-spy, 35 of a nightly's 73 s in its run thread were spent storing
them, 21 s of it in SQLite's commits and closes.

`PooledSqliteStorage` is DagsterSqliteStorage (the same three folders and files, so an existing instance carries
on) whose event log keeps one open connection per shard, for the shards used last (`OPEN_SHARDS`, least recently
used closed first: a long-lived webserver reading many runs must not hold a file open per run). Each write is still
its own transaction, committed before the call returns, with SQLite's default durability; checkpoints happen as
SQLite schedules them (every 1,000 WAL pages) instead of at every event. Connections are used under the storage's
own lock, one thread at a time, and never across a fork: a child process opens its own.

dagster.yaml selects it (`storage: custom:`); `dagster instance migrate` and Dagster's other tools read the same files.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import create_db_conn_string
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

OPEN_SHARDS = 8  # the run being written and read, the index, and a few runs a reader looks at
SQLITE_BUSY_TIMEOUT_S = 30  # as Dagster's own connections: another process holding the write lock is waited for


def _current_pid() -> int:
    return os.getpid()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage with one open connection per recently used shard (see the module's docstring)."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        super().__init__(base_dir, inst_data)
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = _current_pid()
        self._tables: set[str] = set()
        self._engines_lock = threading.Lock()

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            if self._engines_pid != _current_pid():  # a forked child: the parent's connections are not its own
                self._engines, self._engines_pid = OrderedDict(), _current_pid()
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = create_engine(
                create_db_conn_string(self._base_dir, shard), poolclass=StaticPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            )
            self._engines[shard] = engine
            while len(self._engines) > OPEN_SHARDS:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def has_table(self, table_name: str) -> bool:
        """Asked at every asset event and check evaluation stored, sometimes while the index shard's connection is
        in use (so Dagster's own way, an engine of its own): a table, once there, stays, so a yes is remembered."""
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    def dispose(self) -> None:
        with self._engines_lock:
            engines, self._engines = list(self._engines.values()), OrderedDict()
        for engine in engines:
            engine.dispose()
        super().dispose()


class PooledSqliteStorage(DagsterSqliteStorage):
    """DagsterSqliteStorage with PooledSqliteEventLogStorage as its event log: same folders, same files."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        super().__init__(base_dir, inst_data)
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledSqliteStorage:  # type: ignore[override]
        return cls.from_local(inst_data=inst_data, **config_value)
