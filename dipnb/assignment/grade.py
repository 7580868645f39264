"""Grade a class (``make grade SUBMISSIONS=DIR``) or one student (``make grade SUBMISSION=DIR``).

``SUBMISSIONS=DIR`` holds one folder or ``.zip`` per student, named by the student's id; ``SUBMISSION=DIR`` is
one student's folder (the id is its name). Each graded notebook is found by its number (``02_polygon_drawing
(1).ipynb``, ``02_Polygon.ipynb`` → 02; of two candidates the newest, said in the feedback) and graded in two
processes (:mod:`~dipnb.assignment.runner`, :mod:`~dipnb.assignment.checker`):

1. the student's: a temporary copy of the student's folder, walled in (:mod:`~dipnb.assignment.sandbox`), runs
   the notebook up to its last question's cell under ``--timeout`` seconds and a memory cap — it never holds
   the hidden tests or the reference answers, and cannot read them, the solutions, or other submissions;
2. the checker's: a fresh process loads the checks, verifies them, and grades each question's own cell (with
   the cells it needs) from the executed notebook.

A notebook that is missing, hangs, dies or raises in its question's cell costs only its own points. Writes
``DIR/grades.csv`` (``student,notebook,question,points,max_points``: every student × question, missing
notebooks included), ``DIR/summary.csv`` (``student,total,max`` and one column per question) and
``DIR/feedback/<student>.md`` (per question: points, the public checks' message, the hidden tests' verdict with
the first line of a failure — never their code or inputs). The submissions themselves are never modified.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import csv
import functools
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from dipnb.assignment import build, checker, runner
from dipnb.config import data_dir

ROOT = build.ROOT
CHECKS = ROOT / "assignment"  # the autograder's side: hidden_tests.py, reference.py (never in the release)
TIMEOUT = {"ci": 120.0, "cpu": 900.0, "gpu": 1800.0}  # seconds per notebook, by profile
MEMORY_GB = 8.0  # address space per process (torch alone maps ~3.3 GB)
OUTPUTS = ("grades.csv", "summary.csv", "feedback")


@dataclass
class Row:
    student: str
    notebook: str
    question: str
    points: float
    max_points: float
    public: bool = False
    hidden: bool = False
    public_message: str = ""
    hidden_message: str = ""


@dataclass
class Run:
    """One student's notebook: which file was graded, why it scored 0 as a whole (``failure``), the errors
    its cells raised, and its rows."""

    student: str
    notebook: str
    file: str | None = None
    note: str = ""
    failure: str | None = None
    cell_errors: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0


def questions_index(notebooks: Path = ROOT / "notebooks") -> dict[str, list[tuple[str, float]]]:
    """``{notebook stem: [(question, points), …]}`` from the solution notebooks' cell metadata."""
    out = {}
    for path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        qs = build.questions_of(nbformat.read(path, as_version=4), path.name)
        if qs:
            out[path.stem] = [(q.name, q.points) for q in qs]
    return out


# -- finding the students and their notebooks ---------------------------------------------------------------
def students_of(root: Path) -> dict[str, Path]:
    """``{student id: folder or .zip}`` of a class folder (the grader's own outputs are not students)."""
    out = {}
    for p in sorted(root.iterdir()):
        if p.name in OUTPUTS or p.name.startswith("."):
            continue
        if p.is_dir():
            out[p.name] = p
        elif p.suffix.lower() == ".zip":
            out[p.stem] = p
    return out


def unpack(source: Path, dest: Path) -> Path:
    """A copy of a student's folder or .zip in ``dest`` (files only; nothing outside ``dest`` is written)."""
    dest.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, dest, dirs_exist_ok=True, symlinks=False,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", *OUTPUTS))
        return dest
    with zipfile.ZipFile(source) as z:
        for info in z.infolist():
            parts = [p for p in Path(info.filename).parts if p not in ("", ".", "..", "/")]
            if info.is_dir() or not parts or parts[0] == "__MACOSX":
                continue
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(info))
            t = time.mktime(info.date_time + (0, 0, -1))
            os.utime(target, (t, t))
    return dest


