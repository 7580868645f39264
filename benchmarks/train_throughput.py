"""Images/s of FCN training (the student solution's network, the course template's loop): dipnb's Trainer vs a faithful re-creation of the course's training loop.

    .venv/bin/python benchmarks/train_throughput.py [--size 256 --batch 8 --steps 4 --warmup 1 --threads N]

Both loops train the same network (:class:`dipnb.pix2pix.nets.FCN`, 16.7 M parameters) with L1 and
Adam(1e-3, β1 0.5) on the same data (real facades when present, else the synthetic set), at the same size and
batch, for the same number of optimiser steps, in the same process (same torch thread count).

*Course loop* (YudongGuo/DIP-Teaching, Assignments/02 Pix2Pix ``train.py`` + ``facades_dataset.py``, re-created):
a Dataset that ``cv2.imread``s (BGR) and converts each file on every access, ``DataLoader(shuffle=True,
num_workers=4)``, ``optimizer.zero_grad()``, a ``print`` per step (redirected to a text log file, as a
``python train.py > log.txt`` run), sample PNGs via cv2 on the first step of the epoch.

*dipnb*: :class:`dipnb.pix2pix.engine.Trainer` — images decoded once into memory (uint8), no workers,
``zero_grad(set_to_none=True)``, channels-last tensors (``--no-channels-last`` to compare), per-epoch logging,
history.csv, checkpoint and a sample grid. Augmentation is off (the course has none) so both do the same work.

Throughput is measured after ``--warmup`` steps (steady state); one-off costs (worker start-up, decoding the
dataset into memory, checkpoint writing) are printed separately. Both wall-clock and CPU-time figures are
printed: on a shared machine wall-clock swings with other load, while CPU seconds (with 1 thread: the main
process, plus for the course the decoding its workers do per step, measured separately) measure the work. Finally one training step is timed with 1 and 2 threads.

*Compute ceiling*: the floating-point operations of one training step are counted with torch's own
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products, forward and backward) and
divided by the best rate a large matrix product reaches on this CPU with the same thread count (float32,
bfloat16 and float16 are all tried; the fastest counts). That time is a lower bound for any implementation that
computes these convolutions directly (fast-convolution algorithms such as Winograd's trade multiplications for
transforms and are not what PyTorch's CPU kernels run for 4×4 stride-2 layers), so ``course time / ceiling time``
is the largest speed-up over the course loop that a faster training loop could show here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dipnb.pix2pix.nets import FCN  # noqa: E402
from dipnb.config import TrainConfig  # noqa: E402
from dipnb.pix2pix.engine import Trainer  # noqa: E402


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads)."""
    t = os.times()
    return t.user + t.system


def find_data(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("DIPNB_FACADES_DIR")
    for c in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "datasets" / "facades"]:
        if (c / "train").is_dir():
            return c
    from dipnb.pix2pix.datasets.registry import resolve_dataset

    return resolve_dataset("facades")


# ------------------------------------------------------------------------------------------------
# The course's loop, re-created
# ------------------------------------------------------------------------------------------------
class CourseFacadesDataset(torch.utils.data.Dataset):
    """As the course's ``facades_dataset.py``: decode with cv2 (BGR) on every access, split the halves."""

    def __init__(self, files: list[str]) -> None:
        self.image_filenames = files

    def __len__(self) -> int:
        return len(self.image_filenames)

    def __getitem__(self, idx: int):
        import cv2

        img_color_semantic = cv2.imread(self.image_filenames[idx])
        image = torch.from_numpy(img_color_semantic).permute(2, 0, 1).float() / 255.0 * 2.0 - 1.0
        return image[:, :, :256], image[:, :, 256:]


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    image = np.transpose(tensor.cpu().detach().numpy(), (1, 2, 0))
    return (((image + 1) / 2) * 255).astype(np.uint8)


