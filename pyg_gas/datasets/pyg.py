r"""The benchmark graphs of the `"GNNAutoScale: Scalable and Expressive Graph
Neural Networks via Historical Embeddings"
<https://arxiv.org/abs/2106.05609>`_ paper that PyG ships a dataset class
for (Coauthor, Amazon, WikiCS, Reddit, Reddit2, Flickr, Yelp and PPI), read
through those classes and returned as one
:class:`~torch_geometric.data.Data` graph with the paper's splits."""
import contextlib
import numbers
import os
import os.path as osp
from types import SimpleNamespace
from typing import Any, Dict, List, NamedTuple, Optional, Set, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data, InMemoryDataset

from pyg_gas.typing import require
from pyg_gas.utils import remove_empty_dirs


class PyGDataset(NamedTuple):
    r"""How :func:`load_pyg` reads one dataset."""
    #: The class in :mod:`torch_geometric.datasets`.
    cls: str
    #: The dataset's folder below :obj:`root` (raw files in :obj:`raw/`).
    folder: str
    #: The split: :obj:`'random'` (20/30 nodes per class for training and
    #: validation, drawn per :obj:`split`), :obj:`'wikics'` (the official
    #: masks, one column per :obj:`split`), :obj:`'fixed'` (the masks the
    #: dataset ships) or :obj:`'graphs'` (PPI's train/val/test graphs).
    split: str
    #: The package PyG's processing of the raw files needs, if any.
    requires: Optional[str]


#: The datasets :func:`load_pyg` reads, keyed by their lower-case name.
PYG_DATASETS: Dict[str, PyGDataset] = {
    'coauthor-cs': PyGDataset('Coauthor', 'CS', 'random', 'scipy'),
    'coauthor-physics': PyGDataset('Coauthor', 'Physics', 'random', 'scipy'),
    'amazon-computers': PyGDataset('Amazon', 'Computers', 'random', 'scipy'),
    'amazon-photo': PyGDataset('Amazon', 'Photo', 'random', 'scipy'),
    'wikics': PyGDataset('WikiCS', 'WikiCS', 'wikics', None),
    'reddit2': PyGDataset('Reddit2', 'Reddit2', 'fixed', 'scipy'),
    'reddit': PyGDataset('Reddit', 'Reddit', 'fixed', 'scipy'),
    'flickr': PyGDataset('Flickr', 'Flickr', 'fixed', 'scipy'),
    'yelp': PyGDataset('Yelp', 'Yelp', 'fixed', 'scipy'),
    'ppi': PyGDataset('PPI', 'PPI', 'graphs', 'networkx'),
}

#: The seed of the random split :obj:`split=0` of Coauthor and Amazon; split
#: :obj:`i` uses :obj:`RANDOM_SPLIT_SEED + i`.
RANDOM_SPLIT_SEED = 12345
#: Training and validation nodes per class of the random splits.
TRAIN_PER_CLASS, VAL_PER_CLASS = 20, 30

_GOOGLE_URL = 'https://drive.usercontent.google.com/download?id={}&confirm=t'


def _supported() -> str:
    names = ', '.join(f"'{name}'" for name in PYG_DATASETS)
    return f'Supported PyG datasets: {names} (case-insensitive).'


def _pyg_class(spec: PyGDataset) -> type:
    import torch_geometric.datasets

    return getattr(torch_geometric.datasets, spec.cls)


def raw_file_names(name: str) -> List[str]:
    r"""Returns the raw files that PyG's class of the dataset :obj:`name`
    expects in :obj:`root/<folder>/raw` (its :obj:`raw_file_names`)."""
    spec = PYG_DATASETS[name]
    # The property only reads `self.name` (Coauthor and Amazon), so it is
    # evaluated without building the dataset, which would download:
    files = _pyg_class(spec).raw_file_names.fget(
        SimpleNamespace(name=spec.folder))
    return [files] if isinstance(files, str) else list(files)


