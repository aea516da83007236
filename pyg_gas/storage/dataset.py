r"""A prepared dataset directory, opened as memory-mapped tensors."""
import copy
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import (
    Data,
    EdgeAttr,
    FeatureStore,
    GraphStore,
    TensorAttr,
)
from torch_geometric.data.graph_store import EdgeLayout

from pyg_gas.graph import ClusteredCSR
from pyg_gas.rows import NodeRows
from pyg_gas.storage.format import (
    FormatError,
    describe,
    file_digest,
    open_array,
    read_manifest,
)

#: The arrays every dataset directory holds.
REQUIRED = ('rowptr', 'col', 'x', 'y', 'train_mask', 'val_mask', 'test_mask',
            'perm', 'ptr')
#: The node-level arrays that mini-batches carry, besides the features.
NODE_ARRAYS = ('x', 'y', 'train_mask', 'val_mask', 'test_mask')
#: The edge-level arrays, in CSR order.
EDGE_ARRAYS = ('edge_weight', )


class DiskDataset:
    r"""A graph prepared by :func:`~pyg_gas.storage.prepare` (or
    ``pyg-gas prepare``), opened from its directory. Every array is a
    tensor memory-mapped from its ``.npy`` file: opening reads the manifest
    and the files' headers only, and indexing a tensor reads the rows it
    needs.

    The nodes are in *cluster order*: cluster :obj:`k` of the partition is
    the node range :obj:`ptr[k]:ptr[k + 1]`, and :obj:`perm[i]` is the
    original id of node :obj:`i`. The graph is stored in CSR form, rows
    being targets: the in-neighbours of node :obj:`i` are
    :obj:`col[rowptr[i]:rowptr[i + 1]]` (sorted), with their
    :obj:`edge_weight` if the graph has weights.

    It is accepted wherever a clustered :class:`~torch_geometric.data.Data`
    is: by :class:`~pyg_gas.SubgraphLoader`,
    :class:`~pyg_gas.ClusterLoader` and
    :class:`~pyg_gas.EvalSubgraphLoader` (whose batches read their clusters'
    rows and their halo's features, and nothing else), and so by
    :meth:`~pyg_gas.ScalableGNN.inference`. Pickling it (e.g. into
    :class:`~torch.utils.data.DataLoader` workers) pickles its path only:
    each process maps the files itself. For PyG code written against the
    remote-backend interfaces, :meth:`feature_store` and
    :meth:`graph_store` expose it as a
    :class:`~torch_geometric.data.FeatureStore` and a
    :class:`~torch_geometric.data.GraphStore`.

    Args:
        root (str): The dataset directory.
        verify (bool, optional): Recomputes the digest of every file and
            compares it with the manifest (reads every byte).
            (default: :obj:`False`)
    """
    def __init__(self, root: str, verify: bool = False) -> None:
        self.root = osp.abspath(root)
        self.manifest = read_manifest(self.root)
        entries = self.manifest['arrays']
        missing = [name for name in REQUIRED if name not in entries]
        if missing:
            raise FormatError(f"The manifest of '{self.root}' lists no "
                              f"{missing} (expected {list(REQUIRED)})")
        # Node rows are read at random (halos), edges by row ranges:
        self._arrays: Dict[str, Tensor] = {
            name: open_array(self.root, name, entry,
                             random=name in NODE_ARRAYS)
            for name, entry in entries.items()
        }
        self._check_shapes()
        if verify:
            self.verify()

    # Sizes ##################################################################

    @property
    def num_nodes(self) -> int:
        return int(self.manifest['num_nodes'])

    @property
    def num_edges(self) -> int:
        return int(self.manifest['num_edges'])

    @property
    def num_features(self) -> int:
        return int(self.x.size(-1))

    @property
    def num_classes(self) -> int:
        return int(self.manifest['num_classes'])

    @property
    def num_parts(self) -> int:
        return self.ptr.numel() - 1

    @property
    def name(self) -> str:
        return str(self.manifest.get('name', osp.basename(self.root)))

    @property
    def partition(self) -> Dict[str, Any]:
        r"""How the nodes were partitioned: :obj:`num_parts`, the
        :obj:`method` and its :obj:`seed`."""
        return dict(self.manifest.get('partition', {}))

    @property
    def transform(self) -> Optional[str]:
        r"""The graph transform applied to the stored edges, if any
        (:obj:`'gcn_norm'` or :obj:`'self_loops'`, see
        :func:`~pyg_gas.storage.derive`)."""
        return self.manifest.get('transform')

    @property
    def digest(self) -> str:
        r"""Identifies the content (the manifest's digest)."""
        return str(self.manifest['digest'])

    @property
    def nbytes(self) -> int:
        r"""The bytes of all arrays on disk."""
        return sum(int(e['bytes'])
                   for e in self.manifest['arrays'].values())

    # Arrays #################################################################

    def keys(self) -> List[str]:
        return list(self._arrays)

    def __contains__(self, key: str) -> bool:
        return key in self._arrays

    def __getitem__(self, key: str) -> Tensor:
        try:
            return self._arrays[key]
        except KeyError:
            raise KeyError(f"'{self.root}' has no array '{key}' (it has "
                           f"{sorted(self._arrays)})") from None

    def get(self, key: str, default: Any = None) -> Any:
        return self._arrays.get(key, default)

    def __getattr__(self, key: str) -> Tensor:
        arrays = self.__dict__.get('_arrays')
        if arrays is not None and key in arrays:
            return arrays[key]
        raise AttributeError(f"'{type(self).__name__}' has no attribute "
                             f"'{key}'")

    def __iter__(self) -> Iterator[Tuple[str, Tensor]]:
        return iter(self._arrays.items())

    def clustered_csr(self) -> ClusteredCSR:
        r"""The graph as the mini-batch loaders read it (see
        :class:`~pyg_gas.loader.ClusterCollater`)."""
        node_attrs = {k: self._arrays[k] for k in NODE_ARRAYS}
        edge_attrs = {k: self._arrays[k] for k in EDGE_ARRAYS
                      if k in self._arrays}
        casts = {}
        if self.x.dtype in (torch.float16, torch.bfloat16):
            casts['x'] = torch.float32
        return ClusteredCSR(self.num_nodes, self.rowptr, self.col,
                            node_attrs, edge_attrs,
                            dict(num_classes=self.num_classes), casts,
                            source=self)

    def to_data(self) -> Data:
        r"""Loads the whole graph into memory as a clustered
        :class:`~torch_geometric.data.Data` (for graphs that fit), with
        :obj:`edge_index` sorted by target and :obj:`perm` and :obj:`ptr`
        attached."""
        deg = self.rowptr[1:] - self.rowptr[:-1]
        dst = torch.arange(self.num_nodes).repeat_interleave(deg)
        data = Data(edge_index=torch.stack([self.col.long(), dst]),
                    num_nodes=self.num_nodes)
        for key in NODE_ARRAYS + EDGE_ARRAYS:
            if key in self._arrays:
                value = self._arrays[key].clone()
                data[key] = value.float() if key == 'x' and value.dtype in (
                    torch.float16, torch.bfloat16) else value
        data.num_classes = self.num_classes
        data.perm, data.ptr = self.perm.clone(), self.ptr.clone()
        return data

    def verify(self) -> None:
        r"""Recomputes the digest of every file and compares it with the
        manifest; a :class:`~pyg_gas.storage.FormatError` names the first
        file that differs."""
        for entry in self.manifest['arrays'].values():
            path = osp.join(self.root, entry['file'])
            if file_digest(path) != entry['blake2b']:
                raise FormatError(f"'{path}' does not hold the data its "
                                  f"manifest describes (digest mismatch): "
                                  f"the file changed or is damaged")

    def _check_shapes(self) -> None:
        n, e = self.num_nodes, self.num_edges
        expected = dict(rowptr=[n + 1], col=[e], perm=[n], train_mask=[n],
                        val_mask=[n], test_mask=[n], edge_weight=[e])
        for key, value in self._arrays.items():
            shape = expected.get(key)
            rows = value.size(0) if value.dim() else None
            if (shape is not None and list(value.shape) != shape) or (
                    key in NODE_ARRAYS and rows != n):
                raise FormatError(
                    f"'{key}' of '{self.root}' has shape "
                    f"{list(value.shape)}, which does not fit "
                    f"{n} nodes and {e} edges")
        ptr = self.ptr
        if ptr.numel() < 2 or int(ptr[0]) != 0 or int(ptr[-1]) != n or \
                int(self.rowptr[-1]) != e:
            raise FormatError(f"'ptr' or 'rowptr' of '{self.root}' do not "
                              f"cover its {n} nodes and {e} edges")

    # PyG's remote-backend interfaces ########################################

    def feature_store(self) -> 'DiskFeatureStore':
        r"""The node arrays as a read-only
        :class:`~torch_geometric.data.FeatureStore` (group :obj:`None`,
        attribute names :obj:`'x'`, :obj:`'y'`, the masks)."""
        return DiskFeatureStore(self)

    def graph_store(self) -> 'DiskGraphStore':
        r"""The edges as a read-only
        :class:`~torch_geometric.data.GraphStore`: layout :obj:`'csc'`,
        since the rows of the stored CSR are targets (:obj:`(row, colptr)`
        = :obj:`(col, rowptr)` here), sorted."""
        return DiskGraphStore(self)

    # Node rows #############################################################

    def create_rows(self, path: str,
                    history_widths: Sequence[int]) -> NodeRows:
        r"""Writes node rows at :obj:`path` (see
        :class:`~pyg_gas.storage.NodeRows`): this dataset's features, read in
        chunks and stored as float32, interleaved with zero rows for
        histories of :obj:`history_widths`. Pass them to
        :meth:`with_rows`, and to the model as its :obj:`history_path`."""
        return NodeRows.create(path, self.x, history_widths,
                               source=self._x_digest())

    def with_rows(self, rows: NodeRows) -> 'DiskDataset':
        r"""This dataset with its features :obj:`x` read from the node rows
        :obj:`rows` (written by :meth:`create_rows` from this dataset's
        features, or from a dataset with the same ones), so that a
        mini-batch reads a halo row's features and history rows in one page.
        Its :obj:`x` is then float32. Pickling it pickles both paths."""
        if not isinstance(rows, NodeRows):
            raise TypeError(f"'rows' must be NodeRows (got "
                            f"{type(rows).__name__})")
        if rows.source != self._x_digest() or \
                rows.num_nodes != self.num_nodes:
            raise ValueError(f"The node rows '{rows.path}' were not written "
                             f"from the features of '{self.root}': create "
                             f"them with 'dataset.create_rows(...)'")
        out = copy.copy(self)
        out._arrays = dict(self._arrays, x=rows.features)
        out.rows = rows
        return out

    def _x_digest(self) -> str:
        return str(self.manifest['arrays']['x']['blake2b'])

    def __getstate__(self) -> Dict[str, Any]:
        # Each process maps the files itself:
        rows = self.__dict__.get('rows')
        return dict(root=self.root, rows=None if rows is None else rows.path)

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(state['root'])
        if state.get('rows') is not None:
            self.__dict__.update(
                self.with_rows(NodeRows(state['rows'])).__dict__)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({self.root!r}, '
                f'{describe(self.manifest)}, num_parts={self.num_parts})')


