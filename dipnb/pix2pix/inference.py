"""Inference: run a trained generator on a batch (:func:`generate`) or on your own image (:func:`translate`).

:func:`translate` takes an image in any of the usual forms and returns the same kind:

* a PIL image → a PIL RGB image of the original size (any mode: 16-bit, palette, grey… decoded by
  :func:`dipnb.images.decode_rgb`, the one decoding path of dipnb);
* a NumPy array H×W×3 (or H×W grey, or H×W×4 with alpha): uint8 → uint8, uint16 → uint16, float in
  [0, 1] → float32 — converted by :func:`dipnb.images.to_tensor`, so its rules (scaling by bit depth,
  NaN/inf refused, floats outside [0, 1]) are the same as everywhere in dipnb;
* a torch tensor 3×H×W or 1×3×H×W in [-1, 1] (the model world) → the same shape in [-1, 1].

The image is resized (bicubic, aspect ratio not kept) to the model's size — ``2**num_downs`` for the U-Net
(256 for the paper's), or ``size=`` — translated, and resized back to its original size. The input is cast to
the model's dtype and device, so a float16 model works on CUDA and on the CPU.

*Eval or train mode.* By default G runs in eval mode: BatchNorm uses its running statistics and dropout is off,
so the output is deterministic. The pix2pix paper (and the reference ``test.py``) instead keeps G in train mode
at test time — dropout on as the noise z, BatchNorm on the test image's own statistics; the paper reports that
this gives only minor stochasticity, and a U-Net for small images has few dropout layers (none below 64²): pass
``train_mode=True`` (running statistics are restored afterwards, so the model is not changed by it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from dipnb.images import decode_rgb, from_model_range, to_tensor, to_uint8
from dipnb.pix2pix.datasets.pairs import to_model_tensor, to_uint8_image
from dipnb.pix2pix.nets.util import generator_mode

__all__ = ["generate", "model_size", "translate"]


def model_size(model: nn.Module, size: int | None = None) -> int:
    """The square size images are resized to for ``model``: ``size``, else 2**num_downs (U-Net), else 256."""
    if size is not None:
        return int(size)
    inner = getattr(model, "module", model)
    if hasattr(inner, "num_downs"):
        return 2 ** int(inner.num_downs)
    return int(getattr(inner, "size", 256))


def _param(model: nn.Module) -> torch.Tensor | None:
    return next(model.parameters(), None)


@torch.no_grad()
def generate(
    G: nn.Module,
    inputs: torch.Tensor,
    *,
    batch_size: int | None = 16,
    train_mode: bool = False,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> torch.Tensor:
    """G(inputs) in batches, float32, on the inputs' device; G is left exactly as it was (:func:`generator_mode`).

    Default: eval mode (running BatchNorm statistics, no dropout). ``train_mode=True``: the paper's test-time
    setting — dropout on and BatchNorm on each image's own statistics, so images go through one at a time
    (``batch_size`` is ignored) and the result for an image does not depend on the others. ``batch_size=None``:
    all at once. ``autocast``: a context-manager factory wrapping the forward pass (mixed precision).
    """
    p = _param(G)
    device, dtype = (p.device, p.dtype) if p is not None else (inputs.device, inputs.dtype)
    step = 1 if train_mode else (batch_size or max(len(inputs), 1))
    outs = []
    with generator_mode(G, train_mode):
        for i in range(0, len(inputs), step):
            with autocast():
                out = G(inputs[i:i + step].to(device=device, dtype=dtype if dtype.is_floating_point else None))
            outs.append(out.float().to(inputs.device))
    return torch.cat(outs)


def _as_rgb_uint8(image: Any) -> tuple[np.ndarray, str, Any]:
    """(uint8 H×W×3, kind, extra) — kind ∈ {"pil", "uint8", "uint16", "float", "tensor"}; extra = the shape."""
    if isinstance(image, Image.Image):
        return decode_rgb(image), "pil", None
    if isinstance(image, torch.Tensor):
        t = image.detach()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError("translate takes one image; loop over the batch (or call dipnb.pix2pix.inference."
                                 "generate)")
            t = t[0]
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise ValueError(f"a tensor image must be 3×H×W (or 1×3×H×W) in [-1, 1], got shape {tuple(image.shape)}")
        t01 = to_tensor(from_model_range(t.float().cpu()), name="image (a [-1, 1] tensor)")  # NaN/inf, range rules
        kind = "tensor"
    elif isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise ValueError(f"an array image must be H×W, H×W×3 or H×W×4, got shape {image.shape}")
        if image.dtype == np.uint8:
            kind = "uint8"
        elif image.dtype == np.uint16:
            kind = "uint16"
        elif np.issubdtype(image.dtype, np.floating):
            kind = "float"
        else:
            raise TypeError(f"array images must be uint8 (0..255), uint16 (0..65535) or float (0..1), got dtype "
                            f"{image.dtype}")
        t01 = to_tensor(image, name="image")
    else:
        raise TypeError(f"translate takes a PIL image, a NumPy array or a torch tensor, got {type(image).__name__}")
    if t01.shape[0] == 1:
        t01 = t01.expand(3, -1, -1)
    return to_uint8(t01[:3]), kind, tuple(image.shape)


@torch.no_grad()
def translate(
    model: nn.Module,
    image: Any,
    *,
    size: int | None = None,
    train_mode: bool = False,
    device: str | torch.device | None = None,
) -> Any:
    """G(image), returned in the same form as ``image`` (see the module docstring).

    ``size``: side the image is resized to for the model (default :func:`model_size`). ``train_mode``: run G
    as the paper does at test time (dropout on, per-image BatchNorm statistics); default eval mode.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (the generator G), got {type(model).__name__}")
    rgb, kind, shape = _as_rgb_uint8(image)
    side = model_size(model, size)
    h, w = rgb.shape[:2]
    pil = Image.fromarray(rgb)
    x = to_model_tensor(np.array(pil.resize((side, side), Image.BICUBIC), dtype=np.uint8)).unsqueeze(0)
    if device is not None:
        x = x.to(device)
    y = generate(model, x, train_mode=train_mode)[0].cpu()
    out = Image.fromarray(to_uint8_image(y))
    if out.size != (w, h):
        out = out.resize((w, h), Image.BICUBIC)
    if kind == "pil":
        return out
    arr = np.asarray(out, dtype=np.uint8)
    if kind == "uint8":
        return arr.copy()
    if kind == "uint16":
        return arr.astype(np.uint16) * 257
    if kind == "float":
        return arr.astype(np.float32) / 255
    t = to_model_tensor(arr)
    return t.unsqueeze(0) if len(shape) == 4 else t
