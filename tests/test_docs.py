r"""The documentation builds with Sphinx, warnings as errors, and documents
the public API."""
import io
import os.path as osp

import pytest

DOCS = osp.join(osp.dirname(__file__), '..', 'docs')

# The public objects, by the name the API reference documents them under.
DOCUMENTED = {
    'api/pyg_gas': [
        'pyg_gas.History', 'pyg_gas.ScalableGNN', 'pyg_gas.GASConv',
        'pyg_gas.SubgraphData', 'pyg_gas.metis', 'pyg_gas.permute',
        'pyg_gas.stream_partition', 'pyg_gas.split_clusters',
        'pyg_gas.load',
    ],
    'api/loader': [
        'pyg_gas.loader.SubgraphLoader', 'pyg_gas.loader.EvalSubgraphLoader',
        'pyg_gas.loader.ClusterLoader', 'pyg_gas.loader.LADIESLoader',
    ],
    'api/nn': [f'pyg_gas.nn.models.{name}' for name in
               ('GCN', 'SAGE', 'GAT', 'GIN', 'GCN2', 'APPNP', 'PNA')],
    'api/datasets': ['pyg_gas.datasets.load_dataset'],
    'api/storage': ['pyg_gas.storage.prepare', 'pyg_gas.storage.DiskDataset',
                    'pyg_gas.storage.NodeRows', 'pyg_gas.utils.trim_memory'],
    'api/distributed': ['pyg_gas.distributed.DistributedGAS',
                        'pyg_gas.distributed.shard_graph'],
    'api/train': ['pyg_gas.train.TrainConfig', 'pyg_gas.train.run',
                  'pyg_gas.train.saved.TrainedModel',
                  'pyg_gas.plot.plot_runs'],
}
GUIDES = ['guide', 'models', 'ladies', 'distributed', 'out_of_core',
          'after_training']


# Deprecations inside Sphinx's own extensions (napoleon, myst-parser), not in
# the documentation:
@pytest.mark.filterwarnings(
    'ignore:The mapping interface for autodoc options objects is deprecated')
@pytest.mark.filterwarnings(
    'ignore:.*MystReferenceResolver.app.* is deprecated')
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip('sphinx')
    pytest.importorskip('myst_parser')
    from sphinx.application import Sphinx

    warnings = io.StringIO()
    app = Sphinx(DOCS, DOCS, str(tmp_path / 'html'), str(tmp_path / 'doctrees'),
                 'html', status=None, warning=warnings, freshenv=True,
                 warningiserror=True, keep_going=True)
    app.build()
    assert warnings.getvalue() == ''
    assert app.statuscode == 0

    objects = app.env.domains['py'].objects
    for page, names in DOCUMENTED.items():
        assert (tmp_path / 'html' / f'{page}.html').is_file(), page
        for name in names:
            assert name in objects, name
            assert objects[name].docname == page, (name, objects[name])
    for page in GUIDES:
        assert (tmp_path / 'html' / f'{page}.html').is_file(), page

    # The PyG-style docstrings are rendered: napoleon turns History's 'Args:'
    # into a parameter list, and '.. math::' into MathJax.
    html = (tmp_path / 'html' / 'api' / 'pyg_gas.html').read_text()
    assert 'num_embeddings' in html and 'Parameters' in html
    assert 'class="math' in html
    # A docstring's short ':class:`SubgraphLoader`' links to the one page
    # that documents it (docs/conf.py's resolve_short_name).
    assert 'href="loader.html#pyg_gas.loader.SubgraphLoader"' in html
    # TrainConfig's fields are listed with their pyg-gas train options.
    html = (tmp_path / 'html' / 'api' / 'train.html').read_text()
    for option in ('--dataset', '--data-dir', '--history-storage'):
        assert f'<span class="pre">{option}</span>' in html, option
