"""How many torch threads to use on a small shared machine: 1 vs 2 (vs all cores), measured.

Runs three representative workloads, each thread count in a fresh process (so that thread pools do not
interact), and prints seconds per repetition and the ratio to the 1-thread time in the same run:

* ``conv-step``  — forward + backward + Adam step of a small conv net (64², batch 8: the ci/cpu training shape)
* ``stencil``    — 200 applications of a 5-point Laplacian by slicing on 3×512×512 (the Poisson solvers' kernel)
* ``matmul``     — 512×512 float32 matrix products

Usage: ``python benchmarks/threads.py [--reps N] [--threads 1 2 ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def workload(name: str, reps: int) -> float:
    import torch
    from torch import nn

    torch.manual_seed(0)
    if name == "conv-step":
        net = nn.Sequential(
            nn.Conv2d(3, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 3, 4, 2, 1), nn.Tanh(),
        )
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        x, y = torch.randn(8, 3, 64, 64), torch.randn(8, 3, 64, 64)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            (net(x) - y).abs().mean().backward()
            opt.step()
    elif name == "stencil":
        f = torch.rand(3, 512, 512)

        def step() -> None:
            g = f
            for _ in range(200):
                lap = torch.zeros_like(g)
                lap[:, 1:-1, 1:-1] = (4 * g[:, 1:-1, 1:-1] - g[:, :-2, 1:-1] - g[:, 2:, 1:-1]
                                      - g[:, 1:-1, :-2] - g[:, 1:-1, 2:])
                g = g - 0.1 * lap
    elif name == "matmul":
        a, b = torch.rand(512, 512), torch.rand(512, 512)

        def step() -> None:
            for _ in range(20):
                a @ b
    else:
        raise ValueError(name)
    step()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]  # median


def child(threads: int, reps: int) -> None:
    import torch

    torch.set_num_threads(threads)
    out = {name: workload(name, reps) for name in ("conv-step", "stencil", "matmul")}
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=sorted({1, 2, os.cpu_count() or 1}))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.reps)
        return
    results = {}
    for n in args.threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n))
        proc = subprocess.run([sys.executable, __file__, "--child", str(n), "--reps", str(args.reps)],
                              capture_output=True, text=True, env=env, check=True)
        results[n] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{os.cpu_count()} cores; median seconds per repetition ({args.reps} reps), ratio to 1 thread")
    print(f"{'workload':<12}" + "".join(f"{f'{n} thr':>16}" for n in results))
    for name in results[args.threads[0]]:
        base = results[args.threads[0]][name]
        cells = "".join(f"{results[n][name]:>9.4f} ({results[n][name] / base:4.2f}x)" for n in results)
        print(f"{name:<12}{cells}")


if __name__ == "__main__":
    main()
