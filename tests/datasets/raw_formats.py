r"""Writers of tiny datasets in the exact raw formats that PyG's dataset
classes read (torch_geometric 2.8), for tests that load them through PyG's
real code without downloading anything.

The graphs are class-homophilous and their features carry the label (a
one-hot block of the class plus noise in multiples of 1/8, exact in
float32), so a model can learn them. Each writer returns the folder it wrote
and what a loader should find there.
"""
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

NUM_NOISE = 4  # Noise features after the one-hot block of the class.

Graph = Dict[str, np.ndarray]


def homophilous_graph(class_sizes: Sequence[int], seed: int,
                      degree: int = 3, p_same: float = 0.8) -> Graph:
    r"""A graph with :obj:`sum(class_sizes)` nodes in shuffled order.

    Returns :obj:`x` (float32 :obj:`[N, C + 4]`), :obj:`y` (int64
    :obj:`[N]`), :obj:`edges` (int64 :obj:`[E, 2]`, each undirected edge
    once as :obj:`u < v`, no self-loops) and :obj:`roles` (int64 :obj:`[N]`:
    1 train (60%), 2 val (20%), 3 test (20%), in random order).
    """
    rng = np.random.default_rng(seed)
    num_classes = len(class_sizes)
    y = rng.permutation(np.repeat(np.arange(num_classes), class_sizes))
    num_nodes = len(y)
    noise = rng.integers(0, 8, size=(num_nodes, NUM_NOISE)) / 8.0
    x = np.concatenate([np.eye(num_classes)[y], noise], axis=1)
    edges = set()
    for u in range(num_nodes):
        same = np.flatnonzero(y == y[u])
        for _ in range(degree):
            v = int(rng.choice(same if rng.random() < p_same else num_nodes))
            if u != v:
                edges.add((min(u, v), max(u, v)))
    perm = rng.permutation(num_nodes)
    roles = np.empty(num_nodes, dtype=np.int64)
    num_train, num_val = int(0.6 * num_nodes), int(0.2 * num_nodes)
    roles[perm[:num_train]] = 1
    roles[perm[num_train:num_train + num_val]] = 2
    roles[perm[num_train + num_val:]] = 3
    return dict(x=x.astype(np.float32), y=y.astype(np.int64),
                edges=np.array(sorted(edges), dtype=np.int64), roles=roles)


def multi_labels(y: np.ndarray, num_classes: int) -> np.ndarray:
    r"""Multi-label targets that the class determines: its one-hot vector
    plus one column that is 1 for the classes :obj:`0` and :obj:`1`.
    Returns float32 :obj:`[N, num_classes + 1]`."""
    one_hot = np.eye(num_classes)[y]
    extra = (y <= 1).astype(np.float64)[:, None]
    return np.concatenate([one_hot, extra], axis=1).astype(np.float32)


def both_directions(edges: np.ndarray) -> np.ndarray:
    r"""The undirected edges :obj:`[E, 2]` as :obj:`[2E, 2]`, sorted."""
    both = np.concatenate([edges, edges[:, ::-1]])
    return both[np.lexsort((both[:, 1], both[:, 0]))]


def _csr(pairs: np.ndarray, num_nodes: int):
    import scipy.sparse as sp

    data = np.ones(len(pairs), dtype=np.float32)
    return sp.csr_matrix((data, (pairs[:, 0], pairs[:, 1])),
                         shape=(num_nodes, num_nodes))


def write_npz(path: Path, graph: Graph, self_loops: Sequence[int] = (),
              counts: int = 3, seed: int = 0) -> Path:
    r"""Writes :obj:`graph` as a file of the `gnn-benchmark
    <https://github.com/shchur/gnn-benchmark>`_ npz format that
    :func:`torch_geometric.io.read_npz` reads (Coauthor, Amazon): CSR
    arrays :obj:`adj_*` of the adjacency (each edge in one direction only,
    plus self-loops at :obj:`self_loops`), :obj:`attr_*` of the features as
    bag-of-words counts (every nonzero feature times a random count in
    :obj:`[1, counts]`), and :obj:`labels`."""
    rng = np.random.default_rng(seed)
    num_nodes = len(graph['y'])
    loops = np.array([[i, i] for i in self_loops], dtype=np.int64)
    adj = _csr(np.concatenate([graph['edges'], loops.reshape(-1, 2)]),
               num_nodes)
    import scipy.sparse as sp

    attr = sp.csr_matrix(graph['x'] * rng.integers(1, counts + 1,
                                                   size=graph['x'].shape))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, adj_data=adj.data, adj_indices=adj.indices,
             adj_indptr=adj.indptr, adj_shape=np.array(adj.shape),
             attr_data=attr.data, attr_indices=attr.indices,
             attr_indptr=attr.indptr, attr_shape=np.array(attr.shape),
             labels=graph['y'],
             class_names=np.array([f'class {c}' for c in
                                   range(int(graph['y'].max()) + 1)]))
    return path


