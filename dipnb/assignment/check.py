"""Check every answer at once: ``python -m dipnb.assignment check [DIR]`` (the release's README; default ``.``).

Each ``NN_*.ipynb`` of DIR that asks questions (its ``grader.check("NAME")`` cells) runs top to bottom in a fresh
kernel, in DIR, as "Restart & Run All" would, then ``grader.check`` runs once more for each of its questions and
the public tests' verdicts are printed as a table. Nothing is written back: the notebooks stay as they are. Runs
in the ``ci`` profile unless ``DIPNB_PROFILE`` is set (checking answers needs no long training); figures go to a
temporary folder unless ``DIPNB_FIGURES`` is set. Exit status 1 when any public test fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat

MARK = "DIPNB-CHECK "
CHECK_CALL = re.compile(r"""grader\.check\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\)""")


def questions_in(nb: nbformat.NotebookNode) -> list[str]:
    """The questions a student notebook checks, in order (from its ``grader.check("NAME")`` cells)."""
    seen: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            seen += [q for q in CHECK_CALL.findall(cell.source) if q not in seen]
    return seen


def _final_cell(questions: list[str]) -> str:
    return (f"import json as _json\n_verdicts = {{}}\nfor _q in {questions!r}:\n"
            "    try:\n"
            "        _r = grader.check(_q)\n"
            "        _verdicts[_q] = [bool(_r.passed_all_public), _r.summary(public_only=True)]\n"
            "    except Exception as _e:  # noqa: BLE001\n"
            "        _verdicts[_q] = [False, f'{type(_e).__name__}: {_e}']\n"
            f"print({MARK!r} + _json.dumps(_verdicts))\n")


def check_notebook(path: Path, timeout: int = 1800) -> dict[str, tuple[bool, str]]:
    """Run ``path`` in a fresh kernel (in its folder) and return question → (public tests passed, message)."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    questions = questions_in(nb)
    if not questions:
        return {}
    nb.cells.append(nbformat.v4.new_code_cell(_final_cell(questions)))
    client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except Exception as err:  # noqa: BLE001  a dead kernel: every question of the notebook fails
        return {q: (False, f"the notebook could not run: {err}") for q in questions}
    for out in nb.cells[-1].get("outputs", []):
        if out.get("name") == "stdout" and MARK in out.get("text", ""):
            found = json.loads(out["text"].split(MARK, 1)[1].splitlines()[0])
            return {q: (bool(v[0]), str(v[1])) for q, v in found.items()}
    return {q: (False, "the checks did not run (an earlier cell stopped the kernel)") for q in questions}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dipnb.assignment check", description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, nargs="?", default=Path("."), help="your notebooks (default: .)")
    ap.add_argument("--verbose", action="store_true", help="print the public tests' messages")
    args = ap.parse_args(argv)
    os.environ.setdefault("DIPNB_PROFILE", "ci")
    os.environ.setdefault("DIPNB_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    notebooks = sorted(p for p in args.folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        print(f"no notebooks (NN_*.ipynb) in {args.folder.resolve()}", file=sys.stderr)
        return 2
    rows: list[tuple[str, str, bool, str]] = []
    with tempfile.TemporaryDirectory(prefix="dipnb-check-figures-") as figures:
        os.environ.setdefault("DIPNB_FIGURES", figures)
        for path in notebooks:
            t0 = time.perf_counter()
            verdicts = check_notebook(path.resolve())
            if verdicts:
                print(f"{path.name}: {sum(ok for ok, _ in verdicts.values())}/{len(verdicts)} passed "
                      f"in {time.perf_counter() - t0:.0f} s", flush=True)
            rows += [(path.name, q, ok, msg) for q, (ok, msg) in verdicts.items()]
    width = max([len(r[1]) for r in rows] + [8])
    print(f"{'notebook':24s} {'question':{width}s} public tests")
    for name, q, ok, msg in rows:
        print(f"{name:24s} {q:{width}s} {'passed' if ok else 'FAILED'}")
        if args.verbose or not ok:
            print("    " + "\n    ".join(msg.strip().splitlines()[:12]))
    passed = sum(r[2] for r in rows)
    print(f"{passed}/{len(rows)} answers pass their public tests (the grader also runs hidden tests)")
    return 0 if passed == len(rows) else 1
