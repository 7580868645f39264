"""Reference answers and the comparisons with them: the autograder's side, beside ``hidden_tests.py``.

Never shipped to students (the release leaves ``assignment/`` out) and never loaded in a student's process: the
grader's checker loads it by path. The helpers it shares with the public checks (``Fail``, ``require``, the
no-dipnb guard, the FCN's properties, the expected-mask test…) come from :mod:`dipnb.assignment.public`.
Nothing here calls the rest of ``dipnb``: the assignment grades against its own references, written
differently from the package's implementations (the solution notebooks check the package separately).
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dipnb.assignment.public import (EQ7_TOLERANCE, Fail, TinyNet, check_fcn, check_mask_against,  # noqa: F401
                                     check_mixed_field_against, discriminator_loss_step, forbid_dipnb_calls, gan_case,
                                     generator_loss_step, proportional, require, require_callable, scalar, tiny_loader)

#: The 5-point Laplacian kernel Δ.
LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
#: Neighbour offsets (dy, dx): up, down, left, right — the order of the guidance field's first axis.
DIRECTIONS = ((-1, 0), (1, 0), (0, -1), (0, 1))


# -- 01: eq. 7 ---------------------------------------------------------------------------------------------
def solve_eq7(g: torch.Tensor, fstar: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Dense eq. 7 per channel: |N_p| f_p − Σ_{q∈N_p∩Ω} f_q = Σ_{q∈N_p∩∂Ω} f*_q + Σ_{q∈N_p} (g_p − g_q)."""
    C, H, W = g.shape
    ys, xs = np.nonzero(mask.numpy())
    index = -np.ones((H, W), dtype=np.int64)
    index[ys, xs] = np.arange(len(ys))
    A = np.zeros((len(ys), len(ys)))
    b = np.zeros((C, len(ys)))
    gn, fn = g.double().numpy(), fstar.double().numpy()
    for k, (y, x) in enumerate(zip(ys, xs)):
        for dy, dx in DIRECTIONS:
            qy, qx = y + dy, x + dx
            if 0 <= qy < H and 0 <= qx < W:
                A[k, k] += 1
                b[:, k] += gn[:, y, x] - gn[:, qy, qx]
                if index[qy, qx] >= 0:
                    A[k, index[qy, qx]] -= 1
                else:
                    b[:, k] += fn[:, qy, qx]
    out = fn.copy()
    out[:, ys, xs] = np.linalg.solve(A, b.T).T
    return torch.from_numpy(out)


