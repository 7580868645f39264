"""The blending app of notebook 02: draw Ω on the source, place it on the target, blend, save.

:class:`BlendApp` puts together a :class:`~dipnb.poisson.polygon.PolygonState` (the model), a
:class:`~dipnb.widgets.canvas.SourceCanvas` and a :class:`~dipnb.widgets.canvas.TargetCanvas` (views), buttons,
sliders, pickers and a result view, and calls :func:`dipnb.poisson.seamless_clone`. Everything the buttons do is
also a method (:meth:`BlendApp.blend`, :meth:`BlendApp.save`, :meth:`BlendApp.load_source`, …) so that a
notebook without a front end (nbval, a report) runs the same code. :func:`plot_blend` draws the static
matplotlib figure of polygon, placement and result that stands beside the widget in reports.

With the Adam solver the Blend button runs the solve in a background thread, so that the kernel still
receives the Stop button's click; the preview and the progress bar are updated every ``preview_every`` steps.
"""

from __future__ import annotations

import html
import io
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as W
import torch

from dipnb.config import figures_dir
from dipnb.images import load_image, to_pil
from dipnb.plots import save_figure, to_display_array
from dipnb.poisson import MODES, seamless_clone
from dipnb.poisson.examples import BlendExample, blend_example
from dipnb.poisson.polygon import PolygonState
from dipnb.poisson.solvers.adam import COURSE_STEPS
from dipnb.widgets.canvas import SourceCanvas, TargetCanvas

#: picker label → ``solver=`` argument of :func:`dipnb.poisson.seamless_clone`
SOLVERS = {"fast (exact)": "auto", "Adam (live)": "adam"}


