r"""GCN or GCNII on ogbn-arxiv with GNNAutoScale and the GAS paper's
hyperparameters (test accuracy in the paper: GCN 71.68, GCNII 73.0).
Accuracy is OGB's official metric, from ogb's :obj:`Evaluator`.

ogb reads the dataset from ROOT/ogbn_arxiv and downloads it there when it
is missing and the machine is online (docs/guide.md: OGB datasets).

    python examples/ogbn_arxiv_gas.py --root data/ogb [--model gcn2]
"""
import argparse

import torch
import torch.nn.functional as F
from tqdm import tqdm

from pyg_gas import EvalSubgraphLoader, SubgraphLoader, metis, permute
from pyg_gas.datasets import get_evaluator, load_dataset
from pyg_gas.nn.models import GCN, GCN2

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument('--root', required=True, help='folder with ogbn_arxiv/')
parser.add_argument('--model', default='gcn', choices=['gcn', 'gcn2'])
parser.add_argument('--epochs', type=int, help='(default: the GAS value)')
parser.add_argument('--num-parts', type=int, help='(default: the GAS value)')
parser.add_argument('--batch-size', type=int,
                    help='clusters per batch (default: the GAS value)')
parser.add_argument('--device', default='auto')
parser.add_argument('--seed', type=int, default=0)
args = parser.parse_args()
device = torch.device(('cuda' if torch.cuda.is_available() else 'cpu')
                      if args.device == 'auto' else args.device)

torch.manual_seed(args.seed)
data = load_dataset('ogbn-arxiv', root=args.root)  # Undirected, OGB split.
evaluator = get_evaluator(data)

# The GAS paper's hyperparameters (also `pyg-gas train`'s presets):
if args.model == 'gcn':
    model = GCN(data.num_nodes, data.num_features, hidden_channels=256,
                out_channels=data.num_classes, num_layers=3, dropout=0.5,
                drop_input=False, batch_norm=True)
    num_parts, batch_size, lr, epochs = 80, 40, 0.01, 300
else:
    model = GCN2(data.num_nodes, data.num_features, hidden_channels=256,
                 out_channels=data.num_classes, num_layers=4, alpha=0.2,
                 theta=0.5, shared_weights=True, dropout=0.3,
                 drop_input=False, batch_norm=True)
    num_parts, batch_size, lr, epochs = 40, 20, 0.01, 500
num_parts = args.num_parts or num_parts
batch_size = args.batch_size or batch_size
epochs = args.epochs or epochs

data = model.transform(data)  # GCN normalization on the whole graph.
perm, ptr = metis(data, num_parts=num_parts)  # Cluster i: perm[ptr[i]:...].
data = permute(data, perm)  # Each cluster is now one contiguous range.
train_loader = SubgraphLoader(data, ptr, batch_size=batch_size, shuffle=True)
eval_loader = EvalSubgraphLoader(  # Shares the training loader's graph.
    data, ptr, batch_size=batch_size, collater=train_loader.collater)

model = model.to(device)
optimizer = torch.optim.Adam(model.param_groups(), lr=lr)  # No decay.


def train() -> float:
    model.train()
    total_loss = total_examples = 0
    for batch in train_loader:
        batch = batch.to(device)
        bs = batch.batch_size  # Rows [0, bs) are in-batch, the rest halo.
        optimizer.zero_grad()
        out = model(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                    batch.count)  # [bs, num_classes]
        mask = batch.train_mask[:bs]
        if int(mask.sum()) == 0:
            continue
        loss = F.cross_entropy(out[mask], batch.y[:bs][mask])
        loss.backward()
        optimizer.step()
        total_loss += float(loss.detach()) * int(mask.sum())
        total_examples += int(mask.sum())
    return total_loss / max(total_examples, 1)


@torch.no_grad()
def test() -> list:
    out = model.inference(eval_loader).cpu()  # Exact, layer by layer.
    pred = out.argmax(dim=-1, keepdim=True)  # [num_nodes, 1]
    y = data.y.view(-1, 1)  # [num_nodes, 1]
    return [
        evaluator.eval({'y_true': y[mask], 'y_pred': pred[mask]})['acc']
        for mask in (data.train_mask, data.val_mask, data.test_mask)
    ]


best_val = test_acc = 0.0
for epoch in tqdm(range(1, epochs + 1), desc=args.model):
    loss = train()
    train_acc, val_acc, tmp_test_acc = test()
    if val_acc > best_val:
        best_val, test_acc = val_acc, tmp_test_acc
    tqdm.write(f'Epoch: {epoch:03d}, Loss: {loss:.4f}, Val: {val_acc:.4f}, '
               f'Test: {tmp_test_acc:.4f}')
print(f'Best val: {best_val:.4f}, test at best val: {test_acc:.4f}')
