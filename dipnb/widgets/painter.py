"""Paint a facade (notebook 07): draw a facades label map on one canvas, see the generator's photo on the other.

The model is :class:`~dipnb.pix2pix.painter.LabelMapState` (plain Python: every mouse action is one of its
methods); :class:`PainterApp` is its ipycanvas/ipywidgets view, and :class:`~dipnb.pix2pix.painter.PhotoRenderer`
runs the generator. Layout: a palette of the 12 facades classes (named, in their label colours), the tools
(rectangle, brush and its radius), Undo / Redo / Clear / "Load val map", then the label canvas and the photo
canvas side by side, and a status line with what happened and how long the last redraw of the photo took.

Canvases: the label map is shown at an integer zoom ``s`` (every map pixel an s×s square), so a mouse position
``(u, v)`` in canvas pixels is map pixel ``(⌊u/s⌋, ⌊v/s⌋)`` exactly. The label canvas is a two-layer
``MultiCanvas`` (the map below, the rectangle being dragged on top, which also receives the mouse). The photo is
redrawn after each stroke, *debounced*: edits arriving within ``debounce`` seconds of each other cause one run of
G (scheduled on the kernel's event loop; without one, e.g. in a script, it runs at once). ipycanvas keeps no
drawing state, so both canvases are redrawn when a front end connects (``on_client_ready``). Without a front
end (nbval, reports) nothing is drawn in a browser: :func:`painter_figure` is the static figure to show beside it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ipycanvas import Canvas, MultiCanvas, hold_canvas

from dipnb.pix2pix.facades import FACADES_CLASSES, FACADES_PALETTE
from dipnb.pix2pix.painter import LabelMapState, PhotoRenderer, class_index, painter_generator

__all__ = ["PainterApp", "painter_figure", "palette_legend"]

TOOLS = ("rectangle", "brush")


def _hex(rgb: Any) -> str:
    return "#%02x%02x%02x" % tuple(int(c) for c in rgb)


def _text_colour(rgb: Any) -> str:
    """Black or white, whichever reads better on ``rgb`` (relative luminance)."""
    r, g, b = (int(c) / 255 for c in rgb)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _zoom(image: np.ndarray, s: int) -> np.ndarray:
    """H×W×3 uint8 → (H·s)×(W·s)×4 uint8 RGBA, every pixel an s×s square (nearest neighbour)."""
    big = np.repeat(np.repeat(image, s, axis=0), s, axis=1)
    alpha = np.full(big.shape[:2] + (1,), 255, dtype=np.uint8)
    return np.ascontiguousarray(np.concatenate([big, alpha], axis=2))


class PainterApp:
    """The painter: ``PainterApp(G)`` then display ``app.widget``.

    Parameters
    ----------
    generator: a labels → photo U-Net, a trainer, or a run folder / ``checkpoint.pt``
        (:func:`~dipnb.pix2pix.painter.painter_generator` checks it).
    size: the label map's side (default: the generator's size); a generator of another size is refused.
    val_labels: N×3×H×W label maps in [-1, 1] (a dataset's inputs) for the "Load val map" button.
    display_size: about how many screen pixels the canvases are wide (rounded down to an integer zoom).
    train_mode: run G as the paper does at test time (dropout on, fixed seed); default eval mode.
    debounce: seconds to wait after an edit before G runs (further edits restart the wait).
    precision: ``"auto"`` (default: bfloat16 where it is measured faster and close, see PhotoRenderer), ``"fp32"``
        or ``"bf16"``.

    Scriptable: ``app.state`` is the :class:`LabelMapState`; ``app.render_now()`` redraws the photo at once;
    ``app.photo`` is the last photo (H×W×3 uint8), ``app.renderer.seconds`` the time of every redraw.
    """

    def __init__(self, generator: Any, size: int | None = None, val_labels: torch.Tensor | None = None,
                 display_size: int = 384, train_mode: bool = False, debounce: float = 0.15,
                 brush_radius: int = 2, precision: str = "auto") -> None:
        import ipywidgets as widgets

        G = painter_generator(generator, size)
        side = int(size) if size is not None else 2 ** int(getattr(G, "num_downs", 8))
        self.state = LabelMapState(side)
        self.renderer = PhotoRenderer(G, train_mode=train_mode, precision=precision)
        self.val_labels = val_labels
        if val_labels is not None and (val_labels.ndim != 4 or val_labels.shape[1] != 3):
            raise ValueError(f"val_labels must be N×3×H×W label maps in [-1, 1], got {tuple(val_labels.shape)}")
        self.debounce = float(debounce)
        self.zoom = max(1, int(display_size) // side)
        self.cls = class_index("window")
        self.tool = "rectangle"
        self.photo: np.ndarray | None = None
        self.photo_version = -1  #: the state's version the photo shows
        self.renders = 0  #: how many times G ran
        self.client_ready_count = 0
        self._pending: asyncio.TimerHandle | None = None
        self._drag: tuple[int, int] | None = None

        px = side * self.zoom
        self.label_canvas = MultiCanvas(2, width=px, height=px)
        self.label_canvas.add_class("dipnb-painter-labels")
        self.photo_canvas = Canvas(width=px, height=px)
        self.photo_canvas.add_class("dipnb-painter-photo")
        for c in (self.label_canvas, self.photo_canvas):
            c.layout.width = c.layout.height = c.layout.min_width = c.layout.min_height = f"{px}px"

        # palette: one button per class, in its label colour, named
        self.swatches = []
        for k, (name, rgb) in enumerate(zip(FACADES_CLASSES, FACADES_PALETTE)):
            b = widgets.Button(description=name, tooltip=f"class {k}: {name}",
                               layout=widgets.Layout(width="108px", height="30px"))
            b.style.button_color = _hex(rgb)
            b.style.text_color = _text_colour(rgb)
            b.add_class(f"dipnb-painter-class-{name}")
            b.on_click(lambda _b, k=k: self.set_class(k))
            self.swatches.append(b)
        self.tool_picker = widgets.ToggleButtons(options=list(TOOLS), value=self.tool, description="tool")
        self.tool_picker.observe(lambda ch: setattr(self, "tool", ch["new"]), names="value")
        self.radius = widgets.IntSlider(value=brush_radius, min=0, max=max(1, side // 8), description="brush r")
        self.undo_button = widgets.Button(description="Undo", icon="undo")
        self.redo_button = widgets.Button(description="Redo", icon="repeat")
        self.clear_button = widgets.Button(description="Clear", icon="eraser")
        self.undo_button.on_click(lambda _b: self.state.undo())
        self.redo_button.on_click(lambda _b: self.state.redo())
        self.clear_button.on_click(lambda _b: self.state.clear())
        n_val = 0 if val_labels is None else len(val_labels)
        self.val_index = widgets.BoundedIntText(value=0, min=0, max=max(0, n_val - 1), description="val #",
                                                layout=widgets.Layout(width="150px"), disabled=n_val == 0)
        self.load_button = widgets.Button(description="Load val map", icon="folder-open", disabled=n_val == 0)
        self.load_button.on_click(lambda _b: self.load_val(self.val_index.value))
        self.status = widgets.HTML()
        self.timing = widgets.HTML()
        self.status.add_class("dipnb-painter-status")
        self.timing.add_class("dipnb-painter-timing")

        canvases = widgets.HBox([
            widgets.VBox([widgets.HTML("<b>label map</b> (draw here)"), self.label_canvas]),
            widgets.VBox([widgets.HTML(f"<b>G(labels)</b>: {'train mode, paper' if train_mode else 'eval mode'}"),
                          self.photo_canvas], layout=widgets.Layout(margin="0 0 0 12px")),
        ])
        self.widget = widgets.VBox([
            widgets.HBox(self.swatches[:6]), widgets.HBox(self.swatches[6:]),
            widgets.HBox([self.tool_picker, self.radius]),
            widgets.HBox([self.undo_button, self.redo_button, self.clear_button, self.val_index, self.load_button]),
            canvases, self.status, self.timing,
        ])
        self.widget.add_class("dipnb-painter")

        top = self.label_canvas[1]
        top.on_mouse_down(self._on_down)
        top.on_mouse_move(self._on_move)
        top.on_mouse_up(self._on_up)
        top.on_mouse_out(self._on_out)
        self.label_canvas.on_client_ready(self._on_client_ready)
        self.photo_canvas.on_client_ready(self._on_client_ready)
        self.state.on_change(self._on_state)
        self.set_class(self.cls)
        self.draw_labels()
        self.render_now()

    # scriptable actions --------------------------------------------------------------------------
    def set_class(self, cls: int | str) -> None:
        """Choose the class the tools paint with (index or name); its swatch is marked."""
        self.cls = class_index(cls)
        for k, b in enumerate(self.swatches):
            b.icon = "check" if k == self.cls else ""
            b.style.font_weight = "bold" if k == self.cls else "normal"
        self.state.say(f"Painting {FACADES_CLASSES[self.cls]} with the {self.tool} tool.")

    def load_val(self, index: int) -> bool:
        """Load validation label map ``index`` (undoable)."""
        if self.val_labels is None:
            self.state.say("No validation label maps were given (PainterApp(..., val_labels=x_val)).")
            return False
        if not 0 <= int(index) < len(self.val_labels):
            raise IndexError(f"val map {index} does not exist: there are {len(self.val_labels)}")
        return self.state.load(self.val_labels[int(index)], name=f"validation label map {int(index)}")

    def render_now(self) -> np.ndarray:
        """Run G on the current map now (cancelling a pending debounced run) and draw the photo."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        version = self.state.version
        self.photo = self.renderer.render(self.state)
        self.photo_version = version
        self.renders += 1
        self.draw_photo()
        ms = 1000 * self.renderer.last_seconds
        h, w = self.state.shape
        self.timing.value = (f"photo redrawn in <b>{ms:.0f} ms</b> (G at {h}×{w}, {self.renderer.used}, "
                             f"redraw #{self.renders})")
        return self.photo

    # drawing -------------------------------------------------------------------------------------
    def draw_labels(self) -> None:
        with hold_canvas():
            self.label_canvas[0].put_image_data(_zoom(self.state.rgb(), self.zoom), 0, 0)

    def draw_photo(self) -> None:
        if self.photo is not None:
            with hold_canvas():
                self.photo_canvas.put_image_data(_zoom(self.photo, self.zoom), 0, 0)

    def _schedule_photo(self) -> None:
        if self.debounce <= 0:
            self.render_now()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            self.render_now()
            return
        if self._pending is not None:
            self._pending.cancel()
        self._pending = loop.call_later(self.debounce, self._debounced)

    def _debounced(self) -> None:
        self._pending = None
        if self.state.stroking:  # a brush stroke is still going on: wait for more
            self._schedule_photo()
        elif self.photo_version != self.state.version:
            self.render_now()

    def _on_state(self, state: LabelMapState, what: str) -> None:
        self.status.value = state.message
        if what in ("map", "stroke"):
            self.draw_labels()
            self._schedule_photo()
        self.undo_button.disabled = not state.can_undo
        self.redo_button.disabled = not state.can_redo

    def _on_client_ready(self) -> None:
        self.client_ready_count += 1
        self.draw_labels()
        self.draw_photo()

    # mouse ---------------------------------------------------------------------------------------
    def canvas_to_pixel(self, u: float, v: float) -> tuple[int, int]:
        """Canvas pixels (as ipycanvas reports the mouse) → map pixel (x, y), clamped to the map."""
        h, w = self.state.shape
        return (min(max(int(np.floor(u / self.zoom)), 0), w - 1), min(max(int(np.floor(v / self.zoom)), 0), h - 1))

    def _preview(self, a: tuple[int, int], b: tuple[int, int]) -> None:
        top, s = self.label_canvas[1], self.zoom
        x0, x1 = sorted((a[0], b[0]))
        y0, y1 = sorted((a[1], b[1]))
        with hold_canvas():
            top.clear()
            top.fill_style = _hex(FACADES_PALETTE[self.cls])
            top.global_alpha = 0.6
            top.fill_rect(x0 * s, y0 * s, (x1 - x0 + 1) * s, (y1 - y0 + 1) * s)
            top.global_alpha = 1.0
            top.stroke_style = "white"
            top.line_width = 1
            top.stroke_rect(x0 * s + 0.5, y0 * s + 0.5, (x1 - x0 + 1) * s - 1, (y1 - y0 + 1) * s - 1)

    def _on_down(self, u: float, v: float) -> None:
        p = self.canvas_to_pixel(u, v)
        if self.tool == "rectangle":
            self._drag = p
            self._preview(p, p)
        else:
            self.state.begin_stroke(*p, self.cls, self.radius.value)

    def _on_move(self, u: float, v: float) -> None:
        p = self.canvas_to_pixel(u, v)
        if self.tool == "rectangle":
            if self._drag is not None:
                self._preview(self._drag, p)
        elif self.state.stroking:
            self.state.stroke_to(*p)

    def _on_up(self, u: float, v: float) -> None:
        p = self.canvas_to_pixel(u, v)
        if self._drag is not None:
            a, self._drag = self._drag, None
            self.label_canvas[1].clear()
            self.state.rectangle(*a, *p, self.cls)
        elif self.state.stroking:
            self.state.stroke_to(*p)
            self.state.end_stroke()

    def _on_out(self, u: float, v: float) -> None:
        if self._drag is not None or self.state.stroking:
            self._on_up(u, v)


def palette_legend(ax: Any, ncols: int = 1) -> None:
    """Draw the 12 facades classes as named colour swatches on a matplotlib axis."""
    import matplotlib.patches as mpatches

    handles = [mpatches.Patch(facecolor=np.asarray(rgb) / 255, edgecolor="black", label=f"{k} {name}")
               for k, (name, rgb) in enumerate(zip(FACADES_CLASSES, FACADES_PALETTE))]
    ax.legend(handles=handles, loc="center left", ncols=ncols, frameon=False, fontsize=9,
              title="facades classes", title_fontsize=10)
    ax.axis("off")


def painter_figure(state: LabelMapState, renderer: PhotoRenderer, title: str | None = None,
                   save: str | Path | None = None):
    """The static figure of the painter (for reports and nbval, where canvases do not render):
    label map | G(label map) | the palette, named."""
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    photo = renderer.render(state)
    ms = 1000 * (time.perf_counter() - t0)
    h, w = state.shape
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 1, 0.8]})
    axes[0].imshow(state.rgb(), interpolation="nearest")
    axes[0].set_title(f"label map ({h}×{w}, {len(state.history)} edits)")
    axes[1].imshow(photo, interpolation="nearest")
    axes[1].set_title(f"G(label map), {ms:.0f} ms")
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
    palette_legend(axes[2])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if save is not None:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=110, bbox_inches="tight")
    return fig
