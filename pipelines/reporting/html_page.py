"""The report page: one static HTML file, self-contained (inline CSS, PNGs as base64 data URIs, no script, no
fetch). Every piece of text goes through html.escape; the Content-Security-Policy makes a browser refuse any
script or network request even if something slipped through."""

from __future__ import annotations

import base64
import datetime as dt
import html
from dataclasses import dataclass

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

SIMULATED_NOTE = ("Simulated data: every figure on this page comes from the demo simulator's market "
                  "(BTCW_SOURCE_MODE=demo), not from real exchanges, pools or options.")
CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d1d1d;
       max-width: 1040px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.lede, p.caption { color: #444; }
p.simulated { background: #fff3cd; border: 1px solid #e0b000; padding: 0.5em 0.8em; font-weight: bold; }
table.headline { border-collapse: collapse; }
table.headline th { text-align: left; font-weight: 600; padding: 0.25em 1.5em 0.25em 0; vertical-align: top; }
table.headline td { padding: 0.25em 0; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
p.no-data { background: #fff4e5; border-left: 4px solid #e76f51; padding: 0.6em 0.9em; }
"""


@dataclass(frozen=True)
class Section:
    anchor: str  # the section's id (a fixed word chosen by the code)
    title: str
    caption: str = ""  # what the picture shows and the day's figures in it
    png: bytes | None = None
    alt: str = ""
    note: str | None = None  # shown instead of the picture when there is no data
    html: str | None = None  # a whole section's markup, built by code that escapes every text it holds (the note)


def e(text: object) -> str:
    return html.escape(str(text), quote=True)


def no_data_note(day: dt.date, reason: str) -> str:
    return f"No data for {day.isoformat()}: {reason}."


def img_tag(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{e(alt)}">'


def headline_html(rows: list[tuple[str, str]] | None, note: str | None) -> str:
    if rows is None:
        return f'<p class="no-data">{e(note or "")}</p>'
    body = "\n".join(f"<tr><th>{e(label)}</th><td>{e(value)}</td></tr>" for label, value in rows)
    return f'<table class="headline">\n{body}\n</table>'


def section_html(section: Section) -> str:
    if section.html is not None:
        return section.html
    parts = [f'<section id="{e(section.anchor)}">', f"<h2>{e(section.title)}</h2>"]
    if section.png is not None:
        if section.caption:
            parts.append(f'<p class="caption">{e(section.caption)}</p>')
        parts.append(img_tag(section.png, section.alt or section.title))
    else:
        parts.append(f'<p class="no-data">{e(section.note or "")}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def render_page(
    day: dt.date,
    headline_rows: list[tuple[str, str]] | None,
    headline_note: str | None,
    sections: list[Section],
    lede: str,
    simulated: bool = False,
) -> str:
    """The whole page; the same arguments give the same text (no generation time in it). `simulated`: the data is
    the demo simulator's (BTCW_SOURCE_MODE=demo): said in the title and in a banner at the top of the page."""
    title = f"Bitcoin market stress, {day.isoformat()}" + (" (simulated data)" if simulated else "")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{e(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>{e(title)}</h1>",
            *([f'<p class="simulated" role="note">{e(SIMULATED_NOTE)}</p>'] if simulated else []),
            f'<p class="lede">{e(lede)}</p>',
            '<section id="headline">',
            "<h2>Headline numbers</h2>",
            headline_html(headline_rows, headline_note),
            "</section>",
            *(section_html(s) for s in sections),
            "</body>",
            "</html>",
            "",
        ]
    )
