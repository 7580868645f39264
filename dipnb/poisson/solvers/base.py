"""What every solver shares: the result type, the relative residual, the callback monitor, and option checks.

A solver is a :class:`Solver`: a function with the one signature

    run(system, *, x0, monitor, **options) -> (x, SolveInfo)

(``x`` = values on Ω's box, ``C×h×w``) and the table of the options it takes, each with its default and its
check. :func:`dipnb.poisson.solvers.solve` validates the options against that table before any work starts, so
an option a solver does not take is refused, never ignored.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from dipnb import checks
from dipnb.checks import Rule
from dipnb.poisson.guidance import PoissonSystem
from dipnb.poisson.operators import apply_A

#: ``callback(step, x, value) -> bool | None``: ``x`` is the current estimate (values on Ω's box for
#: :func:`~dipnb.poisson.solvers.solve`, the full composited image for the edits); ``value`` is the relative
#: residual (mgpcg, dst) or the loss (adam). Returning True stops the run early.
StepCallback = Callable[[int, torch.Tensor, float], Any]


class ConvergenceWarning(UserWarning):
    """A solve ended without reaching its tolerance (``strict=True`` raises :class:`NotConvergedError`)."""


class NotConvergedError(RuntimeError):
    """Raised instead of :class:`ConvergenceWarning` when ``strict=True``."""


@dataclass
class SolveInfo:
    """How a solve went. ``rel_residual`` = max over channels of ‖b − A f‖₂ / ‖b‖₂ (eq. 7's system).

    ``converged``: the tolerance ``tol`` was reached (``None`` when the solver ran without one: Adam's step
    budget). ``stopped_early``: the callback asked to stop.
    """

    solver: str
    iterations: int
    rel_residual: float
    seconds: float
    converged: bool | None = True
    stopped_early: bool = False
    history: list[float] = field(default_factory=list)  #: residual (or loss) per iteration / preview
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        note = {True: "", False: " (not converged)", None: " (no tolerance: ran its step budget)"}[self.converged]
        return (f"{self.solver}: {self.iterations} iterations, rel. residual {self.rel_residual:.2e}, "
                f"{self.seconds * 1e3:.1f} ms" + note + (" (stopped early)" if self.stopped_early else ""))


def relative_residual(system: PoissonSystem, x: torch.Tensor) -> torch.Tensor:
    """Per-channel ‖b − A x‖₂ / ‖b‖₂ for values ``x`` on the box (only Ω's pixels count): the one definition
    every solver reports."""
    on_omega = system.omega_float
    r = system.b - apply_A(x * on_omega, system.D, on_omega)
    return r.flatten(1).norm(dim=1) / system.b.flatten(1).norm(dim=1).clamp_min(1e-30)


def user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside :mod:`dipnb` (the user's line)."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("dipnb."):
        frame, level = frame.f_back, level + 1
    return level


class Monitor:
    """The user's callback, called every ``every`` steps: ``monitor.due(step)`` tells a solver whether to build
    the estimate for it, ``monitor(step, x, value)`` calls it and returns True when it asks to stop."""

    def __init__(self, callback: StepCallback | None = None, every: int = 1) -> None:
        self.callback, self.every = callback, every

    def due(self, step: int) -> bool:
        return self.callback is not None and step % self.every == 0

    def __call__(self, step: int, x: torch.Tensor, value: float) -> bool:
        return bool(self.callback(step, x, float(value)))


# ------------------------------------------------------------------------------------------------------------
# options: a default and a check per name
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """One solver option: its default and a check ``check(value) -> str | None`` (an error text or None; a
    :class:`dipnb.checks.Rule` is one)."""

    default: Any
    check: Callable[[Any], str | None]
    doc: str = ""


def integer(lo: int, hi: int | None = None) -> Rule:
    """Check: an int in ``[lo, hi]`` (:func:`dipnb.checks.integer`)."""
    return checks.integer(lo, hi)


def real(lo: float, hi: float, lo_open: bool = True, hi_open: bool = False, optional: bool = False) -> Rule:
    """Check: a finite real number in the interval given, open at ``lo`` by default (:func:`dipnb.checks.real`)."""
    return checks.real(lo, hi, lo_open=lo_open, hi_open=hi_open, optional=optional)


choice = checks.choice  #: Check: one of the values given (:func:`dipnb.checks.choice`).


@dataclass(frozen=True)
class Solver:
    """A solver: its name, its function and the options it takes (see the module docstring)."""

    name: str
    run: Callable[..., tuple[torch.Tensor, SolveInfo]]
    options: dict[str, Option]
    callback_every: int = 1  #: default callback period (steps)
    summary: str = ""

    def describe(self) -> str:
        """One line per option: name, default and what it does (what ``validate`` checks against)."""
        lines = [f"{self.name}: {self.summary}"]
        lines += [f"  {k} = {o.default!r}: {o.doc}" for k, o in self.options.items()]
        return "\n".join(lines)

    def validate(self, options: dict[str, Any], chosen_by: str = "") -> dict[str, Any]:
        """Defaults filled in, every value checked; raises ``TypeError`` for an option this solver does not take
        and ``ValueError`` for a value out of range, before any work."""
        how = f" ({chosen_by})" if chosen_by else ""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            takes = ", ".join(self.options) or "no options"
            raise TypeError(f"solver {self.name!r}{how} takes no option {', '.join(map(repr, unknown))}; "
                            f"it takes: {takes}")
        out = {k: o.default for k, o in self.options.items()}
        out.update(options)
        for k, v in options.items():
            msg = self.options[k].check(v)
            if msg is not None:
                raise ValueError(f"solver {self.name!r}: option {k} {msg}")
        return out


__all__ = ["ConvergenceWarning", "Monitor", "NotConvergedError", "Option", "SolveInfo", "Solver", "StepCallback",
           "choice", "integer", "real", "relative_residual", "user_stacklevel"]
