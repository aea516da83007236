r"""Distributed GAS on 2 processes, gloo on loopback. Every test spawns its
processes with a timeout: a hang fails the test instead of blocking CI."""
import os
import subprocess
import sys
import time

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
import torch_geometric.transforms as T

from pyg_gas import EvalSubgraphLoader, metis, permute
from pyg_gas.datasets import load_dataset
from pyg_gas.distributed import (
    DistributedGAS,
    DistributedSubgraphLoader,
    init_distributed,
    load_checkpoint,
    save_checkpoint,
    shard_graph,
    spawn,
)
from pyg_gas.nn.models import GAT, GCN, GCN2
from pyg_gas.nn.models.gcn import gcn_normalize
from pyg_gas.train import TrainConfig, launch, run, run_distributed
from pyg_gas.utils import to_adj_t

TIMEOUT = 240  # Seconds per spawned run; a hang fails the test.

# (name, class, kwargs): one model per path (plain, initial residual state
# and edge_index attention, batch norm, bfloat16 histories, clusters split
# into ranges of at most 300 in-edges).
MODELS = [
    ('gcn', GCN, dict()),
    ('gcn-split', GCN, dict()),
    ('gcn-bn', GCN, dict(batch_norm=True)),
    ('gcn-bf16', GCN, dict(history_dtype=torch.bfloat16)),
    ('gcn2', GCN2, dict(alpha=0.1, theta=0.5)),
    ('gat', GAT, dict(heads=2)),
]


def _cora(cache_dir, num_parts):
    data = T.NormalizeFeatures()(load_dataset('cora'))
    perm, ptr = metis(data, num_parts, seed=0, cache_dir=cache_dir,
                      log=False)
    return permute(data, perm), ptr


def _train_steps(gas, loader, epochs):
    optimizer = torch.optim.Adam(gas.parameters(), lr=0.01)
    steps = 0
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        gas.train()
        for batch in loader:
            optimizer.zero_grad()
            bs = batch.batch_size
            out = gas(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                      batch.count)
            F.cross_entropy(out, batch.y[:bs]).backward()
            optimizer.step()
            steps += 1
    return steps


def _exactness_worker(cache_dir):
    rank, world_size = init_distributed()
    # 5 parts: rank 0 owns 2, rank 1 owns 3, so the ranks have unequal
    # numbers of batches and the shorter one pads its epochs.
    data, ptr = _cora(cache_dir, 5)
    results = {}
    for name, cls, kwargs in MODELS:
        torch.manual_seed(rank)  # Different on purpose: DDP syncs rank 0's.
        full = cls(data.num_nodes, data.num_features, 16, 7, num_layers=3,
                   **kwargs)
        graph = full.transform(data)
        shard = shard_graph(graph, ptr, rank, world_size)
        model = cls(shard.num_nodes, data.num_features, 16, 7, num_layers=3,
                    **kwargs)
        gas = DistributedGAS(model, shard, sync_every=1)
        loader = DistributedSubgraphLoader(
            shard, batch_size=1, seed=0,
            max_cluster_edges=300 if name == 'gcn-split' else None)
        steps = _train_steps(gas, loader, epochs=2)

        # Single-process model with the same parameters, on the whole graph:
        state = {k: v for k, v in model.state_dict().items()
                 if not k.startswith('histories.')}
        gas.sync_buffers()
        full.load_state_dict(state, strict=False)
        full.eval()
        with torch.no_grad():
            expected = full(graph.x, to_adj_t(graph.edge_index,
                                              graph.num_nodes,
                                              graph.get('edge_weight')))
        single = full.inference(EvalSubgraphLoader(graph, ptr, 2))

        for history in model.histories:  # Garbage: inference must not care.
            history.emb.normal_()
        out = gas.inference(loader.eval_loader(batch_size=1))
        start, end = shard.node_range
        err_inference = float((out - single[start:end]).abs().max())
        err_full = float((out - expected[start:end]).abs().max())

        # After inference, every eval-mode mini-batch forward is exact:
        gas.eval()
        err_batch, num_rows = 0.0, 0
        gid = shard.global_id()
        with torch.no_grad():
            for batch in loader:
                bs = batch.batch_size
                out = gas(batch.x, batch.adj_t, bs, batch.n_id, batch.offset,
                          batch.count)
                ref = expected[gid[batch.n_id[:bs]]]
                err_batch = max(err_batch, float((out - ref).abs().max()))
                num_rows += bs

        checksum = torch.stack([p.detach().double().sum()
                                for p in model.parameters()])
        sums = [torch.zeros_like(checksum) for _ in range(world_size)]
        dist.all_gather(sums, checksum)
        results[name] = dict(
            scale=float(expected.abs().max()),
            err_inference=err_inference, err_full=err_full,
            err_batch=err_batch, steps=steps, num_rows=num_rows,
            own_batches=loader.num_own_batches,
            params_equal=all(torch.equal(s, sums[0]) for s in sums))
    return results


