"""Every simulated endpoint beyond api.py's own: (path regex, handler(match, params, now, api)) pairs."""

from __future__ import annotations

from pipelines.demo import (
    endpoints_derivatives,
    endpoints_mining,
    endpoints_okx,
    endpoints_options_prediction,
    endpoints_polymarket,
)

ROUTES: list = [
    *endpoints_derivatives.ROUTES,
    *endpoints_okx.ROUTES,
    *endpoints_mining.ROUTES,
    *endpoints_options_prediction.ROUTES,
    *endpoints_polymarket.ROUTES,
]