def _read_only(what: str) -> None:
    raise ValueError(f"A prepared dataset is read-only: cannot {what} "
                     f"(prepare a new directory with "
                     f"'pyg_gas.storage.prepare')")


class DiskFeatureStore(FeatureStore):
    r"""The node arrays of a :class:`DiskDataset` as a PyG
    :class:`~torch_geometric.data.FeatureStore` (read-only)."""
    def __init__(self, dataset: DiskDataset) -> None:
        super().__init__()
        self.dataset = dataset

    def _get_tensor(self, attr: TensorAttr) -> Optional[Tensor]:
        value = self.dataset.get(attr.attr_name)
        if value is None or attr.attr_name not in NODE_ARRAYS + ('perm', ):
            return None
        index = attr.index
        if index is None or (isinstance(index, slice)
                             and index == slice(None)):
            return value
        if isinstance(index, Tensor):
            return value.index_select(0, index.long().view(-1))
        return value[index]

    def _get_tensor_size(self, attr: TensorAttr) -> Optional[Tuple[int, ...]]:
        value = self.dataset.get(attr.attr_name)
        return None if value is None else tuple(value.shape)

    def _put_tensor(self, tensor: Any, attr: TensorAttr) -> bool:
        _read_only('put a tensor')
        return False

    def _remove_tensor(self, attr: TensorAttr) -> bool:
        _read_only('remove a tensor')
        return False

    def get_all_tensor_attrs(self) -> List[TensorAttr]:
        return [TensorAttr(None, key) for key in NODE_ARRAYS + ('perm', )
                if key in self.dataset]


class DiskGraphStore(GraphStore):
    r"""The edges of a :class:`DiskDataset` as a PyG
    :class:`~torch_geometric.data.GraphStore` (read-only, layout
    :obj:`'csc'`)."""
    def __init__(self, dataset: DiskDataset) -> None:
        super().__init__()
        self.dataset = dataset

    def _attr(self) -> EdgeAttr:
        n = self.dataset.num_nodes
        return EdgeAttr(None, EdgeLayout.CSC, is_sorted=True, size=(n, n))

    def _get_edge_index(self,
                        edge_attr: EdgeAttr) -> Optional[Tuple[Tensor, Tensor]]:
        if EdgeLayout(edge_attr.layout) != EdgeLayout.CSC:
            return None
        return self.dataset.col, self.dataset.rowptr

    def _put_edge_index(self, edge_index: Any, edge_attr: EdgeAttr) -> bool:
        _read_only('put edges')
        return False

    def _remove_edge_index(self, edge_attr: EdgeAttr) -> bool:
        _read_only('remove edges')
        return False

    def get_all_edge_attrs(self) -> List[EdgeAttr]:
        return [self._attr()]
