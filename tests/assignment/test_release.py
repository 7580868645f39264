"""The release an instructor hands out: ``dist/assignment/release/`` and ``release.zip``.

Fast: what is in it (the student notebooks, their public tests, the course's images when this machine has them,
the package) and what is not (no solution cell's code, no hidden test, no reference answers, no solution notebook).
Slow: the release installed into a fresh virtual environment in a temporary folder, the README's commands run:
``python3 -m venv .venv`` as written; the install as written but with ``--no-deps`` (offline:
the pinned dependencies — torch is GBs — come from this interpreter's environment through a ``.pth`` file, so the
test does not cover downloading and resolving them); JupyterLab started with the README's command and asked for
notebook 00; notebook 00 executed top to bottom by that environment's kernel; ``grader.check`` run from the release
folder on a correct and on a wrong answer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest

from dipnb.assignment import build, release

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SHARED_IMAGES = Path("/work/shared/datasets/course_poisson")


def course_images() -> Path | None:
    for candidate in (ROOT / "data" / "course_poisson", SHARED_IMAGES):
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("assignment")
    build.build(NOTEBOOKS, out, course_images=course_images())
    return out


def solution_lines() -> dict[str, list[str]]:
    """Per question, the lines of its solution cell that the stub does not keep (the answer's code)."""
    out = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for c in nbformat.read(path, as_version=4).cells:
            meta = c.metadata.get("dipnb", {})
            if meta.get("role") == "solution":
                fenced = build.fence_solutions(c.source, build.GIVEN.get(meta["question"], ())).splitlines()
                body, inside = [], False
                for line in fenced:
                    if line.strip() == "# BEGIN SOLUTION":
                        inside = True
                    elif line.strip() == "# END SOLUTION":
                        inside = False
                    elif inside and len(line.strip()) >= 25 and not line.strip().startswith("#"):
                        body.append(line.strip())
                out[meta["question"]] = body
    return out


def release_texts(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text(errors="replace") for p in folder.rglob("*")
            if p.is_file() and p.suffix in (".py", ".ipynb", ".md", ".json", ".toml", ".txt")}


def test_release_holds_what_a_student_needs(built):
    rel = built / "release"
    names = sorted(p.name for p in rel.glob("[0-9][0-9]_*.ipynb"))
    assert names == sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    for nb in names:
        assert (rel / nb).read_bytes() == (built / "student" / nb).read_bytes()
    questions = json.loads((rel / "questions.json").read_text())
    for qs in questions.values():
        for q in qs:
            assert (rel / "tests" / f"{q['question']}.py").is_file()
    assert (rel / "package" / "pyproject.toml").is_file() and (rel / "package" / "dipnb" / "__init__.py").is_file()
    assert "otter-grader" in (rel / "package" / "pyproject.toml").read_text()
    readme = (rel / "README.md").read_text()
    assert release.SETUP in readme and release.OPEN in readme and release.CHECK in readme
    images = course_images()
    if images is None:
        assert "not included" in readme
    else:
        for src in sorted(images.rglob("*")):
            if src.is_file() and src.suffix.lower() in (".png", ".jpg", ".jpeg"):
                copy = rel / "data" / "course_poisson" / src.relative_to(images)
                assert copy.read_bytes() == src.read_bytes(), copy
    with zipfile.ZipFile(built / "release.zip") as z:
        zipped = {n.removeprefix("release/") for n in z.namelist()}
    assert zipped == {p.relative_to(rel).as_posix() for p in rel.rglob("*") if p.is_file()}


def test_release_holds_no_answer_and_no_hidden_test(built):
    rel = built / "release"
    texts = release_texts(rel)
    lines = solution_lines()
    assert sum(map(len, lines.values())) >= 30  # the check below has something to look for
    student_files = {n: t for n, t in texts.items() if not n.startswith("package/")}
    for question, body in lines.items():  # the notebooks, tests, README: no line of any solution cell
        for line in body:
            leaks = [name for name, text in student_files.items() if line in text]
            assert not leaks, f"{question}'s solution line {line!r} is in the release: {leaks}"
    # the package: its own implementations are there (hidden tests fail an answer that calls them), but no line
    # of the reference answers that grade, wherever they live
    package_own = {ln.strip() for f in (ROOT / "dipnb").rglob("*.py") if f.relative_to(ROOT).as_posix()
                   not in release.EXCLUDED for ln in f.read_text().splitlines()}
    for reference in [ROOT / e for e in release.EXCLUDED] + sorted((ROOT / "assignment").glob("*.py")):
        if reference.is_file():
            own = [ln.strip() for ln in reference.read_text().splitlines() if len(ln.strip()) >= 40
                   and not ln.strip().startswith(("#", "from ", "import ", '"""')) and ln.strip() not in package_own]
            assert len(own) >= 5
            for line in own:
                leaks = [n for n, t in texts.items() if n.startswith("package/") and line in t]
                assert not leaks, f"{reference.name}'s line {line!r} is in the release: {leaks}"
    hidden = (ROOT / "assignment" / "hidden_tests.py").read_text()
    hidden_defs = re.findall(r"^def (\w+)\(", hidden, re.M)
    distinctive = [ln.strip() for ln in hidden.splitlines() if "forbid_dipnb_calls(" in ln and "with" in ln]
    assert distinctive
    for name, text in texts.items():
        assert "hidden_tests" not in Path(name).name
        for ln in distinctive:
            assert ln not in text, f"a hidden test's line is in the release: {name}"
    assert hidden_defs
    files = {p.relative_to(rel).as_posix() for p in rel.rglob("*") if p.is_file()}
    for excluded in release.EXCLUDED:
        assert "package/" + excluded not in files
    assert not any(f.startswith(("notebooks/", "assignment/")) or "/notebooks/" in f for f in files)
    assert not any(f.endswith("autograder.zip") for f in files)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> tuple[Path, Path]:
    """The release unzipped into a temporary folder and installed into a fresh venv there (see the docstring)."""
    home = tmp_path_factory.mktemp("student")
    with zipfile.ZipFile(built / "release.zip") as z:
        z.extractall(home)
    rel = home / "release"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv_cmd, install_cmd = release.SETUP.split(" && ")
    base = shutil.which("python3") or sys.executable
    subprocess.run(venv_cmd.replace("python3", base, 1), shell=True, cwd=rel, env=env, check=True)
    py = rel / ".venv" / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # the pinned dependencies, offline: this environment's site-packages, after the fresh venv's own
    Path(purelib, "zz_pinned_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run(install_cmd + " --no-deps", shell=True, cwd=rel, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return rel, py


def _env(rel: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DIPNB_FIGURES")}
    env.update(DIPNB_PROFILE="ci", DIPNB_THREADS="1", OMP_NUM_THREADS="1", HOME=str(rel / "home"),
               JUPYTER_CONFIG_DIR=str(rel / "home" / "jupyter"), JUPYTER_DATA_DIR=str(rel / "home" / "data"),
               JUPYTER_RUNTIME_DIR=str(rel / "home" / "runtime"), IPYTHONDIR=str(rel / "home" / "ipython"))
    return env


@pytest.mark.slow
def test_installed_release_imports_its_own_package_without_answers(installed):
    rel, py = installed
    code = ("import dipnb, importlib.util, sys; print(dipnb.__file__); "
            "print(importlib.util.find_spec('dipnb.assignment.reference') is None)")
    out = subprocess.run([str(py), "-c", code], cwd=rel, env=_env(rel), capture_output=True, text=True, check=True)
    where, no_reference = out.stdout.split()
    assert Path(where).resolve().is_relative_to((rel / ".venv").resolve()), where
    assert no_reference == "True"


@pytest.mark.slow
def test_installed_release_opens_notebook_00_and_runs_it(installed):
    rel, py = installed
    port, token = _free_port(), "release-test"
    lab = subprocess.Popen(release.OPEN.split() + ["--no-browser", f"--ServerApp.port={port}",
                                                  f"--IdentityProvider.token={token}", "--ServerApp.ip=127.0.0.1"]
                           + (["--allow-root"] if os.geteuid() == 0 else []),
                           cwd=rel, env=_env(rel), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/00_getting_started.ipynb?token={token}"
        for _ in range(120):
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    served = json.loads(r.read())
                break
            except OSError:
                if lab.poll() is not None:
                    pytest.fail(f"JupyterLab exited: {lab.stdout.read()[-2000:]}")
                time.sleep(1)
        else:
            pytest.fail("JupyterLab did not answer within 2 minutes")
        assert served["type"] == "notebook" and served["name"] == "00_getting_started.ipynb"
    finally:
        lab.terminate()
        lab.wait(30)
    out = rel / "home" / "00_executed.ipynb"
    proc = subprocess.run([str(py), "-m", "nbconvert", "--to", "notebook", "--execute",
                           "00_getting_started.ipynb", "--output", str(out)],
                          cwd=rel, env=_env(rel), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors and sum(c.cell_type == "code" and bool(c.outputs) for c in executed.cells) >= 3


@pytest.mark.slow
def test_installed_release_grader_check(installed):
    rel, py = installed
    public = (rel / "package" / "dipnb" / "assignment" / "public.py").read_text()
    if re.search(r"^from dipnb\.assignment import reference", public, re.M):
        pytest.skip("the public checks still import dipnb.assignment.reference, which the release leaves out "
                    "(the reference answers move to the project's assignment/ folder in the grading issue)")
    solution = next(c.source for c in nbformat.read(NOTEBOOKS / "02_polygon_drawing.ipynb", as_version=4).cells
                    if c.metadata.get("dipnb", {}).get("role") == "solution")
    script = ("import numpy as np, otter\n"
              "grader = otter.Notebook(tests_dir='tests')\n"
              f"exec({solution!r})\n"
              "ok = grader.check('create_mask_from_points')\n"
              "def create_mask_from_points(points, img_h, img_w):\n"
              "    return np.zeros((img_h, img_w), np.uint8)\n"
              "bad = grader.check('create_mask_from_points')\n"
              "print('VERDICTS', ok.passed_all_public, bad.passed_all_public)\n")
    proc = subprocess.run([str(py), "-c", script], cwd=rel, env=_env(rel), capture_output=True, text=True)
    assert "VERDICTS True False" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
