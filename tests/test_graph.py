r"""The graph helpers of :mod:`pyg_gas.graph`, on hand-built graphs with empty
rows, duplicated edges, self-loops and isolated nodes."""
import pytest
import torch
from torch_geometric import EdgeIndex
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from pyg_gas.graph import (
    add_node_self_loops,
    build_adj_t,
    check_edge_index,
    check_finite_values,
    check_graph_attr,
    check_ptr,
    gather_csr,
    gcn_norm_csr,
    gcn_normalize,
    get_edge_index,
    is_sparse,
    num_target_nodes,
    pad_targets,
    sparse_to_edge_index,
    split_attributes,
    to_adj_t,
    to_csr,
)

# A directed graph on 5 nodes (edge j -> i as the column [j, i]):
#   e0: 1 -> 0, e1: 0 -> 2, e2: 2 -> 2 (a self-loop), e3: 2 -> 0,
#   e4: 0 -> 2 (e1 again), e5: 3 -> 1, e6: 1 -> 0 (e0 again).
# Node 3 has no incoming edge, node 4 no edge at all.
HAND_EDGE_INDEX = [[1, 0, 2, 2, 0, 3, 1],
                   [0, 2, 2, 0, 2, 1, 0]]
HAND_WEIGHTS = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
NUM_NODES = 5
# The transposed adjacency (row = target, column = source), duplicates summed:
HAND_DENSE_T = [
    [0.0, 1.0 + 7.0, 4.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 6.0, 0.0],
    [2.0 + 5.0, 0.0, 3.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 0.0],
]


def hand_edge_index() -> torch.Tensor:
    return torch.tensor(HAND_EDGE_INDEX)


def hand_weights() -> torch.Tensor:
    return torch.tensor(HAND_WEIGHTS)


def csr_rows(rowptr: torch.Tensor) -> torch.Tensor:
    return torch.arange(rowptr.numel() - 1).repeat_interleave(rowptr.diff())


# is_sparse ###################################################################


def test_is_sparse():
    dense = torch.eye(3)
    assert not is_sparse(dense)
    assert is_sparse(dense.to_sparse_csr())
    assert is_sparse(dense.to_sparse_coo())
    assert is_sparse(dense.to_sparse_csc())
    # An EdgeIndex is a strided tensor of indices, not a sparse matrix:
    assert not is_sparse(EdgeIndex(torch.tensor([[0, 1], [1, 2]])))
    assert not is_sparse([[0, 1], [1, 0]])
    assert not is_sparse(None)


# check_edge_index ############################################################


def test_check_edge_index_number_of_nodes():
    edge_index = hand_edge_index()
    assert check_edge_index(edge_index) == 4  # max + 1: node 4 is unseen.
    assert check_edge_index(edge_index, num_nodes=NUM_NODES) == NUM_NODES
    assert check_edge_index(edge_index.int()) == 4  # Any integer dtype.
    empty = torch.empty(2, 0, dtype=torch.long)
    assert check_edge_index(empty) == 0
    assert check_edge_index(empty, num_nodes=3) == 3


@pytest.mark.parametrize('edge_index,error,match', [
    ([[0, 1], [1, 0]], TypeError,
     r"'edge_index' must be a tensor \(got list\)"),
    (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), TypeError,
     r'integer node indices \(got dtype torch.float32\)'),
    (torch.tensor([[True], [False]]), TypeError,
     r'integer node indices \(got dtype torch.bool\)'),
    (torch.tensor([[0, 1], [1, 2], [2, 0]]), ValueError,
     r'shape \[2, num_edges\] \(got \[3, 2\]\)'),
    (torch.tensor([0, 1]), ValueError, r'shape \[2, num_edges\] \(got \[2\]\)'),
    (torch.tensor([[0, -1], [1, 0]]), ValueError, 'the negative index -1'),
])
def test_check_edge_index_errors(edge_index, error, match):
    with pytest.raises(error, match=match):
        check_edge_index(edge_index)


