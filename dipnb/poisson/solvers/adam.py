"""Eq. 7 by gradient descent with Adam ("adam"): the course's method, and the same optimiser after the fixes.

``method="course"`` — what the course does: the unknown image F (target outside Ω, parameters inside) is
scored by the mean squared difference of Laplacians over Ω, computed with ``conv2d``,

    loss(F) = mean_{p ∈ Ω} ( −ΔF_p − Σ_{q ∈ N_p} v_pq )²,

optimised by Adam (lr 10⁻³) until the loss changes by less than ``tol`` = 10⁻⁹ over ``patience`` = 100 steps.
Its minimiser is Pérez's solution, but the least-squares loss squares the condition number of A: within
the profiles' step budgets it ends tens of grey levels away, and left to its stopping rule it stops there too
at 100² and beyond, because the loss it watches is small long before the image is right (notebook 03 and
``benchmarks/poisson.py --adam`` measure how far off it is). Both methods carry the 1-px margin (neighbours
outside Ω come from the target), so the comparison isolates the conditioning.

``method="fixed"`` — the same optimiser with the fixes notebook 03 teaches: a slicing stencil instead of a
depthwise ``conv2d``, Pérez's *gradient*
energy E(f) = Σ_{⟨p,q⟩ ∩ Ω ≠ ∅} (f_p − f_q − v_pq)² (condition number κ, not κ²; ∇E = 2(A f − b)), and a
multiscale parameterisation: the correction e = f − f₀ is written as e = c₀ + P(c₁ + P(c₂ + …)) with one
coefficient image per pyramid level (rediscretised masks and bilinear P, as in
:mod:`~dipnb.poisson.solvers.mgpcg`), and Adam moves all levels at once (coarse coefficients fix the smooth
error that single pixels cannot), lr 3·10⁻² decaying to 0 by a cosine over ``max_steps`` = 300 steps.
"""

from __future__ import annotations

import math
import time

import torch

from dipnb.poisson.guidance import PoissonSystem
from dipnb.poisson.operators import apply_A, laplacian_conv
from dipnb.poisson.solvers.base import Callback, SolveInfo
from dipnb.poisson.solvers.mgpcg import MGPreconditioner, prolong, restrict


def _composite_with_margin(system: PoissonSystem, x: torch.Tensor) -> torch.Tensor:
    """F on the box plus a 1-px ring: x inside Ω, f* elsewhere; beyond the image, the nearest pixel of F."""
    F_in = torch.where(system.m, x, system.target)
    Fm = torch.nn.functional.pad(F_in[None], (1, 1, 1, 1), mode="replicate")[0]
    ring_in = system.target_m.clone()
    ring_in[..., 1:-1, 1:-1] = F_in
    box = system.box
    h, w = F_in.shape[-2:]
    rows_ok = torch.ones(h + 2, dtype=torch.bool, device=x.device)
    cols_ok = torch.ones(w + 2, dtype=torch.bool, device=x.device)
    rows_ok[0], rows_ok[-1] = box.y0 > 0, box.y0 + h < box.H
    cols_ok[0], cols_ok[-1] = box.x0 > 0, box.x0 + w < box.W
    ok = rows_ok[:, None] & cols_ok[None, :]
    return torch.where(ok, ring_in, Fm)


def course_loss(system: PoissonSystem, x: torch.Tensor, div_v: torch.Tensor | None = None) -> torch.Tensor:
    """The course's loss: mean over Ω of (−ΔF − div v)², Δ by ``conv2d`` on the composite F."""
    F = _composite_with_margin(system, x)
    r = (-laplacian_conv(F) - (system.div_v() if div_v is None else div_v))[:, system.m]
    return (r * r).mean()


