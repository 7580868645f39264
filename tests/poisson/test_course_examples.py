"""The course's example pairs (the template's data_poisson/): found, checked, offered first, and the offline photos
when they are absent — in the package, the blending app, and notebooks 02–04 run both ways."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from dipnb.poisson import seamless_clone
from dipnb.poisson.examples import (COURSE_PAIRS, blend_example, check_course_poisson, course_example,
                                    course_poisson_dir, example_problem)
from dipnb.widgets import BlendApp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_course_pairs(tmp_path, monkeypatch):
    """An empty data folder and no DIPNB_COURSE_POISSON_DIR: the course's pairs are absent."""
    monkeypatch.delenv("DIPNB_COURSE_POISSON_DIR", raising=False)
    monkeypatch.setenv("DIPNB_DATA", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def with_course_pairs(course_poisson, monkeypatch):
    monkeypatch.setenv("DIPNB_COURSE_POISSON_DIR", str(course_poisson))
    return course_poisson


def test_absent_pairs_fall_back_to_the_offline_photos(no_course_pairs, capsys):
    assert course_poisson_dir() is None
    ex = blend_example(128)
    assert ex.name == "astronaut_coffee" and "offline photos" in capsys.readouterr().out
    assert ex.mask.shape == ex.source.shape[-2:] and ex.mask.sum() > 100
    with pytest.raises(FileNotFoundError, match="make data"):
        course_example("monolisa")
    *_, origin = example_problem(32, verbose=False)
    assert "offline photos" in origin


def test_wrong_env_folder_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DIPNB_COURSE_POISSON_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="DIPNB_COURSE_POISSON_DIR"):
        blend_example(64)


def test_a_damaged_copy_in_the_data_folder_is_not_used(no_course_pairs, course_poisson):
    dest = no_course_pairs / "data" / "course_poisson"
    shutil.copytree(course_poisson, dest)
    assert course_poisson_dir() == dest
    (dest / "water" / "target.jpg").write_bytes(b"not the template's file")
    assert check_course_poisson(dest) == ["water/target.jpg: sha256 differs from the template's file (damaged or "
                                          "another image)"]
    assert course_poisson_dir() is None


def test_course_pairs_are_offered_first(with_course_pairs, capsys):
    for name, pair in COURSE_PAIRS.items():
        ex = course_example(name)
        assert ex.origin.startswith(f"the course's data_poisson/{name} pair (template e95e713)")
        ys, xs = torch.nonzero(ex.mask, as_tuple=True)  # our polygon lands inside the target
        assert int(ys.max()) + ex.offset[1] < ex.target.shape[-2] and int(xs.max()) + ex.offset[0] < ex.target.shape[-1]
        assert int(ex.mask.sum()) > 5000
    ex = blend_example(200)
    assert ex.name == "monolisa" and max(ex.target.shape[-2:]) == 200 and "monolisa" in capsys.readouterr().out
    src, tgt, mask, off, pts, origin = example_problem(48, verbose=False)
    box = torch.nonzero(mask).amax(0) - torch.nonzero(mask).amin(0) + 1
    assert "monolisa" in origin and 40 <= int(box.max()) <= 50
    out = seamless_clone(src, tgt, mask, off)
    assert out.shape == tgt.shape and not torch.equal(out, tgt)


def test_blend_app_starts_from_the_course_pair_or_says_it_does_not(course_poisson, monkeypatch, tmp_path):
    class Settings:
        image_size, fixed_adam_steps, adam_preview_every = 128, 50, 25

    monkeypatch.setenv("DIPNB_COURSE_POISSON_DIR", str(course_poisson))
    app = BlendApp.from_example(Settings())
    assert app.example.name == "monolisa" and "monolisa" in app.status.value
    assert app.use_default(app.example.points, app.example.offset)
    result = app.blend(mode="import", solver="fast (exact)")
    assert result.shape == app.target.shape and app.info.solver in ("mgpcg", "dst")
    monkeypatch.delenv("DIPNB_COURSE_POISSON_DIR")
    monkeypatch.setenv("DIPNB_DATA", str(tmp_path / "data"))
    app = BlendApp.from_example(Settings())
    assert app.example.name == "astronaut_coffee" and "offline photos" in app.status.value


def run_notebook(name: str) -> str:
    """Execute notebooks/<name> in a kernel that inherits this process's environment; returns its stdout."""
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}
                   ).execute()
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                     if o.get("output_type") == "stream")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["02_polygon_drawing.ipynb", "03_adam_solver.ipynb", "04_editing_gallery.ipynb"])
def test_notebooks_use_the_course_pairs_when_present(name, with_course_pairs, tmp_path, monkeypatch):
    """`make test` runs every notebook under nbval as the environment has it (in CI: without the pairs); this runs
    02–04 with them, every assert cell included."""
    monkeypatch.setenv("DIPNB_FIGURES", str(tmp_path / "figures"))
    out = run_notebook(name)
    assert "the course's data_poisson/monolisa pair (template e95e713)" in out


@pytest.mark.slow
def test_notebook_03_says_when_it_uses_the_offline_photos(no_course_pairs, monkeypatch):
    monkeypatch.setenv("DIPNB_FIGURES", str(no_course_pairs / "figures"))
    assert "using the offline photos" in run_notebook("03_adam_solver.ipynb")
