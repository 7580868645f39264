"""One pix2pix GAN training step at 256², batch 1: dipnb's GANTask vs the anchor's step, in the same run.

The anchor (:mod:`dipnb.pix2pix.reference`) is a faithful re-creation of junyanz/pytorch-CycleGAN-and-pix2pix (``networks.py``:
UnetGenerator/UnetSkipConnectionBlock with in-place LeakyReLU, NLayerDiscriminator, GANLoss with registered
label buffers; ``pix2pix_model.optimize_parameters``: forward G; D on fake.detach() and real, backward D, step;
freeze D; D on fake, G loss = GAN + 100·L1, backward, step), with the repo's ``zero_grad()``.

Both are timed alternately (A, B, A, B, …) after warm-up, so machine load hits them alike; the median step time
is reported with images/s and the ratio dipnb/anchor (target: ≤ 1.3). dipnb is measured in the contiguous
(NCHW) layout and in channels-last.

    python benchmarks/gan_step.py [--size 256] [--steps 6] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dipnb.config import TrainConfig
from dipnb.pix2pix.reference import AnchorPix2Pix
from dipnb.pix2pix.tasks import GANTask


# ------------------------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=6, help="timed steps per variant (after 2 warm-up steps)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", default="off", choices=["auto", "off", "bf16", "fp16"],
                    help="dipnb's mixed precision (on CUDA; the anchor stays fp32)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    x = torch.rand(1, 3, args.size, args.size, device=dev) * 2 - 1
    y = torch.rand(1, 3, args.size, args.size, device=dev) * 2 - 1

    anchor = AnchorPix2Pix(args.size, dev)

    def step_anchor():
        anchor.set_input(x, y)
        anchor.optimize_parameters()

    variants = {"anchor (junyanz)": step_anchor}
    for cl in (False, True):
        cfg = TrainConfig(model="unet", gan=True, size=args.size, batch_size=1, epochs=100, decay_epochs=100,
                          amp=args.amp, channels_last=cl)
        task = GANTask(cfg, dev)
        variants[f"dipnb GANTask{' channels-last' if cl else ''}"] = (
            lambda t=task: t.fit_batch(x, y))

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(2):  # warm-up
        for f in variants.values():
            f()
    sync()
    for _ in range(args.steps):
        for name, f in variants.items():
            t0 = time.perf_counter()
            f()
            sync()
            times[name].append(time.perf_counter() - t0)

    base = statistics.median(times["anchor (junyanz)"])
    print(f"pix2pix GAN step, {args.size}², batch 1, {dev}, {torch.get_num_threads()} thread(s), "
          f"median of {args.steps} steps")
    print(f"{'variant':32s} {'s/step':>8s} {'images/s':>9s} {'ratio vs anchor':>16s}")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{name:32s} {m:8.3f} {1 / m:9.2f} {m / base:16.2f}×")


if __name__ == "__main__":
    main()
