"""Deterministic random streams: one numpy Generator per (label, date[, detail]), seeded through SHA-256.

Never Python's `hash()` (salted per process). The same label and date give the same numbers on every
machine and in every process, so a demo body is a pure function of (url, params, now).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np


def seed_int(label: str, day: dt.date | str, *detail: str) -> int:
    key = "|".join((label, day.isoformat() if isinstance(day, dt.date) else day, *detail))
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:16], "big")


def rng(label: str, day: dt.date | str, *detail: str) -> np.random.Generator:
    """A fresh Generator for `label` on `day` (ISO string of the date), optionally for a detail (e.g. venue)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed_int(label, day, *detail))))