def course_loop(files: list[str], size: int, batch: int, steps: int, warmup: int, workers: int,
                out: Path) -> dict[str, float]:
    import cv2

    if size != 256:
        raise SystemExit("the course loop reads the facades at their native 256² (run with --size 256)")
    torch.manual_seed(0)
    device = torch.device("cpu")
    model = FCN().to(device)
    criterion = nn.L1Loss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, betas=(0.5, 0.999))
    loader = torch.utils.data.DataLoader(CourseFacadesDataset(files), batch_size=batch, shuffle=True,
                                         num_workers=workers)
    log = open(out / "course_log.txt", "w")
    marks, cpu_marks = [], []
    t_start, cpu_start = time.perf_counter(), cpu_seconds()
    epoch, num_epochs = 0, 200
    model.train()
    with contextlib.redirect_stdout(log):
        for i, (image_rgb, image_semantic) in enumerate(loader):
            image_rgb, image_semantic = image_rgb.to(device), image_semantic.to(device)
            optimizer.zero_grad()
            outputs = model(image_rgb)
            if epoch % 5 == 0 and i == 0:  # the course's save_images(...) on the first step
                (out / "train_results").mkdir(exist_ok=True)
                for k in range(min(5, image_rgb.shape[0])):
                    comparison = np.hstack([tensor_to_image(t[k]) for t in (image_rgb, image_semantic, outputs)])
                    cv2.imwrite(str(out / "train_results" / f"result_{k + 1}.png"), comparison)
            loss = criterion(outputs, image_semantic)
            loss.backward()
            optimizer.step()
            print(f"Epoch [{epoch + 1}/{num_epochs}], Step [{i + 1}/{len(loader)}], Loss: {loss.item():.4f}")
            marks.append(time.perf_counter())
            cpu_marks.append(cpu_seconds())
            if i + 1 == warmup + steps:
                break
    del loader
    log.close()
    # The workers' share: in a long run they decode (and collate) exactly one batch per step. Measure that
    # work here, in this process, and add it to the main process's CPU time.
    ds = CourseFacadesDataset(files)
    c = cpu_seconds()
    for k in range(batch):
        _ = torch.utils.data.default_collate([ds[k]])
    decode = cpu_seconds() - c
    return {
        "wall": marks[-1] - marks[warmup - 1],
        "cpu": cpu_marks[-1] - cpu_marks[warmup - 1] + steps * decode,
        "decode_per_step": decode,
        "first_step": marks[0] - t_start,
    }


# ------------------------------------------------------------------------------------------------
# dipnb's trainer
# ------------------------------------------------------------------------------------------------
def dipnb_loop(data: Path, size: int, batch: int, steps: int, warmup: int, channels_last: bool,
               out: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    cfg = TrainConfig(data=str(data), model="fcn", size=size, batch_size=batch, epochs=1, max_steps=warmup + steps,
                      augment=False, val_limit=batch, channels_last=channels_last, seed=0)
    trainer = Trainer(cfg, out, overwrite=True, progress=False, verbose=False, plot=False)
    t_built = time.perf_counter()
    cpu_marks: list[float] = []
    real_step = trainer.task.train_step

    def timed_step(inp, tgt):  # record CPU time per step (the trainer records wall-clock marks itself)
        r = real_step(inp, tgt)
        cpu_marks.append(cpu_seconds())
        return r

    trainer.task.train_step = timed_step
    t_fit = time.perf_counter()
    trainer.fit()
    t_end = time.perf_counter()
    marks = trainer.step_times
    return {
        "wall": marks[-1] - marks[warmup - 1],
        "cpu": cpu_marks[-1] - cpu_marks[warmup - 1],
        "decode": t_built - t0,
        "epoch_end": t_end - marks[-1],  # validation + samples + history + checkpoint
        "first_step": marks[0] - t_fit,
    }


def thread_step(size: int, batch: int, threads: int) -> tuple[float, float]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = FCN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.999))
    x, y = torch.randn(batch, 3, size, size), torch.rand(batch, 3, size, size) * 2 - 1
    times = []
    for _ in range(2):  # warm-up, then the measured step
        t, c = time.perf_counter(), cpu_seconds()
        opt.zero_grad(set_to_none=True)
        (model(x) - y).abs().mean().backward()
        opt.step()
        times.append((time.perf_counter() - t, cpu_seconds() - c))
    return times[-1]


