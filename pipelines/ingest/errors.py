"""Errors that name what went wrong: source, dataset, date and reason."""

from __future__ import annotations

import datetime as dt


class PipelineDataError(Exception):
    """Base class: always names the source, dataset and partition date."""

    def __init__(self, source: str, dataset: str, day: dt.date, reason: str):
        self.source = source
        self.dataset = dataset
        self.day = day
        self.reason = reason
        super().__init__(f"{source}/{dataset} for {day.isoformat()}: {reason}")


class ParseError(PipelineDataError):
    """The archived body is not what the dataset's wire format promises."""


class MissingArchiveError(PipelineDataError):
    """Replay found no archived body for this (source, dataset, date)."""


class FetchError(PipelineDataError):
    """The source answered with an error status or could not be reached."""
