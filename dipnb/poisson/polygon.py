"""The polygon Ω drawn on the source image g and its placement on the target f*: plain Python, no front end.

:class:`PolygonState` is the *model* behind the drawing canvases of notebook 02. Everything a user can do
with the mouse is a method here (``add``, ``undo``, ``close``, ``reset``, ``set_points``, ``set_offset``,
``move_by``), so a script, a test or a notebook without a browser drives exactly the same code as the clicks.
Views subscribe with :meth:`PolygonState.on_change` and redraw themselves.

Ω is rasterised by :func:`dipnb.poisson.mask.polygon_mask` and placed by :func:`dipnb.poisson.mask.placed_mask`
(the same window as the edits' ``place_mask``): a vertex is ``(x, y)`` in *source image pixels*, x to the right,
y down, and pixel ``(j, i)`` is centred at ``(j, i)``. The placement is an integer offset
``(dx, dy)``: source pixel ``(x, y)`` lands on target pixel ``(x + dx, y + dy)``. The offset is clamped so
that Ω plus a ``margin`` of pixels (the boundary ∂Ω where f = f*) stays inside the target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from dipnb.images import check_pixel_budget
from dipnb.poisson.mask import placed_mask, polygon_mask
from dipnb.poisson.operators import bounding_box
from dipnb.undo import ChangeListeners

Point = tuple[float, float]


def _orient(a: Point, b: Point, c: Point) -> float:
    """Twice the signed area of triangle abc (> 0: counter-clockwise in x-right / y-up axes)."""
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Point, b: Point, p: Point) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """True when the closed segments p1p2 and q1q2 share a point (touching and collinear overlap count)."""
    d1, d2 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    d3, d4 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return ((d1 == 0 and _on_segment(q1, q2, p1)) or (d2 == 0 and _on_segment(q1, q2, p2))
            or (d3 == 0 and _on_segment(p1, p2, q1)) or (d4 == 0 and _on_segment(p1, p2, q2)))


def self_intersections(points: Sequence[Point], closed: bool = True) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of edges that cross, where edge ``k`` joins vertex ``k`` to vertex ``k + 1``.

    With ``closed=True`` the closing edge (last → first vertex) is included. Edges that share a vertex
    (neighbours) are not compared, except when they fold back onto each other (collinear overlap).
    O(N²), which is fine for hand-drawn polygons.
    """
    pts = [(float(x), float(y)) for x, y in points]
    n = len(pts)
    if n < 3 if closed else n < 4:
        return []
    m = n if closed else n - 1
    edges = [(pts[k], pts[(k + 1) % n]) for k in range(m)]
    out: list[tuple[int, int]] = []
    for i in range(m):
        for j in range(i + 1, m):
            a, b = edges[i]
            c, d = edges[j]
            adjacent = j == i + 1 or (closed and i == 0 and j == m - 1)
            if adjacent:
                # neighbours share one vertex; they only "cross" if they fold back along the same line
                shared = b if j == i + 1 else a
                other_i = a if j == i + 1 else b
                other_j = d if j == i + 1 else c
                if _orient(other_i, shared, other_j) == 0 and (
                    (other_j[0] - shared[0]) * (other_i[0] - shared[0])
                    + (other_j[1] - shared[1]) * (other_i[1] - shared[1]) > 0
                ):
                    out.append((i, j))
                continue
            if segments_intersect(a, b, c, d):
                out.append((i, j))
    return out


def _finite_pair(x: Any, y: Any, what: str) -> Point:
    try:
        fx, fy = float(x), float(y)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be two numbers (x, y), got ({x!r}, {y!r})") from None
    if not (math.isfinite(fx) and math.isfinite(fy)):
        raise ValueError(f"{what} must be finite numbers, got ({x!r}, {y!r})")
    return fx, fy


def _check_shape(shape: Any, name: str) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be (H, W), e.g. image.shape[-2:], got {shape!r}") from None
    if h < 3 or w < 3:
        raise ValueError(f"{name} must be at least 3×3 pixels, got {h}×{w}")
    check_pixel_budget(h, w, name=name)
    return h, w


