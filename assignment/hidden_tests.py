"""Hidden tests: the autograder's side (``make grade`` loads them in its checker process, never in a student's).

Other inputs than the public checks, compared with the reference answers of ``reference.py`` (beside this
file, also never shipped), and every answer runs under ``forbid_dipnb_calls``: an answer that calls
the workbook package's own implementation (``polygon_mask``, ``seamless_clone``, ``FCN``, …) fails.
"""

from __future__ import annotations

import numpy as np
import torch

import importlib.util
import sys
from pathlib import Path

from dipnb.assignment import public


def _reference():
    """``reference.py`` beside this file (the grader's checker has loaded it already; tests load it here)."""
    if "dipnb_reference" in sys.modules:
        return sys.modules["dipnb_reference"]
    spec = importlib.util.spec_from_file_location("dipnb_reference", Path(__file__).with_name("reference.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["dipnb_reference"] = module
    spec.loader.exec_module(module)
    return module


ref = _reference()


def solve_eq7(fn) -> None:
    ref.require_callable(fn, "solve_eq7")
    gen = torch.Generator().manual_seed(7)
    g = torch.rand(3, 7, 9, generator=gen, dtype=torch.float64)
    fstar = torch.rand(3, 7, 9, generator=gen, dtype=torch.float64)
    blob = torch.rand(7, 9, generator=gen) < 0.6
    blob[3, 4] = True
    with ref.forbid_dipnb_calls("solve_eq7", __file__, ref.__file__):
        ref.check_eq7(fn, g, fstar, blob, "an irregular Ω touching the border, 3 channels")
        ref.check_eq7(fn, g[:1], fstar[:1], ~blob, "its complement, 1 channel")


def create_mask_from_points(fn) -> None:
    ref.require_callable(fn, "create_mask_from_points")
    rng = np.random.default_rng(11)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 11))
    radii = rng.uniform(6, 15, 11)
    blob = np.stack([24 + radii * np.cos(angles), 17 + radii * np.sin(angles)], 1).round().astype(np.int64)
    concave = np.array([[2, 2], [20, 3], [11, 10], [21, 18], [3, 17]])
    with ref.forbid_dipnb_calls("create_mask_from_points", __file__, ref.__file__):
        ref.check_mask(fn, blob, 35, 50, "an irregular 11-gon in a 35×50 image")
        ref.check_mask(fn, concave, 21, 25, "a concave pentagon")
        ref.check_mask(fn, concave[:, ::-1].copy(), 25, 21, "the same pentagon with x and y swapped")


def cal_laplacian_loss(fn) -> None:
    ref.require_callable(fn, "cal_laplacian_loss")
    cases = [ref.laplacian_case(s, (33, 40), (45, 31), (9, 4, 15, 20), (-6, 5), mask_seed=3) for s in (5, 6, 7)]
    with ref.forbid_dipnb_calls("cal_laplacian_loss", __file__, ref.__file__):
        ref.check_laplacian_loss(fn, cases)


def mixed_gradient_field(fn) -> None:
    ref.require_callable(fn, "mixed_gradient_field")
    gen = torch.Generator().manual_seed(4)
    g = torch.rand(1, 9, 5, generator=gen, dtype=torch.float64)
    t = torch.rand(1, 9, 5, generator=gen, dtype=torch.float64) * 1.5
    with ref.forbid_dipnb_calls("mixed_gradient_field", __file__, ref.__file__):
        ref.check_mixed_field(fn, g, t)
        ref.check_mixed_field(fn, torch.rand(3, 12, 10, generator=gen), torch.rand(3, 12, 10, generator=gen))


def FullyConvNetwork(cls) -> None:  # noqa: N802
    ref.require_callable(cls, "FullyConvNetwork")
    with ref.forbid_dipnb_calls("FullyConvNetwork", __file__, ref.__file__):
        ref.check_fcn(cls, [(3, 3, 128, 128), (2, 3, 64, 64)], seed=3, steps=4)


def train_one_epoch(fn) -> None:
    ref.require_callable(fn, "train_one_epoch")
    with ref.forbid_dipnb_calls("train_one_epoch", __file__, ref.__file__):
        ref.check_train_one_epoch(fn, seed=5, epoch=7, num_epochs=9)


def validate(fn) -> None:
    ref.require_callable(fn, "validate")
    with ref.forbid_dipnb_calls("validate", __file__, ref.__file__):
        ref.check_validate(fn, seed=5, epoch=7, num_epochs=9)


def discriminator_loss(fn) -> None:
    ref.require_callable(fn, "discriminator_loss")
    with ref.forbid_dipnb_calls("discriminator_loss", __file__, ref.__file__):
        ref.check_discriminator_loss(fn, seeds=[3, 4, 5])


def generator_loss(fn) -> None:
    ref.require_callable(fn, "generator_loss")
    with ref.forbid_dipnb_calls("generator_loss", __file__, ref.__file__):
        ref.check_generator_loss(fn, seeds=[3, 4, 5], lambdas=[100.0, 10.0, 1.0])
