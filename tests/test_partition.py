import os
import re
import shutil

import numpy as np
import pytest
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

import pyg_gas.partition as partition_module
import pyg_gas.typing as typing_module
from pyg_gas.partition import (
    BACKENDS,
    available_backends,
    metis,
    permute,
    split_clusters,
)

WITH_PYMETIS = typing_module.WITH_PYMETIS
needs_pymetis = pytest.mark.skipif(not WITH_PYMETIS,
                                   reason='pymetis is not installed')


# Helpers #####################################################################


def membership(perm: Tensor, ptr: Tensor) -> Tensor:
    r"""The part of each node, as implied by :obj:`(perm, ptr)`."""
    num_parts = ptr.numel() - 1
    cluster = torch.full_like(perm, -1)
    cluster[perm] = torch.arange(num_parts).repeat_interleave(ptr.diff())
    return cluster


def edge_cut(edge_index: Tensor, cluster: Tensor) -> int:
    row, col = edge_index
    return int((cluster[row] != cluster[col]).sum())


def assert_valid_partition(perm: Tensor, ptr: Tensor, num_nodes: int,
                           num_parts: int) -> None:
    assert perm.dtype == torch.long
    assert ptr.dtype == torch.long
    assert perm.shape == (num_nodes, )
    assert torch.equal(perm.sort().values, torch.arange(num_nodes))
    assert ptr.shape == (num_parts + 1, )
    assert int(ptr[0]) == 0
    assert int(ptr[-1]) == num_nodes
    assert bool((ptr.diff() >= 0).all())


def reference_membership(edge_index: Tensor, num_nodes: int, num_parts: int,
                         seed: int, recursive: bool = False) -> Tensor:
    r"""Calls pymetis directly on the simple undirected graph, built
    independently of :mod:`pyg_gas`."""
    import pymetis

    edge_index, _ = remove_self_loops(edge_index)
    edge_index = to_undirected(edge_index, num_nodes=num_nodes)  # Sorted.
    row, col = edge_index
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long)
    rowptr[1:] = torch.bincount(row, minlength=num_nodes).cumsum(0)
    options = pymetis.Options(seed=seed)
    if hasattr(pymetis, 'CSRAdjacency'):
        adjacency = pymetis.CSRAdjacency(rowptr.numpy(), col.numpy())
        _, parts = pymetis.part_graph(num_parts, adjacency,
                                      recursive=recursive, options=options)
    else:
        _, parts = pymetis.part_graph(num_parts, xadj=rowptr.numpy(),
                                      adjncy=col.numpy(), recursive=recursive,
                                      options=options)
    return torch.from_numpy(np.asarray(parts, dtype=np.int64))