def _sources(name: str) -> str:
    # Where the raw files come from, as the class downloads them.
    spec = PYG_DATASETS[name]
    cls = _pyg_class(spec)
    files = raw_file_names(name)
    url = getattr(cls, 'url', None)
    if spec.cls in ('Coauthor', 'Amazon'):
        urls = [url + f for f in files]
    elif spec.cls == 'WikiCS':
        urls = [f'{url}/{f}' for f in files]
    elif url is not None:  # One zip file holds them all.
        return f'unpacked from {url}'
    else:  # GraphSAINT's files on Google Drive, by id.
        ids = [getattr(cls, f"{f.split('.')[0]}_id", None) for f in files]
        if None in ids:
            return f'as torch_geometric.datasets.{spec.cls} downloads them'
        urls = [_GOOGLE_URL.format(i) for i in ids]
    return 'downloaded from ' + ', '.join(urls)


def _check_split(key: str, split: Any) -> int:
    if isinstance(split, bool) or not isinstance(split, numbers.Integral):
        raise TypeError(f"'split' must be an int (got "
                        f"{type(split).__name__} {split!r})")
    split = int(split)
    if split < 0:
        raise ValueError(f"'split' must be >= 0 (got {split})")
    if PYG_DATASETS[key].split in ('fixed', 'graphs') and split != 0:
        raise ValueError(f"'split' must be 0 for '{key}', which has one "
                         f'split, the one it ships (got {split})')
    return split


def _files_below(folder: str) -> Set[str]:
    return {
        osp.join(path, f) for path, _, files in os.walk(folder)
        for f in files
    }


def _instantiate(key: str, root: str,
                 kwargs: Dict[str, Any]) -> List[InMemoryDataset]:
    spec = PYG_DATASETS[key]
    cls = _pyg_class(spec)
    if spec.cls in ('Coauthor', 'Amazon'):  # They add the folder themselves.
        return [cls(root, spec.folder, **kwargs)]
    folder = osp.join(root, spec.folder)
    if spec.cls == 'WikiCS':
        return [cls(folder, **{'is_undirected': True, **kwargs})]
    if spec.cls == 'PPI':
        return [cls(folder, split=s, **kwargs) for s in ('train', 'val',
                                                          'test')]
    return [cls(folder, **kwargs)]


def _open(key: str, root: str,
          kwargs: Dict[str, Any]) -> List[InMemoryDataset]:
    r"""Builds PyG's dataset(s), which process the raw files on first use
    and download them when missing. A failure removes what it created
    (partial downloads, empty folders), never a file that was there."""
    folder = osp.join(root, PYG_DATASETS[key].folder)
    raw_dir = osp.join(folder, 'raw')
    files = raw_file_names(key)
    before = _files_below(folder)
    had_raw_files = all(osp.isfile(osp.join(raw_dir, f)) for f in files)
    try:
        return _instantiate(key, root, kwargs)
    except BaseException as e:
        for path in _files_below(folder) - before:
            with contextlib.suppress(OSError):
                os.remove(path)
        remove_empty_dirs(folder)
        if not isinstance(e, Exception):  # KeyboardInterrupt, SystemExit.
            raise
        error = f'{type(e).__name__}: {e}'
        if had_raw_files:
            raise ValueError(
                f"'{key}' can not be read from '{raw_dir}' ({error}): the "
                f"raw files {', '.join(files)} may be corrupt. Replace "
                f"them and delete '{osp.join(folder, 'processed')}'."
            ) from e
        missing = [f for f in files if not osp.isfile(osp.join(raw_dir, f))]
        raise FileNotFoundError(
            f"The raw files of '{key}' are missing and could not be "
            f'downloaded ({error}). Run once with network access to '
            f"download them, or put them into '{raw_dir}': "
            f"{', '.join(files)} (missing: {', '.join(missing)}), "
            f'{_sources(key)}.') from e


