"""Benchmark of the Poisson solvers: dipnb vs ``cv2.seamlessClone`` vs a scipy sparse direct solve.

    .venv/bin/python benchmarks/poisson.py            # region sizes ~100², ~300², ~800², and a 2000² target
    .venv/bin/python benchmarks/poisson.py --quick    # ~100² and ~300² only, fewer repeats
    .venv/bin/python benchmarks/poisson.py --adam     # also the Adam paths at 100² / 300²: the course template's
                                                      # loop, it with one student's stopping rule, and the fixed one
    .venv/bin/python benchmarks/poisson.py --scaling  # the fair race: regions 256² … 4096², every solver to a
                                                      # relative residual of 1e-6 (or its exact end), time per
                                                      # unknown, max error vs float64, a log-log plot with slopes
    .venv/bin/python benchmarks/poisson.py --batch    # N items in one call vs a loop of N single calls

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

    out = cv2.seamlessClone(*cv2_inputs(src, tgt, mask, off), cv2.NORMAL_CLONE)
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


def cv2_inputs(src, tgt, mask, off):
    """OpenCV's own inputs (uint8 BGR, 0/255 mask, the centre of Ω's box), prepared outside its timing."""
    from dipnb.images import to_uint8

    s8 = np.ascontiguousarray(to_uint8(src)[:, :, ::-1])
    t8 = np.ascontiguousarray(to_uint8(tgt)[:, :, ::-1])
    m8 = mask.numpy().astype(np.uint8) * 255
    ys, xs = np.nonzero(m8)
    center = (int((xs.min() + xs.max() + 1) // 2 + off[0]), int((ys.min() + ys.max() + 1) // 2 + off[1]))
    return s8, t8, m8, center


def interleaved(fns: dict, repeat: int) -> tuple[dict, dict, dict]:
    """Run every function once per round, ``repeat`` rounds (so all see the same machine load); returns the
    median wall time, the median process (CPU) time and the last result of each."""
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    out = {}
    for _ in range(repeat):
        for k, fn in fns.items():
            t, c = time.perf_counter(), time.process_time()
            out[k] = fn()
            wall[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
    return ({k: float(np.median(v)) for k, v in wall.items()}, {k: float(np.median(v)) for k, v in cpu.items()},
            out)


SCALING_SIZES = (256, 512, 800, 1024, 2048, 4096)


def scaling(args) -> None:
    """The fair race (issue 22): each solver to the same relative residual 1e-6 (OpenCV and scipy: their exact
    end), regions 256² … 4096², threads fixed; max error vs float64; a log-log plot of time vs unknowns."""
    import cv2

    from dipnb.poisson import clone_problem, seamless_clone

    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(SCALING_SIZES)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, OpenCV {cv2.__version__}, {args.threads} thread(s), device {device}; "
          f"median of interleaved repeats (wall; CPU time in brackets); tol 1e-6 for dipnb")
    print("reference: scipy SuperLU in float64 up to 1024² regions, beyond it dipnb's mgpcg in float64 to 1e-11 "
          "(checked against SuperLU at the smaller sizes)")
    head = (f"{'region':>7} {'unknowns':>10} {'dev':>4} {'rep':>3} | {'cv2 s':>7} {'cv2 err':>7} | {'dipnb s':>8} "
            f"{'it':>3} {'×cv2':>5} {'(cpu×)':>6} {'max err':>8} | {'default s':>9} {'×cv2':>5} {'max err':>8} | "
            f"{'ref s':>6}")
    print(head)
    print("-" * len(head))
    rows = []
    for S in sizes:
        repeat = args.repeat or 3  # medians of 3 at every size (one sample at 4096² swung the slope by ±0.05)
        src, tgt, mask, off = make_problem(S)
        s8, t8, m8, center = cv2_inputs(src, tgt, mask, off)
        pb = clone_problem(src, tgt, mask, off)
        ys, xs = pb.system.box.slices
        omega = torch.zeros(tgt.shape[-2:], dtype=torch.bool)
        omega[ys, xs] = pb.system.m
        n = int(omega.sum()) * 3
        del pb
        t = time.perf_counter()
        if S <= 1024:
            ref, how = reference_clone(src, tgt, mask, off), "SuperLU"
        elif S <= args.ref_max:
            ref, how = seamless_clone(src.double(), tgt.double(), mask, off, tol=1e-11, max_iter=200), "mgpcg64"
        else:
            ref, how = None, "-"
        t_ref = time.perf_counter() - t
        sd, td, md = src.to(device), tgt.to(device), mask.to(device)

        def dip(tol):
            def run():
                out, info = seamless_clone(sd, td, md, off, tol=tol, return_info=True)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                return out, info
            return run

        fns = {"cv2": lambda: cv2.seamlessClone(s8, t8, m8, center, cv2.NORMAL_CLONE), "dipnb": dip(1e-6)}
        if S <= 1024:  # the default tolerance too (beyond, time is short: the race's tolerance only)
            fns["default"] = dip(3e-5)
        dip(1e-6)()  # warm up (allocator, first-call costs) outside the timing
        wall, cpu, out = interleaved(fns, repeat)
        cv_img = torch.from_numpy(np.ascontiguousarray(out["cv2"][:, :, ::-1])).permute(2, 0, 1).double() / 255
        (o6, i6), od = out["dipnb"], out.get("default", (None,))[0]
        err = (lambda x: errors(x.cpu(), ref, omega)[0] if x is not None else float("nan")) if ref is not None \
            else (lambda x: float("nan"))
        row = dict(S=S, n=n, cv2=wall["cv2"], dipnb=wall["dipnb"], default=wall.get("default", float("nan")),
                   it=i6.iterations,
                   ratio=wall["dipnb"] / wall["cv2"], cpu_ratio=cpu["dipnb"] / cpu["cv2"], err=err(o6),
                   err_d=err(od), err_cv=err(cv_img), ratio_d=wall.get("default", float("nan")) / wall["cv2"], ref=t_ref,
                   how=how, kernels=i6.extra.get("kernels", "?"))
        rows.append(row)
        print(f"{S:>6}² {n:>10,} {device.type:>4} {repeat:>3} | {row['cv2']:>7.3f} {row['err_cv']:>7.1f} | "
              f"{row['dipnb']:>8.3f} {row['it']:>3} {row['ratio']:>5.2f} {row['cpu_ratio']:>6.2f} {row['err']:>8.4f} | "
              f"{row['default']:>9.3f} {row['ratio_d']:>5.2f} {row['err_d']:>8.4f} | {t_ref:>6.1f} {how}", flush=True)
        del src, tgt, sd, td, ref, out, o6, od
    slopes = {}
    for key in ("cv2", "dipnb", "default"):
        fit = [r for r in rows if r["S"] >= 512 and np.isfinite(r[key])]
        if len(fit) >= 2:
            slope = float(np.polyfit(np.log([r["n"] for r in fit]), np.log([r[key] for r in fit]), 1)[0])
            slopes[key] = (slope, f"{fit[0]['S']}²–{fit[-1]['S']}²")
    print()
    print("time ∝ unknowns^slope (least squares on log-log): "
          + ", ".join(f"{k} {v:.2f} ({span})" for k, (v, span) in slopes.items()))
    print("dipnb ran in its " + ", ".join(sorted({r["kernels"] for r in rows})) + " kernels (mgpcg's option kernels)")
    errs = [r["err"] for r in rows if np.isfinite(r["err"])]
    print("dipnb (tol 1e-6) / cv2, wall: " + ", ".join(f"{r['S']}² {r['ratio']:.2f}×" for r in rows)
          + "; CPU time: " + ", ".join(f"{r['cpu_ratio']:.2f}×" for r in rows)
          + (f"; worst max error {max(errs):.4f} grey levels (bar ≤ 0.05)" if errs else ""))
    if args.plot:
        plot_scaling(rows, slopes, Path(args.plot), f"{args.threads} thread(s), {device.type}")


def plot_scaling(rows, slopes, path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    n = np.array([r["n"] for r in rows], dtype=float)
    kern = "/".join(sorted({r["kernels"] for r in rows}))
    for key, label, style in (("cv2", "cv2.seamlessClone (exact end, sine transform)", "s-"),
                              ("dipnb", f"dipnb mgpcg ({kern} kernels), tol 1e-6", "o-"),
                              ("default", "dipnb mgpcg, default tol 3e-5", "^--")):
        t = np.array([r[key] for r in rows])
        ok = np.isfinite(t)
        slope, span = slopes.get(key, (float("nan"), ""))
        ax.loglog(n[ok], t[ok], style, label=f"{label}: slope {slope:.2f} ({span})")
    ref = n / n[0] * rows[0]["dipnb"]
    ax.loglog(n, ref, ":", color="grey", label="slope 1 (time ∝ unknowns)")
    for r in rows:
        ax.annotate(f"{r['S']}²", (r["n"], r["cv2"]), textcoords="offset points", xytext=(-6, 8), fontsize=8)
    ax.set_xlabel("unknowns (pixels of Ω × 3 channels)")
    ax.set_ylabel("seconds (median of interleaved repeats)")
    ax.set_title(f"Poisson seamless cloning: time vs unknowns ({note})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def batch(args) -> None:
    """N items in one call (one Ω for all: one solve of N·C channels) vs a loop of N single calls."""
    from dipnb.poisson import seamless_clone

    N, S = args.batch_n, args.batch_size
    device = torch.device(args.device)
    src, tgt, mask, off = make_problem(S)
    g = torch.Generator().manual_seed(0)
    gains = 0.7 + 0.6 * torch.rand(N, 3, 1, 1, generator=g)
    srcs = (src[None] * gains).clamp(0, 1).to(device)
    tgts = tgt[None].expand(N, -1, -1, -1).contiguous().to(device)
    m = mask.to(device)
    fns = {"loop": lambda: torch.stack([seamless_clone(srcs[k], tgts[k], m, off) for k in range(N)]),
           "batch": lambda: seamless_clone(srcs, tgts, m, off)}
    wall, cpu, out = interleaved(fns, args.repeat or 5)
    diff = float((out["batch"] - out["loop"]).abs().max()) * 255
    print(f"batch of {N} × {S}² regions on {device.type}: loop of single calls {wall['loop']:.3f} s, one batched "
          f"call {wall['batch']:.3f} s: {wall['loop'] / wall['batch']:.2f}× faster (CPU time "
          f"{cpu['loop'] / cpu['batch']:.2f}×); max difference {diff:.5f} grey levels (bar ≤ 0.01)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="sizes 100 and 300 only, 3 repeats")
    ap.add_argument("--adam", action="store_true", help="also time the Adam solvers (slow)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--sizes", type=str, default=None, help="comma-separated region sizes, e.g. 100,300")
    ap.add_argument("--scaling", action="store_true", help="the fair race, regions 256² … 4096² (see above)")
    ap.add_argument("--plot", type=str, default=str(ROOT / "test-artifacts" / "figures" / "poisson_scaling.png"),
                    help="where --scaling writes its log-log plot ('' for none)")
    ap.add_argument("--ref-max", type=int, default=2048, help="--scaling: largest region with a float64 reference "
                    "(beyond 1024² it is dipnb's mgpcg in float64, minutes at 4096²)")
    ap.add_argument("--batch", action="store_true", help="a batch in one call vs a loop of single calls")
    ap.add_argument("--batch-n", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--device", type=str, default="cpu", help="cpu or cuda (--scaling, --batch)")
    args = ap.parse_args(argv)
    import cv2

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    if args.scaling or args.batch:
        if args.scaling:
            scaling(args)
        if args.batch:
            batch(args)
        return

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
            # the template (e95e713): 5,000 steps at lr 1e-2, × 0.1 after 3,333
            for method, kw in (("course", dict(method="course")),
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
