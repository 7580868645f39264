"""Direct solve of eq. 7 when Ω is a rectangle away from the image border ("dst"), by sine transforms.

On an h×w rectangle with Dirichlet values all around, A = 4I − S is diagonalised by the 2-D type-I discrete
sine transform: with S_n[j, k] = sin(π (j+1)(k+1) / (n+1)),

    A = (S_h ⊗ S_w) Λ (S_h ⊗ S_w) · 4 / ((h+1)(w+1)),   λ_jk = 4 − 2 cos(π(j+1)/(h+1)) − 2 cos(π(k+1)/(w+1)),

so f = DST(DST(b) / λ) · 4/((h+1)(w+1)): four 1-D transforms, each computed with one real FFT of length
2n + 2 (``torch.fft.rfft``), O(hw log) and exact to rounding.
"""

from __future__ import annotations

import math
import time

import torch

from dipnb.poisson.guidance import PoissonSystem
from dipnb.poisson.operators import apply_A
from dipnb.poisson.solvers.base import Monitor, Option, SolveInfo, Solver, real, relative_residual


def dst1(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Type-I DST along ``dim`` (unnormalised: X_k = Σ_n x_n sin(π(n+1)(k+1)/(N+1))), via one rfft.

    The odd extension [0, x, 0, −x reversed] of length 2N + 2 has the DFT −2i·X at bins 1…N. The result is
    contiguous with ``dim`` last moved back in place (a transposed view when ``dim`` is not the last).
    """
    x = x.movedim(dim, -1)
    n = x.shape[-1]
    z = x.new_empty(*x.shape[:-1], 2 * n + 2)
    z[..., 0] = 0
    z[..., n + 1] = 0
    z[..., 1:n + 1] = x
    z[..., n + 2:] = x.flip(-1).neg_()  # X = Im(rfft(z))[1:n+1] · (−½)
    y = torch.fft.rfft(z, dim=-1).imag[..., 1:n + 1] * -0.5
    return y.movedim(-1, dim)


def dst_eigenvalues(h: int, w: int, dtype: torch.dtype, device: torch.device | str | None = None) -> torch.Tensor:
    """λ_jk of the h×w Dirichlet 5-point operator 4I − S."""
    j = torch.arange(1, h + 1, dtype=torch.float64, device=device)
    k = torch.arange(1, w + 1, dtype=torch.float64, device=device)
    lam = 4 - 2 * torch.cos(math.pi * j / (h + 1))[:, None] - 2 * torch.cos(math.pi * k / (w + 1))[None, :]
    return lam.to(dtype)


def is_rectangle(system: PoissonSystem) -> bool:
    """True when Ω fills its bounding box and that box does not touch the image border."""
    return bool(system.m.all()) and not system.box.touches_border


def solve_dst(system: PoissonSystem, *, x0: torch.Tensor, monitor: Monitor,
              tol: float) -> tuple[torch.Tensor, SolveInfo]:
    """Exact sine-transform solve; raises ``ValueError`` when Ω is not a rectangle away from the border.

    Direct, so ``x0`` only enters as a residual correction: x = x0 + A⁻¹(b − A x0), the same solution from any
    start (to rounding). ``tol``: the relative residual the result must reach (it always does, to rounding,
    unless the dtype cannot: float32 reaches ~1e-7). ``monitor`` is called once, at step 1.
    """
    if not is_rectangle(system):
        raise ValueError("solver='dst' needs Ω to be a full rectangle that does not touch the target's border; "
                         "use solver='mgpcg' (or 'auto') for other masks")
    t0 = time.perf_counter()
    b = system.b
    h, w = b.shape[-2:]
    r = b - apply_A(x0, system.D, system.omega_float)
    lam_t = dst_eigenvalues(h, w, b.dtype, b.device).T * ((h + 1) * (w + 1) / 4.0)
    # rows, then columns (on the transposed array, so that every transform runs along contiguous memory)
    rh = dst1(dst1(r).transpose(-1, -2))  # C×w×h
    x = x0 + dst1(dst1(rh / lam_t).transpose(-1, -2))  # back to C×h×w
    res = float(relative_residual(system, x).max())
    stopped = monitor.due(1) and monitor(1, x, res)
    return x, SolveInfo(solver="dst", iterations=1, rel_residual=res, seconds=time.perf_counter() - t0,
                        converged=res <= tol, stopped_early=stopped, history=[res], extra={"tol": tol})


#: the registry entry (see :mod:`dipnb.poisson.solvers.base`)
DST = Solver("dst", solve_dst, {
    "tol": Option(1e-5, real(0, 1), "relative residual the result must reach (float32 reaches ~1e-7)"),
}, summary="exact, by sine transforms; Ω a rectangle away from the border")


__all__ = ["DST", "dst1", "dst_eigenvalues", "is_rectangle", "solve_dst"]