def test_exactness_and_uneven_parts(tmp_path):
    results = spawn(_exactness_worker, 2, (str(tmp_path), ),
                    timeout_s=TIMEOUT)
    for rank, result in enumerate(results):
        for name, res in result.items():
            bf16 = name == 'gcn-bf16'
            # Distributed inference equals single-process inference, even
            # with bfloat16 histories (same casts at the same points):
            assert res['err_inference'] <= 1e-5, (rank, name, res)
            # ...and the full-graph forward, as do the mini-batches:
            assert res['scale'] > 1e-2  # Outputs that are not all ~0.
            tol = 5e-3 if bf16 else 1e-5
            assert res['err_full'] <= tol, (rank, name, res)
            assert res['err_batch'] <= tol, (rank, name, res)
            assert res['params_equal'], (rank, name)
            # Rank 0 owns 2 clusters, rank 1 owns 3: both run 3 steps per
            # epoch, or as many as the rank with more split ranges.
            if name == 'gcn-split':
                assert res['own_batches'] > [2, 3][rank]
                most = max(r[name]['own_batches'] for r in results)
                assert res['steps'] == 2 * most
            else:
                assert res['own_batches'] == [2, 3][rank]
                assert res['steps'] == 2 * 3
            assert res['num_rows'] > 0


def _train_worker(configs):
    init_distributed()
    return [run_distributed(config) for config in configs]


@pytest.mark.slow
def test_cora_accuracy(tmp_path):
    # 2 ranks train GCN on Cora to the accuracy of one process (3 seeds,
    # 200 epochs each).
    seeds = [0, 1, 2]
    common = dict(dataset='cora', model='gcn', progress=False, quiet=True,
                  cache_dir=str(tmp_path), device='cpu')
    single = [run(TrainConfig(seed=s, **common)) for s in seeds]
    # 'batch_size' counts clusters per rank: 5 on each of 2 ranks is the
    # single-process run's global batch of 10 clusters, 4 steps per epoch.
    configs = [TrainConfig(seed=s, nproc=2, batch_size=5, **common)
               for s in seeds]
    dist_runs = spawn(_train_worker, 2, (configs, ), timeout_s=TIMEOUT)[0]
    acc_single = sum(r['test_acc'] for r in single) / len(seeds)
    acc_dist = sum(r['test_acc'] for r in dist_runs) / len(seeds)
    print(f'Cora GCN test accuracy over {len(seeds)} seeds: '
          f'single {acc_single:.4f}, 2 ranks {acc_dist:.4f}')
    assert abs(acc_dist - acc_single) <= 0.01
    assert acc_dist >= 0.77


def test_cora_bytes(tmp_path):
    common = dict(dataset='cora', model='gcn', progress=False, quiet=True,
                  cache_dir=str(tmp_path), device='cpu', nproc=2,
                  batch_size=5, epochs=2, seed=0)
    configs = [TrainConfig(**common),
               TrainConfig(**dict(common, sync_every=2))]
    results = spawn(_train_worker, 2, (configs, ), timeout_s=TIMEOUT)
    run0, run1 = results[0]
    # Bytes: every step exchanges the boundary rows of the one history
    # (16 float32 values and one int64 step each), from both ranks.
    per_exchange = sum(run0['boundary_rows_per_rank']) * (16 * 4 + 8)
    assert run0['bytes_per_epoch'] == run0['steps_per_epoch'] * per_exchange
    assert run0['inference_bytes'] == per_exchange  # Once, between layers.
    # sync_every=2 halves them (4 steps per epoch, 2 exchanges):
    assert run0['steps_per_epoch'] == run1['steps_per_epoch'] == 4
    assert run1['bytes_per_epoch'] == 2 * per_exchange
    assert run0['halo_rows_per_rank'] == run0['boundary_rows_per_rank'][::-1]
    assert run0['nproc'] == 2 and len(run0['peak_memory_bytes_per_rank']) == 2
    # Rank 1 returns the same, agreed numbers:
    assert results[1][0]['test_acc'] == run0['test_acc']
    assert results[1][0]['bytes_per_epoch'] == run0['bytes_per_epoch']


def _checkpoint_worker(cache_dir, ckpt):
    init_distributed()
    common = dict(dataset='cora', model='gcn', progress=False, seed=3,
                  device='cpu',
                  cache_dir=cache_dir)
    straight = run_distributed(TrainConfig(epochs=4, **common))
    first = run_distributed(TrainConfig(epochs=2, checkpoint=ckpt, **common))
    resumed = run_distributed(TrainConfig(epochs=4, checkpoint=ckpt,
                                          **common))
    return straight, first, resumed


