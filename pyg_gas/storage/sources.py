r"""Preparing the graphs of :mod:`pyg_gas.datasets` straight to disk, in
bounded memory: synthetic graphs drawn chunk by chunk
(:func:`prepare_synthetic`) and OGB graphs read from their raw CSV files in
chunks (:func:`prepare_ogb`). Both stage the graph with
:class:`~pyg_gas.storage.chunked.GraphStager` in a temporary directory,
partition it and permute it into cluster order with
:func:`~pyg_gas.storage.chunked.prepare_staged`; the result equals
:func:`~pyg_gas.storage.prepare` of the graph that
:func:`~pyg_gas.datasets.load_dataset` returns, array for array."""
import contextlib
import os
import os.path as osp
import shutil
import tempfile
from typing import Any, Dict, Iterable, Iterator, List, Literal, Optional

import numpy as np
import torch
from torch import Tensor

from pyg_gas.checks import check_int
from pyg_gas.storage.chunked import (
    GraphStager,
    check_output,
    check_partition_args,
    prepare_staged,
)
from pyg_gas.storage.dataset import DiskDataset
from pyg_gas.storage.format import check_free_space
from pyg_gas.storage.prepare import FEATURE_DTYPES
from pyg_gas.utils import check_writable_dir, trim_memory
from pyg_gas.utils import log as log_line


def _same_device(a: str, b: str) -> bool:
    def device(path: str) -> int:
        path = osp.abspath(path)
        while not osp.exists(path):
            path = osp.dirname(path)
        return os.stat(path).st_dev

    return device(a) == device(b)


