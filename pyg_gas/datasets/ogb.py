r"""Node property prediction datasets of the Open Graph Benchmark, read
through :obj:`ogb`'s own loader."""
import contextlib
import os
import os.path as osp
import sys
import warnings
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import torch
from torch_geometric.data import Data
from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
from torch_geometric.data.storage import GlobalStorage
from torch_geometric.utils import (
    index_to_mask,
    is_undirected,
    scatter,
    to_undirected,
)

from pyg_gas.typing import require
from pyg_gas.utils import remove_empty_dirs

OGB_PREFIX = 'ogbn-'

#: The classes that ogb's processed file pickles besides tensors: it saves
#: :obj:`InMemoryDataset.collate([data])`, a :class:`Data` (which PyG allows
#: itself) with its :class:`GlobalStorage` and attribute classes. Those not
#: allowed already are allowed for :obj:`torch.load` only while
#: :func:`load_ogb` runs ogb.
SAFE_GLOBALS: List[type] = [Data, DataEdgeAttr, DataTensorAttr,
                            GlobalStorage]


def _import_ogb_nodeproppred(feature: str) -> Any:
    require('ogb', feature)
    # On import, ogb checks PyPI for a newer version of itself in a
    # background thread. Offline, that check fails, and OUTDATED_IGNORE
    # keeps the `outdated` package from warning about it (ogb sets the
    # variable too; `setdefault` leaves a value set by the user alone).
    os.environ.setdefault('OUTDATED_IGNORE', '1')
    import ogb.nodeproppred

    return ogb.nodeproppred


def _master(module: Any) -> Dict[str, Dict[str, str]]:
    # ogb's table of node property prediction datasets, by ogb name (e.g.
    # 'ogbn-papers100M'), as ogb itself reads it:
    import pandas as pd

    path = osp.join(osp.dirname(module.__file__), 'master.csv')
    table = pd.read_csv(path, index_col=0, keep_default_na=False)
    return {str(name): table[name].to_dict() for name in table.columns}


def _is_multilabel(meta: Dict[str, str]) -> bool:
    # Binary classification tasks (ogbn-proteins: 112 of them), read as one
    # 0/1 target per task and node.
    return meta['task type'] == 'binary classification'


def _supported(master: Dict[str, Dict[str, str]]) -> List[str]:
    # Homogeneous graphs with one multi-class label per node, or with
    # binary tasks:
    return [
        name for name, meta in master.items()
        if meta['is hetero'] != 'True' and (_is_multilabel(meta) or (
            int(meta['num tasks']) == 1
            and meta['task type'] == 'multiclass classification'))
    ]


def _lookup(module: Any, name: str) -> Tuple[str, Dict[str, str]]:
    # Returns ogb's spelling of `name` (matched case-insensitively) and its
    # row of master.csv.
    master = _master(module)
    supported = _supported(master)
    names = {ogb_name.lower(): ogb_name for ogb_name in master}
    ogb_name = names.get(name.strip().lower())
    if ogb_name is None or ogb_name not in supported:
        reason = ('is not supported: pyg_gas reads homogeneous graphs '
                  'with one class label per node, or with binary tasks'
                  if ogb_name is not None
                  else 'is not an OGB node property prediction dataset')
        raise ValueError(
            f"'{name}' {reason}. Supported OGB datasets: "
            f"{', '.join(repr(n.lower()) for n in supported)} "
            f'(case-insensitive).')
    return ogb_name, master[ogb_name]


def _folder(root: str, ogb_name: str) -> str:
    # The folder that ogb reads, as PygNodePropPredDataset chooses it:
    folder = osp.join(root, '_'.join(ogb_name.split('-')))
    return folder + '_pyg' if osp.exists(folder + '_pyg') else folder


def _expected_files(meta: Dict[str, str]) -> List[str]:
    # The files of one dataset below its folder, as ogb's zip holds them.
    if meta['binary'] == 'True':
        raw = ['data.npz', 'node-label.npz']
    else:
        raw = ['edge.csv.gz', 'num-node-list.csv.gz', 'num-edge-list.csv.gz',
               'node-label.csv.gz']
        if meta['has_node_attr'] == 'True':
            raw.append('node-feat.csv.gz')
        if meta['has_edge_attr'] == 'True':
            raw.append('edge-feat.csv.gz')
        for key in ('additional node files', 'additional edge files'):
            if meta[key] != 'None':
                raw += [f'{f}.csv.gz' for f in meta[key].split(',')]
    split = meta['split']
    return ([f'raw/{f}' for f in raw]
            + [f'split/{split}/{s}.csv.gz' for s in ('train', 'valid', 'test')]
            + [f"RELEASE_v{meta['version']}.txt"])


