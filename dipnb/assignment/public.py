"""Public checks: what ``grader.check("<question>")`` runs in the student edition.

Each raises a :class:`Fail` (an ``AssertionError``) whose message says what is wrong and where. They hold no
reference answer a student could call: they test properties of the answer (eq. 7's rows, the effect of a
one-pixel change on the loss, what a training step does to the optimiser and the criterion, …) and compare with
expected values written down here. The autograder's hidden tests (``assignment/hidden_tests.py``, never shipped
to students) compare with reference answers on other inputs. Both fail an answer that calls the ``dipnb``
package: :func:`forbid_dipnb_calls` runs in the public checks too, so a student learns it here, not from the grade.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn
from dipnb.poisson.outline import MASK_TOLERANCE

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # …/dipnb
#: Pixels whose centre lies within MASK_TOLERANCE (½ px, stated once in :mod:`dipnb.poisson.outline`) of the
#: polygon's outline may go either way in a mask; every other pixel must follow the even-odd rule. The prompt, the
#: checks and notebook 02's ``matches_polygon`` use this value.
#: ``solve_eq7`` is graded to this bar: inside Ω within it of the exact solution of eq. 7 (max abs error), and
#: outside Ω equal to f* within 1e-6. float32 arithmetic and iterative solvers run to that tolerance pass.
EQ7_TOLERANCE = 1e-5
DIRECTIONS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right


class Fail(AssertionError):
    """A check that failed; its message says what is wrong."""


def require(ok: bool, message: str) -> None:
    if not ok:
        raise Fail(message)


def require_callable(obj: object, name: str) -> None:
    require(callable(obj), f"`{name}` is not defined (or not callable): run the cell that defines it first.")


def scalar(value: object, what: str) -> torch.Tensor:
    require(isinstance(value, torch.Tensor), f"{what} must return a torch.Tensor, got {type(value).__name__}")
    require(value.numel() == 1, f"{what} must return a scalar tensor, got shape {tuple(value.shape)}")
    return value.reshape(())


@contextlib.contextmanager
def forbid_dipnb_calls(what: str, *trusted_files: str) -> Iterator[None]:
    """Fail if the answer runs any Python function of the ``dipnb`` package inside the block, however it was
    imported. The grader's own functions (``dipnb/assignment``: the checks, the checker's wrapper around the
    answer; they hold no answer) are not the answer's; ``trusted_files``
    is kept for the callers' documentation of who runs the guard."""
    seen: list[str] = []
    package, here = str(PACKAGE_DIR), str(Path(__file__).resolve().parent) + "/"  # the grader's own: no answers

    def profile(frame, event, arg):  # noqa: ARG001
        if event != "call" or seen:
            return
        callee = frame.f_code.co_filename
        if not callee.startswith(package):
            return
        if callee.startswith(here):
            return
        seen.append(f"{Path(callee).relative_to(PACKAGE_DIR.parent)}:{frame.f_code.co_name}")

    old = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(old)
    require(not seen, f"{what} calls the workbook package ({seen[0] if seen else ''}); "
                      "write the computation yourself instead of calling dipnb.")


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


# -- 05: the FCN -------------------------------------------------------------------------------------------
CONV1 = (3, 8, (4, 4), (2, 2), (1, 1))  # the template's Conv2d(3, 8, 4, 2, 1): in, out, kernel, stride, padding