def test_check_edge_index_num_nodes_errors():
    edge_index = hand_edge_index()
    with pytest.raises(ValueError, match=r'the index 3, out of range for 3 '
                       r'nodes \(expected < 3\)'):
        check_edge_index(edge_index, num_nodes=3)
    with pytest.raises(TypeError, match=r"'num_nodes' must be an int "
                       r'\(got float\)'):
        check_edge_index(edge_index, num_nodes=5.0)
    with pytest.raises(TypeError, match=r'\(got bool\)'):
        check_edge_index(edge_index, num_nodes=True)
    # The messages name the argument as the caller calls it:
    with pytest.raises(ValueError, match="'adj' holds the negative index"):
        check_edge_index(torch.tensor([[-2], [0]]), name='adj')


# to_csr and gather_csr #######################################################


def test_to_csr():
    rowptr, col, perm = to_csr(hand_edge_index(), NUM_NODES)
    # In-degrees 3, 1, 3, 0, 0 (duplicates and the self-loop count):
    assert rowptr.tolist() == [0, 3, 4, 7, 7, 7]
    # Stable: edges to the same target keep their input order.
    assert perm.tolist() == [0, 3, 6, 5, 1, 2, 4]
    assert col.tolist() == [1, 2, 1, 3, 0, 2, 0]
    assert torch.equal(col, hand_edge_index()[0][perm])
    # Every CSR row holds the edges into its node:
    assert torch.equal(hand_edge_index()[1][perm], csr_rows(rowptr))


def test_to_csr_without_edges():
    rowptr, col, perm = to_csr(torch.empty(2, 0, dtype=torch.long), 3)
    assert rowptr.tolist() == [0, 0, 0, 0]
    assert col.numel() == 0 and perm.numel() == 0


def test_gather_csr():
    rowptr = torch.tensor([0, 2, 2, 5, 5, 6])  # Rows 1 and 3 are empty.
    for nodes in [[], [1], [1, 3], [0, 1, 2, 3, 4], [4, 3, 1], [2, 0, 2],
                  [3, 1, 0]]:
        ptr, idx = gather_csr(rowptr, torch.tensor(nodes, dtype=torch.long))
        expected = [k for v in nodes for k in range(rowptr[v], rowptr[v + 1])]
        assert idx.tolist() == expected
        degree = [int(rowptr[v + 1] - rowptr[v]) for v in nodes]
        assert ptr.tolist() == [sum(degree[:i]) for i in range(len(nodes) + 1)]


def test_gather_csr_exact_values():
    rowptr = torch.tensor([0, 2, 2, 5, 5, 6])
    ptr, idx = gather_csr(rowptr, torch.tensor([4, 1, 2, 3, 0]))
    assert ptr.tolist() == [0, 1, 1, 4, 4, 6]
    assert idx.tolist() == [5, 2, 3, 4, 0, 1]
    # Only empty rows, and the empty rows at the end of a graph:
    ptr, idx = gather_csr(torch.tensor([0, 0, 0, 3, 3, 3]),
                          torch.tensor([4, 0, 1, 3]))
    assert ptr.tolist() == [0, 0, 0, 0, 0]
    assert idx.tolist() == []


def test_gather_csr_random_rows():
    gen = torch.Generator().manual_seed(0)
    deg = torch.randint(0, 4, (200, ), generator=gen)
    deg[torch.rand(200, generator=gen) < 0.3] = 0  # Many empty rows.
    rowptr = torch.cat([torch.zeros(1, dtype=torch.long), deg.cumsum(0)])
    nodes = torch.randint(0, 200, (500, ), generator=gen)  # Repeats, too.
    ptr, idx = gather_csr(rowptr, nodes)
    expected = torch.cat([torch.arange(int(rowptr[v]), int(rowptr[v + 1]))
                          for v in nodes.tolist()])
    assert torch.equal(idx, expected)
    assert torch.equal(ptr.diff(), deg[nodes])


