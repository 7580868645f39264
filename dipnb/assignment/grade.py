"""Grade a folder of submitted notebooks locally with ``otter run`` (``make grade SUBMISSION=DIR``).

Every ``NN_*.ipynb`` found in DIR is executed top to bottom in a fresh kernel with its notebook's autograder
(``dist/assignment/autograder/NN_*/autograder.zip``: public and hidden tests); no Docker, no network. Writes
``DIR/grades.csv`` with one row per question (``notebook,question,points,max_points``) and prints the table.
A notebook that cannot be graded (its kernel died, it is not JSON, …) scores 0 on all its questions. The
notebooks run with the environment's ``DIPNB_*`` settings (``make grade`` defaults to the ``ci`` profile); their
figures go to a temporary folder unless ``DIPNB_FIGURES`` is set, so the workbook's own are never overwritten.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import csv
import functools
import io
import json
import multiprocessing
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dipnb.assignment.build import ROOT


@dataclass
class Row:
    notebook: str
    question: str
    points: float
    max_points: float


@dataclass
class Graded:
    """One notebook's grades, the errors its cells raised while it ran (``"cell N: Name: message"``), the
    public/hidden test messages per question, and why it could not be graded (None when it was)."""

    rows: list[Row]
    cell_errors: list[str]
    messages: dict[str, str]
    failure: str | None = None


def grade_notebook(path: Path, autograder: Path, questions: list[dict], quiet: bool = True) -> Graded:
    """Execute and grade one notebook with ``otter run``."""
    from otter.run import main as otter_run

    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
            results = otter_run(str(path), autograder=str(autograder), output_dir=None, no_logo=True)
    except Exception as err:  # noqa: BLE001  a broken submission scores 0, the others are still graded
        return Graded([Row(path.name, q["question"], 0.0, q["points"]) for q in questions], [], {}, repr(err))
    rows, messages = [], {}
    for q in questions:
        try:
            score = float(results.get_score(q["question"]))
            messages[q["question"]] = "\n".join(r.message for r in results.get_result(q["question"]).test_case_results)
        except (KeyError, ValueError, AttributeError):
            score = 0.0
        rows.append(Row(path.name, q["question"], score, q["points"]))
    errors = []
    for i, cell in enumerate(results.notebook.cells if results.notebook is not None else []):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
    return Graded(rows, errors, messages)


def _grade_one(args) -> tuple[str, Graded, float]:
    path, autograder, questions, quiet = args
    t0 = time.perf_counter()
    return path.name, grade_notebook(path, autograder, questions, quiet), time.perf_counter() - t0


def grade(submission: Path, autograder_dir: Path = ROOT / "dist" / "assignment" / "autograder",
          quiet: bool = True, log=functools.partial(print, flush=True), jobs: int = 1) -> dict[str, Graded]:
    """Grade every notebook of ``submission`` that has an autograder (``jobs`` at a time, each in its own
    process); write ``grades.csv`` there. Returns the results per notebook file name."""
    index = autograder_dir / "questions.json"
    if not index.is_file():
        raise FileNotFoundError(f"{index} not found: run `make assignment` first")
    questions = json.loads(index.read_text())
    found = sorted(p for p in submission.rglob("[0-9][0-9]_*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not found:
        raise FileNotFoundError(f"no notebooks (NN_*.ipynb) found in {submission}")
    work = []
    for path in found:
        if path.stem not in questions:
            log(f"{path.name}: no questions, not graded")
        else:
            work.append((path, autograder_dir / path.stem / "autograder.zip", questions[path.stem], quiet))
    graded: dict[str, Graded] = {}

    def record(name: str, g: Graded, seconds: float) -> None:
        graded[name] = g
        log(f"{name}: {sum(r.points for r in g.rows):g}/{sum(r.max_points for r in g.rows):g} in {seconds:.0f} s"
            + (f" — NOT GRADED: {g.failure}" if g.failure else "")
            + (f" — {len(g.cell_errors)} cell(s) raised" if g.cell_errors else ""))

    # A submission's figures must not overwrite the workbook's committed ones: unless DIPNB_FIGURES says
    # where they go, they go to a temporary folder.
    saved = os.environ.get("DIPNB_FIGURES")
    with tempfile.TemporaryDirectory(prefix="dipnb-grade-figures-") as figures:
        if not saved:
            os.environ["DIPNB_FIGURES"] = figures
        try:
            if jobs > 1 and len(work) > 1:
                ctx = multiprocessing.get_context("spawn")
                with concurrent.futures.ProcessPoolExecutor(min(jobs, len(work)), mp_context=ctx) as pool:
                    for done in pool.map(_grade_one, work):
                        record(*done)
            else:
                for w in work:
                    record(*_grade_one(w))
        finally:
            if not saved:
                os.environ.pop("DIPNB_FIGURES", None)
    rows = [r for g in graded.values() for r in g.rows]
    with open(submission / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["notebook", "question", "points", "max_points"])
        w.writerows([r.notebook, r.question, f"{r.points:g}", f"{r.max_points:g}"] for r in rows)
    return graded


def format_table(rows: list[Row]) -> str:
    width = max([len(r.question) for r in rows] + [8])
    lines = [f"{'notebook':24s} {'question':{width}s} {'points':>6s} {'max':>5s}"]
    lines += [f"{r.notebook:24s} {r.question:{width}s} {r.points:6g} {r.max_points:5g}" for r in rows]
    lines.append(f"{'total':24s} {'':{width}s} {sum(r.points for r in rows):6g} {sum(r.max_points for r in rows):5g}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m dipnb.assignment grade", description=__doc__.split("\n\n")[0])
    ap.add_argument("submission", type=Path, help="folder holding the student's notebooks")
    ap.add_argument("--autograder", type=Path, default=ROOT / "dist" / "assignment" / "autograder")
    ap.add_argument("--jobs", type=int, default=1, help="notebooks graded at once (one process each)")
    ap.add_argument("--verbose", action="store_true", help="show otter's own output and the test messages")
    args = ap.parse_args(argv)
    os.environ.setdefault("DIPNB_PROFILE", "ci")  # grading checks answers, not long training runs
    graded = grade(args.submission.resolve(), args.autograder.resolve(), quiet=not args.verbose, jobs=args.jobs)
    if args.verbose:
        for name, g in graded.items():
            for q, message in g.messages.items():
                print(f"--- {name} · {q}\n{message}")
    print(format_table([r for g in graded.values() for r in g.rows]))
    print(f"wrote {args.submission / 'grades.csv'}")