def check_fcn(cls: Callable, shapes: list[tuple[int, ...]], seed: int, steps: int = 5) -> nn.Module:
    """Properties of any FCN the prompt allows: the template's conv1, used; the input's shape; outputs in
    [−1, 1]; it learns, and can reach negative targets."""
    name = "FullyConvNetwork"
    require(isinstance(cls, type) and issubclass(cls, nn.Module), f"{name} must be an nn.Module subclass.")
    torch.manual_seed(seed)
    try:
        net = cls()
    except TypeError as err:
        raise Fail(f"{name}() must take no arguments: {err}") from err
    conv1 = getattr(net, "conv1", None)
    require(isinstance(conv1, nn.Sequential) and len(conv1) >= 2 and isinstance(conv1[0], nn.Conv2d)
            and (conv1[0].in_channels, conv1[0].out_channels, conv1[0].kernel_size, conv1[0].stride,
                 conv1[0].padding) == CONV1,
            f"{name}.conv1 must stay the template's Conv2d(3, 8, 4, 2, 1), BatchNorm2d(8), ReLU — the template "
            "gives it and the prompt requires it: build the rest of the network on its 8 channels (a wider "
            "layer may follow it).")
    n_params = sum(p.numel() for p in net.parameters())
    require(n_params > sum(p.numel() for p in conv1.parameters()),
            f"{name} has no layers besides conv1: add the rest of the encoder and the decoder.")
    used = []
    hook = conv1.register_forward_hook(lambda *_: used.append(True))
    try:
        for shape in shapes:
            x = torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1
            for mode in ("train", "eval"):
                net.train(mode == "train")
                used.clear()
                with torch.no_grad():
                    y = net(x)
                require(bool(used), f"{name}.forward never runs self.conv1: the template's first layer must be "
                                    "the first step of forward (x → conv1 → the rest).")
                require(isinstance(y, torch.Tensor), f"{name}.forward returned {type(y).__name__}, not a tensor.")
                require(tuple(y.shape) == tuple(x.shape),
                        f"{name} maps an input of shape {tuple(x.shape)} to {tuple(y.shape)} ({mode} mode); the "
                        "output must have the input's shape (3 channels, same height and width)"
                        + (": the decoder needs as many ×2 up-samplings as the encoder has ×½ down-samplings"
                           if y.dim() == 4 and y.shape[-1] != x.shape[-1] else ""))
                require(bool(torch.isfinite(y).all()) and float(y.min()) >= -1 and float(y.max()) <= 1,
                        f"{name}'s output must lie in [-1, 1] like the data (end with Tanh); got "
                        f"[{float(y.min()):.3f}, {float(y.max()):.3f}]")
    finally:
        hook.remove()
    net.train()
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1
    target = torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (net(x) - target).abs().mean()
        require(loss.requires_grad, f"{name}'s output does not depend on its parameters: it cannot learn.")
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    require(losses[-1] < losses[0] - 1e-4, f"{name} does not learn: its L1 loss on a fixed batch went "
                                           f"{losses[0]:.4f} → {losses[-1]:.4f} over {steps} Adam steps.")
    # the data's range is [-1, 1]: a batch whose targets are all -0.8 must be reachable
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    dark = torch.full_like(x, -0.8)
    for _ in range(15):
        opt.zero_grad()
        out = net(x)
        (out - dark).abs().mean().backward()
        opt.step()
    low = float(net(x).detach().mean())
    require(low < -0.2, f"{name} cannot produce negative values: trained on targets of −0.8 its mean output "
                        f"stays at {low:.3f}. The data lies in [−1, 1]: end with Tanh (not Sigmoid or ReLU).")
    return net


def FullyConvNetwork(cls: Callable) -> None:  # noqa: N802  the template's class name
    require_callable(cls, "FullyConvNetwork")
    with forbid_dipnb_calls("FullyConvNetwork"):
        check_fcn(cls, [(1, 3, 256, 256), (2, 3, 64, 64)], seed=0)


# -- 06: training step and validation ----------------------------------------------------------------------
class TinyNet(nn.Sequential):
    """Conv + BatchNorm + Tanh: a small model to train in the checks (not an answer)."""

    def __init__(self) -> None:
        super().__init__(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 3, 3, padding=1), nn.Tanh())


def tiny_loader(seed: int, n: int = 6, batch: int = 2, size: int = 8) -> torch.utils.data.DataLoader:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=gen) * 2 - 1
    y = torch.rand(n, 3, size, size, generator=gen) * 2 - 1
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch, shuffle=False)


class SpyCriterion(nn.Module):
    """A criterion (here the MSE, not the L1) that records each call: the loss it returned and, for training,
    the gradient that loss alone gives each parameter."""

    def __init__(self, params: list[nn.Parameter] | None = None) -> None:
        super().__init__()
        self.params, self.values, self.grads = params, [], []

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = ((out - target) ** 2).mean()
        self.values.append(float(loss.detach()))
        if self.params is not None and loss.requires_grad:
            self.grads.append([g.detach().clone() for g in torch.autograd.grad(loss, self.params,
                                                                               retain_graph=True)])
        return loss


