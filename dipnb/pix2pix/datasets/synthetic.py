"""Offline synthetic facades: procedural label maps in the facades palette, rendered into photo-like images.

No download needed: :func:`make_synthetic_facades` writes pix2pix pairs (photo A left, label map B right,
JPEG quality 95 with 4:2:0 chroma like the real facades, so label colours blur at class edges the same way)
into ``train/``, ``val/``, ``test/``. Each image is a function of (seed, split,
index) only, so the set is reproducible and adding images does not change the earlier ones.

*Layout* (:func:`facade_layout`): a building (class *facade*) in front of the *background*, a *cornice* at the
roof line, n floors of a regular window grid (*window* with *sill*s, optional *blind*s / shutters, *deco*
pediments, *balcony* slabs, *molding* bands between floors, *pillar*s between bays) and a ground floor with a
*door* and *shop* windows — the 12 CMP classes.

*Rendering* (:func:`render_photo`): per-image random colours per class (plaster, stone, glass, wood, metal),
low-frequency dirt/illumination, sensor noise, stone courses, window frames and glass reflections, shadows
under sills, cornices, moldings and balconies, the dark recess at the top of windows, and sometimes the black
corner that rectifying a photo leaves. Everything is vectorised NumPy except painting the few dozen rectangles.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dipnb._io import list_images, replace_dir
from dipnb.pix2pix.facades import FACADES_CLASSES, FACADES_PALETTE

GENERATOR_VERSION = 2
MARKER = "SYNTHETIC.json"
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}

(BACKGROUND, FACADE, WINDOW, DOOR, CORNICE, SILL, BALCONY, BLIND, DECO, MOLDING, PILLAR, SHOP) = range(12)
assert FACADES_CLASSES[SHOP] == "shop" and FACADES_CLASSES[SILL] == "sill"

#: detail codes of the second layer painted with the labels (photo only, not a class)
_FRAME, _MULLION = 1, 2


# --------------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------------
def facade_layout(rng: np.random.Generator, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """A random facade label map (size×size uint8 class indices) and its photo-detail layer (uint8)."""
    S = size
    lab = np.zeros((S, S), np.uint8)
    det = np.zeros((S, S), np.uint8)

    def box(y0: float, y1: float, x0: float, x1: float, value: int, layer: np.ndarray = lab) -> None:
        a, b = max(int(round(y0)), 0), min(int(round(y1)), S)
        c, d = max(int(round(x0)), 0), min(int(round(x1)), S)
        if b > a and d > c:
            layer[a:b, c:d] = value

    u = S / 256.0  # one "pixel" of the 256² design
    bx0 = rng.uniform(0, 0.1) * S if rng.random() < 0.6 else 0.0
    bx1 = S - (rng.uniform(0, 0.1) * S if rng.random() < 0.6 else 0.0)
    top = rng.uniform(0.02, 0.22) * S
    box(top, S, bx0, bx1, FACADE)
    # roof cornice, slightly overhanging
    ch = rng.uniform(3, 9) * u
    box(top, top + ch, bx0 - 2 * u, bx1 + 2 * u, CORNICE)

    ground = rng.uniform(0.17, 0.3) * S
    n_floors = int(rng.integers(2, 6))
    body_top, body_bot = top + ch, S - ground
    fh = (body_bot - body_top) / n_floors
    n_cols = int(rng.integers(3, 8))
    bw = (bx1 - bx0) / n_cols
    ww = bw * rng.uniform(0.38, 0.62)
    wh = fh * rng.uniform(0.45, 0.68)
    wtop = fh * rng.uniform(0.12, 0.25)
    sill_h = rng.uniform(2, 4.5) * u

    if rng.random() < 0.35:  # pillars / pilasters between bays
        pw = rng.uniform(3, 7) * u
        for k in range(n_cols + 1):
            xc = bx0 + k * bw
            box(body_top, body_bot, xc - pw / 2, xc + pw / 2, PILLAR)
    shutters = rng.random() < 0.2
    roller = (not shutters) and rng.random() < 0.3
    pediments = rng.random() < 0.4
    balcony_style = rng.choice(["none", "per_window", "slab"], p=[0.35, 0.4, 0.25])
    molding_p = rng.uniform(0.3, 1.0)

    for f in range(n_floors):
        fy = body_top + f * fh
        if f > 0 and rng.random() < molding_p:
            box(fy - 2 * u, fy + rng.uniform(2, 7) * u, bx0, bx1, MOLDING)
        y0, y1 = fy + wtop, fy + wtop + wh
        bal_here = balcony_style != "none" and rng.random() < 0.5
        if bal_here and balcony_style == "slab":
            box(y1 - wh * 0.3, y1 + 3 * u, bx0 + bw * 0.1, bx1 - bw * 0.1, BALCONY)
        for c in range(n_cols):
            if rng.random() < 0.04:
                continue  # a blind wall here and there
            xc = bx0 + (c + 0.5) * bw
            x0, x1 = xc - ww / 2, xc + ww / 2
            box(y0, y1, x0, x1, WINDOW)
            # photo details: frame and mullions
            fr = max(1.0, 1.5 * u)
            box(y0, y0 + fr, x0, x1, _FRAME, det)
            box(y1 - fr, y1, x0, x1, _FRAME, det)
            box(y0, y1, x0, x0 + fr, _FRAME, det)
            box(y0, y1, x1 - fr, x1, _FRAME, det)
            box(y0, y1, xc - fr / 2, xc + fr / 2, _MULLION, det)
            box(y0 + wh * 0.3, y0 + wh * 0.3 + fr, x0, x1, _MULLION, det)
            if roller and rng.random() < 0.6:
                box(y0, y0 + wh * rng.uniform(0.15, 0.6), x0, x1, BLIND)
            if shutters:
                sw = ww * 0.42
                box(y0, y1, x0 - sw, x0, BLIND)
                box(y0, y1, x1, x1 + sw, BLIND)
            if pediments:
                box(y0 - rng.uniform(4, 8) * u, y0 - 1 * u, x0 - ww * 0.08, x1 + ww * 0.08, DECO)
            if bal_here and balcony_style == "per_window":
                box(y1 - wh * 0.32, y1 + 3 * u, x0 - ww * 0.15, x1 + ww * 0.15, BALCONY)
            else:
                box(y1, y1 + sill_h, x0 - ww * 0.08, x1 + ww * 0.08, SILL)

    # ground floor: a molding band, shops and/or a door
    if rng.random() < 0.75:
        box(body_bot - 2 * u, body_bot + rng.uniform(2, 5) * u, bx0, bx1, MOLDING)
    door_col = int(rng.integers(0, n_cols))
    shop = rng.random() < 0.6
    gy0 = body_bot + ground * rng.uniform(0.18, 0.3)
    for c in range(n_cols):
        xc = bx0 + (c + 0.5) * bw
        if c == door_col:
            dw = bw * rng.uniform(0.35, 0.6)
            box(gy0, S, xc - dw / 2, xc + dw / 2, DOOR)
        elif shop:
            sw = bw * rng.uniform(0.7, 0.9)
            box(gy0, S - ground * 0.05, xc - sw / 2, xc + sw / 2, SHOP)
        else:
            box(gy0, gy0 + (S - gy0) * 0.6, xc - ww / 2, xc + ww / 2, WINDOW)
            box(gy0 + (S - gy0) * 0.6, gy0 + (S - gy0) * 0.6 + sill_h, xc - ww * 0.55, xc + ww * 0.55, SILL)
    return lab, det


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Bilinear up-sampling of a (cells+1)² Gaussian grid to size×size (values ~ N(0, 1), smooth)."""
    g = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    t = np.linspace(0, cells, size, dtype=np.float32)
    i = np.minimum(t.astype(np.int64), cells - 1)
    w = (t - i)[:, None]
    rows = g[i] * (1 - w) + g[i + 1] * w  # size × (cells+1): interpolate along y
    return rows[:, i] * (1 - w.T) + rows[:, i + 1] * w.T  # then along x


