"""Polygon → mask Ω (even-odd rule on pixel centres), and mask checks.

Coordinate convention (the same as PIL's ``ImageDraw``, scikit-image's ``draw.polygon`` and matplotlib's
``imshow``): a point is ``(x, y)`` with x to the right and y down, and the pixel in column ``j`` / row ``i``
has its **centre at (x, y) = (j, i)**; it covers the square ``[j − ½, j + ½] × [i − ½, i + ½]``. So a
polygon drawn over ``plt.imshow(img)`` with the same numbers lands on the same pixels. (A canvas that reports
click positions with pixel ``j`` covering ``[j, j + 1)`` must subtract ½ before calling
:func:`polygon_mask`.)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from dipnb.images import check_pixel_budget
from dipnb.poisson.operators import Box, bounding_box


def _as_points(points: Any) -> np.ndarray:
    if isinstance(points, torch.Tensor):
        pts = points.detach().cpu().double().numpy()
    else:
        try:
            pts = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError("points must be a sequence of (x, y) pairs, e.g. [(10, 5), (40, 8), (25, 30)]") from None
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2) — a sequence of (x, y) pairs — got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError("points contain NaN or infinite coordinates; give finite (x, y) pixel coordinates")
    # drop consecutive duplicates (also a repeated closing vertex)
    if len(pts) > 1:
        keep = np.ones(len(pts), dtype=bool)
        keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)
        pts = pts[keep]
        if len(pts) > 1 and np.all(pts[0] == pts[-1]):
            pts = pts[:-1]
    return pts


def _check_size(size: Any) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in size)
        ok = all(float(s) == int(s) for s in size)
    except (TypeError, ValueError):
        raise TypeError(f"size must be (H, W), two positive ints, got {size!r}") from None
    if not ok or h < 1 or w < 1:
        raise ValueError(f"size must be (H, W), two positive ints, got {size!r}")
    check_pixel_budget(h, w, name="mask size")
    return h, w


def clip_polygon(pts: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Clip a closed polygon to the window ``[x0, x1] × [y0, y1]`` (Sutherland–Hodgman, one half-plane at a time).

    Each clip replaces the parts of the outline beyond a window edge by pieces of that edge, which leaves the
    winding number of every point inside the window unchanged, so the even-odd mask of the pixel centres is the
    same, also for self-intersecting outlines; and coordinates are then bounded by the image size, so vertices
    far outside it (1e12 px) cost no precision.
    """
    for axis, c, keep_above in ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False)):
        if len(pts) == 0:
            break
        v = pts[:, axis] - c
        inside = v >= 0 if keep_above else v <= 0
        if inside.all():
            continue
        out = []
        n = len(pts)
        for k in range(n):
            p, q = pts[k], pts[(k + 1) % n]
            ip, iq = inside[k], inside[(k + 1) % n]
            if ip:
                out.append(p)
            if ip != iq:  # the edge crosses the window edge: add the crossing point
                t = (c - p[axis]) / (q[axis] - p[axis])
                r = p + t * (q - p)
                r[axis] = c
                out.append(r)
        pts = np.array(out, dtype=np.float64).reshape(-1, 2)
    return pts


def _collinear(pts: np.ndarray) -> bool:
    """All vertices on one line (relative to the polygon's extent). Not "signed area 0": a symmetric bow-tie has
    signed area 0 yet encloses two lobes of pixels. Cross products with the longest chord from vertex 0."""
    d = pts - pts[0]
    far = d[np.argmax(np.hypot(d[:, 0], d[:, 1]))]
    extent = max(float(np.ptp(pts[:, 0])), float(np.ptp(pts[:, 1])), 1.0)
    return bool(np.abs(d[:, 0] * far[1] - d[:, 1] * far[0]).max() <= 1e-9 * extent * extent)


