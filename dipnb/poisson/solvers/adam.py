"""Eq. 7 by gradient descent with Adam ("adam"): the course's method, and the same optimiser after the fixes.

``method="course"`` — the course template's blending loop (``run_blending_gradio.py``): the unknown image F
(target outside Ω, parameters inside, started at 0.9·f* + 0.1·g on Ω) is scored by the squared difference of
Laplacians over Ω, computed with ``conv2d`` (our filled-in ``cal_laplacian_loss``: the mean over Ω),

    loss(F) = mean_{p ∈ Ω} ( −ΔF_p − Σ_{q ∈ N_p} v_pq )²,

and optimised by Adam at lr 10⁻² for a fixed ``max_steps`` = 5,000 steps, the learning rate multiplied by 0.1
after the template's step ``int(max_steps * 2 / 3)`` (3,333, counted from 0) — the current template, DIP-Teaching
commit e95e713 (2026-03-31); its 2024 version ran 10,000 steps at lr 10⁻³, × 0.1 at 5,000 (history only: pass
``lr=1e-3, max_steps=10000`` and note that the drop still falls at 2/3). No stopping rule: the template runs its
steps. ``loss_tol`` /
``patience`` add **one student's** stopping rule (stop when the loss changed by less than ``loss_tol`` = 10⁻⁹
over ``patience`` = 100 steps); it is not the course's. The minimiser is Pérez's solution, but the
least-squares loss squares the condition number of A: within the step budget it ends tens of grey levels away
(notebook 03 and ``benchmarks/poisson.py --adam`` measure how far). The loss reads neighbours outside Ω from
a 1-px ring of the target, so the comparison isolates the conditioning.

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
from dipnb.poisson.solvers.base import Monitor, Option, SolveInfo, Solver, choice, integer, real, relative_residual
from dipnb.poisson.solvers.mgpcg import MGPreconditioner, prolong, restrict


def composite_with_margin(system: PoissonSystem, x: torch.Tensor) -> torch.Tensor:
    """F on the box plus a 1-px ring: x inside Ω, f* elsewhere; beyond the image, the nearest pixel of F."""
    F_in = torch.where(system.m, x, system.target)
    Fm = torch.nn.functional.pad(F_in[None], (1, 1, 1, 1), mode="replicate")[0]
    ring_in = system.target_with_margin.clone()
    ring_in[..., 1:-1, 1:-1] = F_in
    box = system.box
    h, w = F_in.shape[-2:]
    rows_ok = torch.ones(h + 2, dtype=torch.bool, device=x.device)
    cols_ok = torch.ones(w + 2, dtype=torch.bool, device=x.device)
    rows_ok[0], rows_ok[-1] = box.y0 > 0, box.y0 + h < box.H
    cols_ok[0], cols_ok[-1] = box.x0 > 0, box.x0 + w < box.W
    ok = rows_ok[:, None] & cols_ok[None, :]
    return torch.where(ok, ring_in, Fm)


def course_loss(system: PoissonSystem, x: torch.Tensor, guidance_sum: torch.Tensor | None = None) -> torch.Tensor:
    """The course's loss: mean over Ω of (ΔF − div v)², Δ by ``conv2d`` on the composite F; computed as
    (−ΔF − Σ_q v_pq)² with Σ_q v_pq = −div v (:meth:`PoissonSystem.guidance_sum`)."""
    F = composite_with_margin(system, x)
    r = (-laplacian_conv(F) - (system.guidance_sum() if guidance_sum is None else guidance_sum))[:, system.m]
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


# The course template's blending loop (DIP-Teaching e95e713, run_blending_gradio.py), read by the code below and by
# notebook 03; tests/poisson/test_course_settings.py checks that the loop runs exactly this schedule.
COURSE_LR = 1e-2  #: ``torch.optim.Adam([blended_img], lr=1e-2)``
COURSE_STEPS = 5000  #: ``iter_num = 5000``
COURSE_LR_FACTOR = 0.1  #: ``optimizer.param_groups[0]['lr'] *= 0.1``
COURSE_START_WEIGHTS = (0.9, 0.1)  #: Ω starts at 0.9·target + 0.1·source


def course_lr_drop(max_steps: int) -> int:
    """The template's ``int(iter_num*2/3)``: the 0-based step after which lr × 0.1 (3,333 of 5,000), i.e. steps
    1 … drop + 1 (1-based) run at ``lr``, the rest at ``lr × 0.1``."""
    return int(max_steps * 2 / 3)


def course_start(system: PoissonSystem, x0: torch.Tensor) -> torch.Tensor:
    """The template's start: F = 0.9·f* + 0.1·x0 on Ω (x0 = g for cloning), f* elsewhere on the box."""
    wt, ws = COURSE_START_WEIGHTS
    return torch.where(system.m, wt * system.target + ws * x0, system.target)


def _run_course(system, x0, lr, max_steps, loss_tol, patience, monitor):
    """The template's loop: Adam from 0.9·f* + 0.1·x0 on Ω, lr × 0.1 after step int(max_steps·2/3) (0-based)."""
    x = course_start(system, x0).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    losses: list[float] = []
    stopped, step = False, 0
    guidance_sum = system.guidance_sum()
    for step in range(1, max_steps + 1):
        opt.zero_grad(set_to_none=True)
        loss = course_loss(system, x, guidance_sum)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if step - 1 == course_lr_drop(max_steps):  # the template: `if step == int(iter_num*2/3): lr *= 0.1` (0-based)
            opt.param_groups[0]["lr"] *= COURSE_LR_FACTOR
        if monitor.due(step) and monitor(step, x.detach(), losses[-1]):
            stopped = True
            break
        if loss_tol is not None and step > patience and abs(losses[-1 - patience] - losses[-1]) < loss_tol:
            break  # one student's stopping rule, only when asked for
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


