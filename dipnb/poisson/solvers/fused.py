"""mgpcg's CPU path: its V-cycle (:class:`FusedVCycle`) and CG iteration (:func:`cg_fused`) driving the fused numba
kernels of :mod:`dipnb.poisson.solvers.kernels` — the arrays they work on (one byte per pixel for the matrix, fields
with a ring of zeros, row spans of Ω) and the order they run in. The iteration is
:func:`dipnb.poisson.solvers.mgpcg._cg_torch`'s, to rounding; :mod:`dipnb.poisson.solvers.mgpcg` chooses the path.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from dipnb.poisson.guidance import PoissonSystem
from dipnb.poisson.solvers import kernels
from dipnb.poisson.solvers.base import Monitor


def _spans(mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a bool ``h×w`` mask, the columns ``[lo, hi)`` from its first to its last pixel (0, 0: none)."""
    w = mask.shape[1]
    any_ = mask.any(1)
    lo = torch.where(any_, mask.to(torch.uint8).argmax(1), 0)
    hi = torch.where(any_, w - mask.flip(1).to(torch.uint8).argmax(1), 0)
    return lo.numpy().astype(np.int64), hi.numpy().astype(np.int64)


class _Arena:
    """Allocates the fused path's arrays (from torch's allocator: 4 KiB pages; NumPy's large arrays ask Linux for
    2 MiB pages, which after other large allocations cost ~0.4 s of page compaction per 2048² solve, measured),
    each at a different offset within a 4 KiB page: equal-shaped arrays that all start on a page boundary make
    the loads of one stream and the stores of another collide in the cache sets and in the CPU's 4K-alias
    check (measured at 4096², 1 thread: a Jacobi sweep 4.6 → 1.7 ns per pixel)."""

    def __init__(self, dtype: torch.dtype, k: int = 0) -> None:
        self.dtype, self.k = dtype, k

    def __call__(self, *shape: int, zero: bool = True) -> np.ndarray:
        n = math.prod(shape)
        item = torch.empty((), dtype=self.dtype).element_size()
        off = (self.k * 1088) % 4096 // item  # 1088 = 17 cache lines
        self.k += 1
        flat = (torch.zeros if zero else torch.empty)(n + 4096 // item, dtype=self.dtype)
        return flat[off:off + n].view(shape).numpy()


class _FusedLevel:
    """One level of the fused V-cycle: its matrix as one byte per pixel (``g`` = |N_p| on Ω, 0 elsewhere, with a
    ring of zeros), its row spans, its buffers."""

    def __init__(self, mask: torch.Tensor, lv: Any, C: int, new: _Arena, coarsest: bool, nu: int) -> None:
        h, w = mask.shape
        self.h, self.w = h, w
        self.g = _Arena(torch.uint8, new.k)(h + 2, w + 2)  # lv.D: |N_p| on Ω already (uint8)
        self.g[1:-1, 1:-1] = lv.D[:h, :w].numpy()
        new.k += 1
        self.lo, self.hi = _spans(mask)
        # fields C×(h+2)×(w+2), zero outside the spans (the kernels write only on the spans); one pre-sweep
        # (nu = 1) needs no stored u: the output buffer only
        self.b = new(C, h + 2, w + 2)
        self.u = [new(C, h + 2, w + 2) for _ in range(1 if coarsest or nu == 1 else 2)]
        dt = self.b.dtype
        self.ring = None if coarsest else np.zeros((4, C, w + 2), dtype=dt)  # 4 residual rows (restriction)
        self.urows = None if coarsest or nu != 1 else np.zeros((3, C, w + 2), dtype=dt)  # 3 corrected u rows
        self.q = np.empty(w + 2, dtype=dt)  # row buffers of the restriction / prolongation
        self.t = np.empty(w + 2, dtype=dt)


class FusedVCycle:
    """The V-cycle of :class:`~dipnb.poisson.solvers.mgpcg.MGPreconditioner` (``geometry``: one built with
    ``buffers=False``; same levels, smoother and transfers) in the fused numba kernels
    of :mod:`dipnb.poisson.solvers.kernels`: ``z, ⟨r, z⟩ = M(r)`` for ``r`` in :attr:`r` (finest level's right-hand
    side, ``C×(h+2)×(w+2)``, CG keeps its residual there). CPU, float32 / float64.

    A level with one Jacobi sweep each way (the finest, by default) never stores its u: the way down computes
    the residual of u = wj ∘ b from b (:func:`~dipnb.poisson.solvers.kernels.residual_restrict`, ``jacobi``), the way
    up rebuilds u = wj ∘ b + P e row by row and sweeps (:func:`~dipnb.poisson.solvers.kernels.jacobi_correct_sweep`):
    two reads of b and one write of z per cycle."""

    def __init__(self, geometry: Any, C: int, dtype: torch.dtype) -> None:
        n = len(geometry.levels)
        h, w = geometry.h, geometry.w
        masks = [geometry.masks[0][:h, :w], *geometry.masks[1:]]
        self.nu, self.nu0 = geometry.nu, geometry.nu0
        self.new = _Arena(dtype)
        self.levels = [_FusedLevel(mk, lv, C, self.new, k == n - 1, self.nu0 if k == 0 else self.nu)
                       for k, (mk, lv) in enumerate(zip(masks, geometry.levels))]
        last = self.levels[-1]
        idx = geometry.coarse_idx.numpy()
        self.ii, self.jj = (idx // last.w).astype(np.int64), (idx % last.w).astype(np.int64)
        self.chol = None if geometry.coarse_chol is None else geometry.coarse_chol.contiguous().numpy()
        self.y = np.empty(max(1, idx.size), dtype=last.b.dtype)
        # [0, ω/1, ω/2, ω/3, ω/4, 1, 1/16, 3] in the dtype, ω/D computed as the torch path's wj
        d = torch.arange(1, 5, dtype=dtype)
        wj = (geometry.omega / d).to(dtype)
        self.kc = torch.cat([torch.zeros(1, dtype=dtype), wj, torch.tensor([1.0, 1 / 16, 3.0], dtype=dtype)]).numpy()
        self.r = self.levels[0].b

    def __call__(self) -> tuple[np.ndarray, np.ndarray]:
        return self._vcycle(0)

    def _vcycle(self, lev: int) -> tuple[np.ndarray, np.ndarray]:
        """Approximately solve (D − S) u = b on level ``lev``; returns u and ⟨b_c, u_c⟩ per channel."""
        K = kernels
        L, kc = self.levels[lev], self.kc
        if lev == len(self.levels) - 1:
            u = L.u[0]
            if self.chol is not None:
                K.coarse_solve(L.b, self.ii, self.jj, self.chol, u, self.y)
            if lev:  # only the finest level's ⟨b, u⟩ is used (by CG)
                return u, None
            ii, jj = self.ii + 1, self.jj + 1
            return u, (L.b[:, ii, jj].astype(np.float64) * u[:, ii, jj]).sum(1)
        nxt = self.levels[lev + 1]
        nu = self.nu0 if lev == 0 else self.nu
        if nu == 1:
            K.residual_restrict(L.b, L.b, L.g, kc, L.lo, L.hi, L.ring, nxt.g, nxt.lo, nxt.hi, nxt.b, L.q, True)
            e, _ = self._vcycle(lev + 1)
            dots = K.jacobi_correct_sweep(e, L.b, L.g, kc, L.lo, L.hi, L.u[0], nxt.t, L.t, L.urows)
            return L.u[0], dots
        cur, other = L.u
        K.first_sweep(L.b, L.g, kc, L.lo, L.hi, cur)
        for _ in range(nu - 1):
            K.sweep(cur, L.b, L.g, kc, L.lo, L.hi, other)
            cur, other = other, cur
        K.residual_restrict(cur, L.b, L.g, kc, L.lo, L.hi, L.ring, nxt.g, nxt.lo, nxt.hi, nxt.b, L.q, False)
        e, _ = self._vcycle(lev + 1)
        dots = K.correct_sweep(e, cur, L.b, L.g, kc, L.lo, L.hi, other, nxt.t, L.t)
        cur, other = other, cur
        for _ in range(nu - 1):
            dots = K.sweep(cur, L.b, L.g, kc, L.lo, L.hi, other)
            cur, other = other, cur
        return cur, dots


def cg_fused(system: PoissonSystem, x0: torch.Tensor, monitor: Monitor, tol: float, max_iter: int,
             geometry: Any) -> tuple[torch.Tensor, list[float], int, bool]:
    """MG-preconditioned CG in the fused CPU kernels: the same iteration as :func:`~dipnb.poisson.solvers.mgpcg._cg_torch`, 4 passes over
    the finest level per iteration (V-cycle down and up; p and ⟨p, A p⟩; x, r and ‖r‖) instead of ~45."""
    K = kernels
    b = system.b.contiguous()
    C, h, w = b.shape
    dtype = b.dtype
    F = FusedVCycle(geometry, C, dtype)
    L0 = F.levels[0]
    x, r = F.new(C, h + 2, w + 2, zero=False), F.r
    p = F.new(C, h + 2, w + 2)
    xbox = torch.from_numpy(x)[:, 1:-1, 1:-1]
    rr = K.init_residual(x0.contiguous().numpy(), b.numpy(), L0.g, F.kc, L0.lo, L0.hi, x, r)  # C layouts only:
    # the signatures warm_up compiled
    nb = np.maximum(torch.linalg.vector_norm(b, dim=(-2, -1)).double().numpy(), 1e-30)
    items = system.items if C % system.items == 0 else 1
    per = C // items
    np_dt = r.dtype
    tiny = float(np.finfo(np_dt).tiny)

    def residual(rr: np.ndarray) -> np.ndarray:  # per item
        return (np.sqrt(rr) / nb).reshape(items, per).max(1)

    res = residual(rr)
    history = [float(res.max())]
    it, stopped = 0, False
    if history[-1] > tol:
        z, rz = F()
        beta = np.zeros(C, dtype=np_dt)
        active = np.repeat(res > tol, per)
        for it in range(1, max_iter + 1):
            pAp = K.direction_dot(p, z, beta, L0.g, F.kc, L0.lo, L0.hi)
            alpha = np.where(active, rz / np.maximum(-pAp, tiny), 0.0).astype(np_dt)
            res = residual(K.update(x, r, p, alpha, L0.g, F.kc, L0.lo, L0.hi))
            history.append(float(res.max()))
            if monitor.due(it) and monitor(it, xbox, history[-1]):
                stopped = True
                break
            if history[-1] <= tol:
                break
            active = np.repeat(res > tol, per)
            z, rz_new = F()
            beta = (rz_new / np.maximum(rz, tiny)).astype(np_dt)
            rz = rz_new
    return xbox, history, it, stopped


__all__ = ["FusedVCycle", "cg_fused"]
