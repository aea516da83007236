r"""Make your own PyG model scalable with GASConv.

The model below is an ordinary PyG model that the package does not ship: a
GAT layer (8 heads) followed by a GCN layer. Wrapping each conv in GASConv
(and giving every conv but the first a History of its input) turns it into
its GNNAutoScale version: the model code itself does not change.
Mini-batches run inside `gas_batch(batch)`, and `gas_inference` gives exact
whole-graph predictions with memory bounded by one mini-batch.

    python examples/custom_conv.py [--epochs 200]
"""
import argparse
from typing import List, Tuple

import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from torch import Tensor
from torch_geometric.logging import log
from torch_geometric.nn import GATConv, GCNConv

from pyg_gas import (
    EvalSubgraphLoader,
    GASConv,
    History,
    SubgraphLoader,
    gas_batch,
    gas_inference,
    metis,
    permute,
)
from pyg_gas.datasets import load_dataset


class Net(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_nodes: int,
                 heads: int = 8, head_channels: int = 8,
                 dropout: float = 0.6) -> None:
        super().__init__()
        hidden = heads * head_channels
        self.dropout = dropout
        # The first conv reads the node features, which every row has.
        # GCNNorm (below) added self-loops, so GAT adds none:
        self.conv1 = GASConv(GATConv(in_channels, head_channels, heads=heads,
                                     dropout=dropout, add_self_loops=False))
        # The second reads embeddings, which halo rows take from a History.
        # Degrees must be those of the whole graph: the graph is normalized
        # once by GCNNorm, so the conv does not normalize per batch.
        self.conv2 = GASConv(GCNConv(hidden, out_channels, normalize=False),
                             History(num_nodes, hidden))

    def forward(self, x: Tensor, adj_t: Tensor) -> Tensor:
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = F.elu(self.conv1(x, adj_t))
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv2(x, adj_t)


def main(epochs: int = 200) -> Tuple[float, float]:
    r"""Trains for :obj:`epochs` epochs; returns the best validation
    accuracy and the test accuracy of its epoch."""
    torch.manual_seed(0)
    data = T.NormalizeFeatures()(load_dataset('cora'))  # Bundled.
    data = T.GCNNorm()(data)  # Whole-graph degrees.
    perm, ptr = metis(data, num_parts=40, log=False)
    data = permute(data, perm)  # Each cluster is one contiguous range.
    train_loader = SubgraphLoader(data, ptr, batch_size=10, shuffle=True)
    eval_loader = EvalSubgraphLoader(data, ptr, batch_size=10)

    model = Net(data.num_features, data.num_classes, data.num_nodes)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005,
                                 weight_decay=5e-4)

    def train() -> float:
        model.train()
        total_loss = total_examples = 0
        for batch in train_loader:
            bs = batch.batch_size  # Rows [0, bs) are in-batch, the rest halo.
            optimizer.zero_grad()
            with gas_batch(batch):  # Push, pull and slice to the batch rows.
                out = model(batch.x, batch.adj_t)  # [bs, num_classes]
            mask = batch.train_mask[:bs]
            loss = F.cross_entropy(out[mask], batch.y[:bs][mask])
            loss.backward()
            optimizer.step()
            num_examples = int(mask.sum())
            total_loss += float(loss.detach()) * num_examples
            total_examples += num_examples
        return total_loss / total_examples  # The mean over training nodes.

    @torch.no_grad()
    def test() -> List[float]:
        model.eval()
        pred = gas_inference(model, eval_loader).argmax(dim=-1)  # Exact.
        return [float((pred[mask] == data.y[mask]).float().mean())
                for mask in (data.train_mask, data.val_mask, data.test_mask)]

    best_val = test_acc = 0.0
    for epoch in range(1, epochs + 1):
        loss = train()
        train_acc, val_acc, tmp_test_acc = test()
        if val_acc > best_val:
            best_val, test_acc = val_acc, tmp_test_acc
        if epoch % 10 == 0 or epoch == epochs:
            log(Epoch=epoch, Loss=loss, Train=train_acc, Val=val_acc,
                Test=tmp_test_acc)
    print(f'Best val: {best_val:.4f}, test at best val: {test_acc:.4f}')
    return best_val, test_acc


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--epochs', type=int, default=200)
    main(parser.parse_args().epochs)