def match_notebooks(folder: Path, stems: list[str]) -> dict[str, tuple[Path | None, str]]:
    """``{stem: (file, note)}``: notebooks matched by their two-digit number; of several, the newest."""
    found: dict[str, list[Path]] = {}
    for p in folder.rglob("*.ipynb"):
        m = re.match(r"\s*(\d\d)(?!\d)", p.name)
        if m and ".ipynb_checkpoints" not in p.parts:
            found.setdefault(m.group(1), []).append(p)
    out = {}
    for stem in stems:
        cands = sorted(found.get(stem[:2], []), key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
        if not cands:
            out[stem] = (None, f"no notebook numbered {stem[:2]} (expected {stem}.ipynb) in the submission")
        elif len(cands) == 1:
            out[stem] = (cands[0], "")
        else:
            out[stem] = (cands[0], f"{len(cands)} notebooks numbered {stem[:2]}: graded the newest, "
                                   f"`{cands[0].relative_to(folder)}` (not " +
                         ", ".join(f"`{c.relative_to(folder)}`" for c in cands[1:]) + ")")
    return out


# -- grading one notebook -------------------------------------------------------------------------------------
@functools.cache
def _context() -> multiprocessing.context.BaseContext:
    """A fork server that has imported torch & co. once: every notebook's process starts from it."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(runner.PRELOAD + ["dipnb.assignment.checker", "dipnb.assignment.public"])
    return ctx


_START_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_main():
    """Start processes without re-importing the caller's ``__main__`` in them (the targets live in dipnb): a
    grader driven from a notebook, ``python -`` or a script works the same, and starts faster."""
    main = sys.modules["__main__"]
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _run_process(target, args, timeout: float) -> str | None:
    """Run ``target(*args)`` in a fresh process (its own group); kill the group after ``timeout`` s.
    Returns why it failed, or None."""
    p = _context().Process(target=target, args=args, daemon=False)
    with _START_LOCK, _without_main():
        p.start()
    p.join(timeout)
    if p.is_alive():
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.kill()
        p.join()
        return f"timed out after {timeout:g} s"
    try:
        os.killpg(p.pid, signal.SIGKILL)  # leftovers it started (data-loader workers…)
    except (ProcessLookupError, PermissionError):
        pass
    if p.exitcode and p.exitcode < 0:
        return f"its process was killed by signal {-p.exitcode}" + (" (out of memory?)" if -p.exitcode == 9 else "")
    if p.exitcode:
        return f"its process exited with status {p.exitcode}"
    return None


@dataclass
class Options:
    timeout: float
    memory_gb: float = MEMORY_GB
    checks: Path = CHECKS
    protected: tuple[Path, ...] = ()


def _hashes(checks: Path) -> dict[str, str]:
    from dipnb.assignment import public

    here = Path(public.__file__).parent
    return {**{name: checker.sha256(here / name) for name in checker.PUBLIC_FILES},
            "reference.py": checker.sha256(checks / "reference.py"),
            "hidden_tests.py": checker.sha256(checks / "hidden_tests.py")}


def grade_notebook(student: str, stem: str, folder: Path, path: Path | None, note: str,
                   questions: list[tuple[str, float]], opts: Options, scratch: Path) -> Run:
    """Run and check one notebook of one student (``folder``: the private copy of the student's files)."""
    t0 = time.perf_counter()
    run = Run(student, stem, None if path is None else str(path.relative_to(folder)), note)
    results: dict[str, dict] = {}
    if path is None:
        run.failure = note
    else:
        try:
            nb = nbformat.read(path, as_version=4)
            cells = [{"cell_type": c.cell_type, "source": c.source, "metadata": dict(c.metadata)} for c in nb.cells]
        except Exception as err:  # noqa: BLE001  not a notebook
            cells, run.failure = [], f"`{run.file}` is not a readable notebook ({type(err).__name__}: {err})"
        if cells:
            results = _grade_cells(run, cells, questions, folder, path, opts, scratch)
    for name, points in questions:
        r = results.get(name)
        if r is None:
            run.rows.append(Row(student, stem, name, 0.0, points, public_message=run.failure or "not graded"))
        else:
            ok = r["public"] and r["hidden"]
            run.rows.append(Row(student, stem, name, points if ok else 0.0, points, r["public"], r["hidden"],
                                r["public_message"], r["hidden_message"]))
    run.seconds = time.perf_counter() - t0
    return run


def _grade_cells(run: Run, cells: list[dict], questions, folder: Path, path: Path, opts: Options,
                 scratch: Path) -> dict[str, dict]:
    names = [q for q, _ in questions]
    indices = [checker.answer_cell(cells, q)[0] for q in names]
    upto = max([i for i in indices if i is not None], default=-1)
    work = scratch / "run"
    shutil.copytree(folder, work, symlinks=False)  # the notebook's own folder: its relative paths work
    workdir = work / path.parent.relative_to(folder)
    status = scratch / "status.jsonl"
    protected = [str(p) for p in opts.protected] + [str(scratch.parent)]
    memory = int(opts.memory_gb * 2**30)
    ran: dict[int, str | None] = {}
    if upto >= 0:
        sources = [c["source"] if c["cell_type"] == "code" else "" for c in cells]
        why = _run_process(runner.run_cells, (sources, upto, str(workdir), protected, memory,
                                              str(status)), opts.timeout)
        last = None
        ended = False
        for line in status.read_text().splitlines() if status.is_file() else []:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("event") == "start":
                last = e["cell"]
            elif e.get("event") == "done":
                ran[e["cell"]] = e.get("error")
                if e.get("error"):
                    run.cell_errors.append(f"cell {e['cell']}: {e['error']}")
            elif e.get("event") == "end":
                ended = True
        if why or not ended:
            where = f" in cell {last}" if last is not None and last not in ran else ""
            run.failure = f"the notebook did not run to its last question: {why or 'it stopped'}{where}"
            return {}
    check_dir = scratch / "check"
    check_dir.mkdir()
    out = scratch / "checks.jsonl"
    why = _run_process(checker.check_notebook, (cells, names, ran, str(opts.checks), _hashes(opts.checks),
                                                str(check_dir), protected, memory, opts.timeout, str(out)),
                       opts.timeout * (len(names) + 1))
    results = {}
    for line in out.read_text().splitlines() if out.is_file() else []:
        try:
            r = json.loads(line)
            results[r["question"]] = r
        except (ValueError, KeyError):
            continue
    if why and not results:
        run.failure = f"checking failed: {why}"
    return results


# -- a class ----------------------------------------------------------------------------------------------------
def grade(root: Path, single: bool = False, jobs: int | None = None, timeout: float | None = None,
          memory_gb: float = MEMORY_GB, log=functools.partial(print, flush=True),
          questions: dict[str, list[tuple[str, float]]] | None = None, protect: tuple[Path, ...] = ()) -> list[Run]:
    """Grade every student of the class folder ``root`` (``single``: ``root`` is one student's folder),
    ``jobs`` notebooks at a time; write the grades, the summary and the feedback into ``root``. ``protect``:
    more folders no submission may read (copies of the autograder, say)."""
    root = root.resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    missing = [f for f in ("hidden_tests.py", "reference.py") if not (CHECKS / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{CHECKS} lacks {', '.join(missing)}: grading needs the instructor's checkout (the "
                                "student edition has only the public checks, which grader.check runs in a notebook)")
    questions = questions or questions_index()
    profile = os.environ.get("DIPNB_PROFILE", "ci") or "ci"
    timeout = timeout or TIMEOUT.get(profile, TIMEOUT["ci"])
    jobs = jobs or len(os.sched_getaffinity(0))
    _prepare_data()
    subs = {root.name: root} if single else students_of(root)
    if not subs:
        raise FileNotFoundError(f"no student folders or .zip files in {root}")
    runs: list[Run] = []
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="dipnb-grade-") as private:
        private = Path(private)
        opts = Options(timeout, memory_gb, CHECKS, (root, *_repository_walls(), private, *protect))
        copies = {s: unpack(src, private / "students" / s) for s, src in subs.items()}
        work = []
        for s, folder in copies.items():
            matched = match_notebooks(folder, list(questions))
            for stem, qs in questions.items():
                path, note = matched[stem]
                work.append((s, stem, folder, path, note, qs))

        def one(k: int, item) -> Run:
            s, stem, folder, path, note, qs = item
            scratch = private / "work" / f"{k:05d}"
            scratch.mkdir(parents=True)
            r = grade_notebook(s, stem, folder, path, note, qs, opts, scratch)
            shutil.rmtree(scratch, ignore_errors=True)
            with lock:
                runs.append(r)
                got = sum(x.points for x in r.rows)
                log(f"{s:>12s} {stem:22s} {got:g}/{sum(x.max_points for x in r.rows):g} in {r.seconds:.1f} s"
                    + (f" — {r.failure}" if r.failure else ""))
            return r

        if jobs > 1:
            with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
                list(pool.map(one, range(len(work)), work))
        else:
            for k, item in enumerate(work):
                one(k, item)
    order = {(s, stem): k for k, (s, stem, *_) in enumerate(work)}
    runs.sort(key=lambda r: order[(r.student, r.notebook)])
    write_outputs(root, runs, questions)
    return runs


def _repository_walls() -> list[Path]:
    """Every top-level entry of the checkout a graded notebook has no business reading: all of it but the package,
    the datasets and the Python environment. Solutions live in more places than ``notebooks/`` (the report's book
    sources, test artifacts, ``dist/``, ``.git``), so the walls name what stays open, not what is closed."""
    needed = [Path(p).resolve() for p in (sys.prefix, Path(build.__file__).parents[2] / "dipnb", data_dir())]
    return [p for p in ROOT.iterdir()
            if not any(n == p.resolve() or n.is_relative_to(p.resolve()) for n in needed)]


def _prepare_data() -> None:
    """The offline dataset is generated on first use: generate it here, as the walls forbid it in a notebook."""
    from dipnb.pix2pix.datasets.registry import resolve_dataset

    try:
        resolve_dataset("facades", verbose=False)
    except Exception as err:  # noqa: BLE001  a notebook that needs it will say so in its feedback
        print(f"note: the facades dataset is not ready ({err})")


def write_outputs(root: Path, runs: list[Run], questions: dict[str, list[tuple[str, float]]]) -> None:
    rows = [r for run in runs for r in run.rows]
    with open(root / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", "question", "points", "max_points"])
        w.writerows([r.student, r.notebook, r.question, f"{r.points:g}", f"{r.max_points:g}"] for r in rows)
    names = [q for qs in questions.values() for q, _ in qs]
    students = list(dict.fromkeys(r.student for r in rows))
    with open(root / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "total", "max", *names])
        for s in students:
            mine = {r.question: r for r in rows if r.student == s}
            w.writerow([s, f"{sum(r.points for r in mine.values()):g}", f"{sum(r.max_points for r in mine.values()):g}",
                        *(f"{mine[q].points:g}" for q in names)])
    (root / "feedback").mkdir(exist_ok=True)
    for s in students:
        (root / "feedback" / f"{s}.md").write_text(feedback(s, [run for run in runs if run.student == s]))


def _quote(text: str) -> str:
    return "\n".join("> " + ln for ln in text.strip().splitlines()) if text.strip() else "> (no message)"


def feedback(student: str, runs: list[Run]) -> str:
    """The Markdown a student gets back: per notebook and question, points and what to fix."""
    rows = [r for run in runs for r in run.rows]
    lines = [f"# Feedback for {student}", "",
             f"**Total: {sum(r.points for r in rows):g} / {sum(r.max_points for r in rows):g} points.** "
             "Each question is all-or-nothing: it needs both the public checks (the ones `grader.check` runs in "
             "your notebook) and the hidden tests (other inputs; an answer may not call `dipnb`).", "",
             "| notebook | question | points |", "|---|---|---|"]
    lines += [f"| {r.notebook} | `{r.question}` | {r.points:g} / {r.max_points:g} |" for r in rows]
    for run in runs:
        lines += ["", f"## {run.notebook}", ""]
        if run.file:
            lines.append(f"Graded `{run.file}`." + (f" {run.note}." if run.note else ""))
        if run.failure:
            lines += ["", f"**Not graded: {run.failure}.** Every question of this notebook scores 0."]
        if run.cell_errors:
            lines += ["", "Cells that raised an error when your notebook ran (up to its last question):", ""]
            lines += [f"- {e}" for e in run.cell_errors[:10]]
        if run.failure:
            continue
        for r in run.rows:
            lines += ["", f"### `{r.question}` · {r.points:g} / {r.max_points:g}", ""]
            if r.public:
                lines.append("- Public checks: passed.")
            else:
                lines += ["- Public checks: **failed**:", "", _quote(r.public_message), ""]
            if r.hidden:
                lines.append("- Hidden tests: passed.")
            elif r.public or r.hidden_message != r.public_message:
                lines.append(f"- Hidden tests: **failed**: {r.hidden_message.splitlines()[0] if r.hidden_message else ''}")
            else:
                lines.append("- Hidden tests: **failed** (same reason).")
    return "\n".join(lines) + "\n"


def format_table(runs: list[Run]) -> str:
    rows = [r for run in runs for r in run.rows]
    width = max([len(r.question) for r in rows] + [8])
    lines = [f"{'student':12s} {'notebook':22s} {'question':{width}s} {'points':>6s} {'max':>5s}"]
    lines += [f"{r.student:12s} {r.notebook:22s} {r.question:{width}s} {r.points:6g} {r.max_points:5g}" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m dipnb.assignment grade", description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="a class folder (with --class) or one student's folder")
    ap.add_argument("--class", dest="klass", action="store_true",
                    help="FOLDER holds one folder or .zip per student (named by the student's id)")
    ap.add_argument("--jobs", type=int, default=None, help="notebooks graded at once (default: the cores)")
    ap.add_argument("--timeout", type=float, default=None,
                    help=f"seconds per notebook (default by profile: {TIMEOUT})")
    ap.add_argument("--memory", type=float, default=MEMORY_GB, help="GB of address space per process")
    ap.add_argument("--protect", type=Path, action="append", default=[],
                    help="a folder no submission may read (besides the checkout's assignment/, notebooks/, dist/)")
    args = ap.parse_args(argv)
    os.environ.setdefault("DIPNB_PROFILE", "ci")  # grading checks answers, not long training runs
    t0 = time.perf_counter()
    runs = grade(args.folder, single=not args.klass, jobs=args.jobs, timeout=args.timeout, memory_gb=args.memory,
                 protect=tuple(p.resolve() for p in args.protect))
    n = len({r.student for r in runs})
    print(format_table(runs) if n == 1 else "")
    root = args.folder
    print(f"{n} student(s) graded in {time.perf_counter() - t0:.0f} s · wrote {root / 'grades.csv'}, "
          f"{root / 'summary.csv'}, {root / 'feedback'}/")
