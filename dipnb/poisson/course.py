"""The course template's blending loop (``run_blending_gradio.py``), run with any ``cal_laplacian_loss``.

The template optimises the whole blended image ``F`` (1×3×H×W, a leaf tensor) with Adam; each step rebuilds
``F_loss = F.detach()·(1 − M_t) + F·M_t`` (so only Ω receives gradient), calls the student's
``cal_laplacian_loss(foreground_img, foreground_mask, F_loss, background_mask)`` and steps; the learning rate is
multiplied by 0.1 once, after the 0-based step ``int(steps·2/3)`` (the template at e95e713: lr 1e-2, 5,000 steps,
× 0.1 after step 3,333; the constants live in :mod:`dipnb.poisson.solvers.adam`). It starts from ``F = 0.9 f* + 0.1 g``
on Ω.
Notebook 03 runs it on the student's loss (:func:`course_blend`), beside the exact solution;
:func:`laplacian_loss` is the workbook's own loss with the template's signature, used while the blank is empty.
The package's solver (``seamless_clone(..., solver="adam", method="course")``) runs the same iteration on the
bounding box of Ω only; this module keeps the template's whole-image form so that any loss with its signature runs.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from dipnb.poisson.mask import placed_mask
from dipnb.poisson.solvers.adam import COURSE_LR, COURSE_LR_FACTOR, COURSE_START_WEIGHTS, COURSE_STEPS, course_lr_drop


def laplacian_loss(foreground_img: torch.Tensor, foreground_mask: torch.Tensor, blended_img: torch.Tensor,
                   background_mask: torch.Tensor) -> torch.Tensor:
    """The workbook's ``cal_laplacian_loss``: mean over Ω and channels of (Δ F − Δ g)², Δ the 5-point stencil by
    ``conv2d`` (zero padding), the pixels of Ω in g and in F paired in row-major order."""
    c = foreground_img.shape[1]
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=blended_img.dtype,
                     device=blended_img.device).expand(c, 1, 3, 3)
    lap_g = F.conv2d(foreground_img, k, padding=1, groups=c)[:, :, foreground_mask[0, 0] > 0.5]
    lap_f = F.conv2d(blended_img, k, padding=1, groups=c)[:, :, background_mask[0, 0] > 0.5]
    return ((lap_f - lap_g) ** 2).mean()


def course_blend(source: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, offset: Sequence[int],
                 loss_fn: Callable[..., torch.Tensor] = laplacian_loss, steps: int = COURSE_STEPS,
                 lr: float = COURSE_LR, decay_at: int | None = None,
                 callback: Callable[[int, torch.Tensor, float], object] | None = None,
                 callback_every: int = 100) -> tuple[torch.Tensor, list[float]]:
    """Paste Ω of ``source`` (C×Hs×Ws in [0, 1], ``mask`` Hs×Ws) into ``target`` at ``offset = (dx, dy)`` with the
    template's loop on ``loss_fn``; returns the blended image (C×Ht×Wt, clamped to [0, 1]) and the loss per step.

    ``decay_at`` (1-based) is the last step run at ``lr``; default the template's ``int(steps·2/3) + 1``.
    ``callback(step, image, loss)`` every ``callback_every`` steps (return True to stop early)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    mask = torch.as_tensor(mask).bool()
    g, fstar = source.detach().float(), target.detach().float()
    placed = placed_mask(mask, tuple(fstar.shape[-2:]), tuple(offset))
    if int(placed.sum()) != int(mask.sum()):
        raise ValueError("Ω does not fit inside the target at this offset: move it or make it smaller")
    foreground_img, foreground_mask = g[None], mask[None, None].float()
    background_mask = placed[None, None].float()
    blended = fstar[None].clone()
    wt, ws = COURSE_START_WEIGHTS
    blended[:, :, placed] = wt * fstar[:, placed][None] + ws * g[:, mask][None]  # the template's start
    blended.requires_grad_(True)
    opt = torch.optim.Adam([blended], lr=lr)
    decay_at = course_lr_drop(steps) + 1 if decay_at is None else decay_at
    losses: list[float] = []
    with torch.enable_grad():
        for step in range(1, steps + 1):
            blended_for_loss = blended.detach() * (1.0 - background_mask) + blended * background_mask
            loss = loss_fn(foreground_img, foreground_mask, blended_for_loss, background_mask)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.requires_grad:
                raise TypeError("the loss must return a scalar tensor computed from blended_img (got "
                                f"{type(loss).__name__}{'' if not isinstance(loss, torch.Tensor) else tuple(loss.shape)})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if step == decay_at:
                opt.param_groups[0]["lr"] *= COURSE_LR_FACTOR
            if callback is not None and (step % callback_every == 0 or step == steps):
                if callback(step, blended.detach()[0].clamp(0, 1), losses[-1]):
                    break
    return blended.detach()[0].clamp(0, 1), losses


__all__ = ["course_blend", "laplacian_loss"]
