"""A class graded in one command: seven generated students, one graded class shared by the tests.

correct   — the workbook's answers put back into the student edition (+ a later exercise that redefines a graded
            name wrongly: the grade is the question's own cell's)
blank     — the student edition as handed out
wrong     — one wrong answer per question
hanging   — correct, but 01's answer cell kills its own process, 03's loops forever, 04's allocates 64 GB
renamed   — correct, as a .zip, with `02_polygon_drawing (1).ipynb`, `05_FCN.ipynb` and two notebooks 04
missing   — correct, without notebook 07
forging   — blank answers; replaces the checks (top of 05 and inside its answer cell), searches the disk for the
            hidden tests and the solutions, writes grades.csv / a feedback file and deletes its own folder's files
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import textwrap
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from dipnb.assignment import build
from dipnb.assignment.grade import grade, match_notebooks

from test_assignment import NOTEBOOKS, QUESTIONS, WRONG, put_back

ROOT = Path(__file__).resolve().parents[2]
STEMS = sorted({p.stem for p, _ in QUESTIONS.values()})
POINTS = {name: q.points for name, (_, q) in QUESTIONS.items()}
NOTEBOOK_OF = {name: p.stem for name, (p, _) in QUESTIONS.items()}
WRONG_PICK = {q: next(iter(ws)) for q, ws in WRONG.items()}
TIMEOUT = 60.0


def _answer_cells(nb) -> dict[str, nbformat.NotebookNode]:
    out = {}
    for c in nb.cells:
        if "otter_answer_cell" in c.metadata.get("tags", []):
            for name in QUESTIONS:
                if f"def {name}(" in c.source or f"class {name}(" in c.source:
                    out[name] = c
    return out


def _edit(path: Path, fn) -> None:
    nb = nbformat.read(path, as_version=4)
    fn(nb)
    nbformat.write(nb, path)


def _solved(student: Path, out: Path) -> None:
    out.mkdir(parents=True)
    for path in sorted(student.glob("*.ipynb")):
        if path.stem in STEMS:
            put_back(path, NOTEBOOKS / path.name, out)
        else:
            shutil.copy(path, out / path.name)


FORGE = """
import dipnb.assignment.public as _pub, sys as _sys
for _n in dir(_pub):
    if callable(getattr(_pub, _n)) and not _n.startswith("_"):
        setattr(_pub, _n, lambda *a, **k: None)
for _m in list(_sys.modules.values()):
    if getattr(_m, "__name__", "") in ("dipnb_hidden_tests", "dipnb_reference"):
        for _n in dir(_m):
            if callable(getattr(_m, _n)) and not _n.startswith("_"):
                setattr(_m, _n, lambda *a, **k: None)
"""

SEARCH = """
from pathlib import Path as _P
_found = []  # files anywhere in the checkout, the class, the autograder that hold hidden tests or answers
for _root in {roots!r}:
    for _pat in ("*hidden*", "*reference*", "*.zip", "*.ipynb", "*.py"):
        for _p in _P(_root).rglob(_pat):
            if _P.cwd() in _p.parents or not _p.is_file():
                continue
            try:
                _text = _p.read_text(errors="ignore")
            except OSError:
                continue
            if any(_s in _text for _s in ("def even_odd_" + "mask", "def reference_" + "epoch", '"role": ' + '"solution"')):
                _found.append(str(_p))
_opened = []
for _f in {files!r}:
    try:
        open(_f).read(10)
        _opened.append(_f)
    except OSError:
        pass
_written = []
for _f in {targets!r}:
    try:
        with open(_f, "w") as _h:
            _h.write("forging,everything,full marks\\n")
        _written.append(_f)
    except OSError:
        pass
for _p in list(_P.cwd().glob("*.ipynb")):
    _p.unlink()  # its own (temporary) folder: allowed, and harmless
