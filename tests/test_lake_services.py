"""The lake's local servers for real (pipelines.lake.services): PostgreSQL and SeaweedFS started once for the module in
a scratch warehouse (tests/lake_servers.py), checked with real clients (psql; pyarrow's S3 filesystem, the AWS SDK's
SigV4 signing)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.lake import services
from tests.lake_servers import ROOT, lake_cli, running_lake

AS_BUILT = ("-o", "dbt/target/manifest.json", "-o", ".venv/.installed",
            "-o", "pipelines/quality/web/node_modules/.installed")


@pytest.fixture(scope="module")
def lake():
    with running_lake() as lake:
        yield lake


def _psql(lake, sql: str, password: str | None = None, database: str | None = None) -> subprocess.CompletedProcess:
    pg = lake.state["postgres"]
    password = lake.state["credentials"]["pg_password"] if password is None else password
    return subprocess.run([str(services.pg_bindir(os.environ) / "psql"), "-h", "127.0.0.1", "-p", str(pg["port"]),
                           "-U", pg["user"], "-d", database or pg["database"], "-X", "-Atq", "-c", sql],
                          capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ["PATH"], "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"})


def _s3(lake, secret: str | None = None, anonymous: bool = False):
    from pyarrow import fs

    s3, credentials = lake.state["s3"], lake.state["credentials"]
    if anonymous:
        return fs.S3FileSystem(anonymous=True, endpoint_override=s3["endpoint"], scheme="http", region=s3["region"])
    return fs.S3FileSystem(access_key=credentials["s3_access_key_id"],
                           secret_key=credentials["s3_secret_access_key"] if secret is None else secret,
                           endpoint_override=s3["endpoint"], scheme="http", region=s3["region"])


def test_up_starts_both_and_says_where(lake):
    out = lake.first.stdout
    pg, s3 = lake.state["postgres"], lake.state["s3"]
    assert f"PostgreSQL on 127.0.0.1:{pg['port']}" in out and f"S3 on http://127.0.0.1:{s3['port']}" in out, out
    assert str(lake.paths.pg_log) in out and str(lake.paths.s3_log) in out and str(lake.paths.state) in out
    assert out.count("lake: started in ") == 2
    assert len(set(s3["ports"].values()) | {pg["port"]}) == len(services.WEED_PORTS) + 1  # all distinct
    # The state file and SeaweedFS's identities hold credentials: this user's only.
    for private in (lake.paths.state, lake.paths.s3_config):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    assert not list(lake.paths.pg_dir.glob(".initdb-password*"))
    if os.geteuid() == 0:  # PostgreSQL refuses root: it runs as the postgres system user, who owns its data
        assert lake.paths.pg_data.stat().st_uid == services.pwd.getpwnam("postgres").pw_uid
        assert Path(f"/proc/{pg['pid']}").stat().st_uid == lake.paths.pg_data.stat().st_uid


def test_postgres_accepts_the_credentials_and_has_the_catalog_database(lake):
    done = _psql(lake, "SELECT current_user || ' ' || current_database() || ' ' || host(inet_server_addr())")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "btcw btcw_lake 127.0.0.1"
    refused = _psql(lake, "SELECT 1", password="not-the-password")
    assert refused.returncode != 0 and "password authentication failed" in refused.stderr


def test_s3_signed_put_get_list_and_unsigned_refused(lake):
    from pyarrow import fs

    bucket = lake.state["s3"]["bucket"]
    client = _s3(lake)
    with client.open_output_stream(f"{bucket}/probe/one.txt") as out:
        out.write(b"lake probe")
    assert client.open_input_stream(f"{bucket}/probe/one.txt").read() == b"lake probe"
    listed = client.get_file_info(fs.FileSelector(f"{bucket}/probe", recursive=True))
    assert [(info.path, info.size) for info in listed] == [(f"{bucket}/probe/one.txt", 10)]
    for stranger in (_s3(lake, secret="wrong-secret"), _s3(lake, anonymous=True)):
        with pytest.raises(OSError, match="ACCESS_DENIED|AccessDenied|403"):
            stranger.open_input_stream(f"{bucket}/probe/one.txt").read()


def _listening(pids: set[int]) -> dict[int, list[tuple[str, str]]]:
    """pid → the (protocol, local address) of every socket it listens on (TCP) or has bound (UDP), from /proc."""
    inodes: dict[str, int] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith("socket:["):
                inodes[target[8:-1]] = pid
    found: dict[int, list[tuple[str, str]]] = {pid: [] for pid in pids}
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{protocol}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode in inodes and (protocol.startswith("udp") or state == "0A"):  # 0A: LISTEN
                address, port = local.split(":")
                if len(address) == 8:  # IPv4, little-endian hex
                    address = ".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0))
                found[inodes[inode]].append((protocol, f"{address}:{int(port, 16)}"))
    return found


def test_every_listening_socket_is_on_loopback(lake):
    pg, s3 = lake.state["postgres"], lake.state["s3"]
    members = set(services.process_tree(pg["pid"])) | set(services.process_tree(s3["pid"]))
    sockets = _listening(members)
    everything = [address for found in sockets.values() for _, address in found]
    assert everything and all(address.startswith("127.0.0.1:") for address in everything), sockets
    assert sorted(address for _, address in sockets[pg["pid"]]) == [f"127.0.0.1:{pg['port']}"]
    assert sorted(int(address.split(":")[1]) for _, address in sockets[s3["pid"]]) == sorted(s3["ports"].values())


def test_up_again_is_idempotent_and_a_changed_credential_is_refused(lake):
    again = lake_cli(lake.env, "up")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("lake: already running: ") == 2, again.stdout
    state = services.read_state(lake.paths)
    assert state["postgres"]["pid"] == lake.state["postgres"]["pid"] and state["s3"]["pid"] == lake.state["s3"]["pid"]
    changed = lake_cli({**lake.env, "BTCW_LAKE_PG_PASSWORD": "another-one"}, "up")
    assert changed.returncode == 1 and changed.stderr.count("\n") == 1, changed.stderr
    assert "BTCW_LAKE_PG_PASSWORD differs from the value this lake was created with" in changed.stderr
    exported = lake_cli(lake.env, "env")
    assert f"export BTCW_LAKE_S3_ENDPOINT=127.0.0.1:{state['s3']['port']}\n" in exported.stdout


def test_no_credential_is_in_the_repository(lake):
    """The generated credentials live only in the warehouse's state (outside the repository, and /warehouse/* is
    ignored); no file git sees, tracked or not, holds one."""
    for credential in lake.state["credentials"].values():
        found = subprocess.run(["git", "grep", "--untracked", "-l", "-F", "-e", credential], cwd=ROOT,
                               capture_output=True, text=True)
        assert found.returncode == 1 and not found.stdout, found.stdout  # 1: no match


def test_duckdb_attaches_the_lake_its_rows_land_in_s3_and_another_connection_reads_them(lake):
    """The engine side on the servers above: the extensions from their PyPI wheels (never DuckDB's repository,
    which these machines cannot reach), the catalog in PostgreSQL, every row (a 1-row insert too) in Parquet on S3,
    and a read-only connection seeing the committed table."""
    import duckdb

    from pipelines.lake import extensions
    from pipelines.lake.connect import LakeConfig, attach_lake

    assert all(extensions.wheel_file(name) for name in extensions.LAKE_EXTENSIONS), "extension wheels not installed"
    config = LakeConfig.from_env(services.client_env(lake.env), data_prefix="test-attach")
    offline = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    with duckdb.connect(config=offline) as writer:
        attach_lake(writer, config)
        writer.execute("CREATE TABLE lake.t AS SELECT range AS id, 'row ' || range AS label FROM range(1000)")
        writer.execute("INSERT INTO lake.t VALUES (5000, 'one more')")
        files = [path for (path,) in writer.execute("SELECT data_file FROM ducklake_list_files('lake', 't')").fetchall()]
    assert len(files) == 2 and all(path.startswith(config.data_path) and path.endswith(".parquet") for path in files)
    with duckdb.connect(config=offline) as reader:
        attach_lake(reader, config, read_only=True)
        assert reader.execute("SELECT count(*), max(id), max(label) FROM lake.t").fetchone() == (1001, 5000, "row 999")
        with pytest.raises(duckdb.Error, match="(?i)read.only"):
            reader.execute("INSERT INTO lake.t VALUES (1, 'refused')")


def test_an_unconfigured_lake_is_one_line_naming_the_variables(tmp_path):
    from pipelines.lake.connect import LakeConfig, LakeConfigError

    with pytest.raises(LakeConfigError) as raised:
        LakeConfig.from_env({"BTCW_LAKE_PG_HOST": "127.0.0.1"})
    message = str(raised.value)
    assert "\n" not in message and "BTCW_LAKE_PG_PORT" in message and "make lake-up" in message
    # A backfill on an unconfigured lake stops before its run, in that one line, instead of failing every step.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTCW_LAKE_")}
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "backfill", "2025-11-18", "2025-11-19"], cwd=ROOT,
                          env={**env, "BTCW_WAREHOUSE": "lake", "BTCW_WAREHOUSE_DIR": str(tmp_path)},
                          capture_output=True, text=True, timeout=300)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("backfill: the lake is not configured: BTCW_LAKE_PG_HOST, ") and "make lake-up" in lines[0]


def test_maintenance_merges_expires_and_deletes_what_nothing_needs_and_keeps_every_row(lake):
    """Twelve window replacements (the pipeline's write: delete + insert) leave 12+ snapshots and files; maintenance
    with no time travel kept leaves one snapshot, fewer files in S3 (a stray file the catalog never knew included)
    and the same rows. The write locks it takes are PostgreSQL advisory locks, seen held by another session."""
    import datetime as dt

    import duckdb
    import psycopg2

    from pipelines.duckdb_tables import string_literal
    from pipelines.lake.connect import LakeConfig, attach_lake
    from pipelines.lake.locks import LakeLockTimeout, lock_key, write_locks
    from pipelines.lake.maintenance import footprint, maintain

    config = LakeConfig.from_env(services.client_env(lake.env), data_prefix="test-maintain",
                                 metadata_schema="test_maintain")
    with duckdb.connect() as conn:
        attach_lake(conn, config)
        conn.execute("CREATE TABLE lake.daily (day DATE, value DOUBLE)")
        for n in range(12):
            conn.execute("BEGIN TRANSACTION")
            conn.execute("DELETE FROM lake.daily WHERE day >= DATE '2025-11-01' + ?::INTEGER", [n])
            conn.execute("INSERT INTO lake.daily SELECT DATE '2025-11-01' + (? + range)::INTEGER, ? * range "
                         "FROM range(3)", [n, n])
            conn.execute("COMMIT")
        rows = conn.execute("SELECT * FROM lake.daily ORDER BY ALL").fetchall()
        stray = config.data_path + "stray.parquet"  # a file written, its commit never made (a killed writer's)
        conn.execute(f"COPY (SELECT 1 AS stray) TO {string_literal(stray)} (FORMAT parquet)")
        before_objects = _objects(lake, config.data_path)
        before = footprint(conn, "lake")
        report = maintain(conn, "lake", keep=dt.timedelta(0), orphan_age=dt.timedelta(0))
        after_objects = _objects(lake, config.data_path)
        assert conn.execute("SELECT * FROM lake.daily ORDER BY ALL").fetchall() == rows
    assert report.before == before and before.snapshots >= 13 and before.data_files >= 12
    # Left: the snapshots of the rewrite and the merge themselves (newer than the horizon), one data file.
    assert report.after.snapshots <= 2 and (report.after.data_files, report.after.delete_files) == (1, 0), \
        report.line()
    assert stray in before_objects and stray not in after_objects and len(after_objects) < len(before_objects)
    assert report.orphans_deleted == 1 and report.old_files_deleted > 0
    assert report.line().startswith("lake maintenance in ") and "→" in report.line()

    with write_locks(config, ["raw", "dbt"], holder="test holder"):
        with psycopg2.connect(host=config.pg_host, port=config.pg_port, user=config.pg_user,
                              password=config.pg_password, dbname=config.pg_database) as other:
            other.autocommit = True
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [lock_key(config, "raw")])
                assert cursor.fetchone()[0] is False
        with pytest.raises(LakeLockTimeout, match=r"'btcw:test_maintain:dbt' not granted in 0 s for a second "
                                                  r"writer: held by btcw lock: test holder"):
            with write_locks(config, ["dbt"], holder="a second writer", wait_s=0):
                pass
    with write_locks(config, ["raw", "dbt"], holder="after release", wait_s=0):
        pass  # released with the first holder's session


def _objects(lake, url: str) -> set[str]:
    """The files under s3://… as the S3 server lists them now (a new client: DuckDB caches what it globbed)."""
    from pyarrow import fs

    path = url.removeprefix("s3://").rstrip("/")
    return {f"s3://{info.path}" for info in _s3(lake).get_file_info(fs.FileSelector(path, recursive=True))
            if info.type == fs.FileType.File}


def test_maintenance_refuses_a_warehouse_that_is_not_a_lake(lake):
    done = lake_cli({**lake.env, "BTCW_WAREHOUSE": "duckdb"}, "maintain")
    assert done.returncode == 1
    assert done.stderr.strip() == ("lake maintain: lake maintenance needs BTCW_WAREHOUSE=lake (a DuckDB file needs "
                                   "none)")



def test_dagster_storage_in_the_lakes_postgresql_is_shared_by_every_instance_that_opens_it(lake, tmp_path):
    """deploy/dagster-postgres/dagster.yaml is the project's instance with its storage in PostgreSQL (the URL `lake
    env` prints): a run executed through one instance is seen, succeeded, by another opened separately, as a
    second machine's would; and apart from the storage the file is the root dagster.yaml, so the two never drift."""
    import dagster as dg
    import yaml

    from pipelines.lake.connect import LakeConfig

    deploy = ROOT / "deploy" / "dagster-postgres"
    shared, project = (yaml.safe_load((folder / "dagster.yaml").read_text()) for folder in (deploy, ROOT))
    assert shared.pop("storage") == {"postgres": {"postgres_url": {"env": "BTCW_DAGSTER_PG_URL"}}}
    project.pop("storage")
    assert shared == project
    exported = lake_cli(lake.env, "env")
    url = LakeConfig.from_env(services.client_env(lake.env)).dagster_storage_url()
    assert f"export BTCW_DAGSTER_PG_URL={url}\n" in exported.stdout and url.startswith("postgresql+psycopg2://")

    @dg.op
    def probe() -> int:
        return 1

    @dg.job
    def shared_storage_probe():
        probe()

    env = {"BTCW_DAGSTER_PG_URL": url, "BTCW_DAGSTER_DIR": str(tmp_path / "artifacts"),
           "BTCW_DAGSTER_COMPUTE_LOGS_DIR": str(tmp_path / "logs"), "BTCW_DAGSTER_STORAGE_DIR": str(tmp_path / "x")}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        with dg.DagsterInstance.from_config(str(deploy)) as one:
            result = shared_storage_probe.execute_in_process(instance=one)
        with dg.DagsterInstance.from_config(str(deploy)) as other:
            run = other.get_run_by_id(result.run_id)
    assert result.success and run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    assert not (tmp_path / "x").exists()  # nothing went to local SQLite


def test_down_stops_every_process_keeps_the_data_and_up_resumes_it(lake):
    pg, s3 = lake.state["postgres"], lake.state["s3"]
    members = set(services.process_tree(pg["pid"])) | set(services.process_tree(s3["pid"]))
    assert {pg["pid"], s3["pid"]} <= members and len(members) > 2  # PostgreSQL's own processes too
    with _s3(lake).open_output_stream(f"{s3['bucket']}/resumed/one.txt") as out:  # this test's own object
        out.write(b"lake probe")
    done = lake_cli(lake.env, "down")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(" stopped: SIG") == 2, done.stdout
    assert not [pid for pid in members if services.alive(pid)]
    assert (lake.paths.pg_data / "PG_VERSION").exists() and lake.paths.state.exists()
    assert services.read_state(lake.paths)["s3"]["pid"] is None

    # Up again: the same ports (still free), the same credentials, the object written before.
    resumed = lake_cli(lake.env, "up")
    assert resumed.returncode == 0, resumed.stderr
    state = services.read_state(lake.paths)
    assert (state["postgres"]["port"], state["s3"]["ports"]) == (pg["port"], s3["ports"])
    lake.state = state
    assert _s3(lake).open_input_stream(f"{s3['bucket']}/resumed/one.txt").read() == b"lake probe"

    # make lake-down PURGE=1: stopped, and the lake's folder gone.
    purged = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *AS_BUILT, "lake-down", "PURGE=1"],
                            capture_output=True, text=True, env=lake.env, timeout=180)
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert not services.alive(state["postgres"]["pid"]) and not services.alive(state["s3"]["pid"])
    assert not lake.paths.root.exists()
