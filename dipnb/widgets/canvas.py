"""ipycanvas views of a :class:`~dipnb.poisson.polygon.PolygonState`: the source g and the target f*.

Each view is an ipycanvas ``MultiCanvas`` with two layers: the photo on the lower layer (sent once with
``put_image_data``) and the drawing (polygon, mask shading, messages) on the top layer, which is the one that
receives mouse events. A click therefore only resends the small top layer, never the photo. ipycanvas keeps no
drawing state in the browser, so every view redraws both layers when a new front end connects
(``on_client_ready``: a reloaded page, a second browser tab) and batches its drawing in ``hold_canvas``.

Display scaling: a photo of ``W×H`` pixels is shown on a canvas of ``round(W·s)×round(H·s)`` screen pixels,
``s = display_size / max(W, H)``. ipycanvas reports clicks in canvas pixels ``(u, v)``, where canvas pixel
``k`` covers ``[k, k + 1)``; image pixel ``j`` (centred at ``x = j``, see :mod:`dipnb.poisson.mask`) covers
canvas ``[j·s_x, (j + 1)·s_x)``, so ``x = u / s_x − ½`` and ``y = v / s_y − ½``, exactly, with
``s_x = canvas width / W`` and ``s_y = canvas height / H``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from ipycanvas import MultiCanvas, hold_canvas
from PIL import Image

from dipnb.images import to_uint8
from dipnb.poisson.polygon import PolygonState

#: a click this many *screen* pixels from the first vertex closes the polygon
SNAP_PIXELS = 8.0


def display_scale(shape: tuple[int, int], display_size: int) -> tuple[int, int, float, float]:
    """Canvas size and scale for an image of ``shape = (H, W)``: ``(canvas_w, canvas_h, s_x, s_y)``."""
    h, w = int(shape[0]), int(shape[1])
    if display_size < 16:
        raise ValueError(f"display_size must be at least 16 screen pixels, got {display_size}")
    s = display_size / max(h, w)
    cw, ch = max(1, round(w * s)), max(1, round(h * s))
    return cw, ch, cw / w, ch / h


def _rgba_uint8(image: torch.Tensor) -> np.ndarray:
    """C×H×W float image in [0, 1] → H×W×4 uint8 (opaque)."""
    arr = to_uint8(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    alpha = np.full(arr.shape[:2] + (1,), 255, dtype=np.uint8)
    return np.ascontiguousarray(np.concatenate([arr[..., :3], alpha], axis=2))


def _check_image(image: Any, name: str) -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name} must be a float tensor C×H×W in [0, 1] (e.g. dipnb.images.sample_image), "
                        f"got {type(image).__name__}")
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"{name} must be C×H×W with C = 1 or 3, got shape {tuple(image.shape)}")
    return image.detach().float().cpu()


class PhotoCanvas:
    """A photo on the lower layer of a two-layer ``MultiCanvas``, overlays drawn on the top layer.

    Subclasses implement :meth:`draw_overlay`. :attr:`widget` is the ``MultiCanvas`` to display.
    """

    def __init__(self, image: torch.Tensor, display_size: int = 384, css_class: str | None = None) -> None:
        self.display_size = int(display_size)
        self.widget = MultiCanvas(2, width=16, height=16)
        if css_class:
            self.widget.add_class(css_class)
        self.photo_layer = self.widget[0]
        self.draw_layer = self.widget[1]
        #: seconds the kernel spent in the last overlay redraw, and when it finished (time.perf_counter)
        self.last_draw_seconds = 0.0
        self.last_draw_time = 0.0
        #: how many times a front end asked for a full redraw (page loads and reloads)
        self.client_ready_count = 0
        self.widget.on_client_ready(self._on_client_ready)
        self.set_image(image)

    # coordinates ---------------------------------------------------------------------------------
    def canvas_to_image(self, u: float, v: float) -> tuple[float, float]:
        """Canvas pixels (as ipycanvas reports clicks) → image coordinates (pixel j centred at j)."""
        return u / self.sx - 0.5, v / self.sy - 0.5

    def image_to_canvas(self, x: float, y: float) -> tuple[float, float]:
        """Image coordinates → canvas pixels (inverse of :meth:`canvas_to_image`)."""
        return (x + 0.5) * self.sx, (y + 0.5) * self.sy

    # drawing -------------------------------------------------------------------------------------
    def set_image(self, image: torch.Tensor) -> None:
        """Show a new photo (C×H×W in [0, 1]); resizes the canvas and redraws everything."""
        self.image = _check_image(image, "image")
        h, w = self.image.shape[-2:]
        self.cw, self.ch, self.sx, self.sy = display_scale((h, w), self.display_size)
        rgba = _rgba_uint8(self.image)
        if (self.cw, self.ch) != (w, h):
            # nearest when enlarging (every image pixel stays a visible square), area-averaging when shrinking
            resample = Image.Resampling.NEAREST if self.sx >= 1 else Image.Resampling.BOX
            rgba = np.asarray(Image.fromarray(rgba, "RGBA").resize((self.cw, self.ch), resample))
        self._photo_rgba = np.ascontiguousarray(rgba)
        self.widget.width, self.widget.height = self.cw, self.ch
        # fix the CSS size too, so that a flex box never stretches the canvas (clicks would still map exactly,
        # ipycanvas divides by the element's on-screen size, but the photo would look blurred)
        self.widget.layout.width, self.widget.layout.height = f"{self.cw}px", f"{self.ch}px"
        self.widget.layout.min_width, self.widget.layout.min_height = f"{self.cw}px", f"{self.ch}px"
        self.redraw()

    def redraw(self) -> None:
        """Send the photo and the overlay again (what a newly connected front end needs)."""
        with hold_canvas():
            self.photo_layer.clear()
            self.photo_layer.put_image_data(self._photo_rgba, 0, 0)
            self._draw_overlay_timed()

    def redraw_overlay(self) -> None:
        """Redraw only the top layer (after a click or a drag: the photo is not resent)."""
        with hold_canvas():
            self._draw_overlay_timed()

    def _draw_overlay_timed(self) -> None:
        t0 = time.perf_counter()
        self.draw_layer.clear()
        self.draw_overlay()
        self.last_draw_time = time.perf_counter()
        self.last_draw_seconds = self.last_draw_time - t0

    def draw_overlay(self) -> None:  # pragma: no cover - overridden
        """Draw on :attr:`draw_layer` (already cleared, inside ``hold_canvas``)."""

    def _on_client_ready(self) -> None:
        self.client_ready_count += 1
        self.redraw()

    # helpers for subclasses ----------------------------------------------------------------------
    def _mask_overlay(self, mask: torch.Tensor, rgba: tuple[int, int, int, int], dx: int = 0,
                      dy: int = 0) -> None:
        """Shade the pixels of ``mask`` (on the image grid) shifted by (dx, dy) image pixels."""
        h, w = self.image.shape[-2:]
        m = mask.cpu().numpy()
        shifted = np.zeros((h, w), dtype=bool)
        ys, xs = np.nonzero(m)
        ys, xs = ys + dy, xs + dx
        keep = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        shifted[ys[keep], xs[keep]] = True
        overlay = np.zeros((h, w, 4), dtype=np.uint8)
        overlay[shifted] = rgba
        if (self.cw, self.ch) != (w, h):
            overlay = np.asarray(Image.fromarray(overlay, "RGBA").resize((self.cw, self.ch),
                                                                         Image.Resampling.NEAREST))
        self.draw_layer.put_image_data(np.ascontiguousarray(overlay), 0, 0)

    def _outline(self, points: list[tuple[float, float]], closed: bool, color: str, dx: float = 0,
                 dy: float = 0, dots: bool = True) -> None:
        layer = self.draw_layer
        if not points:
            return
        uv = [self.image_to_canvas(x + dx, y + dy) for x, y in points]
        layer.stroke_style = color
        layer.line_width = 2
        if len(uv) > 1:
            layer.begin_path()
            layer.move_to(*uv[0])
            for u, v in uv[1:]:
                layer.line_to(u, v)
            if closed:
                layer.close_path()
            layer.stroke()
        if dots:
            layer.fill_style = color
            us = np.array([p[0] for p in uv])
            vs = np.array([p[1] for p in uv])
            layer.fill_circles(us, vs, 3.5)


class SourceCanvas(PhotoCanvas):
    """The source g: click to add vertices, click near the first vertex to close. A view on ``state``."""

    def __init__(self, image: torch.Tensor, state: PolygonState, display_size: int = 384,
                 css_class: str | None = "dipnb-source-canvas") -> None:
        self.state = state
        super().__init__(image, display_size, css_class)
        state.on_change(self._on_state_change)
        self.widget.on_mouse_down(self._on_mouse_down)

    def set_image(self, image: torch.Tensor) -> None:
        super().set_image(image)
        self.state.snap_radius = SNAP_PIXELS / min(self.sx, self.sy)

    def _on_mouse_down(self, u: float, v: float) -> None:
        self.state.add(*self.canvas_to_image(u, v))

    def _on_state_change(self, state: PolygonState, what: str) -> None:
        if what == "points":
            self.redraw_overlay()

    def draw_overlay(self) -> None:
        st = self.state
        pts = st.points
        crossing = bool(st.self_intersections())
        color = "#ff3030" if crossing else "#ffe000"
        if st.closed:
            self._mask_overlay(st.mask(), (255, 224, 0, 90) if not crossing else (255, 48, 48, 90))
        self._outline(pts, st.closed, color)
        if len(pts) >= 3 and not st.closed:
            # ring around the first vertex: click inside it to close
            u, v = self.image_to_canvas(*pts[0])
            self.draw_layer.stroke_style = "#00e0ff"
            self.draw_layer.stroke_circle(u, v, SNAP_PIXELS)


class TargetCanvas(PhotoCanvas):
    """The target f*: shows Ω's outline at the current offset; drag anywhere to move it. A view on ``state``.

    Dragging sets the offset to (offset at mouse-down) + (mouse travel in image pixels), so dropped mouse-move
    events never accumulate error. The offset is clamped by the state; a clamped placement is drawn orange
    with a note on the canvas.
    """

    def __init__(self, image: torch.Tensor, state: PolygonState, display_size: int = 384,
                 css_class: str | None = "dipnb-target-canvas") -> None:
        self.state = state
        self._drag: tuple[float, float, int, int] | None = None
        super().__init__(image, display_size, css_class)
        state.on_change(self._on_state_change)
        self.widget.on_mouse_down(self._on_mouse_down)
        self.widget.on_mouse_move(self._on_mouse_move)
        self.widget.on_mouse_up(self._on_mouse_up)
        self.widget.on_mouse_out(self._on_mouse_up)

    @property
    def dragging(self) -> bool:
        return self._drag is not None

    def _on_mouse_down(self, u: float, v: float) -> None:
        if not self.state.closed:
            self.state.say("Close the polygon on the source first; then drag it here to place it.")
            return
        self._drag = (u, v, *self.state.offset)

    def _on_mouse_move(self, u: float, v: float) -> None:
        if self._drag is None:
            return
        u0, v0, dx0, dy0 = self._drag
        self.state.set_offset(dx0 + round((u - u0) / self.sx), dy0 + round((v - v0) / self.sy))

    def _on_mouse_up(self, u: float, v: float) -> None:
        if self._drag is not None:
            self._on_mouse_move(u, v)
            self._drag = None

    def _on_state_change(self, state: PolygonState, what: str) -> None:
        if what in ("points", "offset"):
            self.redraw_overlay()

    def draw_overlay(self) -> None:
        st = self.state
        if not st.closed:
            self.draw_layer.fill_style = "white"
            self.draw_layer.font = "14px sans-serif"
            self.draw_layer.fill_text("close the polygon on the source", 8, 20)
            return
        dx, dy = st.offset
        color = "#ff9000" if st.clamped else "#00ff80"
        self._mask_overlay(st.mask(), (0, 255, 128, 70) if not st.clamped else (255, 144, 0, 90), dx, dy)
        self._outline(st.points, True, color, dx, dy, dots=False)
        if st.clamped:
            self.draw_layer.fill_style = color
            self.draw_layer.font = "bold 14px sans-serif"
            self.draw_layer.fill_text("clamped: Ω must stay inside the target", 8, 20)


__all__ = ["PhotoCanvas", "SourceCanvas", "TargetCanvas", "display_scale", "SNAP_PIXELS"]
