"""Great Expectations Data Docs of the raw stage: every dataset's suites validated against the warehouse's raw
tables (read-only) over a window, rendered as a static site in <warehouse dir>/<mode>/quality/.

    python -m pipelines.quality.data_docs [--start YYYY-MM-DD] [--end YYYY-MM-DD]   (or: make quality-docs)

Without dates, the window is the 30 days up to the newest day in raw.load_log.

The site renders offline: GX's pages load their CSS/JS from CDNs; the same files, installed from npm at the versions
the URLs name (pipelines/quality/web, `make quality-web-assets`), are copied into <site>/static/vendor/ and every
page's CDN URLs rewritten to relative paths to them (LOCAL below).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import duckdb

from pipelines import engine
from pipelines.checks.raw_checks import daily_volumes, read_raw_window, schema_frame
from pipelines.quality.derived import with_derived_columns
from pipelines.quality.suites import row_expectations, schema_expectations, volume_expectations
from pipelines.quality.validation import to_frame
from pipelines.settings import Settings, SettingsError
from pipelines.sources.registry import DATASETS

SITE = "quality"
DEFAULT_DAYS = 30

NODE_MODULES = Path(__file__).resolve().parent / "web" / "node_modules"
INSTALL = "make quality-web-assets"
VENDOR = "static/vendor/"  # in the site
# Every CDN file GX 1.24.1's pages load → the same file from npm, by its path in node_modules (copied to the same path
# under <site>/static/vendor/). vega@5, vega-lite@5 and vega-embed@6 name no exact version: the newest of those majors,
# and the file jsdelivr serves for such a URL (the package's "jsdelivr" field). bootstrap-table 1.19.0's filter-control
# stylesheets differ from 1.19.1's only in their version comment.
CDNJS = "https://cdnjs.cloudflare.com/ajax/libs/"
UNPKG, JSDELIVR = "https://unpkg.com/", "https://cdn.jsdelivr.net/npm/"
FILTER_CONTROL = "/dist/extensions/filter-control/bootstrap-table-filter-control"
NPM_FILES = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    CDNJS + "popper.js/1.12.9/umd/popper.min.js": "popper.js/dist/umd/popper.min.js",
    CDNJS + "bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    CDNJS + "bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    CDNJS + "font-awesome/6.6.0/css/all.min.css": "@fortawesome/fontawesome-free/css/all.min.css",
    UNPKG + "bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/dist/bootstrap-table.min.css",
    UNPKG + "bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/dist/bootstrap-table.min.js",
    UNPKG + "bootstrap-table@1.19.1" + FILTER_CONTROL + ".min.js": "bootstrap-table" + FILTER_CONTROL + ".min.js",
    UNPKG + "bootstrap-table@1.19.0" + FILTER_CONTROL + ".css": "bootstrap-table" + FILTER_CONTROL + ".css",
    UNPKG + "bootstrap-table@1.19.0" + FILTER_CONTROL + ".min.css": "bootstrap-table" + FILTER_CONTROL + ".min.css",
    JSDELIVR + "@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
    JSDELIVR + "vega@5": "vega/build/vega.min.js",
    JSDELIVR + "vega-lite@5": "vega-lite/build/vega-lite.min.js",
    JSDELIVR + "vega-embed@6": "vega-embed/build/vega-embed.min.js",
}
# GX's logos on S3 → GX's own copy in the site (it has no dark logo: the light one stands in).
GX_IMAGES = {"https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/" + name: "static/images/logo-long.png"
             for name in ("logo-long.png", "full_logo_dark.png")}
LOCAL = {**{url: VENDOR + path for url, path in NPM_FILES.items()}, **GX_IMAGES}  # URL (no query) → site file
# What is copied from node_modules: those files, and the fonts Font Awesome's stylesheet loads (../webfonts/).
VENDORED = sorted({*NPM_FILES.values(), "@fortawesome/fontawesome-free/webfonts"})
URL = re.compile(r"https?://[^\s\"'()<>]+")
# A URL the browser fetches by itself (not a link followed on a click): a src, a stylesheet's href, a CSS url().
FETCHED_URL = re.compile(r"""(?:\bsrc=["']|<link\b[^>]*?\bhref=["']|url\(\s*["']?)(https?://[^"')\s]+)""")
# A script's integrity check needs CORS, which a file:// page has not: dropped (the test checks those hashes instead).
SRI = re.compile(r'\s+integrity="[^"]*"\s+crossorigin="anonymous"')
# GX's newsletter footer (a link to greatexpectations.io with tracking parameters) is left out of the site.
NEWSLETTER = re.compile(r"<footer>\s*<p>Stay current on everything GX.*?</footer>\s*", re.S)


class DataDocsError(Exception):
    """A site that cannot be written whole: one line, printed by main()."""


def build_data_docs(conn: duckdb.DuckDBPyConnection, out_dir: Path, start: dt.date, end: dt.date,
                    node_modules: Path | None = None) -> dict[str, bool]:
    """Validate every dataset present in `raw` over [start, end); write the site, loading nothing from outside it;
    return suite → success. DataDocsError (before anything is written) when the vendored files are not installed."""
    node_modules = node_modules or NODE_MODULES
    missing = [name for name in VENDORED if not (node_modules / name).exists()]
    if missing:
        raise DataDocsError(f"the Data Docs' web assets are not installed ({node_modules / missing[0]} is missing): "
                            f"run `{INSTALL}`")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(site_name=SITE, site_config={
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(out_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    source = context.data_sources.add_pandas("raw")
    present = {row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'").fetchall()}
    results: dict[str, bool] = {}
    for spec in DATASETS:
        if spec.raw_table not in present:
            continue
        rows = read_raw_window(conn, spec, start, end)
        frames = {
            "rows": (row_expectations(spec), with_derived_columns(spec, rows)),
            "schema": (schema_expectations(), schema_frame(conn, spec)),
            "volume": (volume_expectations(spec), daily_volumes(conn, spec, start, end)),
        }
        for kind, (expectations, table) in frames.items():
            if expectations:
                name = f"{spec.raw_table}.{kind}"
                results[name] = _validate(context, source, name, expectations, table)
    context.build_data_docs(site_names=[SITE])
    vendor_site(out_dir, node_modules)
    return results


def vendor_site(site: Path, node_modules: Path) -> None:
    """Copy the vendored files into the site and point every page at them; the same inputs give the same bytes."""
    shutil.rmtree(site / VENDOR, ignore_errors=True)
    for name in VENDORED:
        source = node_modules / name
        for file in sorted(source.rglob("*")) if source.is_dir() else [source]:
            if file.is_file():
                target = site / VENDOR / file.relative_to(node_modules)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target)
    for page in sorted(site.rglob("*.html")):
        text = page.read_bytes().decode("utf-8")
        local = URL.sub(lambda m: _relative(site, page, m.group()), SRI.sub("", NEWSLETTER.sub("", text)))
        outside = FETCHED_URL.search(local)
        if outside:
            raise DataDocsError(f"{page.relative_to(site)} loads {outside.group(1)}, which is not vendored "
                                "(LOCAL in pipelines/quality/data_docs.py)")
        if local != text:
            page.write_bytes(local.encode("utf-8"))


def _relative(site: Path, page: Path, url: str) -> str:
    local = LOCAL.get(url.split("?", 1)[0])
    return url if local is None else Path(os.path.relpath(site / local, page.parent)).as_posix()


def _validate(context: Any, source: Any, name: str, expectations: list[Any], table: Any) -> bool:
    import great_expectations as gx

    batch_definition = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch_definition,
                                                                            suite=suite))
    return bool(definition.run(batch_parameters={"dataframe": to_frame(table)}).success)


def default_window(conn: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date] | None:
    """The 30 days up to the newest day in raw.load_log, half-open; None when nothing was ever loaded."""
    newest = conn.execute("SELECT max(partition_date) FROM raw.load_log").fetchone()[0]
    if newest is None:
        return None
    return newest - dt.timedelta(days=DEFAULT_DAYS - 1), newest + dt.timedelta(days=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=dt.date.fromisoformat, help="first day (default: 30 days before the newest)")
    parser.add_argument("--end", type=dt.date.fromisoformat, help="last day, inclusive (default: the newest)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"quality-docs: {error}", file=sys.stderr)
        return 2
    if args.start and args.end and args.end < args.start:
        print(f"quality-docs: END {args.end} is before START {args.start}", file=sys.stderr)
        return 2
    if not engine.exists(settings):
        print(f"quality-docs: no warehouse at {settings.duckdb_path}: run the pipeline first (make run)",
              file=sys.stderr)
        return 2
    out_dir = settings.tree_dir / "quality"
    with engine.connect(settings, read_only=True) as conn:
        window = default_window(conn)
        if window is None:
            print("quality-docs: raw.load_log is empty: run the pipeline first (make run)", file=sys.stderr)
            return 1
        start = args.start or window[0]
        end = args.end + dt.timedelta(days=1) if args.end else window[1]
        if end <= start:
            print(f"quality-docs: the window [{start}, {end}) holds no day", file=sys.stderr)
            return 2
        loaded = conn.execute("SELECT count(*) FROM raw.load_log WHERE status = 'loaded' AND partition_date >= ? "
                              "AND partition_date < ?", [start, end]).fetchone()[0]
        if not loaded:
            first, last = conn.execute("SELECT min(partition_date), max(partition_date) FROM raw.load_log "
                                       "WHERE status = 'loaded'").fetchone()
            print(f"quality-docs: no data: no day of [{start}, {end}) was loaded (the warehouse holds "
                  f"{first} … {last}); nothing validated", file=sys.stderr)
            return 1
        try:
            results = build_data_docs(conn, out_dir, start, end)
        except DataDocsError as error:
            print(f"quality-docs: {error}", file=sys.stderr)
            return 2
    failed = sorted(name for name, ok in results.items() if not ok)
    print(f"{len(results)} suites validated over [{start}, {end}): {len(failed)} failed {failed if failed else ''}")
    print(f"Data Docs: {out_dir / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
