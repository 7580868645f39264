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
    plot.update(3, {"lr": 1e-3, "seconds": 12.5, "grad norm": 3.0})
    assert plot.series[LivePlot.RATE] == ["lr"]  # the rate has its own panel
    assert plot.series[LivePlot.OTHER] == ["grad norm"]  # unknown curves never join a loss panel
    assert "seconds" not in plot.data and "12.5 s" in plot.fig._suptitle.get_text()  # time: in the title
    assert plot.series["loss"] == ["train", "val"]
    assert plot.savefig(tmp_path / "loss.png").stat().st_size > 0


def test_identical_curves_are_drawn_once_and_named_together() -> None:
    """A validation loss that is the val L1 (the criterion is L1) would hide under it: one line, both names."""
    plot = LivePlot({"loss": ["train loss", "val loss", "val L1"]}, display=False)
    for epoch in range(3):
        val = 0.7 - 0.01 * epoch
        plot.update(epoch, {"train loss": 0.74 - 0.02 * epoch, "val loss": val, "val L1": val * (1 + 1e-7)})
    labels = [line.get_label() for line in plot.axes["loss"].get_lines()]
    assert labels == ["train loss", "val loss = val L1"]
    assert [t.get_text() for t in plot.axes["loss"].get_legend().get_texts()] == labels
    plot.update(3, {"train loss": 0.6, "val loss": 0.66, "val L1": 0.5})  # they part: two curves again
    assert [line.get_label() for line in plot.axes["loss"].get_lines()] == ["train loss", "val loss", "val L1"]


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


# -- the saved live plot shows its losses ----------------------------------------------------------------
def _rows_l1(epochs: int = 12) -> list[dict[str, float]]:
    """History rows shaped like a real FCN run (history.csv of notebook 06): losses, rate and time per epoch."""
    return [{"epoch": e + 1, "train L1": 0.45 * 0.93 ** e, "val L1": 0.47 * 0.95 ** e + 0.01 * (e % 2),
             "lr": 1e-3 if e < epochs // 2 else 1e-3 * (epochs - e) / (epochs - epochs // 2),
             "seconds": 40.0 + 5 * (e % 3)} for e in range(epochs)]


def _rows_gan(epochs: int = 12) -> list[dict[str, float]]:
    """History rows shaped like a real pix2pix run (notebook 07): G's parts, D's loss and verdicts, rate, time."""
    rows = []
    for e in range(epochs):
        l1 = 0.40 * 0.94 ** e
        gan = 0.8 + 0.06 * e
        rows.append({"epoch": e + 1, "G(GAN)": gan, "G(L1)": l1, "G loss": gan + 100 * l1, "D loss": 0.69 - 0.02 * e,
                     "D(real)": 0.5 + 0.02 * e, "D(fake)": 0.5 - 0.02 * e, "val L1": 0.42 * 0.95 ** e,
                     "lr": 2e-4, "seconds": 60.0 + e})
    return rows


def curve_spans(png: Path, fig, curves: dict[str, list[str]]) -> dict[str, float]:
    """Read a saved figure back: for each curve, the fraction of its panel's height its pixels cover.

    ``fig`` gives where each panel and legend lie (the PNG must be saved at ``fig.dpi`` without cropping) and
    each curve's colour; the pixels themselves come from the PNG file. Legend boxes are masked out.
    """
    from matplotlib.colors import to_rgb

    img = np.asarray(Image.open(png).convert("RGB")).astype(np.int16)
    height = img.shape[0]
    spans = {}
    for ax in fig.axes:
        names = curves.get(ax.get_title(), [])
        lines = {line.get_label(): line for line in ax.get_lines()}
        x0, y0, x1, y1 = (int(round(v)) for v in ax.get_window_extent().extents)
        legend = ax.get_legend()
        for name in names:
            rgb = np.array(to_rgb(lines[name].get_color())) * 255
            near = (np.abs(img - rgb).max(axis=2) < 40)
            if legend is not None:
                lx0, ly0, lx1, ly1 = (int(round(v)) for v in legend.get_window_extent().extents)
                near[height - ly1:height - ly0, lx0:lx1] = False
            box = near[height - y1:height - y0, x0:x1]
            rows = np.flatnonzero(box.any(axis=1))  # none: hidden under another curve, the axis or the legend
            spans[name] = (rows.max() - rows.min() + 1) / box.shape[0] if rows.size else 0.0
    return spans


