"""The HTML the project writes renders in a real browser with no network: the Great Expectations Data Docs (their
CSS/JS vendored from npm, pipelines/quality/data_docs.py) and the daily report (self-contained). Headless Chromium
(Debian's package `chromium`) opens each page from disk; its net log must show no request leaving the machine.

Absent browser or vendored files: the tests skip, naming what is missing, unless BTCW_REQUIRE_BROWSER=1 (.ci/run sets
it) makes that a failure."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa
import pytest
from PIL import Image
from reporting.report_warehouse import GAMMA_DAY, build_report_warehouse

from pipelines.ingest.load_log import ensure_load_log
from pipelines.ingest.raw_loader import ensure_raw_table
from pipelines.quality import data_docs
from pipelines.quality.data_docs import INSTALL, NODE_MODULES, NPM_FILES, VENDORED, build_data_docs, vendor_site
from pipelines.reporting.daily_report import render_daily_report
from pipelines.sources.registry import get_dataset

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("BTCW_REQUIRE_BROWSER", "").strip().lower() in ("1", "true", "yes")
DAY = dt.date(2025, 11, 20)
CLOSED_PORT = "http://127.0.0.1:9/"  # nothing listens there: a request to it fails at once, on this machine
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--window-size=1280,900", "--virtual-time-budget=10000",
    # Chromium's own calls to Google, made whatever the page (network time, the signed-in accounts, component
    # updates): off, or sent to the closed port, so that any other URL in the net log was asked for by the page.
    "--disable-features=NetworkTimeServiceQuerying", f"--gaia-url={CLOSED_PORT}",
    f"--component-updater=url-source={CLOSED_PORT}",
    # No host name resolves: a page asking for one is caught in the net log, and the test never reaches the internet.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def absent(what: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"BTCW_REQUIRE_BROWSER=1 but {what}", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        absent(f"no browser: {CHROMIUM} is missing (Debian package `chromium`)")
    return CHROMIUM


@pytest.fixture(scope="module")
def data_docs_site(tmp_path_factory) -> tuple[Path, dict[str, bool]]:
    """The Data Docs of a one-row warehouse (a candle whose high is below its open: one suite fails), built once."""
    missing = [name for name in VENDORED if not (NODE_MODULES / name).exists()]
    if missing:
        absent(f"the Data Docs' vendored web assets are missing ({NODE_MODULES / missing[0]}): run `{INSTALL}`")
    folder = tmp_path_factory.mktemp("data_docs")
    conn = raw_warehouse(folder / "w.duckdb")
    results = build_data_docs(conn, folder / "quality", DAY, DAY + dt.timedelta(days=1))
    conn.close()
    return folder / "quality", results


def raw_warehouse(path: Path, *, load_log: bool = False) -> duckdb.DuckDBPyConnection:
    spec = get_dataset("coinbase", "spot_candles_1d")
    conn = duckdb.connect(str(path))
    ensure_raw_table(conn, spec)
    rows = [dict(partition_date=DAY, bucket_start=dt.datetime(2025, 11, 20), open=100.0, high=90.0, low=80.0,
                 close=95.0, volume_btc=1.0)]
    conn.register("r", pa.Table.from_pylist(rows, schema=spec.raw_schema))
    conn.execute(f'INSERT INTO raw."{spec.raw_table}" SELECT *, \'landing/x\', TIMESTAMP \'2025-11-21\' FROM r')
    if load_log:
        ensure_load_log(conn)
        conn.execute("INSERT INTO raw.load_log (dataset, partition_date, status, rows_landed, rows_loaded, "
                     "rows_quarantined, _logged_at) VALUES ('coinbase__spot_candles_1d', ?, 'loaded', 1, 1, 0, "
                     "TIMESTAMP '2025-11-21')", [DAY])
    return conn


def open_offline(browser: Path, page: Path, out: Path) -> tuple[str, Image.Image]:
    """`page` opened from disk: its DOM once the scripts ran, and a screenshot. Fails listing any URL requested
    from the network other than 127.0.0.1."""
    out.mkdir()
    net_log, screenshot = out / "net-log.json", out / "page.png"
    done = subprocess.run([str(browser), *FLAGS, f"--user-data-dir={out / 'profile'}", f"--log-net-log={net_log}",
                           f"--screenshot={screenshot}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and screenshot.exists(), done.stderr[-3000:]
    events = json.loads(net_log.read_text())["events"]
    requested = sorted({event["params"]["url"] for event in events if "url" in event.get("params", {})})
    outside = [url for url in requested
               if urlsplit(url).scheme not in ("file", "data") and urlsplit(url).hostname != "127.0.0.1"]
    assert not outside, f"{page.name} requested from outside the machine: {outside}"
    return done.stdout, Image.open(screenshot).convert("RGB")


def test_a_request_leaving_the_machine_is_caught(chromium, tmp_path):
    """The net log sees what a page asks of the network (file:// loads are not in it): a page loading from a CDN,
    as GX's pages did, fails here, naming the URLs (none resolves: nothing leaves the machine)."""
    page = tmp_path / "cdn.html"
    page.write_text('<link rel="stylesheet" href="https://cdn.example.org/x.css"><img src="https://example.org/y.png">')
    with pytest.raises(AssertionError, match=r"cdn.html requested from outside the machine: "
                                             r"\['https://cdn.example.org/x.css', 'https://example.org/y.png'\]"):
        open_offline(chromium, page, tmp_path / "browser")


def colours(image: Image.Image) -> dict[tuple[int, int, int], int]:
    return {colour: count for count, colour in image.getcolors(image.width * image.height)}


def test_data_docs_index_renders_offline(chromium, data_docs_site, tmp_path):
    site, results = data_docs_site
    dom, screenshot = open_offline(chromium, site / "index.html", tmp_path / "browser")
    # bootstrap-table builds the rows from the page's data: jQuery, bootstrap-table and its extension ran.
    rows = re.findall(r'<tr\b[^>]*\bdata-index="\d+"[^>]*>(.*?)</tr>', dom, re.S)
    for suite in results:
        assert any(f">{suite}<" in row for row in rows), f"no table row of {suite}: the page's scripts did not run"
    # The status icons: Font Awesome glyphs in Bootstrap's success green and danger red (1 failed suite, 2 passed).
    painted = colours(screenshot)
    assert painted.get((0x28, 0xA7, 0x45), 0) > 50 and painted.get((0xDC, 0x35, 0x45), 0) > 10, \
        "no Bootstrap-coloured icon on the page: its stylesheets or fonts did not load"


def test_every_file_a_data_docs_page_names_is_in_the_site(data_docs_site):
    """file:// loads that fail leave no trace in the net log: every relative src/href must exist, and no page or
    vendored stylesheet may name an outside URL to load."""
    site, _ = data_docs_site
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 7  # the index, 3 suites, 3 validation results
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not data_docs.FETCHED_URL.search(text), page
        assert "great-expectations-web-assets" not in text and "newsletter" not in text, page
        # GX 1.24.1 puts a validation page's favicon one folder too high (favicon.j2): only the tab's icon is lost.
        text = re.sub(r'<link rel="shortcut icon"[^>]*>', "", text)
        for target in re.findall(r'\b(?:src|href)="([^"]*)"', text):
            if ":" not in target and not target.startswith("#"):  # not a URL with a scheme, nor an anchor
                path = page.parent / target.split("?")[0].split("#")[0]
                assert path.is_file(), f"{page.relative_to(site)} names {target}, not in the site"
    for sheet in (site / data_docs.VENDOR).rglob("*.css"):
        for target in re.findall(r"url\(\s*['\"]?([^'\")]+)", sheet.read_text(encoding="utf-8")):
            assert target.startswith("data:") or (sheet.parent / target.split("?")[0].split("#")[0]).is_file(), \
                f"{sheet.relative_to(site)} loads {target}"


def test_vendoring_again_gives_the_same_bytes(data_docs_site):
    site, _ = data_docs_site
    before = {path: path.read_bytes() for path in sorted(site.rglob("*")) if path.is_file()}
    vendor_site(site, NODE_MODULES)
    assert {path: path.read_bytes() for path in sorted(site.rglob("*")) if path.is_file()} == before


def test_the_vendored_scripts_are_the_ones_gx_pins_by_hash(data_docs_site):
    """GX's pages pin popper.js and Bootstrap's script by Subresource Integrity; the pages drop the attribute (a
    file:// page cannot check it), so the check is here: the npm files are the CDN's bytes."""
    import great_expectations

    template = Path(great_expectations.__file__).parent / "render/view/templates/js_script_imports.j2"
    pinned = re.findall(r'src="([^"]+)" integrity="sha384-([^"]+)"', template.read_text())
    assert len(pinned) == 2
    for url, digest in pinned:
        vendored = (NODE_MODULES / NPM_FILES[url]).read_bytes()
        assert base64.b64encode(hashlib.sha384(vendored).digest()).decode() == digest, url


def test_without_the_vendored_files_data_docs_stop_in_one_line(tmp_path, monkeypatch, capsys):
    from pipelines.quality.data_docs import main
    from pipelines.settings import Settings

    monkeypatch.setenv("BTCW_WAREHOUSE_DIR", str(tmp_path))
    monkeypatch.setenv("BTCW_SOURCE_MODE", "demo")
    monkeypatch.setattr(data_docs, "NODE_MODULES", tmp_path / "web" / "node_modules")
    path = Settings.from_env().duckdb_path
    path.parent.mkdir(parents=True)
    raw_warehouse(path, load_log=True).close()
    assert main([]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("quality-docs: the Data Docs' web assets are not installed (") and \
        line.endswith(f"is missing): run `{INSTALL}`"), line
    assert not (tmp_path / "demo" / "quality").exists()


def test_daily_report_renders_offline(chromium, tmp_path):
    db = build_report_warehouse(tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(db), read_only=True) as conn:
        page = render_daily_report(conn, GAMMA_DAY, tmp_path / "reports")
    dom, screenshot = open_offline(chromium, page, tmp_path / "browser")
    assert f"<h1>Bitcoin market stress, {GAMMA_DAY}</h1>" in dom
    assert dom.count('<img src="data:image/png;base64,') == 4
    # Not a blank page: its text, table and the top of the price chart (a blank one is all white).
    white = colours(screenshot).get((255, 255, 255), 0)
    assert white < 0.95 * screenshot.width * screenshot.height
