r"""Make your own PyG model scalable with GASConv.

The model below is an ordinary PyG model, a SAGE -> GAT -> GCN stack with
batch norm that the package does not ship. Wrapping each conv in GASConv (and
giving every conv but the first a History of its input) turns it into its
GNNAutoScale version: the model code itself does not change. Mini-batches run
inside `gas_batch(batch)`, and `gas_inference` gives exact whole-graph
predictions with memory bounded by one mini-batch.

    python examples/custom_conv.py
"""
import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from torch.nn import BatchNorm1d
from torch_geometric.nn import GATConv, GCNConv, SAGEConv

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
    def __init__(self, in_channels: int, hidden: int, out_channels: int,
                 num_nodes: int) -> None:
        super().__init__()
        # The first conv reads the node features, which every row has:
        self.conv1 = GASConv(SAGEConv(in_channels, hidden))
        self.norm = BatchNorm1d(hidden)
        # The others read embeddings, which halo rows take from histories.
        # GCNNorm (below) added self-loops, so GAT adds none:
        self.conv2 = GASConv(
            GATConv(hidden, hidden // 4, heads=4, add_self_loops=False),
            History(num_nodes, hidden))
        # Degrees must be those of the whole graph: the graph is normalized
        # once by GCNNorm, so the conv does not normalize per batch.
        self.conv3 = GASConv(GCNConv(hidden, out_channels, normalize=False),
                             History(num_nodes, hidden))

    def forward(self, x, adj_t):
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.norm(self.conv1(x, adj_t)).relu()
        x = F.dropout(x, p=0.5, training=self.training)
        x = F.elu(self.conv2(x, adj_t))
        x = F.dropout(x, p=0.5, training=self.training)
        return self.conv3(x, adj_t)


torch.manual_seed(0)
data = load_dataset('cora')
data = T.GCNNorm()(T.NormalizeFeatures()(data))  # Whole-graph degrees.
perm, ptr = metis(data, num_parts=40, log=False)
data = permute(data, perm)
train_loader = SubgraphLoader(data, ptr, batch_size=10, shuffle=True)
eval_loader = EvalSubgraphLoader(data, ptr, batch_size=10)

model = Net(data.num_features, 64, data.num_classes, data.num_nodes)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)

best_val = test_acc = 0.0
for epoch in range(1, 101):
    model.train()
    for batch in train_loader:
        bs = batch.batch_size
        optimizer.zero_grad()
        with gas_batch(batch):  # Push, pull and slice to the batch rows.
            out = model(batch.x, batch.adj_t)  # [bs, num_classes]
        mask = batch.train_mask[:bs]
        loss = F.cross_entropy(out[mask], batch.y[:bs][mask])
        loss.backward()
        optimizer.step()

    pred = gas_inference(model, eval_loader).argmax(dim=-1)  # Exact.
    accs = [float((pred[m] == data.y[m]).float().mean())
            for m in (data.val_mask, data.test_mask)]
    if accs[0] > best_val:
        best_val, test_acc = accs
    if epoch % 10 == 0:
        print(f'Epoch: {epoch:03d}, Loss: {float(loss):.4f}, '
              f'Val: {accs[0]:.4f}, Test: {accs[1]:.4f}')
print(f'Best val: {best_val:.4f}, test at best val: {test_acc:.4f}')
