"""Solvers for eq. 7, selectable by name: "mgpcg" (exact, any Ω), "dst" (exact, rectangles), "adam" (the
course's optimiser, taught in notebook 03) and "auto" (dst when Ω is a rectangle away from the border, else
mgpcg)."""

from __future__ import annotations

from typing import Any

import torch

from dipnb.poisson.guidance import PoissonSystem
from dipnb.poisson.solvers.adam import solve_adam
from dipnb.poisson.solvers.base import Callback, SolveInfo
from dipnb.poisson.solvers.dst import is_rectangle, solve_dst
from dipnb.poisson.solvers.mgpcg import MGPreconditioner, solve_mgpcg

SOLVERS = ("auto", "mgpcg", "dst", "adam")


def solve(system: PoissonSystem, solver: str = "auto", x0: torch.Tensor | None = None, compose=None,
          callback: Callback | None = None, callback_every: int | None = None,
          **options: Any) -> tuple[torch.Tensor, SolveInfo]:
    """Solve ``system`` with the named solver; returns values on the box (``C×h×w``) and a :class:`SolveInfo`.

    ``"auto"`` picks ``"dst"`` when Ω is a full rectangle away from the image border and neither options nor a
    callback are given, else ``"mgpcg"``. ``callback_every`` defaults to 1 (mgpcg) / 100 (adam) steps.
    """
    if not isinstance(solver, str) or solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    if callback_every is None:
        callback_every = 100 if solver == "adam" else 1
    if not isinstance(callback_every, int) or isinstance(callback_every, bool) or callback_every < 1:
        raise ValueError(f"callback_every must be a positive int, got {callback_every!r}")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable as callback(step, image, loss)")
    if solver == "auto":
        solver = "dst" if is_rectangle(system) and not options and callback is None else "mgpcg"
    if solver == "dst":
        if options:
            raise TypeError(f"solver 'dst' takes no options, got {', '.join(options)}")
        x, info = solve_dst(system)
        if callback is not None and compose is not None:
            callback(1, compose(x), info.rel_residual)
        return x, info
    if solver == "mgpcg":
        return solve_mgpcg(system, x0=x0, callback=callback, callback_every=callback_every, compose=compose,
                           **options)
    return solve_adam(system, x0=x0, callback=callback, callback_every=callback_every, compose=compose, **options)


__all__ = ["SOLVERS", "Callback", "MGPreconditioner", "SolveInfo", "is_rectangle", "solve", "solve_adam",
           "solve_dst", "solve_mgpcg"]
