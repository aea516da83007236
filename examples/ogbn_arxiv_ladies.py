r"""GCN on ogbn-arxiv trained with LADIES layer-wise importance sampling
(Zou et al., 2019) and evaluated on the whole graph. The model is the GAS
paper's arxiv GCN (3 x 256, batch norm, dropout 0.5, lr 0.01); every batch
holds 512 training nodes and samples 512 nodes per layer. Accuracy is OGB's
official metric, from ogb's :obj:`Evaluator`.

ogb reads the dataset from ROOT/ogbn_arxiv and downloads it there when it
is missing and the machine is online (docs/guide.md: OGB datasets).

    python examples/ogbn_arxiv_ladies.py --root data/ogb
"""
import argparse

import torch
import torch.nn.functional as F
from tqdm import tqdm

from pyg_gas import LADIESLoader
from pyg_gas.datasets import get_evaluator, load_dataset
from pyg_gas.nn.models import GCN
from pyg_gas.utils import to_adj_t

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument('--root', required=True, help='folder with ogbn_arxiv/')
parser.add_argument('--epochs', type=int, default=300)
parser.add_argument('--batch-size', type=int, default=512,
                    help='training nodes per batch')
parser.add_argument('--num-samples', type=int, default=512,
                    help='nodes sampled per layer')
parser.add_argument('--mode', default='ladies', choices=['ladies', 'fastgcn'])
parser.add_argument('--device', default='auto')
parser.add_argument('--seed', type=int, default=0)
args = parser.parse_args()
device = torch.device(('cuda' if torch.cuda.is_available() else 'cpu')
                      if args.device == 'auto' else args.device)

torch.manual_seed(args.seed)
data = load_dataset('ogbn-arxiv', root=args.root)  # Undirected, OGB split.
evaluator = get_evaluator(data)

model = GCN(data.num_nodes, data.num_features, hidden_channels=256,
            out_channels=data.num_classes, num_layers=3, dropout=0.5,
            drop_input=False, batch_norm=True).to(device)
# The loader computes its own normalized adjacency, and samples on CPU:
loader = LADIESLoader(data, data.train_mask, batch_size=args.batch_size,
                      num_samples=args.num_samples, num_layers=3,
                      mode=args.mode, shuffle=True, seed=args.seed)
normed = model.transform(data)  # Self-loops + GCN weights, for evaluation.
adj_t = to_adj_t(normed.edge_index, normed.num_nodes,
                 normed.edge_weight).to(device)  # [num_nodes, num_nodes]
x = data.x.to(device)
optimizer = torch.optim.Adam(model.param_groups(), lr=0.01)  # No decay.


def train() -> float:
    model.train()
    total_loss = total_examples = 0
    for batch in loader:
        batch = batch.to(device)
        bs = batch.batch_size  # Output nodes: the first bs rows.
        optimizer.zero_grad()
        out = model.forward_layerwise(batch.x, batch.adjs_t)  # [bs, C]
        loss = F.cross_entropy(out, batch.y[:bs])
        loss.backward()
        optimizer.step()
        total_loss += float(loss.detach()) * bs
        total_examples += bs
    return total_loss / max(total_examples, 1)


@torch.no_grad()
def test() -> list:
    model.eval()
    out = model(x, adj_t).cpu()  # [num_nodes, C], the whole graph.
    pred = out.argmax(dim=-1, keepdim=True)  # [num_nodes, 1]
    y = data.y.view(-1, 1)  # [num_nodes, 1]
    return [
        evaluator.eval({'y_true': y[mask], 'y_pred': pred[mask]})['acc']
        for mask in (data.train_mask, data.val_mask, data.test_mask)
    ]


best_val = test_acc = 0.0
for epoch in tqdm(range(1, args.epochs + 1), desc=args.mode):
    loss = train()
    train_acc, val_acc, tmp_test_acc = test()
    if val_acc > best_val:
        best_val, test_acc = val_acc, tmp_test_acc
    tqdm.write(f'Epoch: {epoch:03d}, Loss: {loss:.4f}, Val: {val_acc:.4f}, '
               f'Test: {tmp_test_acc:.4f}')
print(f'Best val: {best_val:.4f}, test at best val: {test_acc:.4f}')