# build_adj_t, to_adj_t and sparse_to_edge_index ##############################


def test_build_adj_t():
    rowptr = torch.tensor([0, 2, 2, 3])  # Row 1 is empty.
    col = torch.tensor([1, 3, 0])
    adj_t = build_adj_t(rowptr, col, torch.tensor([0.5, 2.0, 4.0]), (3, 4))
    assert adj_t.layout == torch.sparse_csr
    assert adj_t.shape == (3, 4)
    assert adj_t.to_dense().tolist() == [
        [0.0, 0.5, 0.0, 2.0],
        [0.0, 0.0, 0.0, 0.0],
        [4.0, 0.0, 0.0, 0.0],
    ]
    # Without values, every edge weighs one:
    adj_t = build_adj_t(rowptr, col, None, (3, 4))
    assert adj_t.values().tolist() == [1.0, 1.0, 1.0]
    assert adj_t.to_dense().sum().item() == 3.0


def test_to_adj_t():
    adj_t = to_adj_t(hand_edge_index(), NUM_NODES, hand_weights())
    assert adj_t.layout == torch.sparse_csr
    assert adj_t.shape == (NUM_NODES, NUM_NODES)
    assert adj_t.crow_indices().tolist() == [0, 3, 4, 7, 7, 7]
    # Sources sorted within each target (duplicates stay two entries):
    assert adj_t.col_indices().tolist() == [1, 1, 2, 3, 0, 0, 2]
    assert adj_t.to_dense().tolist() == HAND_DENSE_T
    # Unweighted: every edge counts once, duplicates twice.
    adj_t = to_adj_t(hand_edge_index(), NUM_NODES)
    assert adj_t.to_dense().tolist() == [
        [0.0, 2.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0, 0.0],
        [2.0, 0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
    ]


def test_to_adj_t_equals_pyg_message_passing():
    # A conv given 'adj_t' computes what it computes from 'edge_index'.
    torch.manual_seed(0)
    conv = GCNConv(3, 4, normalize=False)
    x = torch.randn(NUM_NODES, 3)
    edge_index, weight = hand_edge_index(), hand_weights()
    expected = conv(x, edge_index, weight)
    out = conv(x, to_adj_t(edge_index, NUM_NODES, weight))
    torch.testing.assert_close(out, expected)
    # The isolated node 4 and node 3 (no incoming edge) get the bias only:
    torch.testing.assert_close(out[3:], conv.bias.expand(2, 4))


def dense_t(edge_index, weight, num_nodes):
    out = torch.zeros(num_nodes, num_nodes)
    out.index_put_((edge_index[1], edge_index[0]), weight, accumulate=True)
    return out


def test_sparse_to_edge_index():
    # A CSR 'adj_t': one edge per stored entry, sorted by (target, source).
    adj_t = to_adj_t(hand_edge_index(), NUM_NODES, hand_weights())
    edge_index, weight, num_nodes = sparse_to_edge_index(adj_t)
    assert edge_index.tolist() == [[1, 1, 2, 3, 0, 0, 2],
                                   [0, 0, 0, 1, 2, 2, 2]]
    assert dense_t(edge_index, weight, num_nodes).tolist() == HAND_DENSE_T
    assert num_nodes == NUM_NODES
    # An uncoalesced COO 'adj_t' is coalesced: duplicates merged and summed.
    adj_t = torch.sparse_coo_tensor(hand_edge_index().flip(0),
                                    hand_weights(), (NUM_NODES, NUM_NODES))
    edge_index, weight, num_nodes = sparse_to_edge_index(adj_t)
    assert edge_index.tolist() == [[1, 2, 3, 0, 2], [0, 0, 1, 2, 2]]
    assert weight.tolist() == [8.0, 4.0, 6.0, 7.0, 3.0]
    assert num_nodes == NUM_NODES
    # A bipartite adjacency (2 targets, 4 sources) spans 4 nodes:
    adj = torch.tensor([[0.0, 0.0, 0.0, 2.0], [1.0, 0.0, 0.0, 0.0]])
    edge_index, weight, num_nodes = sparse_to_edge_index(adj.to_sparse_csr())
    assert edge_index.tolist() == [[3, 0], [0, 1]]
    assert weight.tolist() == [2.0, 1.0]
    assert num_nodes == 4


# get_edge_index ##############################################################


def test_get_edge_index_of_data():
    # The number of nodes comes from the data, isolated nodes included:
    data = Data(edge_index=hand_edge_index().int(), num_nodes=NUM_NODES)
    edge_index, num_nodes = get_edge_index(data)
    assert edge_index.dtype == torch.long
    assert edge_index.tolist() == HAND_EDGE_INDEX
    assert num_nodes == NUM_NODES
    data = Data(x=torch.randn(6, 2), edge_index=hand_edge_index())
    assert get_edge_index(data)[1] == 6
    assert get_edge_index(data, num_nodes=7)[1] == 7
    # Without the number of nodes, it is inferred from the edges (PyG
    # warns that it cannot be sure):
    with pytest.warns(UserWarning, match='num_nodes'):
        assert get_edge_index(Data(edge_index=hand_edge_index()))[1] == 4


def test_get_edge_index_of_adj_t():
    adj_t = to_adj_t(hand_edge_index(), NUM_NODES, hand_weights())
    expected = [[1, 1, 2, 3, 0, 0, 2], [0, 0, 0, 1, 2, 2, 2]]
    edge_index, num_nodes = get_edge_index(Data(adj_t=adj_t,
                                                num_nodes=NUM_NODES))
    assert edge_index.tolist() == expected and num_nodes == NUM_NODES
    edge_index, num_nodes = get_edge_index(adj_t)
    assert edge_index.tolist() == expected and num_nodes == NUM_NODES
    assert get_edge_index(adj_t, num_nodes=8)[1] == 8


def test_get_edge_index_of_tensor():
    edge_index, num_nodes = get_edge_index(hand_edge_index())
    assert edge_index.tolist() == HAND_EDGE_INDEX and num_nodes == 4
    edge_index, num_nodes = get_edge_index(
        EdgeIndex(hand_edge_index().int()), num_nodes=NUM_NODES)
    assert edge_index.dtype == torch.long
    assert edge_index.tolist() == HAND_EDGE_INDEX and num_nodes == NUM_NODES


def test_get_edge_index_errors():
    with pytest.raises(ValueError, match="neither 'edge_index' nor 'adj_t'"):
        get_edge_index(Data(x=torch.randn(3, 2)))
    with pytest.raises(TypeError, match=r"Expected a 'Data' object.*"
                       r'\(got list\)'):
        get_edge_index(HAND_EDGE_INDEX)
    with pytest.raises(ValueError, match='out of range for 3 nodes'):
        get_edge_index(Data(edge_index=hand_edge_index(), num_nodes=3))


# split_attributes ############################################################


def test_split_attributes():
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
    data = Data(x=torch.randn(4, 2), y=torch.tensor([0, 1, 1, 0]),
                train_mask=torch.tensor([True, False, True, False]),
                edge_index=edge_index,
                edge_weight=torch.tensor([1.0, 2.0, 3.0]),
                edge_attr=torch.tensor([[1.0, 10.0], [2.0, 20.0],
                                        [3.0, 30.0]]),
                name='hand', num_classes=2)
    node, edge, graph = split_attributes(data, torch.tensor([2, 0, 1]))
    assert set(node) == {'x', 'y', 'train_mask'}
    assert node['x'] is data.x  # Returned as they are.
    assert set(edge) == {'edge_weight', 'edge_attr'}
    assert edge['edge_weight'].tolist() == [3.0, 1.0, 2.0]
    assert edge['edge_attr'].tolist() == [[3.0, 30.0], [1.0, 10.0],
                                          [2.0, 20.0]]
    assert graph == {'name': 'hand', 'num_classes': 2}
    # The adjacency itself is none of them:
    assert 'edge_index' not in {**node, **edge, **graph}


def test_split_attributes_of_weighted_adj_t():
    # Edges 0 -> 1, 1 -> 2, 2 -> 3 weigh 1, 2, 3; the weights are listed
    # in the order in which 'get_edge_index' lists the edges.
    adj_t = to_adj_t(torch.tensor([[0, 1, 2], [1, 2, 3]]), 4,
                     torch.tensor([1.0, 2.0, 3.0]))
    data = Data(x=torch.randn(4, 2), adj_t=adj_t)
    node, edge, graph = split_attributes(data, torch.tensor([2, 0, 1]))
    assert set(node) == {'x'}
    assert edge['edge_weight'].tolist() == [3.0, 1.0, 2.0]
    assert graph == {}


def test_split_attributes_needs_node_attributes_along_dim_0():
    # PyG concatenates '*_index' attributes along their last dimension:
    data = Data(x=torch.randn(4, 2), edge_index=torch.tensor([[0], [1]]),
                perm_index=torch.arange(4))
    with pytest.raises(ValueError, match="'perm_index' must be stacked along "
                       'dimension 0'):
        split_attributes(data, torch.tensor([0]))


def test_split_attributes_refuses_short_node_attributes():
    data = Data(x=torch.randn(4, 2), y=torch.tensor([0, 1, 1]),
                edge_index=torch.tensor([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match=r"Attribute 'y' has 3 rows \(shape "
                       r"\[3\]\), but the graph has num_nodes=4 \(and 2 "
                       r"edges\)"):
        split_attributes(data, torch.tensor([0, 1]))


@pytest.mark.parametrize('value,ok', [
    (torch.tensor(1.0), True),  # 0-dim
    (torch.ones(1, 5), True),  # [1, ...]
    ('text', True),
    ([1, 2, 3], True),
    (torch.ones(3), False),  # neither 4 nodes nor 2 edges
    (torch.ones(5, 2), False),
])
def test_check_graph_attr(value, ok):
    data = Data(x=torch.randn(4, 2), edge_index=torch.tensor([[0, 1],
                                                              [1, 2]]))
    if ok:
        check_graph_attr(data, 'attr', value)
    else:
        with pytest.raises(ValueError, match=rf"Attribute 'attr' has "
                           rf"{len(value)} rows"):
            check_graph_attr(data, 'attr', value)
    # PyG's index-like keys are concatenated along the last dimension:
    check_graph_attr(data, 'split_index', torch.ones(2, 7, dtype=torch.long))


def test_check_finite_values():
    x = torch.randn(10, 3)
    check_finite_values('x', x)
    check_finite_values('x', None)
    check_finite_values('y', torch.arange(5))  # Integers are finite.
    x[[0, 0, 9], [0, 2, 1]] = torch.tensor([float('nan'), float('inf'),
                                            -float('inf')])
    for chunk in (1, 4, 1 << 22):  # The chunks add up.
        with pytest.raises(ValueError, match=r"'x' holds 3 non-finite "
                           r"values \(nan or inf\) of 30"):
            check_finite_values('x', x, chunk=chunk)
    with pytest.raises(ValueError, match="'x' holds 3 non-finite"):
        check_finite_values('x', x.to_sparse())  # Its stored values.
    with pytest.raises(ValueError, match="'w' holds 1 non-finite"):
        check_finite_values('w', torch.tensor([1.0, float('nan')],
                                              dtype=torch.float16))


# num_target_nodes and pad_targets ############################################


def test_num_target_nodes():
    adj = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 1.0]])
    assert num_target_nodes(adj.to_sparse_csr()) == 2
    assert num_target_nodes(adj.to_sparse_coo()) == 2
    edge_index = torch.tensor([[1, 2, 3], [0, 1, 1]])
    assert num_target_nodes(EdgeIndex(edge_index, sparse_size=(4, 2))) == 2
    with pytest.raises(ValueError, match='plain'):
        num_target_nodes(edge_index)
    with pytest.raises(ValueError, match='sparse size'):
        num_target_nodes(EdgeIndex(edge_index))  # Size unknown.


