"""Public checks: what ``grader.check("<question>")`` runs in the student edition.

Each raises an :class:`~dipnb.assignment.reference.Fail` (an ``AssertionError``) whose message says what is
wrong. The hidden tests (only in the autograder) run the same comparisons on other inputs, and also fail an
answer that calls the workbook package instead of computing the result.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from dipnb.assignment import reference as ref


def solve_eq7(fn: Callable) -> None:
    ref.require_callable(fn, "solve_eq7")
    gen = torch.Generator().manual_seed(0)
    g, fstar = torch.rand(1, 5, 5, generator=gen, dtype=torch.float64), torch.rand(1, 5, 5, generator=gen,
                                                                                   dtype=torch.float64)
    for label, mask in (("centre 3×3", _box(5, 5, 1, 1, 3, 3)), ("top-left corner 3×3", _box(5, 5, 0, 0, 3, 3))):
        check_eq7(fn, g, fstar, mask, label)


def _box(H: int, W: int, y0: int, x0: int, h: int, w: int) -> torch.Tensor:
    m = torch.zeros(H, W, dtype=torch.bool)
    m[y0:y0 + h, x0:x0 + w] = True
    return m


def check_eq7(fn: Callable, g: torch.Tensor, fstar: torch.Tensor, mask: torch.Tensor, label: str) -> None:
    name = "solve_eq7"
    f = fn(g.clone(), fstar.clone(), mask.clone())
    ref.require(isinstance(f, torch.Tensor), f"{name} must return a tensor, got {type(f).__name__}")
    ref.require(tuple(f.shape) == tuple(g.shape), f"{name} must return f with the shape of g, {tuple(g.shape)}; "
                                                  f"got {tuple(f.shape)}")
    ref.require(torch.equal(f[:, ~mask].double(), fstar[:, ~mask].double()),
                f"{name} ({label}): outside Ω the result must be f* unchanged.")
    expected = ref.solve_eq7(g, fstar, mask)
    err = float((f.double() - expected).abs().max())
    ref.require(err < 1e-8, f"{name} ({label}): inside Ω the result is off by up to {err:.3g} — every row of eq. 7 "
                            "has |N_p| (neighbours inside the image) on the diagonal, −1 per neighbour in Ω, and "
                            "Σ v_pq + the f* values of neighbours outside Ω on the right-hand side.")


def create_mask_from_points(fn: Callable) -> None:
    ref.require_callable(fn, "create_mask_from_points")
    square = np.array([[2, 1], [9, 1], [9, 4], [2, 4]])
    ref.check_mask(fn, square, 6, 12, "a 6×12 image with a rectangle")
    tri = np.array([[3, 2], [30, 8], [8, 20]])
    ref.check_mask(fn, tri, 24, 36, "a triangle in a 24×36 image")


def cal_laplacian_loss(fn: Callable) -> None:
    ref.require_callable(fn, "cal_laplacian_loss")
    cases = [ref.laplacian_case(s, (24, 28), (30, 26), (5, 6, 12, 14), (4, 3)) for s in (0, 1, 2)]
    ref.check_laplacian_loss(fn, cases)


def mixed_gradient_field(fn: Callable) -> None:
    ref.require_callable(fn, "mixed_gradient_field")
    gen = torch.Generator().manual_seed(0)
    ref.check_mixed_field(fn, torch.rand(3, 6, 7, generator=gen), torch.rand(3, 6, 7, generator=gen))


def FullyConvNetwork(cls: Callable) -> None:  # noqa: N802  the template's class name
    ref.require_callable(cls, "FullyConvNetwork")
    ref.check_fcn(cls, [(1, 3, 256, 256), (2, 3, 64, 64)], seed=0)


def train_one_epoch(fn: Callable) -> None:
    ref.require_callable(fn, "train_one_epoch")
    ref.check_train_one_epoch(fn, seed=0)


def validate(fn: Callable) -> None:
    ref.require_callable(fn, "validate")
    ref.check_validate(fn, seed=0)


def discriminator_loss(fn: Callable) -> None:
    ref.require_callable(fn, "discriminator_loss")
    ref.check_discriminator_loss(fn, seeds=[0, 1])


def generator_loss(fn: Callable) -> None:
    ref.require_callable(fn, "generator_loss")
    ref.check_generator_loss(fn, seeds=[0, 1], lambdas=[100.0, 100.0])