def random_split_masks(y: Tensor, split: int = 0) -> Tuple[Tensor, Tensor,
                                                           Tensor]:
    r"""The random split of the GAS paper for graphs without a standard
    one (Coauthor, Amazon): per class, :obj:`20` random training nodes and
    the next :obj:`30` validation nodes (fewer if the class is smaller);
    every other labeled node is a test node.

    Args:
        y (torch.Tensor): The labels, :obj:`-1` for unlabeled nodes.
        split (int, optional): The split; it seeds a
            :class:`torch.Generator` with :obj:`12345 + split`, so the same
            :obj:`split` draws the same masks. (default: :obj:`0`)

    Shapes:
        - **input:** :obj:`y` :math:`(N)`
        - **output:** three boolean masks :math:`(N)`
    """
    generator = torch.Generator().manual_seed(RANDOM_SPLIT_SEED + split)
    train_mask = torch.zeros(y.numel(), dtype=torch.bool)
    val_mask = torch.zeros(y.numel(), dtype=torch.bool)
    for c in range(int(y.max()) + 1 if y.numel() > 0 else 0):
        idx = (y == c).nonzero().view(-1)
        idx = idx[torch.randperm(idx.numel(), generator=generator)]
        train_mask[idx[:TRAIN_PER_CLASS]] = True
        val_mask[idx[TRAIN_PER_CLASS:TRAIN_PER_CLASS + VAL_PER_CLASS]] = True
    test_mask = ~(train_mask | val_mask) & (y >= 0)
    return train_mask, val_mask, test_mask


def _concat_graphs(datasets: List[InMemoryDataset]) -> Data:
    # PPI: the disjoint union of the train, val and test graphs, in that
    # order, with node ids offset per graph; the masks mark each part.
    xs, ys, edges, roles = [], [], [], []
    offset = 0
    for role, dataset in enumerate(datasets):
        for graph in dataset:
            edges.append(graph.edge_index + offset)  # [2, num_edges]
            xs.append(graph.x)
            ys.append(graph.y)
            roles.append(torch.full((graph.num_nodes, ), role))
            offset += graph.num_nodes
    role = torch.cat(roles)  # [num_nodes]
    return Data(x=torch.cat(xs), edge_index=torch.cat(edges, dim=1),
                y=torch.cat(ys), train_mask=role == 0, val_mask=role == 1,
                test_mask=role == 2)


def _to_data(key: str, datasets: List[InMemoryDataset], split: int) -> Data:
    kind = PYG_DATASETS[key].split
    if kind == 'graphs':
        graph = _concat_graphs(datasets)
    else:
        graph = datasets[0][0]
    if kind == 'random':
        masks = random_split_masks(graph.y, split)
    elif kind == 'wikics':  # GAS validates on the stopping mask.
        num_splits = graph.train_mask.size(1)
        if split >= num_splits:
            raise ValueError(f"'split' must be in [0, {num_splits}) for "
                             f"'{key}' (got {split})")
        masks = (graph.train_mask[:, split], graph.stopping_mask[:, split],
                 graph.test_mask)
    else:
        masks = (graph.train_mask, graph.val_mask, graph.test_mask)

    y = graph.y
    if y.dim() == 2:  # Multi-label (Yelp, PPI): 0/1 per class.
        y = y.float()  # [num_nodes, num_classes]
        num_classes = y.size(1)
    else:
        y = y.long()  # [num_nodes]
        num_classes = int(y.max()) + 1 if y.numel() > 0 else 0
    data = Data(x=graph.x.float(), edge_index=graph.edge_index.long(), y=y,
                train_mask=masks[0].bool(), val_mask=masks[1].bool(),
                test_mask=masks[2].bool())
    data.num_classes = num_classes
    data.name = key
    return data