# -- 02: polygon masks -------------------------------------------------------------------------------------
def even_odd_mask(points: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pixel (row i, column j) is inside when its centre (x, y) = (j, i) is inside by the even-odd rule."""
    pts = np.asarray(points, dtype=np.float64)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    inside = np.zeros((h, w), dtype=bool)
    for (x0, y0), (x1, y1) in zip(pts, np.roll(pts, -1, axis=0)):
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < xc)
    return inside


def check_mask(fn: Callable, points: np.ndarray, h: int, w: int, what: str) -> None:
    check_mask_against(fn(points.copy(), h, w), even_odd_mask(points, h, w), points, what)


def check_eq7(fn: Callable, g: torch.Tensor, fstar: torch.Tensor, mask: torch.Tensor, label: str) -> None:
    """Within EQ7_TOLERANCE of the exact solve inside Ω, f* (within 1e-6) outside."""
    from dipnb.assignment.public import check_eq7_rows

    f = fn(g.clone(), fstar.clone(), mask.clone())
    check_eq7_rows(f, g, fstar, mask, label, tol=float("inf"))  # type, shape, outside Ω
    err = (f.double() - solve_eq7(g, fstar, mask)).abs()
    if float(err.max()) > EQ7_TOLERANCE:
        c, y, x = map(int, torch.nonzero(err == err.max())[0])
        raise Fail(f"solve_eq7 ({label}): inside Ω the result is off by up to {float(err.max()):.3g} (the bar: "
                   f"{EQ7_TOLERANCE:g}), at pixel (row {y}, column {x}), channel {c}.")


# -- 03: the course's Laplacian loss -----------------------------------------------------------------------
def laplacian_loss(fg: torch.Tensor, fg_mask: torch.Tensor, blended: torch.Tensor,
                   bg_mask: torch.Tensor) -> torch.Tensor:
    """Σ over the masked pixels and channels of (Δ blended − Δ foreground)², Δ zero-padded (sum, not mean)."""
    k = LAPLACE.to(fg.dtype).expand(fg.shape[1], 1, 3, 3)
    lf = F.conv2d(fg, k, padding=1, groups=fg.shape[1])
    lb = F.conv2d(blended, k.to(blended.dtype), padding=1, groups=blended.shape[1])
    sel_f = lf[:, :, fg_mask[0, 0] > 0.5]
    sel_b = lb[:, :, bg_mask[0, 0] > 0.5]
    return ((sel_b - sel_f) ** 2).sum()


def laplacian_case(seed: int, fg_hw: tuple[int, int], bg_hw: tuple[int, int], box: tuple[int, int, int, int],
                   shift: tuple[int, int], mask_seed: int = 0) -> list[torch.Tensor]:
    """Random images (``seed``) and two masks (``mask_seed``): a blob inside ``box`` (y0, x0, h, w) of the
    foreground, moved by ``shift`` (dy, dx) into the background."""
    gen = torch.Generator().manual_seed(seed)
    fg = torch.rand(1, 3, *fg_hw, generator=gen)
    bl = torch.rand(1, 3, *bg_hw, generator=gen)
    gen = torch.Generator().manual_seed(mask_seed)
    y0, x0, h, w = box
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    blob = ((yy - (h - 1) / 2) / (h / 2)) ** 2 + ((xx - (w - 1) / 2) / (w / 2)) ** 2 < 1 - 0.3 * torch.rand(
        h, w, generator=gen)
    fm = torch.zeros(1, 1, *fg_hw)
    fm[0, 0, y0:y0 + h, x0:x0 + w] = blob.float()
    bm = torch.zeros(1, 1, *bg_hw)
    bm[0, 0, y0 + shift[0]:y0 + shift[0] + h, x0 + shift[1]:x0 + shift[1] + w] = blob.float()
    return [fg, fm, bl, bm]


def check_laplacian_loss(fn: Callable, cases: list[list[torch.Tensor]]) -> None:
    """Same masks, different images: values and gradients ∝ the reference with one positive factor."""
    name = "cal_laplacian_loss"
    got, ref, grads = [], [], []
    for fg, fm, bl, bm in cases:
        blended = bl.clone().requires_grad_(True)
        loss = scalar(fn(fg.clone(), fm.clone(), blended, bm.clone()), name)
        require(loss.requires_grad, f"{name}: the loss does not depend on blended_img through autograd "
                                    "(no gradient); compute it with torch operations on blended_img.")
        loss.backward()
        require(blended.grad is not None, f"{name}: no gradient reaches blended_img.")
        got.append(float(loss.detach()))
        ref.append(float(laplacian_loss(fg, fm, bl, bm)))
        b2 = bl.clone().requires_grad_(True)
        laplacian_loss(fg, fm, b2, bm).backward()
        grads.append((blended.grad.clone(), b2.grad.clone()))
    for k, (g, r) in enumerate(grads):
        big = r.abs() > 0.1 * r.abs().max()
        c = float((g[big] / r[big]).median()) if bool(big.any()) else 1.0  # the answer's normalisation, robustly
        diff = (g - c * r).abs().amax(1)[0]  # per pixel, worst channel
        scale = max(float((c * r).abs().max()), 1e-12)
        if float(diff.max()) / scale >= 1e-3:
            raise Fail(_where(diff / scale, cases[k][3][0, 0] > 0.5, name, k))
    proportional(got, ref, f"{name}'s value")


def _where(rel: torch.Tensor, omega: torch.Tensor, name: str, k: int) -> str:
    """Which pixels' gradients disagree: how many, where relative to Ω's bounding box, by how much."""
    bad = torch.nonzero(rel >= 1e-3).tolist()
    rows, cols = torch.nonzero(omega.any(1)).flatten(), torch.nonzero(omega.any(0)).flatten()
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    edge = all(min(abs(y - y0), abs(y - y1), abs(x - x0), abs(x - x1)) <= 1 for y, x in bad)
    y, x = max(bad, key=lambda p: float(rel[p[0], p[1]]))
    return (f"{name}: its gradient with respect to blended_img disagrees at {len(bad)} pixels (case {k + 1})"
            + (f", all on the edge of Ω's bounding box (rows {y0}–{y1}, columns {x0}–{x1}) or next to it"
               if edge else "") + f"; worst at row {y}, column {x}, off by {100 * float(rel[y, x]):.0f}% of the "
            "largest gradient. " + ("Compute Δ on the whole images, then select the masked pixels: cropping the "
                                    "box and zero-padding loses the real neighbours there." if edge else
                                    "Compare the Laplacians only inside the masks, foreground_mask on the "
                                    "foreground and background_mask on the blend."))


# -- 04: the mixed guidance field --------------------------------------------------------------------------
def gradients(a: torch.Tensor) -> torch.Tensor:
    h, w = a.shape[-2] - 2, a.shape[-1] - 2
    c = a[..., 1:-1, 1:-1]
    return torch.stack([c - a[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in DIRECTIONS])


def mixed_gradient_field(g: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    vg, vt = gradients(g), gradients(t)
    return torch.where(vt.abs() > vg.abs(), vt, vg)


def check_mixed_field(fn: Callable, g: torch.Tensor, t: torch.Tensor) -> None:
    check_mixed_field_against(fn(g.clone(), t.clone()), mixed_gradient_field(g, t), tuple(g.shape))


# -- 06: training step and validation ----------------------------------------------------------------------
def reference_epoch(model: nn.Module, loader, optimizer, criterion) -> float:
    model.train()
    total = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _first_difference(a: dict, b: dict, atol: float = 1e-6) -> str | None:
    for k in a:
        if a[k].dtype.is_floating_point and not torch.allclose(a[k], b[k], atol=atol, rtol=1e-5):
            return k
    return None


def check_train_one_epoch(fn: Callable, seed: int, epoch: int = 3, num_epochs: int = 10) -> None:
    name = "train_one_epoch"
    torch.manual_seed(seed)
    model = TinyNet().eval()  # the function must switch it to train mode itself
    ref_model = copy.deepcopy(model)
    loader = tiny_loader(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.5, 0.999))
    ref_opt = torch.optim.Adam(ref_model.parameters(), lr=1e-2, betas=(0.5, 0.999))
    before = _state(model)
    fn(model, loader, opt, nn.MSELoss(), torch.device("cpu"), epoch, num_epochs)  # not the L1 of 06
    reference_epoch(ref_model, loader, ref_opt, nn.MSELoss())
    require(_first_difference(before, _state(model)) is not None,
            f"{name} did not change the model: for every batch, compute the loss and take an optimiser step.")
    require(model.training, f"{name} must put the model in training mode (model.train()).")
    diff = _first_difference(_state(ref_model), _state(model))
    require(diff is None, f"{name}: after one epoch `{diff}` differs from one optimiser step per batch "
                          "(optimizer.zero_grad(), forward, criterion(outputs, targets), loss.backward(), "
                          "optimizer.step()) with the criterion it is given — is a step missing, in the wrong order, "
                          "or the loss your own?")


def check_validate(fn: Callable, seed: int, epoch: int = 3, num_epochs: int = 10) -> None:
    name = "validate"
    torch.manual_seed(seed)
    model = TinyNet()
    reference_epoch(model, tiny_loader(seed + 7), torch.optim.SGD(model.parameters(), lr=0.1), nn.L1Loss())
    model.train()  # the function must switch it to eval mode itself
    model.zero_grad(set_to_none=True)
    loader = tiny_loader(seed + 1)
    before = _state(model)
    ref_model = copy.deepcopy(model).eval()
    with torch.no_grad():
        expected = sum(float(nn.L1Loss()(ref_model(x), y)) for x, y in loader) / len(loader)
    grad_on: list[bool] = []
    hook = model.register_forward_hook(lambda *_: grad_on.append(torch.is_grad_enabled()))
    out = fn(model, loader, nn.L1Loss(), torch.device("cpu"), epoch, num_epochs)
    hook.remove()
    require(bool(grad_on), f"{name} never ran the model.")
    require(not any(grad_on), f"{name} ran its forward passes with gradients enabled: wrap the loop "
                                          "in torch.no_grad().")
    diff = _first_difference(before, _state(model), atol=0)
    require(diff is None, f"{name} changed the model (`{diff}`): validation must not train — use model.eval() "
                          "(BatchNorm then uses, and keeps, its running statistics) and torch.no_grad().")
    require(out is not None, f"{name} must return the average validation loss (it returned None).")
    require(abs(float(out) - expected) < 1e-5 * max(1, abs(expected)),
            f"{name} returned {float(out):.6f}; the mean of criterion(model(x), y) over the batches in eval mode "
            f"is {expected:.6f}.")
    p = next(model.parameters())
    require(p.grad is None or float(p.grad.abs().sum()) == 0, f"{name} computed gradients: wrap it in "
                                                               "torch.no_grad().")


# -- 07: pix2pix losses ------------------------------------------------------------------------------------
def d_loss(D, x, y, fake):
    bce = nn.functional.binary_cross_entropy_with_logits
    pf, pr = D(torch.cat([x, fake.detach()], 1)), D(torch.cat([x, y], 1))
    return 0.5 * (bce(pf, torch.zeros_like(pf)) + bce(pr, torch.ones_like(pr)))


def g_loss(D, x, y, fake, lambda_l1=100.0):
    pf = D(torch.cat([x, fake], 1))
    return nn.functional.binary_cross_entropy_with_logits(pf, torch.ones_like(pf)) + lambda_l1 * (fake - y).abs().mean()


def _grads(params) -> torch.Tensor:
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])


def _same_up_to_scale(name: str, got: list[float], ref: list[float], grads: list[tuple[torch.Tensor, torch.Tensor]],
                      value: str, wrt: str, hint: str) -> None:
    """The answer's values are one positive multiple c of the reference's (any normalisation), and so are its
    gradients (answer's, reference's) with respect to ``wrt``, within 1e-3 relative; ``hint`` ends the message."""
    c = proportional(got, ref, f"{name}'s value ({value})")
    for g, r in grads:
        err = float((g - c * r).abs().max()) / max(float((c * r).abs().max()), 1e-12)
        require(err < 1e-3, f"{name}: its gradient with respect to {wrt} differs from the reference's "
                            f"(relative error {err:.2g}){hint}")


def check_discriminator_loss(fn: Callable, seeds: list[int]) -> None:
    name = "discriminator_loss"
    got, ref, pairs = [], [], []
    for s in seeds:
        value, D, x, y, fake = discriminator_loss_step(fn, s, guard=False)  # hidden_tests guards the whole check
        got.append(value)
        gD = _grads(D.parameters())
        D.zero_grad()
        r = d_loss(D, x, y, fake)
        r.backward()
        ref.append(float(r.detach()))
        pairs.append((gD, _grads(D.parameters())))
    _same_up_to_scale(name, got, ref, pairs, "½[BCE(D(x, G(x)), 0) + BCE(D(x, y), 1)]", "D's parameters",
                      "; fake pairs (x, G(x)) are labelled 0, real pairs (x, y) 1, and D sees the input concatenated "
                      "with the image on the channel axis.")


def check_generator_loss(fn: Callable, seeds: list[int], lambdas: list[float]) -> None:
    name = "generator_loss"
    got, ref, pairs = [], [], []
    for s, lam in zip(seeds, lambdas):
        G, D, x, y = gan_case(s)
        fake = G(x).detach().requires_grad_(True)
        got.append(generator_loss_step(fn, D, x, y, fake, lam, guard=False))  # hidden_tests guards the whole check
        f2 = fake.detach().clone().requires_grad_(True)
        r = g_loss(D, x, y, f2, lam)
        r.backward()
        ref.append(float(r.detach()))
        pairs.append((fake.grad.clone(), f2.grad.clone()))
    _same_up_to_scale(name, got, ref, pairs, "BCE(D(x, G(x)), 1) + λ·mean|G(x) − y|", "the fake image",
                      ": label the fake pairs 1 (non-saturating loss) and add λ times the mean absolute error.")
