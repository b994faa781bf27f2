"""What to use instead when a host refuses this runner's region (HTTP 451)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_SPOT_FALLBACK = "for spot candles use coinbase/spot_candles_1d (api.exchange.coinbase.com)"
# What to use instead when a host answers 451. Binance, Bybit and OKX refuse US IPs, including US cloud
# regions and GitHub Actions runners (sources.md §2.1, §6).
REGION_BLOCK_ADVICE: Mapping[str, str] = MappingProxyType(
    {
        "api.binance.com": _SPOT_FALLBACK,
        "data-api.binance.vision": _SPOT_FALLBACK,
        "data.binance.vision": _SPOT_FALLBACK,
        "fapi.binance.com": (
            "for funding and open interest use bybit (/v5/market/funding/history, /v5/market/open-interest); "
            + _SPOT_FALLBACK
        ),
        "api.bybit.com": (
            "for funding use binance fapi /fapi/v1/fundingRate; open-interest history has no deep keyless "
            "substitute (binance openInterestHist keeps 30 days)"
        ),
        "www.okx.com": (
            "liquidation-orders have no keyless substitute: run from a region OKX serves; "
            + _SPOT_FALLBACK
            + ", for funding use binance or bybit"
        ),
    }
)
# When the host is not known (a mirror, a test server), the source name still tells what to use.
_SOURCE_ADVICE: Mapping[str, str] = MappingProxyType(
    {
        "binance": _SPOT_FALLBACK + "; for funding and open interest use bybit",
        "bybit": REGION_BLOCK_ADVICE["api.bybit.com"],
        "okx": REGION_BLOCK_ADVICE["www.okx.com"],
    }
)
_GENERIC_ADVICE = "run the pipeline from a region the API serves (not a US IP, cloud region or GitHub runner)"


def region_block_advice(host: str, source: str | None = None) -> str:
    """Which second source to use when `host` (of `source`) answers HTTP 451."""
    advice = REGION_BLOCK_ADVICE.get(host.lower()) or _SOURCE_ADVICE.get(source or "")
    return advice or _GENERIC_ADVICE
