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
its own transaction, committed before the call returns; checkpoints happen as SQLite schedules them (every 1,000 WAL
pages) instead of at every event. Connections are used under the storage's own lock, one thread at a time, and never
across a fork: a child process opens its own.

Durability (`synchronous`, dagster.yaml): the event log's connections commit with SQLite's `synchronous=NORMAL`, the
setting SQLite recommends for WAL databases, not Dagster's FULL: a commit is written to the WAL but not fsynced, so
it is never torn or lost when the process is killed (the OS has the page), and the file stays consistent whatever
happens; only the last events before a power cut or a kernel crash may be rolled back, and the run's monitoring then
marks the run failed (pipelines/runs). An fsync per event was ~3 s of a nightly's ~2,400 events. `FULL` restores it.

dagster.yaml selects it (`storage: custom:`); `dagster instance migrate` and Dagster's other tools read the same files.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import Enum, EnumValue, Field, StringSource
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import create_db_conn_string
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import serialize_value
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

OPEN_SHARDS = 8  # the run being written and read, the index, and a few runs a reader looks at
SYNCHRONOUS = ("NORMAL", "FULL")  # SQLite's `PRAGMA synchronous` for the event log's commits; the first is the default
SQLITE_BUSY_TIMEOUT_S = 30  # as Dagster's own connections: another process holding the write lock is waited for


def _current_pid() -> int:
    return os.getpid()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage with one open connection per recently used shard (see the module's docstring)."""

    def __init__(self, base_dir: str, inst_data: Any = None, synchronous: str = SYNCHRONOUS[0]) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"dagster.yaml storage: synchronous must be one of {', '.join(SYNCHRONOUS)}, "
                             f"not {synchronous!r}")
        self._synchronous = synchronous
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = _current_pid()
        self._tables: set[str] = set()
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data)  # last: on a new folder, it creates the index shard through _connect

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
            event.listen(engine, "connect", self._on_connect)
            self._engines[shard] = engine
            while len(self._engines) > OPEN_SHARDS:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
            return engine

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA synchronous={self._synchronous}")  # one of SYNCHRONOUS, checked above

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

    def _store_asset_check_evaluation_planned(self, event: Any, event_id: int | None) -> None:
        """Dagster's own rows (one per partition the check is planned for), written in one `executemany` with the
        event serialized once. Dagster's serializes the same event again for every partition and compiles a
        multi-row INSERT of all of them: a run over a year planned 316 checks × 365 partitions, and that took
        33 s of its 35 s creation under py-spy. tests/test_event_storage.py holds the rows to Dagster's, byte for
        byte, and fails if an upgrade changes what Dagster's writes."""
        planned = event.dagster_event.event_specific_data
        partition_keys = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        shared = {
            "asset_key": planned.asset_key.to_string(),
            "check_name": planned.check_name,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": serialize_value(event),
            "evaluation_event_timestamp": self._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
        }
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert(), [{**shared, "partition": key} for key in partition_keys])

    def dispose(self) -> None:
        with self._engines_lock:
            engines, self._engines = list(self._engines.values()), OrderedDict()
        for engine in engines:
            engine.dispose()
        super().dispose()


class PooledSqliteStorage(DagsterSqliteStorage):
    """DagsterSqliteStorage with PooledSqliteEventLogStorage as its event log: same folders, same files."""

    def __init__(self, base_dir: str, inst_data: Any = None, synchronous: str = SYNCHRONOUS[0]) -> None:
        super().__init__(base_dir, inst_data)
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir), synchronous=synchronous)

    @classmethod
    def config_type(cls) -> Any:
        choices = Enum("SqliteSynchronous", [EnumValue(value) for value in SYNCHRONOUS])
        return {"base_dir": StringSource,
                "synchronous": Field(choices, is_required=False, default_value=SYNCHRONOUS[0])}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledSqliteStorage:  # type: ignore[override]
        base_dir = config_value["base_dir"]
        os.makedirs(base_dir, exist_ok=True)
        return cls(base_dir, inst_data=inst_data, synchronous=config_value.get("synchronous", SYNCHRONOUS[0]))