def _png_bytes(image: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    to_pil(image).save(buf, format="PNG")
    return buf.getvalue()


class BlendApp:
    """Source canvas, target canvas, controls and result for Poisson blending (Pérez et al. 2003).

    Parameters
    ----------
    source, target:
        Float tensors ``C×H×W`` in [0, 1]: the image g that Ω is cut from and the image f* it is pasted into.
    settings:
        ``P.poisson`` of the profile (``image_size``: size of uploaded photos; ``fixed_adam_steps``, ``adam_preview_every``:
        budget and preview period of the live Adam solver), or ``None``.
    display_size:
        Longest side of each canvas in screen pixels (photos are scaled to it; clicks are mapped back exactly).
    mask_fn:
        ``mask_fn(points, img_h, img_w)`` — the course's ``create_mask_from_points`` — makes Ω from the polygon
        (default: the package's ``polygon_mask``): notebook 02 passes the one defined in the notebook.
    """

    def __init__(self, source: torch.Tensor, target: torch.Tensor, settings: Any = None,
                 display_size: int = 384, figures_dir: str | Path | None = None,
                 mask_fn: Callable[..., Any] | None = None) -> None:
        self.image_size = int(getattr(settings, "image_size", 256))
        #: options for ``seamless_clone(..., solver="adam")``: the fixed method of notebook 03 (Pérez's gradient
        #: energy, multiscale start) for ``P.poisson.fixed_adam_steps`` steps; ``method="course"`` gives the
        #: course's original method
        self.adam_options: dict[str, Any] = {"method": "fixed",
                                             "max_steps": int(getattr(settings, "fixed_adam_steps", 300))}
        self.preview_every = max(1, int(getattr(settings, "adam_preview_every", 50)))
        self.display_size = int(display_size)
        self._figures_dir = Path(figures_dir) if figures_dir is not None else None
        self.source = source.detach().float().cpu()
        self.target = target.detach().float().cpu()
        self.state = PolygonState(self.source.shape[-2:], self.target.shape[-2:], rasterise=mask_fn)
        #: the last blended image (C×H_t×W_t), its solver info, and the mask/offset it was computed for
        self.result: torch.Tensor | None = None
        self.raw_result: torch.Tensor | None = None
        self.info: Any = None
        self.result_mask: torch.Tensor | None = None
        self.result_offset: tuple[int, int] | None = None
        self.stopped_early = False
        #: how many live previews the last Adam run showed
        self.previews = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._syncing = False
        self._build()
        self.state.on_change(self._on_state_change)
        self._on_state_change(self.state, "points")

    # ---------------------------------------------------------------------------------------------
    # widgets
    # ---------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.source_view = SourceCanvas(self.source, self.state, self.display_size)
        self.target_view = TargetCanvas(self.target, self.state, self.display_size)
        btn = dict(layout=W.Layout(width="auto"))
        self.undo_button = W.Button(description="Undo", icon="undo", tooltip="remove the last vertex", **btn)
        self.close_button = W.Button(description="Close polygon", icon="check", **btn)
        self.reset_button = W.Button(description="Reset", icon="trash", **btn)
        self.undo_button.on_click(lambda _: self.state.undo())
        self.close_button.on_click(lambda _: self._safe(self.state.close))
        self.reset_button.on_click(lambda _: self.state.reset())
        ht, wt = self.target.shape[-2:]
        self.dx_slider = W.IntSlider(0, -wt, wt, description="dx", continuous_update=True)
        self.dy_slider = W.IntSlider(0, -ht, ht, description="dy", continuous_update=True)
        self.dx_slider.observe(self._on_slider, "value")
        self.dy_slider.observe(self._on_slider, "value")
        self.mode_picker = W.ToggleButtons(options=list(MODES), value="import", description="mode")
        self.solver_picker = W.ToggleButtons(options=list(SOLVERS), value="fast (exact)", description="solver")
        self.blend_button = W.Button(description="Blend", icon="magic", button_style="primary")
        self.stop_button = W.Button(description="Stop", icon="stop", button_style="danger", disabled=True)
        self.save_button = W.Button(description="Save to figures/", icon="save", disabled=True)
        self.blend_button.on_click(lambda _: self.start_blend())
        self.stop_button.on_click(lambda _: self.stop())
        self.save_button.on_click(lambda _: self._safe(self.save))
        self.progress = W.IntProgress(value=0, min=0, max=1, description="progress")
        self.progress_label = W.Label("")
        self.status = W.HTML()
        self.state_label = W.HTML()
        cw, ch = self.target_view.cw, self.target_view.ch
        self.result_view = W.Image(format="png", layout=W.Layout(width=f"{cw}px", height=f"{ch}px"))
        self.result_view.add_class("dipnb-result")
        self.upload_source = W.FileUpload(accept="image/*", multiple=False, description="source image")
        self.upload_target = W.FileUpload(accept="image/*", multiple=False, description="target image")
        self.upload_source.observe(lambda ch: self._on_upload(ch, "source"), "value")
        self.upload_target.observe(lambda ch: self._on_upload(ch, "target"), "value")
        left = W.VBox([W.HTML("<b>Source g</b>: click to add vertices"),
                       self.source_view.widget, W.HBox([self.undo_button, self.close_button, self.reset_button])])
        right = W.VBox([W.HTML("<b>Target f*</b>: drag to place Ω"),
                        self.target_view.widget, self.dx_slider, self.dy_slider])
        result = W.VBox([W.HTML("<b>Result f</b>"), self.result_view])
        self.widget = W.VBox([
            W.HBox([left, right, result]),
            self.state_label,
            W.HBox([self.mode_picker]),
            W.HBox([self.solver_picker]),
            W.HBox([self.blend_button, self.stop_button, self.save_button, self.progress]),
            self.progress_label,
            self.status,
            W.HBox([W.HTML("Your own photos (PNG, JPEG, …):"), self.upload_source, self.upload_target]),
        ])
        self.widget.add_class("dipnb-blend-app")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _say(self, text: str, kind: str = "info") -> None:
        color = {"info": "inherit", "error": "#c00000", "ok": "#007000"}[kind]
        self.status.value = f'<span style="color:{color}">{html.escape(text)}</span>'

    def _safe(self, fn: Any) -> Any:
        try:
            return fn()
        except (ValueError, TypeError, RuntimeError, OSError) as err:
            self._say(str(err), "error")
            return None

    def _on_state_change(self, state: PolygonState, what: str) -> None:
        text = html.escape(state.message)
        if state.clamped:
            text = f'<span style="color:#d06000">{text}</span>'
        self.state_label.value = text
        if state.closed:
            try:
                dx_min, dx_max, dy_min, dy_max = state.offset_range()
            except ValueError as err:  # pragma: no cover - close() refuses such polygons
                self._say(str(err), "error")
                return
            self._syncing = True
            try:
                # widen first so that setting min/max never rejects the current value
                for s, lo, hi, v in ((self.dx_slider, dx_min, dx_max, state.offset[0]),
                                     (self.dy_slider, dy_min, dy_max, state.offset[1])):
                    s.max = max(s.max, hi)
                    s.min = min(s.min, lo)
                    s.value = v
                    s.min, s.max = lo, hi
            finally:
                self._syncing = False

    def _on_slider(self, change: dict) -> None:
        if self._syncing:
            return
        if not self.state.closed:
            self.state.requested_offset = (self.dx_slider.value, self.dy_slider.value)
            return
        self.state.set_offset(self.dx_slider.value, self.dy_slider.value)

    @classmethod
    def from_example(cls, settings: Any = None, name: str = "monolisa", **kwargs: Any) -> "BlendApp":
        """The app on the course's pair ``name`` (the template's ``data_poisson/``, when ``make data`` has fetched
        it), else on the offline photos (astronaut and coffee); ``app.example`` holds the pair, our polygon and
        offset, and where the images come from (also shown in the app's message line)."""
        ex = blend_example(int(getattr(settings, "image_size", 256)), name, verbose=False)
        app = cls(ex.source, ex.target, settings, **kwargs)
        app.example = ex
        app._say(f"Images: {ex.origin}.")
        return app

    #: the example the app was made from (:meth:`from_example`), else None
    example: BlendExample | None = None

    # ---------------------------------------------------------------------------------------------
    # scripting API
    # ---------------------------------------------------------------------------------------------
    def use_default(self, points: Sequence[Sequence[float]], offset: Sequence[int] | None = None) -> bool:
        """If no polygon was closed (no clicks, e.g. under nbval), set ``points`` and place them at ``offset``
        (default: centred on the target). Returns True when the default was used."""
        if self.state.closed:
            return False
        self.state.set_points(points, close=True)
        self.state.set_offset(*(offset if offset is not None else self.state.centre_offset()))
        return True

    def _clone(self, mask: torch.Tensor, offset: tuple[int, int], mode: str, solver: str,
               callback: Any = None) -> tuple[torch.Tensor, Any]:
        kwargs: dict[str, Any] = dict(offset=offset, mode=mode, solver=solver, return_info=True)
        if solver == "adam":
            kwargs.update(self.adam_options)
            if callback is not None:
                kwargs.update(callback=callback, callback_every=self.preview_every)
        return seamless_clone(self.source, self.target, mask, **kwargs)

    def adam_total_steps(self) -> int:
        """Steps the Adam solver will take (``max_steps`` of :attr:`adam_options`), for the progress bar."""
        default = COURSE_STEPS if self.adam_options.get("method") == "course" else 300  # dipnb.poisson.solvers.adam
        return int(self.adam_options.get("max_steps") or default)

    def blend(self, mode: str | None = None, solver: str | None = None, preview: bool = True) -> torch.Tensor:
        """Blend now (in this thread) with ``mode`` and ``solver`` (default: the pickers'); returns f.

        ``solver`` is a picker label (``"fast (exact)"``, ``"Adam (live)"``) or a ``seamless_clone`` solver
        name (``"auto"``, ``"adam"``, …). With Adam and ``preview=True`` the result view and progress bar are
        updated every ``preview_every`` steps; :meth:`stop` (the Stop button) ends the run early and keeps the
        current image.
        """
        mode = self.mode_picker.value if mode is None else mode
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        solver = self.solver_picker.value if solver is None else solver
        self.mode_picker.value = mode  # the pickers show what was used, also when called from code
        label = next((k for k, v in SOLVERS.items() if solver in (k, v)), None)
        if label is not None:
            self.solver_picker.value = label
        solver = SOLVERS.get(solver, solver)
        if not self.state.closed:
            raise ValueError("there is no closed polygon to blend: draw one on the source (≥ 3 clicks, then "
                             "Close) or call app.use_default(points)")
        # a snapshot: the user may go on drawing or dragging while a background blend runs
        mask, offset, placed = self.state.mask().clone(), self.state.offset, self.state.placed_mask()
        self._stop.clear()
        self.stopped_early = False
        self.previews = 0
        t0 = time.perf_counter()
        total = self.adam_total_steps() if solver == "adam" else 1
        self.progress.max, self.progress.value = max(total, 1), 0
        self.progress_label.value = f"{solver}: running…"

        def callback(step: int, image: torch.Tensor, loss: float) -> bool:
            if step > self.progress.max:  # more steps than announced: let the bar grow rather than stick
                self.progress.max = int(step)
            self.progress.value = int(step)
            self.progress_label.value = (f"step {step}/{total} · loss {float(loss):.3g} · "
                                         f"{time.perf_counter() - t0:.1f} s")
            if preview:
                self.result_view.value = _png_bytes(image.clamp(0, 1))
                self.previews += 1
            if self._stop.is_set():
                self.stopped_early = True
                return True
            return False

        result, info = self._clone(mask, offset, mode, solver, callback if solver == "adam" else None)
        seconds = time.perf_counter() - t0
        # f is not clamped by the solver; what is shown, saved and kept is f clamped to [0, 1] (pixels
        # outside Ω are the target's and stay bit for bit the same)
        self.raw_result = result.detach().cpu()
        self.result, self.info = self.raw_result.clamp(0, 1), info
        self.result_mask, self.result_offset = placed, offset
        self.result_view.value = _png_bytes(self.result)
        self.progress.value = self.progress.max if not self.stopped_early else self.progress.value
        its = getattr(info, "iterations", None)
        res = getattr(info, "rel_residual", None)
        done = "stopped early" if self.stopped_early else "done"
        detail = f"{getattr(info, 'solver', solver)}"
        if its is not None:
            detail += f", {its} iterations"
        if res is not None:
            detail += f", relative residual {float(res):.2e}"
        self.progress_label.value = f"{done} in {seconds:.2f} s ({detail})"
        self.save_button.disabled = False
        return self.result

    def start_blend(self) -> None:
        """What the Blend button does: run :meth:`blend` in a background thread (so Stop can be clicked)."""
        if self.busy:
            self._say("A blend is already running; press Stop to end it.", "error")
            return
        if not self.state.closed:
            self._say("Draw and close a polygon on the source first (≥ 3 clicks, then Close).", "error")
            return
        self.blend_button.disabled = True
        self.stop_button.disabled = False
        self._say("Blending…")

        def run() -> None:
            try:
                self.blend()
                self._say("Blended. " + ("Stopped early: the current image was kept. " if self.stopped_early
                                         else "") + "Save it with the Save button.", "ok")
            except Exception as err:  # noqa: BLE001 - shown to the user, never lost in a thread
                self._say(f"Blend failed: {type(err).__name__}: {err}", "error")
            finally:
                self.blend_button.disabled = False
                self.stop_button.disabled = True

        self._thread = threading.Thread(target=run, name="dipnb-blend", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """True while a background blend started by the Blend button runs."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background blend to finish; returns True when none is running any more."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.busy

    def stop(self) -> None:
        """Ask a running Adam blend to stop at its next preview; the current image is kept."""
        self._stop.set()
        self._say("Stopping at the next preview step…")

    def save(self, name: str | None = None) -> Path:
        """Save the last result as PNG into ``figures/`` (or the ``figures_dir`` given); returns the path."""
        if self.result is None:
            raise ValueError("nothing to save yet: press Blend (or call app.blend()) first")
        folder = self._figures_dir or figures_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (name or f"02_blend_{self.mode_picker.value}.png")
        to_pil(self.result).save(path)
        self._say(f"Saved {path}", "ok")
        return path

    def load_source(self, data: bytes | str | Path, name: str = "uploaded file") -> None:
        """Use a new source image (bytes or path); the polygon is reset."""
        self._load(data, name, "source")

    def load_target(self, data: bytes | str | Path, name: str = "uploaded file") -> None:
        """Use a new target image (bytes or path); the polygon is reset."""
        self._load(data, name, "target")

    def _load(self, data: bytes | str | Path, name: str, which: str) -> None:
        try:
            image = load_image(data, size=self.image_size)
        except ValueError as err:
            raise ValueError(f"{name}: {err}".replace("uploaded file: ", "")) from None
        except Exception as err:  # PIL raises various errors for truncated / odd files
            raise ValueError(f"{name}: could not decode it as an image ({type(err).__name__}: {err}); "
                             "use a PNG or JPEG file") from None
        if image.shape[0] == 1:
            image = image.expand(3, -1, -1).contiguous()
        elif image.shape[0] != 3:
            raise ValueError(f"{name}: expected an RGB or gray image, got {image.shape[0]} channels")
        if min(image.shape[-2:]) < 8:
            raise ValueError(f"{name}: the image is only {image.shape[-1]}×{image.shape[-2]} pixels; use a "
                             "larger one")
        if which == "source":
            self.source = image
        else:
            self.target = image
        self.state.set_shapes(self.source.shape[-2:], self.target.shape[-2:])
        (self.source_view if which == "source" else self.target_view).set_image(image)
        self.result = None
        self.save_button.disabled = True
        h, w = image.shape[-2:]
        self._say(f"Loaded {name} as the {which} ({w}×{h}). Draw a new polygon on the source.", "ok")

    def _on_upload(self, change: dict, which: str) -> None:
        files = change["new"]
        if not files:
            return
        f = files[0]
        name = f.get("name", "uploaded file") if isinstance(f, dict) else getattr(f, "name", "uploaded file")
        content = f["content"] if isinstance(f, dict) else f.content
        try:
            self._load(bytes(content), name, which)
        except ValueError as err:
            text = str(err).rstrip(".")
            if "PNG" not in text:
                text += " (supported: PNG, JPEG, BMP, TIFF, GIF, WebP)"
            self._say(f"Not loaded: {text}.", "error")

    def figure(self, save: str | Path | None = None) -> Any:
        """The static figure (polygon on g, placement on f*, result f); see :func:`plot_blend`."""
        return plot_blend(self.source, self.target, self.state, self.result, save=save)


def plot_blend(source: torch.Tensor, target: torch.Tensor, state: PolygonState,
               result: torch.Tensor | None = None, save: str | Path | None = None) -> Any:
    """Static matplotlib figure: g with the polygon, f* with the placed outline, and f (if given).

    matplotlib's ``imshow`` centres pixel (j, i) at (j, i), the convention of the vertices, so the outline
    is drawn with the vertex coordinates as they are.
    """
    import matplotlib.pyplot as plt

    pts = state.points
    n = 3 if result is not None else 2
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 4))
    closed = state.closed and len(pts) >= 3
    ring = pts + pts[:1] if closed else pts
    axes[0].imshow(to_display_array(source))
    if ring:
        axes[0].plot([p[0] for p in ring], [p[1] for p in ring], "-o", color="#ffe000", ms=3, lw=1.5)
    axes[0].set_title(f"source g: Ω ({int(state.mask().sum()) if closed else 0} px)")
    dx, dy = state.offset
    axes[1].imshow(to_display_array(target))
    if closed:
        color = "#ff9000" if state.clamped else "#00ff80"
        axes[1].plot([p[0] + dx for p in ring], [p[1] + dy for p in ring], "-", color=color, lw=1.5)
    axes[1].set_title(f"target f*: offset ({dx}, {dy})" + (" clamped" if state.clamped else ""))
    if result is not None:
        axes[2].imshow(to_display_array(result.clamp(0, 1)))
        axes[2].set_title("result f")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    if save is not None:
        save_figure(fig, save, dpi=110)
    return fig


__all__ = ["BlendApp", "MODES", "SOLVERS", "plot_blend"]