def test_pad_targets():
    rowptr = torch.tensor([0, 2, 3])
    adj_t = build_adj_t(rowptr, torch.tensor([0, 3, 1]),
                        torch.tensor([1.0, 2.0, 3.0]), (2, 4))
    assert pad_targets(adj_t, 2) is adj_t  # Nothing to pad.
    out = pad_targets(adj_t, 4)
    assert out.layout == torch.sparse_csr
    assert out.shape == (4, 4)
    assert out.crow_indices().tolist() == [0, 2, 3, 3, 3]
    assert out.col_indices().tolist() == [0, 3, 1]
    assert out.to_dense().tolist() == [
        [1.0, 0.0, 0.0, 2.0],
        [0.0, 3.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ]
    # A conv on the padded adjacency: the same first rows, bias-only rest.
    torch.manual_seed(0)
    conv = GCNConv(3, 5, normalize=False)
    x = torch.randn(4, 3)
    torch.testing.assert_close(conv(x, out)[:2], conv(x, adj_t))
    torch.testing.assert_close(conv(x, out)[2:], conv.bias.expand(2, 5))


def test_pad_targets_needs_csr():
    adj_t = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]).to_sparse_coo()
    with pytest.raises(TypeError, match="type 'Tensor'.*sparse CSR"):
        pad_targets(adj_t, 3)