class PolygonState(ChangeListeners):
    """Polygon vertices on the source, open/closed flag, and the clamped offset on the target.

    Parameters
    ----------
    source_shape, target_shape:
        ``(H, W)`` of the source image g and the target image f* (``target_shape`` defaults to the source's).
    margin:
        Pixels kept between the placed Ω and the target's border (≥ 1 so that ∂Ω lies inside f*).
    snap_radius:
        A click within this many *source pixels* of the first vertex closes the polygon (views set it from
        their display scale so that it is a constant number of screen pixels).

    Every change calls the listeners registered with :meth:`on_change` with ``what = "points"`` (vertices,
    closing), ``"offset"`` (the placement) or ``"message"``, and leaves a human-readable :attr:`message` saying
    what happened (views show it); the listeners are :mod:`dipnb.undo`'s.
    """

    def __init__(self, source_shape: Sequence[int], target_shape: Sequence[int] | None = None,
                 margin: int = 1, snap_radius: float = 3.0,
                 rasterise: Callable[[np.ndarray, int, int], Any] | None = None) -> None:
        super().__init__()
        self.source_shape = _check_shape(source_shape, "source_shape")
        self.target_shape = _check_shape(source_shape if target_shape is None else target_shape, "target_shape")
        if int(margin) < 0:
            raise ValueError(f"margin must be >= 0 pixels, got {margin}")
        self.margin = int(margin)
        self.snap_radius = float(snap_radius)
        #: ``rasterise(points, img_h, img_w)`` (the course's ``create_mask_from_points``: an (n, 2) array of (x, y),
        #: returning an img_h×img_w mask, nonzero inside) makes Ω; ``None``: :func:`polygon_mask`
        self.rasterise = rasterise
        self._points: list[Point] = []
        self.closed = False
        self._offset = (0, 0)
        #: the offset last asked for (by a drag, the sliders or :meth:`set_offset`) before clamping
        self.requested_offset = (0, 0)
        #: True when :attr:`requested_offset` had to be clamped to keep Ω inside the target
        self.clamped = False
        self.message = "Click on the source image to add vertices."
        self._mask: torch.Tensor | None = None

    # ---------------------------------------------------------------------------------------------
    # read-only views
    # ---------------------------------------------------------------------------------------------
    @property
    def points(self) -> list[Point]:
        """A copy of the vertices ``[(x, y), ...]`` in source pixels."""
        return list(self._points)

    @property
    def offset(self) -> tuple[int, int]:
        """The clamped placement ``(dx, dy)``: source pixel (x, y) → target pixel (x + dx, y + dy)."""
        return self._offset

    def __len__(self) -> int:
        return len(self._points)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return (f"PolygonState({len(self._points)} vertices, {state}, offset={self._offset}, "
                f"source {self.source_shape[0]}×{self.source_shape[1]}, "
                f"target {self.target_shape[0]}×{self.target_shape[1]})")

    def self_intersections(self) -> list[tuple[int, int]]:
        """Crossing edge pairs (the closing edge counts once the polygon is closed)."""
        return self_intersections(self._points, closed=self.closed)

    @property
    def is_simple(self) -> bool:
        """False when edges cross (the mask then has even-odd holes where the polygon overlaps itself)."""
        return not self.self_intersections()

    # ---------------------------------------------------------------------------------------------
    # editing
    # ---------------------------------------------------------------------------------------------
    def _clip_to_source(self, x: float, y: float) -> tuple[Point, bool]:
        h, w = self.source_shape
        cx = min(max(x, -0.5), w - 0.5)
        cy = min(max(y, -0.5), h - 0.5)
        return (cx, cy), (cx, cy) != (x, y)

    def add(self, x: float, y: float) -> str:
        """Add vertex ``(x, y)`` (source pixels). Returns what happened: ``"added"``, ``"closed"`` (the click
        was within :attr:`snap_radius` of the first vertex of a polygon with ≥ 3 vertices) or ``"ignored"``
        (the polygon is already closed, or the click repeats the last vertex); :attr:`message` says why.

        Points outside the image are moved onto its border (the image covers [−½, W − ½] × [−½, H − ½]).
        """
        x, y = _finite_pair(x, y, "vertex")
        if self.closed:
            self.say("The polygon is closed, so this click added nothing. Press Undo to reopen it "
                     "or Reset to start a new one.")
            return "ignored"
        if len(self._points) >= 3:
            x0, y0 = self._points[0]
            if math.hypot(x - x0, y - y0) <= self.snap_radius:
                try:
                    self.close()
                except ValueError as err:
                    self.say(f"Could not close the polygon: {err}")
                    return "ignored"
                return "closed"
        (x, y), moved = self._clip_to_source(x, y)
        if self._points and self._points[-1] == (x, y):
            self.say("That click repeats the last vertex; nothing was added.")
            return "ignored"
        self._points.append((x, y))
        self._mask = None
        crossing = self_intersections(self._points, closed=False)
        msg = f"Vertex {len(self._points)} at (x={x:.1f}, y={y:.1f})"
        if moved:
            msg += " (moved onto the image border)"
        if crossing:
            msg += " — warning: the outline crosses itself; the mask will use the even-odd rule (holes)."
        elif len(self._points) >= 3:
            msg += ". Click near the first vertex or press Close to finish."
        self.message = msg
        self._notify("points")
        return "added"

    def undo(self) -> str:
        """Reopen a closed polygon, else remove the last vertex. Returns ``"reopened"``, ``"removed"`` or
        ``"ignored"`` (nothing to undo)."""
        if self.closed:
            self.closed = False
            self._mask = None
            self.message = "Polygon reopened: add vertices, or Close it again."
            self._notify("points")
            return "reopened"
        if not self._points:
            self.say("Nothing to undo.")
            return "ignored"
        x, y = self._points.pop()
        self._mask = None
        self.message = f"Removed vertex at (x={x:.1f}, y={y:.1f}); {len(self._points)} left."
        self._notify("points")
        return "removed"

    def close(self) -> None:
        """Close the polygon (last vertex joins the first), rasterise Ω and re-clamp the offset.

        Raises ``ValueError`` when the vertices do not enclose any pixel centre (fewer than 3 vertices,
        all on a line, or thinner than a pixel). A self-intersecting outline is accepted and flagged in
        :attr:`message`: its mask follows the even-odd rule.
        """
        if self.closed:
            return
        if len(self._points) < 3:
            raise ValueError(f"a polygon needs at least 3 vertices, it has {len(self._points)}; add more first")
        mask = self._rasterise()  # raises ValueError for degenerate polygons
        self._mask = mask
        self.closed = True
        try:
            self._apply_offset(*self.requested_offset, notify=False)
        except ValueError:  # Ω does not fit in the target
            self.closed, self._mask = False, None
            raise
        crossing = self.self_intersections()
        area = int(mask.sum())
        if crossing:
            self.message = (f"Closed, but the outline crosses itself ({len(crossing)} crossing edge pair(s)): "
                            f"Ω follows the even-odd rule, so overlaps become holes ({area} pixels).")
        else:
            self.message = f"Closed: Ω has {area} pixels. Drag the outline on the target to place it."
        self._notify("points")

    def reset(self) -> None:
        """Forget all vertices (the offset is kept and re-clamped at the next close)."""
        self._points.clear()
        self.closed = False
        self._mask = None
        self.message = "Reset: click on the source image to add vertices."
        self._notify("points")

    def set_shapes(self, source_shape: Sequence[int], target_shape: Sequence[int]) -> None:
        """New image sizes (a new photo was loaded): forgets the polygon and the offset."""
        self.source_shape = _check_shape(source_shape, "source_shape")
        self.target_shape = _check_shape(target_shape, "target_shape")
        self._offset = self.requested_offset = (0, 0)
        self.clamped = False
        self.reset()

    def set_points(self, points: Iterable[Sequence[float]], close: bool = True) -> None:
        """Replace the vertices by ``points`` ``[(x, y), ...]`` (source pixels) and, by default, close."""
        pts = []
        for k, p in enumerate(points):
            try:
                x, y = p
            except (TypeError, ValueError):
                raise TypeError(f"point {k} must be a pair (x, y), got {p!r}") from None
            pts.append(self._clip_to_source(*_finite_pair(x, y, f"point {k}"))[0])
        if close and len(pts) < 3:
            raise ValueError(f"a closed polygon needs at least 3 points, got {len(pts)}")
        old = (list(self._points), self.closed, self._mask)
        self._points, self.closed, self._mask = pts, False, None
        if close:
            try:
                self.close()
            except ValueError:
                self._points, self.closed, self._mask = old
                raise
        else:
            self.message = f"{len(pts)} vertices set (open)."
            self._notify("points")

    # ---------------------------------------------------------------------------------------------
    # placement
    # ---------------------------------------------------------------------------------------------
    def offset_range(self) -> tuple[int, int, int, int]:
        """``(dx_min, dx_max, dy_min, dy_max)`` keeping Ω and its margin inside the target.

        Raises ``ValueError`` when the polygon is not closed, or when Ω (plus margin) is larger than the
        target so that no placement fits.
        """
        b = bounding_box(self.mask())
        r0, r1, c0, c1 = b.y0, b.y0 + b.h - 1, b.x0, b.x0 + b.w - 1
        ht, wt = self.target_shape
        m = self.margin
        dx_min, dx_max = m - c0, wt - 1 - m - c1
        dy_min, dy_max = m - r0, ht - 1 - m - r1
        if dx_min > dx_max or dy_min > dy_max:
            raise ValueError(
                f"Ω spans {c1 - c0 + 1}×{r1 - r0 + 1} pixels (w×h), which with a {m}-pixel margin does not fit "
                f"in the {wt}×{ht} target; draw a smaller polygon or use a larger target image")
        return dx_min, dx_max, dy_min, dy_max

    def _apply_offset(self, dx: int, dy: int, notify: bool = True) -> tuple[int, int]:
        self.requested_offset = (dx, dy)
        if self.closed:
            dx_min, dx_max, dy_min, dy_max = self.offset_range()
            cx, cy = min(max(dx, dx_min), dx_max), min(max(dy, dy_min), dy_max)
        else:
            cx, cy = dx, dy
        self.clamped = (cx, cy) != (dx, dy)
        self._offset = (cx, cy)
        if notify:
            if self.clamped:
                self.message = (f"Offset ({dx}, {dy}) would put Ω outside the target; clamped to ({cx}, {cy}).")
            else:
                self.message = f"Offset (dx={cx}, dy={cy})."
            self._notify("offset")
        return self._offset

    def set_offset(self, dx: int, dy: int) -> tuple[int, int]:
        """Place Ω at integer offset ``(dx, dy)``, clamped into the target; returns the offset in force
        (:attr:`clamped` says whether it differs from the one asked for)."""
        fx, fy = _finite_pair(dx, dy, "offset")
        return self._apply_offset(int(round(fx)), int(round(fy)))

    def move_by(self, ddx: int, ddy: int) -> tuple[int, int]:
        """Shift the placement by ``(ddx, ddy)`` target pixels (clamped); returns the offset in force."""
        fx, fy = _finite_pair(ddx, ddy, "shift")
        return self.set_offset(self._offset[0] + int(round(fx)), self._offset[1] + int(round(fy)))

    def centre_offset(self) -> tuple[int, int]:
        """The offset that puts the centre of Ω's bounding box at the centre of the target (unclamped)."""
        b = bounding_box(self.mask())
        cy, cx = b.y0 + (b.h - 1) / 2, b.x0 + (b.w - 1) / 2
        ht, wt = self.target_shape
        return int(round((wt - 1) / 2 - cx)), int(round((ht - 1) / 2 - cy))

    # ---------------------------------------------------------------------------------------------
    # masks
    # ---------------------------------------------------------------------------------------------
    def mask(self) -> torch.Tensor:
        """Ω on the source grid: BoolTensor ``H_s × W_s`` (``polygon_mask`` of the closed polygon)."""
        if not self.closed:
            raise ValueError("the polygon is not closed yet: add at least 3 vertices and call close() "
                             "(or press Close)")
        if self._mask is None:  # pragma: no cover - close() always sets it
            self._mask = self._rasterise()
        return self._mask

    def _rasterise(self) -> torch.Tensor:
        if self.rasterise is None:
            return polygon_mask(self._points, self.source_shape)
        h, w = self.source_shape
        name = getattr(self.rasterise, "__name__", "rasterise")
        out = self.rasterise(np.asarray(self._points, dtype=np.float64), h, w)
        arr = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        if arr.shape != (h, w):
            raise ValueError(f"{name} returned a mask of shape {arr.shape}; the source image needs ({h}, {w}) "
                             "(img_h, img_w)")
        return torch.from_numpy(arr != 0)

    def placed_mask(self) -> torch.Tensor:
        """Ω moved by the offset onto the target grid: BoolTensor ``H_t × W_t``."""
        return placed_mask(self.mask(), self.target_shape, self._offset)


__all__ = ["PolygonState", "segments_intersect", "self_intersections"]
