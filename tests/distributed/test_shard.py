import pytest
import torch
from torch_geometric.data import Data

from pyg_gas import metis, permute
from pyg_gas.datasets import load_dataset
from pyg_gas.distributed import assign_parts, shard_graph


def test_assign_parts():
    assert assign_parts(4, 2).tolist() == [0, 2, 4]
    assert assign_parts(5, 2).tolist() == [0, 2, 5]
    assert assign_parts(7, 3).tolist() == [0, 2, 4, 7]
    assert assign_parts(3, 3).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match=r'world size \(3\) must be at most '
                       r'the number of parts \(2\)'):
        assign_parts(2, 3)


def path_graph():
    # 0 - 1 - 2 - 3 - 4 - 5, both directions, clusters {0,1} {2,3} {4,5}.
    row = torch.tensor([0, 1, 1, 2, 2, 3, 3, 4, 4, 5])
    col = torch.tensor([1, 0, 2, 1, 3, 2, 4, 3, 5, 4])
    data = Data(edge_index=torch.stack([row, col]), num_nodes=6)
    data.x = torch.arange(6, dtype=torch.float).view(-1, 1)
    data.y = torch.arange(6) % 2
    data.edge_weight = torch.arange(10, dtype=torch.float)
    return data, torch.tensor([0, 2, 4, 6])


def test_shard_path_graph():
    data, ptr = path_graph()
    # 3 parts on 2 ranks: rank 0 owns part 0 (nodes 0, 1), rank 1 owns
    # parts 1 and 2 (nodes 2 to 5).
    shard = shard_graph(data, ptr, rank=0, world_size=2)
    assert shard.node_range == (0, 2)
    assert shard.ptr.tolist() == [0, 2]
    assert shard.halo.tolist() == [2]
    assert shard.halo_counts.tolist() == [0, 1]
    assert shard.num_nodes == 3 and shard.num_owned == 2
    assert shard.local_ptr().tolist() == [0, 2, 3]
    assert shard.global_id().tolist() == [0, 1, 2]
    # Edges into nodes 0 and 1: 1->0, 0->1, 2->1 (local 2 is the halo row).
    edges = sorted(zip(*shard.data.edge_index.tolist()))
    assert edges == [(0, 1), (1, 0), (2, 1)]
    assert shard.data.x.view(-1).tolist() == [0.0, 1.0, 2.0]
    # Edge weights follow their edges (weight k was edge k):
    weights = {tuple(e): float(w) for e, w in zip(
        shard.data.edge_index.t().tolist(), shard.data.edge_weight)}
    assert weights == {(1, 0): 1.0, (0, 1): 0.0, (2, 1): 3.0}

    shard = shard_graph(data, ptr, rank=1, world_size=2)
    assert shard.node_range == (2, 6)
    assert shard.ptr.tolist() == [0, 2, 4]
    assert shard.halo.tolist() == [1]
    assert shard.halo_counts.tolist() == [1, 0]
    assert shard.data.x.view(-1).tolist() == [2.0, 3.0, 4.0, 5.0, 1.0]
    assert shard.data.y.tolist() == [0, 1, 0, 1, 1]
    assert shard.data.edge_index.size(1) == 7  # 10 minus the 3 into 0, 1.
    assert 'rank=1/2' in repr(shard)


def test_shards_keep_every_edge():
    data = load_dataset('cora')
    perm, ptr = metis(data, 6, seed=0)
    data = permute(data, perm)
    expected = set(map(tuple, data.edge_index.t().tolist()))
    found = set()
    owned = torch.zeros(data.num_nodes, dtype=torch.long)
    for rank in range(3):
        shard = shard_graph(data, ptr, rank=rank, world_size=3)
        gid = shard.global_id()
        start, end = shard.node_range
        owned[start:end] += 1
        src, dst = gid[shard.data.edge_index]
        assert bool(((dst >= start) & (dst < end)).all())
        found |= set(zip(src.tolist(), dst.tolist()))
        # The halo cache is exactly the remote in-neighbours:
        remote = src[(src < start) | (src >= end)].unique()
        assert torch.equal(shard.halo, remote)
        torch.testing.assert_close(shard.data.x, data.x[gid])
        assert torch.equal(shard.data.train_mask, data.train_mask[gid])
    assert found == expected
    assert owned.tolist() == [1] * data.num_nodes


def test_shard_errors():
    data, ptr = path_graph()
    with pytest.raises(ValueError, match=r"'rank' must be in \[0, 2\)"):
        shard_graph(data, ptr, rank=2, world_size=2)
    with pytest.raises(ValueError, match='must be at most the number of'):
        shard_graph(data, ptr, rank=0, world_size=4)
    with pytest.raises(ValueError, match="Pass 'rank' and 'world_size'"):
        shard_graph(data, ptr)
    with pytest.raises(TypeError, match="'data' must be a 'Data' object"):
        shard_graph(data.edge_index, ptr, rank=0, world_size=1)
