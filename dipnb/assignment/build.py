"""Build the student edition and the autograder from the solution notebooks (``make assignment``).

For every notebook with question cells (metadata ``dipnb.question``), write an otter-grader *master notebook*
(otter's "v1" format: raw ``# BEGIN QUESTION`` / ``# BEGIN SOLUTION`` / ``# BEGIN TESTS`` cells) into a build
folder and run ``otter assign`` on it:

* the question's ``prompt`` cell becomes the question text;
* its ``solution`` cell keeps every signature and docstring, and its bodies are fenced by ``# BEGIN SOLUTION``
  / ``# END SOLUTION`` (found with :mod:`ast`), which otter replaces by ``...`` in the student edition; a
  class keeps ``super().__init__()`` and the attributes named in ``given`` (the template's ``conv1``);
* its ``check`` cell (the workbook's check against the package) is left out: otter puts
  ``grader.check("NAME")`` there, which runs :mod:`dipnb.assignment.public`; the hidden test calls
  ``assignment/hidden_tests.py``, shipped only in the autograder.

A cell marked ``{"dipnb": {"role": "solution-only"}}`` (no question) is left out of the student edition: it holds
a working answer to a question asked further down (02's plain rasteriser, 05's layer-by-layer FCN, 07's loss
replayed by hand), which the solutions keep as teaching and the student must not see above the blank, or text
meant for instructors. ``"role": "student-only"`` is the converse (00's "Your tasks" for students): kept, without
its marker, in the student edition, and left out of the report of the solutions.

Notebooks without questions are copied unchanged. Output: ``dist/assignment/student/`` (notebooks + ``tests/``),
``dist/assignment/autograder/<notebook>/autograder.zip`` and the release to hand out,
``dist/assignment/release/`` + ``release.zip`` (:mod:`dipnb.assignment.release`). Notebooks someone edited in
``student/`` or ``release/`` are kept (``dist/assignment/kept/<time>/``) before the rebuild.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from dipnb.assignment import release, workspace
from dipnb.config import PROJECT_ROOT, data_dir

ROOT = PROJECT_ROOT if PROJECT_ROOT is not None else Path.cwd()  # the checkout: notebooks/ and assignment/
HIDDEN = ROOT / "assignment" / "hidden_tests.py"
HIDDEN_MODULE = "dipnb_hidden_tests"  # its name inside the autograder (copied next to the submission)
REFERENCE = ROOT / "assignment" / "reference.py"  # the reference answers the hidden tests compare with
GIVEN = {"FullyConvNetwork": ("conv1",)}  # attributes the template gives (kept in the student's stub)
#: the role of a cell that only the solutions show (see the module docstring)
SOLUTION_ONLY = "solution-only"
#: the role of a cell that only the student edition shows (00's "Your tasks" for students; the report drops it)
STUDENT_ONLY = "student-only"


def solution_only(cell: nbformat.NotebookNode) -> bool:
    """True for a cell the student edition leaves out."""
    return cell.metadata.get("dipnb", {}).get("role") == SOLUTION_ONLY


def student_only(cell: nbformat.NotebookNode) -> bool:
    """True for a cell only the student edition shows (its metadata is dropped there)."""
    return cell.metadata.get("dipnb", {}).get("role") == STUDENT_ONLY


def _for_students(cells: list) -> list:
    """The cells the student edition shows, in order, without the edition markers."""
    out = []
    for cell in cells:
        if solution_only(cell):
            continue
        if student_only(cell):
            cell = nbformat.from_dict(json.loads(json.dumps(cell)))
            cell.metadata.pop("dipnb")
        out.append(cell)
    return out


@dataclass
class Question:
    name: str
    points: float
    notebook: str
    cells: dict[str, nbformat.NotebookNode] = field(default_factory=dict)


def questions_of(nb: nbformat.NotebookNode, notebook: str) -> list[Question]:
    """The questions of a notebook, in order, from the cells' ``dipnb`` metadata (validated)."""
    found: dict[str, Question] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("dipnb")
        if not meta or solution_only(cell) or student_only(cell):
            continue
        name, role = meta.get("question"), meta.get("role")
        if not name or role not in ("prompt", "solution", "check"):
            raise ValueError(f"{notebook}: cell {cell.get('id')} has dipnb metadata {meta}; it needs "
                             f"'question' and a 'role' of prompt, solution or check (or only role {SOLUTION_ONLY})")
        q = found.setdefault(name, Question(name, 0, notebook))
        if role in q.cells:
            raise ValueError(f"{notebook}: question {name!r} has two {role} cells")
        q.cells[role] = cell
        if role == "solution":
            q.points = float(meta.get("points", 0))
    for q in found.values():
        if "solution" not in q.cells or q.points <= 0:
            raise ValueError(f"{notebook}: question {q.name!r} needs a solution cell with points > 0")
    return list(found.values())


