"""Public checks: what ``grader.check("<question>")`` runs in the student edition.

Each raises a :class:`Fail` (an ``AssertionError``) whose message says what is wrong and where. They hold no
reference answer a student could call: they test properties of the answer (eq. 7's rows, the effect of a
one-pixel change on the loss, what a training step does to the optimiser and the criterion, …) and compare with
expected values written down here. The autograder's hidden tests (``assignment/hidden_tests.py``, never shipped
to students) compare with reference answers on other inputs. Both fail an answer that calls the ``dipnb``
package: :func:`forbid_dipnb_calls` runs in the public checks too, so a student learns it here, not from the grade.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from dipnb.assignment.public_common import (PACKAGE_DIR, Fail, forbid_dipnb_calls, require, require_callable,  # noqa: F401
                                            scalar)
from dipnb.assignment.public_nets import (CONV1, FullyConvNetwork, SpyAdam, SpyCriterion, TinyNet,  # noqa: F401
                                          check_fcn, discriminator_loss, discriminator_loss_step, gan_case,
                                          generator_loss, generator_loss_step, proportional, tiny_loader,
                                          train_one_epoch, validate)
from dipnb.poisson.operators import DIRECTIONS  # up, down, left, right: the order of the field's first axis
from dipnb.poisson.outline import MASK_TOLERANCE  # noqa: F401

#: Pixels whose centre lies within MASK_TOLERANCE (½ px, stated once in :mod:`dipnb.poisson.outline`) of the
#: polygon's outline may go either way in a mask; every other pixel must follow the even-odd rule. The prompt, the
#: checks and notebook 02's ``matches_polygon`` use this value.
#: ``solve_eq7`` is graded to this bar: inside Ω within it of the exact solution of eq. 7 (max abs error), and
#: outside Ω equal to f* within 1e-6. float32 arithmetic and iterative solvers run to that tolerance pass.
EQ7_TOLERANCE = 1e-5


# -- 01: eq. 7 ---------------------------------------------------------------------------------------------
def _box(H: int, W: int, y0: int, x0: int, h: int, w: int) -> torch.Tensor:
    m = torch.zeros(H, W, dtype=torch.bool)
    m[y0:y0 + h, x0:x0 + w] = True
    return m


def eq7_residual(f: torch.Tensor, g: torch.Tensor, fstar: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 7's row at every p ∈ Ω (0 elsewhere): |N_p| f_p − Σ_{q∈N_p∩Ω} f_q − Σ_{q∈N_p∖Ω} f*_q − Σ_{q∈N_p}
    (g_p − g_q), N_p the neighbours inside the image. A test of an answer, not a way to compute one."""
    C, H, W = g.shape
    f, g, fstar = f.double(), g.double(), fstar.double()
    r = torch.zeros(C, H, W, dtype=torch.float64)
    for y, x in zip(*torch.nonzero(mask, as_tuple=True)):
        y, x = int(y), int(x)
        for dy, dx in DIRECTIONS:
            qy, qx = y + dy, x + dx
            if 0 <= qy < H and 0 <= qx < W:
                other = f[:, qy, qx] if mask[qy, qx] else fstar[:, qy, qx]
                r[:, y, x] += f[:, y, x] - other - (g[:, y, x] - g[:, qy, qx])
    return r


def check_eq7_rows(f: object, g: torch.Tensor, fstar: torch.Tensor, mask: torch.Tensor, label: str,
                   tol: float = EQ7_TOLERANCE) -> None:
    name = "solve_eq7"
    require(isinstance(f, torch.Tensor), f"{name} must return a tensor, got {type(f).__name__}")
    require(tuple(f.shape) == tuple(g.shape), f"{name} must return f with the shape of g, {tuple(g.shape)}; "
                                              f"got {tuple(f.shape)}")
    out = (f.double() - fstar.double())[:, ~mask].abs()
    require(float(out.max()) <= 1e-6 if out.numel() else True,
            f"{name} ({label}): outside Ω the result must be f* unchanged (off by up to {float(out.max()):.3g}).")
    r = eq7_residual(f, g, fstar, mask).abs()
    if float(r.max()) > tol:
        c, y, x = map(int, torch.nonzero(r == r.max())[0])
        n = sum(0 <= y + dy < g.shape[1] and 0 <= x + dx < g.shape[2] for dy, dx in DIRECTIONS)
        raise Fail(f"{name} ({label}): eq. 7 does not hold at pixel (row {y}, column {x}), channel {c}: its row is "
                   f"off by {float(r.max()):.3g} (the bar: {tol:g}). That pixel has |N_p| = {n} neighbours inside "
                   "the image: its row has |N_p| on the diagonal, −1 per neighbour in Ω, and Σ (g_p − g_q) plus "
                   "the f* values of the neighbours outside Ω on the right-hand side.")


