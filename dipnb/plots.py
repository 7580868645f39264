"""Figures for notebooks and reports: a live plot that redraws one figure in place, image grids.

The live plot follows fastprogress: ``display(fig, display_id=True)`` once, then ``handle.update(fig)``.
That redraws a single output in JupyterLab and VS Code, and leaves exactly one (the last) frame in
nbval and nbconvert — unlike a ``clear_output`` animation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np

from dipnb.images import from_model_range


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where ``IPython.display`` can show rich output)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 120) -> Path:
    """Save ``fig`` as an image (folders created, tight bounding box); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


class LiveFigure:
    """A figure shown once through a display handle and redrawn in place by :meth:`show`.

    ``display(fig, display_id=True)`` the first time, ``handle.update(fig)`` after: one output that changes
    in JupyterLab and VS Code, and exactly one (the last) frame in nbval and nbconvert.
    """

    fig: plt.Figure

    def __init__(self, display: bool | None = None) -> None:
        self._display = in_notebook() if display is None else display
        self._handle: Any = None

    def show(self) -> None:
        """Show the figure, or redraw the output that shows it; nothing outside a notebook."""
        if not self._display:
            return
        from IPython.display import display

        if self._handle is None:
            self._handle = display(self.fig, display_id=True)
        else:
            self._handle.update(self.fig)

    def savefig(self, path: str | Path, dpi: int = 120) -> Path:
        return save_figure(self.fig, path, dpi)


