import os

import numpy as np
import pytest
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import remove_self_loops, to_undirected

import pyg_gas.partition as partition_module
from pyg_gas.graph import to_csr
from pyg_gas.partition import (
    MAX_ORDERED_PARTS,
    _order_parts,
    _symmetric_csr,
    metis,
    partition_csr,
    parts_to_perm,
    stream_partition,
)
from pyg_gas.typing import WITH_PYMETIS
from pyg_gas.utils import scratch_tensor

pytestmark = pytest.mark.usefixtures('single_thread')


# Helpers #####################################################################


def cliques(sizes, bridges=()) -> Tensor:
    r"""The edges (both directions) of disjoint cliques of the given sizes,
    the nodes of clique :obj:`k` being :obj:`k, k + K, k + 2K, ...` for
    :obj:`K = len(sizes)` (interleaved, so that no id order gives them
    away), plus the undirected :obj:`bridges` between them."""
    members, num = [], len(sizes)
    for k, size in enumerate(sizes):
        members.append([k + num * i for i in range(size)])
    edges = [(u, v) for m in members for u in m for v in m if u != v]
    edges += list(bridges) + [(v, u) for u, v in bridges]
    return torch.tensor(edges).t().contiguous()


def in_csr(edge_index: Tensor, num_nodes: int):
    rowptr, col, _ = to_csr(edge_index, num_nodes)
    return rowptr, col