def _header_end(lines: list[str], node: ast.AST) -> int:
    """1-based line where the ``def``/``class`` header (possibly several lines) ends, i.e. ends with ':'."""
    for i in range(node.lineno, node.body[0].lineno + 1):
        code = lines[i - 1].split("#", 1)[0].rstrip()
        if code.endswith(":"):
            return i
    raise ValueError(f"cannot find the end of the header of {getattr(node, 'name', '?')}")


def _is_given(stmt: ast.stmt, given: tuple[str, ...]) -> bool:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):  # super().__init__()
        f = stmt.value.func
        return (isinstance(f, ast.Attribute) and f.attr == "__init__" and isinstance(f.value, ast.Call)
                and isinstance(f.value.func, ast.Name) and f.value.func.id == "super")
    if isinstance(stmt, ast.Assign):
        return all(isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
                   and t.attr in given for t in stmt.targets)
    return False


def fence_solutions(source: str, given: tuple[str, ...] = ()) -> str:
    """Insert ``# BEGIN SOLUTION`` / ``# END SOLUTION`` around the bodies of the functions and methods of a
    cell (after their docstrings and any given statements). Top-level statements stay as they are."""
    lines = source.splitlines()
    fences: list[tuple[int, int, int]] = []  # (insert BEGIN after line, END after line, indent)

    def visit_function(fn: ast.FunctionDef) -> None:
        body = list(fn.body)
        keep_until = _header_end(lines, fn)
        while body and (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                        and isinstance(body[0].value.value, str) or _is_given(body[0], given)):
            keep_until = body[0].end_lineno
            body.pop(0)
        if body:
            fences.append((keep_until, fn.body[-1].end_lineno, fn.body[0].col_offset))

    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            visit_function(node)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    visit_function(item)
    if not fences:
        raise ValueError("a solution cell must define at least one function or class with a body to write")
    for begin, end, indent in sorted(fences, reverse=True):
        pad = " " * indent
        lines.insert(end, pad + "# END SOLUTION")
        lines.insert(begin, pad + "# BEGIN SOLUTION")
    return "\n".join(lines)


def _raw(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_raw_cell(text)


def _test_cells(q: Question) -> list[nbformat.NotebookNode]:
    arg = q.name
    public = (f"def test_public({arg}):\n"
              f"    from dipnb.assignment import public\n"
              f"    public.{q.name}({arg})\n")
    hidden = (f"# HIDDEN\n"
              f"def test_hidden({arg}):\n"
              f"    import {HIDDEN_MODULE} as hidden\n"
              f"    hidden.{q.name}({arg})\n")
    return [nbformat.v4.new_code_cell(public), nbformat.v4.new_code_cell(hidden)]


CONFIG = f"""# ASSIGNMENT CONFIG
init_cell: true
check_all_cell: false
export_cell: false
run_tests: false
tests:
  files: true
  ok_format: false
generate: true
autograder_files:
  - {HIDDEN_MODULE}.py
  - reference.py
"""


def master_notebook(nb: nbformat.NotebookNode, notebook: str) -> nbformat.NotebookNode:
    """The otter master notebook of a solution notebook (see the module docstring)."""
    questions = {q.name: q for q in questions_of(nb, notebook)}
    cells = [_raw(CONFIG)]
    open_q: str | None = None
    for cell in _for_students(nb.cells):
        meta = cell.metadata.get("dipnb")
        cell = nbformat.from_dict(json.loads(json.dumps(cell)))
        cell.metadata.pop("dipnb", None)
        if not meta:
            cells.append(cell)
            continue
        q = questions[meta["question"]]
        role = meta["role"]
        if role in ("prompt", "solution") and open_q != q.name:
            cells.append(_raw(f"# BEGIN QUESTION\nname: {q.name}\npoints: {q.points:g}\nall_or_nothing: true"))
            open_q = q.name
        if role == "prompt":
            cells.append(cell)
        elif role == "solution":
            cell.source = fence_solutions(cell.source, GIVEN.get(q.name, ()))
            cells += [_raw("# BEGIN SOLUTION"), cell, _raw("# END SOLUTION"),
                      _raw("# BEGIN TESTS"), *_test_cells(q), _raw("# END TESTS"), _raw("# END QUESTION")]
            open_q = None
        # role == "check": the workbook's own check against the package; otter's grader.check replaces it
    return nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)


