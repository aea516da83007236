import pyg_gas


def test_public_names():
    # The names that users and benchmarks rely on (DESIGN.md):
    for name in ('History', 'ScalableGNN', 'GASConv', 'SubgraphData', 'metis',
                 'permute', 'SubgraphLoader', 'EvalSubgraphLoader',
                 'ClusterLoader', 'LADIESLoader'):
        assert name in pyg_gas.__all__ and hasattr(pyg_gas, name), name
    for name in ('GCN', 'SAGE', 'GAT', 'GIN', 'GCN2', 'APPNP', 'PNA'):
        assert hasattr(pyg_gas.nn.models, name), name
    assert callable(pyg_gas.datasets.load_dataset)
    assert isinstance(pyg_gas.__version__, str)


def test_reprs():
    history = pyg_gas.History(5, 3)
    assert repr(history) == 'History(5, 3)'
    model = pyg_gas.nn.models.GCN(5, 4, 8, 2, num_layers=2)
    assert repr(model).startswith('GCN(')
    assert '4, 2, num_layers=2, num_nodes=5' in repr(model)
    assert 'History(5, 8)' in repr(model)