def write_coauthor(root: Path, name: str, graph: Graph, **kwargs) -> Path:
    r"""Writes :obj:`root/<CS|Physics>/raw/ms_academic_<cs|phy>.npz`."""
    folder = 'CS' if name.lower() == 'cs' else 'Physics'
    return write_npz(root / folder / 'raw' /
                     f'ms_academic_{folder[:3].lower()}.npz', graph, **kwargs)


def write_amazon(root: Path, name: str, graph: Graph, **kwargs) -> Path:
    r"""Writes :obj:`root/<Computers|Photo>/raw/amazon_electronics_*.npz`."""
    return write_npz(root / name.capitalize() / 'raw' /
                     f'amazon_electronics_{name.lower()}.npz', graph,
                     **kwargs)


def write_wikics(folder: Path, graph: Graph, num_splits: int = 20,
                 seed: int = 0) -> Dict[str, np.ndarray]:
    r"""Writes :obj:`folder/raw/data.json` as WikiCS ships it:
    :obj:`features`, :obj:`labels`, :obj:`links` (adjacency lists, each edge
    in one direction), :obj:`train_masks`, :obj:`val_masks` and
    :obj:`stopping_masks` (:obj:`num_splits` lists of :obj:`N` booleans)
    and :obj:`test_mask`. Returns the masks, each :obj:`[N, num_splits]`
    (or :obj:`[N]` for :obj:`test_mask`)."""
    rng = np.random.default_rng(seed)
    num_nodes = len(graph['y'])
    links: List[List[int]] = [[] for _ in range(num_nodes)]
    for u, v in graph['edges'].tolist():
        links[u].append(v)
    test_mask = graph['roles'] == 3
    masks = {key: np.zeros((num_nodes, num_splits), dtype=bool)
             for key in ('train_masks', 'val_masks', 'stopping_masks')}
    for s in range(num_splits):
        # Each split divides the non-test nodes into 3 random parts.
        rest = rng.permutation(np.flatnonzero(~test_mask))
        third = len(rest) // 3
        masks['train_masks'][rest[:third], s] = True
        masks['stopping_masks'][rest[third:2 * third], s] = True
        masks['val_masks'][rest[2 * third:], s] = True
    content = dict(features=graph['x'].tolist(),
                   labels=graph['y'].tolist(), links=links,
                   test_mask=test_mask.tolist(),
                   **{key: mask.T.tolist() for key, mask in masks.items()})
    (folder / 'raw').mkdir(parents=True, exist_ok=True)
    (folder / 'raw' / 'data.json').write_text(json.dumps(content))
    return dict(masks, test_mask=test_mask)


def write_graphsaint(folder: Path, graph: Graph,
                     y: Optional[np.ndarray] = None) -> Path:
    r"""Writes the GraphSAINT format of Flickr, Reddit2 and Yelp into
    :obj:`folder/raw`: :obj:`adj_full.npz` (a symmetric CSR matrix written by
    :func:`scipy.sparse.save_npz`), :obj:`feats.npy` (float32),
    :obj:`class_map.json` (node id as a string to its class, or to its list
    of 0/1 labels when :obj:`y` is 2-D) and :obj:`role.json`
    (:obj:`{'tr': [...], 'va': [...], 'te': [...]}`)."""
    import scipy.sparse as sp

    raw = folder / 'raw'
    raw.mkdir(parents=True, exist_ok=True)
    y = graph['y'] if y is None else y
    num_nodes = len(y)
    sp.save_npz(raw / 'adj_full.npz',
                _csr(both_directions(graph['edges']), num_nodes))
    np.save(raw / 'feats.npy', graph['x'])
    labels = y.astype(np.int64).tolist()
    (raw / 'class_map.json').write_text(json.dumps(
        {str(i): label for i, label in enumerate(labels)}))
    roles = graph['roles']
    (raw / 'role.json').write_text(json.dumps({
        key: np.flatnonzero(roles == r).tolist()
        for key, r in (('tr', 1), ('va', 2), ('te', 3))
    }))
    return raw


