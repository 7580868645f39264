"""Solvers for eq. 7, in one registry: "mgpcg" (exact to a tolerance, any Ω), "dst" (exact, rectangles), "adam"
(the course's optimiser and the fixed one, taught in notebook 03), and "auto" (dst when Ω is a rectangle away
from the border, else mgpcg — chosen from Ω alone, never from the options).

On a CPU, mgpcg runs in fused numba kernels (:mod:`dipnb.poisson.solvers.kernels`: eager PyTorch makes one pass
over memory per operation, the kernels do a whole V-cycle step or CG update in one), elsewhere in PyTorch.

Every solver has the signature ``run(system, *, x0, monitor, **options) -> (x, SolveInfo)`` and a table of the
options it takes (:class:`~dipnb.poisson.solvers.base.Solver`); :func:`solve` checks the options against it
before any work, so an option a solver does not take is refused, never ignored.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import torch

from dipnb.poisson.guidance import PoissonSystem
from dipnb.poisson.solvers.adam import ADAM, solve_adam
from dipnb.poisson.solvers.base import (ConvergenceWarning, Monitor, NotConvergedError, SolveInfo, Solver,
                                        StepCallback, relative_residual, user_stacklevel)
from dipnb.poisson.solvers.dst import DST, is_rectangle, solve_dst
from dipnb.poisson.solvers.mgpcg import MGPCG, MGPreconditioner, solve_mgpcg

#: name → :class:`~dipnb.poisson.solvers.base.Solver`; ``"auto"`` picks one of them from Ω.
REGISTRY: dict[str, Solver] = {s.name: s for s in (MGPCG, DST, ADAM)}
SOLVERS = ("auto", *REGISTRY)


def choose(system: PoissonSystem, solver: str = "auto") -> tuple[Solver, str]:
    """The registry entry for ``solver`` (``"auto"``: dst when Ω is a rectangle away from the border, else
    mgpcg), and a note on how it was chosen (for error messages)."""
    if not isinstance(solver, str) or solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of: auto (dst for rectangles, else mgpcg), "
                         + ", ".join(f"{k} ({s.summary})" for k, s in REGISTRY.items()))
    if solver != "auto":
        return REGISTRY[solver], ""
    if is_rectangle(system):
        return DST, "chosen by solver='auto' because Ω is a rectangle; pass solver='mgpcg' for its options"
    return MGPCG, "chosen by solver='auto'"


def solve(system: PoissonSystem, solver: str = "auto", *, x0: torch.Tensor | None = None,
          callback: StepCallback | None = None, callback_every: int | None = None, strict: bool = False,
          **options: Any) -> tuple[torch.Tensor, SolveInfo]:
    """Solve ``system`` with the named solver; returns values on the box (``C×h×w``) and a :class:`SolveInfo`.

    ``x0``: start values on the box (default f*). ``callback(step, x, value)`` is called every
    ``callback_every`` steps (default: 1 for mgpcg and dst, 100 for adam) with the current box values; returning
    True stops early. ``options`` go to the solver and are checked against what it takes
    (``REGISTRY[name].options``). A solve that ends short of its tolerance warns (:class:`ConvergenceWarning`)
    with the residual reached, or raises :class:`NotConvergedError` when ``strict=True``; a result with NaN or
    inf always raises. Differentiable in ``system.b`` (hence in whatever built it: source, target, guidance
    field): when ``b`` requires grad the backward pass is one adjoint solve (A is symmetric), never the unrolled
    iterations; the matrix (Ω, |N_p|) has no gradient, ``x0`` none either (the solution does not depend on it).
    """
    spec, how = choose(system, solver)
    opts = spec.validate(options, how)
    every = spec.callback_every if callback_every is None else callback_every
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ValueError(f"callback_every must be a positive int, got {every!r}")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable as callback(step, image, loss)")
    if not isinstance(strict, bool):
        raise TypeError(f"strict must be True or False, got {strict!r}")
    if x0 is not None and not isinstance(x0, torch.Tensor):
        raise TypeError(f"x0 must be a tensor of the box's shape {tuple(system.b.shape)}, got {type(x0).__name__}")
    start = (system.target if x0 is None else x0).detach().to(system.b.dtype)
    if start.shape != system.b.shape:
        raise ValueError(f"x0 must have the box's shape {tuple(system.b.shape)}, got {tuple(start.shape)}")
    differentiable = torch.is_grad_enabled() and system.b.requires_grad
    plain = _detached(system) if differentiable else system
    with torch.no_grad():
        x, info = spec.run(plain, x0=start, monitor=Monitor(callback, every), **opts)
    if not bool(torch.isfinite(x.sum())):  # any NaN or inf makes the sum non-finite (one pass, no mask array)
        raise FloatingPointError(f"solver {spec.name!r} produced NaN or inf values (relative residual "
                                 f"{info.rel_residual:.2e}); check the inputs and options {options or ''}")
    if info.converged is False and not info.stopped_early:
        why = info.extra.get("why") or (f"relative residual {info.rel_residual:.2e} > tol {info.extra['tol']:.1e} "
                                        f"after {info.iterations} iterations")
        hint = {"mgpcg": "; raise max_iter or tol", "dst": "; solve in float64 for a tighter tol",
                "adam": "" if "why" in info.extra else "; raise max_steps, or use solver='mgpcg'"}[spec.name]
        msg = f"solver {spec.name!r} did not converge: {why}{hint}"
        if strict:
            raise NotConvergedError(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=user_stacklevel())
    if differentiable:
        x = _AdjointSolve.apply(system.b, x, _adjoint(plain, spec, opts))
    return x, info


# ------------------------------------------------------------------------------------------------------------
# gradients: the adjoint solve
# ------------------------------------------------------------------------------------------------------------
def _detached(system: PoissonSystem) -> PoissonSystem:
    return dataclasses.replace(system, b=system.b.detach(), target_with_margin=system.target_with_margin.detach())


def _adjoint(system: PoissonSystem, spec: Solver, opts: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``g ↦ A⁻¹ (m ∘ g)``: the vector-Jacobian product of x = A⁻¹ b. A (eq. 7's matrix on Ω) is symmetric, so
    the adjoint system is the forward one with the incoming gradient as right-hand side: one more solve, by the
    same solver (mgpcg, dst) with the same options; the Adam path's gradient is the exact solve's, by mgpcg."""
    if spec.name == "adam":
        spec, opts = MGPCG, MGPCG.validate({"tol": min(float(opts.get("tol") or 1e-6), 1e-6)})

    def vjp(g: torch.Tensor) -> torch.Tensor:
        rhs = torch.where(system.m, g.to(system.b.dtype), 0.0)
        if not bool(rhs.any()):
            return torch.zeros_like(rhs)
        adj = dataclasses.replace(system, b=rhs)
        with torch.no_grad():
            y, info = spec.run(adj, x0=torch.zeros_like(rhs), monitor=Monitor(), **opts)
        if info.converged is False:
            warnings.warn(f"the adjoint solve (gradient) of solver {spec.name!r} did not converge: relative "
                          f"residual {info.rel_residual:.2e}", ConvergenceWarning, stacklevel=user_stacklevel())
        return torch.where(system.m, y, 0.0)

    return vjp


class _AdjointSolve(torch.autograd.Function):
    """x = A⁻¹ b with ∂L/∂b = A⁻ᵀ ∂L/∂x = A⁻¹ ∂L/∂x (A symmetric): the solve itself runs outside autograd, so no
    iteration is unrolled and the memory does not grow with the iteration count."""

    @staticmethod
    def forward(ctx: Any, b: torch.Tensor, x: torch.Tensor, vjp: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        ctx.vjp = vjp
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad_x: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        return ctx.vjp(grad_x), None, None


__all__ = ["REGISTRY", "SOLVERS", "ConvergenceWarning", "MGPreconditioner", "NotConvergedError",
           "SolveInfo", "Solver", "StepCallback", "choose", "is_rectangle", "relative_residual", "solve", "solve_adam", "solve_dst",
           "solve_mgpcg"]
