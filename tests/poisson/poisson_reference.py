"""The reference the Poisson tests and ``benchmarks/poisson.py`` compare against: eq. 7 (Pérez et al. 2003)
assembled from its definition (vectorised NumPy + scipy.sparse, float64) and solved by a sparse direct solve,
independently of dipnb's operators and solvers. scipy is a test/benchmark dependency only (the ``dev`` extra).
"""

from __future__ import annotations

import numpy as np
import torch


def reference_clone(source: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, offset=(0, 0),
                    mode: str = "import") -> torch.Tensor:
    """Exact solution of eq. 7 (Pérez et al. 2003) by a sparse direct solve; float64 ``C×Ht×Wt``.

    Same conventions as :func:`dipnb.poisson.seamless_clone`: Ω in source coordinates, offset (dx, dy),
    pixels of Ω outside the target dropped, neighbours outside the target not counted, source values beyond
    the source's edge taken from the nearest source pixel, modes import / mixed / monochrome.
    """
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    src = source.detach().double().cpu().numpy()
    tgt = target.detach().double().cpu().numpy()
    if src.shape[0] != tgt.shape[0]:
        src, tgt = np.broadcast_to(src, (3,) + src.shape[1:]), np.broadcast_to(tgt, (3,) + tgt.shape[1:])
    if mode == "monochrome":
        lum = src[0] * 0.299 + src[1] * 0.587 + src[2] * 0.114 if src.shape[0] == 3 else src[0]
        src = np.broadcast_to(lum, src.shape)
    C, Ht, Wt = tgt.shape
    Hs, Ws = src.shape[1:]
    dx, dy = offset
    ys, xs = np.nonzero(mask.detach().cpu().numpy())
    yt, xt = ys + dy, xs + dx
    ok = (yt >= 0) & (yt < Ht) & (xt >= 0) & (xt < Wt)
    mt = np.zeros((Ht, Wt), dtype=bool)
    mt[yt[ok], xt[ok]] = True
    py, px = np.nonzero(mt)
    n = py.size
    number = -np.ones((Ht, Wt), dtype=np.int64)
    number[py, px] = np.arange(n)

    def g_at(y, x):  # source value at target position (y, x), nearest source pixel beyond its edge
        return src[:, np.clip(y - dy, 0, Hs - 1), np.clip(x - dx, 0, Ws - 1)]

    rows, cols, vals = [np.arange(n)], [np.arange(n)], []
    diag = np.zeros(n)
    b = np.zeros((C, n))
    gp = g_at(py, px)
    for ddy, ddx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        qy, qx = py + ddy, px + ddx
        inside = (qy >= 0) & (qy < Ht) & (qx >= 0) & (qx < Wt)
        qyc, qxc = np.clip(qy, 0, Ht - 1), np.clip(qx, 0, Wt - 1)
        diag += inside
        q_in_omega = inside & mt[qyc, qxc]
        rows.append(np.nonzero(q_in_omega)[0])
        cols.append(number[qyc, qxc][q_in_omega])
        known = inside & ~mt[qyc, qxc]
        b += np.where(known, tgt[:, qyc, qxc], 0.0)
        vg = gp - g_at(qy, qx)
        if mode == "mixed":
            vt = tgt[:, py, px] - tgt[:, qyc, qxc]
            v = np.where(np.abs(vt) > np.abs(vg), vt, vg)
        else:
            v = vg
        b += np.where(inside, v, 0.0)
    vals = [diag] + [-np.ones(r.size) for r in rows[1:]]
    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    sol = spla.splu(A).solve(np.ascontiguousarray(b.T))
    out = tgt.copy()
    out[:, py, px] = sol.T
    return torch.from_numpy(out)