# check_ptr ###################################################################


def test_check_ptr():
    ptr = torch.tensor([0, 2, 2, 5])  # An empty cluster is fine.
    out = check_ptr(ptr, 5)
    assert out.tolist() == [0, 2, 2, 5]
    assert out.device.type == 'cpu'
    assert check_ptr(torch.tensor([0, 0]), 0).tolist() == [0, 0]


@pytest.mark.parametrize('ptr,error,match', [
    ([0, 2, 5], TypeError, 'one-dimensional tensor of type torch.long'),
    (torch.tensor([0, 2, 5], dtype=torch.int32), TypeError, 'torch.long'),
    (torch.tensor([[0, 2, 5]]), TypeError, 'one-dimensional'),
    (torch.tensor([0]), ValueError,
     r'from 0 to the number of nodes \(5\) \(got \[0\]\)'),
    (torch.tensor([1, 2, 5]), ValueError, r'\(got ptr\[0\]=1, ptr\[-1\]=5\)'),
    (torch.tensor([0, 2, 4]), ValueError, r'\(got ptr\[0\]=0, ptr\[-1\]=4\)'),
    (torch.tensor([0, 3, 2, 5]), ValueError, 'non-decreasing'),
])
def test_check_ptr_errors(ptr, error, match):
    with pytest.raises(error, match=match):
        check_ptr(ptr, 5)