@functools.lru_cache(maxsize=4)
def _noise_bank(size: int) -> np.ndarray:
    """A fixed 2size×2size×4 tile of N(0, 1) noise; images take random windows of it (fast, deterministic)."""
    return np.random.default_rng(12345).standard_normal((2 * size, 2 * size, 4), dtype=np.float32)


def _noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """size×size×4 window of the noise bank at a random offset (a random flip/transpose adds variety)."""
    bank = _noise_bank(size)
    y, x = rng.integers(0, size + 1, size=2)
    win = bank[y:y + size, x:x + size]
    if rng.random() < 0.5:
        win = win[::-1]
    if rng.random() < 0.5:
        win = win[:, ::-1]
    return win


def _shift_down(mask: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros_like(mask)
    out[k:] = mask[:-k]
    return out


_FACADE_COLOURS = np.array(
    [[205, 190, 165], [215, 212, 205], [195, 160, 105], [205, 165, 150], [160, 158, 152],
     [150, 85, 65], [185, 195, 175], [225, 205, 150]], np.float32)
_SHUTTER_COLOURS = np.array([[60, 95, 60], [115, 75, 45], [225, 225, 220], [70, 80, 100]], np.float32)


def render_photo(lab: np.ndarray, det: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Render a label map (and detail layer) from :func:`facade_layout` into a photo-like uint8 H×W×3 image.

    Colour of a pixel = class colour (per image) × gain (shadows, illumination, dirt) + grey offset
    (glass reflections, noise) + a little colour noise, then a [1 2 1]/4 blur.
    """
    S = lab.shape[0]
    f32 = np.float32
    base = _FACADE_COLOURS[rng.integers(len(_FACADE_COLOURS))] * rng.uniform(0.85, 1.1, 3).astype(f32)
    lighter = base * 1.2 + 18
    darker = base * 0.72
    col = np.empty((13, 3), f32)  # 12 classes + window frames (index 12)
    col[BACKGROUND] = 0  # replaced below
    col[FACADE] = base
    col[WINDOW] = np.array([45, 55, 70], f32) * rng.uniform(0.6, 1.5)
    col[DOOR] = np.array([85, 55, 35], f32) * rng.uniform(0.6, 1.3, 3)
    col[CORNICE] = lighter
    col[SILL] = base * 1.25 + 20
    col[BALCONY] = np.array([45, 45, 50], f32) * rng.uniform(0.7, 1.3) if rng.random() < 0.6 else darker
    col[BLIND] = _SHUTTER_COLOURS[rng.integers(len(_SHUTTER_COLOURS))] * rng.uniform(0.85, 1.15)
    col[DECO] = base * 1.12 + 14
    col[MOLDING] = lighter if rng.random() < 0.6 else darker
    col[PILLAR] = base * 1.15 + 12 if rng.random() < 0.6 else darker * 1.1
    col[SHOP] = np.array([70, 62, 55], f32) * rng.uniform(0.7, 1.6, 3)
    col[12] = (np.array([235, 235, 230], f32) if rng.random() < 0.6
               else np.array([100, 70, 45], f32)) * rng.uniform(0.85, 1.05)
    idx = np.where((det > 0) & (lab == WINDOW), np.uint8(12), lab)
    img = np.take(col, idx, axis=0)

    yy = np.linspace(0, 1, S, dtype=f32)[:, None]
    xx = np.linspace(0, 1, S, dtype=f32)[None, :]
    bg = lab == BACKGROUND
    kind = rng.random()
    if kind < 0.5:  # sky
        top_c = np.array([120, 160, 215], f32) * rng.uniform(0.8, 1.15)
        bot_c = np.array([205, 215, 230], f32) * rng.uniform(0.85, 1.05)
        back = top_c + (bot_c - top_c) * yy[..., None]
    elif kind < 0.8:  # neighbouring buildings, trees: darker, mottled
        nb = np.array([110, 110, 105], f32) * rng.uniform(0.5, 1.2, 3).astype(f32)
        back = nb * (1 + 0.25 * _smooth_noise(rng, S, 16))[..., None]
    else:  # the flat grey of a rectified photo's padding
        back = np.full((1, 1, 3), rng.uniform(60, 140), f32)
    img = np.where(bg[..., None], back, img)

    gain = np.ones((S, S), f32)
    add = np.zeros((S, S), f32)
    # glass: diagonal reflections and a brighter bottom
    glass = np.isin(idx, (WINDOW, SHOP, DOOR))
    refl = 18 * np.sin((xx * 7 + yy * 5) * (np.pi * rng.uniform(0.8, 1.6)) + rng.uniform(0, 6)) + 20 * yy
    add += glass * refl
    # stone courses on the wall
    if rng.random() < 0.4:
        period = int(rng.integers(5, 12)) * max(S // 256, 1)
        gain -= 0.18 * ((np.arange(S) % period == 0)[:, None] & (lab == FACADE))
    # shading: shadows under projecting parts, recess at the top of windows
    caster = np.isin(lab, (CORNICE, SILL, BALCONY, DECO, MOLDING))
    open_ = np.isin(lab, (WINDOW, SHOP, DOOR))
    shadow = np.zeros((S, S), f32)
    for k, s in ((1, 0.45), (2, 0.3), (3, 0.18), (4, 0.1)):
        np.maximum(shadow, (_shift_down(caster, k) & ~caster) * f32(s), out=shadow)
        np.maximum(shadow, (open_ & ~_shift_down(open_, k)) * f32(s + 0.15), out=shadow)
    gain -= shadow
    # light: smooth dirt / illumination, a side gradient, overall exposure
    gain *= (1 + 0.09 * _smooth_noise(rng, S, 6) + rng.uniform(-0.15, 0.15) * (xx - 0.5)) * rng.uniform(0.75, 1.15)
    noise = _noise(rng, S)
    add += noise[..., 3] * f32(rng.uniform(3, 8))  # sensor noise (grey)
    img = img * gain[..., None] + add[..., None]
    img += noise[..., :3] * f32(2.0)  # colour noise
    # a touch of lens blur, separable [1 2 1]/4
    img[1:-1] = 0.25 * (img[:-2] + img[2:]) + 0.5 * img[1:-1]
    img[:, 1:-1] = 0.25 * (img[:, :-2] + img[:, 2:]) + 0.5 * img[:, 1:-1]
    # the black corner left by rectifying a photo (labelled background in the real data)
    if rng.random() < 0.25:
        side = rng.random() < 0.5
        depth = rng.uniform(0.1, 0.35)
        tri = yy < depth * (1 - (1 - xx if side else xx) / rng.uniform(0.3, 0.7))
        img[tri & bg] = 0
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_pair(seed: int = 0, index: int = 0, size: int = 256, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(photo, label map) of synthetic facade ``index`` of ``split``: uint8 arrays size×size×3 (labels in RGB).

    Deterministic in (seed, split, index). Classes: ``FACADES_PALETTE`` index = label colour.
    """
    rng = np.random.default_rng([int(seed), SPLIT_IDS[split], int(index)])
    lab, det = facade_layout(rng, size)
    photo = render_photo(lab, det, rng)
    return photo, FACADES_PALETTE[lab]


def synthetic_classes(seed: int = 0, index: int = 0, size: int = 256, split: str = "train") -> np.ndarray:
    """The exact class map (size×size uint8) of :func:`synthetic_pair` — before the JPEG blurs its colours."""
    rng = np.random.default_rng([int(seed), SPLIT_IDS[split], int(index)])
    return facade_layout(rng, size)[0]


# --------------------------------------------------------------------------------------------------
# Writing the dataset
# --------------------------------------------------------------------------------------------------
def _params(n_train: int, n_val: int, n_test: int, size: int, seed: int, quality: int) -> dict:
    return {"generator_version": GENERATOR_VERSION, "n_train": n_train, "n_val": n_val, "n_test": n_test,
            "size": size, "seed": seed, "jpeg_quality": quality}


def _is_complete(out: Path, params: dict) -> bool:
    marker = out / MARKER
    if not marker.is_file():
        return False
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if meta.get("params") != params:
        return False
    counts = {"train": params["n_train"], "val": params["n_val"], "test": params["n_test"]}
    return all(len(list_images(out / s)) == n for s, n in counts.items() if n > 0)


def make_synthetic_facades(
    out_dir: str | os.PathLike,
    n_train: int = 400,
    n_val: int = 100,
    n_test: int = 106,
    size: int = 256,
    seed: int = 0,
    *,
    quality: int = 95,  # the real facades files: quality 95, 4:2:0 chroma (measured from their tables)
    verbose: bool = False,
) -> Path:
    """Write the synthetic facades (pix2pix JPEG pairs ``N.jpg``, 2·size×size) into ``out_dir``; returns it.

    The folder is built in a temporary sibling and renamed into place, so it is never seen half-written; a
    folder already holding the same set (``SYNTHETIC.json`` with the same parameters) is reused as is.
    """
    for name, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {n!r}")
    if not isinstance(size, (int, np.integer)) or size < 32:
        raise ValueError(f"size must be an integer >= 32, got {size!r}")
    out = Path(out_dir).expanduser().absolute()
    params = _params(int(n_train), int(n_val), int(n_test), int(size), int(seed), int(quality))
    if _is_complete(out, params):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-tmp-", dir=out.parent))
    try:
        for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
            if n == 0:
                continue
            (tmp / split).mkdir()
            for i in range(int(n)):
                photo, labels = synthetic_pair(seed, i, size, split)
                pair = np.concatenate([photo, labels], axis=1)
                Image.fromarray(pair).save(tmp / split / f"{i + 1}.jpg", quality=int(quality))
        meta = {"params": params, "classes": list(FACADES_CLASSES),
                "palette": FACADES_PALETTE.tolist(),
                "about": "dipnb synthetic facades: procedural label maps (right) rendered into photo-like "
                         "facades (left); regenerate with dipnb.pix2pix.datasets.synthetic.make_synthetic_facades"}
        (tmp / MARKER).write_text(json.dumps(meta, indent=1))
        try:
            replace_dir(tmp, out)
        except OSError:
            if not _is_complete(out, params):  # another process may have finished first: keep its folder
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if verbose:
        total = n_train + n_val + n_test
        print(f"wrote {total} synthetic facades ({size}², seed {seed}) to {out} in "
              f"{time.perf_counter() - t0:.1f} s")
    return out