def _strip(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None


def _init_after_title(nb: nbformat.NotebookNode) -> None:
    """Move otter's init cell (``grader = otter.Notebook(...)``) from above the title to just below it."""
    if (len(nb.cells) > 1 and nb.cells[0].source.startswith("# Initialize Otter")
            and nb.cells[1].cell_type == "markdown"):
        nb.cells[0], nb.cells[1] = nb.cells[1], nb.cells[0]


def build(notebooks: Path = ROOT / "notebooks", out: Path = ROOT / "dist" / "assignment",
          work: Path | None = None, quiet: bool = True, course_images: Path | None = None,
          with_release: bool = True) -> dict[str, list[Question]]:
    """Write ``out/student``, ``out/autograder`` and (``with_release``) ``out/release`` + ``out/release.zip``
    (with the course's images from ``course_images``, default ``data/course_poisson``); returns the questions
    per notebook."""
    from otter.assign import main as otter_assign

    if not HIDDEN.is_file():
        raise FileNotFoundError(f"{HIDDEN} not found: build the assignment from the project checkout")
    out = out.resolve()
    work = (work or out / "build").resolve()
    workspace.keep_edits(out / "student", out / "kept")  # a student who worked here loses nothing
    for d in (out / "student", out / "autograder", work):
        shutil.rmtree(d, ignore_errors=True)
    (out / "student" / "tests").mkdir(parents=True)
    (out / "autograder").mkdir(parents=True)
    summary: dict[str, list[Question]] = {}
    for path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        _strip(nb)
        qs = questions_of(nb, path.name)
        if not qs:
            nb.cells = _for_students(nb.cells)
            nbformat.write(nb, out / "student" / path.name)
            continue
        summary[path.stem] = qs
        master_dir = work / path.stem
        master_dir.mkdir(parents=True)
        master = master_dir / path.name
        nbformat.write(master_notebook(nb, path.name), master)
        shutil.copy(HIDDEN, master_dir / f"{HIDDEN_MODULE}.py")
        shutil.copy(REFERENCE, master_dir / "reference.py")
        sink = io.StringIO()
        with contextlib.chdir(master_dir), contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
            otter_assign(master.name, "result", no_pdfs=True, no_run_tests=True)
        result = master_dir / "result"
        student = nbformat.read(result / "student" / path.name, as_version=4)
        _init_after_title(student)
        nbformat.write(student, out / "student" / path.name)
        for test in sorted((result / "student" / "tests").glob("*.py")):
            shutil.copy(test, out / "student" / "tests" / test.name)
        zips = sorted((result / "autograder").glob("*.zip"))
        if len(zips) != 1:
            raise RuntimeError(f"otter assign wrote {len(zips)} autograder zips for {path.name}")
        (out / "autograder" / path.stem).mkdir()
        shutil.copy(zips[0], out / "autograder" / path.stem / "autograder.zip")
    workspace.write_manifest(out / "student")
    index = {nb: [{"question": q.name, "points": q.points} for q in qs] for nb, qs in summary.items()}
    (out / "autograder" / "questions.json").write_text(json.dumps(index, indent=1))
    if with_release:
        release.build_release(ROOT, out / "student", out, index,
                              course_images if course_images is not None else data_dir() / "course_poisson")
    return summary


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m dipnb.assignment build", description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    ap.add_argument("--out", type=Path, default=ROOT / "dist" / "assignment")
    ap.add_argument("--course-images", type=Path, default=None,
                    help="the course's example image pairs for the release (default: data/course_poisson)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    summary = build(args.notebooks, args.out, course_images=args.course_images)
    total = sum(q.points for qs in summary.values() for q in qs)
    for nb, qs in summary.items():
        print(f"{nb:22s} " + ", ".join(f"{q.name} ({q.points:g})" for q in qs))
    print(f"{sum(map(len, summary.values()))} questions, {total:g} points · student edition in "
          f"{args.out / 'student'} · autograder in {args.out / 'autograder'} · release to hand out in "
          f"{args.out / 'release.zip'} · {time.perf_counter() - t0:.1f} s")
