"""The student edition as a student lives it.

* No answer above its question: each notebook of the generated student edition is executed (ci profile) up to
  each question's stub; there, every callable the notebook itself defined (not the stub, not an import) is handed
  to the question's public check, and none may pass. A positive control in the same kernel (the solution's own
  source, exec'd the same way) must pass, so the probe can see an answer when there is one.
* Solution-only cells: what the build leaves out, and that the solutions keep them.
"""

from __future__ import annotations

import json
import os
import shutil
import re
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from dipnb.assignment import build

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PROBE = "DIPNB-PROBE "


def solutions() -> dict[str, tuple[str, str]]:
    """question → (notebook stem, the solution cell's source)."""
    out = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for c in nbformat.read(path, as_version=4).cells:
            meta = c.metadata.get("dipnb", {})
            if meta.get("role") == "solution":
                out[meta["question"]] = (path.stem, c.source)
    return out


SOLUTIONS = solutions()


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edition")
    build.build(NOTEBOOKS, out)
    return out / "student"


def stub_index(nb: nbformat.NotebookNode, name: str) -> int:
    pattern = re.compile(rf"^(def|class) {name}\b", re.M)
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and pattern.search(c.source))


def probe_source(name: str, solution: str) -> str:
    """Code run in the student's kernel just above the stub of ``name``."""
    return textwrap.dedent(f"""
        import json as _json, signal as _signal
        from dipnb.assignment import public as _public

        def _passes(_candidate):
            def _timeout(*_):
                raise TimeoutError
            _old = _signal.signal(_signal.SIGALRM, _timeout)
            _signal.alarm(60)
            try:
                getattr(_public, {name!r})(_candidate)
                return True
            except BaseException:  # a failed check, a wrong signature, a timeout: not an answer
                return False
            finally:
                _signal.alarm(0)
                _signal.signal(_signal.SIGALRM, _old)

        _candidates = sorted(_k for _k, _v in list(globals().items())
                             if not _k.startswith("_") and _k != {name!r} and callable(_v)
                             and getattr(_v, "__module__", None) == "__main__")
        _passing = [_k for _k in _candidates if _passes(globals()[_k])]
        _control_ns = dict(globals())
        exec({solution!r}, _control_ns)
        _control = _passes(_control_ns[{name!r}])
        print({PROBE!r} + _json.dumps({{"question": {name!r}, "candidates": _candidates, "passing": _passing,
                                       "control": _control}}))
        """)


def probe_notebook(path: Path, tmp: Path) -> list[dict]:
    nb = nbformat.read(path, as_version=4)
    names = [q for q, (stem, _) in SOLUTIONS.items() if stem == path.stem]
    for name in names:  # insert the probes from the last question up, so indices stay valid
        pass
    for name in sorted(names, key=lambda n: -stub_index(nb, n)):
        nb.cells.insert(stub_index(nb, name), nbformat.v4.new_code_cell(probe_source(name, SOLUTIONS[name][1])))
    NotebookClient(nb, timeout=900, allow_errors=True, resources={"metadata": {"path": str(path.parent)}}).execute()
    found = []
    for c in nb.cells:
        for out in c.get("outputs", []):
            text = out.get("text", "")
            if out.get("name") == "stdout" and PROBE in text:
                found.append(json.loads(text.split(PROBE, 1)[1].splitlines()[0]))
    assert [f["question"] for f in found] == sorted(names, key=lambda n: stub_index(nb, n)), \
        f"{path.name}: a probe did not run (a cell above it hung or the kernel died)"
    return found


STEMS = sorted({stem for stem, _ in SOLUTIONS.values()})


@pytest.mark.slow
@pytest.mark.parametrize("stem", STEMS)
def test_no_answer_above_its_question(stem, edition, tmp_path, monkeypatch):
    monkeypatch.setenv("DIPNB_PROFILE", "ci")
    monkeypatch.setenv("DIPNB_FIGURES", str(tmp_path / "figures"))
    for result in probe_notebook(edition / f"{stem}.ipynb", tmp_path):
        assert result["control"], f"{result['question']}: the solution did not pass in the probe (the probe is blind)"
        assert result["passing"] == [], (f"{stem}: {result['passing']} (defined above the question) pass "
                                         f"{result['question']}'s public check: an answer above its question")