def _layout(folder: str, meta: Dict[str, str]) -> str:
    files = _expected_files(meta)
    missing = [f for f in files if not osp.isfile(osp.join(folder, f))]
    if len(missing) == len(files):
        missing = ['all of them']
    csv = 'split files' if meta['binary'] == 'True' else 'CSV files'
    return (f"Expected in '{folder}': {', '.join(files)} ({csv} gzipped "
            f"and without header; RELEASE_v{meta['version']}.txt may be "
            f"empty), as unpacked from {meta['url']}. Missing: "
            f"{', '.join(missing) if missing else 'nothing'}.")


def _safe_globals() -> contextlib.AbstractContextManager:
    r"""Allows the classes pickled in ogb's processed file while
    :obj:`torch.load` runs with its default :obj:`weights_only=True`
    (torch >= 2.6), for the duration of the :obj:`with` block only."""
    if not hasattr(torch.serialization, 'safe_globals'):  # torch < 2.5
        return contextlib.nullcontext()
    # Leaving the block removes the classes it added from the allowlist, so
    # it must add only those not allowed already (`Data` is, by PyG):
    allowed = torch.serialization.get_safe_globals()
    return torch.serialization.safe_globals(
        [cls for cls in SAFE_GLOBALS if cls not in allowed])


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # ogb prints its progress to stdout; send it to stderr, where the
    # progress of pyg_gas goes, so that stdout stays the caller's. Also
    # silence torch's warning about the read-only labels ogb converts.
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='The given NumPy array '
                                'is not writable')
        yield