assert not _found and not _opened and not _written, f"FOUND {{_found}} OPENED {{_opened}} WROTE {{_written}}"
"""


def make_class(edition: Path, root: Path) -> None:
    student = edition / "student"
    blank = root / "blank"
    shutil.copytree(student, blank, ignore=shutil.ignore_patterns("tests"))
    _solved(student, root / "correct")
    # a later exercise that redefines a graded name (02 ex. 2 invites it): the grade is the question's cell's
    _edit(root / "correct" / "02_polygon_drawing.ipynb", lambda nb: nb.cells.append(nbformat.v4.new_code_cell(
        "def create_mask_from_points(points, img_h, img_w):\n    return None  # an exercise's experiment")))

    shutil.copytree(blank, root / "wrong")
    for name, pick in WRONG_PICK.items():
        def put(nb, name=name, pick=pick):
            cell = _answer_cells(nb)[name]
            cell.source = QUESTIONS[name][1].cells["solution"].source + "\n\n" + textwrap.dedent(WRONG[name][pick])
        _edit(root / "wrong" / f"{NOTEBOOK_OF[name]}.ipynb", put)

    _solved(student, root / "hanging")
    for stem, name, extra in (("01_poisson_theory", "solve_eq7", "import os\nos.kill(os.getpid(), 9)"),
                              ("03_adam_solver", "cal_laplacian_loss", "while True:\n    pass"),
                              ("04_editing_gallery", "mixed_gradient_field", "hog = bytearray(64 * 2**30)")):
        _edit(root / "hanging" / f"{stem}.ipynb",
              lambda nb, name=name, extra=extra: setattr(_answer_cells(nb)[name], "source",
                                                         _answer_cells(nb)[name].source + "\n\n" + extra))

    renamed = root / "_renamed"
    _solved(student, renamed)
    (renamed / "02_polygon_drawing.ipynb").rename(renamed / "02_polygon_drawing (1).ipynb")
    (renamed / "05_fcn_model.ipynb").rename(renamed / "05_FCN.ipynb")
    old = renamed / "04_editing_gallery (1).ipynb"
    shutil.copy(blank / "04_editing_gallery.ipynb", old)  # an older blank copy beside the answered one
    past = time.time() - 3600
    os.utime(old, (past, past))
    with zipfile.ZipFile(root / "renamed.zip", "w") as z:
        for p in sorted(renamed.rglob("*")):
            z.write(p, Path("renamed-hw2") / p.relative_to(renamed))
    shutil.rmtree(renamed)

    _solved(student, root / "missing")
    (root / "missing" / "07_pix2pix.ipynb").unlink()

    shutil.copytree(blank, root / "forging")
    search = SEARCH.format(roots=[str(p) for p in ROOT.iterdir() if p.is_dir() and p.name not in (".venv", "data")]
                           + [str(root), str(edition)],
                           files=[str(ROOT / "assignment" / "hidden_tests.py"), str(ROOT / "assignment" / "reference.py"),
                                  str(ROOT / "notebooks" / "05_fcn_model.ipynb")],
                           targets=[str(root / "grades.csv"), str(root / "feedback" / "forging.md"),
                                    str(root / "correct" / "05_fcn_model.ipynb")])

    def forge(nb):
        nb.cells.insert(2, nbformat.v4.new_code_cell(FORGE + "\n" + search))
        cell = _answer_cells(nb)["FullyConvNetwork"]
        cell.source += "\n\n" + FORGE
    _edit(root / "forging" / "05_fcn_model.ipynb", forge)


def _digest(root: Path) -> dict[str, tuple[str, float]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime)
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0] not in
            ("grades.csv", "summary.csv", "feedback")}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    edition = tmp_path_factory.mktemp("edition")
    build.build(NOTEBOOKS, edition)
    root = tmp_path_factory.mktemp("class")
    make_class(edition, root)
    before = _digest(root)
    t0 = time.perf_counter()
    runs = grade(root, jobs=2, timeout=TIMEOUT, log=print, protect=(edition,))
    seconds = time.perf_counter() - t0
    return root, runs, before, seconds


def _rows(root: Path) -> dict[tuple[str, str], float]:
    with open(root / "grades.csv") as f:
        return {(r["student"], r["question"]): float(r["points"]) for r in csv.DictReader(f)}


EXPECTED_ZERO = {
    "correct": set(),
    "blank": set(QUESTIONS),
    "wrong": set(QUESTIONS),
    "hanging": {"solve_eq7", "cal_laplacian_loss", "mixed_gradient_field"},
    "renamed": set(),
    "missing": {"discriminator_loss", "generator_loss"},
    "forging": set(QUESTIONS),
}


@pytest.mark.slow
def test_the_class_gets_the_expected_rows(graded):
    root, runs, _, seconds = graded
    print(f"graded 7 students in {seconds:.0f} s")
    rows = _rows(root)
    assert (root / "grades.csv").read_text().splitlines()[0] == "student,notebook,question,points,max_points"
    assert len(rows) == 7 * len(QUESTIONS)  # every student × question, missing notebooks included
    got = {s: {q for q in QUESTIONS if rows[(s, q)] == 0} for s in EXPECTED_ZERO}
    assert got == EXPECTED_ZERO
    for (s, q), points in rows.items():
        assert points in (0, POINTS[q])
    with open(root / "summary.csv") as f:
        summary = {r["student"]: r for r in csv.DictReader(f)}
    assert float(summary["correct"]["total"]) == float(summary["correct"]["max"]) == sum(POINTS.values())
    assert float(summary["missing"]["total"]) == sum(POINTS.values()) - POINTS["discriminator_loss"] - POINTS[
        "generator_loss"]
    assert set(summary) == set(EXPECTED_ZERO)


@pytest.mark.slow
def test_feedback_says_why(graded):
    root, runs, _, _ = graded
    fb = {s: (root / "feedback" / f"{s}.md").read_text() for s in EXPECTED_ZERO}
    assert "use 255, not 1" in fb["wrong"] or "rows are y" in fb["wrong"]  # the public checks' own messages
    assert "Hidden tests: **failed**" in fb["wrong"]
    assert "timed out after 60 s" in fb["hanging"] and "killed by signal 9" in fb["hanging"]
    assert "MemoryError" in fb["hanging"]
    assert "no notebook numbered 07" in fb["missing"]
    assert "graded the newest, `renamed-hw2/04_editing_gallery.ipynb`" in fb["renamed"]
    assert "`renamed-hw2/02_polygon_drawing (1).ipynb`" in fb["renamed"]
    assert "replaced the grader's" in fb["forging"] or "has no layers besides conv1" in fb["forging"]
    for text in fb.values():  # never the hidden tests' code or inputs
        assert "def " not in text and "manual_seed(" not in text


@pytest.mark.slow
def test_forging_and_snooping_change_nothing(graded):
    root, runs, before, _ = graded
    forging = [r for r in runs if r.student == "forging" and r.notebook == "05_fcn_model"][0]
    assert forging.rows[0].points == 0
    # the search cell ran and found, opened and wrote nothing (else it raised "FOUND …" in the feedback)
    assert "cell 2" not in " ".join(forging.cell_errors), forging.cell_errors
    assert _digest(root) == before  # no submission file changed or vanished
    lines = (root / "grades.csv").read_text()
    assert "forging,everything,full marks" not in lines and "forging,everything" not in (
        root / "feedback" / "forging.md").read_text()


def test_notebooks_are_matched_by_number(tmp_path):
    for name in ("02_Polygon.ipynb", "02_polygon_drawing (1).ipynb", "05_fcn_model.ipynb", "notes.ipynb"):
        (tmp_path / name).write_text("{}")
    os.utime(tmp_path / "02_Polygon.ipynb", (1, 1))
    found = match_notebooks(tmp_path, ["02_polygon_drawing", "05_fcn_model", "07_pix2pix"])
    assert found["02_polygon_drawing"][0].name == "02_polygon_drawing (1).ipynb"
    assert "2 notebooks numbered 02" in found["02_polygon_drawing"][1]
    assert found["05_fcn_model"][0].name == "05_fcn_model.ipynb" and found["05_fcn_model"][1] == ""
    assert found["07_pix2pix"][0] is None and "no notebook numbered 07" in found["07_pix2pix"][1]


@pytest.mark.slow
def test_one_student_writes_the_same_files(graded, tmp_path):
    """``make grade SUBMISSION=DIR``: one student's folder, graded as the class's one row set."""
    root, runs, _, _ = graded
    one = tmp_path / "s123"
    shutil.copytree(root / "missing", one)
    for p in one.glob("*.ipynb"):
        if not p.name.startswith("02"):
            p.unlink()
    grade(one, single=True, jobs=2, timeout=TIMEOUT, log=print)
    rows = _rows(one)
    assert len(rows) == len(QUESTIONS) and rows[("s123", "create_mask_from_points")] == 4
    assert sum(rows.values()) == 4
    assert (one / "summary.csv").is_file() and (one / "feedback" / "s123.md").is_file()


def _cell(source: str, **meta) -> dict:
    return {"cell_type": "code", "source": source, "metadata": meta}


def test_grading_is_bound_to_the_questions_own_cell():
    from dipnb.assignment.checker import answer_cell, needed_cells

    cells = [_cell("import numpy as np\nimport heavy_data_loading_module as hd"), _cell("data = hd.load()"),
             _cell("def helper(a):\n    return np.asarray(a)"), {"cell_type": "markdown", "source": "x", "metadata": {}},
             _cell("def f(a):\n    return helper(a) * 2"), _cell('grader.check("f")'),
             _cell("def f(a):  # exercise 2: an experiment\n    return None")]
    assert answer_cell(cells, "f") == (4, "")
    assert needed_cells(cells, 4, ran=set(range(len(cells)))) == [0, 2, 4]  # not the data cell, not the later f
    assert answer_cell(cells[:5] + cells[6:], "f")[0] == 4  # no check cell: the first definition
    assert answer_cell(cells, "g")[0] is None


def test_an_answer_that_patches_the_checks_while_it_runs_scores_zero():
    """Graded in a forked child (as the checker does), so the patch cannot leak into this test session."""
    import json as _json

    from dipnb.assignment import checker, public

    hidden = checker.load_file(checker.HIDDEN_NAME, ROOT / "assignment" / "hidden_tests.py")
    cells = [_cell("import torch"), _cell(
        "def solve_eq7(g, fstar, mask):\n"
        "    import dipnb.assignment.public as p\n"
        "    p.check_eq7_rows = lambda *a, **k: None\n"
        "    return fstar.clone()", tags=["otter_answer_cell"])]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            res = checker.grade_question("solve_eq7", cells, {0: None, 1: None}, public, hidden,
                                         checker.Snapshot([public, sys_modules_reference(), hidden]))
            os.write(w, _json.dumps(res).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.waitpid(pid, 0)
    res = _json.loads(data)
    assert not res["public"] and not res["hidden"]
    assert "replaced the grader's dipnb.assignment.public.check_eq7_rows" in res["public_message"]


def sys_modules_reference():
    import sys

    return sys.modules["dipnb_reference"]