def step_flops(size: int, batch: int) -> int:
    """FLOPs of one FCN training step (forward + backward) at size² and this batch, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    model = FCN()
    x, y = torch.randn(batch, 3, size, size), torch.rand(batch, 3, size, size) * 2 - 1
    with FlopCounterMode(display=False) as counter:
        (model(x) - y).abs().mean().backward()
    return int(counter.get_total_flops())


def matmul_rates(n: int = 2048, repeats: int = 4) -> dict[str, float]:
    """Best FLOP/s of an n×n @ n×n product per dtype with the current thread count (2n³ FLOPs each)."""
    rates = {}
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
        rates[str(dtype).removeprefix("torch.")] = 2 * n**3 / best
    return rates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="pix2pix-format folder (default: real facades, else synthetic)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=4, help="measured steps per loop")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for both loops (default 1: CPU seconds then measure work, not spinning)")
    p.add_argument("--course-workers", type=int, default=4, help="the course's DataLoader num_workers")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--skip-threads", action="store_true", help="skip the 1-vs-2-thread step comparison")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    data = find_data(args.data)
    files = sorted(str(f) for f in (data / "train").iterdir() if f.suffix.lower() in (".jpg", ".png"))
    print(f"FCN training throughput · {args.size}², batch {args.batch} · {args.steps} measured steps after "
          f"{args.warmup} warm-up · {threads} torch thread(s) · data {data} ({len(files)} train files)")
    n_img = args.steps * args.batch
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        course = course_loop(files, args.size, args.batch, args.steps, args.warmup, args.course_workers, tmp)
        ours = dipnb_loop(data, args.size, args.batch, args.steps, args.warmup, not args.no_channels_last,
                          tmp / "dipnb")
    print(f"\n| loop | images/s (wall) | images/CPU-s | one-off costs |\n|---|---|---|---|")
    print(f"| course (cv2 every step, {args.course_workers} workers, print/step) | {n_img / course['wall']:.2f} | "
          f"{n_img / course['cpu']:.2f} | first step incl. worker start {course['first_step']:.1f} s; "
          f"decoding {course['decode_per_step']:.3f} CPU-s per step |")
    print(f"| dipnb Trainer (in memory, {'channels-last' if not args.no_channels_last else 'contiguous'}) | "
          f"{n_img / ours['wall']:.2f} | {n_img / ours['cpu']:.2f} | decode {ours['decode']:.1f} s, "
          f"epoch end (val+ckpt) {ours['epoch_end']:.1f} s |")
    print(f"\nratio dipnb / course: {course['wall'] / ours['wall']:.2f}× wall-clock, "
          f"{course['cpu'] / ours['cpu']:.2f}× CPU time")
    flops = step_flops(args.size, args.batch)
    rates = matmul_rates()
    best_dtype = max(rates, key=rates.get)
    floor = flops / rates[best_dtype]  # seconds per step at the best matrix-product rate
    per_step = {"course": course["wall"] / args.steps, "dipnb": ours["wall"] / args.steps}
    print(f"\ncompute ceiling ({threads} thread(s)): one step = {flops / 1e9:.1f} GFLOP (FlopCounterMode, fwd+bwd); "
          "matrix product rates here: " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in rates.items()))
    print(f"  at the best rate ({best_dtype}) a step needs ≥ {floor:.2f} s → at most {args.batch / floor:.2f} images/s")
    for name, t in per_step.items():
        print(f"  {name}: {t:.2f} s/step = {flops / t / 1e9:.0f} GFLOP/s, {floor / t:.0%} of the ceiling")
    print(f"  largest speed-up a direct {best_dtype} implementation could show over the course loop here: "
          f"{per_step['course'] / floor:.2f}×")
    if not args.skip_threads:
        print("\none FCN training step (after a warm-up step):")
        for t in (1, 2):
            wall, cpu = thread_step(args.size, args.batch, t)
            print(f"  {t} thread(s): {wall:.2f} s wall, {cpu:.2f} CPU-s → {args.batch / wall:.2f} images/s")
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