def load_ogb(
    name: str,
    root: Optional[str],
    **kwargs: Any,
) -> Data:
    r"""Loads a node property prediction dataset of the `"Open Graph
    Benchmark" <https://arxiv.org/abs/2005.00687>`_ (e.g.
    :obj:`'ogbn-arxiv'` or :obj:`'ogbn-products'`) through
    :class:`ogb.nodeproppred.PygNodePropPredDataset`, as a single
    :class:`~torch_geometric.data.Data` graph with the official split.

    The files live in :obj:`root/<folder>`, with :obj:`<folder>` the name
    with :obj:`_` for :obj:`-` (e.g. :obj:`root/ogbn_arxiv`), laid out as
    ogb's zip file unpacks them: :obj:`raw/*.csv.gz`,
    :obj:`split/<type>/{train,valid,test}.csv.gz` and
    :obj:`RELEASE_v<version>.txt`. If the folder does not exist, ogb
    downloads it (which needs network access); the first load also writes
    :obj:`processed/geometric_data_processed.pt`.

    Directed graphs (:obj:`ogbn-arxiv`) are made undirected, as in the GAS
    paper. The graph carries :obj:`x` (float32), :obj:`edge_index`
    (int64), :obj:`y` (int64, shape :obj:`[num_nodes]`; :obj:`-1` for
    unlabeled nodes), the boolean :obj:`train_mask`, :obj:`val_mask` and
    :obj:`test_mask`, :obj:`num_classes` (:obj:`int`) and :obj:`name`
    (lower-case, e.g. :obj:`'ogbn-arxiv'`). Extra node and edge files
    (e.g. :obj:`node_year`, :obj:`node_species`) are not kept.

    A dataset of binary tasks (:obj:`ogbn-proteins`: 112 of them) is a
    multi-label graph instead: :obj:`y` is float32 of shape
    :obj:`[num_nodes, num_tasks]` with 0/1 entries, and
    :obj:`num_classes` is the number of tasks. A dataset without node
    features (:obj:`ogbn-proteins`) gets as :obj:`x` the mean of the
    features of each node's incoming edges (:obj:`0` for a node without
    edges), as OGB's and PyG's :obj:`ogbn-proteins` examples compute it;
    the edge features themselves are not kept.

    Args:
        name (str): The dataset name, matched case-insensitively.
        root (str): The folder that holds the dataset's folder.
        **kwargs (optional): Additional arguments passed to
            :class:`ogb.nodeproppred.PygNodePropPredDataset` (e.g.
            :obj:`pre_transform`).

    Raises:
        ImportError: If :obj:`ogb` is not installed.
        ValueError: If :obj:`name` is not a supported OGB dataset, or if
            :obj:`root` is missing.
        FileNotFoundError: If the files are missing and could not be
            downloaded, or if the dataset folder has no
            :obj:`RELEASE_v<version>.txt` (ogb would ask on stdin whether to
            download it again).
    """
    if not isinstance(name, str):
        raise TypeError(f"'name' must be a str (got {type(name).__name__})")
    module = _import_ogb_nodeproppred(name)
    ogb_name, meta = _lookup(module, name)
    key = ogb_name.lower()
    dir_name = '_'.join(ogb_name.split('-'))
    if root is None:
        raise ValueError(
            f"'{key}' needs root=DIR, the folder that holds (or, when "
            f'downloaded, will hold) {dir_name}/ (e.g. '
            f'DIR/{dir_name}/raw/edge.csv.gz)')
    root = osp.expanduser(str(root))
    folder = _folder(root, ogb_name)
    release = f"RELEASE_v{meta['version']}.txt"

    existed = osp.isdir(folder)
    if existed and not osp.isfile(osp.join(folder, release)):
        # ogb would stop at `input('Will you update the dataset now?')`.
        raise FileNotFoundError(
            f"The folder '{folder}' of '{key}' has no {release}, so it holds "
            f"another release of the dataset or was filled by hand. Delete "
            f"it to download ogb's current release, or, if it holds that "
            f"release's files, create the (empty) file "
            f"'{osp.join(folder, release)}'. {_layout(folder, meta)}")

    try:
        with _safe_globals(), _quiet():
            dataset = module.PygNodePropPredDataset(ogb_name, root, **kwargs)
            split = dataset.get_idx_split()
    except (Exception, SystemExit) as e:  # ogb calls `exit()` on 'N'.
        files = _expected_files(meta)
        if all(osp.isfile(osp.join(folder, f)) for f in files):
            raise
        if not existed:
            remove_empty_dirs(folder)
        raise FileNotFoundError(
            f"The files of '{key}' are missing and could not be downloaded "
            f'({type(e).__name__}: {e}). Run once with network access to '
            f"download them, or put them into '{folder}'. "
            f'{_layout(folder, meta)}') from e

    graph = dataset[0]
    num_nodes = int(graph.num_nodes)
    edge_index = graph.edge_index.long()  # [2, num_edges]
    x = graph.get('x')
    if x is None:  # ogbn-proteins: the mean of the incoming edges' features.
        x = scatter(graph.edge_attr.float(), edge_index[1], dim=0,
                    dim_size=num_nodes, reduce='mean')  # [num_nodes, F]
    if not is_undirected(edge_index, num_nodes=num_nodes):
        edge_index = to_undirected(edge_index, num_nodes=num_nodes)
    if _is_multilabel(meta):
        y = graph.y.view(num_nodes, -1).float()  # [num_nodes, num_tasks]
        num_classes = int(meta['num tasks'])
    else:
        y = graph.y.view(-1)  # [num_nodes, 1] -> [num_nodes]
        if y.is_floating_point():  # NaN marks unlabeled nodes.
            y = torch.nan_to_num(y, nan=-1.0)
        y = y.long()
        num_classes = int(dataset.num_classes)
    data = Data(
        x=x.float(),
        edge_index=edge_index,
        y=y,
        train_mask=index_to_mask(split['train'], size=num_nodes),
        val_mask=index_to_mask(split['valid'], size=num_nodes),
        test_mask=index_to_mask(split['test'], size=num_nodes),
    )
    data.num_classes = num_classes
    data.name = key
    return data


def get_evaluator(data: Union[Data, str]) -> Optional[Any]:
    r"""Returns :class:`ogb.nodeproppred.Evaluator` for a graph loaded by
    :func:`load_ogb` (one whose :obj:`name` starts with :obj:`'ogbn-'`),
    and :obj:`None` for any other graph.

    The evaluator computes OGB's official metric:
    :obj:`evaluator.eval({'y_true': y, 'y_pred': pred})['acc']` with
    :obj:`y` and :obj:`pred` (class indices) of shape
    :obj:`[num_nodes, 1]`; for :obj:`ogbn-proteins`,
    :obj:`['rocauc']` (averaged over the tasks) with :obj:`y` and
    :obj:`pred` (scores, e.g. logits) of shape :obj:`[num_nodes, 112]`.
    (``pyg-gas train`` reports the micro-averaged F1 score of multi-label
    graphs, as a sum over nodes that distributed runs reduce.)

    Args:
        data (Data or str): The graph, or its name.
    """
    name = data if isinstance(data, str) else data.get('name')
    if not isinstance(name, str) or not name.lower().startswith(OGB_PREFIX):
        return None
    module = _import_ogb_nodeproppred(name)
    ogb_name, _ = _lookup(module, name)
    return module.Evaluator(ogb_name)