# add_node_self_loops #########################################################

# Edge features of the hand graph's edges e0..e6, two columns each:
HAND_ATTR = [[1.0, 0.0], [2.0, 1.0], [3.0, 2.0], [4.0, 3.0], [5.0, 4.0],
             [6.0, 5.0], [7.0, 6.0]]


def test_add_node_self_loops_replaces_loops():
    data = Data(edge_index=hand_edge_index(), num_nodes=NUM_NODES,
                edge_weight=torch.tensor(HAND_WEIGHTS),
                edge_attr=torch.tensor(HAND_ATTR),
                x=torch.randn(NUM_NODES, 3))
    out = add_node_self_loops(data)
    assert out is not data and out.x is data.x
    assert data.edge_index.tolist() == HAND_EDGE_INDEX  # Unchanged.
    # The six edges that are not loops, in order, then 0 -> 0, ..., 4 -> 4:
    assert out.edge_index.tolist() == [[1, 0, 2, 0, 3, 1, 0, 1, 2, 3, 4],
                                       [0, 2, 0, 2, 1, 0, 0, 1, 2, 3, 4]]
    # Unit weights on the new loops (the old loop's 3.0 is dropped):
    assert out.edge_weight.tolist() == [1.0, 2.0, 4.0, 5.0, 6.0, 7.0,
                                        1.0, 1.0, 1.0, 1.0, 1.0]
    # Loop features: the mean of the node's incoming non-loop edges
    # (node 0: e0, e3, e6; node 1: e5; node 2: e1, e4), zeros for none:
    assert out.edge_attr.tolist() == [
        [1.0, 0.0], [2.0, 1.0], [4.0, 3.0], [5.0, 4.0], [6.0, 5.0],
        [7.0, 6.0], [4.0, 3.0], [6.0, 5.0], [3.5, 2.5], [0.0, 0.0],
        [0.0, 0.0]]