def capacity(num_nodes: int, num_parts: int, imbalance: float) -> int:
    return max(-(-num_nodes // num_parts),
               int((1 + imbalance) * num_nodes / num_parts))


def cut_fraction(edge_index: Tensor, part: Tensor) -> float:
    row, col = edge_index
    return float((part[row] != part[col]).float().mean())


def sbm(num_nodes: int, num_blocks: int, p_in: float, p_out: float,
        seed: int = 0) -> Tensor:
    r"""An undirected stochastic block model graph, with shuffled ids."""
    gen = torch.Generator().manual_seed(seed)
    block = torch.randperm(num_nodes, generator=gen) % num_blocks
    same = block[:, None] == block[None, :]
    prob = torch.where(same, p_in, p_out)
    adj = torch.rand(num_nodes, num_nodes, generator=gen) < prob
    adj = torch.triu(adj, 1)
    edge_index = adj.nonzero().t()
    return to_undirected(edge_index, num_nodes=num_nodes)


# partition_csr: exact results on hand-built graphs ###########################


@pytest.mark.parametrize('seed', [0, 1, 2, 3])
def test_two_cliques_joined_by_one_edge(seed):
    edge_index = cliques([8, 8], bridges=[(0, 1)])
    rowptr, col = in_csr(edge_index, 16)
    part = partition_csr(rowptr, col, 2, seed=seed)
    assert part.dtype == torch.long and part.shape == (16, )
    evens, odds = part[0::2], part[1::2]
    assert evens.unique().numel() == 1 and odds.unique().numel() == 1
    assert int(evens[0]) != int(odds[0])
    assert sorted(part.tolist()) == [0] * 8 + [1] * 8


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_four_cliques_in_four_parts(seed):
    # Parts of up to 9 nodes: the label propagation moves nodes into parts
    # with room only (it does not swap), so room helps it out of a first
    # pass that split a clique.
    bridges = [(0, 1), (1, 2), (2, 3), (3, 0)]
    edge_index = cliques([6, 6, 6, 6], bridges)
    rowptr, col = in_csr(edge_index, 24)
    part = partition_csr(rowptr, col, 4, seed=seed, imbalance=0.5)
    groups = {tuple(part[k::4].unique().tolist()) for k in range(4)}
    assert groups == {(0, ), (1, ), (2, ), (3, )}
    assert cut_fraction(edge_index, part) == 8 / edge_index.size(1)


def test_graph_without_edges_spreads_nodes_evenly():
    rowptr = torch.zeros(11, dtype=torch.long)
    col = torch.empty(0, dtype=torch.long)
    part = partition_csr(rowptr, col, 3)
    assert sorted(torch.bincount(part, minlength=3).tolist()) == [3, 3, 4]


def test_one_part_and_one_part_per_node():
    edge_index = cliques([3, 3], bridges=[(0, 1)])
    rowptr, col = in_csr(edge_index, 6)
    assert partition_csr(rowptr, col, 1).tolist() == [0] * 6
    part = partition_csr(rowptr, col, 6)
    assert sorted(part.tolist()) == list(range(6))


def test_self_loops_and_repeated_edges():
    # Self-loops are ignored; a repeated edge counts twice.
    edge_index = cliques([5, 5], bridges=[(0, 1)])
    loops = torch.arange(10).repeat(2, 1)
    rowptr, col = in_csr(edge_index, 10)
    expected = partition_csr(rowptr, col, 2)
    rowptr, col = in_csr(torch.cat([edge_index, loops, loops], 1), 10)
    assert torch.equal(partition_csr(rowptr, col, 2), expected)


# partition_csr: balance, quality, determinism ################################


@pytest.mark.parametrize('num_parts,imbalance', [(7, 0.05), (10, 0.0),
                                                 (16, 0.03), (3, 0.2)])
def test_balance_bound(num_parts, imbalance):
    num_nodes = 600
    edge_index = sbm(num_nodes, 6, 0.05, 0.005)
    rowptr, col = in_csr(edge_index, num_nodes)
    part = partition_csr(rowptr, col, num_parts, imbalance=imbalance)
    sizes = torch.bincount(part, minlength=num_parts)
    assert int(sizes.sum()) == num_nodes
    assert int(sizes.max()) <= capacity(num_nodes, num_parts, imbalance)
    assert int(sizes.max()) <= max(-(-num_nodes // num_parts),
                                   (1 + imbalance) * num_nodes / num_parts)
    assert int(sizes.min()) >= 0.8 * num_nodes / num_parts


def test_planted_partition_is_found():
    # Four dense blocks with few edges between them, ids shuffled:
    num_nodes = 400
    edge_index = sbm(num_nodes, 4, 0.1, 0.002, seed=1)
    rowptr, col = in_csr(edge_index, num_nodes)
    part = partition_csr(rowptr, col, 4)
    gen = torch.Generator().manual_seed(1)
    block = torch.randperm(num_nodes, generator=gen) % 4
    # Each block lies (almost) within one part, a different one each:
    majority = [int(torch.mode(part[block == b]).values) for b in range(4)]
    assert sorted(majority) == [0, 1, 2, 3]
    agree = sum(int((part[block == b] == majority[b]).sum())
                for b in range(4))
    assert agree >= 0.95 * num_nodes
    random_part = part[torch.randperm(num_nodes, generator=gen)]
    assert cut_fraction(edge_index, part) < 0.3 * cut_fraction(
        edge_index, random_part)


def test_determinism_and_seeds():
    num_nodes = 500
    edge_index = sbm(num_nodes, 5, 0.04, 0.01, seed=2)
    rowptr, col = in_csr(edge_index, num_nodes)
    first = partition_csr(rowptr, col, 5, seed=3)
    assert torch.equal(partition_csr(rowptr, col, 5, seed=3), first)
    others = [partition_csr(rowptr, col, 5, seed=s) for s in range(3)]
    assert any(not torch.equal(other, first) for other in others)


@pytest.mark.parametrize('chunk_size', [1, 7, 100, 1 << 22])
def test_chunk_sizes(chunk_size):
    # Any chunk size gives a valid, balanced and good partition.
    num_nodes = 300
    edge_index = sbm(num_nodes, 3, 0.1, 0.003, seed=3)
    rowptr, col = in_csr(edge_index, num_nodes)
    part = partition_csr(rowptr, col, 3, chunk_size=chunk_size)
    assert int(torch.bincount(part).max()) <= capacity(num_nodes, 3, 0.05)
    assert cut_fraction(edge_index, part) < 0.1


@pytest.mark.filterwarnings('ignore:The given NumPy array is not writable')
def test_memmap_input_equals_in_memory_input(tmp_path):
    num_nodes = 500
    edge_index = sbm(num_nodes, 5, 0.04, 0.004, seed=4)
    rowptr, col = in_csr(edge_index, num_nodes)
    expected = partition_csr(rowptr, col, 5, chunk_size=256)
    np.save(tmp_path / 'rowptr.npy', rowptr.numpy())
    np.save(tmp_path / 'col.npy', col.numpy().astype(np.int32))
    mm_rowptr = np.load(tmp_path / 'rowptr.npy', mmap_mode='r')
    mm_col = np.load(tmp_path / 'col.npy', mmap_mode='r')
    assert isinstance(mm_col, np.memmap) and mm_col.dtype == np.int32
    for inputs in [(mm_rowptr, mm_col),
                   (torch.from_numpy(mm_rowptr), torch.from_numpy(mm_col)),
                   (rowptr.numpy(), col.int())]:
        out = partition_csr(*inputs, 5, chunk_size=256)
        assert torch.equal(out, expected)


def test_out_and_blocks_give_the_same_parts(tmp_path, monkeypatch):
    # Parts written into a scratch file, and part pairs counted in blocks of
    # 7 rows instead of whole chunks, are the same parts.
    num_nodes = 500
    edge_index = sbm(num_nodes, 5, 0.04, 0.004, seed=4)
    rowptr, col = in_csr(edge_index, num_nodes)
    expected = partition_csr(rowptr, col, 5, chunk_size=256)
    monkeypatch.setattr(partition_module, '_BLOCK', 7)
    out = scratch_tensor([num_nodes], torch.long, str(tmp_path))
    part = partition_csr(rowptr, col, 5, chunk_size=256, out=out)
    assert part is out and torch.equal(part, expected)
    assert os.listdir(tmp_path) == []
    for bad in [torch.zeros(num_nodes, dtype=torch.int32), [0] * 500]:
        with pytest.raises(TypeError, match="'out' must be a torch.long"):
            partition_csr(rowptr, col, 5, out=bad)
    with pytest.raises(ValueError, match=r"'out' must have shape \[500\]"):
        partition_csr(rowptr, col, 5, out=torch.zeros(501, dtype=torch.long))


def test_order_parts_puts_connected_parts_next_to_each_other():
    weight = np.zeros((4, 4), dtype=np.int64)
    weight[0, 2], weight[1, 3], weight[2, 1] = 10, 9, 1
    assert _order_parts(weight).tolist() == [0, 2, 1, 3]
    # Five parts: the path 4 - 0 - 1 - 3, then part 2 (unconnected) at the
    # end of lower id, read from its end of lower id:
    weight = np.zeros((5, 5), dtype=np.int64)
    weight[4, 0], weight[3, 1], weight[0, 1] = 8, 7, 2
    assert _order_parts(weight).tolist() == [2, 3, 1, 0, 4]
    # Without connections: links (0, 1), then (0, 2):
    assert _order_parts(np.zeros((3, 3), dtype=np.int64)).tolist() == [
        1, 0, 2]


def test_order_parts_renumbers_a_chain_of_cliques():
    # Cliques in a chain 0 - 1 - 2 - 3 - 4 - 5 (interleaved ids): with
    # 'order_parts', neighbouring cliques get neighbouring part ids.
    bridges = [(k, k + 1) for k in range(5)]
    edge_index = cliques([6] * 6, bridges)
    rowptr, col = in_csr(edge_index, 36)
    part = partition_csr(rowptr, col, 6, imbalance=0.5)
    ids = [int(part[k]) for k in range(6)]  # The part of each clique.
    assert sorted(ids) == list(range(6))
    assert all(bool((part[k::6] == ids[k]).all()) for k in range(6))
    assert ids in (list(range(6)), list(range(5, -1, -1)))
    plain = partition_csr(rowptr, col, 6, imbalance=0.5, order_parts=False)
    assert cut_fraction(edge_index, plain) == cut_fraction(edge_index, part)
    assert MAX_ORDERED_PARTS >= 6


# parts_to_perm ###############################################################


def test_parts_to_perm_exact():
    perm, ptr = parts_to_perm(torch.tensor([2, 0, 1, 0, 2, 2]), 4)
    assert perm.tolist() == [1, 3, 2, 0, 4, 5]
    assert ptr.tolist() == [0, 2, 3, 6, 6]
    assert perm.dtype == torch.long and ptr.dtype == torch.long


def test_parts_to_perm_is_the_metis_convention():
    # perm[new_position] = old_id, cluster i = perm[ptr[i]:ptr[i + 1]],
    # ids in increasing order within a cluster:
    part = torch.tensor([1, 1, 0, 2, 0, 1, 2])
    perm, ptr = parts_to_perm(part, 3)
    for i in range(3):
        members = perm[ptr[i]:ptr[i + 1]]
        assert members.tolist() == (part == i).nonzero().view(-1).tolist()
    assert parts_to_perm(part.int(), 3)[0].tolist() == perm.tolist()


@pytest.mark.parametrize('part,num_parts,error,match', [
    (torch.tensor([0, 3]), 3, ValueError, r'part ids in \[0, 3\) \(got 3\)'),
    (torch.tensor([0, -1]), 3, ValueError, r'\(got -1\)'),
    (torch.tensor([0.0, 1.0]), 2, TypeError, 'integer part ids'),
    (torch.tensor([[0, 1]]), 2, ValueError, 'one-dimensional'),
    ([0, 1], 2, TypeError, "'part' must be a torch.Tensor"),
    (torch.tensor([0, 1]), 0, ValueError, r"'num_parts' must be at least 1"),
])
def test_parts_to_perm_bad_inputs(part, num_parts, error, match):
    with pytest.raises(error, match=match):
        parts_to_perm(part, num_parts)


@pytest.mark.parametrize('dtype', [torch.long, torch.int32, torch.int16])
def test_parts_to_perm_is_a_stable_sort(tmp_path, dtype):
    # The counting sort in chunks is the stable sort, for any chunk size,
    # with empty parts (a third of the ids never drawn), more parts than
    # nodes, and into a memory-mapped scratch file:
    gen = torch.Generator().manual_seed(0)
    for num_nodes, num_parts, chunk_size in [(1, 1, 1), (50, 9, 7),
                                             (1000, 40, 64), (999, 3000, 7),
                                             (3000, 6, 1 << 20)]:
        part = torch.randint(0, num_parts, (num_nodes, ), generator=gen)
        part[part % 3 == 1] = 0
        expected = torch.sort(part, stable=True).indices
        ptr = torch.cat([torch.zeros(1, dtype=torch.long), torch.bincount(
            part, minlength=num_parts).cumsum(0)])
        out = scratch_tensor([num_nodes], torch.long, str(tmp_path))
        result = parts_to_perm(part.to(dtype), num_parts, out=out,
                               chunk_size=chunk_size)
        assert result[0] is out
        assert torch.equal(out, expected) and torch.equal(result[1], ptr)
        result = parts_to_perm(part.to(dtype), num_parts,
                               chunk_size=chunk_size)
        assert torch.equal(result[0], expected)
        assert torch.equal(result[1], ptr)
    assert os.listdir(tmp_path) == []  # The scratch files are gone.


def test_parts_to_perm_bad_out():
    part = torch.tensor([1, 0, 1])
    with pytest.raises(TypeError, match="'out' must be a torch.long tensor "
                       r"\(got dtype torch.int32\)"):
        parts_to_perm(part, 2, out=torch.empty(3, dtype=torch.int32))
    with pytest.raises(TypeError, match=r"\(got list\)"):
        parts_to_perm(part, 2, out=[0, 0, 0])
    with pytest.raises(ValueError, match=r"'out' must have shape \[3\]"):
        parts_to_perm(part, 2, out=torch.empty(4, dtype=torch.long))
    with pytest.raises(ValueError, match="'chunk_size' must be at least 1"):
        parts_to_perm(part, 2, chunk_size=0)


# partition_csr: bad inputs ###################################################


ROWPTR = torch.tensor([0, 1, 2, 3, 4])
COL = torch.tensor([1, 0, 3, 2])


@pytest.mark.parametrize('rowptr,col,num_parts,error,match', [
    (ROWPTR, COL, 0, ValueError, r"'num_parts' must be in \[1, 4\] "
     r'\(got 0\)'),
    (ROWPTR, COL, 5, ValueError, r"'num_parts' must be in \[1, 4\] "
     r'\(got 5\)'),
    (ROWPTR, COL, 2.0, TypeError, r"'num_parts' must be an int"),
    (ROWPTR.float(), COL, 2, TypeError, r"'rowptr' must hold int32 or "
     r'int64 indices \(got dtype torch.float32\)'),
    (ROWPTR, COL.to(torch.int16), 2, TypeError, r"'col' must hold int32 or "
     r'int64 indices \(got dtype torch.int16\)'),
    (ROWPTR.numpy().astype(np.uint64), COL, 2, TypeError,
     r"'rowptr' .*\(got dtype uint64\)"),
    (ROWPTR.tolist(), COL, 2, TypeError, r"'rowptr' must be a torch.Tensor "
     r'or a NumPy array \(got list\)'),
    (ROWPTR.view(1, -1), COL, 2, ValueError, r"'rowptr' must be "
     r'one-dimensional \(got shape \[1, 5\]\)'),
    (ROWPTR, COL.view(2, 2), 2, ValueError, r"'col' must be "
     r'one-dimensional'),
    (torch.tensor([0]), COL[:0], 1, ValueError, 'empty graph'),
    (torch.tensor([1, 1, 2, 3, 4]), COL, 2, ValueError,
     r"'rowptr' must start at 0 \(got 1\)"),
    (torch.tensor([0, 1, 2, 3, 3]), COL, 2, ValueError,
     r"'rowptr' must end at the length of 'col', 4 \(got 3\)"),
    (torch.tensor([0, 3, 2, 3, 4]), COL, 2, ValueError,
     r"'rowptr' must be non-decreasing \(got rowptr\[2\] = 2 < "
     r'rowptr\[1\] = 3\)'),
    (ROWPTR, torch.tensor([1, 0, 4, 2]), 2, ValueError,
     r"'col' holds the index 4, out of range for 4 nodes"),
    (ROWPTR, torch.tensor([1, -1, 3, 2]), 2, ValueError,
     r"'col' holds the index -1"),
])
def test_partition_csr_bad_inputs(rowptr, col, num_parts, error, match):
    with pytest.raises(error, match=match):
        partition_csr(rowptr, col, num_parts)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(method='fennel'), ValueError, r"'method' must be one of \('ldg',\)"
     r" \(got 'fennel'\)"),
    (dict(imbalance=-0.1), ValueError, r"'imbalance' must be in \[0"),
    (dict(imbalance='0.1'), TypeError, "'imbalance' must be a number"),
    (dict(chunk_size=0), ValueError, r"'chunk_size' must be at least 1"),
    (dict(num_passes=-1), ValueError, r"'num_passes' must be at least 0"),
    (dict(seed=-1), ValueError, r"'seed' must be at least 0"),
])
def test_partition_csr_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        partition_csr(ROWPTR, COL, 2, **kwargs)


