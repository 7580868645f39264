"""The fused CPU kernels of the multigrid-preconditioned CG (:mod:`dipnb.poisson.solvers.mgpcg`), in numba.

Why: eager PyTorch runs one operator at a time, and each is a full pass over memory; one V-cycle plus one CG
step of the mgpcg solver is ~45 such passes over ``C×h×w`` arrays, so the solve is memory-bound long before it
is compute-bound (measured at 3×800², 1 thread: one damped-Jacobi sweep as four torch operations 4.2 ms, as one
fused loop 1.4 ms). Each kernel below does in **one pass** what the torch path does in several, with the same
arithmetic (the same answer to rounding; ``tests/poisson/test_kernels.py`` compares the two paths):

* :func:`init_residual` — x = m ∘ x₀ (whole array, ring of zeros), r = m ∘ (b − D x + S x), ‖r‖²;
* :func:`residual_restrict` (``jacobi=True``) — the way down on a level with one Jacobi pre-sweep: u = wj ∘ b and its
  residual r = m ∘ (b − D u + S u) from b alone, each coarse row restricted (``64 R r``, the separable
  (1, 3, 3, 1) sums) as soon as its 4 fine rows exist (a 4-row ring: neither u nor r goes to memory);
* :func:`jacobi_correct_sweep` — the way up: u = wj ∘ b + m ∘ P e (``16 P e`` by separable (1, 3) sums) row
  by row into a 3-row ring, and the post-sweep one row behind it, with ⟨b, z⟩ (CG's ⟨r, z⟩);
* :func:`first_sweep`, :func:`sweep`, :func:`residual_restrict`, :func:`correct_sweep` — the same for levels
  with more sweeps (the coarse ones by default), u stored;
* :func:`coarse_solve` — the coarsest level's dense Cholesky solve (gather, two triangular solves, scatter);
* :func:`direction_dot` — p ← z + β p and ⟨p, A p⟩ one row behind (A p not stored);
* :func:`update` — x += α p, r −= α A p (A p recomputed) and ‖r‖².

Per CG iteration that is 4 passes over the finest grid (~50 bytes per unknown in float32) where the eager
PyTorch path makes ~45.

Conventions: fields are ``C×(h+2)×(w+2)`` arrays with a ring of zeros (the stencil is plain indexing); the
matrix is one byte per pixel (``g``, see below); ``lo[i] ≤ j < hi[i]`` is the span of row ``i`` that
holds Ω's pixels (the kernels touch nothing else, and every field is zero outside the spans: Ω's box is
~60 % Ω for a hand-drawn polygon). Reductions accumulate in float64. Both float32 and float64 arrays work
(one compiled specialisation each). Compiled code is cached on disk (``cache=True``: beside this file, or
under ``NUMBA_CACHE_DIR`` / the user's cache directory when the package directory is read-only); the
first call on a fresh machine compiles (~4 s per dtype, see :data:`COMPILE_NOTE`).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

try:  # numba is a dependency; a broken install falls back to the torch path (mgpcg says which it used)
    import numba
except Exception as exc:  # pragma: no cover - depends on the environment
    numba = None
    IMPORT_ERROR: str | None = f"{type(exc).__name__}: {exc}"
else:
    IMPORT_ERROR = None

#: What a first call costs: the kernels compile once per dtype and are cached on disk afterwards.
COMPILE_NOTE = ("numba compiles the kernels on the first call (measured ~4 s per dtype on 1 CPU thread), then "
                "loads them from its on-disk cache (~0.4 s in a new process)")

#: fast-math without the no-NaN / no-inf assumptions (a NaN input must stay visible to the caller's check)
_FASTMATH = {"nsz", "arcp", "contract", "reassoc", "afn"}


def _jit(fn):
    """``numba.njit(cache=True)``; where no cache directory is writable, compile without caching (warned)."""
    if numba is None:
        return fn
    opts = dict(fastmath=_FASTMATH, nogil=True, error_model="numpy", boundscheck=False)
    try:
        return numba.njit(cache=True, **opts)(fn)
    except RuntimeError as exc:  # pragma: no cover - no writable cache location ("cannot cache function")
        warnings.warn(f"numba cannot cache {fn.__name__} ({exc}); it compiles on every new process: set "
                      "NUMBA_CACHE_DIR to a writable folder", RuntimeWarning, stacklevel=2)
        return numba.njit(cache=False, **opts)(fn)


def available() -> bool:
    """Whether the fused kernels can run (numba imported, not switched off by ``DIPNB_POISSON_KERNELS=torch``)."""
    return numba is not None and os.environ.get("DIPNB_POISSON_KERNELS", "").lower() != "torch"


# Style: every inner loop runs over views of one row's span, indexed from 0, so that numba can drop the
# negative-index wraparound and LLVM vectorises it (measured 2-3x faster than indexing the 3-D arrays with the
# span's own column numbers).
#
# The level's matrix is one byte per pixel: ``g`` = |N_p| on Ω (1 … 4), 0 outside Ω and on the ring, an
# ``(h+2)×(w+2)`` uint8 array. Everything else is derived from it in registers, with the torch path's values:
# m = [g > 0], D = g, wj = ω/D (from ``kc``), mP = mR = m/16 (a 1-byte mask stream instead of four float
# ones: the finest level's traffic per CG iteration drops by a fifth). ``kc``, in the arrays' dtype:
# [0, ω/1, ω/2, ω/3, ω/4, 1, 1/16, 3].


@_jit
def init_residual(x0, b, g, kc, lo, hi, x, r):  # pragma: no cover - compiled
    """x = m ∘ x₀ over the whole padded array (ring and outside Ω: 0), then r = m ∘ (b − D x + S x) on the
    spans; returns ‖r_c‖² per channel. ``x0``, ``b``: ``C×h×w``; ``x``, ``r``: padded."""
    C, h, w = x0.shape
    zero, one = kc[0], kc[5]
    for c in range(C):
        x[c, 0, :] = 0
        x[c, h + 1, :] = 0
        for i in range(h):
            xr, x0r, gr = x[c, i + 1], x0[c, i], g[i + 1, 1:w + 1]
            xr[0] = 0
            xr[w + 1] = 0
            for k in range(w):
                xr[k + 1] = x0r[k] if gr[k] > 0 else zero
    out = np.zeros(C)
    for i in range(h):
        a, z = lo[i], hi[i]
        n = z - a
        if n <= 0:
            continue
        gi = g[i + 1, a + 1:z + 1]
        for c in range(C):
            up, uc, dn = x[c, i, a + 1:z + 1], x[c, i + 1, a:z + 2], x[c, i + 2, a + 1:z + 1]
            bc, rc = b[c, i, a:z], r[c, i + 1, a + 1:z + 1]
            acc = 0.0
            for k in range(n):
                gk = gi[k]
                v = bc[k] - (gk * one) * uc[k + 1] + up[k] + dn[k] + uc[k] + uc[k + 2]
                v = v if gk > 0 else zero
                rc[k] = v
                acc += v * v
            out[c] += acc
    return out


@_jit
def first_sweep(b, g, kc, lo, hi, u):  # pragma: no cover - compiled
    """The first Jacobi sweep from u = 0: u = wj ∘ b on the spans (wj = ω/D on Ω, 0 elsewhere)."""
    C = u.shape[0]
    zero, w1, w2, w3, w4 = kc[0], kc[1], kc[2], kc[3], kc[4]
    for i in range(lo.shape[0]):
        a, z = lo[i], hi[i]
        n = z - a
        if n <= 0:
            continue
        gi = g[i + 1, a + 1:z + 1]
        for c in range(C):
            bc, uc = b[c, i + 1, a + 1:z + 1], u[c, i + 1, a + 1:z + 1]
            for k in range(n):
                gk = gi[k]
                wv = w4 if gk == 4 else (w3 if gk == 3 else (w2 if gk == 2 else (w1 if gk == 1 else zero)))
                uc[k] = wv * bc[k]


@_jit
def _sweep_row(u, b, g, kc, a, z, i, c, v):  # pragma: no cover - compiled
    """Row ``i`` (unpadded) of channel ``c`` of one Jacobi sweep; returns ⟨b, v⟩ over the row."""
    zero, w1, w2, w3, w4, one = kc[0], kc[1], kc[2], kc[3], kc[4], kc[5]
    gi = g[i + 1, a + 1:z + 1]
    up, uc, dn = u[c, i, a + 1:z + 1], u[c, i + 1, a:z + 2], u[c, i + 2, a + 1:z + 1]
    bc, vc = b[c, i + 1, a + 1:z + 1], v[c, i + 1, a + 1:z + 1]
    acc = 0.0
    for k in range(z - a):
        gk = gi[k]
        wv = w4 if gk == 4 else (w3 if gk == 3 else (w2 if gk == 2 else (w1 if gk == 1 else zero)))
        uu = uc[k + 1]
        bb = bc[k]
        vv = uu + wv * (bb - (gk * one) * uu + up[k] + dn[k] + uc[k] + uc[k + 2])
        vc[k] = vv
        acc += bb * vv
    return acc


@_jit
def sweep(u, b, g, kc, lo, hi, v):  # pragma: no cover - compiled
    """One damped Jacobi sweep v = u + wj ∘ (b − D u + S u) on the spans; returns ⟨b_c, v_c⟩ per channel
    (at the finest level b is CG's residual r and v is z = M⁻¹ r: the ⟨r, z⟩ CG needs next)."""
    C = u.shape[0]
    out = np.zeros(C)
    for i in range(lo.shape[0]):
        if lo[i] < hi[i]:
            for c in range(C):
                out[c] += _sweep_row(u, b, g, kc, lo[i], hi[i], i, c, v)
    return out


@_jit
def _restrict_row(ring, I, a, z, gc, kc, bc, q):  # pragma: no cover - compiled
    """bc[:, I] = mR ∘ (64 R r) on coarse columns [a, z) of coarse row I (mR = m/16 of the coarse level, from
    its ``gc``), from the 4 fine residual rows (padded rows 2I … 2I+3, kept in ``ring`` slots k mod 4).
    64 R = (1, 3, 3, 1) ⊗ (1, 3, 3, 1) at stride 2."""
    n = z - a
    zero, sixteenth, three = kc[0], kc[6], kc[7]
    gI = gc[I + 1, a + 1:z + 1]
    for c in range(ring.shape[1]):
        r0, r1 = ring[(2 * I) % 4, c, 2 * a:2 * z + 2], ring[(2 * I + 1) % 4, c, 2 * a:2 * z + 2]
        r2, r3 = ring[(2 * I + 2) % 4, c, 2 * a:2 * z + 2], ring[(2 * I + 3) % 4, c, 2 * a:2 * z + 2]
        for k in range(2 * n + 2):
            q[k] = r0[k] + r3[k] + three * (r1[k] + r2[k])
        bI = bc[c, I + 1, a + 1:z + 1]
        for k in range(n):
            s = (q[2 * k] + q[2 * k + 3] + three * (q[2 * k + 1] + q[2 * k + 2])) * sixteenth
            bI[k] = s if gI[k] > 0 else zero


@_jit
def _residual_row(u, b, g, kc, i, a, z, out):  # pragma: no cover - compiled
    """Row i (unpadded), columns [a, z), of r = m ∘ (b − D u + S u) for every channel, into ``out`` (``C×(w+2)``)."""
    zero, one = kc[0], kc[5]
    gi = g[i + 1, a + 1:z + 1]
    for c in range(u.shape[0]):
        up, uc, dn = u[c, i, a + 1:z + 1], u[c, i + 1, a:z + 2], u[c, i + 2, a + 1:z + 1]
        bi, ri = b[c, i + 1, a + 1:z + 1], out[c, a + 1:z + 1]
        for t in range(z - a):
            gk = gi[t]
            v = bi[t] - (gk * one) * uc[t + 1] + up[t] + dn[t] + uc[t] + uc[t + 2]
            ri[t] = v if gk > 0 else zero


@_jit
def _jacobi_residual_row(b, g, kc, i, a, z, out, tw):  # pragma: no cover - compiled
    """The same row for u = wj ∘ b (the first Jacobi sweep from 0), u's five values taken from b: u is never
    stored. ``tw``: a row buffer for wj."""
    zero, w1, w2, w3, w4, one = kc[0], kc[1], kc[2], kc[3], kc[4], kc[5]
    gu, gc_, gd = g[i, a + 1:z + 1], g[i + 1, a:z + 2], g[i + 2, a + 1:z + 1]
    for t in range(z - a + 2):
        gk = gc_[t]
        tw[t] = w4 if gk == 4 else (w3 if gk == 3 else (w2 if gk == 2 else (w1 if gk == 1 else zero)))
    for c in range(b.shape[0]):
        bu, bm, bd = b[c, i, a + 1:z + 1], b[c, i + 1, a:z + 2], b[c, i + 2, a + 1:z + 1]
        ri = out[c, a + 1:z + 1]
        for t in range(z - a):
            gk, guk, gdk = gc_[t + 1], gu[t], gd[t]
            wu = w4 if guk == 4 else (w3 if guk == 3 else (w2 if guk == 2 else (w1 if guk == 1 else zero)))
            wd = w4 if gdk == 4 else (w3 if gdk == 3 else (w2 if gdk == 2 else (w1 if gdk == 1 else zero)))
            bb = bm[t + 1]
            s = wu * bu[t] + wd * bd[t] + tw[t] * bm[t] + tw[t + 2] * bm[t + 2]
            v = bb - (gk * one) * (tw[t + 1] * bb) + s
            ri[t] = v if gk > 0 else zero


@_jit
def residual_restrict(u, b, g, kc, lo, hi, ring, gc, loc, hic, bc, q, jacobi):  # pragma: no cover - compiled
    """bc = mR ∘ (64 R r) on the coarse level's spans, r = m ∘ (b − D u + S u): each fine residual row is
    computed once, into a 4-row ring (``ring``: ``4×C×(w+2)``; slot k mod 4 holds padded row k), when the
    first coarse row that needs it comes; the residual never goes to memory. ``jacobi``: the level has one
    pre-sweep, u = wj ∘ b is not stored (``u`` is ignored) but taken from b: the V-cycle's way down is one read
    of b and nothing written at this level."""
    h = lo.shape[0]
    tw = np.empty(b.shape[2], b.dtype)
    done = 0  # padded fine rows [0, done) were put in the ring
    for I in range(loc.shape[0]):
        if loc[I] >= hic[I]:
            continue
        for k in range(max(done, 2 * I), 2 * I + 4):
            ring[k % 4] = 0
            i = k - 1
            if 0 <= i < h and lo[i] < hi[i]:
                if jacobi:
                    _jacobi_residual_row(b, g, kc, i, lo[i], hi[i], ring[k % 4], tw)
                else:
                    _residual_row(u, b, g, kc, i, lo[i], hi[i], ring[k % 4])
        done = 2 * I + 4
        _restrict_row(ring, I, loc[I], hic[I], gc, kc, bc, q)


@_jit
def _prolong_row(ec, i, a, z, rowc, t, c, three):  # pragma: no cover - compiled
    """``16 P e`` on fine row i, columns [a, z) of channel c, into ``t[off + k]`` = fine column a + k (returns
    off): the (1, 3) sums, rows (e_{I−1} + 3 e_I | 3 e_I + e_{I+1}) then columns likewise (``rowc``: a
    coarse-width buffer)."""
    I, par = i // 2, i % 2
    j0 = a // 2  # coarse columns j0 … j1 cover fine columns a … z−1
    j1 = (z - 1) // 2
    nc = j1 - j0 + 1
    e_far, e_near = ec[c, I + 2 * par, j0:j1 + 3], ec[c, I + 1, j0:j1 + 3]  # coarse padded j0 … j1+2
    for k in range(nc + 2):
        rowc[k] = e_far[k] + three * e_near[k]
    for k in range(nc):
        t[2 * k] = rowc[k] + three * rowc[k + 1]
        t[2 * k + 1] = rowc[k + 2] + three * rowc[k + 1]
    return a - 2 * j0


@_jit
def correct_sweep(ec, u, b, g, kc, lo, hi, v, rowc, t):  # pragma: no cover - compiled
    """u += mP ∘ (16 P e) (``ec``: the coarse correction, padded; mP = m/16) row by row, and one row behind,
    the first post-smoothing sweep v = u + wj ∘ (b − D u + S u). Returns ⟨b_c, v_c⟩ per channel."""
    C = u.shape[0]
    h = lo.shape[0]
    zero, sixteenth, three = kc[0], kc[6], kc[7]
    out = np.zeros(C)
    for i in range(h + 1):
        if i < h and lo[i] < hi[i]:
            a, z = lo[i], hi[i]
            gi = g[i + 1, a + 1:z + 1]
            for c in range(C):
                off = _prolong_row(ec, i, a, z, rowc, t, c, three)
                ui = u[c, i + 1, a + 1:z + 1]
                for k in range(z - a):
                    ui[k] += (t[off + k] * sixteenth) if gi[k] > 0 else zero
        k = i - 1  # sweep row k: its neighbours' rows k−1 … k+1 are corrected
        if k >= 0 and lo[k] < hi[k]:
            for c in range(C):
                out[c] += _sweep_row(u, b, g, kc, lo[k], hi[k], k, c, v)
    return out


@_jit
def _wj_row(gi, kc, tw, tm):  # pragma: no cover - compiled
    """wj = ω/D and mP = m/16 of one row's span (from its bytes ``gi``) into ``tw``, ``tm``."""
    zero, w1, w2, w3, w4, sixteenth = kc[0], kc[1], kc[2], kc[3], kc[4], kc[6]
    for k in range(gi.shape[0]):
        gk = gi[k]
        tw[k] = w4 if gk == 4 else (w3 if gk == 3 else (w2 if gk == 2 else (w1 if gk == 1 else zero)))
        tm[k] = sixteenth if gk > 0 else zero


@_jit
def jacobi_correct_sweep(ec, b, g, kc, lo, hi, v, rowc, t, urows):  # pragma: no cover - compiled
    """The way up on a level with one pre-sweep: u = wj ∘ b + mP ∘ (16 P e) row by row into a 3-row ring
    (``urows``: ``3×C×(w+2)``, slot (i+1) mod 3 holds row i), and one row behind, the post-sweep
    v = u + wj ∘ (b − D u + S u). u is never stored; returns ⟨b_c, v_c⟩ per channel."""
    C = b.shape[0]
    h = lo.shape[0]
    one, three = kc[5], kc[7]
    out = np.zeros(C)
    W = b.shape[2]
    tw_i, tm_i, tw_r, tm_r = np.empty(W, b.dtype), np.empty(W, b.dtype), np.empty(W, b.dtype), np.empty(W, b.dtype)
    urows[0] = 0  # row −1: the ring of zeros
    for i in range(h + 1):
        s = (i + 1) % 3
        # clear the slot where the sweeps of rows i−1 … i+1 will read it (zero outside row i's span)
        c0, c1 = W, 0
        for x in range(max(i - 1, 0), min(i + 2, h)):
            if lo[x] < hi[x]:
                c0, c1 = min(c0, lo[x]), max(c1, hi[x] + 2)
        if c0 < c1:
            urows[s, :, c0:c1] = 0
        if i < h and lo[i] < hi[i]:
            a, z = lo[i], hi[i]
            _wj_row(g[i + 1, a + 1:z + 1], kc, tw_i, tm_i)
            for c in range(C):
                off = _prolong_row(ec, i, a, z, rowc, t, c, three)
                ui, bi = urows[s, c, a + 1:z + 1], b[c, i + 1, a + 1:z + 1]
                for k in range(z - a):
                    ui[k] = tw_i[k] * bi[k] + tm_i[k] * t[off + k]
        r = i - 1
        if r >= 0 and lo[r] < hi[r]:
            a, z = lo[r], hi[r]
            gr = g[r + 1, a + 1:z + 1]
            for c in range(C):
                up, uc, dn = urows[r % 3, c, a + 1:z + 1], urows[(r + 1) % 3, c, a:z + 2], urows[s, c, a + 1:z + 1]
                br, vr = b[c, r + 1, a + 1:z + 1], v[c, r + 1, a + 1:z + 1]
                acc = 0.0
                for k in range(z - a):
                    uu = uc[k + 1]
                    bb = br[k]
                    vv = uu + tw_r[k] * (bb - (gr[k] * one) * uu + up[k] + dn[k] + uc[k] + uc[k + 2])
                    vr[k] = vv
                    acc += bb * vv
                out[c] += acc
        tw_i, tw_r = tw_r, tw_i
        tm_i, tm_r = tm_r, tm_i
    return out


@_jit
def coarse_solve(b, ii, jj, L, u, y):  # pragma: no cover - compiled
    """u = A⁻¹ b on the coarsest level's cells (``ii``, ``jj``: their rows and columns) with A = L Lᵀ (``L``
    lower triangular, n×n); ``y``: an n work vector. Cells outside Ω keep u = 0."""
    n = ii.shape[0]
    for c in range(b.shape[0]):
        for k in range(n):
            y[k] = b[c, ii[k] + 1, jj[k] + 1]
        for k in range(n):  # L y' = y
            s = y[k]
            Lk = L[k]
            for l in range(k):
                s -= Lk[l] * y[l]
            y[k] = s / Lk[k]
        for k in range(n - 1, -1, -1):  # Lᵀ x = y'
            s = y[k]
            for l in range(k + 1, n):
                s -= L[l, k] * y[l]
            y[k] = s / L[k, k]
        for k in range(n):
            u[c, ii[k] + 1, jj[k] + 1] = y[k]


@_jit
def direction_dot(p, z, beta, g, kc, lo, hi):  # pragma: no cover - compiled
    """p ← z + β p (β per channel), and one row behind, ⟨p_c, Ap_c⟩ with Ap = m ∘ (S p − D p) (= −A p, the
    torch path's sign), computed on the fly: A p is never stored (:func:`update` recomputes it)."""
    C = p.shape[0]
    h = lo.shape[0]
    zero, one = kc[0], kc[5]
    out = np.zeros(C)
    for i in range(h + 1):
        if i < h and lo[i] < hi[i]:
            a, zz = lo[i], hi[i]
            for c in range(C):
                bc = beta[c]
                pi, zi = p[c, i + 1, a + 1:zz + 1], z[c, i + 1, a + 1:zz + 1]
                for k in range(zz - a):
                    pi[k] = zi[k] + bc * pi[k]
        r = i - 1
        if r >= 0 and lo[r] < hi[r]:
            a, zz = lo[r], hi[r]
            gr = g[r + 1, a + 1:zz + 1]
            for c in range(C):
                up, pc, dn = p[c, r, a + 1:zz + 1], p[c, r + 1, a:zz + 2], p[c, r + 2, a + 1:zz + 1]
                acc = 0.0
                for k in range(zz - a):
                    gk = gr[k]
                    pp = pc[k + 1]
                    ap = up[k] + dn[k] + pc[k] + pc[k + 2] - (gk * one) * pp
                    acc += pp * (ap if gk > 0 else zero)
                out[c] += acc
    return out


@_jit
def update(x, r, p, alpha, g, kc, lo, hi):  # pragma: no cover - compiled
    """x += α p, r += α Ap with Ap = m ∘ (S p − D p) = −A p recomputed from p (α per channel); returns ‖r_c‖²."""
    C = x.shape[0]
    zero, one = kc[0], kc[5]
    out = np.zeros(C)
    for i in range(lo.shape[0]):
        a, z = lo[i], hi[i]
        n = z - a
        if n <= 0:
            continue
        gi = g[i + 1, a + 1:z + 1]
        for c in range(C):
            al = alpha[c]
            xi, ri = x[c, i + 1, a + 1:z + 1], r[c, i + 1, a + 1:z + 1]
            up, pc, dn = p[c, i, a + 1:z + 1], p[c, i + 1, a:z + 2], p[c, i + 2, a + 1:z + 1]
            acc = 0.0
            for k in range(n):
                gk = gi[k]
                pp = pc[k + 1]
                xi[k] += al * pp
                ap = up[k] + dn[k] + pc[k] + pc[k + 2] - (gk * one) * pp
                rr = ri[k] + al * (ap if gk > 0 else zero)
                ri[k] = rr
                acc += rr * rr
            out[c] += acc
    return out


__all__ = ["COMPILE_NOTE", "IMPORT_ERROR", "available", "coarse_solve", "correct_sweep", "direction_dot", "first_sweep",
           "init_residual", "jacobi_correct_sweep", "residual_restrict", "sweep", "update"]