def polygon_area(points: Any) -> float:
    """Signed area of a polygon (shoelace formula); positive when the vertices run clockwise on screen."""
    pts = _as_points(points)
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def polygon_mask(points: Sequence[Sequence[float]] | np.ndarray | torch.Tensor, size: tuple[int, int],
                 device: torch.device | str | None = None) -> torch.Tensor:
    """Rasterise a polygon into a boolean mask Ω of shape ``(H, W)``.

    ``points`` are ``(x, y)`` pixel coordinates (x right, y down, pixel ``(j, i)`` centred at ``(j, i)``);
    the polygon closes itself (last vertex joins the first). A pixel is inside when its **centre** is inside,
    by the even-odd rule (so a self-intersecting polygon has holes where it overlaps itself). Vertices may lie
    outside the image; the mask is clipped to it. Vectorised: O(H·W + H·N) with a scan-line parity count.

    Raises ``ValueError`` for fewer than 3 distinct points, a zero-area (degenerate) polygon, a polygon
    entirely outside the image, or one that contains no pixel centre; ``TypeError`` for non-numeric input.
    """
    h, w = _check_size(size)
    pts = _as_points(points)
    if len(np.unique(pts, axis=0)) < 3:
        raise ValueError(f"a polygon needs at least 3 distinct points, got {len(np.unique(pts, axis=0))}; "
                         "add more vertices")
    x, y = pts[:, 0], pts[:, 1]
    if x.max() < -0.5 or x.min() > w - 0.5 or y.max() < -0.5 or y.min() > h - 0.5:
        raise ValueError(f"the polygon (x in [{x.min():g}, {x.max():g}], y in [{y.min():g}, {y.max():g}]) lies "
                         f"entirely outside the {h}×{w} image; use pixel coordinates x in [0, {w - 1}], "
                         f"y in [0, {h - 1}]")
    # Rasterise the part inside a window one pixel beyond the image: coordinates stay of the image's size, so
    # vertices far outside it (1e12 px) lose no precision; the even-odd mask of the centres is unchanged.
    clipped = clip_polygon(pts, -1.0, -1.0, float(w), float(h))
    if len(clipped) < 3 or _collinear(clipped):
        if _collinear(pts):
            raise ValueError("the polygon has zero area (all vertices on one line); draw a polygon that encloses "
                             "a region")
        raise ValueError("the polygon contains no pixel centre of the image (its part inside the image is thinner "
                         "than a pixel); draw a larger polygon or move it onto the image")
    pts = clipped
    x, y = pts[:, 0], pts[:, 1]
    # Edges (x0, y0) → (x1, y1). A scan line through pixel centres at row i crosses an edge when
    # (y0 <= i) != (y1 <= i) (half-open: each vertex counted once, horizontal edges never).
    x0, y0 = x, y
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    rows = np.arange(h, dtype=np.float64)[:, None]  # H×1
    crosses = (y0[None, :] <= rows) != (y1[None, :] <= rows)  # H×N
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (rows - y0[None, :]) / (y1 - y0)[None, :]
        xc = x0[None, :] + t * (x1 - x0)[None, :]  # H×N crossing abscissae
    ri, ei = np.nonzero(crosses)
    # the crossing counts for pixel centres j >= xc (top-left rule: a centre exactly on a left or top edge is
    # inside, on a right or bottom edge outside), i.e. for j >= ceil(xc)
    col = np.clip(np.ceil(xc[ri, ei]).astype(np.int64), 0, w)
    toggles = np.zeros((h, w + 1), dtype=np.int32)
    np.add.at(toggles, (ri, col), 1)
    inside = (np.cumsum(toggles[:, :w], axis=1) & 1).astype(bool)
    if not inside.any():
        raise ValueError("the polygon contains no pixel centre (it is thinner than a pixel or lies outside the "
                         "image); draw a larger polygon")
    return torch.from_numpy(inside).to(device=device) if device is not None else torch.from_numpy(inside)


