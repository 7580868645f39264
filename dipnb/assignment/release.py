"""The release an instructor hands out: ``dist/assignment/release/`` and ``dist/assignment/release.zip``.

Written by ``make assignment`` after the student edition. It holds what a student needs and nothing that grades:

* the student notebooks (``NN_*.ipynb``, stubs under each question) and their public tests (``tests/``);
* ``questions.json`` (which questions each notebook asks, and their points) for ``python -m dipnb.assignment check``;
* the course's example images (``data/course_poisson/``, when the build finds them; else the README says why not);
* ``package/``: the ``dipnb`` package to ``pip install``, **without** the reference answers and the hidden
  tests (:data:`EXCLUDED`; the hidden tests live in the project's top-level ``assignment/`` and only inside the
  autograder, never in the package), and its exact pins;
* ``README.md``: two commands that set up a fresh machine and open JupyterLab on notebook 00, and how to check
  every answer, build the report and hand in.

A notebook a student edited inside an earlier release folder is kept (timestamped copy) before the rebuild.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

from dipnb.assignment import workspace

#: Paths (relative to the project root) never copied into the release's package: the answers and hidden tests.
EXCLUDED = ("dipnb/assignment/reference.py",)
#: File-name patterns never copied into the release's package (caches, hidden tests under any name).
EXCLUDED_PATTERNS = ("__pycache__", "*.pyc", "*hidden_tests*", "*.egg-info")
SETUP = "python3 -m venv .venv && .venv/bin/python -m pip install -c package/requirements.txt ./package"
OPEN = ".venv/bin/python -m jupyterlab 00_getting_started.ipynb"
CHECK = ".venv/bin/python -m dipnb.assignment check ."
REPORT = ".venv/bin/python -m dipnb.report --out report [0-9][0-9]_*.ipynb"

README = """# DIP with PyTorch, assignment 2: Poisson image editing and pix2pix (student edition)

Numbered JupyterLab notebooks that teach the assignment and ask its questions: `create_mask_from_points` (02),
`cal_laplacian_loss` (03) and `FullyConvNetwork` (05) — the course template's three blanks — plus {others}.
Work in this folder: it is yours, no command here regenerates or overwrites a notebook.

## Set up and open (two commands; Python 3.10 or newer)

```bash
{setup}
{open}
```

The first creates a virtual environment `.venv` here and installs the workbook's package `dipnb` with its pinned
dependencies (PyTorch included: a few minutes and about 1 GB the first time). The second opens JupyterLab on
notebook 00; the notebooks run offline.

## Answer and check

Each question is a cell with a stub (`...`) under a short task statement. Write your answer there and run the check
cell below it, `grader.check("<question>")`: it runs the question's public tests and says what is wrong. From then
on the notebook uses **your** definition — your mask drives the blending app, your loss the Adam blend, your network
and loops the training; while a stub is still empty the workbook's own is used and one line says so. Passing the
public tests is not full marks: your instructor's grader also runs hidden tests on other inputs (and fails an
answer that calls `dipnb` instead of computing the result).

Check every answer at once (runs each notebook top to bottom in a fresh kernel, your files untouched):

```bash
{check}
```

## Your report

```bash
{report}
```

writes `report/index.html` (every notebook as a page, with your figures and numbers) and
`report/markdown/REPORT.md`, the Markdown hand-in. Executions are cached: a rebuild after editing prose runs
nothing again. Write your analysis between the `<!-- your analysis -->` markers of `REPORT.md`: rebuilds keep it.

## Hand in

The notebooks (`NN_*.ipynb`) and `report/markdown/` (with its figures), as your course asks — a zip of this folder
without `.venv/`, or a git repository with these files committed.

## What is here