def write_reddit(folder: Path, graph: Graph) -> Path:
    r"""Writes DGL's Reddit format into :obj:`folder/raw`:
    :obj:`reddit_data.npz` (:obj:`feature`, :obj:`label`, :obj:`node_types`
    with 1/2/3 for train/val/test) and :obj:`reddit_graph.npz` (a COO matrix
    written by :func:`scipy.sparse.save_npz`, each edge in both
    directions)."""
    import scipy.sparse as sp

    raw = folder / 'raw'
    raw.mkdir(parents=True, exist_ok=True)
    np.savez(raw / 'reddit_data.npz', feature=graph['x'], label=graph['y'],
             node_types=graph['roles'])
    sp.save_npz(raw / 'reddit_graph.npz',
                _csr(both_directions(graph['edges']),
                     len(graph['y'])).tocoo())
    return raw


#: The number of PPI graphs per split, as PPI ships them.
PPI_GRAPHS = {'train': 20, 'valid': 2, 'test': 2}


def ppi_graphs(num_classes: int = 3, seed: int = 0) -> List[Graph]:
    r"""The 24 PPI graphs (20 train, 2 val, 2 test), of 4 or 5 nodes each:
    a ring (so every node has an edge) and one chord between two nodes of
    the same class where there is one. Each graph has :obj:`x`, :obj:`y`
    (multi-label float32, see :func:`multi_labels`) and :obj:`edges`
    (:obj:`[E, 2]`, local ids, :obj:`u < v`)."""
    rng = np.random.default_rng(seed)
    graphs = []
    for i in range(sum(PPI_GRAPHS.values())):
        n = 4 + i % 2
        label = rng.integers(0, num_classes, size=n)
        noise = rng.integers(0, 8, size=(n, NUM_NOISE)) / 8.0
        x = np.concatenate([np.eye(num_classes)[label], noise], axis=1)
        edges = {(min(u, (u + 1) % n), max(u, (u + 1) % n))
                 for u in range(n)}
        for u in range(n):
            for v in range(u + 2, n):
                if label[u] == label[v] and (u, v) != (0, n - 1):
                    edges.add((u, v))
                    break
        graphs.append(dict(x=x.astype(np.float32),
                           y=multi_labels(label, num_classes),
                           edges=np.array(sorted(edges), dtype=np.int64)))
    return graphs


def write_ppi(folder: Path, graphs: List[Graph]) -> Path:
    r"""Writes the 24 :obj:`graphs` in the PPI format of GraphSAGE (as in
    DGL's :obj:`ppi.zip`) into :obj:`folder/raw`: per split
    (:obj:`train`, :obj:`valid`, :obj:`test`), :obj:`<split>_feats.npy`,
    :obj:`<split>_labels.npy`, :obj:`<split>_graph_id.npy` (graph ids 1 to
    24, nodes of a graph contiguous) and :obj:`<split>_graph.json` (a
    networkx node-link graph, undirected, ids numbering the split's
    nodes)."""
    raw = folder / 'raw'
    raw.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, count in PPI_GRAPHS.items():
        part = graphs[start:start + count]
        offsets = np.cumsum([0] + [len(g['x']) for g in part])
        links = [
            {'source': int(u + off), 'target': int(v + off)}
            for g, off in zip(part, offsets) for u, v in g['edges'].tolist()
        ]
        nodes = [{'id': i, 'test': split == 'test', 'val': split == 'valid'}
                 for i in range(int(offsets[-1]))]
        (raw / f'{split}_graph.json').write_text(json.dumps({
            'directed': False, 'multigraph': False, 'graph': {},
            'nodes': nodes, 'links': links
        }))
        np.save(raw / f'{split}_feats.npy',
                np.concatenate([g['x'] for g in part]))
        np.save(raw / f'{split}_labels.npy',
                np.concatenate([g['y'] for g in part]))
        np.save(raw / f'{split}_graph_id.npy', np.concatenate([
            np.full(len(g['x']), start + k + 1) for k, g in enumerate(part)
        ]))
        start += count
    return raw
