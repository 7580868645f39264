"""Grading time: one full submission and the class of seven (tests/assignment/test_grading.py), serial vs ``--jobs N``.

    PYTHONPATH=. DIPNB_PROFILE=ci OMP_NUM_THREADS=1 python benchmarks/grading.py [--jobs 2] [--repeats 1]

Prints where one submission's time goes (a fresh interpreter importing torch — what every notebook paid when
each ran in its own kernel — against a process forked from the grader's fork server), each notebook's seconds,
and the wall time of each configuration with its ratio to the serial run measured in the same process
(interleaved, median of the repeats). Ends with the arithmetic for a class of 200 on a 16-core machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "assignment")]


def _fresh_torch_import() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, torchvision, matplotlib.pyplot, IPython"], check=True)
    return time.perf_counter() - t0


def _fork_from_server() -> float:
    from dipnb.assignment import grade

    t0 = time.perf_counter()
    p = grade._context().Process(target=os.getpid)
    p.start()
    p.join()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30.0, help="per notebook (the hanging student waits this)")
    ap.add_argument("--no-class", action="store_true", help="only the one full submission")
    args = ap.parse_args()
    os.environ.setdefault("DIPNB_PROFILE", "ci")
    from dipnb.assignment import build
    from dipnb.assignment.grade import grade

    import test_grading

    tmp = Path(tempfile.mkdtemp(prefix="dipnb-bench-grading-"))
    try:
        edition = tmp / "edition"
        build.build(ROOT / "notebooks", edition)
        klass = tmp / "class"
        klass.mkdir()
        test_grading.make_class(edition, klass)
        one = tmp / "one" / "correct"
        shutil.copytree(klass / "correct", one)
        fork = _fork_from_server()  # also starts the fork server (its imports are paid once per grading run)
        fresh = statistics.median(_fresh_torch_import() for _ in range(3))
        fork = statistics.median(_fork_from_server() for _ in range(3))
        print(f"cores here: {len(os.sched_getaffinity(0))} · other work may be running (shared machine)")
        print(f"a fresh interpreter importing torch & co.: {fresh:.2f} s · a process forked from the grader's "
              f"server: {fork * 1000:.0f} ms ({fresh / fork:.0f}× less, paid per notebook and per check)")
        configs = [("one submission", one, True)] + ([] if args.no_class else [("class of seven", klass, False)])
        times: dict[tuple[str, int], list[float]] = {}
        per_notebook: dict[str, float] = {}
        for _ in range(args.repeats):
            for label, folder, single in configs:
                for jobs in (1, args.jobs):
                    t0 = time.perf_counter()
                    runs = grade(folder, single=single, jobs=jobs, timeout=args.timeout, log=lambda *a: None,
                                 protect=(edition,))
                    times.setdefault((label, jobs), []).append(time.perf_counter() - t0)
                    if single and jobs == 1:
                        per_notebook = {r.notebook: r.seconds for r in runs}
        print("one submission, serial, seconds per notebook (run to its last question + checks): "
              + ", ".join(f"{k[:2]} {v:.1f}" for k, v in per_notebook.items())
              + f" · sum {sum(per_notebook.values()):.1f}")
        for label, _, _ in configs:
            serial = statistics.median(times[(label, 1)])
            par = statistics.median(times[(label, args.jobs)])
            print(f"{label:15s} serial {serial:6.1f} s · --jobs {args.jobs} {par:6.1f} s · ratio {serial / par:.2f}×")
        notebooks = len(per_notebook)
        cost = sum(per_notebook.values())  # CPU-bound seconds of one submission, one core
        for n, cores in ((200, 16),):
            est = n * cost / cores
            print(f"class of {n} on {cores} cores: {n} × {notebooks} notebooks × {cost / notebooks:.1f} s / {cores} "
                  f"= {est:.0f} s ≈ {est / 60:.1f} min (+ one fork-server start), target < 30 min")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