| path | what |
|---|---|
| `NN_*.ipynb` | the notebooks, in order |
| `tests/` | the public tests behind `grader.check` |
| `questions.json` | the questions of each notebook and their points |
| `data/course_poisson/` | {images} |
| `package/` | the `dipnb` package (no reference answers, no hidden tests) and `requirements.txt` (exact pins) |
"""


def _package(root: Path, dest: Path) -> list[str]:
    """Copy the ``dipnb`` package and its install files into ``dest``; returns what was left out."""
    excluded = [e for e in EXCLUDED if (root / e).exists()]

    def ignore(folder: str, names: list[str]) -> set[str]:
        out = set(shutil.ignore_patterns(*EXCLUDED_PATTERNS)(folder, names))
        rel = Path(folder).resolve().relative_to(root.resolve())
        return out | {n for n in names if (rel / n).as_posix() in EXCLUDED}

    shutil.copytree(root / "dipnb", dest / "dipnb", ignore=ignore)
    shutil.copy2(root / "requirements.txt", dest / "requirements.txt")
    pyproject = (root / "pyproject.toml").read_text()
    pyproject = re.sub(r'^readme = .*\n', "", pyproject, flags=re.M)  # the project's README is not shipped
    # the student notebooks start with `import otter` (grader.check): a runtime dependency of the release
    pyproject = pyproject.replace('dependencies = [\n', 'dependencies = [\n    "otter-grader>=7.0",\n', 1)
    (dest / "pyproject.toml").write_text(pyproject)
    return excluded


def build_release(root: Path, student: Path, out: Path, questions: dict[str, list[dict]],
                  course_images: Path | None, log=print) -> Path:
    """Write ``out/release/`` and ``out/release.zip`` from the student edition ``student``; returns the zip."""
    release = out / "release"
    workspace.keep_edits(release, out / "kept", log)
    shutil.rmtree(release, ignore_errors=True)
    release.mkdir(parents=True)
    for nb in sorted(student.glob("[0-9][0-9]_*.ipynb")):
        shutil.copy2(nb, release / nb.name)
    shutil.copytree(student / "tests", release / "tests")
    (release / "questions.json").write_text(json.dumps(questions, indent=1))
    if course_images is not None and course_images.is_dir() and any(course_images.rglob("*.*g")):
        shutil.copytree(course_images, release / "data" / "course_poisson")
        images = "the course's example images (" + ", ".join(
            sorted(p.name for p in (release / "data" / "course_poisson").iterdir() if p.is_dir())) + ")"
    else:
        images = (f"not included: the build found no course images in {course_images} "
                  "(`python -m dipnb.data` fetches them where a downloader exists)")
        log(f"release: {images}")
    excluded = _package(root, release / "package")
    names = [q["question"] for qs in questions.values() for q in qs]
    others = [f"`{n}`" for n in names if n not in ("create_mask_from_points", "cal_laplacian_loss", "FullyConvNetwork")]
    (release / "README.md").write_text(README.format(
        others=", ".join(others), setup=SETUP, open=OPEN, check=CHECK, report=REPORT, images=images))
    _warn_if_public_checks_need(release / "package", excluded, log)
    workspace.write_manifest(release)
    zip_path = out / "release.zip"
    tmp = zip_path.with_name(".release.zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(release.rglob("*")):
            if p.is_file():
                z.write(p, Path("release") / p.relative_to(release))
    tmp.replace(zip_path)
    return zip_path


def _warn_if_public_checks_need(package: Path, excluded: list[str], log) -> None:
    """Say so when a module the release ships imports one it leaves out (the check would fail at import)."""
    gone = [Path(e).stem for e in excluded]
    for py in sorted(package.rglob("*.py")):
        text = py.read_text()
        for name in gone:
            if re.search(rf"^\s*(from dipnb\.assignment import .*\b{name}\b|import dipnb\.assignment\.{name}\b|"
                         rf"from dipnb\.assignment\.{name} import)", text, re.M):
                log(f"release: WARNING {py.relative_to(package)} imports {name}, which the release leaves out: "
                    "grader.check cannot run from the release until the public checks stop needing it")


__all__ = ["CHECK", "EXCLUDED", "OPEN", "SETUP", "build_release"]
