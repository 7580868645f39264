"""Redraw latency of the facade painter (notebook 07): one edit → the new photo on the canvas, on the CPU.

A redraw is everything the kernel does after a stroke: the label map → G's input (palette colours, [-1, 1]),
G in eval mode (the paper's U-Net, ngf 64, 6/7/8 levels at 64²/128²/256²), the photo → uint8, the zoom to the
canvas and ``put_image_data`` (serialising the canvas message). It is timed through the widget itself
(``PainterApp.render_now`` after a rectangle), interleaved with the baseline — a bare ``G(x)`` forward in
``torch.inference_mode`` on the same input, the floor any painter pays — in the same process, so machine load
hits both alike. Medians of ``--repeats`` redraws; the ratio redraw / forward is the painter's own overhead.
Target: ≤ 150 ms per redraw at 256² on 2 cores.

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
    print("| size | threads | G forward (median ms) | painter redraw (median ms) | redraw / forward | ≤ 150 ms |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        torch.manual_seed(0)
        G = init_weights(UNetGenerator(size=size, ngf=args.ngf)).eval()
        app = PainterApp(G, size=size, display_size=2 * size, debounce=0)
        for threads in args.threads:
            torch.set_num_threads(threads)
            fwd, redraw = [], []
            for i in range(args.repeats + 2):  # 2 warm-up rounds
                x = app.state.model_input()
                t0 = time.perf_counter()
                with torch.inference_mode():
                    G(x)
                t1 = time.perf_counter()
                app.state.rectangle(i % size, 0, size // 2, size // 3, 2 + i % 9)  # an edit, as a stroke would
                t2 = time.perf_counter()
                app.render_now()
                t3 = time.perf_counter()
                if i >= 2:
                    fwd.append(t1 - t0)
                    redraw.append(t3 - t2)
            f, r = 1000 * statistics.median(fwd), 1000 * statistics.median(redraw)
            ok = "yes" if r <= 150 else "no"
            print(f"| {size}² | {threads} | {f:.0f} | {r:.0f} | {r / f:.2f} | {ok} |", flush=True)


if __name__ == "__main__":
    main()