class SpyAdam(torch.optim.Adam):
    """Adam that records, at each step, whether each parameter's gradient is that of the last criterion call."""

    def __init__(self, params, spy: SpyCriterion, **kw) -> None:
        super().__init__(params, **kw)
        self.spy, self.events = spy, []

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.events.append("zero_grad")
        super().zero_grad(set_to_none)

    def step(self, closure=None):
        ps = self.spy.params
        if not self.spy.grads or any(p.grad is None for p in ps):
            self.events.append("step without gradient")
        else:
            ok = all(torch.allclose(p.grad, g, atol=1e-6, rtol=1e-4) for p, g in zip(ps, self.spy.grads[-1]))
            self.events.append("step" if ok else "step with wrong gradient")
        return super().step(closure)


def train_one_epoch(fn: Callable) -> None:
    name = "train_one_epoch"
    require_callable(fn, name)
    torch.manual_seed(0)
    model = TinyNet().eval()  # the function must switch it to train mode itself
    modes: list[bool] = []
    model.register_forward_hook(lambda m, i, o: modes.append(m.training))
    loader = tiny_loader(0)
    spy = SpyCriterion(list(model.parameters()))
    opt = SpyAdam(model.parameters(), spy, lr=1e-2, betas=(0.5, 0.999))
    with forbid_dipnb_calls(name):
        fn(model, loader, opt, spy, torch.device("cpu"), 3, 10)
    n = len(loader)
    require(len(spy.values) == n, f"{name} called `criterion` {len(spy.values)} times for {n} batches: compute "
                                  "each batch's loss with the criterion it is given (here the MSE), not a loss of "
                                  "its own.")
    require(modes and all(modes), f"{name} must put the model in training mode (model.train()) before the "
                                  "forward passes.")
    steps = [e for e in opt.events if e.startswith("step")]
    require(len(steps) == n, f"{name} took {len(steps)} optimiser steps for {n} batches: one per batch.")
    require("step without gradient" not in steps, f"{name}: optimizer.step() ran before loss.backward() (no "
                                                  "gradient yet): backward first, then step.")
    require(all(e == "step" for e in steps),
            f"{name}: at an optimiser step the gradients were not those of that batch's loss — call "
            "optimizer.zero_grad() before each backward (gradients accumulate otherwise), then loss.backward(), "
            "then optimizer.step().")


def validate(fn: Callable) -> None:
    name = "validate"
    require_callable(fn, name)
    torch.manual_seed(0)
    model = TinyNet()
    with torch.no_grad():
        for x, _ in tiny_loader(7):
            model(x)  # BatchNorm running statistics that differ from a fresh batch's
    model.train()  # the function must switch it to eval mode itself
    seen: list[tuple[bool, bool]] = []
    model.register_forward_hook(lambda m, i, o: seen.append((m.training, torch.is_grad_enabled())))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    spy = SpyCriterion()
    with forbid_dipnb_calls(name):
        out = fn(model, tiny_loader(1), spy, torch.device("cpu"), 3, 10)
    require(seen, f"{name} never ran the model.")
    require(not any(t for t, _ in seen), f"{name} ran the model in training mode: call model.eval() first "
                                         "(BatchNorm then uses, and keeps, its running statistics).")
    require(not any(g for _, g in seen), f"{name} ran the model's forward passes with gradients enabled: wrap "
                                         "the loop in `with torch.no_grad():`.")
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    require(not changed, f"{name} changed the model (`{changed[0] if changed else ''}`): validation must not train.")
    require(len(spy.values) == len(tiny_loader(1)), f"{name} called `criterion` {len(spy.values)} times for "
                                                    f"{len(tiny_loader(1))} batches: use the criterion it is given.")
    require(out is not None, f"{name} must return the average validation loss (it returned None).")
    expected = sum(spy.values) / len(spy.values)
    require(abs(float(out) - expected) < 1e-5 * max(1, abs(expected)),
            f"{name} returned {float(out):.6f}; the mean of the criterion's values over the batches is "
            f"{expected:.6f}" + (" (you returned their sum)" if abs(float(out) - sum(spy.values)) < 1e-6 else ""))


# -- 07: pix2pix losses ------------------------------------------------------------------------------------
def gan_case(seed: int, size: int = 16) -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    """A tiny G (3→3) and conditional D (6→1 logits map), and a batch (x, y)."""
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(6, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3, padding=1))
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, size, size, generator=gen) * 2 - 1
    y = torch.rand(2, 3, size, size, generator=gen) * 2 - 1
    return G, D, x, y


