import copy
import pickle

import pytest
import torch
from torch_geometric.data import Batch, Data

from pyg_gas.data import SubgraphData


def make_batch(with_adj_t: bool = True) -> SubgraphData:
    # Two in-batch nodes (global ids 5, 6) and two halo nodes (0, 9);
    # edges 1 -> 0, 2 -> 0 and 3 -> 1, sorted by target.
    edge_index = torch.tensor([[1, 2, 3], [0, 0, 1]])
    edge_weight = torch.tensor([1.0, 2.0, 3.0])
    kwargs = {}
    if with_adj_t:
        kwargs['adj_t'] = torch.sparse_csr_tensor(
            torch.tensor([0, 2, 3]), torch.tensor([1, 2, 3]), edge_weight,
            size=(2, 4))
    return SubgraphData(
        x=torch.arange(12, dtype=torch.float).view(4, 3),
        edge_index=edge_index,
        edge_weight=edge_weight,
        batch_size=2,
        n_id=torch.tensor([5, 6, 0, 9]),
        offset=torch.tensor([5]),
        count=torch.tensor([2]),
        y=torch.tensor([1, 0, 2, 1]),
        **kwargs,
    )


DENSE_ADJ_T = [[0.0, 1.0, 2.0, 0.0], [0.0, 0.0, 0.0, 3.0]]


def assert_same_batch(out: SubgraphData, data: SubgraphData) -> None:
    assert type(out) is SubgraphData
    assert out.batch_size == 2
    assert isinstance(out.batch_size, int)
    assert out.n_id.tolist() == [5, 6, 0, 9]
    assert out.offset.tolist() == [5]
    assert out.count.tolist() == [2]
    assert out.num_halo_nodes == 2
    assert out.num_nodes == 4
    assert torch.equal(out.x, data.x)
    assert torch.equal(out.y, data.y)
    assert torch.equal(out.edge_index, data.edge_index)
    assert torch.equal(out.edge_weight, data.edge_weight)


def test_attributes():
    data = make_batch()
    assert data.batch_size == 2
    assert data.num_halo_nodes == 2
    assert data.num_nodes == 4
    assert data.n_id.tolist() == [5, 6, 0, 9]
    assert data.offset.tolist() == [5]
    assert data.count.tolist() == [2]
    assert {'batch_size', 'n_id', 'offset', 'count', 'adj_t'} <= set(
        data.keys())


@pytest.mark.parametrize('batch_size,num_halo_nodes', [(4, 0), (1, 3),
                                                       (0, 4)])
def test_num_halo_nodes(batch_size, num_halo_nodes):
    data = SubgraphData(x=torch.randn(4, 2), batch_size=batch_size,
                        n_id=torch.arange(4), offset=torch.tensor([0]),
                        count=torch.tensor([batch_size]))
    assert data.num_halo_nodes == num_halo_nodes


@pytest.mark.parametrize('name,fn', [
    ('to', lambda data: data.to('cpu')),
    ('cpu', lambda data: data.cpu()),
    ('clone', lambda data: data.clone()),
    ('copy', copy.copy),
    ('pickle', lambda data: pickle.loads(pickle.dumps(data))),
])
def test_attributes_survive(name, fn):
    data = make_batch()
    out = fn(data)
    assert_same_batch(out, data)
    assert out.adj_t.layout == torch.sparse_csr
    assert out.adj_t.shape == (2, 4)
    assert out.adj_t.to_dense().tolist() == DENSE_ADJ_T


def test_deepcopy():
    # torch cannot deepcopy sparse CSR tensors, so leave adj_t out here.
    data = make_batch(with_adj_t=False)
    assert_same_batch(copy.deepcopy(data), data)


@pytest.mark.parametrize('name,fn', [
    ('clone', lambda data: data.clone()),
    ('deepcopy', copy.deepcopy),
    ('pickle', lambda data: pickle.loads(pickle.dumps(data))),
])
def test_copies_are_independent(name, fn):
    data = make_batch(with_adj_t=False)
    out = fn(data)
    out.n_id[0] = 100
    out.x.zero_()
    out.batch_size = 3
    assert data.n_id.tolist() == [5, 6, 0, 9]
    assert data.x.sum() == 66.0
    assert data.batch_size == 2


def test_sparse_adj_t_survives_to():
    data = make_batch()
    out = data.to('cpu', non_blocking=True)
    assert out.adj_t.layout == torch.sparse_csr
    assert out.adj_t.crow_indices().tolist() == [0, 2, 3]
    assert out.adj_t.col_indices().tolist() == [1, 2, 3]
    assert out.adj_t.values().tolist() == [1.0, 2.0, 3.0]
    # Same values as edge_weight, in the same (target-sorted) order:
    assert torch.equal(out.adj_t.values(), out.edge_weight)


def test_apply_to_dtype_keeps_metadata():
    data = make_batch(with_adj_t=False)
    out = data.apply(lambda t: t.double() if t.is_floating_point() else t)
    assert out.x.dtype == torch.float64
    assert out.n_id.dtype == torch.long
    assert out.batch_size == 2
    assert out.num_halo_nodes == 2


def test_is_a_data_object():
    data = make_batch()
    assert isinstance(data, Data)
    assert data.is_node_attr('x')
    assert data.is_node_attr('n_id')
    assert data.is_edge_attr('edge_weight')


def test_collate_keeps_global_ids():
    # n_id, offset and count are global ids/sizes: collation must not shift
    # them by the number of nodes, unlike edge_index.
    data = make_batch(with_adj_t=False)
    batch = Batch.from_data_list([data, data])
    assert batch.n_id.tolist() == [5, 6, 0, 9, 5, 6, 0, 9]
    assert batch.offset.tolist() == [5, 5]
    assert batch.count.tolist() == [2, 2]
    assert batch.edge_index.tolist() == [[1, 2, 3, 5, 6, 7],
                                         [0, 0, 1, 4, 4, 5]]
    (first, second) = batch.to_data_list()
    for out in (first, second):
        assert out.n_id.tolist() == [5, 6, 0, 9]
        assert out.offset.tolist() == [5]
        assert out.edge_index.tolist() == [[1, 2, 3], [0, 0, 1]]