def _run_fixed(system, x0, lr, max_steps, coarse, monitor):
    """Adam on the gradient energy over a multiscale parameterisation e = c₀ + P(c₁ + P(c₂ + …)).

    The gradient is formed in closed form (∇_e E = A e − r, then Pᵀ down the pyramid) rather than by
    autograd: the same numbers (tests check it), 3× less time per step.
    """
    mf0 = system.omega_float
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
        if monitor.due(step) and monitor(step, x0 + multiscale_expand(coeffs, masks)[..., :h, :w], losses[-1]):
            stopped = True
            break
    e = multiscale_expand(coeffs, masks)
    return x0 + e[..., :h, :w], losses, step, stopped, len(M.levels)


def solve_adam(system: PoissonSystem, *, x0: torch.Tensor, monitor: Monitor, method: str, lr: float | None,
               max_steps: int | None, coarse: int | None, loss_tol: float | None, patience: int | None,
               tol: float | None) -> tuple[torch.Tensor, SolveInfo]:
    """Minimise the course loss (``method="course"``) or the fixed energy (``"fixed"``) with Adam.

    ``x0``: start values on the box (the source g for cloning). Course (template e95e713): ``lr`` 1e-2, ``max_steps``
    5,000, lr × 0.1 after 2/3 of them; ``loss_tol`` / ``patience``: one student's stopping rule (off unless given). Fixed:
    ``max_steps`` 300, ``lr`` 3e-2 decaying to 0 by a cosine, ``coarse`` 16 (coarsest pyramid side).
    ``tol``: a relative residual to reach (default none: the step budget decides, and
    :attr:`SolveInfo.converged` is None unless the residual grew, which marks a diverged run as not converged).
    ``monitor(step, x, loss)`` every due step; True stops (the current estimate is returned).
    """
    given_options = {"loss_tol": loss_tol, "patience": patience, "coarse": coarse}
    only = {"course": ("loss_tol", "patience"), "fixed": ("coarse",)}
    for other, names in only.items():
        given = [n for n in names if given_options[n] is not None]
        if method != other and given:
            raise TypeError(f"solver 'adam': option {', '.join(given)} belongs to method={other!r}, not "
                            f"method={method!r}")
    if patience is not None and loss_tol is None:
        raise TypeError("solver 'adam': option patience only applies with loss_tol (one student's stopping rule)")
    t0 = time.perf_counter()
    x0 = x0.to(system.b.dtype)
    res0 = float(relative_residual(system, x0 if method == "fixed" else course_start(system, x0)).max())
    levels = 1
    with torch.enable_grad():
        if method == "course":
            lr = COURSE_LR if lr is None else lr
            max_steps = COURSE_STEPS if max_steps is None else max_steps
            extra_course = {"lr": lr, "max_steps": max_steps, "lr_drop_after": course_lr_drop(max_steps) + 1}
            x, losses, steps, stopped = _run_course(system, x0, lr, max_steps, loss_tol,
                                                    100 if patience is None else patience, monitor)
        else:
            x, losses, steps, stopped, levels = _run_fixed(system, x0, 3e-2 if lr is None else lr,
                                                           300 if max_steps is None else max_steps,
                                                           16 if coarse is None else coarse, monitor)
    res = float(relative_residual(system, x).max())
    extra: dict = {"method": method, "levels": levels, "start_rel_residual": res0, "tol": tol}
    if method == "course":  # the schedule that ran: lr, steps, and the 1-based step after which lr × 0.1
        extra.update(extra_course)
    if tol is not None:
        converged: bool | None = res <= tol
    elif not res < res0:  # a gradient method that ends worse than it started has diverged
        converged = False
        extra["why"] = f"the residual grew from {res0:.2e} to {res:.2e} (diverged): lower lr"
    else:
        converged = None
    info = SolveInfo(solver="adam", iterations=steps, rel_residual=res, seconds=time.perf_counter() - t0,
                     converged=converged, stopped_early=stopped, history=losses, extra=extra)
    return x, info


#: the registry entry (see :mod:`dipnb.poisson.solvers.base`)
ADAM = Solver("adam", solve_adam, {
    "method": Option("fixed", choice("fixed", "course"), "'course' (the template's loop) or 'fixed' (notebook 03)"),
    "lr": Option(None, real(0, 1, optional=True), "learning rate in (0, 1] (course 1e-2, fixed 3e-2)"),
    "max_steps": Option(None, lambda v: None if v is None else integer(1, 10**7)(v),
                        "steps (course 5,000, fixed 300)"),
    "coarse": Option(None, lambda v: None if v is None else integer(2, 64)(v), "fixed: coarsest pyramid side"),
    "loss_tol": Option(None, real(0, 1, optional=True), "course: a student's stopping rule, |Δloss| threshold"),
    "patience": Option(None, lambda v: None if v is None else integer(1)(v), "course: steps the rule looks back"),
    "tol": Option(None, real(0, 1, optional=True), "relative residual to reach (default: none)"),
}, callback_every=100, summary="gradient descent: the course's method or the fixed one (notebook 03)")


__all__ = ["ADAM", "COURSE_LR", "COURSE_LR_FACTOR", "COURSE_START_WEIGHTS", "COURSE_STEPS", "composite_with_margin",
           "course_loss", "course_lr_drop", "course_start", "energy_and_gradient", "multiscale_expand",
           "multiscale_grads", "solve_adam"]
