"""Redraw latency of the facade painter (notebook 07): one edit → the new photo on the canvas, on the CPU.

A redraw is everything the kernel does after a stroke: the label map → G's input (palette colours, [-1, 1]),
G in eval mode (the paper's U-Net, ngf 64, 6/7/8 levels at 64²/128²/256²), the photo → uint8, the zoom to the
canvas and ``put_image_data`` (serialising the canvas message). It is timed through the widget itself
(``PainterApp.render_now`` after a rectangle), interleaved with the baseline — a bare ``G(x)`` forward in
``torch.inference_mode`` on the same input, the floor any painter pays — in the same process, so machine load
hits both alike. Medians of ``--repeats`` redraws; the ratio redraw / forward is the painter's own overhead.
Both precisions of :class:`~dipnb.pix2pix.painter.PhotoRenderer` are timed: ``fp32`` (the default) and ``bf16``
(a bfloat16 channels-last copy of G; the column "max Δ" is its largest difference from fp32, in uint8 levels).
Target: ≤ 150 ms per redraw at 256² on 2 cores. On a busy machine wall-clock times are inflated by the other
processes; the CPU time of the redraw (``time.process_time``, all threads of this process) is printed beside it:
with 1 thread it is what the redraw takes on a quiet core.

    python benchmarks/painter.py [--sizes 64 128 256] [--threads 1 2] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dipnb.pix2pix.nets import UNetGenerator, init_weights
from dipnb.widgets.painter import PainterApp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--ngf", type=int, default=64)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available by default; U-Net ngf {args.ngf}")
    print("| size | threads | G forward fp32 (median ms) | redraw fp32 (ms) | redraw / forward | redraw bf16 (ms) "
          "| CPU time fp32 / bf16 (ms) | bf16 max Δ (uint8) | ≤ 150 ms (wall) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        torch.manual_seed(0)
        G = init_weights(UNetGenerator(size=size, ngf=args.ngf)).eval()
        apps = {p: PainterApp(G, size=size, display_size=2 * size, debounce=0, precision=p) for p in ("fp32", "bf16")}
        for threads in args.threads:
            torch.set_num_threads(threads)
            fwd, redraw, cpu = [], {p: [] for p in apps}, {p: [] for p in apps}
            delta = 0
            for i in range(args.repeats + 2):  # 2 warm-up rounds
                x = apps["fp32"].state.model_input()
                t0 = time.perf_counter()
                with torch.inference_mode():
                    G(x)
                if i >= 2:
                    fwd.append(time.perf_counter() - t0)
                for p, app in apps.items():
                    app.state.rectangle(i % size, 0, size // 2, size // 3, 2 + i % 9)  # an edit, as a stroke would
                    t2, c2 = time.perf_counter(), time.process_time()
                    app.render_now()
                    if i >= 2:
                        redraw[p].append(time.perf_counter() - t2)
                        cpu[p].append(time.process_time() - c2)
                delta = max(delta, int(abs(apps["fp32"].photo.astype(int) - apps["bf16"].photo.astype(int)).max()))
            f = 1000 * statistics.median(fwd)
            r32, r16 = (1000 * statistics.median(redraw[p]) for p in ("fp32", "bf16"))
            c32, c16 = (1000 * statistics.median(cpu[p]) for p in ("fp32", "bf16"))
            ok = f"fp32 {'yes' if r32 <= 150 else 'no'}, bf16 {'yes' if r16 <= 150 else 'no'}"
            print(f"| {size}² | {threads} | {f:.0f} | {r32:.0f} | {r32 / f:.2f} | {r16:.0f} | {c32:.0f} / {c16:.0f} | "
                  f"{delta} | {ok} |", flush=True)

if __name__ == "__main__":
    main()
