"""The demo APIs served over real HTTP on 127.0.0.1, so the live client can be exercised offline.

Every host of the live sources maps to this one server (routing is by path). Tests point `LiveFetcher`'s
`base_urls` at it and inject faults; a developer can run it by hand:

    .venv/bin/python -m pipelines.demo.server --port 8787 --now 2025-11-21T00:30:00Z
"""

from __future__ import annotations

import argparse
import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from pipelines.demo.api import DemoApi


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


# A fault injector sees (path, how many times this path was asked so far, starting at 1) and returns a
# Reply to send instead of the simulator's answer, or None to let the simulator answer.
FaultInjector = Callable[[str, int], Reply | None]


class DemoApiServer:
    """Context manager: a ThreadingHTTPServer on 127.0.0.1 (port 0 = any free port) answering from DemoApi."""

    def __init__(
        self,
        now: Callable[[], dt.datetime],
        *,
        api: DemoApi | None = None,
        faults: FaultInjector | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.api = api or DemoApi()
        self.now = now
        self.faults = faults
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> DemoApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def answer(self, raw_path: str) -> Reply:
        parts = urlsplit(raw_path)
        with self._lock:
            self.hits[parts.path] = attempt = self.hits.get(parts.path, 0) + 1
        injected = self.faults(parts.path, attempt) if self.faults else None
        if injected is not None:
            return injected
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        status, body = self.api.respond(parts.path, params, self.now())
        return Reply(status, body, {"Content-Type": "application/json"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                reply = server.answer(self.path)
                self.send_response(reply.status)
                headers = {"Content-Length": str(len(reply.body)), **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:  # quiet: tests read hits instead
                pass

        return Handler


def wait_until_interrupted() -> None:
    """Block the main thread while a server runs in its own, until Ctrl-C."""
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--now", type=dt.datetime.fromisoformat, help="fixed simulated time (default: real now)")
    args = parser.parse_args()
    fixed = args.now.astimezone(dt.UTC) if args.now else None
    with DemoApiServer(lambda: fixed or dt.datetime.now(dt.UTC), host=args.host, port=args.port) as server:
        print(f"demo APIs on {server.base_url} (Ctrl-C to stop)")
        wait_until_interrupted()


if __name__ == "__main__":
    main()
