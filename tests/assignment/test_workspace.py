"""Nothing a student wrote is ever lost.

A copy of the project (its Makefile, package, notebooks) in a temporary folder: ``make start`` creates the
workspace ``work/``, an answer is written into its notebook 02, and every make target that touches notebooks runs
(``assignment``, ``start`` again, ``grade``, ``clean``, ``strip``, ``check-notebooks``, and in the slow test
``report NOTEBOOKS=work``); the workspace's notebooks stay byte for byte what the student left. An answer typed
into the generated ``dist/assignment/student/`` is kept as a timestamped copy by the rebuild, and ``make clean``
refuses to delete it, naming the file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dipnb.assignment import workspace

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
COPY = ["Makefile", "pyproject.toml", "requirements.txt", ".importlinter", "dipnb", "notebooks", "assignment",
        "tests/test_notebooks_clean.py"]
ANSWER = "# my own answer, typed in the workspace (test_workspace)\n"


def make_project(tmp: Path) -> Path:
    """The project's sources copied into ``tmp/project`` (the package imported from there: PYTHONPATH)."""
    project = tmp / "project"
    project.mkdir()
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.is_file():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, project / name)
    return project


def run_make(project: Path, *args: str, ok: bool = True, timeout: int = 1800) -> subprocess.CompletedProcess:
    """``make ARGS`` in ``project`` with this interpreter's venv, never reinstalling it (``-o``)."""
    env = dict(os.environ, PYTHONPATH=str(project), DIPNB_PROFILE="ci", DIPNB_THREADS="1", OMP_NUM_THREADS="1")
    env.pop("DIPNB_FIGURES", None)
    cmd = ["make", "-C", str(project), f"VENV={VENV}", "-o", f"{VENV}/.installed", f"PYTHON={sys.executable}", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if ok:
        assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def write_answer(path: Path, name: str = "create_mask_from_points") -> bytes:
    """Put the solution notebook's answer to ``name`` (and a comment) into the stub cell; returns the bytes."""
    solution = next(c.source for c in nbformat.read(ROOT / "notebooks" / path.name, as_version=4).cells
                    if c.metadata.get("dipnb", {}).get("role") == "solution"
                    and c.metadata["dipnb"]["question"] == name)
    nb = nbformat.read(path, as_version=4)
    stub = next(c for c in nb.cells if c.cell_type == "code" and c.source.lstrip().startswith(f"def {name}("))
    stub.source = ANSWER + solution
    nbformat.write(nb, path)
    return path.read_bytes()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.ipynb"))}


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("ws"))
    out = run_make(project, "start").stdout
    assert "copied 00_getting_started.ipynb" in out, out
    work = project / "work"
    # a student who only kept the notebooks they work on (and so that grading and the report stay quick)
    for nb in work.glob("*.ipynb"):
        if not nb.name.startswith(("00_", "02_")):
            nb.unlink()
    answer = write_answer(work / "02_polygon_drawing.ipynb")
    return project, work, answer


@pytest.mark.slow
def test_start_never_overwrites(started):
    project, work, answer = started
    before = snapshot(work)
    out = run_make(project, "start").stdout
    assert "kept as you left them: 00_getting_started.ipynb, 02_polygon_drawing.ipynb" in out, out
    assert snapshot(work)["02_polygon_drawing.ipynb"] == answer
    assert set(snapshot(work)) > set(before)  # the notebooks deleted above came back; the kept ones are as they were
    for name in before:
        assert snapshot(work)[name] == before[name]
    (project / "elsewhere").mkdir()
    run_make(project, "start", "DEST=elsewhere/mine")
    assert (project / "elsewhere" / "mine" / "02_polygon_drawing.ipynb").is_file()
    assert (project / "elsewhere" / "mine" / "tests" / "create_mask_from_points.py").is_file()


@pytest.mark.slow
def test_every_make_target_leaves_the_workspace_intact(started):
    project, work, answer = started
    for nb in work.glob("*.ipynb"):  # the ones test_start_never_overwrites brought back
        if not nb.name.startswith(("00_", "02_")):
            nb.unlink()
    before = snapshot(work)
    assert before["02_polygon_drawing.ipynb"] == answer
    targets = [["assignment"], ["start"], ["grade", "SUBMISSION=work"], ["clean"], ["strip"], ["check-notebooks"],
               ["assignment"], ["clean"]]
    for args in targets:
        run_make(project, *args)
        after = {k: v for k, v in snapshot(work).items() if k in before}
        assert after == before, f"make {' '.join(args)} changed the workspace"
        for nb in work.glob("*.ipynb"):
            if nb.name not in before:
                nb.unlink()
    grades = (work / "grades.csv").read_text()
    assert "work,02_polygon_drawing,create_mask_from_points,4,4" in grades, grades