def energy_and_gradient(e: torch.Tensor, r: torch.Tensor, D: torch.Tensor, m: torch.Tensor,
                        n: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed method's loss for a correction e = f − f₀ (zero outside Ω), and its gradient in closed form.

    With r = b − A f₀: ½ E(f₀ + e) = ½ eᵀA e − rᵀe + const, so the loss (½ eᵀA e − rᵀe)/n has gradient
    (A e − r)/n — one application of the slicing stencil, no autograd. n: number of unknowns (keeps the scale
    independent of |Ω|). Returns (loss, gradient).
    """
    Ae = apply_A(e, D, m)
    return ((0.5 * Ae - r) * e).sum() / n, (Ae - r) / n


def _run_course(system, x0, lr, max_steps, tol, patience, callback, callback_every, compose):
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    losses: list[float] = []
    stopped, step = False, 0
    div_v = system.div_v()
    for step in range(1, max_steps + 1):
        opt.zero_grad(set_to_none=True)
        loss = course_loss(system, x, div_v)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if callback is not None and compose is not None and step % callback_every == 0:
            if callback(step, compose(x.detach()), losses[-1]):
                stopped = True
                break
        if step > patience and abs(losses[-1 - patience] - losses[-1]) < tol:
            break
    return x.detach(), losses, step, stopped


def multiscale_expand(coeffs: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
    """e = m₀ ∘ (c₀ + P(m₁ ∘ (c₁ + P(… m_L ∘ c_L)))): one image from coefficients on every pyramid level."""
    e = coeffs[-1] * masks[-1]
    for li in range(len(coeffs) - 2, -1, -1):
        e = (coeffs[li] + prolong(e)) * masks[li]
    return e


def multiscale_grads(g: torch.Tensor, masks: list[torch.Tensor]) -> list[torch.Tensor]:
    """∂E/∂c_l from g = ∂E/∂e: m_l ∘ Pᵀ(m_{l−1} ∘ Pᵀ(… m₀ ∘ g)), with Pᵀ = 4R (what autograd would give)."""
    out = [g * masks[0]]
    for li in range(1, len(masks)):
        out.append(restrict(out[-1]) * (4 * masks[li]))
    return out


def _run_fixed(system, x0, lr, max_steps, coarse, callback, callback_every, compose):
    """Adam on the gradient energy over a multiscale parameterisation e = c₀ + P(c₁ + P(c₂ + …)).

    The gradient is formed in closed form (∇_e E = A e − r, then Pᵀ down the pyramid) rather than by
    autograd: the same numbers (tests check it), 3× less time per step.
    """
    mf0 = system.mf
    r0 = system.b - apply_A(x0 * mf0, system.D, mf0)
    M = MGPreconditioner(system.m, system.box.y0, system.box.x0, system.box.H, system.box.W, r0.dtype,
                         channels=r0.shape[0], coarse=coarse)
    h, w = system.m.shape
    L0 = M.levels[0]
    masks = [lv.m for lv in M.levels]
    rp = r0.new_zeros(*r0.shape[:-2], M.hp, M.wp)
    rp[..., :h, :w] = r0
    n = float(L0.m.sum().clamp_min(1))
    coeffs = [torch.zeros(r0.shape[0], lv.h, lv.w, dtype=r0.dtype, device=r0.device) for lv in M.levels]
    opt = torch.optim.Adam(coeffs, lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k, max_steps) / max_steps)))
    losses: list[float] = []
    step, stopped = 0, False
    for step in range(1, max_steps + 1):
        e = multiscale_expand(coeffs, masks)
        loss, g = energy_and_gradient(e, rp, L0.D, L0.m, n)
        for c, gc in zip(coeffs, multiscale_grads(g, masks)):
            c.grad = gc
        losses.append(float(loss))
        opt.step()
        sched.step()
        if callback is not None and compose is not None and step % callback_every == 0:
            if callback(step, compose(x0 + multiscale_expand(coeffs, masks)[..., :h, :w]), losses[-1]):
                stopped = True
                break
    e = multiscale_expand(coeffs, masks)
    return x0 + e[..., :h, :w], losses, step, stopped, len(M.levels)


def solve_adam(system: PoissonSystem, x0: torch.Tensor | None = None, method: str = "fixed",
               lr: float | None = None, max_steps: int | None = None, tol: float = 1e-9, patience: int = 100,
               coarse: int = 16, callback: Callback | None = None,
               callback_every: int = 100, compose=None) -> tuple[torch.Tensor, SolveInfo]:
    """Minimise the course loss (``method="course"``) or the fixed energy (``"fixed"``) with Adam.

    ``x0``: start values on the box (default f*). Course: ``lr`` 1e-3, stop after ``max_steps`` (20000) or
    when the loss changes < ``tol`` over ``patience`` steps. Fixed: ``max_steps`` (300) steps, ``lr`` (3e-2)
    decaying to 0 by a cosine. ``callback(step, image, loss)`` every ``callback_every`` steps; returning True
    stops early (the current image is returned).
    """
    if method not in ("course", "fixed"):
        raise ValueError(f"method must be 'course' or 'fixed', got {method!r}")
    if max_steps is None:
        max_steps = 20000 if method == "course" else 300
    for name, val in (("max_steps", max_steps), ("patience", patience)):
        if not isinstance(val, int) or val < 1:
            raise ValueError(f"{name} must be a positive int, got {val!r}")
    t0 = time.perf_counter()
    x0 = (system.target if x0 is None else x0).to(system.b.dtype)
    levels = 1
    with torch.enable_grad():
        if method == "course":
            x, losses, steps, stopped = _run_course(system, x0, 1e-3 if lr is None else lr, max_steps, tol,
                                                    patience, callback, callback_every, compose)
        else:
            x, losses, steps, stopped, levels = _run_fixed(system, x0, 3e-2 if lr is None else lr,
                                                           max_steps, coarse, callback, callback_every, compose)
    mf = system.mf
    r = system.b - apply_A(x * mf, system.D, mf)
    res = float((r.flatten(1).norm(dim=1) / system.b.flatten(1).norm(dim=1).clamp_min(1e-30)).max())
    info = SolveInfo(solver="adam", iterations=steps, rel_residual=res, seconds=time.perf_counter() - t0,
                     converged=not stopped and (method == "fixed" or steps < max_steps), stopped_early=stopped,
                     history=losses, extra={"method": method, "levels": levels})
    return x, info


__all__ = ["course_loss", "energy_and_gradient", "solve_adam"]
