"""The course template's blending loop (DIP-Teaching e95e713) measured against the exact solve and what beats it.

    .venv/bin/python benchmarks/course_loop.py                 # the course's pairs (when present) + the 100² demo
    .venv/bin/python benchmarks/course_loop.py --problems demo100 --steps 5000
    DIPNB_COURSE_POISSON_DIR=../shared/datasets/course_poisson .venv/bin/python benchmarks/course_loop.py

For each problem: the exact solution of eq. 7 (MG-PCG to a relative residual of 1e-10, float64) is the yardstick;
the course's loop (``solver="adam", method="course"``: Adam lr 1e-2, 5,000 steps, lr × 0.1 after step 3,334,
Ω started at 0.9·target + 0.1·source) is run once with its error recorded every ``--every`` steps (the
bookkeeping is excluded from its time by a second, silent run when ``--time-silent``); then the fixed Adam
(300 steps, notebook 03) and MG-PCG at its default tolerance. Errors are over Ω in grey levels (0..255).
Prints one table; timings depend on the machine's load (run on a quiet machine, or read the ratios).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from dipnb.config import set_threads
from dipnb.plots import show_images
from dipnb.poisson import demo_problem, paste, seamless_clone
from dipnb.poisson.examples import COURSE_PAIRS, course_example, course_poisson_dir
from dipnb.poisson.solvers.adam import COURSE_LR, COURSE_STEPS, course_lr_drop


def problems(names: list[str]):
    for name in names:
        if name.startswith("demo"):
            s = int(name[4:])
            src, tgt, mask, off, _ = demo_problem(s)
            yield name, f"astronaut → coffee, {s}² box", (src, tgt, mask, off)
        else:
            ex = course_example(name)
            yield name, f"course {name}, {tuple(ex.source.shape[-2:])}", (ex.source, ex.target, ex.mask, ex.offset)


def measure(name: str, what: str, pb, steps: int, every: int, time_silent: bool) -> dict:
    src, tgt, mask, off = pb
    exact = seamless_clone(src.double(), tgt.double(), mask, off, solver="mgpcg", tol=1e-10)
    omega = (exact != tgt.double()).any(0)

    def err(f: torch.Tensor) -> tuple[float, float]:
        d = (f.double() - exact).abs()[:, omega] * 255
        return float(d.max()), float(d.mean())

    curve: list[tuple[int, float, float]] = []
    out, info = seamless_clone(src, tgt, mask, off, solver="adam", method="course", max_steps=steps,
                               callback=lambda k, f, loss: curve.append((k, *err(f))) and False,
                               callback_every=every, return_info=True)
    secs = info.seconds
    if time_silent:
        _, info2 = seamless_clone(src, tgt, mask, off, solver="adam", method="course", max_steps=steps,
                                  return_info=True)
        secs = info2.seconds
    fixed, info_f = seamless_clone(src, tgt, mask, off, solver="adam", return_info=True)
    t0 = time.perf_counter()
    mg, info_m = seamless_clone(src, tgt, mask, off, solver="mgpcg", return_info=True)
    t_mg = time.perf_counter() - t0
    drop = course_lr_drop(steps) + 1
    at_drop = min(curve, key=lambda c: abs(c[0] - drop))
    panels = [(paste(src, tgt, mask, off), "naive paste"),
              (out, f"course loop, {info.iterations} steps: mean error {err(out)[1]:.1f}"),
              (exact.float(), f"exact (MG-PCG, {info_m.iterations} it.)")]
    return {"panels": panels, "name": name, "what": what, "unknowns": int(omega.sum()), "steps": info.iterations,
            "lr": info.extra["lr"], "drop": info.extra["lr_drop_after"], "course": err(out), "seconds": secs,
            "at_drop": at_drop, "curve": curve, "fixed": err(fixed), "fixed_s": info_f.seconds,
            "mgpcg": err(mg), "mgpcg_s": t_mg, "mgpcg_it": info_m.iterations, "loss": info.history[-1]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--problems", nargs="+", default=None,
                   help="demoN (astronaut → coffee, N² box) and/or course pair names (default: the course's pairs "
                        "when installed, and demo100)")
    p.add_argument("--steps", type=int, default=COURSE_STEPS, help="the loop's steps (the template: 5,000)")
    p.add_argument("--every", type=int, default=250, help="record the error every N steps")
    p.add_argument("--time-silent", action="store_true", help="time a second run without the error bookkeeping")
    p.add_argument("--threads", type=int, default=int(os.environ.get("DIPNB_THREADS", "1")))
    p.add_argument("--figure", help="save naive paste | course loop | exact solve of each problem into this PNG")
    args = p.parse_args(argv)
    set_threads(args.threads)
    names = args.problems or ([*COURSE_PAIRS] if course_poisson_dir() is not None else []) + ["demo100"]
    print(f"course loop: Adam lr {COURSE_LR:g}, {args.steps} steps, lr × 0.1 after step "
          f"{course_lr_drop(args.steps) + 1}; {torch.get_num_threads()} thread(s)")
    rows = []
    for name, what, pb in problems(names):
        r = measure(name, what, pb, args.steps, args.every, args.time_silent)
        rows.append(r)
        print(f"\n{r['name']}: {r['what']}, {r['unknowns']} unknowns per channel")
        print("  course loop error (max / mean grey levels) by step: " + ", ".join(
            f"{k}: {mx:.1f}/{mn:.2f}" for k, mx, mn in r["curve"]))
        print(f"  course loop after {r['steps']} steps: max {r['course'][0]:.1f}, mean {r['course'][1]:.2f} "
              f"(at the lr drop, step {r['at_drop'][0]}: mean {r['at_drop'][2]:.2f}); final loss {r['loss']:.3e}; "
              f"{r['seconds']:.1f} s")
        print(f"  fixed Adam (300 steps): max {r['fixed'][0]:.3f}, mean {r['fixed'][1]:.4f}; {r['fixed_s']:.2f} s")
        print(f"  MG-PCG ({r['mgpcg_it']} iterations): max {r['mgpcg'][0]:.4f}, mean {r['mgpcg'][1]:.5f}; "
              f"{r['mgpcg_s']:.3f} s  → {r['seconds'] / max(r['mgpcg_s'], 1e-9):.0f}× faster than the course loop")
        sys.stdout.flush()
    if args.figure:
        ims = [im.clamp(0, 1) for r in rows for im, _ in r["panels"]]
        titles = [f"{r['name']}: {t}" for r in rows for _, t in r["panels"]]
        show_images(ims, titles, ncols=3, size=3.2, save=args.figure)
        print(f"figure: {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