def load_pyg(
    name: str,
    root: Optional[str] = None,
    split: int = 0,
    **kwargs: Any,
) -> Data:
    r"""Loads a benchmark graph of the `"GNNAutoScale"
    <https://arxiv.org/abs/2106.05609>`_ paper through PyG's own dataset
    class, as a single :class:`~torch_geometric.data.Data` graph with the
    paper's split.

    Every dataset lives in its own folder below :obj:`root`, with PyG's
    raw files in :obj:`root/<folder>/raw` and the processed ones in
    :obj:`root/<folder>/processed`:

    .. list-table::
        :header-rows: 1

        * - Name
          - PyG class, folder
          - Split
        * - :obj:`'coauthor-cs'`, :obj:`'coauthor-physics'`
          - :class:`~torch_geometric.datasets.Coauthor`, :obj:`CS`,
            :obj:`Physics` (e.g. :obj:`root/CS/raw/ms_academic_cs.npz`)
          - random: per class 20 training and 30 validation nodes, the
            rest test; :obj:`split` seeds the draw
        * - :obj:`'amazon-computers'`, :obj:`'amazon-photo'`
          - :class:`~torch_geometric.datasets.Amazon`, :obj:`Computers`,
            :obj:`Photo`
          - random, as for Coauthor
        * - :obj:`'wikics'`
          - :class:`~torch_geometric.datasets.WikiCS` (undirected),
            :obj:`WikiCS` (:obj:`root/WikiCS/raw/data.json`)
          - official: training mask :obj:`split` in :obj:`[0, 20)`, its
            stopping mask for validation (as the GAS code), the test mask
        * - :obj:`'reddit2'`, :obj:`'reddit'`, :obj:`'flickr'`,
            :obj:`'yelp'`
          - :class:`~torch_geometric.datasets.Reddit2`,
            :class:`~torch_geometric.datasets.Reddit`,
            :class:`~torch_geometric.datasets.Flickr`,
            :class:`~torch_geometric.datasets.Yelp`, in :obj:`Reddit2`,
            :obj:`Reddit`, :obj:`Flickr`, :obj:`Yelp`
          - the shipped masks (:obj:`split=0` only)
        * - :obj:`'ppi'`
          - :class:`~torch_geometric.datasets.PPI`, :obj:`PPI`
          - inductive: the disjoint union of the 20 training, 2 validation
            and 2 test graphs, masked by graph (:obj:`split=0` only)

    The graph carries :obj:`x` (float32, as PyG reads it: binarized for
    Coauthor and Amazon, not normalized), :obj:`edge_index` (int64, as PyG
    reads it: undirected without self-loops for Coauthor, Amazon and
    WikiCS), :obj:`y` (int64 of shape :obj:`[num_nodes]`, or, for the
    multi-label Yelp and PPI, float 0/1 of shape
    :obj:`[num_nodes, num_classes]`), the boolean :obj:`train_mask`,
    :obj:`val_mask` and :obj:`test_mask` of shape :obj:`[num_nodes]`,
    :obj:`num_classes` (:obj:`int`) and :obj:`name` (lower-case, e.g.
    :obj:`'coauthor-cs'`). When raw files are missing, PyG downloads them,
    which needs network access.

    Args:
        name (str): The dataset name, matched case-insensitively.
        root (str): The folder that holds the dataset's folder.
            (default: :obj:`None`)
        split (int, optional): The split: the seed offset of the random
            splits of Coauthor and Amazon (any :obj:`int >= 0`), the mask
            column of WikiCS, :obj:`0` for the others. (default: :obj:`0`)
        **kwargs (optional): Additional arguments passed to the PyG class
            (e.g. :obj:`force_reload=True`).

    Raises:
        ValueError: If :obj:`name` is not supported, :obj:`root` is missing,
            :obj:`split` is out of range, or a raw file can not be read.
        TypeError: If :obj:`name` is not a string or :obj:`split` not an
            :obj:`int`.
        ImportError: If :obj:`scipy` (or, for PPI, :obj:`networkx`) is not
            installed.
        FileNotFoundError: If raw files are missing and could not be
            downloaded.
    """
    if not isinstance(name, str):
        raise TypeError(f"'name' must be a str (got {type(name).__name__})")
    key = name.strip().lower()
    if key not in PYG_DATASETS:
        raise ValueError(f"Unknown dataset '{name}'. {_supported()}")
    split = _check_split(key, split)
    spec = PYG_DATASETS[key]
    if root is None:
        files = raw_file_names(key)
        raise ValueError(
            f"'{key}' needs root=DIR, the folder that holds (or, when "
            f"downloaded, will hold) {spec.folder}/raw/ with "
            f"{', '.join(files)} (e.g. DIR/{spec.folder}/raw/{files[0]})")
    if spec.requires is not None:
        require(spec.requires, key)

    datasets = _open(key, osp.expanduser(str(root)), kwargs)
    return _to_data(key, datasets, split)

