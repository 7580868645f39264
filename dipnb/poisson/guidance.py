"""Guidance fields v and the right-hand side of eq. 7, on a box around Ω.

A guidance field is stored per *edge*: ``v[d]`` (``C×h×w``) holds v_pq for q = p + d, d in
:data:`~dipnb.poisson.operators.DIRECTIONS` (up, down, left, right), so ``v`` is ``4×C×h×w``.

* import (eq. 11): v_pq = g_p − g_q (source gradients);
* mixed (eq. 13): v_pq = f*_p − f*_q if |f*_p − f*_q| > |g_p − g_q| else g_p − g_q, per channel;
* monochrome: the import field of the source's luminance (OpenCV's MONOCHROME_TRANSFER), built as a guide
  image by :func:`dipnb.poisson.edits.clone_problem`;
* texture flattening (eqs. 14–15), illumination change (eq. 16), … are built in :mod:`dipnb.poisson.edits`.
"""

from __future__ import annotations

import torch

from dipnb.poisson.operators import (DIRECTIONS, Box, PoissonSystem, in_image, inner, neighbour, neighbour_count,
                                     neighbour_sum, zero_outside_image)

#: Rec. 601 luma weights (as OpenCV's RGB→gray).
LUMA = (0.299, 0.587, 0.114)


def luminance(img: torch.Tensor) -> torch.Tensor:
    """Luma Y = 0.299 R + 0.587 G + 0.114 B of a ``3×H×W`` image, as ``1×H×W`` (gray is returned as is)."""
    if img.shape[0] == 1:
        return img
    w = torch.tensor(LUMA, dtype=img.dtype, device=img.device).view(3, 1, 1)
    return (img * w).sum(0, keepdim=True)


def crop_with_margin(img: torch.Tensor, y0: int, x0: int, h: int, w: int, margin: int = 1) -> torch.Tensor:
    """Rows ``y0−margin … y0+h+margin−1``, columns likewise, of ``img`` (``C×H×W``); positions outside
    the image take the **nearest** pixel's value (replicate). Works for windows partly or wholly outside."""
    H, W = img.shape[-2:]
    dev = img.device
    rows = (torch.arange(y0 - margin, y0 + h + margin, device=dev)).clamp(0, H - 1)
    cols = (torch.arange(x0 - margin, x0 + w + margin, device=dev)).clamp(0, W - 1)
    if (y0 - margin >= 0 and y0 + h + margin <= H and x0 - margin >= 0 and x0 + w + margin <= W):
        return img[..., y0 - margin:y0 + h + margin, x0 - margin:x0 + w + margin]
    return img.index_select(-2, rows).index_select(-1, cols)


def image_gradients(a: torch.Tensor) -> torch.Tensor:
    """``a_p − a_q`` for the 4 neighbours, from a crop with a 1-px margin: ``4×C×h×w``."""
    centre = inner(a)
    return torch.stack([centre - neighbour(a, d) for d in DIRECTIONS])


def mixed_field(g: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Eq. 13: keep the stronger of the target's and the source's difference, per edge and channel."""
    vg, vt = image_gradients(g), image_gradients(t)
    return torch.where(vt.abs() > vg.abs(), vt, vg)


def build_system(target_with_margin: torch.Tensor, omega_with_margin: torch.Tensor, box: Box,
                 v: torch.Tensor | None = None, guide_with_margin: torch.Tensor | None = None) -> PoissonSystem:
    """Assemble eq. 7 from f* and Ω cropped to Ω's box with a 1-px margin (``target_with_margin``,
    ``omega_with_margin``), and either a guidance field ``v`` (4×C×h×w) or a guide image ``guide_with_margin``
    (C×(h+2)×(w+2), v_pq = G_p − G_q).

    b_p = Σ_{q ∈ N_p} ( [q ∉ Ω] f*_q + v_pq ) over the neighbours q that lie inside the image. With a guide
    image this is b_p = |N_p| G_p + Σ_{q ∈ N_p} ([q ∉ Ω] f*_q − G_q): a handful of whole-array operations.
    """
    if (v is None) == (guide_with_margin is None):
        raise ValueError("give exactly one of v (guidance field) or guide_with_margin (guide image)")
    m = inner(omega_with_margin)
    D = neighbour_count(box.y0, box.x0, box.h, box.w, box.H, box.W, dtype=target_with_margin.dtype,
                        device=target_with_margin.device)
    if guide_with_margin is not None:
        t = torch.where(omega_with_margin, 0.0, target_with_margin)
        t -= guide_with_margin  # [q ∉ Ω] f*_q − G_q (one temporary: each large one costs page faults as well)
        b = neighbour_sum(zero_outside_image(t, box))
        b.addcmul_(D, inner(guide_with_margin))
    else:
        inside = in_image(box.y0, box.x0, box.h, box.w, box.H, box.W, device=target_with_margin.device)  # 4×h×w
        t = zero_outside_image(torch.where(omega_with_margin, 0.0, target_with_margin), box)
        b = neighbour_sum(t)
        for k in range(4):
            b += torch.where(inside[k], v[k], 0.0)
    b = b.masked_fill_(~m, 0.0)
    return PoissonSystem(box=box, m=m.contiguous(), D=D, b=b, target_with_margin=target_with_margin,
                         omega_with_margin=omega_with_margin)


__all__ = ["LUMA", "PoissonSystem", "build_system", "crop_with_margin", "image_gradients", "luminance",
           "mixed_field"]
