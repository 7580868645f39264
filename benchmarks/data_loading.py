"""Paired-dataset costs: decode-once time and memory, and loader throughput, in memory vs from disk.

Usage: ``python benchmarks/data_loading.py [--data DIR]`` (default: ``DIPNB_FACADES_DIR`` or
``../shared/datasets/facades``, else the synthetic set). The in-memory loader is compared with decoding every
image at every step, in the same run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from train_throughput import find_data  # the same data lookup as the training benchmark (same folder)

from dipnb.pix2pix.datasets import PairedImageDataset


def pairs_per_second(ds: PairedImageDataset, batch_size: int, epochs: int = 1) -> float:
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    n, start = 0, time.perf_counter()
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        for x, _ in loader:
            n += x.shape[0]
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 64])
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = find_data(str(args.data) if args.data else None)
    print(f"data: {root}")
    for size in args.sizes:
        for augment in (True, False):
            t, c = time.perf_counter(), time.process_time()
            ds = PairedImageDataset(root, "train", size=size, augment=augment)
            print(f"{size}² augment={augment}: decoded {len(ds)} pairs once in {time.perf_counter() - t:.2f} s wall "
                  f"({time.process_time() - c:.2f} s CPU), {ds.nbytes / 2**20:.1f} MiB in memory")
        mem = pairs_per_second(PairedImageDataset(root, "train", size=size, augment=True), 8, epochs=2)
        disk = pairs_per_second(PairedImageDataset(root, "train", size=size, augment=True, in_memory=False), 8)
        print(f"  loader, batch 8, augmented: in memory {mem:.0f} pairs/s, decoding every step {disk:.0f} pairs/s "
              f"(ratio {mem / disk:.1f}x)")


if __name__ == "__main__":
    main()