def solve_eq7(fn: Callable) -> None:
    require_callable(fn, "solve_eq7")
    gen = torch.Generator().manual_seed(0)
    g = torch.rand(1, 5, 5, generator=gen, dtype=torch.float64)
    fstar = torch.rand(1, 5, 5, generator=gen, dtype=torch.float64)
    for label, mask in (("centre 3×3", _box(5, 5, 1, 1, 3, 3)), ("top-left corner 3×3", _box(5, 5, 0, 0, 3, 3))):
        with forbid_dipnb_calls("solve_eq7"):
            f = fn(g.clone(), fstar.clone(), mask.clone())
        check_eq7_rows(f, g, fstar, mask, label)


# -- 02: polygon masks -------------------------------------------------------------------------------------
def distance_to_outline(points: np.ndarray, h: int, w: int) -> np.ndarray:
    """(h, w): distance from each pixel centre (x = column, y = row) to the nearest edge of the polygon."""
    pts = np.asarray(points, dtype=np.float64)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    best = np.full((h, w), np.inf)
    for (x0, y0), (x1, y1) in zip(pts, np.roll(pts, -1, axis=0)):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((x - x0) * dx + (y - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
        best = np.minimum(best, np.hypot(x - (x0 + t * dx), y - (y0 + t * dy)))
    return best


def check_mask_against(mask: object, expected: np.ndarray, points: np.ndarray, what: str) -> None:
    """``mask`` is a uint8 0/255 array equal to ``expected`` (bool) except within MASK_TOLERANCE of the outline."""
    name = "create_mask_from_points"
    h, w = expected.shape
    require(mask is not None, f"{name} returned None: return the mask (a NumPy array).")
    require(isinstance(mask, np.ndarray), f"{name} must return a NumPy array, got {type(mask).__name__}")
    require(mask.shape == (h, w), f"{name}(points, img_h={h}, img_w={w}) returned shape {mask.shape}; expected "
                                  f"({h}, {w}) = (img_h, img_w)" + (" — rows are y, columns are x"
                                                                     if mask.shape == (w, h) else ""))
    require(mask.dtype == np.uint8, f"{name} must return dtype uint8, got {mask.dtype}")
    values = set(np.unique(mask).tolist())
    require(values <= {0, 255}, f"{name} must use 0 outside and 255 inside; the mask holds the values "
                                f"{sorted(values)}" + (" (use 255, not 1, inside)" if 1 in values else ""))
    wrong = ((mask == 255) != expected) & (distance_to_outline(points, h, w) > MASK_TOLERANCE)
    if wrong.any():
        i, j = map(int, np.argwhere(wrong)[0])
        raise Fail(f"{name} ({what}): {int(wrong.sum())} pixels whose centres lie more than {MASK_TOLERANCE:g} px "
                   f"from the outline are wrong, e.g. row {i}, column {j} (x={j}, y={i}) should be "
                   f"{'inside (255)' if expected[i, j] else 'outside (0)'}; points are (x, y) = (column, row).")


_RECT = ["............", "..#######...", "..#######...", "..#######...", "............", "............"]
_TRIANGLE = ["." * 36] * 3 + [
    "....####............................", "....########........................",
    "....#############...................", ".....################...............",
    ".....#####################..........", ".....#########################......",
    ".....########################.......", "......#####################.........",
    "......###################...........", "......#################.............",
    ".......##############...............", ".......############.................",
    ".......###########..................", ".......#########....................",
    "........######......................", "........####........................",
    "........##.........................."] + ["." * 36] * 4


def _pattern(rows: list[str]) -> np.ndarray:
    return np.array([[ch == "#" for ch in row] for row in rows])


def create_mask_from_points(fn: Callable) -> None:
    require_callable(fn, "create_mask_from_points")
    for pts, rows, what in ((np.array([[2, 1], [9, 1], [9, 4], [2, 4]]), _RECT, "a 6×12 image with a rectangle"),
                            (np.array([[3, 2], [30, 8], [8, 20]]), _TRIANGLE, "a triangle in a 24×36 image")):
        expected = _pattern(rows)
        with forbid_dipnb_calls("create_mask_from_points"):
            mask = fn(pts.copy(), *expected.shape)
        check_mask_against(mask, expected, pts, what)


# -- 03: the course's Laplacian loss -----------------------------------------------------------------------
def laplacian_probe_case(seed: int = 0) -> tuple[list[torch.Tensor], tuple[int, int, int, int], tuple[int, int]]:
    """Random foreground and background, a blob Ω' in the foreground moved by (dy, dx) into the background,
    and a blend equal to the moved foreground around Ω (so Δblend = Δforeground on Ω: the loss is 0)."""
    gen = torch.Generator().manual_seed(seed)
    fg = torch.rand(1, 3, 24, 28, generator=gen)
    blended = torch.rand(1, 3, 30, 26, generator=gen)
    (y0, x0, h, w), (dy, dx) = (5, 6, 12, 14), (4, 3)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    blob = ((yy - (h - 1) / 2) / (h / 2)) ** 2 + ((xx - (w - 1) / 2) / (w / 2)) ** 2 < 0.85
    fm, bm = torch.zeros(1, 1, 24, 28), torch.zeros(1, 1, 30, 26)
    fm[0, 0, y0:y0 + h, x0:x0 + w] = blob.float()
    bm[0, 0, y0 + dy:y0 + dy + h, x0 + dx:x0 + dx + w] = blob.float()
    blended[..., y0 + dy - 2:y0 + dy + h + 2, x0 + dx - 2:x0 + dx + w + 2] = fg[..., y0 - 2:y0 + h + 2,
                                                                                 x0 - 2:x0 + w + 2]
    return [fg, fm, blended, bm], (y0 + dy, x0 + dx, h, w), (dy, dx)


def cal_laplacian_loss(fn: Callable) -> None:
    """One-pixel probes: raising the blend by ε at a pixel p must raise the loss by c·ε²·(16·[p ∈ Ω] +
    #{neighbours of p in Ω}) — the squared 5-point Laplacian summed over Ω — for one c > 0 (any normalisation)."""
    name = "cal_laplacian_loss"
    require_callable(fn, name)
    (fg, fm, blended, bm), (by, bx, bh, bw), _ = laplacian_probe_case()

    def loss(b: torch.Tensor) -> float:
        b = b.clone().requires_grad_(True)
        with forbid_dipnb_calls(name):
            value = scalar(fn(fg.clone(), fm.clone(), b, bm.clone()), name)
        require(value.requires_grad, f"{name}: the loss does not depend on blended_img through autograd "
                                     "(no gradient); compute it with torch operations on blended_img.")
        return float(value.detach())

    omega = bm[0, 0] > 0.5
    base = loss(blended)
    eps = 0.1
    inner = (by + bh // 2, bx + bw // 2)
    probe = blended.clone()
    probe[0, 0, inner[0], inner[1]] += eps
    c = (loss(probe) - base) / (20 * eps ** 2)
    zero_here = ("where the blend equals the foreground around Ω the loss must be 0 (equal Laplacians), yours is "
                 f"{base:.4g}: compare Δ(blended_img) on background_mask with Δ(foreground_img) on foreground_mask, "
                 "pixel for pixel, and only there.")
    require(np.isfinite(c) and c > 0, f"{name}: " + (zero_here if abs(base) > 1e-12 else
                                                     "changing the blend at a pixel inside Ω did not raise the "
                                                     "loss (it must grow with the difference of the Laplacians)."))
    require(abs(base) <= 1e-4 * c * eps ** 2,
            f"{name}: " + zero_here)
    probe[0, 0, inner[0], inner[1]] += eps  # 2ε
    ratio = (loss(probe) - base) / (c * 20 * eps ** 2)
    require(abs(ratio - 4) < 1e-2, f"{name}: doubling the difference at a pixel multiplied your loss by "
                                   f"{ratio:.3g}, not 4: square the differences of the Laplacians.")
    near = torch.zeros_like(omega)
    near[1:-1, 1:-1] = omega[1:-1, 1:-1] | omega[:-2, 1:-1] | omega[2:, 1:-1] | omega[1:-1, :-2] | omega[1:-1, 2:]
    bad = []
    for y, x in torch.nonzero(near).tolist():
        inside = int(omega[y, x])
        expected = 16 * inside + int(omega[y - 1, x]) + int(omega[y + 1, x]) + int(omega[y, x - 1]) + int(omega[y, x + 1])
        probe = blended.clone()
        probe[0, 0, y, x] += eps
        got = (loss(probe) - base) / (c * eps ** 2)
        if abs(got - expected) > 1e-2 * max(1, expected):
            bad.append((y, x, got, expected, inside))
    if bad:
        y, x, got, expected, inside = max(bad, key=lambda b: abs(b[2] - b[3]))
        y0, y1, x0, x1 = by, by + bh - 1, bx, bx + bw - 1  # Ω's bounding box in the background
        rows = [int(r) for r in torch.nonzero(omega.any(1)).flatten()]
        cols = [int(k) for k in torch.nonzero(omega.any(0)).flatten()]
        y0, y1, x0, x1 = rows[0], rows[-1], cols[0], cols[-1]
        at_edge = all(min(abs(b[0] - y0), abs(b[0] - y1), abs(b[1] - x0), abs(b[1] - x1)) <= 1 for b in bad)
        raise Fail(f"{name}: at {len(bad)} pixels a change of the blend by ε changes your loss by the wrong amount"
                   + (f", all of them on the edge of Ω's bounding box (rows {y0}–{y1}, columns {x0}–{x1}) or next "
                      "to it" if at_edge else "")
                   + f". Worst: row {y}, column {x} ({'in Ω' if inside else 'just outside Ω'}): your loss changed "
                   f"by {got:.3g}·cε² where the Laplacian over Ω gives {expected}·cε² (c: your normalisation)."
                   + (" The Laplacian at a pixel of Ω must use its real neighbours, also those outside Ω's "
                      "bounding box: compute Δ on the whole images, then select the masked pixels (cropping the "
                      "box and zero-padding loses them)." if at_edge else
                      " Compute Δ with the 5-point kernel [[0, 1, 0], [1, −4, 1], [0, 1, 0]] on the whole images "
                      "and compare only the pixels of the masks."))


# -- 04: the mixed guidance field --------------------------------------------------------------------------
_MIX_G = [[0, 1, 3, 6, 2], [2, 5, 1, 0, 4], [7, 3, 8, 2, 1], [1, 1, 6, 9, 3]]
_MIX_T = [[5, 1, 0, 2, 8], [3, 0, 7, 1, 6], [2, 9, 4, 0, 5], [0, 6, 2, 3, 1]]
#: Eq. 13 for the two 4×5 crops above (directions up, down, left, right; 1 channel; 2×3 inner pixels).
_MIX_V = [[[[4, 7, -6], [9, 7, 2]]], [[[-9, -7, -2], [3, 2, -7]]], [[[3, 7, -6], [7, 5, -6]]],
          [[[-7, 6, -5], [-5, 6, -5]]]]


def check_mixed_field_against(v: object, expected: torch.Tensor, shape: tuple[int, ...]) -> None:
    name = "mixed_gradient_field"
    C, h, w = shape[0], shape[1] - 2, shape[2] - 2
    require(isinstance(v, torch.Tensor), f"{name} must return a tensor, got {type(v).__name__}")
    require(tuple(v.shape) == (4, C, h, w), f"{name} on crops of shape {tuple(shape)} must return shape "
                                            f"(4, {C}, {h}, {w}) (directions, channels, inner rows, inner "
                                            f"columns), got {tuple(v.shape)}")
    for d, label in enumerate(("up", "down", "left", "right")):
        got, ref = v[d].double(), expected[d].double()
        if not torch.allclose(got, ref, atol=1e-6):
            if torch.allclose(got, -ref, atol=1e-6):
                raise Fail(f"{name}: direction {label} has the wrong sign; v_pq = a_p − a_q (pixel minus "
                           "neighbour).")
            c, i, j = map(int, torch.nonzero((got - ref).abs() > 1e-6)[0])
            raise Fail(f"{name}: direction {label} (index {d}), channel {c}, inner pixel ({i}, {j}): got "
                       f"{float(got[c, i, j]):.4f}, expected {float(ref[c, i, j]):.4f} — keep the target's "
                       "difference where |f*_p − f*_q| > |g_p − g_q|, else the source's.")


def mixed_gradient_field(fn: Callable) -> None:
    require_callable(fn, "mixed_gradient_field")
    g, t = torch.tensor([_MIX_G], dtype=torch.float64), torch.tensor([_MIX_T], dtype=torch.float64)
    with forbid_dipnb_calls("mixed_gradient_field"):
        v = fn(g.clone(), t.clone())
    check_mixed_field_against(v, torch.tensor(_MIX_V, dtype=torch.float64), tuple(g.shape))
