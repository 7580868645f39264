"""Images in and out: PIL / NumPy / uint8 ⇄ float tensors C×H×W in [0, 1], and offline sample photos.

Conventions used everywhere in :mod:`dipnb`:

* a tensor image is ``float32`` with shape ``C×H×W`` (C = 1 gray, 3 RGB) and values nominally in [0, 1];
* a NumPy image is channels-last ``H×W`` or ``H×W×C`` (as PIL, OpenCV, scikit-image and matplotlib use);
* ``uint8`` images hold 0..255, ``uint16`` 0..65535, other integer arrays must stay in 0..255;
* an RGBA image loses its alpha channel (with a warning) unless ``keep_alpha=True``.

:func:`sample_image` reads the photos that ship *inside* the scikit-image wheel (no download, works offline).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

#: Offline sample photos: name → file inside ``skimage/data`` (all ship in the scikit-image wheel).
SAMPLE_IMAGES: dict[str, str] = {
    "astronaut": "astronaut.png",  # 512×512 RGB, Eileen Collins
    "chelsea": "chelsea.png",  # 451×300 RGB, a cat
    "coffee": "coffee.png",  # 600×400 RGB, a cup of coffee
    "rocket": "rocket.jpg",  # 640×427 RGB, a rocket launch
    "motorcycle": "motorcycle_left.png",  # 741×500 RGB
    "hubble": "hubble_deep_field.jpg",  # 1000×872 RGB
    "retina": "retina.jpg",  # 1411×1411 RGB
    "ihc": "ihc.png",  # 512×512 RGB, immunohistochemistry
    "camera": "camera.png",  # 512×512 gray
    "brick": "brick.png",  # 512×512 gray texture
    "grass": "grass.png",  # 512×512 gray texture
    "gravel": "gravel.png",  # 512×512 gray texture
    "moon": "moon.png",  # 512×512 gray
    "text": "text.png",  # 448×172 gray, text on a photo
}


def _skimage_data_dir() -> Path:
    import skimage.data

    return Path(os.path.dirname(skimage.data.__file__))


# --------------------------------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------------------------------
def _fix_channels(t: torch.Tensor, keep_alpha: bool, name: str) -> torch.Tensor:
    c = t.shape[0]
    if c == 4 and not keep_alpha:
        warnings.warn(f"{name}: RGBA image, the alpha channel was dropped (pass keep_alpha=True to keep it).",
                      stacklevel=3)
        return t[:3]
    if c == 2:  # gray + alpha (PIL mode "LA")
        if not keep_alpha:
            warnings.warn(f"{name}: gray+alpha image, the alpha channel was dropped.", stacklevel=3)
            return t[:1]
        return t
    if c not in (1, 3, 4):
        raise ValueError(f"{name}: expected 1 (gray), 3 (RGB) or 4 (RGBA) channels, got {c}; "
                         "pass a C×H×W tensor or an H×W×C array.")
    return t


#: The one pixel budget: images with more than this many pixels (H·W) are refused by :func:`to_tensor` (checked
#: from the shape, before any conversion), by the decoders (:func:`decode_image`, from the file header, at the
#: size that would be decoded) and by everything built on them. 36 MP (e.g. 6000×6000) needs about 3 GB of
#: float32 working memory in the worst Poisson case (Ω filling the whole image).
MAX_PIXELS = 36_000_000

#: Floats must lie in [0, 1] up to this much (an unclamped Poisson result overshoots a little); beyond it the
#: values are on another scale (0..255, or [-1, 1]) and are refused with the fix.
FLOAT_TOLERANCE = 0.5


def _height_width(x: Any) -> tuple[int, int] | None:
    """(H, W) of an image-like object from its shape alone (no conversion), or None when unknown."""
    from PIL import Image

    if isinstance(x, Image.Image):
        return x.size[1], x.size[0]
    if isinstance(x, np.ndarray) and x.ndim >= 2:
        return int(x.shape[0]), int(x.shape[1])
    if isinstance(x, torch.Tensor) and x.ndim >= 2:
        return int(x.shape[-2]), int(x.shape[-1])
    return None


def check_pixel_budget(h: int, w: int, name: str = "image", max_pixels: int | None = None) -> None:
    """Raise ``ValueError`` when an ``h×w`` image exceeds the memory budget :data:`MAX_PIXELS`."""
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    if h * w > limit:
        which = "MAX_PIXELS = " if max_pixels is None else ""
        raise ValueError(f"{name}: {h}×{w} = {h * w:,} pixels is more than the memory budget {which}{limit:,}; "
                         "downscale it first (dipnb.images.resize, or PIL's Image.thumbnail)")


def _check_float_range(lo: float, hi: float, name: str) -> None:
    if hi > 1 + FLOAT_TOLERANCE:
        raise ValueError(f"{name}: float image with values in [{lo:g}, {hi:g}], but dipnb expects floats in "
                         "[0, 1]; it looks like 0..255: divide by 255 (e.g. np.asarray(img, np.float32) / 255) "
                         "or pass the uint8 array as it is")
    if lo < -FLOAT_TOLERANCE:
        raise ValueError(f"{name}: float image with values in [{lo:g}, {hi:g}], but dipnb expects floats in "
                         "[0, 1]; if it is in [-1, 1] (a network's output), pass (x + 1) / 2")


def to_tensor(
    x: Any,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    keep_alpha: bool = False,
    name: str = "image",
    max_pixels: int | None = None,
) -> torch.Tensor:
    """Convert ``x`` to a float tensor ``C×H×W`` in [0, 1]: the one door every image of :mod:`dipnb` goes through.

    Accepts a PIL image, a NumPy array (``H×W`` or ``H×W×C``, channels last), or a torch tensor
    (``H×W`` or ``C×H×W``, channels first). Integer inputs are scaled: ``uint8``/other ints by 1/255,
    ``uint16`` by 1/65535, ``bool`` to {0, 1}.

    **The float rule** (one rule, everywhere): floats are taken as [0, 1] and kept as they are (not clamped,
    so an unclamped result may overshoot by up to :data:`FLOAT_TOLERANCE`); floats above 1.5 or below −0.5
    are *refused* with the fix (0..255 data: divide by 255; [-1, 1] data: (x + 1) / 2), never rescaled
    silently. The size is checked first, from the shape, against ``max_pixels`` (default :data:`MAX_PIXELS`),
    before anything is converted. Raises ``ValueError`` for non-finite values, integers outside their range,
    odd shapes or a size over budget, ``TypeError`` for anything that is not an image. Tensors are detached
    (no autograd through dipnb's image code). A float tensor already on the right dtype/device is returned as
    is (not copied), so callers must not modify the result in place.
    """
    from PIL import Image

    if isinstance(x, (str, Path)):
        raise TypeError(f"{name}: got a path {str(x)!r}; load it first with dipnb.images.load_image(path).")
    hw = _height_width(x)
    if hw is not None:
        check_pixel_budget(*hw, name=name, max_pixels=max_pixels)
    is_float = False
    if isinstance(x, Image.Image):
        if x.mode in ("P", "CMYK", "YCbCr", "HSV", "1", "I;16", "I", "F"):
            if x.mode in ("I;16", "I", "F"):
                arr = np.asarray(x)
                if x.mode == "I;16":
                    arr = arr.astype(np.uint16)
                return to_tensor(arr, dtype=dtype, device=device, keep_alpha=keep_alpha, name=name,
                                 max_pixels=max_pixels)
            x = x.convert("RGBA" if ("transparency" in x.info or x.mode == "P" and "A" in x.getbands())
                          else ("L" if x.mode == "1" else "RGB"))
        x = np.asarray(x)
    if isinstance(x, np.ndarray):
        arr = x
        if arr.ndim == 3:
            arr = np.ascontiguousarray(arr.transpose(2, 0, 1))
        elif arr.ndim != 2:
            raise ValueError(f"{name}: a NumPy image must be H×W or H×W×C, got shape {tuple(x.shape)}.")
        if arr.dtype == np.uint16:
            t = torch.from_numpy(arr.astype(np.float32) / 65535.0)
        elif arr.dtype == np.bool_:
            t = torch.from_numpy(arr.astype(np.float32))
        elif np.issubdtype(arr.dtype, np.integer):
            lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
            if lo < 0 or hi > 255:
                raise ValueError(f"{name}: integer image has values in [{lo}, {hi}], outside 0..255; "
                                 "pass uint8 (0..255), uint16 (0..65535) or floats in [0, 1].")
            t = torch.from_numpy(arr.astype(np.float32) / 255.0)
        elif np.issubdtype(arr.dtype, np.floating):
            t = torch.from_numpy(np.array(arr, dtype=np.float32 if dtype != torch.float64 else np.float64))
            is_float = True
        else:
            raise TypeError(f"{name}: unsupported NumPy dtype {arr.dtype}; use uint8 or float.")
        if t.ndim == 2:
            t = t[None]
    elif isinstance(x, torch.Tensor):
        t = x.detach()
        if t.ndim == 2:
            t = t[None]
        elif t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 3:
            raise ValueError(f"{name}: a tensor image must be H×W or C×H×W (or 1×C×H×W), got shape "
                             f"{tuple(x.shape)}.")
        if t.dtype == torch.bool:
            t = t.float()
        elif t.dtype == torch.uint8:
            t = t.float() / 255.0
        elif not t.is_floating_point():
            lo, hi = (int(t.min()), int(t.max())) if t.numel() else (0, 0)
            if lo < 0 or hi > 255:
                raise ValueError(f"{name}: integer tensor has values in [{lo}, {hi}], outside 0..255; "
                                 "pass uint8 (0..255) or floats in [0, 1].")
            t = t.float() / 255.0
        else:
            is_float = True
    else:
        raise TypeError(f"{name}: expected a torch tensor, NumPy array or PIL image, got {type(x).__name__}.")
    if t.shape[-1] == 0 or t.shape[-2] == 0:
        raise ValueError(f"{name}: empty image of shape {tuple(t.shape)}.")
    t = _fix_channels(t, keep_alpha, name)
    t = t.to(device=device if device is not None else t.device, dtype=dtype)
    lo, hi = t.aminmax()
    if not (bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))):
        raise ValueError(f"{name}: contains NaN or infinite values; clean them (e.g. torch.nan_to_num) first.")
    if is_float:
        _check_float_range(float(lo), float(hi), name)
    return t


def from_model_range(x: torch.Tensor) -> torch.Tensor:
    """The networks' range [-1, 1] (Tanh outputs, pix2pix data) → [0, 1]: (x + 1) / 2. With :func:`to_uint8`
    after it, a model tensor becomes uint8 u = round((x + 1)·127.5) (clamped)."""
    return (x + 1) / 2


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """Into the networks' range [-1, 1]: ``uint8`` 0..255 → u/127.5 − 1; floats in [0, 1] → 2x − 1. The inverse
    of :func:`from_model_range` (and of ``to_uint8(from_model_range(x))`` up to rounding)."""
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    return x * 2 - 1


def to_uint8(t: Any) -> np.ndarray:
    """Float image (tensor C×H×W or array) → ``uint8`` NumPy ``H×W×C`` (``H×W`` for gray).

    This is the *display* step: values are clamped to [0, 1], scaled by 255 and rounded.
    """
    if not isinstance(t, torch.Tensor):
        t = to_tensor(t)
    t = t.detach().cpu()
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3:
        raise ValueError(f"expected a C×H×W tensor, got shape {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        arr = t.numpy()
    else:
        arr = (t.float().clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    arr = arr.transpose(1, 2, 0)
    return arr[..., 0] if arr.shape[2] == 1 else np.ascontiguousarray(arr)


def to_pil(t: Any):
    """Float image → ``PIL.Image`` (mode L, RGB or RGBA), clamped to [0, 1] (see :func:`to_uint8`)."""
    from PIL import Image

    arr = to_uint8(t)
    return Image.fromarray(arr)


@contextlib.contextmanager
def _strict_decoding() -> Iterator[None]:
    """Make PIL raise on truncated files even if some code set ``ImageFile.LOAD_TRUNCATED_IMAGES``."""
    from PIL import ImageFile

    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old


def _pil_to_uint8(im: Any, keep_alpha: bool, name: str) -> np.ndarray:
    """A decoded PIL image → uint8 H×W×3 (or ×4 with ``keep_alpha`` and an alpha channel), scaled by bit depth."""
    from PIL import Image

    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        # 16-bit integer images (PNG/TIFF "I;16", and "I", which PIL uses for 16-bit PNGs): 0..65535 → 0..255
        arr = np.asarray(im).astype(np.float64)
        gray = np.clip(np.round(arr / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise ValueError(f"{name}: a float image with NaN or infinite values; clean it before loading.")
        hi = float(arr.max()) if arr.size else 0.0
        scale = 255.0 if hi <= 1.0 + 1e-3 else 1.0  # floats in [0, 1], else already on the 0..255 scale
        if scale == 1.0 and hi > 255.0 + 1e-3:
            raise ValueError(f"{name}: float image with values up to {hi:g}; expected [0, 1] or 0..255.")
        gray = np.clip(np.round(arr * scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    has_alpha = "A" in im.getbands() or "a" in im.getbands() or "transparency" in im.info
    if keep_alpha and has_alpha:
        return np.array(im.convert("RGBA"), dtype=np.uint8)
    if mode == "RGB":
        return np.array(im, dtype=np.uint8)
    if mode in ("P", "PA") and has_alpha:
        im = im.convert("RGBA")
    return np.array(im.convert("RGB"), dtype=np.uint8)


def decode_image(
    source: Any,
    *,
    name: str | None = None,
    keep_alpha: bool = False,
    max_pixels: int | None = None,
    draft: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode an image file (path, bytes, file object or PIL image) into uint8 ``H×W×3`` (``H×W×4`` with alpha).

    One rule for every bit depth and mode: 8-bit values are kept; 16-bit ("I;16", "I") values u become
    round(u/257); float ("F") images in [0, 1] are scaled by 255 (values already on 0..255 are kept); palette,
    grey, CMYK… are converted to RGB; an alpha channel is dropped unless ``keep_alpha``. The image's size is
    read from the header and refused above ``max_pixels`` *before* decoding; a file that is truncated, not an
    image, or missing raises ``ValueError`` naming it. ``draft=(w, h)``: a JPEG at least twice that size is
    decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (PIL's ``draft``; 2–4× faster). The size that would be
    decoded is checked against ``max_pixels`` (default :data:`MAX_PIXELS`, the one budget) before decoding.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, (str, os.PathLike)):
        label = name or str(source)
        if not Path(source).is_file():
            raise ValueError(f"no image file at {label!r}; check the path.")
        src: Any = source
    elif isinstance(source, (bytes, bytearray, memoryview)):
        label, src = name or "uploaded file", io.BytesIO(bytes(source))
    elif isinstance(source, Image.Image):
        label, src = name or "image", None
    else:
        label, src = name or getattr(source, "name", None) or "file", source
    try:
        with _strict_decoding(), (contextlib.nullcontext(source) if src is None else Image.open(src)) as im:
            if draft is not None and im.format == "JPEG":
                im.draft("RGB", draft)
            w, h = im.size
            check_pixel_budget(h, w, label, max_pixels)
            im.load()
            return _pil_to_uint8(im, keep_alpha, label)
    except ValueError:
        raise
    except UnidentifiedImageError:
        raise ValueError(f"{label}: not an image PIL can read (use PNG, JPEG, BMP, TIFF, GIF or WebP).") from None
    except (OSError, SyntaxError, Image.DecompressionBombError, EOFError) as exc:
        msg = str(exc) or type(exc).__name__
        what = "truncated or corrupt" if "truncat" in msg.lower() or isinstance(exc, EOFError) else "unreadable"
        raise ValueError(f"{label}: {what} image file ({type(exc).__name__}: {msg}); replace the file.") from None


def decode_rgb(source: Any, *, name: str | None = None, max_pixels: int | None = None,
               draft: tuple[int, int] | None = None) -> np.ndarray:
    """Decode an image into uint8 ``H×W×3`` RGB — :func:`decode_image` without alpha (every loader's one path)."""
    return decode_image(source, name=name, keep_alpha=False, max_pixels=max_pixels, draft=draft)


def load_image(
    path_or_file: str | Path | BinaryIO | bytes,
    *,
    gray: bool = False,
    size: int | None = None,
    keep_alpha: bool = False,
) -> torch.Tensor:
    """Read an image file (path, file object or bytes) into a float tensor ``C×H×W`` in [0, 1].

    Decoding is :func:`decode_image` (every bit depth scaled to 0..255 the same way); ``gray=True`` converts to
    one luminance channel (ITU-R 601, as PIL); ``size`` resizes so the longest side is ``size``.
    Unreadable or truncated files raise ``ValueError`` naming the file.
    """
    from PIL import Image

    label = str(path_or_file) if isinstance(path_or_file, (str, Path)) else "uploaded file"
    arr = decode_image(path_or_file, name=label, keep_alpha=keep_alpha and not gray)
    if gray:
        arr = np.asarray(Image.fromarray(arr[..., :3]).convert("L"))
    elif not keep_alpha and arr.shape[2] == 3 and _has_alpha(path_or_file):
        warnings.warn(f"{label}: RGBA image, the alpha channel was dropped (pass keep_alpha=True to keep it).",
                      stacklevel=2)
    t = to_tensor(arr, name=label)
    return resize(t, size) if size is not None else t


def _has_alpha(source: Any) -> bool:
    """Whether an image file's header announces an alpha channel (cheap: no decoding)."""
    from PIL import Image

    try:
        src = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray)) else source
        if hasattr(src, "seek"):
            src.seek(0)
        with Image.open(src) as im:
            return "A" in im.getbands() or "transparency" in im.info
    except Exception:  # noqa: BLE001 - already decoded once; no alpha is the safe answer
        return False


