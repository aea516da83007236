r"""GCN on Cora with GNNAutoScale on several processes: every rank owns a
range of METIS clusters, the histories are sharded by owner, halo rows of
other ranks are exchanged with all_to_all, and gradients are averaged by
DistributedDataParallel.

    torchrun --nproc_per_node=2 examples/distributed_gas.py
    python examples/distributed_gas.py --nproc 2      # spawns the processes

Across machines, run torchrun on each with --nnodes, --node_rank and
--rdzv_endpoint (see docs/distributed.md).
"""
import argparse
import os
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
import torch_geometric.transforms as T

from pyg_gas import metis, permute
from pyg_gas.datasets import load_dataset
from pyg_gas.distributed import (
    DistributedGAS,
    DistributedSubgraphLoader,
    init_distributed,
    save_checkpoint,
    shard_graph,
    spawn,
)
from pyg_gas.nn.models import GCN
from pyg_gas.nn.models.gcn import gcn_normalize


def main(args: argparse.Namespace) -> float:
    rank, world_size = init_distributed()  # gloo on CPU, from torchrun's env.
    torch.manual_seed(0)
    data = T.NormalizeFeatures()(load_dataset('cora'))

    # Every rank computes the same partition (same seed); on large graphs,
    # partition once with a 'cache_dir' that every machine can read.
    perm, ptr = metis(data, num_parts=40, seed=0, log=False)
    data = permute(data, perm)
    data = gcn_normalize(data)  # Whole-graph degrees, before sharding.
    shard = shard_graph(data, ptr, rank, world_size)  # This rank's part.
    num_features, num_classes = data.num_features, data.num_classes
    del data  # From here on, a rank holds its shard only.

    model = GCN(shard.num_nodes, num_features, hidden_channels=16,
                out_channels=num_classes, num_layers=2, dropout=0.5,
                drop_input=True)  # Histories: own rows plus halo cache.
    gas = DistributedGAS(model, shard, sync_every=args.sync_every)
    # 5 clusters per rank and step: the global batch of cora_gas.py.
    loader = DistributedSubgraphLoader(shard, batch_size=5, shuffle=True)
    eval_loader = loader.eval_loader()
    optimizer = torch.optim.Adam(model.param_groups(weight_decay=5e-4),
                                 lr=0.01)
    torch.manual_seed(rank)  # Different dropout masks on every rank.

    num_owned = shard.num_owned
    y = shard.data.y[:num_owned]
    masks = [shard.data[key][:num_owned]
             for key in ('train_mask', 'val_mask', 'test_mask')]

    def train(epoch: int) -> None:
        gas.train()
        loader.set_epoch(epoch)  # Same number of steps on every rank.
        for batch in loader:
            bs = batch.batch_size
            optimizer.zero_grad()
            out = gas(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                      batch.count)  # Exchanges halos every sync_every steps.
            mask = batch.train_mask[:bs]
            # A rank without training nodes in its batch still runs the
            # backward pass, which DDP's gradient all-reduce needs:
            loss = (F.cross_entropy(out[mask], batch.y[:bs][mask])
                    if bool(mask.any()) else out.sum() * 0.0)
            loss.backward()
            optimizer.step()

    @torch.no_grad()
    def test() -> list:
        out = gas.inference(eval_loader)  # Exact; own nodes only.
        pred = out.argmax(dim=-1)
        counts = torch.tensor([[float((pred[m] == y[m]).sum()),
                                float(m.sum())] for m in masks])
        dist.all_reduce(counts)  # Over all ranks' nodes.
        return (counts[:, 0] / counts[:, 1]).tolist()

    best_val = test_acc = 0.0
    for epoch in range(1, args.epochs + 1):
        train(epoch)
        train_acc, val_acc, tmp_test_acc = test()
        if val_acc > best_val:
            best_val, test_acc = val_acc, tmp_test_acc
        if rank == 0 and epoch % 20 == 0:
            print(f'Epoch: {epoch:03d}, Train: {train_acc:.4f}, '
                  f'Val: {val_acc:.4f}, Test: {tmp_test_acc:.4f}')

    if args.checkpoint:
        save_checkpoint(args.checkpoint, gas, optimizer, epoch=args.epochs)
    sent = torch.tensor([float(gas.bytes_sent)])
    dist.all_reduce(sent)
    if rank == 0:
        print(f'Test accuracy at best validation: {test_acc:.4f}; '
              f'halo exchanges sent {sent.item() / 2**20:.1f} MiB in all')
    return test_acc


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--nproc', type=int, default=2,
                        help='processes to spawn when not under torchrun')
    parser.add_argument('--epochs', type=int, default=200)
    parser.add_argument('--sync-every', type=int, default=1)
    parser.add_argument('--checkpoint', default=None, metavar='DIR')
    args = parser.parse_args()
    if 'WORLD_SIZE' in os.environ:  # Started by torchrun.
        main(args)
    else:
        acc = spawn(main, args.nproc, (args, ), timeout_s=3600)[0]
        sys.exit(0 if acc > 0 else 1)
