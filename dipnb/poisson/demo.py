"""Ready-made problems on offline photos, for the notebooks and ``benchmarks/poisson.py``."""

from __future__ import annotations

import numpy as np
import torch

from dipnb.images import resize, sample_image
from dipnb.poisson.mask import polygon_mask


def star_polygon(size: int, vertices: int = 14, seed: int = 0, margin: int = 10) -> np.ndarray:
    """An irregular star-shaped polygon whose bounding box is ``size``×``size`` (its mask's: 1–3 pixels less),
    offset by ``margin``."""
    rng = np.random.default_rng(seed)
    ang = np.sort(rng.uniform(0, 2 * np.pi, vertices))
    r = rng.uniform(0.6, 1.0, vertices)
    quarter = [0, vertices // 4, vertices // 2, 3 * vertices // 4]  # the 4 extreme vertices fix the box
    ang[quarter] = [0, np.pi / 2, np.pi, 3 * np.pi / 2]
    r[quarter] = 1.0
    c = margin + (size - 1) / 2
    return np.stack([c + (size - 1) / 2 * r * np.cos(ang), c + (size - 1) / 2 * r * np.sin(ang)], 1)


def demo_problem(size: int, target_size: int | None = None, seed: int = 0, vertices: int = 14):
    """The astronaut's face (source) into the coffee photo (target), Ω an irregular polygon with an S×S box.

    Returns ``(source, target, mask, offset, points)``; the target is ``target_size``² (default ≈ 1.25 S).
    """
    T = target_size or int(size * 1.25) + 20
    src = resize(sample_image("astronaut"), size + 20)
    tgt = sample_image("coffee")
    tgt = torch.nn.functional.interpolate(tgt[None], size=(T, T), mode="bilinear", antialias=T < 400,
                                          align_corners=False)[0].clamp(0, 1).contiguous()
    pts = star_polygon(size, vertices, seed)
    mask = polygon_mask(pts, tuple(src.shape[-2:]))
    off = ((T - size) // 2 - 10, (T - size) // 2 - 10)
    return src.contiguous(), tgt, mask, off, pts


__all__ = ["demo_problem", "star_polygon"]
