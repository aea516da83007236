r"""Graphs on disk: a dataset directory of memory-mapped ``.npy`` files in
cluster order, written in bounded memory and read by the mini-batch
loaders row range by row range (see :class:`DiskDataset`)."""
from pyg_gas.rows import NodeRows
from pyg_gas.storage.chunked import (
    GraphStager,
    partition_dataset,
    permute_to_disk,
    prepare_staged,
    stage_data,
)
from pyg_gas.storage.dataset import (
    DiskDataset,
    DiskFeatureStore,
    DiskGraphStore,
)
from pyg_gas.storage.format import FORMAT_VERSION, FormatError
from pyg_gas.storage.prepare import prepare
from pyg_gas.storage.sources import prepare_ogb, prepare_synthetic
from pyg_gas.storage.transform import TRANSFORMS, derive


def open_dataset(root: str, verify: bool = False) -> DiskDataset:
    r"""Opens the prepared dataset directory :obj:`root` (see
    :class:`DiskDataset`)."""
    return DiskDataset(root, verify=verify)


__all__ = [
    'DiskDataset',
    'DiskFeatureStore',
    'DiskGraphStore',
    'FormatError',
    'FORMAT_VERSION',
    'GraphStager',
    'NodeRows',
    'TRANSFORMS',
    'derive',
    'open_dataset',
    'partition_dataset',
    'permute_to_disk',
    'prepare',
    'prepare_ogb',
    'prepare_staged',
    'prepare_synthetic',
    'stage_data',
]
