"""The static daily HTML reports and the market notes, written from the published serving copy after each publish."""

import dagster as dg
import duckdb

from pipelines.assets.serving import SERVING_KEY
from pipelines.ingest.extract import days_in_window
from pipelines.metadata import record_partitions
from pipelines.partitions import window_dates
from pipelines.analytics.gamma_plot import markdown_image
from pipelines.reporting.daily_report import render_daily_report, report_sections
from pipelines.reporting.market_note import write_note
from pipelines.resources import WarehouseResource
from pipelines.serving.publish import serving_duckdb_path
from pipelines.settings import SourceMode

REPORTS_KEY = dg.AssetKey(["reports", "daily_html"])
NOTES_KEY = dg.AssetKey(["reports", "market_note"])
# A report takes ~2 s (five plots): a year's backfill renders its last days only; `make report` renders any day.
MAX_REPORTS_PER_RUN = 7


def build_reports_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=REPORTS_KEY,
        deps=[SERVING_KEY],
        group_name="serving",
        kinds={"html"},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="`<tree>/reports/<date>.html`: price with liquidations and level breaks, hash rate with its 7-day "
                    "average and drawdown, hashprice, gamma exposure by strike with the zero-gamma level.",
    )
    def daily_html(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        start, end = window_dates(context)
        window = days_in_window(start, end)
        days = window[-MAX_REPORTS_PER_RUN:]
        settings = warehouse.settings
        out_dir = settings.tree_dir / "reports"
        # The serving copy, like any BI reader: never the pipeline's file.
        with duckdb.connect(str(serving_duckdb_path(settings.tree_dir)), read_only=True) as conn:
            simulated = settings.source_mode is SourceMode.DEMO
            paths = {day: render_daily_report(conn, day, out_dir, simulated=simulated) for day in days[:-1]}
            # The last day's plots also go into its metadata, to be seen in the Dagster UI.
            last_sections = report_sections(conn, days[-1]) if days else []
            if days:
                paths[days[-1]] = render_daily_report(conn, days[-1], out_dir, last_sections, simulated=simulated)
        skipped = len(window) - len(days)
        context.log.info(f"rendered {len(paths)} report(s) into {out_dir}"
                         + (f"; `make report` renders the {skipped} day(s) before them" if skipped else ""))
        per_day: dict[object, dict[str, object]] = {}
        for day in window:
            if day in paths:
                per_day[day] = {"report": dg.MetadataValue.path(str(paths[day])), "rendered": True}
            else:  # a long window renders its last days only
                per_day[day] = {"report": f"not rendered by this run: make report DATE={day.isoformat()}",
                                "rendered": False}
        for section in last_sections:
            if section.png is not None:
                per_day[days[-1]][f"plot_{section.anchor}"] = dg.MetadataValue.md(
                    markdown_image(section.png, section.alt))
        record_partitions(context, per_day)
        return dg.MaterializeResult()

    return daily_html


def build_notes_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=NOTES_KEY,
        deps=[SERVING_KEY],
        group_name="serving",
        kinds={"markdown"},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="`<tree>/notes/<date>.md`: the day's market note, every sentence chosen by fixed rules from "
                    "queries on the marts, listed at its end (pipelines/reporting/market_note.py). Every day of "
                    "the window: a note is a few queries, no picture.",
    )
    def market_note(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        start, end = window_dates(context)
        window = days_in_window(start, end)
        settings = warehouse.settings
        out_dir = settings.tree_dir / "notes"
        simulated = settings.source_mode is SourceMode.DEMO
        per_day: dict[object, dict[str, object]] = {}
        with duckdb.connect(str(serving_duckdb_path(settings.tree_dir)), read_only=True) as conn:
            for day in window:
                path, text = write_note(conn, day, out_dir, simulated=simulated)
                per_day[day] = {"note": dg.MetadataValue.path(str(path))}
        if window:
            per_day[window[-1]]["text"] = dg.MetadataValue.md(text)
        context.log.info(f"wrote {len(window)} market note(s) into {out_dir}")
        record_partitions(context, per_day)
        return dg.MaterializeResult()

    return market_note
