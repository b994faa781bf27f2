"""Every simulated endpoint beyond api.py's own: (path regex, handler(match, params, now, api)) pairs."""

from __future__ import annotations

ROUTES: list = []