def relabel(edge_index: Tensor, num_nodes: int, seed: int) -> Tensor:
    r"""The same graph with randomly shuffled node ids (other edges)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(num_nodes, generator=gen)[edge_index]


def csr_adj_t(edge_index: Tensor, num_nodes: int) -> Tensor:
    r"""The transposed adjacency as a torch sparse CSR tensor."""
    value = torch.ones(edge_index.size(1))
    adj_t = torch.sparse_coo_tensor(edge_index.flip(0), value,
                                    (num_nodes, num_nodes))
    return adj_t.coalesce().to_sparse_csr()


def cache_files(path) -> list:
    return sorted(os.listdir(path))


# metis: output contract on Cora ##############################################


@needs_pymetis
@pytest.mark.parametrize('num_parts', [2, 7, 40])
def test_metis_cora_contract_and_quality(cora, num_parts):
    num_nodes = cora.num_nodes
    perm, ptr = metis(cora, num_parts, log=False)
    assert_valid_partition(perm, ptr, num_nodes, num_parts)

    cluster = membership(perm, ptr)
    cut = edge_cut(cora.edge_index, cluster)
    # A random assignment with exactly the same part sizes:
    gen = torch.Generator().manual_seed(12345)
    random_cluster = cluster[torch.randperm(num_nodes, generator=gen)]
    assert torch.equal(random_cluster.bincount(), cluster.bincount())
    random_cut = edge_cut(cora.edge_index, random_cluster)
    # METIS cuts 8% (2 parts) to 21% (40 parts) of what a random one does:
    assert cut < 0.5 * random_cut


@needs_pymetis
@pytest.mark.parametrize('recursive', [False, True])
def test_metis_seeded_runs_repeat(cora, recursive):
    perm1, ptr1 = metis(cora, 7, recursive=recursive, seed=3, log=False)
    perm2, ptr2 = metis(cora, 7, recursive=recursive, seed=3, log=False)
    assert torch.equal(perm1, perm2)
    assert torch.equal(ptr1, ptr2)


@needs_pymetis
def test_metis_seed_is_passed_to_metis(cora):
    # Note: METIS treats seeds 0 and 1 alike (srand semantics), so compare
    # seeds 0 and 2.
    perm0, _ = metis(cora, 7, seed=0, log=False)
    perm2, _ = metis(cora, 7, seed=2, log=False)
    assert not torch.equal(perm0, perm2)


@needs_pymetis
@pytest.mark.parametrize('num_parts,seed,recursive', [
    (7, 0, False),
    (40, 2, False),
    (7, 2, True),
])
def test_metis_parts_match_metis_membership(cora, num_parts, seed,
                                            recursive):
    num_nodes = cora.num_nodes
    perm, ptr = metis(cora, num_parts, seed=seed, recursive=recursive,
                      log=False)
    expected = reference_membership(cora.edge_index, num_nodes, num_parts,
                                    seed, recursive)
    # The nodes perm[ptr[i]:ptr[i + 1]] are exactly those METIS put in i:
    assert torch.equal(membership(perm, ptr), expected)
    assert torch.equal(ptr.diff(), expected.bincount(minlength=num_parts))

    # After relabelling, each part is the contiguous range ptr[i]:ptr[i + 1],
    # and the permuted graph has the same edge cut:
    out = permute(cora, perm)
    new_cluster = torch.arange(num_parts).repeat_interleave(ptr.diff())
    assert torch.equal(new_cluster, expected[perm])
    assert edge_cut(out.edge_index, new_cluster) == edge_cut(
        cora.edge_index, expected)


@needs_pymetis
def test_metis_does_not_modify_input(cora):
    data = cora.clone()
    metis(data, 7, log=False)
    assert torch.equal(data.edge_index, cora.edge_index)
    assert data.num_nodes == cora.num_nodes


# metis: special graphs #######################################################


def test_metis_one_part():
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
    perm, ptr = metis(edge_index, 1, num_nodes=5, log=False)
    assert perm.tolist() == [0, 1, 2, 3, 4]
    assert ptr.tolist() == [0, 5]
    assert perm.dtype == ptr.dtype == torch.long


@needs_pymetis
def test_metis_isolated_nodes(cora):
    num_nodes = cora.num_nodes + 13  # 13 extra nodes without edges.
    data = Data(edge_index=cora.edge_index, num_nodes=num_nodes)
    perm, ptr = metis(data, 7, log=False)
    assert_valid_partition(perm, ptr, num_nodes, 7)
    expected = reference_membership(cora.edge_index, num_nodes, 7, 0)
    assert torch.equal(membership(perm, ptr), expected)


@needs_pymetis
def test_metis_isolated_nodes_small():
    # Two triangles and three isolated nodes (6, 7, 8):
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 0, 4, 5, 3]])
    data = Data(edge_index=edge_index, num_nodes=9)
    perm, ptr = metis(data, 3, log=False)
    assert_valid_partition(perm, ptr, 9, 3)
    cluster = membership(perm, ptr)
    assert bool((cluster >= 0).all())


@pytest.mark.parametrize('num_nodes,num_parts,ptr', [
    (7, 3, [0, 3, 5, 7]),
    (4, 4, [0, 1, 2, 3, 4]),
    (5, 2, [0, 3, 5]),
])
def test_metis_edgeless_graph(num_nodes, num_parts, ptr):
    edge_index = torch.empty((2, 0), dtype=torch.long)
    out_perm, out_ptr = metis(edge_index, num_parts, num_nodes=num_nodes,
                              log=False)
    assert out_perm.tolist() == list(range(num_nodes))
    assert out_ptr.tolist() == ptr


def test_metis_self_loops_only_is_edgeless():
    # Self-loops are dropped for partitioning: nodes are spread evenly.
    edge_index = torch.tensor([[0, 1, 2, 3], [0, 1, 2, 3]])
    perm, ptr = metis(edge_index, 2, log=False)
    assert perm.tolist() == [0, 1, 2, 3]
    assert ptr.tolist() == [0, 2, 4]


@needs_pymetis
def test_metis_empty_parts_are_allowed():
    # METIS leaves parts empty on a tiny path graph:
    edge_index = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    perm, ptr = metis(edge_index, 5, log=False)
    assert_valid_partition(perm, ptr, 5, 5)
    assert bool((ptr.diff() == 0).any())  # ptr repeats a value.
    expected = reference_membership(edge_index, 5, 5, 0)
    assert torch.equal(membership(perm, ptr), expected)


# metis: directed input #######################################################


@needs_pymetis
def test_metis_symmetrizes_directed_input(cora, capsys):
    row, col = cora.edge_index
    directed = cora.edge_index[:, row < col]  # One direction only.
    undirected = to_undirected(directed, num_nodes=cora.num_nodes)
    assert torch.equal(undirected, coalesce(cora.edge_index))

    capsys.readouterr()
    perm, ptr = metis(directed, 7, num_nodes=cora.num_nodes, seed=2)
    err = capsys.readouterr().err
    assert 'directed' in err
    assert 'symmetrized' in err

    expected = metis(undirected, 7, num_nodes=cora.num_nodes, seed=2)
    assert 'directed' not in capsys.readouterr().err
    assert torch.equal(perm, expected[0])
    assert torch.equal(ptr, expected[1])


@needs_pymetis
def test_metis_log_false_is_silent(capsys):
    directed = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]])
    capsys.readouterr()
    metis(directed, 2, log=False)
    out = capsys.readouterr()
    assert out.err == ''
    assert out.out == ''


@needs_pymetis
def test_metis_log_true_reports_on_stderr_only(capsys):
    edge_index = to_undirected(torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]))
    capsys.readouterr()
    metis(edge_index, 2, log=True)
    out = capsys.readouterr()
    assert out.out == ''
    assert 'metis' in out.err
    assert 'directed' not in out.err


# metis: input types ##########################################################


@needs_pymetis
def test_metis_input_types_agree(cora):
    num_nodes = cora.num_nodes
    adj_t = csr_adj_t(cora.edge_index, num_nodes)
    assert adj_t.layout == torch.sparse_csr

    expected = metis(cora, 7, seed=2, log=False)
    inputs = [
        (cora.edge_index, num_nodes),
        (cora.edge_index, None),  # num_nodes inferred as max + 1.
        (adj_t, None),
        (adj_t, num_nodes),
        (Data(adj_t=adj_t, num_nodes=num_nodes), None),
        (Data(edge_index=cora.edge_index, num_nodes=num_nodes), None),
        (cora.edge_index.int(), num_nodes),  # int32 indices.
    ]
    for value, n in inputs:
        perm, ptr = metis(value, 7, seed=2, num_nodes=n, log=False)
        assert torch.equal(perm, expected[0])
        assert torch.equal(ptr, expected[1])


@needs_pymetis
def test_metis_adj_t_with_isolated_tail():
    # A sparse adjacency knows its number of nodes, including isolated ones:
    edge_index = to_undirected(torch.tensor([[0, 1, 2], [1, 2, 3]]))
    adj_t = csr_adj_t(edge_index, 6)
    perm, ptr = metis(adj_t, 2, log=False)
    assert_valid_partition(perm, ptr, 6, 2)
    expected = metis(edge_index, 2, num_nodes=6, log=False)
    assert torch.equal(perm, expected[0])
    assert torch.equal(ptr, expected[1])


# metis: cache ################################################################


@needs_pymetis
def test_metis_cache_round_trip(cora, tmp_path, capsys):
    cache_dir = tmp_path / 'nested' / 'cache'  # Created on demand.
    capsys.readouterr()
    perm1, ptr1 = metis(cora, 7, cache_dir=str(cache_dir))
    assert 'loaded' not in capsys.readouterr().err
    files = cache_files(cache_dir)
    assert len(files) == 1
    assert files[0].startswith('metis_') and files[0].endswith('.pt')

    perm2, ptr2 = metis(cora, 7, cache_dir=str(cache_dir))
    assert 'loaded' in capsys.readouterr().err
    assert torch.equal(perm1, perm2)
    assert torch.equal(ptr1, ptr2)
    assert cache_files(cache_dir) == files  # Nothing new, no leftovers.

    uncached = metis(cora, 7, log=False)
    assert torch.equal(perm1, uncached[0])
    assert torch.equal(ptr1, uncached[1])


def test_metis_cache_dir_under_a_file_fails_before_partitioning(tmp_path):
    # It was a NotADirectoryError from 'os.makedirs', after the work.
    file = tmp_path / 'file'
    file.write_text('')
    with pytest.raises(ValueError, match=f"'cache_dir' must be a directory, "
                       f"but '{file}' is a file"):
        metis(torch.tensor([[0, 1, 2], [1, 2, 0]]), 2, log=False,
              cache_dir=str(file / 'cache'))


@needs_pymetis
def test_metis_cache_accepts_pathlike(cora, tmp_path):
    perm1, _ = metis(cora, 2, cache_dir=tmp_path, log=False)
    perm2, _ = metis(cora, 2, cache_dir=tmp_path, log=False)
    assert torch.equal(perm1, perm2)
    assert len(cache_files(tmp_path)) == 1


@needs_pymetis
def test_metis_cache_is_not_reused_for_another_graph(cora, tmp_path, capsys):
    num_nodes = cora.num_nodes
    edge_index_a = cora.edge_index
    edge_index_b = relabel(cora.edge_index, num_nodes, seed=0)
    result_a = metis(edge_index_a, 7, num_nodes=num_nodes, log=False)
    result_b = metis(edge_index_b, 7, num_nodes=num_nodes, log=False)
    assert not torch.equal(result_a[0], result_b[0])  # Precondition.

    metis(edge_index_a, 7, num_nodes=num_nodes, cache_dir=str(tmp_path),
          log=False)
    assert len(cache_files(tmp_path)) == 1
    capsys.readouterr()
    perm, ptr = metis(edge_index_b, 7, num_nodes=num_nodes,
                      cache_dir=str(tmp_path))
    assert 'loaded' not in capsys.readouterr().err
    assert torch.equal(perm, result_b[0])
    assert torch.equal(ptr, result_b[1])
    assert len(cache_files(tmp_path)) == 2


@needs_pymetis
def test_metis_cache_foreign_file_is_not_trusted(cora, tmp_path, capsys):
    # Graph A's cache file placed under graph B's file name is ignored.
    num_nodes = cora.num_nodes
    edge_index_b = relabel(cora.edge_index, num_nodes, seed=1)
    result_b = metis(edge_index_b, 7, num_nodes=num_nodes, log=False)

    dir_a, dir_b = tmp_path / 'a', tmp_path / 'b'
    metis(cora.edge_index, 7, num_nodes=num_nodes, cache_dir=str(dir_a),
          log=False)
    metis(edge_index_b, 7, num_nodes=num_nodes, cache_dir=str(dir_b),
          log=False)
    (file_a, ), (file_b, ) = cache_files(dir_a), cache_files(dir_b)
    assert file_a != file_b
    shutil.copyfile(dir_a / file_a, dir_b / file_b)

    capsys.readouterr()
    perm, ptr = metis(edge_index_b, 7, num_nodes=num_nodes,
                      cache_dir=str(dir_b))
    assert 'loaded' not in capsys.readouterr().err
    assert torch.equal(perm, result_b[0])
    assert torch.equal(ptr, result_b[1])


@needs_pymetis
@pytest.mark.parametrize('corruption', ['garbage', 'truncated', 'empty'])
def test_metis_cache_corrupted_file_is_recomputed(cora, tmp_path, capsys,
                                                  corruption):
    expected = metis(cora, 7, cache_dir=str(tmp_path), log=False)
    (name, ) = cache_files(tmp_path)
    path = tmp_path / name
    content = path.read_bytes()
    if corruption == 'garbage':
        path.write_bytes(b'\x00\xffnot a torch file' * 100)
    elif corruption == 'truncated':
        path.write_bytes(content[:len(content) // 2])
    else:
        path.write_bytes(b'')

    capsys.readouterr()
    perm, ptr = metis(cora, 7, cache_dir=str(tmp_path))
    assert 'loaded' not in capsys.readouterr().err
    assert torch.equal(perm, expected[0])
    assert torch.equal(ptr, expected[1])
    assert cache_files(tmp_path) == [name]  # Rewritten, no leftovers.

    # The rewritten file is valid again:
    perm, ptr = metis(cora, 7, cache_dir=str(tmp_path))
    assert 'loaded' in capsys.readouterr().err
    assert torch.equal(perm, expected[0])
    assert torch.equal(ptr, expected[1])


@needs_pymetis
@pytest.mark.parametrize('corrupt,problem', [
    (lambda perm, ptr: (perm.flip(0)[:-1], ptr), "'perm' has 2707 entries"),
    (lambda perm, ptr: (torch.cat([perm[:-1], perm[:1]]), ptr),
     r"'perm' is not a permutation of \[0, 2708\)"),
    (lambda perm, ptr: (perm + 1, ptr), "'perm' is not a permutation"),
    (lambda perm, ptr: (perm.int(), ptr), "'perm' is not a one-dim"),
    (lambda perm, ptr: (perm, ptr[:-1]), "'ptr' has 7 entries, expected 8"),
    (lambda perm, ptr: (perm, ptr.flip(0)), "'ptr' runs from 2708 to 0"),
    (lambda perm, ptr: (perm, ptr - ptr.clamp(max=1)), "'ptr' runs from"),
    (lambda perm, ptr: (perm, torch.cat([ptr[:1], ptr[2:3], ptr[1:2],
                                         ptr[3:]])), "'ptr' decreases"),
    (lambda perm, ptr: (None, ptr), "'perm' is not a one-dim"),
])
def test_metis_cache_inconsistent_entry_is_recomputed(cora, tmp_path, capsys,
                                                      corrupt, problem):
    # The key matches, but the entry does not (a partial or edited write):
    expected = metis(cora, 7, cache_dir=str(tmp_path), log=False)
    (name, ) = cache_files(tmp_path)
    path = tmp_path / name
    obj = torch.load(path, weights_only=True)
    obj['perm'], obj['ptr'] = corrupt(obj['perm'], obj['ptr'])
    torch.save(obj, path)

    capsys.readouterr()
    perm, ptr = metis(cora, 7, cache_dir=str(tmp_path))
    err = capsys.readouterr().err
    assert 'loaded' not in err
    assert re.search(rf'cached partition in .*{name} is inconsistent '
                     rf'\({problem}.*\); recomputing it', err)
    assert torch.equal(perm, expected[0])
    assert torch.equal(ptr, expected[1])
    assert cache_files(tmp_path) == [name]  # Rewritten, no leftovers.
    perm, ptr = metis(cora, 7, cache_dir=str(tmp_path))
    assert 'loaded' in capsys.readouterr().err
    assert torch.equal(perm, expected[0]) and torch.equal(ptr, expected[1])
    # Silent with log=False:
    torch.save(dict(obj, ptr=None), path)
    assert torch.equal(metis(cora, 7, cache_dir=str(tmp_path),
                             log=False)[0], expected[0])
    assert capsys.readouterr().err == ''


@needs_pymetis
def test_metis_cache_keys_depend_on_parameters(cora, tmp_path):
    settings = [
        dict(num_parts=7, seed=0),
        dict(num_parts=7, seed=1),
        dict(num_parts=8, seed=0),
        dict(num_parts=7, seed=0, recursive=True),
    ]
    results = []
    for i, kwargs in enumerate(settings):
        results.append(metis(cora, cache_dir=str(tmp_path), log=False,
                             **kwargs))
        assert len(cache_files(tmp_path)) == i + 1
    # Every file is a finished partition: no temporary leftovers.
    assert all(
        name.startswith('metis_') and name.endswith('.pt')
        for name in cache_files(tmp_path))
    # Each setting loads its own result back:
    for kwargs, (perm, ptr) in zip(settings, results):
        cached = metis(cora, cache_dir=str(tmp_path), log=False, **kwargs)
        assert torch.equal(cached[0], perm)
        assert torch.equal(cached[1], ptr)
    assert len(cache_files(tmp_path)) == len(settings)


def test_metis_one_part_writes_no_cache(tmp_path):
    edge_index = torch.tensor([[0, 1], [1, 0]])
    perm, ptr = metis(edge_index, 1, cache_dir=str(tmp_path), log=False)
    assert perm.tolist() == [0, 1]
    assert ptr.tolist() == [0, 2]
    assert cache_files(tmp_path) == []


# metis: errors ###############################################################


SQUARE = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])


@pytest.mark.parametrize('num_parts,error,match', [
    (0, ValueError, r"'num_parts' must be in \[1, 4\] \(got 0\)"),
    (-1, ValueError, r"'num_parts' must be in \[1, 4\]"),
    (5, ValueError, r"'num_parts' must be in \[1, 4\] \(got 5\)"),
    (True, TypeError, r"'num_parts' must be an int \(got bool\)"),
    (2.0, TypeError, r"'num_parts' must be an int \(got float\)"),
    ('2', TypeError, r"'num_parts' must be an int \(got str\)"),
])
def test_metis_bad_num_parts(num_parts, error, match):
    with pytest.raises(error, match=match):
        metis(SQUARE, num_parts, log=False)


def test_metis_float_edge_index():
    with pytest.raises(TypeError, match='integer node indices'):
        metis(SQUARE.float(), 2, log=False)


def test_metis_bool_edge_index():
    with pytest.raises(TypeError, match='integer node indices'):
        metis(SQUARE.bool(), 2, log=False)


def test_metis_index_out_of_range():
    with pytest.raises(ValueError, match=r'index 3, out of range for 3 nodes'):
        metis(SQUARE, 2, num_nodes=3, log=False)


def test_metis_negative_index():
    edge_index = torch.tensor([[0, -1], [1, 0]])
    with pytest.raises(ValueError, match='negative index -1'):
        metis(edge_index, 2, num_nodes=3, log=False)


@pytest.mark.parametrize('shape', [(3, 4), (4, ), (2, 2, 2)])
def test_metis_bad_shape(shape):
    edge_index = torch.zeros(shape, dtype=torch.long)
    with pytest.raises(ValueError, match=r'shape \[2, num_edges\]'):
        metis(edge_index, 1, num_nodes=4, log=False)


@pytest.mark.parametrize('num_nodes', [0, None])
def test_metis_empty_graph(num_nodes):
    edge_index = torch.empty((2, 0), dtype=torch.long)
    with pytest.raises(ValueError, match='empty graph'):
        metis(edge_index, 1, num_nodes=num_nodes, log=False)


def test_metis_bad_num_nodes_type():
    with pytest.raises(TypeError, match="'num_nodes' must be an int"):
        metis(SQUARE, 2, num_nodes=4.0, log=False)


def test_metis_bad_input_type():
    with pytest.raises(TypeError, match="Expected a 'Data' object"):
        metis(SQUARE.tolist(), 2, log=False)


def test_metis_data_without_edges():
    with pytest.raises(ValueError, match="neither 'edge_index' nor 'adj_t'"):
        metis(Data(x=torch.randn(4, 2)), 2, log=False)


def test_metis_unknown_backend():
    with pytest.raises(ValueError, match=r"'backend' must be one of .*'kahip'"):
        metis(SQUARE, 2, backend='kahip', log=False)


@pytest.mark.parametrize(
    'backend', [b for b in BACKENDS if b not in available_backends()] or [
        pytest.param(None, marks=pytest.mark.skip('all backends installed'))
    ])
def test_metis_missing_backend(backend):
    with pytest.raises(ImportError, match=f"'{backend}'"):
        metis(SQUARE, 2, backend=backend, log=False)


def test_metis_without_any_backend(monkeypatch):
    # Simulates an environment without pymetis and compiled METIS:
    for module in (partition_module, typing_module):
        monkeypatch.setattr(module, 'WITH_PYMETIS', False)
        monkeypatch.setattr(module, 'WITH_TORCH_SPARSE_METIS', False)
        monkeypatch.setattr(module, 'WITH_PYG_LIB_METIS', False)
    monkeypatch.setattr(typing_module, 'WITH_TORCH_SPARSE', False)
    monkeypatch.setattr(typing_module, 'WITH_PYG_LIB', False)
    assert available_backends() == ()
    with pytest.raises(ImportError, match="'pymetis' package"):
        metis(SQUARE, 2, log=False)
    with pytest.raises(ImportError, match="'pymetis' package"):
        metis(SQUARE, 2, backend='pymetis', log=False)


def test_available_backends():
    backends = available_backends()
    assert set(backends) <= set(BACKENDS)
    assert ('pymetis' in backends) == WITH_PYMETIS
    assert ('torch_sparse' in backends) == (
        typing_module.WITH_TORCH_SPARSE_METIS)
    assert ('pyg_lib' in backends) == typing_module.WITH_PYG_LIB_METIS
    # Preferred one first, in the order of BACKENDS:
    assert list(backends) == sorted(backends, key=BACKENDS.index)


# metis: every installed backend ##############################################


@pytest.mark.parametrize('backend', available_backends())
def test_metis_backend_contract(cora, backend):
    num_nodes, num_parts = cora.num_nodes, 7
    perm, ptr = metis(cora, num_parts, backend=backend, log=False)
    assert_valid_partition(perm, ptr, num_nodes, num_parts)
    # METIS balances parts up to ~3% (pymetis gives at most 1.026x here):
    assert int(ptr.diff().max()) <= 1.1 * num_nodes / num_parts
    assert int(ptr.diff().min()) >= 0.9 * num_nodes / num_parts
    cluster = membership(perm, ptr)
    gen = torch.Generator().manual_seed(0)
    random_cluster = cluster[torch.randperm(num_nodes, generator=gen)]
    assert edge_cut(cora.edge_index, cluster) < 0.5 * edge_cut(
        cora.edge_index, random_cluster)
    if backend == available_backends()[0]:  # 'auto' picks it.
        auto = metis(cora, num_parts, backend='auto', log=False)
        assert torch.equal(auto[0], perm)
        assert torch.equal(auto[1], ptr)


# permute #####################################################################


@pytest.fixture
def small_graph() -> Data:
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 4, 4],
                               [1, 0, 2, 3, 4, 0, 2]])
    num_edges = edge_index.size(1)
    gen = torch.Generator().manual_seed(0)
    data = Data(
        x=torch.randn(5, 3, generator=gen),
        y=torch.tensor([10, 11, 12, 13, 14]),
        train_mask=torch.tensor([True, False, True, False, False]),
        edge_index=edge_index,
        edge_weight=torch.arange(1, num_edges + 1, dtype=torch.float),
        edge_attr=torch.arange(2 * num_edges, dtype=torch.float).view(-1, 2),
        graph_attr=torch.tensor([[7.0, 8.0]]),
        num_classes=3,
    )
    assert data.num_nodes == 5 and data.num_edges == 7
    return data


PERM = torch.tensor([3, 0, 4, 1, 2])


def dense_adj_t(edge_index: Tensor, value: Tensor, num_nodes: int) -> Tensor:
    out = torch.zeros(num_nodes, num_nodes)
    out[edge_index[1], edge_index[0]] = value
    return out


def test_permute_node_attributes(small_graph):
    out = permute(small_graph, PERM)
    for key in ('x', 'y', 'train_mask'):
        assert torch.equal(out[key], small_graph[key][PERM])
    assert out.y.tolist() == [13, 10, 14, 11, 12]
    assert out.train_mask.tolist() == [False, True, False, False, True]
    # Graph-level attributes are untouched:
    assert torch.equal(out.graph_attr, small_graph.graph_attr)
    assert out.num_classes == 3
    assert out.num_nodes == 5


def test_permute_edges(small_graph):
    out = permute(small_graph, PERM)
    inv = torch.empty_like(PERM)
    inv[PERM] = torch.arange(5)
    assert inv.tolist() == [1, 3, 4, 0, 2]
    assert out.edge_index.tolist() == [[1, 3, 3, 4, 0, 2, 2],
                                       [3, 1, 4, 0, 2, 1, 4]]
    assert torch.equal(out.edge_index, inv[small_graph.edge_index])
    # Edge order is kept, so edge attributes stay aligned:
    assert torch.equal(out.edge_weight, small_graph.edge_weight)
    assert torch.equal(out.edge_attr, small_graph.edge_attr)
    assert torch.equal(PERM[out.edge_index], small_graph.edge_index)
    triples = {(int(PERM[u]), int(PERM[v]), float(w))
               for (u, v), w in zip(out.edge_index.t(), out.edge_weight)}
    expected = {(int(u), int(v), float(w))
                for (u, v), w in zip(small_graph.edge_index.t(),
                                     small_graph.edge_weight)}
    assert triples == expected
    # Features of edge endpoints are unchanged by relabelling:
    assert torch.equal(out.x[out.edge_index[0]],
                       small_graph.x[small_graph.edge_index[0]])


def test_permute_sparse_adj_t(small_graph):
    value = small_graph.edge_weight
    adj_t = dense_adj_t(small_graph.edge_index, value, 5).to_sparse_csr()
    small_graph.adj_t = adj_t
    old_dense = adj_t.to_dense()

    out = permute(small_graph, PERM)
    assert out.adj_t.layout == torch.sparse_csr
    assert out.adj_t.shape == (5, 5)
    new_dense = out.adj_t.to_dense()
    assert torch.equal(new_dense, old_dense[PERM][:, PERM])
    # ... and consistent with the relabelled edge_index:
    assert torch.equal(new_dense, dense_adj_t(out.edge_index, value, 5))
    assert torch.equal(small_graph.adj_t.to_dense(), old_dense)


def test_permute_sparse_coo_adj_t(small_graph):
    value = small_graph.edge_weight
    dense = dense_adj_t(small_graph.edge_index, value, 5)
    small_graph.adj_t = dense.to_sparse()
    out = permute(small_graph, PERM)
    assert out.adj_t.layout == torch.sparse_coo
    assert torch.equal(out.adj_t.to_dense(), dense[PERM][:, PERM])


def test_permute_does_not_modify_input(small_graph):
    small_graph.adj_t = dense_adj_t(small_graph.edge_index,
                                    small_graph.edge_weight,
                                    5).to_sparse_csr()
    before = small_graph.clone()
    perm = PERM.clone()
    permute(small_graph, perm)
    assert torch.equal(perm, PERM)
    assert set(small_graph.keys()) == set(before.keys())
    for key, value in before.items():
        if isinstance(value, Tensor) and value.layout == torch.sparse_csr:
            assert torch.equal(small_graph[key].to_dense(), value.to_dense())
        elif isinstance(value, Tensor):
            assert torch.equal(small_graph[key], value)
        else:
            assert small_graph[key] == value


def test_permute_round_trip_and_identity(small_graph):
    identity = permute(small_graph, torch.arange(5))
    inv = torch.empty_like(PERM)
    inv[PERM] = torch.arange(5)
    back = permute(permute(small_graph, PERM), inv)
    for out in (identity, back):
        for key in ('x', 'y', 'train_mask', 'edge_index', 'edge_weight',
                    'edge_attr', 'graph_attr'):
            assert torch.equal(out[key], small_graph[key])


def test_permute_isolated_nodes():
    data = Data(x=torch.arange(6.0).view(-1, 1),
                edge_index=torch.tensor([[0, 1], [1, 0]]))
    perm = torch.tensor([5, 4, 3, 2, 1, 0])
    out = permute(data, perm)
    assert out.x.view(-1).tolist() == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    assert out.edge_index.tolist() == [[5, 4], [4, 5]]


@needs_pymetis
def test_permute_with_metis_on_cora(cora):
    perm, ptr = metis(cora, 7, log=False)
    out = permute(cora, perm)
    assert torch.equal(out.x, cora.x[perm])
    assert torch.equal(out.y, cora.y[perm])
    assert torch.equal(out.test_mask, cora.test_mask[perm])
    assert torch.equal(perm[out.edge_index], cora.edge_index)
    assert out.num_classes == cora.num_classes


@pytest.mark.parametrize('perm,error,match', [
    (torch.tensor([0, 1, 2, 3]), ValueError, r'permutation of \[0, 5\) '
     r'\(got 4 entries\)'),
    (torch.tensor([0, 1, 2, 3, 4, 0]), ValueError, r'\(got 6 entries\)'),
    (torch.tensor([0, 1, 1, 3, 4]), ValueError, 'repeated or out-of-range'),
    (torch.tensor([0, 1, 2, 3, 5]), ValueError, 'repeated or out-of-range'),
    (torch.tensor([-1, 1, 2, 3, 4]), ValueError, 'repeated or out-of-range'),
    (torch.tensor([0., 1., 2., 3., 4.]), TypeError, 'torch.long'),
    (torch.tensor([0, 1, 2, 3, 4], dtype=torch.int32), TypeError,
     'torch.long'),
    (torch.arange(5).view(1, 5), TypeError, 'one-dimensional'),
    ([0, 1, 2, 3, 4], TypeError, 'torch.long'),
])
def test_permute_bad_perm(small_graph, perm, error, match):
    with pytest.raises(error, match=match):
        permute(small_graph, perm)


def test_permute_bad_data():
    with pytest.raises(TypeError, match="'data' must be a 'Data' object"):
        permute(torch.tensor([[0, 1], [1, 0]]), torch.arange(2))


@pytest.mark.parametrize('layout', ['coo', 'csr'])
def test_permute_sparse_node_features_permutes_rows_only(layout):
    x = torch.tensor([[1., 0, 0], [0, 2, 0], [0, 0, 3], [4, 0, 0],
                      [0, 5, 0]])
    sparse_x = x.to_sparse() if layout == 'coo' else x.to_sparse_csr()
    data = Data(x=sparse_x, edge_index=torch.tensor([[0, 1], [1, 2]]))
    perm = torch.tensor([3, 0, 4, 1, 2])
    out = permute(data, perm)
    assert out.x.layout == sparse_x.layout
    assert torch.equal(out.x.to_dense(), x[perm])


def test_metis_accepts_numpy_integers(cora):
    perm, ptr = metis(cora, np.int64(4), log=False)
    assert ptr.numel() == 5


def test_cache_ignores_self_loops(cora, tmp_path):
    # A graph and the same graph with self-loops (e.g. after a GCN
    # normalization) share a cached partition: METIS ignores self-loops.
    data = cora
    perm, ptr = metis(data, 5, cache_dir=str(tmp_path), log=False)
    assert len(os.listdir(tmp_path)) == 1
    loops = torch.arange(data.num_nodes).repeat(2, 1)
    with_loops = torch.cat([data.edge_index, loops], dim=1)
    perm2, ptr2 = metis(with_loops, 5, cache_dir=str(tmp_path), log=False,
                        num_nodes=data.num_nodes)
    assert len(os.listdir(tmp_path)) == 1  # Found, not recomputed.
    assert torch.equal(perm, perm2) and torch.equal(ptr, ptr2)


@pytest.mark.parametrize('key,size', [('y', 4), ('train_mask', 6)])
def test_permute_node_attribute_of_wrong_length_raises(small_graph, key,
                                                       size):
    data = small_graph.clone()
    data[key] = torch.cat([data[key]] * 2)[:size]
    with pytest.raises(ValueError, match=rf"Attribute '{key}' has {size} "
                       r"rows .*, but the graph has num_nodes=5 \(and 7 "
                       r"edges\)"):
        permute(data, PERM)
    # 'num_nodes' beyond the rows of 'x':
    data = small_graph.clone()
    data.num_nodes = 6
    with pytest.raises(ValueError, match="Attribute 'x' has 5 rows"):
        permute(data, torch.tensor([5, 3, 0, 4, 1, 2]))


def test_permute_keeps_clearly_graph_level_attributes(small_graph):
    data = small_graph.clone()
    data.scale = torch.tensor(2.0)
    data.split_index = torch.tensor([[0, 1, 2, 3, 4, 0, 1, 2]])
    data.names = ['a', 'b']
    out = permute(data, PERM)
    assert float(out.scale) == 2.0 and out.names == ['a', 'b']
    assert torch.equal(out.split_index, data.split_index)
    assert torch.equal(out.graph_attr, data.graph_attr)


# split_clusters ##############################################################

# In-degrees 3, 3, 4 | (an empty cluster) | 0 | 10 | 1, 1, 1, 1, 2:
SPLIT_DEG = [3, 3, 4, 0, 10, 1, 1, 1, 1, 2]
SPLIT_PTR = [0, 3, 3, 4, 5, 10]


def split_rowptr() -> Tensor:
    deg = torch.tensor(SPLIT_DEG)
    return torch.cat([deg.new_zeros(1), deg.cumsum(0)])


@pytest.mark.parametrize('max_edges, expected', [
    # Every node alone (the node of 10 edges exceeds the bound alone):
    (1, [0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10]),
    # Equal shares: 6 edges into 3 ranges of 2.
    (2, [0, 1, 2, 3, 3, 4, 5, 7, 9, 10]),
    (3, [0, 1, 2, 3, 3, 4, 5, 8, 10]),
    # An equal share of 10 edges (5) would take node 0 alone and leave 7,
    # which needs 2 more ranges: the range takes the bound's 6 instead.
    (6, [0, 2, 3, 3, 4, 5, 10]),
    (7, [0, 1, 3, 3, 4, 5, 10]),
    # Clusters within the bound stay whole, the empty one included:
    (10, SPLIT_PTR),
    (100, SPLIT_PTR),
])
def test_split_clusters_hand(max_edges, expected):
    rowptr, ptr = split_rowptr(), torch.tensor(SPLIT_PTR)
    out = split_clusters(ptr, rowptr, max_edges)
    assert out.dtype == torch.long and out.tolist() == expected
    # Splitting again changes nothing; a NumPy row pointer (e.g. a memory
    # map) gives the same:
    assert torch.equal(split_clusters(out, rowptr, max_edges), out)
    assert torch.equal(split_clusters(ptr, rowptr.numpy(), max_edges), out)


def test_split_clusters_of_a_memory_map(tmp_path):
    # A prepared dataset's row pointers stay memory-mapped:
    path = str(tmp_path / 'rowptr.npy')
    np.save(path, split_rowptr().numpy().astype(np.int64))
    rowptr = np.load(path, mmap_mode='r')
    out = split_clusters(torch.tensor(SPLIT_PTR), rowptr, 3)
    assert out.tolist() == [0, 1, 2, 3, 3, 4, 5, 8, 10]


def test_split_clusters_bounds_cora_batches(cora):
    perm, ptr = metis(cora, 4, log=False)
    data = permute(cora, perm)
    dst = data.edge_index[1]
    rowptr = torch.cat([torch.zeros(1, dtype=torch.long),
                        torch.bincount(dst, minlength=data.num_nodes)
                        .cumsum(0)])
    out = split_clusters(ptr, rowptr, 500)
    # A refinement: every boundary of 'ptr' is kept.
    assert set(ptr.tolist()) <= set(out.tolist())
    edges = rowptr[out[1:]] - rowptr[out[:-1]]
    single = (out[1:] - out[:-1]) == 1
    assert bool(((edges <= 500) | single).all())
    assert out.numel() - 1 >= -(-data.num_edges // 500)
