"""Translate your own image in a notebook: an upload widget (:func:`upload_widget`) and a static figure for reports.

:class:`TranslateApp` holds the state and logic (testable without a browser); :func:`upload_widget` is its
ipywidgets view; :func:`example_figure` draws input | G(input) with matplotlib (widgets render empty in reports).
Inference itself is :func:`dipnb.pix2pix.inference.translate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image
from torch import nn

from dipnb.config import DIRECTIONS
from dipnb.images import decode_rgb
from dipnb.pix2pix.datasets.pairs import split_pair
from dipnb.pix2pix.inference import translate
from dipnb.plots import show_images

__all__ = ["TranslateApp", "example_figure", "upload_widget"]


def example_figure(model: nn.Module, image: Any, *, titles: tuple[str, str] = ("your input", "G(input)"),
                   save: str | Path | None = None, train_mode: bool = False):
    """A static matplotlib figure input | G(input) (for reports, where widgets render empty)."""
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
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        self.model, self.direction, self.train_mode, self.max_pixels = model, direction, train_mode, max_pixels
        self.results: list[tuple[str, Image.Image, Image.Image]] = []

    def load(self, name: str, content: bytes) -> Image.Image:
        """Decode an uploaded file (:func:`dipnb.images.decode_rgb`), a clear ``ValueError`` for anything unusable."""
        try:
            rgb = decode_rgb(content, name=name, max_pixels=self.max_pixels)
        except ValueError as exc:
            raise ValueError(f"{exc} Upload a PNG, JPEG, BMP, WEBP or TIFF file — a facades label map (colours of "
                             "the facades palette) or a photo.") from None
        img = Image.fromarray(rgb)
        w, h = img.size
        if w == 2 * h:  # an A|B pair, as in the datasets: keep the input half
            a, b = split_pair(img, name)
            img = a if self.direction == "AtoB" else b
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