#: L_D = ½[BCE(D(x, G(x)), 0) + BCE(D(x, y), 1)] and the GAN term BCE(D(x, G(x)), 1) of L_G for gan_case(0), (1).
_D_LOSS = {0: 0.6897117495536804, 1: 0.6920287609100342}
_G_GAN = {0: 0.6921135783195496, 1: 0.6459265947341919}


def proportional(got: list[float], ref: list[float], what: str, rtol: float = 1e-4) -> float:
    """``got[k] = c · ref[k]`` for one c > 0 (any positive normalisation); returns c."""
    require(all(np.isfinite(got)), f"{what} is not finite: {got}")
    ratios = [g / r for g, r in zip(got, ref)]
    require(all(r > 0 for r in ratios),
            f"{what} has the wrong sign or is zero: got {got}, expected positive multiples of {ref}")
    c = ratios[0]
    require(all(abs(r / c - 1) <= rtol for r in ratios),
            f"{what} is off: got {[f'{g:.6g}' for g in got]} where the expected values (up to one positive "
            f"factor) are {[f'{r:.6g}' for r in ref]}")
    return c


def discriminator_loss(fn: Callable) -> None:
    name = "discriminator_loss"
    require_callable(fn, name)
    got = []
    for s in (0, 1):
        G, D, x, y = gan_case(s)
        fake = G(x)
        with forbid_dipnb_calls(name):
            loss = scalar(fn(D, x, y, fake), name)
        require(loss.requires_grad, f"{name}: the loss has no gradient with respect to D's parameters.")
        loss.backward()
        leaked = [p for p in G.parameters() if p.grad is not None and float(p.grad.abs().sum()) > 0]
        require(not leaked, f"{name}: gradients flow into the generator — detach the fake image "
                            "(fake.detach()) before giving it to D in the discriminator's loss.")
        got.append(float(loss.detach()))
    proportional(got, [_D_LOSS[0], _D_LOSS[1]], f"{name}'s value (½[BCE(D(x, G(x)), 0) + BCE(D(x, y), 1)]); fake "
                 "pairs (x, G(x)) are labelled 0, real pairs (x, y) 1, and D sees x concatenated with the image "
                 "on the channel axis —")


def generator_loss(fn: Callable) -> None:
    """Two different λ per case: L_G = c·(BCE(D(x, G(x)), 1) + λ·mean|G(x) − y|) for one c > 0."""
    name = "generator_loss"
    require_callable(fn, name)
    cs = []
    for s, (l1, l2) in ((0, (100.0, 10.0)), (1, (1.0, 50.0))):
        G, D, x, y = gan_case(s)
        fake = G(x).detach().requires_grad_(True)
        values = []
        for lam in (l1, l2):
            with forbid_dipnb_calls(name):
                loss = scalar(fn(D, x, y, fake, lam), name)
            require(loss.requires_grad, f"{name}: the loss has no gradient — do not detach the fake image here: "
                                        "the generator learns through D(x, G(x)).")
            fake.grad = None
            loss.backward()
            require(fake.grad is not None and float(fake.grad.abs().sum()) > 0,
                    f"{name}: no gradient reaches the fake image; do not detach it in the generator's loss.")
            values.append(float(loss.detach()))
        l1_term = float((fake.detach() - y).abs().mean())
        require(abs(values[0] - values[1]) > 1e-6 * max(abs(values[0]), 1),
                f"{name} gave the same value for lambda_l1={l1:g} and {l2:g}: weight the L1 term by the "
                "lambda_l1 argument (do not hard-code 100).")
        c = (values[0] - values[1]) / ((l1 - l2) * l1_term)
        require(np.isfinite(c) and c > 0, f"{name}: the loss must grow with λ·mean|G(x) − y| (lambda_l1={l1:g} "
                                          f"gave {values[0]:.5g}, {l2:g} gave {values[1]:.5g}).")
        gan = values[0] / c - l1 * l1_term
        require(abs(gan - _G_GAN[s]) <= 1e-3 * _G_GAN[s],
                f"{name}: its GAN term is {gan:.5g}, expected BCE(D(x, G(x)), 1) = {_G_GAN[s]:.5g} — label the "
                "fake pairs 1 (the non-saturating loss) and add λ times the mean absolute error.")
        cs.append(c)
    require(abs(cs[0] / cs[1] - 1) < 1e-3, f"{name}: its scale changes between inputs ({cs[0]:.4g} vs {cs[1]:.4g}).")
