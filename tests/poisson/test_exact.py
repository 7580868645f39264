"""seamless_clone against a scipy sparse direct solve of eq. 7 (assembled independently in tests/poisson/poisson_reference.py)."""

from __future__ import annotations

import warnings

import pytest
import torch

from dipnb.poisson import polygon_mask, seamless_clone

pytest.importorskip("scipy")
from poisson_reference import reference_clone  # noqa: E402  (tests/poisson/poisson_reference.py)
from conftest import random_pair  # noqa: E402  (tests/conftest.py: the shared test images)

TOL_F32 = 0.05 / 255  # the accuracy target, in [0, 1] units
TOL_F64 = 1e-9


def _images(seed=0, c=3, hs=30, ws=40, ht=36, wt=34):
    return random_pair((c, hs, ws), (c, ht, wt), seed)


POLY = [(2, 1), (25, 3), (30, 25), (18, 14), (5, 28)]


def _err(out, ref):
    return float((out.double() - ref).abs().max())


@pytest.mark.parametrize("mode", ["import", "mixed", "monochrome"])
@pytest.mark.parametrize("offset", [(0, 0), (4, 6), (-2, -1)])
def test_matches_direct_solve_float64(mode, offset):
    src, tgt = _images()
    m = polygon_mask(POLY, src.shape[-2:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (-2, -1) clips a few pixels: tested elsewhere
        out, info = seamless_clone(src.double(), tgt.double(), m, offset, mode=mode, return_info=True, tol=1e-13)
        ref = reference_clone(src, tgt, m, offset, mode)
    assert out.dtype == torch.float64
    assert info.solver == "mgpcg" and info.rel_residual <= 1e-13
    assert _err(out, ref) < TOL_F64


@pytest.mark.parametrize("mode", ["import", "mixed"])
def test_matches_direct_solve_float32_default(mode):
    src, tgt = _images(1)
    m = polygon_mask(POLY, src.shape[-2:])
    out = seamless_clone(src, tgt, m, (3, 2), mode=mode)
    assert out.dtype == torch.float32
    assert _err(out, reference_clone(src, tgt, m, (3, 2), mode)) < TOL_F32


@pytest.mark.parametrize("offset", [(0, 0), (-1, 0), (4, 6)])
def test_mask_touching_every_border(offset):
    """Ω reaches the image border: N_p has only the neighbours inside the target (no wrap, no padding)."""
    src, tgt = _images(2, hs=36, ws=34)
    m = torch.zeros(36, 34, dtype=torch.bool)
    m[0:30, 0:20] = True  # touches the top and left borders of source and target
    m[20:36, 10:34] = True  # and the bottom and right ones
    m[5, 5] = False  # one hole
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = seamless_clone(src.double(), tgt.double(), m, offset, tol=1e-13)
        ref = reference_clone(src, tgt, m, offset)
    assert _err(out, ref) < TOL_F64


def test_holes_several_components_and_thin_lines():
    src, tgt = _images(3, hs=40, ws=40, ht=40, wt=40)
    m = torch.zeros(40, 40, dtype=torch.bool)
    m[3:20, 3:20] = True
    m[8:12, 8:12] = False  # a hole
    m[25:38, 22:37] = True  # a second component
    m[30, 2:20] = True  # a 1-px line
    m[2:35, 38] = True  # a 1-px column near the border
    out = seamless_clone(src.double(), tgt.double(), m, tol=1e-13)
    assert _err(out, reference_clone(src, tgt, m)) < TOL_F64


def test_gray_images_and_rectangle_fast_path():
    src, tgt = _images(4, c=1)
    rect = torch.zeros(30, 40, dtype=torch.bool)
    rect[5:20, 8:30] = True
    ref = reference_clone(src, tgt, rect, (2, 3))
    for solver in ("auto", "dst", "mgpcg"):
        out, info = seamless_clone(src.double(), tgt.double(), rect, (2, 3), solver=solver, return_info=True,
                                   **({"tol": 1e-13} if solver == "mgpcg" else {}))
        assert out.shape == (1, 36, 34)
        assert _err(out, ref) < TOL_F64, solver
        assert info.solver == ("dst" if solver == "auto" else solver)


def test_outside_pixels_bit_identical_and_inputs_unmodified():
    src, tgt = _images(5)
    m = polygon_mask(POLY, src.shape[-2:])
    copies = (src.clone(), tgt.clone(), m.clone())
    for mode in ("import", "mixed", "monochrome"):
        for solver in ("mgpcg", "adam"):
            out = seamless_clone(src, tgt, m, (3, 2), mode=mode, solver=solver,
                                 **({"max_steps": 60} if solver == "adam" else {}))
            placed = torch.zeros(36, 34, dtype=torch.bool)
            placed[2:32, 3:34] = m[:, :31]
            assert torch.equal(out[:, ~placed], tgt[:, ~placed])
            assert not torch.equal(out[:, placed], tgt[:, placed])
    assert torch.equal(src, copies[0]) and torch.equal(tgt, copies[1]) and torch.equal(m, copies[2])


def test_results_are_not_clamped():
    src = torch.zeros(1, 20, 20)
    src[:, 8:12, 8:12] = 1.0  # a bright square on black: strong gradients
    tgt = torch.full((1, 20, 20), 0.9)
    m = torch.zeros(20, 20, dtype=torch.bool)
    m[5:15, 5:15] = True
    out = seamless_clone(src, tgt, m)
    assert float(out.max()) > 1.0  # 0.9 + the square's contrast


def test_uint8_and_numpy_inputs():
    import numpy as np

    rng = np.random.default_rng(0)
    s8 = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    t8 = rng.integers(0, 256, (36, 34, 3), dtype=np.uint8)
    m = polygon_mask(POLY, (30, 40))
    out = seamless_clone(s8, t8, m.numpy(), (1, 1))
    ref = reference_clone(torch.from_numpy(s8).permute(2, 0, 1) / 255.0, torch.from_numpy(t8).permute(2, 0, 1) / 255.0,
                          m, (1, 1))
    assert _err(out, ref) < TOL_F32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_cuda_matches_direct_solve():
    src, tgt = _images(6)
    m = polygon_mask(POLY, src.shape[-2:])
    ref = reference_clone(src, tgt, m, (3, 2), "mixed")
    out, info = seamless_clone(src.cuda(), tgt.cuda(), m.cuda(), (3, 2), mode="mixed", return_info=True)
    assert out.device.type == "cuda"
    assert _err(out.cpu(), ref) < TOL_F32
    rect = torch.zeros_like(m)
    rect[4:20, 5:30] = True
    out = seamless_clone(src.cuda(), tgt.cuda(), rect, (3, 2), solver="dst")
    assert _err(out.cpu(), reference_clone(src, tgt, rect, (3, 2))) < TOL_F32
    out = seamless_clone(src.cuda(), tgt.cuda(), m, (3, 2), solver="adam", max_steps=100)
    assert out.device.type == "cuda"