def test_solution_only_cells_are_left_out(edition):
    kept_in_solutions = 0
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        only = [c for c in nbformat.read(path, as_version=4).cells if build.solution_only(c)]
        kept_in_solutions += len(only)
        student = nbformat.read(edition / path.name, as_version=4)
        text = "\n".join(c.source for c in student.cells)
        for c in only:
            assert c.source.strip() not in text, f"{path.name}: solution-only cell {c.id} is in the student edition"
    assert kept_in_solutions >= 9
    assert "def slow_mask" not in (edition / "02_polygon_drawing.ipynb").read_text()
    assert "class StudentFCN" not in (edition / "05_fcn_model.ipynb").read_text()
    assert "loss_D = 0.5" not in (edition / "07_pix2pix.ipynb").read_text()


# -- their code drives the results: held-back answers, spied on ------------------------------------------------
SPY = '''
import builtins as _bi, functools as _ft, sys as _sys


def _from_checks():
    _fr = _sys._getframe(2)
    while _fr is not None:
        if "dipnb/assignment" in _fr.f_code.co_filename or "/tests/" in _fr.f_code.co_filename:
            return True
        _fr = _fr.f_back
    return False


def _count(_name):
    if not _from_checks():
        _calls = _bi.__dict__.setdefault("_dipnb_calls", {})
        _calls[_name] = _calls.get(_name, 0) + 1


if isinstance({name}, type):
    _orig_init_{name} = {name}.__init__

    def _spied_init(self, *a, **k):
        _count("{name}")
        _orig_init_{name}(self, *a, **k)

    {name}.__init__ = _spied_init
else:
    _orig_{name} = {name}

    @_ft.wraps(_orig_{name})
    def {name}(*a, **k):
        _count("{name}")
        return _orig_{name}(*a, **k)
'''
CALLS = "import builtins as _bi, json as _json\nprint(" + repr(PROBE) + " + _json.dumps(getattr(_bi, '_dipnb_calls', {})))"
#: what each notebook's flow must call after its questions (05's network is trained by 06)
DRIVEN = {"02_polygon_drawing": {"create_mask_from_points"}, "03_adam_solver": {"cal_laplacian_loss"},
          "06_training": {"FullyConvNetwork", "train_one_epoch", "validate"},
          "07_pix2pix": {"discriminator_loss", "generator_loss"}}


@pytest.fixture(scope="module")
def answered(edition, tmp_path_factory) -> Path:
    """The student edition with every stub replaced by the held-back answer (the solution) and a spy."""
    work = tmp_path_factory.mktemp("answered")
    for nb_path in sorted(edition.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        for name, (stem, solution) in SOLUTIONS.items():
            if stem == nb_path.stem:
                cell = nb.cells[stub_index(nb, name)]
                cell.source = solution + "\n" + SPY.replace("{name}", name)
        nbformat.write(nb, work / nb_path.name)
    shutil.copytree(edition / "tests", work / "tests")
    return work


@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(DRIVEN))
def test_their_functions_drive_the_results(stem, answered, tmp_path, monkeypatch):
    monkeypatch.setenv("DIPNB_PROFILE", "ci")
    monkeypatch.setenv("DIPNB_DATA", str(tmp_path / "data"))  # runs and synthetic data in a temporary folder
    monkeypatch.setenv("DIPNB_FIGURES", os.environ.get("DIPNB_FIGURES") or str(tmp_path / "figures"))
    nb = nbformat.read(answered / f"{stem}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(CALLS))
    NotebookClient(nb, timeout=900, allow_errors=True, resources={"metadata": {"path": str(answered)}}).execute()
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, f"{stem} with correct answers raised: {errors}"
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    calls = json.loads(text.split(PROBE, 1)[1].splitlines()[0])
    for name in DRIVEN[stem]:
        assert calls.get(name, 0) > 0, f"{stem}: the notebook's {name} was never called after its question: {calls}"
        assert f"`{name}` as defined in this notebook is used from here on" in text
        assert f"`{name}` is not written yet" not in text


def test_student_notebook_00_points_at_the_students_own_folder(edition):
    text = "\n".join(c.source for c in nbformat.read(edition / "00_getting_started.ipynb", as_version=4).cells)
    assert "This is the student edition" in text and "make start" in text and "grader.check" in text
    assert "The notebooks in `notebooks/` are the worked solutions" not in text
    assert "make lab NOTEBOOKS=work" in text
    solutions = "\n".join(c.source for c in nbformat.read(NOTEBOOKS / "00_getting_started.ipynb", as_version=4).cells)
    assert "make assignment" in solutions