def resize(t: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a ``C×H×W`` image so that its longest side is ``size`` (antialiased bilinear)."""
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int (longest side in pixels), got {size!r}")
    h, w = t.shape[-2:]
    scale = size / max(h, w)
    if scale == 1:
        return t
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    out = torch.nn.functional.interpolate(t[None], size=(nh, nw), mode="bilinear", antialias=scale < 1,
                                          align_corners=False)[0]
    return out.clamp(0, 1)


def sample_image(name: str, size: int | None = None, *, gray: bool = False) -> torch.Tensor:
    """A sample photo bundled with scikit-image (offline), as a float tensor in [0, 1].

    Returns ``3×H×W`` (gray photos are repeated over 3 channels) or ``1×H×W`` with ``gray=True``;
    ``size`` resizes so that the longest side is ``size`` pixels. Names: see :data:`SAMPLE_IMAGES`.
    """
    if name not in SAMPLE_IMAGES:
        raise ValueError(f"unknown sample image {name!r}; choose one of {', '.join(SAMPLE_IMAGES)}")
    path = _skimage_data_dir() / SAMPLE_IMAGES[name]
    if not path.is_file():  # pragma: no cover - only if a future scikit-image stops shipping it
        raise ValueError(f"scikit-image has no bundled file {path}; pick another of {', '.join(SAMPLE_IMAGES)}")
    t = load_image(path, gray=gray)
    if not gray and t.shape[0] == 1:
        t = t.expand(3, -1, -1).contiguous()
    return resize(t, size) if size is not None else t


__all__ = ["FLOAT_TOLERANCE", "MAX_PIXELS", "from_model_range", "to_model_range", "SAMPLE_IMAGES", "check_pixel_budget", "decode_image",
           "decode_rgb", "load_image", "resize", "sample_image", "to_pil", "to_tensor", "to_uint8"]
