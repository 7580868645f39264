"""The paper's other edits: texture flattening (eqs. 14–15), illumination (eq. 16), colour change, tiling."""

from __future__ import annotations

import pytest
import torch

from dipnb.images import sample_image
from dipnb.poisson import color_change, illumination_change, polygon_mask, seamless_tile, texture_flatten
from dipnb.poisson.operators import laplacian_slice


@pytest.fixture(scope="module")
def photo():
    img = sample_image("chelsea", 96)
    m = polygon_mask([(20, 10), (70, 12), (75, 55), (25, 60)], img.shape[-2:])
    return img, m


def _unchanged_outside(out, img, m):
    return torch.equal(out[:, ~m], img[:, ~m])


def test_texture_flatten_keeps_edges_only(photo):
    img, m = photo
    none = torch.zeros_like(m)
    flat = texture_flatten(img.double(), m, edges=none, tol=1e-12)
    assert _unchanged_outside(flat, img.double(), m)
    # no edges: v = 0, so f is discrete-harmonic inside Ω (Laplace's equation, interior pixels)
    inner = m.clone()
    inner[1:-1, 1:-1] &= m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    lap = laplacian_slice(flat)[:, inner[1:-1, 1:-1]]
    assert float(lap.abs().max()) < 1e-9
    # edges everywhere: v = ∇f*, so the image comes back unchanged
    same = texture_flatten(img.double(), m, edges=torch.ones_like(m), tol=1e-12)
    assert float((same - img.double()).abs().max()) < 1e-9
    # Canny edges: flatter than the original inside Ω but not constant
    out = texture_flatten(img, m)
    g_in = lambda x: (x[:, 1:, :] - x[:, :-1, :]).abs()[:, m[1:, :] & m[:-1, :]].mean()  # noqa: E731
    assert 0 < float(g_in(out)) < float(g_in(img))


def test_illumination_change_eq15(photo):
    img, m = photo
    out, info = illumination_change(img, m, return_info=True)
    assert _unchanged_outside(out, img, m) and info.rel_residual <= 3e-5
    # β = 0: v = ∇ log f, the image is reproduced
    same = illumination_change(img.double(), m, beta=0.0, tol=1e-12)
    assert float((same - img.double()).abs().max()) < 1e-8
    # β > 0 compresses large log-gradients and lifts small ones: their spread inside Ω shrinks
    def spread(x):
        lg = torch.log(x.clamp_min(0) + 1e-3)
        d = (lg[:, :, 1:] - lg[:, :, :-1]).abs()[:, m[:, 1:] & m[:, :-1]]
        return float(d.std())
    assert spread(out) < spread(img)
    with pytest.raises(ValueError, match="alpha"):
        illumination_change(img, m, alpha=0)
    with pytest.raises(ValueError, match="non-negative"):
        illumination_change(img - 0.5, m)


def test_color_change(photo):
    img, m = photo
    same = color_change(img.double(), m, factors=(1, 1, 1), tol=1e-12)
    assert float((same - img.double()).abs().max()) < 1e-9
    red = color_change(img.double(), m, factors=(1.5, 0.5, 0.5), tol=1e-12)
    assert _unchanged_outside(red, img.double(), m)
    # g = the recoloured image, so inside Ω the Laplacian of each channel is the factor times the original's
    inner = m.clone()
    inner[1:-1, 1:-1] &= m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    inner[0, :] = inner[-1, :] = False
    inner[:, 0] = inner[:, -1] = False
    lap_out = laplacian_slice(red)[:, inner[1:-1, 1:-1]]
    lap_in = laplacian_slice(img.double())[:, inner[1:-1, 1:-1]]
    fac = torch.tensor([1.5, 0.5, 0.5], dtype=torch.float64)[:, None]
    assert torch.allclose(lap_out, fac * lap_in, atol=1e-9)
    ratio = lambda x: float(x[0][m].mean() / x[1][m].mean())  # noqa: E731
    assert ratio(red) > ratio(img.double())  # redder inside Ω, though the boundary keeps the old colours
    hue = color_change(img, m, recolor=lambda x: x[[2, 1, 0]])
    assert _unchanged_outside(hue, img, m)
    with pytest.raises(ValueError, match="one value per channel"):
        color_change(img, m, factors=(1, 2))


def test_seamless_tile_has_matching_borders():
    img = sample_image("brick", 48)
    out, info = seamless_tile(img, return_info=True)
    assert info.solver == "dst"  # Ω is the interior rectangle
    assert torch.equal(out[:, 0, :], out[:, -1, :]) and torch.equal(out[:, :, 0], out[:, :, -1])
    # tiling 2×2: the seam's jump is no bigger than the image's own typical neighbour difference
    tiled = torch.cat([torch.cat([out, out], 2), torch.cat([out, out], 2)], 1)
    jump = (tiled[:, 47, :] - tiled[:, 48, :]).abs().mean()
    typical = (out[:, 1:, :] - out[:, :-1, :]).abs().mean()
    assert float(jump) <= 1.5 * float(typical)
    with pytest.raises(ValueError, match="at least 3×3"):
        seamless_tile(torch.rand(3, 2, 5))


def test_paste_and_demo_problem():
    from dipnb.poisson import demo_problem, paste, seamless_clone

    src, tgt, m, off, pts = demo_problem(40)
    ys, xs = torch.nonzero(m, as_tuple=True)
    assert 37 <= int(ys.max() - ys.min()) + 1 <= 40 and 37 <= int(xs.max() - xs.min()) + 1 <= 40  # ≈ S×S box
    naive = paste(src, tgt, m, off)
    placed = (naive != tgt).any(0)
    assert torch.equal(naive[:, ys + off[1], xs + off[0]], src[:, ys, xs])  # Ω's pixels copied as they are
    omega = torch.zeros_like(placed)
    omega[ys + off[1], xs + off[0]] = True
    assert not bool((placed & ~omega).any())  # paste changes nothing outside Ω
    out = seamless_clone(src, tgt, m, off)
    assert torch.equal(out[:, ~omega], tgt[:, ~omega])
