"""The live plot keeps one figure and redraws it; image grids convert tensors, arrays and PIL images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dipnb.plots import LivePlot, show_images, to_display_array


def test_live_plot_accumulates_and_redraws_one_figure(tmp_path: Path) -> None:
    plot = LivePlot({"loss": ["train", "val"], "D": ["D(real)"]}, display=False)
    fig = plot.fig
    for epoch in range(3):
        plot.update(epoch, {"train": 1.0 / (epoch + 1), "val": float("nan") if epoch == 0 else 0.5, "D(real)": 0.7})
    assert plot.fig is fig and len(fig.axes) == 2
    assert plot.data["train"] == ([0.0, 1.0, 2.0], [1.0, 0.5, 1.0 / 3])
    assert plot.data["val"][0] == [1.0, 2.0]  # NaN points are skipped, not plotted
    assert [len(line.get_xdata()) for line in plot.axes["loss"].get_lines()] == [3, 2]
    plot.update(3, {"lr": 1e-3})  # an unknown curve joins the first panel
    assert "lr" in plot.series["loss"]
    assert plot.savefig(tmp_path / "loss.png").stat().st_size > 0


def test_live_plot_updates_a_display_handle(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    calls: list[str] = []

    class Handle:
        def update(self, obj: object) -> None:
            calls.append("update")

    def fake_display(obj: object, display_id: bool = False) -> Handle:
        assert display_id is True
        calls.append("display")
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    plot = LivePlot(display=True)
    for i in range(3):
        plot.update(i, {"train": float(i)})
    assert calls == ["display", "update", "update"]


def test_to_display_array_ranges() -> None:
    t = torch.tensor([-1.0, 0.0, 1.0]).view(3, 1, 1).expand(3, 2, 2)
    arr = to_display_array(t)
    assert arr.shape == (2, 2, 3) and np.allclose(arr[0, 0], [0.0, 0.5, 1.0])
    assert to_display_array(torch.full((1, 2, 2), 0.25)).shape == (2, 2)
    assert to_display_array(Image.new("RGB", (4, 3), (255, 0, 0)))[0, 0].tolist() == [1.0, 0.0, 0.0]


def test_show_images_saves(tmp_path: Path) -> None:
    fig = show_images([torch.rand(3, 8, 8), np.zeros((8, 8))], titles=["a", "b"], save=tmp_path / "g.png")
    assert len(fig.axes) == 2 and (tmp_path / "g.png").stat().st_size > 0
