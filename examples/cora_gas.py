r"""GCN on Cora with GNNAutoScale: METIS clusters, mini-batches with their
halo, historical embeddings, and exact layer-wise inference.

    python examples/cora_gas.py
"""
import torch
import torch.nn.functional as F
import torch_geometric.transforms as T

from pyg_gas import EvalSubgraphLoader, SubgraphLoader, metis, permute
from pyg_gas.datasets import load_dataset
from pyg_gas.nn.models import GCN

torch.manual_seed(0)
data = T.NormalizeFeatures()(load_dataset('cora'))  # Bundled: no download.

model = GCN(data.num_nodes, data.num_features, hidden_channels=16,
            out_channels=data.num_classes, num_layers=2, dropout=0.5,
            drop_input=True)
data = model.transform(data)  # GCN normalization on the whole graph.

perm, ptr = metis(data, num_parts=40)  # Cluster i: perm[ptr[i]:ptr[i+1]].
data = permute(data, perm)  # Each cluster is now one contiguous range.
train_loader = SubgraphLoader(data, ptr, batch_size=10, shuffle=True)
eval_loader = EvalSubgraphLoader(data, ptr, batch_size=10)

optimizer = torch.optim.Adam(model.param_groups(weight_decay=5e-4), lr=0.01)


def train() -> float:
    model.train()
    total_loss = 0.0
    for batch in train_loader:
        bs = batch.batch_size  # Rows [0, bs) are in-batch, the rest halo.
        optimizer.zero_grad()
        out = model(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                    batch.count)  # [bs, num_classes]
        mask = batch.train_mask[:bs]
        loss = F.cross_entropy(out[mask], batch.y[:bs][mask])
        loss.backward()
        optimizer.step()
        total_loss += float(loss)
    return total_loss / len(train_loader)


@torch.no_grad()
def test() -> list:
    out = model.inference(eval_loader)  # Exact, layer by layer.
    pred = out.argmax(dim=-1)
    return [
        float((pred[mask] == data.y[mask]).float().mean())
        for mask in (data.train_mask, data.val_mask, data.test_mask)
    ]


best_val = test_acc = 0.0
for epoch in range(1, 201):
    loss = train()
    train_acc, val_acc, tmp_test_acc = test()
    if val_acc > best_val:
        best_val, test_acc = val_acc, tmp_test_acc
    if epoch % 10 == 0:
        print(f'Epoch: {epoch:03d}, Loss: {loss:.4f}, Val: {val_acc:.4f}, '
              f'Test: {tmp_test_acc:.4f}')
print(f'Best val: {best_val:.4f}, test at best val: {test_acc:.4f}')
