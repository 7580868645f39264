"""Inference: translate your own image with a trained generator, and an upload widget for notebooks.

:func:`translate` takes an image in any of the usual forms and returns the same kind:

* a PIL image → a PIL RGB image of the original size;
* a NumPy array H×W×3 (or H×W grey, or H×W×4 with alpha) — uint8 in 0..255 → uint8, float in [0, 1] → float;
* a torch tensor 3×H×W or N×3×H×W in [-1, 1] (the model world) → the same shape in [-1, 1].

The image is converted to RGB, resized (bicubic, aspect ratio not kept) to the model's size — ``2**num_downs``
for the U-Net (256 for the paper's), or ``size=`` — translated, and resized back to its original size.

*Eval or train mode.* By default G runs in eval mode: BatchNorm uses its running statistics and dropout is off,
so the output is deterministic. The pix2pix paper (and the reference ``test.py``) instead keeps G in train mode
at test time — dropout on as the noise z, BatchNorm on the test image's own statistics; the paper reports that
this gives only minor stochasticity, and a U-Net for small images has few dropout layers (none below 64²): pass
``train_mode=True`` (running statistics are restored afterwards, so the model is not changed by it).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn

from dipnb.pix2pix.data import to_uint8_image
from dipnb.pix2pix.gan_models import generator_mode

__all__ = ["TranslateApp", "example_figure", "model_size", "translate", "upload_widget"]


def model_size(model: nn.Module, size: int | None = None) -> int:
    """The square size images are resized to for ``model``: ``size``, else 2**num_downs (U-Net), else 256."""
    if size is not None:
        return int(size)
    inner = getattr(model, "module", model)
    if hasattr(inner, "num_downs"):
        return 2 ** int(inner.num_downs)
    return int(getattr(inner, "size", 256))


def _to_pil(image: Any) -> tuple[Image.Image, str, Any]:
    """(RGB PIL image, kind, extra) — kind ∈ {"pil", "uint8", "float", "tensor"}; extra remembers the shape."""
    if isinstance(image, Image.Image):
        return image.convert("RGB"), "pil", None
    if isinstance(image, torch.Tensor):
        t = image.detach().float().cpu()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError("translate takes one image; loop over the batch (or call the model directly)")
            t = t[0]
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise ValueError(f"a tensor image must be 3×H×W (or 1×3×H×W) in [-1, 1], got shape {tuple(image.shape)}")
        if t.shape[0] == 1:
            t = t.expand(3, -1, -1)
        return Image.fromarray(to_uint8_image(t)), "tensor", tuple(image.shape)
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3 and arr.shape[2] == 4:
            arr = arr[..., :3]
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, -1)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"an array image must be H×W, H×W×3 or H×W×4, got shape {image.shape}")
        if arr.dtype == np.uint8:
            return Image.fromarray(np.ascontiguousarray(arr)), "uint8", image.shape
        if np.issubdtype(arr.dtype, np.floating):
            u8 = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
            return Image.fromarray(u8), "float", image.shape
        raise TypeError(f"array images must be uint8 (0..255) or float (0..1), got dtype {arr.dtype}")
    raise TypeError(f"translate takes a PIL image, a NumPy array or a torch tensor, got {type(image).__name__}")


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
    pil, kind, shape = _to_pil(image)
    side = model_size(model, size)
    w, h = pil.size
    x = torch.from_numpy(np.asarray(pil.resize((side, side), Image.BICUBIC), dtype=np.uint8).copy())
    x = x.permute(2, 0, 1).float().div(127.5).sub(1).unsqueeze(0)
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    x = x.to(device)
    with generator_mode(model, train_mode):  # running statistics restored: translating never changes G
        y = model(x)[0].float().clamp(-1, 1).cpu()
    out = Image.fromarray(((y + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())
    if out.size != (w, h):
        out = out.resize((w, h), Image.BICUBIC)
    if kind == "pil":
        return out
    arr = np.asarray(out, dtype=np.uint8)
    if kind == "uint8":
        return arr.copy()
    if kind == "float":
        return arr.astype(np.float32) / 255
    t = torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div(127.5).sub(1)
    return t.unsqueeze(0) if len(shape) == 4 else t


def example_figure(model: nn.Module, image: Any, *, titles: tuple[str, str] = ("your input", "G(input)"),
                   save: str | Path | None = None, train_mode: bool = False):
    """A static matplotlib figure input | G(input) (for reports, where widgets render empty)."""
    from dipnb.plots import show_images

    out = translate(model, image, train_mode=train_mode)
    return show_images([image, out], titles=list(titles), save=save)


class TranslateApp:
    """The state and logic behind :func:`upload_widget` (testable without a browser).

    ``handle(files)`` takes ipywidgets ``FileUpload.value`` entries (dicts with ``name`` and ``content``) and
    returns one message per file; results are kept in ``self.results`` as (name, input PIL, output PIL).
    A facades-style pair image (width = 2 × height) is split and the half given by ``direction`` is used as the
    input (``BtoA``: the right half, the label map).
    """

    def __init__(self, model: nn.Module, direction: str = "BtoA", train_mode: bool = False,
                 max_pixels: int = 40_000_000) -> None:
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        self.model, self.direction, self.train_mode, self.max_pixels = model, direction, train_mode, max_pixels
        self.results: list[tuple[str, Image.Image, Image.Image]] = []

    def load(self, name: str, content: bytes) -> Image.Image:
        """Decode an uploaded file, with a clear ``ValueError`` for anything that is not a usable image."""
        try:
            img = Image.open(io.BytesIO(content))
            if img.size[0] * img.size[1] > self.max_pixels:
                raise ValueError(f"{name}: {img.size[0]}×{img.size[1]} pixels is too large; upload a smaller image")
            img.load()
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise ValueError(
                f"{name}: not an image that can be read ({type(exc).__name__}: {exc}). Upload a PNG, JPEG, BMP, "
                "WEBP or TIFF file — a facades label map (colours of the facades palette) or a photo."
            ) from None
        img = img.convert("RGB")
        w, h = img.size
        if w == 2 * h:  # an A|B pair, as in the datasets: keep the input half
            img = img.crop((0, 0, h, h)) if self.direction == "AtoB" else img.crop((h, 0, w, h))
        return img

    def handle(self, files: Iterable[Mapping[str, Any]]) -> list[str]:
        messages = []
        for f in files:
            name = str(f.get("name", "upload"))
            try:
                img = self.load(name, bytes(f["content"]))
                out = translate(self.model, img, train_mode=self.train_mode)
            except (ValueError, TypeError) as exc:
                messages.append(f"✗ {exc}")
                continue
            self.results.append((name, img, out))
            messages.append(f"✓ {name}: {img.size[0]}×{img.size[1]} translated")
        return messages


def upload_widget(model: nn.Module, direction: str = "BtoA", train_mode: bool = False):
    """An ipywidgets FileUpload that translates the uploaded label map (BtoA) or photo (AtoB) and shows both.

    Returns the widget (a ``VBox``); its ``.app`` is the :class:`TranslateApp`. Without a front end (nbval,
    nbconvert) nothing is uploaded — show :func:`example_figure` beside it.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    app = TranslateApp(model, direction=direction, train_mode=train_mode)
    what = "a label map in the facades colours" if direction == "BtoA" else "a facade photo"
    upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload image")
    out = widgets.Output()
    help_text = widgets.HTML(f"Upload {what} (PNG/JPEG…; an A|B pair image is split automatically).")

    def on_upload(change: Any) -> None:
        files = change["new"]
        if not files:
            return
        out.clear_output(wait=True)
        with out:
            for msg in app.handle(files):
                print(msg)
            if app.results:
                name, img, res = app.results[-1]
                fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
                for ax, im, t in zip(axes, (img, res), (name, "G(input)")):
                    ax.imshow(im)
                    ax.set_title(t)
                    ax.axis("off")
                fig.tight_layout()
                display(fig)
                plt.close(fig)

    upload.observe(on_upload, names="value")
    box = widgets.VBox([help_text, upload, out])
    box.app = app  # type: ignore[attr-defined]
    box.on_upload = on_upload  # type: ignore[attr-defined]
    return box
