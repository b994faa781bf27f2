"""Memory of a refused gzip bomb: a 531 KB gzip body inflating to 512 MiB, served on 127.0.0.1 and fetched through the
live client into a landing archive. Prints the bomb, the peak traced memory, the files archived and the one-line
error. (`python -m bench.gzip_bomb`; the same bomb and server as tests/test_hostile_answers.py.)"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import tracemalloc
from pathlib import Path

from bench.machine import cpu_name
from pipelines.ingest.archive import LandingArchive
from tests.test_hostile_answers import archived_files, fetch_into, fetcher, gzip_bomb, reply, serving, tolerant


def main() -> None:
    bomb = gzip_bomb()
    print(f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {cpu_name()} ({os.cpu_count()} CPUs)")
    print(f"bomb: {len(bomb):,} bytes of gzip, inflating to 512 MiB")
    with serving() as origin, tempfile.TemporaryDirectory() as root:
        origin.script.then(tolerant(reply(200, bomb, {"Content-Encoding": "gzip"})))
        live = fetcher(origin)
        tracemalloc.start()
        try:
            error = fetch_into(LandingArchive(Path(root)), live)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            live.close()
        print(f"peak traced memory {peak / 2**20:.1f} MiB; files archived: {len(archived_files(Path(root)))}")
        print(f"error: {error}")


if __name__ == "__main__":
    main()