def check_mask(mask: Any, shape: tuple[int, int], name: str = "mask", allow_empty: bool = False) -> torch.Tensor:
    """Validate a mask Ω against an image of shape ``(H, W)`` and return it as a BoolTensor ``H×W``.

    Accepts bool / 0-1 integer / float {0, 1} tensors or arrays, ``H×W`` or ``1×H×W`` (a PIL mode "L"/"1"
    image too: nonzero = inside). Raises for a shape mismatch, an empty mask, or values other than 0/1.
    """
    if isinstance(mask, Image.Image):
        mask = np.asarray(mask.convert("L")) > 0
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.ascontiguousarray(mask))
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a bool tensor H×W (e.g. from dipnb.poisson.polygon_mask), "
                        f"got {type(mask).__name__}")
    m = mask.detach()
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim != 2:
        raise ValueError(f"{name} must be H×W, got shape {tuple(mask.shape)}")
    if tuple(m.shape) != tuple(shape):
        raise ValueError(f"{name} shape {tuple(m.shape)} ≠ source shape {tuple(shape)}: the mask is drawn in "
                         "source coordinates; build it with polygon_mask(points, source.shape[-2:])")
    if m.dtype != torch.bool:
        if m.is_floating_point() and not bool(torch.isfinite(m).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
        if not bool(((m == 0) | (m == 1)).all()):
            raise ValueError(f"{name} must be boolean (0/1); threshold it first, e.g. mask > 0.5")
        m = m != 0
    if not allow_empty and not bool(m.any()):
        raise ValueError(f"{name} is empty (no pixel inside Ω); select a region to clone")
    return m


def _target_window(sb: Box, target_shape: tuple[int, int], offset: tuple[int, int]) -> tuple[int, int, int, int]:
    """Rows ty0:ty1, columns tx0:tx1 of the target that Ω's source box ``sb`` covers at ``offset``, clipped."""
    dx, dy = offset
    Ht, Wt = target_shape
    return (max(sb.y0 + dy, 0), max(sb.x0 + dx, 0), min(sb.y0 + sb.h + dy, Ht), min(sb.x0 + sb.w + dx, Wt))


def placed_mask(mask: torch.Tensor, target_shape: tuple[int, int], offset: tuple[int, int]) -> torch.Tensor:
    """Ω (source coordinates) moved by ``offset = (dx, dy)`` onto the whole ``H_t×W_t`` target grid, as a bool
    mask; pixels that land outside the target are dropped (the same window as :func:`place_mask`)."""
    out = torch.zeros(*target_shape, dtype=torch.bool, device=mask.device)
    if not bool(mask.any()):
        return out
    dx, dy = offset
    ty0, tx0, ty1, tx1 = _target_window(bounding_box(mask), target_shape, offset)
    if ty1 > ty0 and tx1 > tx0:
        out[ty0:ty1, tx0:tx1] = mask[ty0 - dy:ty1 - dy, tx0 - dx:tx1 - dx]
    return out


def place_mask(mask: torch.Tensor, target_shape: tuple[int, int], offset: tuple[int, int],
               outside: str = "clip") -> tuple[torch.Tensor, Box]:
    """Move Ω (source coordinates) by ``offset = (dx, dy)`` into the target; returns (Ω on its target box, the box).

    Source pixel (x, y) lands on target pixel (x + dx, y + dy); nothing wraps around.

    Pixels landing outside the target are dropped with a warning (``outside="clip"``) or refused
    (``outside="raise"``). Raises ``ValueError`` when nothing of Ω lands in the target.
    """
    if outside not in ("clip", "raise"):
        raise ValueError(f"outside must be 'clip' or 'raise', got {outside!r}")
    dx, dy = offset
    Ht, Wt = target_shape
    sb = bounding_box(mask)
    ty0, tx0, ty1, tx1 = _target_window(sb, target_shape, offset)
    total = int(torch.count_nonzero(mask))
    if ty1 <= ty0 or tx1 <= tx0:
        raise ValueError(f"offset {offset} puts all of Ω (source box x {sb.x0}..{sb.x0 + sb.w - 1}, y "
                         f"{sb.y0}..{sb.y0 + sb.h - 1}) outside the {Ht}×{Wt} target; choose an offset that "
                         "lands it inside")
    m = mask[ty0 - dy:ty1 - dy, tx0 - dx:tx1 - dx]
    kept = int(torch.count_nonzero(m))
    if kept < total:
        msg = (f"offset {offset} puts {total - kept} of Ω's {total} pixels outside the {Ht}×{Wt} target")
        if outside == "raise" or kept == 0:
            raise ValueError(msg + "; move the region inside the target (or pass outside='clip' to drop them)")
        warnings.warn(msg + "; they were dropped (pass outside='raise' to refuse instead)", stacklevel=3)
    tb = bounding_box(m)
    box = Box(ty0 + tb.y0, tx0 + tb.x0, tb.h, tb.w, Ht, Wt)
    m = m[tb.y0:tb.y0 + tb.h, tb.x0:tb.x0 + tb.w]
    if box.h == Ht and box.w == Wt and bool(m.all()):
        raise ValueError("Ω covers the whole target, so eq. 7 has no boundary values f*; leave at least one "
                         "target pixel outside Ω")
    return m, box


__all__ = ["check_mask", "clip_polygon", "place_mask", "placed_mask", "polygon_area", "polygon_mask"]