# stream_partition ############################################################


def membership(perm: Tensor, ptr: Tensor) -> Tensor:
    cluster = torch.empty_like(perm)
    cluster[perm] = torch.arange(ptr.numel() - 1).repeat_interleave(
        ptr.diff())
    return cluster


def test_stream_partition_on_cora(cora):
    num_nodes, num_parts = cora.num_nodes, 7
    perm, ptr = stream_partition(cora, num_parts, log=False)
    assert perm.dtype == torch.long and ptr.dtype == torch.long
    assert torch.equal(perm.sort().values, torch.arange(num_nodes))
    assert ptr[0] == 0 and ptr[-1] == num_nodes and ptr.numel() == 8
    assert int(ptr.diff().max()) <= capacity(num_nodes, num_parts, 0.05)
    cluster = membership(perm, ptr)
    gen = torch.Generator().manual_seed(0)
    random_cluster = cluster[torch.randperm(num_nodes, generator=gen)]
    assert cut_fraction(cora.edge_index, cluster) < 0.3 * cut_fraction(
        cora.edge_index, random_cluster)
    # The same as partition_csr on the in-edge CSR:
    rowptr, col = in_csr(cora.edge_index, num_nodes)
    part = partition_csr(rowptr, col, num_parts)
    assert torch.equal(cluster, part)
    same = parts_to_perm(part, num_parts)
    assert torch.equal(same[0], perm) and torch.equal(same[1], ptr)


