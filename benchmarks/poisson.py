"""Benchmark of the Poisson solvers: dipnb vs ``cv2.seamlessClone`` vs a scipy sparse direct solve.

    .venv/bin/python benchmarks/poisson.py            # region sizes ~100², ~300², ~800², and a 2000² target
    .venv/bin/python benchmarks/poisson.py --quick    # ~100² and ~300² only, fewer repeats
    .venv/bin/python benchmarks/poisson.py --adam     # also the Adam paths at 100² / 300²: the course template's
                                                      # loop, it with one student's stopping rule, and the fixed one

Problem: the astronaut's face (scikit-image, offline) cloned into the coffee photo (both resized) with an
irregular 14-vertex polygon whose bounding box is S×S. Errors are in 0..255 units over Ω against a float64
sparse direct solve (SuperLU) of Pérez's eq. 7, assembled from the definition independently of dipnb
(``tests/poisson/poisson_reference.py``, the tests' reference).
Times are the minimum of ``--repeat`` runs, dipnb and OpenCV interleaved, with the same thread count
(default 1): on a shared machine only ratios measured in one run mean anything.

scipy and OpenCV are benchmark/test dependencies only (the ``dev`` extra); dipnb never imports them.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# The reference solve lives with the tests (tests/poisson/poisson_reference.py), which check dipnb against it.
sys.path.insert(0, str(ROOT / "tests" / "poisson"))
from poisson_reference import reference_clone  # noqa: E402


# --------------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------------
def make_problem(S: int, target_size: int | None = None, seed: int = 0):
    """(source, target, mask, offset): a ~S×S irregular polygon of the astronaut into the coffee photo."""
    from dipnb.poisson.demo import demo_problem

    src, tgt, mask, off, _ = demo_problem(S, target_size, seed)
    return src, tgt, mask, off


def cv2_clone(src, tgt, mask, off):
    import cv2

    from dipnb.images import to_uint8

    s8 = np.ascontiguousarray(to_uint8(src)[:, :, ::-1])
    t8 = np.ascontiguousarray(to_uint8(tgt)[:, :, ::-1])
    m8 = mask.numpy().astype(np.uint8) * 255
    ys, xs = np.nonzero(m8)
    # OpenCV places the centre of the mask's bounding box at `center`
    center = (int((xs.min() + xs.max() + 1) // 2 + off[0]), int((ys.min() + ys.max() + 1) // 2 + off[1]))
    out = cv2.seamlessClone(s8, t8, m8, center, cv2.NORMAL_CLONE)
    return torch.from_numpy(np.ascontiguousarray(out[:, :, ::-1])).permute(2, 0, 1).double() / 255


def errors(x: torch.Tensor, ref: torch.Tensor, where: torch.Tensor) -> tuple[float, float]:
    d = (x.double() - ref).abs()[:, where] * 255
    return float(d.max()), float(d.mean())


def timed(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="sizes 100 and 300 only, 3 repeats")
    ap.add_argument("--adam", action="store_true", help="also time the Adam solvers (slow)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--sizes", type=str, default=None, help="comma-separated region sizes, e.g. 100,300")
    args = ap.parse_args(argv)
    import cv2

    from dipnb.poisson import clone_problem, seamless_clone, solve_problem

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    repeat = args.repeat or (3 if args.quick else 5)
    cases = [(100, None), (300, None)] if args.quick else [(100, None), (300, None), (800, None), (800, 2000)]
    if args.sizes:
        cases = [(int(s), None) for s in args.sizes.split(",")]
    print(f"torch {torch.__version__}, OpenCV {cv2.__version__}, {args.threads} thread(s), best of {repeat}")
    header = (f"{'problem':>18} {'unknowns':>9} | {'scipy s':>8} | {'cv2 s':>7} {'cv2 max/mean':>14} | "
              f"{'solver':>6} {'it':>3} {'dipnb s':>8} {'×cv2':>5} {'max/mean err':>16}")
    print(header)
    print("-" * len(header))
    rows = []
    for S, T in cases:
        src, tgt, mask, off = make_problem(S, T)
        name = f"{S}² in {tgt.shape[-1]}²"
        t_ref, ref = timed(lambda: reference_clone(src, tgt, mask, off), 1)
        pb = clone_problem(src, tgt, mask, off)
        ys, xs = pb.system.box.slices
        omega = torch.zeros(ref.shape[-2:], dtype=torch.bool)
        omega[ys, xs] = pb.system.m
        t_cv, t_dip = float("inf"), float("inf")
        out_cv = out = info = None
        for _ in range(repeat):  # interleave so that both see the same machine load
            t = time.perf_counter()
            out_cv = cv2_clone(src, tgt, mask, off)
            t_cv = min(t_cv, time.perf_counter() - t)
            t = time.perf_counter()
            out, info = seamless_clone(src, tgt, mask, off, return_info=True)
            t_dip = min(t_dip, time.perf_counter() - t)
        cmax, cmean = errors(out_cv, ref, omega)
        dmax, dmean = errors(out, ref, omega)
        rows.append((name, S, t_dip / t_cv, info.iterations, dmax, dmean))
        print(f"{name:>18} {int(omega.sum()) * 3:>9} | {t_ref:>8.3f} | {t_cv:>7.4f} {cmax:>6.1f}/{cmean:>6.2f} | "
              f"{info.solver:>6} {info.iterations:>3} {t_dip:>8.4f} {t_dip / t_cv:>5.2f} {dmax:>7.4f}/{dmean:>7.4f}")
        # rectangle fast path on the polygon's bounding box (away from the border)
        rect = torch.zeros_like(mask)
        b = pb.system.box
        rect[b.y0 - off[1]:b.y0 - off[1] + b.h, b.x0 - off[0]:b.x0 - off[0] + b.w] = True
        ref_r = reference_clone(src, tgt, rect, off) if S <= 300 else None
        t_cvr, t_dst = float("inf"), float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            cv2_clone(src, tgt, rect, off)
            t_cvr = min(t_cvr, time.perf_counter() - t)
            t = time.perf_counter()
            out_r, info_r = seamless_clone(src, tgt, rect, off, return_info=True)
            t_dst = min(t_dst, time.perf_counter() - t)
        omega_r = torch.zeros(ref.shape[-2:], dtype=torch.bool)
        omega_r[ys, xs] = True
        err = "" if ref_r is None else "{:>7.4f}/{:>7.4f}".format(*errors(out_r, ref_r, omega_r))
        print(f"{'  rectangle ' + str(S) + '²':>18} {b.h * b.w * 3:>9} | {'':>8} | {t_cvr:>7.4f} {'':>14} | "
              f"{info_r.solver:>6} {info_r.iterations:>3} {t_dst:>8.4f} {t_dst / t_cvr:>5.2f} {err:>16}")
        if args.adam and S <= 300:
            for method, kw in (("course", dict(method="course")),  # the template: 10,000 steps, lr × 0.1 at 5,000
                               ("student", dict(method="course", max_steps=20000, loss_tol=1e-9, patience=100)),
                               ("fixed", dict(method="fixed"))):
                t, (o, inf) = timed(lambda: solve_problem(pb, "adam", return_info=True, **kw), 1)
                amax, amean = errors(o, ref, omega)
                print(f"{'  adam ' + method:>18} {'':>9} | {'':>8} | {'':>7} {'':>14} | {'adam':>6} "
                      f"{inf.iterations:>5} steps {t:>8.2f} s {amax:>7.4f}/{amean:>7.4f}")
    print()
    worst = max(r[4] for r in rows)
    print(f"default solver: worst max error {worst:.4f} (target ≤ 0.05), "
          f"most iterations {max(r[3] for r in rows)} (target ≤ 20)")
    warnings.simplefilter("default")


if __name__ == "__main__":
    main()