class LivePlot(LiveFigure):
    """One matplotlib figure of training curves, updated in place as new points arrive.

    ``series`` groups curve names into panels, e.g. ``{"loss": ["train", "val"], "D": ["D(real)", "D(fake)"]}``.
    Call :meth:`update` with ``x`` and a mapping ``{curve name: value}``. What is not a loss never shares a
    loss's axis: the learning rate (``rate_key``) gets its own small panel, the time per step (``time_key``) is
    written in the title, and any other unknown curve goes to a panel of its own ("other"). A panel's y axis is
    logarithmic when its values span more than ``log_ratio`` (×10 by default; ``logy=True`` forces it), or fixed
    by ``ylims`` (e.g. D's verdicts on [0, 1]). Outside a notebook nothing is displayed (the figure can still be
    saved).
    """

    OTHER = "other"  #: the panel of curves no panel names
    RATE = "learning rate"  #: the panel of ``rate_key``

    def __init__(
        self,
        series: Mapping[str, Sequence[str]] | None = None,
        xlabel: str = "epoch",
        title: str | None = None,
        logy: bool = False,
        figsize: tuple[float, float] | None = None,
        display: bool | None = None,
        *,
        ylims: Mapping[str, tuple[float, float]] | None = None,
        rate_key: str | None = "lr",
        time_key: str | None = "seconds",
        log_ratio: float = 10.0,
        max_cols: int = 3,
    ) -> None:
        self.series: dict[str, list[str]] = {k: list(v) for k, v in (series or {"loss": []}).items()}
        self.xlabel, self.title, self.logy, self.figsize = xlabel, title, logy, figsize
        self.ylims = dict(ylims or {})
        self.rate_key, self.time_key, self.log_ratio, self.max_cols = rate_key, time_key, log_ratio, max_cols
        self.data: dict[str, tuple[list[float], list[float]]] = {}
        self.times: list[float] = []
        self.fig = plt.figure()
        self.axes: dict[str, Any] = {}
        self._layout()
        super().__init__(display)
        plt.close(self.fig)  # we show it through the display handle only, never via plt.show()

    # -- panels ----------------------------------------------------------------------------------------
    def panel_of(self, name: str) -> str | None:
        """The panel that shows curve ``name``: its own, "learning rate" for the rate, "other" for unknown
        curves (created on first use); ``None`` for the time key (written in the title, not drawn)."""
        if name == self.time_key:
            return None
        for panel, names in self.series.items():
            if name in names:
                return panel
        panel = self.RATE if name == self.rate_key else self.OTHER
        self.series.setdefault(panel, []).append(name)
        self._layout()
        return panel

    def _layout(self) -> None:
        """(Re)create one axes per panel on a grid of at most ``max_cols`` columns."""
        n = len(self.series)
        ncols = min(self.max_cols, n)
        nrows = math.ceil(n / ncols)
        self.fig.clf()
        self.fig.set_size_inches(self.figsize or (4.6 * ncols, 3.3 * nrows))
        axes = self.fig.subplots(nrows, ncols, squeeze=False).flat
        self.axes = dict(zip(self.series, axes))
        for ax in list(axes)[n:]:
            ax.remove()

    # -- data ------------------------------------------------------------------------------------------
    def update(self, x: float, values: Mapping[str, float]) -> None:
        """Append one point per curve and redraw the figure in place."""
        for name, v in values.items():
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            if name == self.time_key:
                self.times.append(float(v))
                continue
            self.panel_of(name)  # registers unknown curves
            xs, ys = self.data.setdefault(name, ([], []))
            xs.append(float(x))
            ys.append(float(v))
        self.redraw()

    def _scale(self, panel: str, values: list[float]) -> str:
        if panel in self.ylims or panel == self.RATE or not values or min(values) <= 0:
            return "linear"  # fixed ranges and the rate (drawn from 0) stay linear
        if self.logy or max(values) / min(values) > self.log_ratio:
            return "log"
        return "linear"

    @staticmethod
    def _equal(a: tuple[list[float], list[float]], b: tuple[list[float], list[float]], rtol: float = 1e-5) -> bool:
        return a[0] == b[0] and all(abs(u - v) <= rtol * max(abs(u), abs(v), 1e-12) for u, v in zip(a[1], b[1]))

    def _same_curves(self, panel: str) -> list[list[str]]:
        """The panel's curves, those with identical points grouped (e.g. a validation loss that *is* the val L1):
        drawn once and labelled "a = b", so no curve hides under another."""
        groups: list[list[str]] = []
        for name in (n for n in self.series[panel] if n in self.data):
            same = next((g for g in groups if self._equal(self.data[g[0]], self.data[name])), None)
            if same is None:
                groups.append([name])
            else:
                same.append(name)
        return groups

    def redraw(self) -> None:
        for panel, ax in self.axes.items():
            ax.clear()
            values: list[float] = []
            curves = self._same_curves(panel)
            for names in curves:
                xs, ys = self.data[names[0]]
                ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, label=" = ".join(names))
                values += ys
            ax.set_xlabel(self.xlabel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and steps are whole numbers
            ax.set_title(panel, fontsize=10)
            ax.set_yscale(self._scale(panel, values))
            if panel in self.ylims:
                ax.set_ylim(*self.ylims[panel])
            elif panel == self.RATE and values:
                ax.set_ylim(0, max(values) * 1.15)  # from 0: a constant rate reads as constant, a decay as one
                ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
            ax.grid(alpha=0.3, which="both" if ax.get_yscale() == "log" else "major")
            if len(curves) > 1 or any(len(g) > 1 for g in curves):  # one plain curve: the panel's title names it
                ax.legend(fontsize=8)
        title = self.title or ""
        if self.times:
            mean = sum(self.times) / len(self.times)
            title = f"{title} · {self.times[-1]:.1f} s for the last {self.xlabel} (mean {mean:.1f} s)".lstrip(" ·")
        if title:
            self.fig.suptitle(title, fontsize=11)
        self.fig.tight_layout()
        self.show()


def to_display_array(img: Any) -> np.ndarray:
    """Convert a tensor (C×H×W, values in [0, 1] or [-1, 1] if ``min < 0``), PIL image or array to H×W(×3) floats."""
    try:
        import torch

        if isinstance(img, torch.Tensor):
            t = img.detach().float().cpu()
            if t.ndim == 4:
                t = t[0]
            if t.min() < 0:
                t = from_model_range(t)
            arr = t.permute(1, 2, 0).numpy() if t.ndim == 3 else t.numpy()
            if arr.ndim == 3 and arr.shape[2] == 1:
                arr = arr[..., 0]
            return np.clip(arr, 0, 1)
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(img)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255
    return np.clip(arr, 0, 1)


def show_images(
    images: Iterable[Any],
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    size: float = 3.0,
    suptitle: str | None = None,
    save: str | Path | None = None,
) -> plt.Figure:
    """Show images in a grid (no axes); optionally save the figure. Returns the figure."""
    images = list(images)
    n = len(images)
    ncols = ncols or n
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            arr = to_display_array(images[i])
            ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
            if titles is not None and i < len(titles):
                ax.set_title(titles[i], fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    if save is not None:
        save_figure(fig, save)
    return fig


__all__ = ["LiveFigure", "LivePlot", "in_notebook", "save_figure", "show_images", "to_display_array"]

_ = matplotlib  # matplotlib's backend is chosen by the environment (inline in notebooks, Agg elsewhere)


class LiveImage(LiveFigure):
    """One figure — an image beside a curve — updated in place while an optimiser runs (display handle).

    ``update(step, image, value)`` redraws both; use it as the ``callback`` of an iterative solver
    (``lambda step, f, loss: live.update(step, f, loss)``). Outside a notebook nothing is displayed; the
    figure can still be saved with :meth:`savefig`.
    """

    def __init__(self, title: str = "", ylabel: str = "loss", logy: bool = True, size: float = 3.6,
                 display: bool | None = None) -> None:
        self.fig, (self.ax_img, self.ax_curve) = plt.subplots(1, 2, figsize=(2.3 * size, size))
        self.title, self.ylabel, self.logy = title, ylabel, logy
        self.steps: list[float] = []
        self.values: list[float] = []
        super().__init__(display)
        self._im: Any = None
        plt.close(self.fig)

    def update(self, step: float, image: Any, value: float) -> None:
        self.steps.append(float(step))
        self.values.append(float(value))
        if hasattr(image, "clamp"):
            image = image.detach().clamp(0, 1)  # results are not clamped; display them clamped
        arr = to_display_array(image)
        if self._im is None:
            self._im = self.ax_img.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
            self.ax_img.axis("off")
        else:
            self._im.set_data(arr)
        self.ax_img.set_title(f"{self.title} step {int(step)}".strip(), fontsize=10)
        self.ax_curve.clear()
        self.ax_curve.plot(self.steps, self.values, marker="o" if len(self.steps) < 30 else None, ms=3)
        if self.logy and all(v > 0 for v in self.values):
            self.ax_curve.set_yscale("log")
        self.ax_curve.set_xlabel("step")
        self.ax_curve.set_ylabel(self.ylabel)
        self.ax_curve.grid(alpha=0.3)
        self.fig.tight_layout()
        self.show()


__all__ += ["LiveImage"]
