"""What every solver returns: the solution on the box and a :class:`SolveInfo`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

#: ``callback(step, f, loss) -> bool | None``: ``f`` is the current full composited image ``C×Ht×Wt``;
#: returning True stops the run early.
Callback = Callable[[int, torch.Tensor, float], Any]


@dataclass
class SolveInfo:
    """How a solve went. ``rel_residual`` = max over channels of ‖b − A f‖₂ / ‖b‖₂ (eq. 7's system)."""

    solver: str
    iterations: int
    rel_residual: float
    seconds: float
    converged: bool = True
    stopped_early: bool = False
    history: list[float] = field(default_factory=list)  #: residual (or loss) per iteration / preview
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return (f"{self.solver}: {self.iterations} iterations, rel. residual {self.rel_residual:.2e}, "
                f"{self.seconds * 1e3:.1f} ms" + ("" if self.converged else " (not converged)")
                + (" (stopped early)" if self.stopped_early else ""))


__all__ = ["Callback", "SolveInfo"]
