"""Every dataset the pipeline knows, in one tuple."""

from __future__ import annotations

from pipelines.sources import (
    binance,
    binance_futures,
    blockchain_com,
    bybit,
    coinbase,
    deribit,
    deribit_dvol,
    deribit_reference,
    mempool,
    mempool_blocks,
    okx,
    polymarket,
)
from pipelines.sources.spec import DatasetSpec

DATASETS: tuple[DatasetSpec, ...] = (
    *binance.DATASETS,
    *coinbase.DATASETS,
    *mempool.DATASETS,
    *mempool_blocks.DATASETS,
    *blockchain_com.DATASETS,
    *deribit.DATASETS,
    *binance_futures.DATASETS,
    *bybit.DATASETS,
    *okx.DATASETS,
    *deribit_reference.DATASETS,
    *deribit_dvol.DATASETS,
    *polymarket.DATASETS,
)

_BY_NAME: dict[tuple[str, str], DatasetSpec] = {(d.source, d.dataset): d for d in DATASETS}
if len(_BY_NAME) != len(DATASETS):
    raise RuntimeError("duplicate (source, dataset) in the registry")


def get_dataset(source: str, dataset: str) -> DatasetSpec:
    try:
        return _BY_NAME[(source, dataset)]
    except KeyError:
        known = ", ".join(f"{s}/{d}" for s, d in sorted(_BY_NAME))
        raise KeyError(f"unknown dataset {source}/{dataset}; known: {known}") from None