def test_add_node_self_loops_keeps_existing():
    # Node 2 has two loops (e2 and a new e7): the last one's rows are kept.
    edge_index = torch.cat([hand_edge_index(), torch.tensor([[2], [2]])], 1)
    data = Data(edge_index=edge_index, num_nodes=NUM_NODES,
                edge_weight=torch.tensor(HAND_WEIGHTS + [9.0]),
                edge_attr=torch.tensor(HAND_ATTR + [[8.0, 8.0]]))
    out = add_node_self_loops(data, keep_existing=True)
    assert out.edge_index.size(1) == 6 + NUM_NODES
    assert out.edge_weight[6:].tolist() == [1.0, 1.0, 9.0, 1.0, 1.0]
    assert out.edge_attr[6:].tolist() == [[4.0, 3.0], [6.0, 5.0],
                                          [8.0, 8.0], [0.0, 0.0],
                                          [0.0, 0.0]]
    # No edges at all: one loop per node, unit weight, zero features.
    empty = Data(edge_index=torch.empty(2, 0, dtype=torch.long),
                 edge_weight=torch.empty(0), edge_attr=torch.empty(0, 2),
                 num_nodes=3)
    out = add_node_self_loops(empty, keep_existing=True)
    assert out.edge_index.tolist() == [[0, 1, 2], [0, 1, 2]]
    assert out.edge_weight.tolist() == [1.0, 1.0, 1.0]
    assert out.edge_attr.tolist() == [[0.0, 0.0]] * 3


def test_gcn_normalize_keeps_edge_attr_aligned():
    data = Data(x=torch.randn(NUM_NODES, 3), edge_index=hand_edge_index(),
                edge_weight=torch.tensor(HAND_WEIGHTS),
                edge_attr=torch.tensor(HAND_ATTR))
    out = gcn_normalize(data)
    assert out.edge_attr.size(0) == out.edge_index.size(1) == 11
    assert out.edge_attr[:6].tolist() == [HAND_ATTR[i]
                                          for i in (0, 1, 3, 4, 5, 6)]
    assert out.edge_attr[8].tolist() == [3.0, 2.0]  # Node 2's own loop.
    # The weighted normalization equals PyG's normalizing GCNConv, which
    # keeps the weight (3.0) of node 2's self-loop:
    torch.manual_seed(0)
    conv = GCNConv(3, 4)
    expected = conv(data.x, data.edge_index, data.edge_weight)
    conv.normalize = False
    torch.testing.assert_close(
        conv(out.x, out.edge_index, out.edge_weight), expected)


# gcn_normalize and gcn_norm_csr ##############################################

