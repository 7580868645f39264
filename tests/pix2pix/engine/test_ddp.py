"""``torchrun --nproc_per_node=2`` (gloo, CPU) against what one process computes on the same global batches.

Exact equality with a single process training on the global batch cannot hold with BatchNorm: each DDP rank
normalises with the statistics of its own shard (torch's SyncBatchNorm, which would share them, has no CPU
kernel). What DDP must compute instead is a "ghost-batch" step: the global batch split into the ranks' shards,
BatchNorm per shard, the gradient averaged over shards, one Adam step. This test recomputes that in a single
process, from the trainer's own batch plan (:func:`epoch_batches`), and checks the DDP checkpoint against it:
weights, Adam moments (which would expose a wrong gradient scale), BatchNorm running statistics (rank 0's, as
broadcast at the end of the epoch), the logged train loss and the val L1. Both sides run with one torch thread:
with 1 thread the results have been bit-identical; the tolerances only allow for the all-reduce summing in another
order. (With different thread counts they are not: tiny round-off differences flip the sign of near-zero
gradients, and Adam's first steps, ≈ lr·sign(g), turn those into 1e-3 differences.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dipnb.config import seed_everything
from dipnb.pix2pix.datasets import PairedImageDataset
from dipnb.pix2pix.engine import load_checkpoint
from dipnb.pix2pix.nets import FCN
from dipnb.pix2pix.runtime import epoch_batches

from conftest import make_pairs  # noqa: E402  (tests/conftest.py: the shared tiny dataset)

ROOT = Path(__file__).resolve().parents[3]
SEED, SIZE, BATCH, STEPS, WORLD = 3, 32, 4, 2, 2


def reference(data: Path) -> tuple[FCN, torch.optim.Adam, float, float]:
    """One epoch of ``STEPS`` ghost-batch steps in one process; returns G, its optimiser, train L1, val L1."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the torchrun ranks (OMP_NUM_THREADS=1)
    try:
        return _reference(data)
    finally:
        torch.set_num_threads(threads)


def _reference(data: Path) -> tuple[FCN, torch.optim.Adam, float, float]:
    seed_everything(SEED)
    G = FCN()
    opt = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=True)  # as L1Task
    ds = PairedImageDataset(data, "train", "AtoB", SIZE, augment=True, seed=SEED)
    ds.set_epoch(0)
    G.train()
    losses = []
    for batch in epoch_batches(len(ds), BATCH, SEED, 0, max_steps=STEPS):
        shards = [batch[r * BATCH // WORLD:(r + 1) * BATCH // WORLD] for r in range(WORLD)]
        opt.zero_grad(set_to_none=True)
        rank0_buffers = None
        for r, shard in enumerate(shards):
            x = torch.stack([ds[i][0] for i in shard])
            y = torch.stack([ds[i][1] for i in shard])
            loss = (G(x) - y).abs().mean()
            (loss / WORLD).backward()  # DDP averages the ranks' gradients
            losses.append(loss.item())
            if r == 0:
                rank0_buffers = [b.clone() for b in G.buffers()]
        with torch.no_grad():  # rank 0's BatchNorm statistics come from rank 0's shards only
            for b, b0 in zip(G.buffers(), rank0_buffers):
                b.copy_(b0)
        opt.step()
    G.eval()
    val = PairedImageDataset(data, "val", "AtoB", SIZE, augment=False, seed=SEED)
    with torch.no_grad():
        err = sum((G(val[i][0][None]) - val[i][1][None]).abs().double().sum().item() for i in range(len(val)))
    return G, opt, sum(losses) / len(losses), err / (len(val) * 3 * SIZE * SIZE)


@pytest.mark.slow
def test_two_gloo_processes_match_the_single_process_ghost_batch_step(tmp_path):
    data = make_pairs(tmp_path / "data", n_train=8, n_val=3)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DIPNB_THREADS": "1", "DIPNB_DEVICE": "cpu"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}",
           "-m", "dipnb.pix2pix.train", "--data", str(data), "--model", "fcn", "--size", str(SIZE),
           "--epochs", "1", "--batch-size", str(BATCH), "--max-steps", str(STEPS), "--seed", str(SEED),
           "--out", str(out), "--no-progress"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert r.stdout.count("epoch 1/1") == 1  # rank 0 alone reports

    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck["world_size"] == WORLD and len(ck["rng"]) == WORLD
    G, opt, train_l1, val_l1 = reference(data)
    state = ck["models"]["G"]
    for name, ref in G.state_dict().items():
        torch.testing.assert_close(state[name], ref, rtol=1e-5, atol=1e-7, msg=f"G.{name}")
    ref_opt = opt.state_dict()["state"]
    for idx, st in ck["optimizers"]["G"]["state"].items():
        torch.testing.assert_close(st["exp_avg"], ref_opt[idx]["exp_avg"], rtol=1e-4, atol=1e-9)
        torch.testing.assert_close(st["exp_avg_sq"], ref_opt[idx]["exp_avg_sq"], rtol=1e-4, atol=1e-14)
    row = ck["history"][-1]
    assert row["train L1"] == pytest.approx(train_l1, rel=1e-5)
    assert row["val L1"] == pytest.approx(val_l1, rel=1e-4)


@pytest.mark.slow
def test_world_size_not_dividing_the_batch_is_a_clear_error(tmp_path):
    data = make_pairs(tmp_path / "data", n_train=4, n_val=1)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DIPNB_THREADS": "1", "DIPNB_DEVICE": "cpu"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "dipnb.pix2pix.train", "--data", str(data), "--size", "32", "--epochs", "1",
           "--batch-size", "3", "--out", str(tmp_path / "out"), "--no-progress"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode != 0
    assert "--batch-size 3 cannot be split over 2 processes" in r.stdout + r.stderr