@pytest.mark.slow
def test_a_rebuild_keeps_what_was_typed_into_the_generated_edition(started):
    project, _, _ = started
    run_make(project, "assignment")
    student = project / "dist" / "assignment" / "student"
    assert workspace.edited_notebooks(student) == []
    typed = write_answer(student / "02_polygon_drawing.ipynb")
    assert workspace.edited_notebooks(student) == [student / "02_polygon_drawing.ipynb"]
    proc = run_make(project, "clean", ok=False)  # stops and names the file
    assert proc.returncode != 0 and "02_polygon_drawing.ipynb" in proc.stderr, proc.stderr
    assert (student / "02_polygon_drawing.ipynb").read_bytes() == typed
    out = run_make(project, "assignment").stdout
    assert "kept 1 edited notebook(s)" in out, out
    kept = sorted((project / "dist" / "assignment" / "kept").glob("*/student/02_polygon_drawing.ipynb"))
    assert len(kept) == 1 and kept[0].read_bytes() == typed
    run_make(project, "clean")  # the student edition is generated again: clean may go, and keeps the copy
    assert kept[0].read_bytes() == typed


def test_work_is_not_git_ignored():
    """A student who hands in through git must be able to commit ``work/``."""
    proc = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "work/02_polygon_drawing.ipynb"],
                          capture_output=True)
    if proc.returncode == 128:
        pytest.skip("not a git checkout")
    assert proc.returncode == 1, "work/ is git-ignored: a student handing in through git would commit nothing"


@pytest.mark.slow
def test_report_of_the_workspace_leaves_it_intact(started):
    project, work, answer = started
    for nb in work.glob("*.ipynb"):  # 02 only: quick (00 checks that all eight notebooks are there)
        if not nb.name.startswith("02_"):
            nb.unlink()
    before = snapshot(work)
    assert before["02_polygon_drawing.ipynb"] == answer
    run_make(project, "report", "NOTEBOOKS=work")
    assert snapshot(work) == before
    report_md = work / "report" / "markdown" / "REPORT.md"
    assert (work / "report" / "index.html").is_file() and report_md.is_file()
    assert (work / "report" / "markdown" / "REPORT_files" / "02_polygon_drawing.png").is_file()  # their blend
    assert not (project / "figures").exists()  # the workspace's figures go to work/report/figures
    from dipnb.report.markdown import ANALYSIS_BEGIN
    mine = "The blend above uses my own mask.\n"
    report_md.write_text(report_md.read_text().replace(ANALYSIS_BEGIN + "\n", ANALYSIS_BEGIN + "\n" + mine))
    out = run_make(project, "report", "NOTEBOOKS=work").stdout
    assert "02_polygon_drawing.ipynb: unchanged, from the cache" in out, out
    assert mine in report_md.read_text()
    assert snapshot(work) == before


def test_report_md_keeps_the_analysis_and_any_edit(tmp_path):
    from dipnb.report.markdown import ANALYSIS_BEGIN, ANALYSIS_END, write_report_md

    def generated(n: int) -> str:
        return f"# report\n\nnumbers of build {n}\n\n### Your analysis\n\n{ANALYSIS_BEGIN}\n*placeholder*\n{ANALYSIS_END}\n"

    path = tmp_path / "REPORT.md"
    write_report_md(path, generated(1))
    mine = "My mask agrees with the package's; the Adam blend stalls at 30 grey levels.\n"
    path.write_text(path.read_text().replace("*placeholder*\n", mine))
    write_report_md(path, generated(2))
    text = path.read_text()
    assert "numbers of build 2" in text and mine in text and "*placeholder*" not in text
    assert not list(tmp_path.glob("REPORT.edited-*.md"))  # an edit inside the block needs no copy
    edited = text.replace("# report", "# My report")  # an edit outside the block
    path.write_text(edited)
    write_report_md(path, generated(3))
    copies = list(tmp_path.glob("REPORT.edited-*.md"))
    assert len(copies) == 1 and copies[0].read_text() == edited
    assert mine in path.read_text() and "numbers of build 3" in path.read_text()


def test_make_lab_notebooks_opens_the_workspace(tmp_path):
    from dipnb import lab

    cmd = lab.lab_command(tmp_path, start="work/00_getting_started.ipynb")
    assert "--LabApp.default_url=/lab/tree/work/00_getting_started.ipynb" in cmd
    assert not any("default_url" in c for c in lab.lab_command(tmp_path))  # the config file's (the solutions' 00)
    assert lab.main(["--root", str(ROOT), "--notebooks", str(tmp_path / "nowhere")]) == 2  # no workspace: refused