# The GCN normalization of the hand graph, D^-1/2 (A + I) D^-1/2 with the
# self-loop 2 -> 2 replaced by a unit one: in-degrees plus one 4, 2, 3, 1, 1,
# the duplicated edges 1 -> 0 and 0 -> 2 counted twice.
HAND_GCN_DENSE_T = [
    [1 / 4, 2 / 8**0.5, 1 / 12**0.5, 0.0, 0.0],
    [0.0, 1 / 2, 0.0, 1 / 2**0.5, 0.0],
    [2 / 12**0.5, 0.0, 1 / 3, 0.0, 0.0],
    [0.0, 0.0, 0.0, 1.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 1.0],
]


def test_gcn_norm_csr():
    rowptr, col, value = gcn_norm_csr(hand_edge_index(), NUM_NODES)
    # Duplicates merged into one entry, one self-loop per node:
    assert rowptr.tolist() == [0, 3, 5, 7, 8, 9]
    assert col.tolist() == [0, 1, 2, 1, 3, 0, 2, 3, 4]
    assert value.dtype == torch.float64
    dense = torch.zeros(NUM_NODES, NUM_NODES, dtype=torch.float64)
    dense[csr_rows(rowptr), col] = value
    torch.testing.assert_close(
        dense, torch.tensor(HAND_GCN_DENSE_T, dtype=torch.float64))

    # A directed path 0 -> 1 -> 2: in-degrees + 1 are [1, 2, 2].
    rowptr, col, value = gcn_norm_csr(torch.tensor([[0, 1], [1, 2]]), 3)
    assert rowptr.tolist() == [0, 1, 3, 5]
    assert col.tolist() == [0, 0, 1, 1, 2]
    torch.testing.assert_close(
        value, torch.tensor([1.0, 2**-0.5, 0.5, 0.5, 0.5],
                            dtype=torch.float64))


def test_gcn_norm_csr_equals_pyg_gcn_norm():
    gen = torch.Generator().manual_seed(0)
    for edge_index, num_nodes in [
        (hand_edge_index(), NUM_NODES),
        # Random, with duplicates, self-loops and isolated nodes:
        (torch.randint(0, 40, (2, 150), generator=gen), 50),
    ]:
        rowptr, col, value = gcn_norm_csr(edge_index, num_nodes)
        dense = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
        dense[csr_rows(rowptr), col] = value
        # PyG keeps an existing self-loop (weight one) where this drops it
        # and adds a unit one: the same once repeated self-loops are gone.
        loop = edge_index[0] == edge_index[1]
        edge_index = torch.cat([edge_index[:, ~loop],
                                edge_index[:, loop].unique(dim=1)], dim=1)
        ei, w = gcn_norm(edge_index, None, num_nodes, add_self_loops=True)
        pyg = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
        pyg.index_put_((ei[1], ei[0]), w.double(), accumulate=True)
        torch.testing.assert_close(dense, pyg)


def test_gcn_normalize():
    data = Data(x=torch.randn(NUM_NODES, 3), edge_index=hand_edge_index())
    out = gcn_normalize(data)
    # A copy: the input keeps its edges and gets no weights.
    assert out is not data
    assert data.edge_index.tolist() == HAND_EDGE_INDEX
    assert 'edge_weight' not in data
    assert out.x is data.x  # Node features are shared, not copied.
    dense = dense_t(out.edge_index, out.edge_weight, NUM_NODES)
    torch.testing.assert_close(dense, torch.tensor(HAND_GCN_DENSE_T))

    # A conv without normalization on the normalized graph equals PyG's
    # normalizing conv on the raw graph:
    torch.manual_seed(0)
    conv = GCNConv(3, 4)
    expected = conv(data.x, data.edge_index)
    conv.normalize = False
    out = conv(out.x, out.edge_index, out.edge_weight)
    torch.testing.assert_close(out, expected)


def test_gcn_normalize_needs_edge_index():
    adj_t = to_adj_t(hand_edge_index(), NUM_NODES)
    with pytest.raises(ValueError, match="needs 'edge_index'"):
        gcn_normalize(Data(adj_t=adj_t, num_nodes=NUM_NODES))