def test_stream_partition_inputs_like_metis(cora):
    expected = stream_partition(cora, 5, log=False)
    for graph in (cora.edge_index, Data(edge_index=cora.edge_index,
                                        num_nodes=cora.num_nodes)):
        out = stream_partition(graph, 5, log=False)
        assert torch.equal(out[0], expected[0])
    one = stream_partition(cora, 1, log=False)
    assert torch.equal(one[0], torch.arange(cora.num_nodes))
    assert one[1].tolist() == [0, cora.num_nodes]
    with pytest.raises(ValueError, match=r"'num_parts' must be in \[1, "):
        stream_partition(cora, 0, log=False)
    with pytest.raises(ValueError, match="'method' must be one of"):
        stream_partition(cora, 2, method='metis', log=False)


def test_stream_partition_cache(cora, tmp_path):
    perm, ptr = stream_partition(cora, 5, cache_dir=str(tmp_path), log=False)
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].startswith('ldg_')
    # Loaded back, also for the graph with self-loops:
    loops = torch.arange(cora.num_nodes).repeat(2, 1)
    with_loops = torch.cat([cora.edge_index, loops], dim=1)
    again = stream_partition(with_loops, 5, cache_dir=str(tmp_path),
                             num_nodes=cora.num_nodes, log=False)
    assert os.listdir(tmp_path) == files
    assert torch.equal(again[0], perm) and torch.equal(again[1], ptr)
    # Other parameters, another entry:
    stream_partition(cora, 5, seed=1, cache_dir=str(tmp_path), log=False)
    assert len(os.listdir(tmp_path)) == 2


