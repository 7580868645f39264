"""polygon_mask: pixel centres, even-odd rule, agreement with PIL, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from dipnb.poisson import check_mask, polygon_area, polygon_mask


def _pil_mask(pts, h, w):
    im = Image.new("L", (w, h))
    ImageDraw.Draw(im).polygon([tuple(map(float, p)) for p in pts], fill=1)
    return np.asarray(im) > 0


def _dist_to_outline(px, py, pts):
    a, b = pts, np.roll(pts, -1, 0)
    d = np.full(px.shape, np.inf)
    for (x0, y0), (x1, y1) in zip(a, b):
        vx, vy = x1 - x0, y1 - y0
        t = np.clip(((px - x0) * vx + (py - y0) * vy) / (vx * vx + vy * vy), 0, 1)
        d = np.minimum(d, np.hypot(px - x0 - t * vx, py - y0 - t * vy))
    return d


def test_square_uses_pixel_centres_top_left_rule():
    m = polygon_mask([(0, 0), (3, 0), (3, 3), (0, 3)], (5, 6))
    assert m.dtype == torch.bool and m.shape == (5, 6)
    expected = torch.zeros(5, 6, dtype=torch.bool)
    expected[0:3, 0:3] = True  # centres on the left/top edge are in, on the right/bottom edge out
    assert torch.equal(m, expected)
    # half-pixel square around pixel (2, 1) contains exactly that centre
    m = polygon_mask([(1.5, 0.5), (2.5, 0.5), (2.5, 1.5), (1.5, 1.5)], (3, 4))
    assert m.nonzero().tolist() == [[1, 2]]


def test_agrees_with_pil_except_on_the_outline():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(8, 60, 2))
        n = int(rng.integers(3, 12))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(3, max(h, w) / 1.5, n)
        c = rng.uniform(0, [w, h])
        pts = np.stack([c[0] + r * np.cos(ang), c[1] + r * np.sin(ang)], 1)
        try:
            m = polygon_mask(pts, (h, w)).numpy()
        except ValueError:
            continue
        ref = _pil_mask(pts, h, w)
        ii, jj = np.nonzero(m != ref)
        if ii.size:  # PIL also paints the outline and rounds vertices: differences hug the outline
            assert _dist_to_outline(jj.astype(float), ii.astype(float), pts).max() <= 1.6
        checked += 1
    assert checked > 40


def test_even_odd_rule_makes_a_hole_in_a_pentagram():
    c, R = 20.0, 18.0
    star = [(c + R * np.sin(4 * np.pi * k / 5), c - R * np.cos(4 * np.pi * k / 5)) for k in range(5)]
    m = polygon_mask(star, (41, 41))
    assert not m[20, 20]  # the centre is crossed twice: outside by even-odd
    assert m[6, 20]  # a point of the star is inside


def test_vertices_outside_the_image_are_clipped_and_inputs_accepted():
    m = polygon_mask(np.array([[-10.0, -10.0], [50.0, -10.0], [50.0, 50.0], [-10.0, 50.0]]), (8, 9))
    assert bool(m.all())
    t = torch.tensor([[1.0, 1.0], [6.0, 1.0], [6.0, 5.0], [1.0, 1.0]])  # repeated closing vertex
    assert int(polygon_mask(t, (8, 9)).sum()) == int(polygon_mask(t[:3], (8, 9)).sum())
    assert polygon_area([(0, 0), (4, 0), (4, 2)]) == pytest.approx(4.0)


def test_large_mask_is_vectorised():
    pts = [(100, 50), (1900, 300), (1700, 1900), (200, 1500)]
    m = polygon_mask(pts, (2000, 2000))
    area = abs(polygon_area(pts))
    assert abs(int(m.sum()) - area) < 4 * 2000  # within a perimeter's worth of pixels


@pytest.mark.parametrize("pts, size, exc, match", [
    ([(0, 0), (5, 5)], (10, 10), ValueError, "at least 3 distinct"),
    ([(0, 0), (5, 5), (5, 5), (0, 0)], (10, 10), ValueError, "at least 3 distinct"),
    ([(0, 0), (2, 2), (4, 4)], (10, 10), ValueError, "zero area"),
    ([(20, 20), (30, 20), (30, 30)], (10, 10), ValueError, "entirely outside"),
    ([(-9, -9), (-5, -9), (-5, -5)], (10, 10), ValueError, "entirely outside"),
    ([(1.1, 1.1), (1.4, 1.1), (1.4, 1.4)], (10, 10), ValueError, "no pixel centre"),
    ([(0, 0), (5, float("nan")), (5, 5)], (10, 10), ValueError, "NaN"),
    ([(0, 0, 1), (5, 0, 1), (5, 5, 1)], (10, 10), ValueError, "shape"),
    ([("a", 0), (5, 0), (5, 5)], (10, 10), TypeError, "pairs"),
    ([(0, 0), (5, 0), (5, 5)], (10,), TypeError, r"\(H, W\)"),
    ([(0, 0), (5, 0), (5, 5)], (0, 10), ValueError, "positive"),
])
def test_bad_polygons(pts, size, exc, match):
    with pytest.raises(exc, match=match):
        polygon_mask(pts, size)


def test_check_mask():
    m = torch.zeros(4, 5, dtype=torch.bool)
    m[1, 1] = True
    assert torch.equal(check_mask(m.float(), (4, 5)), m)
    assert torch.equal(check_mask(m[None].numpy(), (4, 5)), m)
    with pytest.raises(ValueError, match="empty"):
        check_mask(torch.zeros(4, 5), (4, 5))
    with pytest.raises(ValueError, match="source shape"):
        check_mask(m, (5, 4))
    with pytest.raises(ValueError, match="0/1"):
        check_mask(m.float() * 0.5 + 0.2, (4, 5))
    with pytest.raises(TypeError, match="bool tensor"):
        check_mask([[1, 0]], (1, 2))