def _save_plain(plot: LivePlot, path: Path) -> Path:
    plot.fig.savefig(path, dpi=plot.fig.dpi)  # uncropped, at the figure's dpi: pixels match window extents
    return path


@pytest.mark.parametrize("kind", ["l1", "gan"])
def test_saved_live_plot_shows_every_loss_curve(tmp_path: Path, kind: str) -> None:
    from dipnb.pix2pix.tasks.gan import GANTask
    from dipnb.pix2pix.tasks.l1 import L1Task

    task_cls = L1Task if kind == "l1" else GANTask
    series = task_cls.plot_series(None)
    limits = task_cls.plot_limits(None)
    plot = LivePlot(series, title=kind, ylims=limits, display=False)
    for row in (_rows_l1() if kind == "l1" else _rows_gan()):
        plot.update(row["epoch"], {k: v for k, v in row.items() if k != "epoch"})
    png = _save_plain(plot, tmp_path / "loss.png")
    losses = {panel: names for panel, names in series.items() if panel not in limits}
    spans = curve_spans(png, plot.fig, losses)
    assert set(spans) == {n for names in losses.values() for n in names}
    flat = {name: round(frac, 3) for name, frac in spans.items() if frac < 0.2}
    assert not flat, f"loss curves squashed to less than a fifth of their axis: {flat}"
    assert "lr" in plot.series[LivePlot.RATE] and "s for the last epoch" in plot.fig._suptitle.get_text()
    if kind == "gan":
        assert plot.axes["D(real) / D(fake)"].get_ylim() == (0.0, 1.0)


def test_curve_spans_detects_a_squashed_loss(tmp_path: Path) -> None:
    """The check has teeth: a loss drawn on the same axis as seconds per epoch (the old plot's fault) fails it."""
    import matplotlib.pyplot as plt

    rows = _rows_l1()
    fig, ax = plt.subplots(figsize=(4.6, 3.3))
    epochs = [r["epoch"] for r in rows]
    for name in ("train L1", "val L1", "seconds"):
        ax.plot(epochs, [r[name] for r in rows], marker="o", ms=3, label=name)
    ax.set_title("loss")
    ax.legend(fontsize=8)
    fig.savefig(tmp_path / "old.png", dpi=fig.dpi)
    spans = curve_spans(tmp_path / "old.png", fig, {"loss": ["train L1", "val L1"]})
    plt.close(fig)
    assert max(spans.values()) < 0.2, spans


def test_log_scale_when_a_panel_spans_decades() -> None:
    plot = LivePlot({"loss": ["train"]}, display=False)
    for e, v in enumerate([1.0, 0.1, 0.01]):
        plot.update(e, {"train": v})
    assert plot.axes["loss"].get_yscale() == "log"
    plot = LivePlot({"loss": ["train"]}, display=False)
    for e, v in enumerate([0.5, 0.4, 0.3]):
        plot.update(e, {"train": v})
    assert plot.axes["loss"].get_yscale() == "linear"
    plot = LivePlot({"loss": ["train"]}, display=False)
    for e, lr in enumerate([1e-3, 1e-4, 1e-5]):  # a rate decaying over decades keeps its linear axis from 0
        plot.update(e, {"train": 0.5, "lr": lr})
    assert plot.axes[LivePlot.RATE].get_yscale() == "linear" and plot.axes[LivePlot.RATE].get_ylim()[0] == 0