# metis: the symmetric CSR that METIS gets ####################################


def reference_csr(edge_index: Tensor, num_nodes: int):
    edge_index, _ = remove_self_loops(edge_index)
    edge_index = to_undirected(edge_index, num_nodes=num_nodes)  # Sorted.
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long)
    rowptr[1:] = torch.bincount(edge_index[0], minlength=num_nodes).cumsum(0)
    return rowptr, edge_index[1]


@pytest.mark.parametrize('chunk', [3, 1 << 22])
def test_symmetric_csr_matches_reference(monkeypatch, chunk):
    monkeypatch.setattr(partition_module, '_CHUNK', chunk)
    gen = torch.Generator().manual_seed(0)
    for trial in range(60):
        num_nodes = int(torch.randint(1, 25, (1, ), generator=gen))
        num_edges = int(torch.randint(0, 80, (1, ), generator=gen))
        edge_index = torch.randint(0, num_nodes, (2, num_edges),
                                   generator=gen)
        if trial % 3 == 0:  # Undirected, with duplicates.
            edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
        if trial % 4 == 0:  # Already sorted.
            key = edge_index[0] * num_nodes + edge_index[1]
            edge_index = edge_index[:, key.argsort()]
        rowptr, col, symmetric = _symmetric_csr(edge_index, num_nodes)
        ref_rowptr, ref_col = reference_csr(edge_index, num_nodes)
        assert torch.equal(rowptr, ref_rowptr) and torch.equal(col, ref_col)
        assert rowptr.dtype == torch.long and col.dtype == torch.long
        edges, _ = remove_self_loops(edge_index)
        assert symmetric == (ref_col.numel() == len(
            set(map(tuple, edges.t().tolist()))))


@pytest.mark.skipif(not WITH_PYMETIS, reason='pymetis is not installed')
def test_metis_output_is_parts_to_perm(cora):
    import pymetis
    rowptr, col = reference_csr(cora.edge_index, cora.num_nodes)
    _, parts = pymetis.part_graph(
        6, pymetis.CSRAdjacency(rowptr.numpy(), col.numpy()),
        recursive=False, options=pymetis.Options(seed=0))
    expected = parts_to_perm(torch.tensor(list(parts)), 6)
    perm, ptr = metis(cora, 6, log=False)
    assert torch.equal(perm, expected[0]) and torch.equal(ptr, expected[1])