def _load_worker(cache_dir, ckpt):
    rank, world_size = init_distributed()
    data, ptr = _cora(cache_dir, 40)
    shard = shard_graph(data, ptr, rank, world_size)
    gas = DistributedGAS(GCN(shard.num_nodes, data.num_features, 16, 7, 2),
                         shard)
    try:
        load_checkpoint(ckpt, gas)
    except ValueError as e:
        return str(e)
    return None


def test_checkpoint_resumes_exactly(tmp_path):
    ckpt = str(tmp_path / 'ckpt')
    straight, first, resumed = spawn(
        _checkpoint_worker, 2, (str(tmp_path), ckpt), timeout_s=TIMEOUT)[0]
    assert first['final_loss'] != straight['final_loss']
    # The resumed run trains epochs 3 and 4 only, and ends where the
    # uninterrupted run did: same parameters, histories, optimizer and
    # random state.
    assert resumed['final_loss'] == straight['final_loss']
    assert resumed['best_val_acc'] == straight['best_val_acc']
    assert sorted(os.listdir(ckpt)) == ['rank00000-of-00002.pt',
                                        'rank00001-of-00002.pt']
    # A world size that does not match the checkpoint is refused:
    (message, ) = spawn(_load_worker, 1, (str(tmp_path), ckpt),
                        timeout_s=TIMEOUT)
    assert message is not None and 'written by [2] ranks' in message
    assert 'this run has 1' in message


def _save_load_worker(cache_dir, ckpt):
    rank, world_size = init_distributed()
    data, ptr = _cora(cache_dir, 4)
    graph = gcn_normalize(data)
    shard = shard_graph(graph, ptr, rank, world_size)
    gas = DistributedGAS(GCN(shard.num_nodes, data.num_features, 16, 7, 3),
                         shard)
    loader = DistributedSubgraphLoader(shard, batch_size=1)
    _train_steps(gas, loader, epochs=1)
    save_checkpoint(ckpt, gas, epoch=1)
    saved = {k: v.clone() for k, v in gas.model.state_dict().items()}
    _train_steps(gas, loader, epochs=1)
    extra = load_checkpoint(ckpt, gas)
    state = gas.model.state_dict()
    return extra, all(torch.equal(saved[k], state[k]) for k in saved), \
        int(state['histories.0.last_step'].max())


def test_checkpoint_round_trip(tmp_path):
    ckpt = str(tmp_path / 'ckpt')
    for extra, equal, last_step in spawn(_save_load_worker, 2,
                                         (str(tmp_path), ckpt),
                                         timeout_s=TIMEOUT):
        assert extra == {'epoch': 1}
        assert equal  # Parameters and this rank's histories.
        assert last_step == 2  # One epoch of 2 steps before saving.


def _hang_worker():
    rank, _ = init_distributed()
    if rank == 0:  # Rank 1 never joins: the collective can not complete.
        dist.all_reduce(torch.zeros(1))
    else:
        time.sleep(3600)


def test_hang_fails_within_timeout():
    t = time.monotonic()
    with pytest.raises(TimeoutError, match='did not finish within 15'):
        spawn(_hang_worker, 2, timeout_s=15)
    assert time.monotonic() - t < 60


def _raise_worker():
    init_distributed()
    raise ValueError('bad configuration on purpose')


def test_failure_carries_the_traceback():
    with pytest.raises(RuntimeError, match='bad configuration on purpose'):
        spawn(_raise_worker, 2, timeout_s=TIMEOUT)


def test_bad_configuration():
    # More ranks than parts fails before any process starts:
    with pytest.raises(ValueError, match=r'world size \(4\) must be at most '
                       r'the number of parts \(3\)'):
        launch(TrainConfig(nproc=4, num_parts=3, progress=False))
    with pytest.raises(ValueError, match="runs the 'gas' loader"):
        launch(TrainConfig(nproc=2, loader='cluster', progress=False))
    with pytest.raises(ValueError, match="'sync_every' must be at least 1"):
        run(TrainConfig(nproc=2, sync_every=0, progress=False))


def test_example_runs():
    script = os.path.join(os.path.dirname(__file__), '..', '..', 'examples',
                          'distributed_gas.py')
    proc = subprocess.run([sys.executable, script, '--nproc', '2',
                           '--epochs', '20'], capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith('Test accuracy at best validation: ')
    assert float(line.split(': ')[1].split(';')[0]) >= 0.6  # 20 epochs.
