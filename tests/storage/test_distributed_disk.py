r"""Distributed GAS over a prepared dataset: each rank reads its own shard
and halo rows from the files, and trains as the in-memory ranks do."""
import sys

import torch

from pyg_gas import metis, permute
from pyg_gas.datasets import load_dataset
from pyg_gas.distributed import init_distributed, shard_graph, spawn
from pyg_gas.storage import prepare
from pyg_gas.train import TrainConfig
from pyg_gas.train.distributed import run_distributed


def test_disk_shards_equal_memory_shards(tmp_path):
    data = load_dataset('cora')
    perm, ptr = metis(data, 6, seed=0, log=False)
    ds = prepare(data, str(tmp_path / 'c'), perm=perm, ptr=ptr, log=False)
    data = permute(data, perm)
    for rank in range(3):
        a = shard_graph(data, ptr, rank=rank, world_size=3)
        b = shard_graph(ds, ds.ptr, rank=rank, world_size=3)
        assert torch.equal(a.halo, b.halo) and torch.equal(a.ptr, b.ptr)
        assert torch.equal(a.halo_counts, b.halo_counts)
        for key in ('x', 'y', 'train_mask', 'test_mask'):
            assert torch.equal(a.data[key], b.data[key]), key
        edges_a = sorted(map(tuple, a.data.edge_index.t().tolist()))
        edges_b = sorted(map(tuple, b.data.edge_index.t().tolist()))
        assert edges_a == edges_b


def _worker(configs):
    init_distributed()
    return [run_distributed(config) for config in configs]


def test_two_ranks_on_a_prepared_dataset(tmp_path):
    root = str(tmp_path / 'cora.gas')
    data = load_dataset('cora')
    perm, ptr = metis(data, 8, seed=1, log=False)
    prepare(data, root, perm=perm, ptr=ptr, normalize_features=True,
            name='cora', log=False)  # The name picks Cora's presets.
    common = dict(model='gcn', epochs=3, num_parts=8, batch_size=2, seed=1,
                  progress=False, device='cpu')
    configs = [TrainConfig(dataset='cora', **common),
               TrainConfig(data_dir=root, **common),
               TrainConfig(data_dir=root, history_storage='disk', **common)]
    memory, disk, disk_hist = spawn(_worker, 2, (configs, ),
                                    timeout_s=300)[0]
    assert disk['curve']['loss'] == memory['curve']['loss']
    assert disk_hist['curve']['loss'] == memory['curve']['loss']
    assert disk['test_acc'] == memory['test_acc']
    # Each rank held its shard, not the graph:
    assert disk['owned_nodes_per_rank'] == memory['owned_nodes_per_rank']
    assert sorted((tmp_path / 'cora.gas' / 'histories').iterdir())
    # Resident memory before training, and its anonymous part (no pages of
    # the memory-mapped dataset or of the disk histories) on Linux:
    for result in (memory, disk_hist):
        resident = result['resident_before_training_bytes_per_rank']
        anon = result['anonymous_before_training_bytes_per_rank']
        assert len(resident) == len(anon) == 2
        if sys.platform.startswith('linux'):
            assert all(0 < a <= r for a, r in zip(anon, resident))
