"""The prediction markets the warehouse follows, as configuration: `prediction_markets.toml` beside this module.

Two kinds of entries:
- a **series** of recurring events (the monthly "What price will Bitcoin hit in <Month> <Year>?" ladder): one Gamma
  event per month, named by a slug template; every market of the event is followed;
- a single **market** by slug, between its listing and its end.

Which events and markets are asked for on a day depends only on the configuration and the day (never on what was
fetched before), so a backfill asks exactly what the nightly asked: the event of month M from `list_ahead_months`
before M until `grace_days` after M ends; a single market from `listed` until `grace_days` after `ends`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

CONFIG_PATH = Path(__file__).with_name("prediction_markets.toml")
MONTH_NAMES = tuple(calendar.month_name[m].lower() for m in range(1, 13))
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


class PredictionConfigError(ValueError):
    pass


def month_start(year: int, month: int) -> dt.date:
    return dt.date(year, month, 1)


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def add_months(year: int, month: int, k: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + k
    return index // 12, index % 12 + 1


@dataclass(frozen=True)
class EventSeries:
    """Recurring monthly events whose slug is `event_slug` with {month} and {year} filled in."""

    name: str
    title: str
    event_slug: str
    first_month: tuple[int, int]
    list_ahead_months: int

    def slug_of(self, year: int, month: int) -> str:
        return self.event_slug.format(month=MONTH_NAMES[month - 1], year=year)

    def month_of(self, slug: str) -> tuple[int, int] | None:
        """The (year, month) an event slug of this series names, or None."""
        pattern = re.escape(self.event_slug).replace(r"\{month\}", "(?P<month>[a-z]+)").replace(
            r"\{year\}", r"(?P<year>\d{4})")
        match = re.fullmatch(pattern, slug)
        if not match or match["month"] not in MONTH_NAMES:
            return None
        return int(match["year"]), MONTH_NAMES.index(match["month"]) + 1

    def months_asked(self, day: dt.date, grace_days: int) -> list[tuple[int, int]]:
        """The months whose event is asked for on `day`: listed ahead, or ended at most `grace_days` ago."""
        out = []
        back = day - dt.timedelta(days=grace_days)
        for k in range(0, self.list_ahead_months + 2):
            year, month = add_months(back.year, back.month, k)
            if (year, month) < self.first_month:
                continue
            ask_from = month_start(*add_months(year, month, -self.list_ahead_months))
            if ask_from <= day <= month_end(year, month) + dt.timedelta(days=grace_days):
                out.append((year, month))
        return out

    @property
    def first_day_asked(self) -> dt.date:
        return month_start(*add_months(*self.first_month, -self.list_ahead_months))


@dataclass(frozen=True)
class SingleMarket:
    slug: str
    listed: dt.date
    ends: dt.date
    headline: bool = False

    def asked_on(self, day: dt.date, grace_days: int) -> bool:
        return self.listed <= day <= self.ends + dt.timedelta(days=grace_days)


@dataclass(frozen=True)
class PredictionConfig:
    series: tuple[EventSeries, ...]
    markets: tuple[SingleMarket, ...]
    grace_days: int = 3

    @property
    def headline_slugs(self) -> frozenset[str]:
        return frozenset(m.slug for m in self.markets if m.headline)

    @property
    def first_day_asked(self) -> dt.date | None:
        starts = [s.first_day_asked for s in self.series] + [m.listed for m in self.markets]
        return min(starts) if starts else None

    def month_of_event(self, event_slug: str) -> tuple[int, int] | None:
        for series in self.series:
            found = series.month_of(event_slug)
            if found is not None:
                return found
        return None


def _require(entry: dict, key: str, kind: type, where: str):
    if key not in entry:
        raise PredictionConfigError(f"{where}: missing `{key}`")
    value = entry[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise PredictionConfigError(f"{where}: `{key}` must be a {kind.__name__}, got {value!r}")
    return value


def _matching(entry: dict, key: str, pattern: re.Pattern, where: str, why: str) -> str:
    value = _require(entry, key, str, where)
    if not pattern.fullmatch(value):
        raise PredictionConfigError(f"{where}: `{key}` {value!r} {why}")
    return value


def _int_in(value, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PredictionConfigError(f"{what} must be an integer in [{low}, {high}], got {value!r}")
    return value


def parse_config(text: str, origin: str = "prediction_markets.toml") -> PredictionConfig:
    """The configuration from TOML text; any mistake is one PredictionConfigError naming the entry and the key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PredictionConfigError(f"{origin}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"grace_days", "series", "market"}
    if unknown:
        raise PredictionConfigError(f"{origin}: unknown keys {sorted(unknown)} (expected grace_days, series, market)")
    grace = _int_in(doc.get("grace_days", 3), 0, 60, f"{origin}: `grace_days`")
    series: list[EventSeries] = []
    for i, entry in enumerate(doc.get("series", [])):
        where = f"{origin} [[series]] #{i + 1}"
        name = _matching(entry, "name", _NAME, where, "must be lowercase words joined by '-'")
        template = _require(entry, "event_slug", str, where)
        if "{month}" not in template or "{year}" not in template:
            raise PredictionConfigError(f"{where}: `event_slug` {template!r} needs both {{month}} and {{year}}")
        if not _SLUG.fullmatch(template.replace("{month}", "january").replace("{year}", "2026")):
            raise PredictionConfigError(f"{where}: `event_slug` {template!r} is not a slug (a-z, 0-9, '-')")
        first = _MONTH.fullmatch(_require(entry, "first_month", str, where))
        if not first or not 1 <= int(first[2]) <= 12:
            raise PredictionConfigError(f"{where}: `first_month` must be YYYY-MM, got {entry['first_month']!r}")
        ahead = _int_in(entry.get("list_ahead_months", 1), 0, 24, f"{where}: `list_ahead_months`")
        series.append(EventSeries(name, str(entry.get("title", name)), template, (int(first[1]), int(first[2])),
                                  ahead))
    markets: list[SingleMarket] = []
    for i, entry in enumerate(doc.get("market", [])):
        where = f"{origin} [[market]] #{i + 1}"
        slug = _matching(entry, "slug", _SLUG, where, "is not a Polymarket slug (a-z, 0-9, '-')")
        listed = _require(entry, "listed", dt.date, where)
        ends = _require(entry, "ends", dt.date, where)
        if ends < listed:
            raise PredictionConfigError(f"{where}: `ends` {ends} is before `listed` {listed}")
        headline = entry.get("headline", False)
        if not isinstance(headline, bool):
            raise PredictionConfigError(f"{where}: `headline` must be true or false")
        markets.append(SingleMarket(slug, listed, ends, headline))
    names = [s.name for s in series]
    slugs = [m.slug for m in markets]
    for kind, values in (("series name", names), ("market slug", slugs)):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise PredictionConfigError(f"{origin}: {kind} listed twice: {repeated}")
    return PredictionConfig(tuple(series), tuple(markets), grace)


def load_config(path: Path = CONFIG_PATH) -> PredictionConfig:
    return parse_config(path.read_text(encoding="utf-8"), path.name)