@contextlib.contextmanager
def _staging(root: str, tmp_dir: Optional[str], num_bytes: int,
             final_bytes: int) -> Iterator[str]:
    # A temporary directory for the staged graph, next to 'root' unless
    # 'tmp_dir' is given, removed on the way out whatever happens.
    parent = osp.dirname(osp.abspath(root)) if tmp_dir is None else tmp_dir
    check_writable_dir('tmp_dir', parent)
    extra = final_bytes if _same_device(parent, root) else 0
    check_free_space(parent, num_bytes + extra,
                     f"staging the graph of '{root}'")
    os.makedirs(parent, exist_ok=True)
    path = tempfile.mkdtemp(prefix=f'.{osp.basename(root)}-staging-',
                            dir=parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _check_x_dtype(x_dtype: Any) -> None:
    if x_dtype not in FEATURE_DTYPES.values():
        raise ValueError(f"'x_dtype' must be one of "
                         f"{list(FEATURE_DTYPES.values())} (got {x_dtype})")


# Synthetic graphs ###########################################################


class DiskEdgeKeys:
    r"""The set of distinct undirected edges of a synthetic graph, as keys
    :obj:`min * N + max`, kept on disk in buckets of key ranges: what
    :class:`~pyg_gas.datasets.synthetic.EdgeKeys` holds in memory, with
    the same three methods, in memory bounded by one bucket or one chunk
    of draws.

    Args:
        directory (str): A new directory for the bucket files.
        num_nodes (int): The number of nodes :math:`N`.
        num_edges (int): The expected number of keys, which sizes the
            buckets.
        chunk_edges (int, optional): The keys of one bucket.
            (default: :obj:`4194304`)
    """
    def __init__(self, directory: str, num_nodes: int, num_edges: int,
                 chunk_edges: int = 1 << 22) -> None:
        os.makedirs(directory)
        self.directory = directory
        self.num_nodes = N = num_nodes
        num_buckets = max(1, min(N, -(-int(num_edges * 1.1) // chunk_edges)))
        # Buckets of smallest endpoints [u_b, u_b+1) that hold about as many
        # node pairs u < v each: sum_{u < u_b} (N - 1 - u) ~ b / B of all.
        share = torch.arange(num_buckets + 1, dtype=torch.float64)
        share /= num_buckets
        u = (N * (1 - torch.sqrt(1 - share))).floor().long()
        u[0], u[-1] = 0, N
        self.bounds = torch.unique(u) * N  # [B + 1], key boundaries
        self.counts: List[int] = [0] * (self.bounds.numel() - 1)

    def _path(self, b: int, suffix: str = '') -> str:
        return osp.join(self.directory, f'{b}.keys{suffix}')

    def _read(self, path: str) -> Tensor:
        if not osp.exists(path):
            return torch.empty(0, dtype=torch.long)
        return torch.from_numpy(np.fromfile(path, dtype=np.int64))

    def _write(self, b: int, key: Tensor) -> None:
        tmp = self._path(b, '.tmp')
        key.numpy().tofile(tmp)
        os.replace(tmp, self._path(b))
        self.counts[b] = key.numel()

    def __len__(self) -> int:
        return sum(self.counts)

    def add(self, chunks: Iterable[Tensor]) -> None:
        r"""Adds the keys of :obj:`chunks`, merging duplicates."""
        touched = set()
        for key in chunks:
            key = torch.sort(key).values
            cut = torch.searchsorted(key, self.bounds).tolist()
            for b in range(len(self.counts)):
                if cut[b + 1] > cut[b]:
                    with open(self._path(b, '.new'), 'ab') as f:
                        f.write(memoryview(key[cut[b]:cut[b + 1]].numpy()))
                    touched.add(b)
            del key
        for b in sorted(touched):
            new = self._read(self._path(b, '.new'))
            key = torch.unique(torch.cat([self._read(self._path(b)), new]))
            del new
            self._write(b, key)
            os.remove(self._path(b, '.new'))
        trim_memory()  # As GraphStager.add_edges does.

    def drop(self, positions: Tensor) -> None:
        r"""Removes the keys at :obj:`positions` of the sorted set."""
        positions = torch.sort(positions).values
        ends = torch.tensor(self.counts).cumsum(0)
        cut = torch.searchsorted(positions, ends).tolist()
        lo = 0
        for b in range(len(self.counts)):
            if cut[b] > lo:
                start = int(ends[b]) - self.counts[b]
                keep = torch.ones(self.counts[b], dtype=torch.bool)
                keep[positions[lo:cut[b]] - start] = False
                self._write(b, self._read(self._path(b))[keep])
            lo = cut[b]

    def edge_chunks(self) -> Iterator[Tensor]:
        r"""Yields the edges of one bucket at a time, :obj:`[2, count]`,
        then their reverse: both directions of every edge, in the order of
        the one chunk :obj:`[2, 2 * count]` of both, in half its memory."""
        N = self.num_nodes
        for b in range(len(self.counts)):
            key = self._read(self._path(b))
            row, col = key // N, key % N
            del key
            yield torch.stack([row, col])
            yield torch.stack([col, row])
            del row, col

    def remove(self) -> None:
        r"""Removes the bucket files."""
        shutil.rmtree(self.directory, ignore_errors=True)


def prepare_synthetic(
    root: str,
    name: str = 'synthetic-products',
    num_parts: Optional[int] = None,
    perm: Optional[Tensor] = None,
    ptr: Optional[Tensor] = None,
    partition: Literal['metis', 'stream'] = 'metis',
    seed: int = 0,
    partition_seed: Optional[int] = None,
    x_dtype: torch.dtype = torch.float32,
    normalize_features: bool = False,
    tmp_dir: Optional[str] = None,
    chunk_edges: int = 1 << 22,
    overwrite: bool = False,
    log: bool = True,
    **options: Any,
) -> DiskDataset:
    r"""Generates a synthetic graph of :mod:`pyg_gas.datasets.synthetic`
    straight to the dataset directory :obj:`root`, in bounded memory, and
    opens it.

    The graph is the one that
    :func:`~pyg_gas.datasets.synthetic.synthetic_graph` (and so
    :func:`~pyg_gas.datasets.load_dataset`) returns for the same name,
    options and :obj:`seed`: both draw from one
    :class:`~pyg_gas.datasets.synthetic.SyntheticDraws`, but here the set of
    distinct edges is merged in buckets on disk
    (:class:`DiskEdgeKeys`), the edges are staged with a
    :class:`~pyg_gas.storage.chunked.GraphStager` and the features written
    chunk by chunk, in a temporary directory. The staged graph is then
    partitioned and permuted into cluster order
    (:func:`~pyg_gas.storage.chunked.prepare_staged`), so that the
    directory equals :func:`~pyg_gas.storage.prepare` of the in-memory graph
    with the same partition, array for array. Memory holds :math:`O(N)`
    node arrays and one chunk of about :obj:`chunk_edges` edges: with a
    given partition, the :obj:`'synthetic-products'` preset (2.4M nodes,
    124M directed edges, 100 features) is prepared in about two minutes
    on 2 CPU cores, with 1 GiB of memory of its own at its peak, and runs
    under a 2.5 GiB memory cap (:obj:`'metis'` loads the edges into
    memory, :obj:`'stream'` does not).

    Args:
        root (str): The directory to write: new, empty, or (with
            :obj:`overwrite`) a prepared dataset.
        name (str, optional): :obj:`'synthetic'` (with :obj:`num_nodes` and
            :obj:`avg_degree` or :obj:`num_edges` in :obj:`**options`), or
            a preset of :data:`~pyg_gas.datasets.synthetic.SYNTHETIC_PRESETS`.
            (default: :obj:`'synthetic-products'`)
        num_parts (int, optional): The number of clusters.
        perm (torch.Tensor, optional): A partition's node order, with
            :obj:`ptr`, instead of :obj:`num_parts`.
        ptr (torch.Tensor, optional): Its cluster boundaries.
        partition (str, optional): :obj:`'metis'` or :obj:`'stream'` (see
            :func:`~pyg_gas.storage.chunked.partition_dataset`).
            (default: :obj:`'metis'`)
        seed (int, optional): The seed of the graph. (default: :obj:`0`)
        partition_seed (int, optional): The seed of the partition.
            (default: :obj:`seed`)
        x_dtype (torch.dtype, optional): The features' storage type.
            (default: :obj:`torch.float32`)
        normalize_features (bool, optional): Row-normalizes the features
            (as :class:`torch_geometric.transforms.NormalizeFeatures`).
            (default: :obj:`False`)
        tmp_dir (str, optional): Where to stage the graph (about the size
            of the dataset again). (default: next to :obj:`root`)
        chunk_edges (int, optional): The edges of one chunk, which bounds
            memory. (default: :obj:`4194304`)
        overwrite (bool, optional): Replaces a prepared dataset in
            :obj:`root`. (default: :obj:`False`)
        log (bool, optional): Reports the steps on stderr.
            (default: :obj:`True`)
        **options (optional): Arguments of
            :func:`~pyg_gas.datasets.synthetic.synthetic_graph` (but
            :obj:`seed`), overriding the preset's.
    """
    from pyg_gas.datasets.synthetic import SyntheticDraws, synthetic_params

    key, params = synthetic_params(name, **options)
    draws = SyntheticDraws(**params, seed=seed, log=log)
    N, E, F = draws.num_nodes, draws.num_edges, draws.num_features
    check_int('chunk_edges', chunk_edges, 1)
    _check_x_dtype(x_dtype)
    partition_seed = seed if partition_seed is None else partition_seed
    perm, ptr = check_partition_args(N, num_parts, perm, ptr, partition)
    itemsize = torch.empty(0, dtype=x_dtype).element_size()
    final = N * (F * itemsize + 32) + 2 * E * 12
    # The staged graph, and the draws' scratch arrays (8 + 8 + 8 + 4 + 4 + 3
    # bytes a node, and a permutation of the edges drawn):
    staged = int(E * 1.1) * 20 + 2 * E * 16 + N * (F * 4 + 32 + 35)

    root = check_output(root, overwrite, final)
    with _staging(root, tmp_dir, staged, final) as staging:
        draws.workspace = staging  # No array of the graph's size in memory.
        y = draws.classes()  # [N]
        keys = draws.edges(DiskEdgeKeys(osp.join(staging, 'keys'), N, E,
                                        chunk_edges))
        with GraphStager(osp.join(staging, 'graph'), N, 2 * E,
                         chunk_edges=chunk_edges, log=log) as stager:
            for edge_index in keys.edge_chunks():
                stager.add_edges(edge_index)
            keys.remove()
            stager.write_node_array('x', draws.features())
            stager.write_node_array('y', y)
            for mask_key, mask in zip(('train_mask', 'val_mask',
                                       'test_mask'), draws.split()):
                stager.write_node_array(mask_key, mask)
            graph = stager.close(num_classes=draws.num_classes, name=key)
        return prepare_staged(graph, root, num_parts, perm, ptr, partition,
                              partition_seed, x_dtype, name=key,
                              normalize_features=normalize_features,
                              chunk_edges=chunk_edges, overwrite=overwrite,
                              log=log)


# OGB graphs #################################################################


def _read_csv(path: str, chunk_rows: int) -> Iterator[np.ndarray]:
    # The rows of a gzipped CSV file without header, in chunks; a
    # ValueError names the file if it is not one.
    import pandas as pd

    try:
        with pd.read_csv(path, header=None, chunksize=chunk_rows,
                         compression='gzip') as reader:
            for frame in reader:
                values = frame.values
                if values.dtype == object:
                    raise ValueError('it holds values that are not numbers')
                yield values
    except pd.errors.EmptyDataError:
        return
    except (ValueError, OSError, EOFError, pd.errors.ParserError) as e:
        raise ValueError(f"'{path}' is not a gzipped CSV file of numbers, "
                         f"as OGB writes them ({e})") from None


def _read_all(path: str) -> np.ndarray:
    parts = list(_read_csv(path, 1 << 20))
    return np.concatenate(parts) if parts else np.empty((0, 1), np.int64)


def _ogb_files(name: str, ogb_root: str) -> Dict[str, Any]:
    # The dataset's meta data and the paths of its files, all checked to
    # exist.
    from pyg_gas.datasets.ogb import _folder, _import_ogb_nodeproppred, _lookup

    if not isinstance(name, str):
        raise TypeError(f"'name' must be a str (got {type(name).__name__})")
    module = _import_ogb_nodeproppred('prepare_ogb')
    ogb_name, meta = _lookup(module, name)
    if meta['binary'] == 'True':
        raise ValueError(f"'{ogb_name.lower()}' is stored in binary .npz "
                         f"files; 'prepare_ogb' reads OGB's CSV files only "
                         f"(load it with 'load_dataset' and 'prepare')")
    if meta['has_node_attr'] != 'True' or \
            meta['task type'] != 'multiclass classification':
        # ogbn-proteins: features from its edges, and 112 binary tasks.
        key = ogb_name.lower()
        raise ValueError(
            f"'{key}' ({meta['task type']}, {meta['num tasks']} task(s), "
            f"{'with' if meta['has_node_attr'] == 'True' else 'without'} "
            f"node features) is not read in chunks: 'prepare_ogb' reads "
            f"node features and one class label per node. Load it into "
            f"memory and prepare that graph instead: "
            f"pyg_gas.storage.prepare(pyg_gas.datasets.load_dataset("
            f"'{key}', root=ROOT), OUT, num_parts=P)")
    if not isinstance(ogb_root, str) or not osp.isdir(ogb_root):
        raise ValueError(f"'ogb_root' must be the folder that holds the "
                         f"folder of '{ogb_name.lower()}' (got {ogb_root!r}, "
                         f"which is no directory)")
    folder = ogb_root
    if not osp.isfile(osp.join(folder, 'raw', 'edge.csv.gz')):
        folder = _folder(ogb_root, ogb_name)
    split = osp.join('split', meta['split'])
    files = dict(
        edge=osp.join('raw', 'edge.csv.gz'),
        num_nodes=osp.join('raw', 'num-node-list.csv.gz'),
        num_edges=osp.join('raw', 'num-edge-list.csv.gz'),
        x=osp.join('raw', 'node-feat.csv.gz'),
        y=osp.join('raw', 'node-label.csv.gz'),
        train=osp.join(split, 'train.csv.gz'),
        valid=osp.join(split, 'valid.csv.gz'),
        test=osp.join(split, 'test.csv.gz'),
    )
    for key, file in files.items():
        path = osp.join(folder, file)
        if not osp.isfile(path):
            raise ValueError(
                f"'{path}' is missing: '{folder}' is not the folder of "
                f"'{ogb_name.lower()}' as OGB's zip file unpacks it (it "
                f"needs {', '.join(sorted(files.values()))})")
        files[key] = path
    return dict(files, name=ogb_name.lower(), meta=meta, folder=folder)


def _single(path: str) -> int:
    values = _read_all(path).reshape(-1)
    if values.size != 1 or not np.issubdtype(values.dtype, np.integer) or \
            values[0] < 0:
        raise ValueError(f"'{path}' must hold one count (a dataset of one "
                         f"graph; got {values.size} values)")
    return int(values[0])


def _ogb_edges(path: str, num_nodes: int,
               chunk_rows: int) -> Iterator[Tensor]:
    for values in _read_csv(path, chunk_rows):
        if values.ndim != 2 or values.shape[1] != 2 or \
                not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"'{path}' must hold two integer node ids per "
                             f"row (got {values.shape[1]} columns of "
                             f"{values.dtype})")
        if values.size and (values.min() < 0 or values.max() >= num_nodes):
            raise ValueError(f"'{path}' holds node ids outside of "
                             f"[0, {num_nodes})")
        yield torch.from_numpy(np.ascontiguousarray(values.T,
                                                    dtype=np.int64))


def _counted(path: str, num_nodes: int,
             chunks: Iterator[Tensor]) -> Iterator[Tensor]:
    # The chunks of a node file, which must hold one row per node.
    rows = 0
    for chunk in chunks:
        rows += chunk.size(0)
        if rows > num_nodes:
            break
        yield chunk
    if rows != num_nodes:
        raise ValueError(f"'{path}' must hold one row per node "
                         f"({num_nodes}; got {'more' if rows > num_nodes else rows})")  # noqa: E501


def _ogb_features(path: str, chunk_rows: int) -> Iterator[Tensor]:
    # As ogb reads them (integers or floats, cast to float32), made float32
    # as load_dataset makes them.
    width = None
    for values in _read_csv(path, chunk_rows):
        if width is not None and values.shape[1] != width:
            raise ValueError(f"'{path}' has rows of {width} and of "
                             f"{values.shape[1]} values")
        width = values.shape[1]
        if np.issubdtype(values.dtype, np.integer):
            values = values.astype(np.int64)
        yield torch.from_numpy(values.astype(np.float32))


def _ogb_labels(path: str, chunk_rows: int) -> Iterator[Tensor]:
    # One label per node; NaN (unlabelled) becomes -1, as in load_dataset.
    for values in _read_csv(path, chunk_rows):
        if values.shape[1] != 1:
            raise ValueError(f"'{path}' must hold one label per row (got "
                             f"{values.shape[1]} columns)")
        if np.issubdtype(values.dtype, np.integer):
            yield torch.from_numpy(values.astype(np.int64)).view(-1)
        else:
            y = torch.from_numpy(values).float().view(-1)
            yield torch.nan_to_num(y, nan=-1.0).long()


def _ogb_mask(path: str, num_nodes: int) -> Tensor:
    index = _read_all(path).reshape(-1)
    if not np.issubdtype(index.dtype, np.integer) or (index.size and (
            index.min() < 0 or index.max() >= num_nodes)):
        raise ValueError(f"'{path}' must hold node ids in [0, {num_nodes})")
    mask = torch.zeros(num_nodes, dtype=torch.bool)
    mask[torch.from_numpy(index.astype(np.int64))] = True
    return mask


def prepare_ogb(
    name: str,
    ogb_root: str,
    root: str,
    num_parts: Optional[int] = None,
    perm: Optional[Tensor] = None,
    ptr: Optional[Tensor] = None,
    partition: Literal['metis', 'stream'] = 'metis',
    seed: int = 0,
    x_dtype: torch.dtype = torch.float32,
    normalize_features: bool = False,
    tmp_dir: Optional[str] = None,
    chunk_edges: int = 1 << 22,
    chunk_rows: int = 1 << 16,
    overwrite: bool = False,
    log: bool = True,
) -> DiskDataset:
    r"""Prepares an OGB node property prediction dataset (e.g.
    :obj:`'ogbn-arxiv'`, :obj:`'ogbn-products'`) as the dataset directory
    :obj:`root`, reading its raw CSV files in chunks, in bounded memory,
    and opens it.

    The graph is the one that :func:`~pyg_gas.datasets.load_dataset` reads
    through :obj:`ogb`: the edges of :obj:`raw/edge.csv.gz` (each followed
    by its reverse where OGB adds inverse edges, e.g. for
    :obj:`ogbn-products`; made undirected as
    :func:`torch_geometric.utils.to_undirected` does where the graph is
    directed, e.g. :obj:`ogbn-arxiv`), the features of
    :obj:`raw/node-feat.csv.gz` as :obj:`float32`, the labels of
    :obj:`raw/node-label.csv.gz` (:obj:`-1` for unlabelled nodes) and the
    masks of the official split. It is staged with a
    :class:`~pyg_gas.storage.chunked.GraphStager` in a temporary directory,
    partitioned and permuted into cluster order
    (:func:`~pyg_gas.storage.chunked.prepare_staged`), so that the
    directory equals :func:`~pyg_gas.storage.prepare` of the loaded graph
    with the same partition, array for array. Nothing is downloaded and
    :obj:`ogb`'s processed file is neither read nor written; :obj:`ogb` is
    needed for its table of datasets and :obj:`pandas` to read the files.

    Args:
        name (str): The dataset name, matched case-insensitively.
        ogb_root (str): The folder that holds the dataset's folder (e.g.
            :obj:`ogb_root/ogbn_arxiv/raw/edge.csv.gz`), as
            :func:`~pyg_gas.datasets.load_dataset` takes it, or that folder
            itself.
        root (str): The directory to write: new, empty, or (with
            :obj:`overwrite`) a prepared dataset.
        num_parts (int, optional): The number of clusters.
        perm (torch.Tensor, optional): A partition's node order, with
            :obj:`ptr`, instead of :obj:`num_parts`.
        ptr (torch.Tensor, optional): Its cluster boundaries.
        partition (str, optional): :obj:`'metis'` or :obj:`'stream'` (see
            :func:`~pyg_gas.storage.chunked.partition_dataset`).
            (default: :obj:`'metis'`)
        seed (int, optional): The seed of the partition. (default: :obj:`0`)
        x_dtype (torch.dtype, optional): The features' storage type.
            (default: :obj:`torch.float32`)
        normalize_features (bool, optional): Row-normalizes the features
            (as :class:`torch_geometric.transforms.NormalizeFeatures`).
            (default: :obj:`False`)
        tmp_dir (str, optional): Where to stage the graph. (default: next
            to :obj:`root`)
        chunk_edges (int, optional): The edges of one chunk.
            (default: :obj:`4194304`)
        chunk_rows (int, optional): The rows of node files read at once.
            (default: :obj:`65536`)
        overwrite (bool, optional): Replaces a prepared dataset in
            :obj:`root`. (default: :obj:`False`)
        log (bool, optional): Reports the steps on stderr.
            (default: :obj:`True`)
    """
    files = _ogb_files(name, ogb_root)
    check_int('chunk_edges', chunk_edges, 1)
    check_int('chunk_rows', chunk_rows, 1)
    _check_x_dtype(x_dtype)
    N = _single(files['num_nodes'])
    if N == 0:
        raise ValueError(f"'{files['num_nodes']}' gives 0 nodes")
    E = _single(files['num_edges'])
    perm, ptr = check_partition_args(N, num_parts, perm, ptr, partition)
    with contextlib.closing(_read_csv(files['x'], 1)) as rows:
        first = next(rows, np.empty((0, 0)))
    F = first.shape[1] if first.ndim == 2 else 0
    meta = files['meta']
    reverse = meta['add_inverse_edge'] == 'True'
    itemsize = torch.empty(0, dtype=x_dtype).element_size()
    final = N * (F * itemsize + 32) + 2 * E * 12
    staged = 2 * E * 28 + N * (F * 4 + 32)

    root = check_output(root, overwrite, final)
    with _staging(root, tmp_dir, staged, final) as staging:
        if log:
            log_line(f"Reading '{files['folder']}' in chunks")
        with GraphStager(osp.join(staging, 'graph'), N, 2 * E,
                         undirected='reverse' if reverse else 'auto',
                         chunk_edges=chunk_edges, log=log) as stager:
            num_read = 0
            for edge_index in _ogb_edges(files['edge'], N, chunk_edges):
                stager.add_edges(edge_index)
                num_read += edge_index.size(1)
            if num_read != E:
                raise ValueError(f"'{files['edge']}' holds {num_read} edges, "
                                 f"but '{files['num_edges']}' gives {E}")
            stager.write_node_array('x', _counted(
                files['x'], N, _ogb_features(files['x'], chunk_rows)))
            stager.write_node_array('y', _counted(
                files['y'], N, _ogb_labels(files['y'], chunk_rows)))
            for key, split in (('train_mask', 'train'), ('val_mask', 'valid'),
                               ('test_mask', 'test')):
                stager.write_node_array(key, _ogb_mask(files[split], N))
            graph = stager.close(num_classes=int(meta['num classes']),
                                 name=files['name'])
        return prepare_staged(graph, root, num_parts, perm, ptr, partition,
                              seed, x_dtype, name=files['name'],
                              normalize_features=normalize_features,
                              chunk_edges=chunk_edges, overwrite=overwrite,
                              log=log)
