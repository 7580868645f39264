"""The course's settings are the current template's (DIP-Teaching e95e713, 2026-03-31), read back from the code
that runs: the blending loop's optimiser, step count, learning-rate drop and start; the FCN schedule the workbook
quotes."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import torch

from dipnb.config import PROFILES
from dipnb.poisson import clone_problem, polygon_mask, seamless_clone
from dipnb.poisson.solvers import adam as adam_module

ROOT = Path(__file__).resolve().parents[2]


class RecordingAdam(torch.optim.Adam):
    """torch's Adam that records the learning rate of every step it takes, and how it was built."""

    made: list["RecordingAdam"] = []

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.kwargs, self.lrs = kwargs, []
        RecordingAdam.made.append(self)

    def step(self, closure=None):
        self.lrs.append(self.param_groups[0]["lr"])
        return super().step(closure)


def test_course_loop_runs_the_templates_schedule(monkeypatch):
    """With no options, method="course" runs 5,000 Adam steps at lr 1e-2, × 0.1 after the template's step
    int(5000·2/3) = 3,333 (0-based), from Ω = 0.9·target + 0.1·source; nothing else is passed to Adam."""
    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    RecordingAdam.made.clear()
    g = torch.Generator().manual_seed(0)
    src, tgt = torch.rand(3, 9, 9, generator=g), torch.rand(3, 10, 10, generator=g)
    mask = polygon_mask([(1, 1), (7, 1), (7, 6), (1, 7)], (9, 9))
    out, info = seamless_clone(src, tgt, mask, (1, 1), solver="adam", method="course", return_info=True)
    (opt,) = RecordingAdam.made
    assert opt.kwargs == {"lr": 1e-2}  # Adam's other settings are torch's defaults, as in the template
    assert len(opt.lrs) == info.iterations == 5000
    # 0-based steps 0 … 3333 at 1e-2 (3,334 steps), then 1e-3 for the remaining 1,666
    assert opt.lrs[:3334] == [1e-2] * 3334
    assert all(abs(lr - 1e-3) < 1e-15 for lr in opt.lrs[3334:]) and len(opt.lrs[3334:]) == 1666
    assert info.extra["lr"] == 1e-2 and info.extra["max_steps"] == 5000 and info.extra["lr_drop_after"] == 3334
    assert (adam_module.COURSE_LR, adam_module.COURSE_STEPS, adam_module.course_lr_drop(5000)) == (1e-2, 5000, 3333)
    assert adam_module.COURSE_START_WEIGHTS == (0.9, 0.1)


def test_course_start_is_point_nine_target_plus_point_one_source():
    g = torch.Generator().manual_seed(1)
    src, tgt = torch.rand(3, 9, 9, generator=g), torch.rand(3, 10, 10, generator=g)
    mask = polygon_mask([(1, 1), (7, 1), (7, 6), (1, 7)], (9, 9))
    pb = clone_problem(src, tgt, mask, (1, 1))
    start = adam_module.course_start(pb.system, pb.x0)
    m = pb.system.m
    assert torch.allclose(start[:, m], 0.9 * pb.system.target[:, m] + 0.1 * pb.x0[:, m])
    assert torch.equal(start[:, ~m], pb.system.target[:, ~m])


def test_profiles_never_exceed_the_templates_steps():
    """ci may cap the loop; no profile runs more than the template's 5,000 steps; cpu and gpu run exactly them."""
    assert PROFILES["gpu"].poisson.adam_steps == PROFILES["cpu"].poisson.adam_steps == adam_module.COURSE_STEPS
    assert all(p.poisson.adam_steps <= adam_module.COURSE_STEPS for p in PROFILES.values())


OLD = [r"10,000 (Adam )?steps", r"lr \$?10\^\{-3\}\$? for", r"step 5,000", r"2,000 epochs", r"--epochs 2000\b",
       r"800 epochs"]


def _texts():
    yield "README.md", (ROOT / "README.md").read_text(encoding="utf-8")
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        yield nb_path.name, "\n".join(c.source for c in nb.cells)


@pytest.mark.parametrize("pattern", OLD)
def test_old_template_settings_appear_only_as_labelled_history(pattern):
    """The 2024 template's numbers (10,000 steps at lr 1e-3, × 0.1 at 5,000; 2,000 or 800 epochs) appear only on
    a line that says they are the 2024 version's."""
    bad = []
    for name, text in _texts():
        lines = text.splitlines()
        for k, line in enumerate(lines):
            context = " ".join(lines[max(0, k - 2):k + 1])  # a wrapped sentence: the label may sit on a line above
            if re.search(pattern, line) and "2024" not in context:
                bad.append(f"{name}: {line.strip()[:140]}")
    assert bad == []


def test_template_is_named_once_in_readme_and_notebook_00():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    nb = nbformat.read(ROOT / "notebooks" / "00_getting_started.ipynb", as_version=4)
    for text in (readme, "\n".join(c.source for c in nb.cells)):
        assert "e95e713" in text and "2026-03-31" in text
        assert "300 epochs" in text and "5,000" in text


def test_blend_app_progress_bar_counts_the_templates_steps():
    from dipnb.widgets import BlendApp

    app = BlendApp(torch.rand(3, 20, 20), torch.rand(3, 24, 24))
    app.adam_options = {"method": "course"}
    assert app.adam_total_steps() == adam_module.COURSE_STEPS == 5000
