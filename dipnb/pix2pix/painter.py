"""Paint a facade: a label map you edit, and the generator that turns it into a photo — plain Python, no front end.

:class:`LabelMapState` is the *model* behind the painter of notebook 07 (:mod:`dipnb.widgets.painter` is its
view). It holds an H×W map of facades class indices (:data:`~dipnb.pix2pix.facades.FACADES_CLASSES`, drawn in
:data:`~dipnb.pix2pix.facades.FACADES_PALETTE`) and every edit a user can make with the mouse is a method:
``rectangle``, ``brush`` (or ``begin_stroke`` / ``stroke_to`` / ``end_stroke``), ``clear``, ``load``, ``undo``,
``redo``. A script, a test or a notebook without a browser drives exactly the code the clicks drive; views
subscribe with :meth:`LabelMapState.on_change`.

Coordinates are *image pixels*: pixel ``(x, y)`` is column x, row y, centred at ``(x, y)``; a rectangle
``(x0, y0, x1, y1)`` covers the pixels with x0 ≤ x ≤ x1 and y0 ≤ y ≤ y1 (corners in either order, clipped to the
map); a brush stroke covers the pixels whose centres lie within ``radius`` of the stroke's polyline.

:func:`painter_generator` accepts any trained labels → photo generator — a U-Net object, a trainer, a run folder
or a ``checkpoint.pt`` — and refuses, with a message saying what to do, a photo → labels checkpoint, an FCN
(the course's network, or the FCN-score segmenter) where the pix2pix U-Net is expected, and a generator built for
another size. :class:`PhotoRenderer` runs it on the state: ``G(x)`` for the map's colours, timed.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dipnb.pix2pix.datasets.pairs import to_model_tensor, to_uint8_image
from dipnb.pix2pix.engine import CHECKPOINT_NAME, checkpoint_config, load_checkpoint
from dipnb.pix2pix.facades import FACADES_CLASSES, FACADES_PALETTE, NUM_FACADES_CLASSES
from dipnb.pix2pix.metrics import labels_to_classes
from dipnb.pix2pix.nets import FCN, UNetGenerator, unwrap
from dipnb.pix2pix.nets.util import generator_mode
from dipnb.pix2pix.scoring import SEGMENTER_FORMAT
from dipnb.pix2pix.tasks import build_generator
from dipnb.undo import ChangeListeners, UndoStack

__all__ = ["PRECISIONS", "LabelMapState", "PainterGeneratorError", "PhotoRenderer", "class_index", "painter_generator"]

Point = tuple[float, float]

#: "auto" keeps bfloat16 only if its photo of a blank map is within this many uint8 levels of float32's
AUTO_MAX_LEVELS = 4
#: the precisions :class:`PhotoRenderer` can run G in
PRECISIONS = ("auto", "fp32", "bf16")


def class_index(cls: int | str) -> int:
    """A facades class as its index: an int 0..11 or a name of :data:`FACADES_CLASSES` (``"window"``)."""
    if isinstance(cls, str):
        name = cls.strip().lower()
        if name not in FACADES_CLASSES:
            raise ValueError(f"unknown facades class {cls!r}; the classes are {', '.join(FACADES_CLASSES)}")
        return FACADES_CLASSES.index(name)
    if isinstance(cls, (bool, np.bool_)) or not isinstance(cls, (int, np.integer)):
        raise TypeError(f"a class is an index 0..{NUM_FACADES_CLASSES - 1} or a name such as 'window', "
                        f"got {cls!r}")
    if not 0 <= int(cls) < NUM_FACADES_CLASSES:
        raise ValueError(f"class index must be 0..{NUM_FACADES_CLASSES - 1} ({', '.join(FACADES_CLASSES)}), "
                         f"got {cls}")
    return int(cls)


def _finite(v: Any, what: str) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number, got {v!r}") from None
    if not np.isfinite(f):
        raise ValueError(f"{what} must be finite, got {v!r}")
    return f


class LabelMapState(ChangeListeners):
    """An editable H×W facades label map with undo/redo.

    Parameters
    ----------
    shape: ``(H, W)`` or one int for a square map (the generator's size, e.g. ``S.size``).
    fill: the class every pixel starts as (default ``"background"``).
    max_history: how many edits :meth:`undo` can take back.

    Every change calls the listeners of :meth:`on_change` with ``what = "map"`` (an edit, undo or redo),
    ``"stroke"`` (a brush stroke under way) or ``"message"``, and leaves a human-readable :attr:`message`.
    :attr:`version` counts the changes of the map (views redraw when it moves). The listeners and the undo steps
    are :mod:`dipnb.undo`'s.
    """

    def __init__(self, shape: int | Sequence[int], fill: int | str = "background", max_history: int = 200) -> None:
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape), int(shape))
        try:
            h, w = (int(s) for s in shape)
        except (TypeError, ValueError):
            raise TypeError(f"shape must be (H, W) or one int, got {shape!r}") from None
        if not (2 <= h <= 4096 and 2 <= w <= 4096):
            raise ValueError(f"a label map must be 2..4096 pixels on each side, got {h}×{w}")
        self._edits: UndoStack[np.ndarray] = UndoStack(max_history)
        super().__init__()
        self.shape = (h, w)
        self.fill = class_index(fill)
        self._map = np.full((h, w), self.fill, dtype=np.uint8)
        self._stroke: tuple[np.ndarray, int, float, Point] | None = None
        self.version = 0
        self.message = "Pick a class and a tool, then draw on the label map."

    # read-only views -----------------------------------------------------------------------------
    @property
    def classes(self) -> np.ndarray:
        """A copy of the H×W uint8 map of class indices."""
        return self._map.copy()

    @property
    def max_history(self) -> int:
        """How many edits :meth:`undo` can take back."""
        return self._edits.max_history

    @property
    def can_undo(self) -> bool:
        return self._edits.can_undo

    @property
    def can_redo(self) -> bool:
        return self._edits.can_redo

    @property
    def history(self) -> list[str]:
        """What :meth:`undo` would take back, oldest first (``"rectangle window"``, ``"brush door"``, …)."""
        return self._edits.names

    def counts(self) -> dict[str, int]:
        """Pixels per class (classes that occur)."""
        n = np.bincount(self._map.ravel(), minlength=NUM_FACADES_CLASSES)
        return {FACADES_CLASSES[k]: int(n[k]) for k in range(NUM_FACADES_CLASSES) if n[k]}

    def rgb(self) -> np.ndarray:
        """The map in the facades colours: H×W×3 uint8 (what a facades label image looks like)."""
        return FACADES_PALETTE[self._map]

    def model_input(self) -> torch.Tensor:
        """The generator's input x: a 1×3×H×W float tensor in [-1, 1] (u/127.5 − 1 of :meth:`rgb`)."""
        return to_model_tensor(self.rgb()).unsqueeze(0)

    def __repr__(self) -> str:
        return (f"LabelMapState({self.shape[0]}×{self.shape[1]}, {len(self._edits)} edits to undo, "
                f"{self._edits.n_redo} to redo, classes {self.counts()})")

    # editing -------------------------------------------------------------------------------------
    def _commit(self, name: str, before: np.ndarray, message: str) -> bool:
        """Record an edit that already changed ``self._map`` (from ``before``); False if nothing changed."""
        if np.array_equal(before, self._map):
            self.say(f"{name}: no pixel changed.")
            return False
        self._edits.record(name, before)
        self.version += 1
        self.message = message
        self._notify("map")
        return True

    def rectangle(self, x0: float, y0: float, x1: float, y1: float, cls: int | str) -> int:
        """Fill the pixels with x in [x0, x1] and y in [y0, y1] (rounded to pixels, either order, clipped).
        Returns how many pixels changed class."""
        k = class_index(cls)
        xs = sorted(int(round(_finite(v, "x"))) for v in (x0, x1))
        ys = sorted(int(round(_finite(v, "y"))) for v in (y0, y1))
        h, w = self.shape
        xa, xb = max(xs[0], 0), min(xs[1], w - 1)
        ya, yb = max(ys[0], 0), min(ys[1], h - 1)
        if xa > xb or ya > yb:
            self.say(f"That rectangle lies outside the {h}×{w} map; nothing was drawn.")
            return 0
        before = self._map.copy()
        self._map[ya:yb + 1, xa:xb + 1] = k
        changed = int((before != self._map).sum())
        self._commit(f"rectangle {FACADES_CLASSES[k]}", before,
                     f"Rectangle of {FACADES_CLASSES[k]}: x {xa}..{xb}, y {ya}..{yb} ({changed} pixels changed).")
        return changed

    def _stamp_segment(self, a: Point, b: Point, k: int, radius: float) -> None:
        """Paint the pixels whose centres are within ``radius`` of the segment ab."""
        h, w = self.shape
        r = radius
        xa, xb = int(np.floor(min(a[0], b[0]) - r)), int(np.ceil(max(a[0], b[0]) + r))
        ya, yb = int(np.floor(min(a[1], b[1]) - r)), int(np.ceil(max(a[1], b[1]) + r))
        xa, xb, ya, yb = max(xa, 0), min(xb, w - 1), max(ya, 0), min(yb, h - 1)
        if xa > xb or ya > yb:
            return
        yy, xx = np.mgrid[ya:yb + 1, xa:xb + 1].astype(np.float64)
        dx, dy = b[0] - a[0], b[1] - a[1]
        n2 = dx * dx + dy * dy
        t = np.zeros_like(xx) if n2 == 0 else np.clip(((xx - a[0]) * dx + (yy - a[1]) * dy) / n2, 0, 1)
        d2 = (xx - a[0] - t * dx) ** 2 + (yy - a[1] - t * dy) ** 2
        region = self._map[ya:yb + 1, xa:xb + 1]
        region[d2 <= r * r + 1e-9] = k

    def begin_stroke(self, x: float, y: float, cls: int | str, radius: float = 2.0) -> None:
        """Start a brush stroke at (x, y) (the mouse went down); the map changes at once, one undo step at the end."""
        k = class_index(cls)
        r = _finite(radius, "radius")
        if r < 0:
            raise ValueError(f"radius must be >= 0 pixels, got {radius}")
        if self._stroke is not None:
            self.end_stroke()
        p = (_finite(x, "x"), _finite(y, "y"))
        self._stroke = (self._map.copy(), k, r, p)
        self._stamp_segment(p, p, k, r)
        self.version += 1
        self._notify("stroke")

    def stroke_to(self, x: float, y: float) -> None:
        """Continue the stroke to (x, y) (the mouse moved with the button down)."""
        if self._stroke is None:
            return
        before, k, r, last = self._stroke
        p = (_finite(x, "x"), _finite(y, "y"))
        self._stamp_segment(last, p, k, r)
        self._stroke = (before, k, r, p)
        self.version += 1
        self._notify("stroke")

    def end_stroke(self) -> bool:
        """Finish the stroke (the mouse went up): one undo step. Returns False when it changed nothing."""
        if self._stroke is None:
            return False
        before, k, r, _ = self._stroke
        self._stroke = None
        changed = int((before != self._map).sum())
        return self._commit(f"brush {FACADES_CLASSES[k]}", before,
                            f"Brush stroke of {FACADES_CLASSES[k]}, radius {r:g} ({changed} pixels changed).")

    @property
    def stroking(self) -> bool:
        return self._stroke is not None

    def brush(self, points: Iterable[Sequence[float]], cls: int | str, radius: float = 2.0) -> int:
        """A whole brush stroke along ``points`` [(x, y), …]; returns how many pixels changed class."""
        pts = [tuple(p) for p in points]
        if not pts:
            raise ValueError("a brush stroke needs at least one point (x, y)")
        before = self._map.copy()
        self.begin_stroke(*pts[0], cls, radius)
        for p in pts[1:]:
            self.stroke_to(*p)
        self.end_stroke()
        return int((before != self._map).sum())

    def clear(self, cls: int | str | None = None) -> bool:
        """Fill the whole map with ``cls`` (default: the state's ``fill`` class). Undoable."""
        k = self.fill if cls is None else class_index(cls)
        before = self._map.copy()
        self._map[:] = k
        return self._commit("clear", before, f"Cleared to {FACADES_CLASSES[k]}.")

    def load(self, label_map: Any, name: str = "a label map") -> bool:
        """Replace the map (undoable) by ``label_map``: an H×W array/tensor of class indices, or a facades label
        image — a 3×H×W float tensor in [-1, 1] (a dataset's input) or an H×W×3 uint8 array — whose colours are
        read as the nearest palette colour. Another size is resized (nearest neighbour) to :attr:`shape`."""
        if isinstance(label_map, torch.Tensor) and label_map.ndim == 4 and label_map.shape[0] == 1:
            label_map = label_map[0]
        if isinstance(label_map, torch.Tensor) and label_map.is_floating_point():
            classes = labels_to_classes(label_map).numpy()
        elif isinstance(label_map, np.ndarray) and label_map.ndim == 3:
            if label_map.dtype != np.uint8:
                raise TypeError(f"an H×W×3 label image must be uint8, got {label_map.dtype}")
            classes = labels_to_classes(label_map).numpy()
        else:
            classes = np.asarray(label_map.cpu() if isinstance(label_map, torch.Tensor) else label_map)
            if classes.ndim != 2 or not np.issubdtype(classes.dtype, np.integer):
                raise ValueError("load takes an H×W map of class indices, a 3×H×W label tensor in [-1, 1] or an "
                                 f"H×W×3 uint8 label image; got shape {classes.shape}, dtype {classes.dtype}")
            if classes.size and (classes.min() < 0 or classes.max() >= NUM_FACADES_CLASSES):
                raise ValueError(f"class indices must be 0..{NUM_FACADES_CLASSES - 1}, got "
                                 f"{classes.min()}..{classes.max()}")
        h, w = self.shape
        if classes.shape != (h, w):
            rows = (np.arange(h) * classes.shape[0] // h)[:, None]
            cols = (np.arange(w) * classes.shape[1] // w)[None, :]
            classes = classes[rows, cols]
        before = self._map.copy()
        self._map[:] = classes.astype(np.uint8)
        return self._commit("load", before, f"Loaded {name}.")

    def undo(self) -> bool:
        """Take back the last edit (False: nothing to undo)."""
        if self._stroke is not None:
            self.end_stroke()
        if not self._edits.can_undo:
            self.say("Nothing to undo.")
            return False
        name, before = self._edits.undo(self._map.copy())
        self._restore(before, f"Undid {name}.")
        return True

    def redo(self) -> bool:
        """Redo the last undone edit (False: nothing to redo)."""
        if not self._edits.can_redo:
            self.say("Nothing to redo.")
            return False
        name, after = self._edits.redo(self._map.copy())
        self._restore(after, f"Redid {name}.")
        return True

    def _restore(self, snapshot: np.ndarray, message: str) -> None:
        """Put a label map from the undo history back and tell the listeners (``what = "map"``)."""
        self._map[:] = snapshot
        self.version += 1
        self.message = message
        self._notify("map")


# --------------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------------
class PainterGeneratorError(ValueError):
    """A model or checkpoint the painter cannot use (wrong direction, network or size)."""


def _check_net(G: nn.Module, size: int | None, where: str) -> nn.Module:
    inner = unwrap(G)
    if isinstance(inner, FCN):
        raise PainterGeneratorError(
            f"{where} is an FCN (the network of notebooks 05–06, or the FCN-score segmenter), but the painter "
            "needs the pix2pix U-Net generator trained labels → photo: train one with `--model unet --direction "
            "BtoA` (notebook 07 section 7 does), then pass it or its run folder.")
    if not isinstance(inner, UNetGenerator):
        raise PainterGeneratorError(f"{where} is a {type(inner).__name__}; the painter needs the pix2pix "
                                    "UNetGenerator (labels → photo)")
    if (inner.in_ch, inner.out_ch) != (3, 3):
        raise PainterGeneratorError(f"{where} maps {inner.in_ch} to {inner.out_ch} channels; the painter needs "
                                    "3 (a label image) → 3 (a photo)")
    if size is not None and inner.multiple != int(size):
        raise PainterGeneratorError(
            f"{where} is a U-Net for {inner.multiple}² images ({inner.num_downs} levels), but the painter draws "
            f"{size}² label maps: use a generator trained at {size}² or make the painter {inner.multiple}² "
            f"(size={inner.multiple}).")
    return G


def painter_generator(source: Any, size: int | None = None, direction: str | None = None) -> nn.Module:
    """The labels → photo generator G from ``source``, checked; raises :class:`PainterGeneratorError`.

    ``source``: a ``UNetGenerator`` (its direction is unknown: pass ``direction="BtoA"`` if you know it, a
    photo → labels one is refused), a :class:`~dipnb.pix2pix.engine.Trainer` (its config is checked), or a
    path to a training run folder or its ``checkpoint.pt``. ``size``: the painter's map size (None: any).
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            path = path / CHECKPOINT_NAME
        if not path.is_file():
            raise PainterGeneratorError(f"no checkpoint at {path}: pass a training run folder (with "
                                        f"{CHECKPOINT_NAME}) or the checkpoint file")
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
            raise PainterGeneratorError(f"{path} cannot be read as a checkpoint ({type(exc).__name__})") from exc
        if isinstance(raw, dict) and raw.get("format") == SEGMENTER_FORMAT:
            raise PainterGeneratorError(
                f"{path} is the FCN-score segmenter (an FCN, photo → labels), not a generator: the painter needs "
                "the pix2pix U-Net trained labels → photo (`--model unet --direction BtoA`)")
        ck = load_checkpoint(path)
        cfg = checkpoint_config(ck)
        where = f"the checkpoint {path}"
        if cfg.direction != "BtoA":
            raise PainterGeneratorError(
                f"{where} was trained photo → labels (direction {cfg.direction}); the painter turns labels into "
                "photos: use a run trained with `--direction BtoA`")
        if cfg.model != "unet":
            _check_net(FCN(), None, where)
        if size is not None and cfg.size != int(size):
            raise PainterGeneratorError(
                f"{where} holds a U-Net trained at {cfg.size}², but the painter draws {size}² label maps: use "
                f"a checkpoint trained at {size}² or make the painter {cfg.size}² (size={cfg.size})")
        G = build_generator(cfg)
        G.load_state_dict(ck["models"]["G"])
        return _check_net(G.eval(), size, where)
    config = getattr(source, "config", None)
    task = getattr(source, "task", None)
    if config is not None and task is not None and hasattr(task, "net"):  # a Trainer
        if config.direction != "BtoA":
            raise PainterGeneratorError(
                f"this trainer trains photo → labels (direction {config.direction}); the painter turns labels into "
                "photos: train with direction='BtoA'")
        return _check_net(task.net("G"), size, "the trainer's generator")
    if not isinstance(source, nn.Module):
        raise PainterGeneratorError(f"the painter takes a U-Net generator, a Trainer or a run folder / checkpoint "
                                    f"path, got {type(source).__name__}")
    if direction is not None and direction != "BtoA":
        raise PainterGeneratorError(f"a generator trained {direction} (photo → labels) cannot paint photos from "
                                    "labels: use one trained with direction 'BtoA'")
    return _check_net(source, size, "this model")


class PhotoRenderer:
    """G(label map) for the painter, timed: :meth:`render` returns the photo as H×W×3 uint8.

    ``train_mode=False`` (default): eval mode, deterministic — the same map always gives the same photo.
    ``train_mode=True``: the paper's test-time setting (dropout on, per-image BatchNorm statistics); ``seed``
    then fixes the dropout draw so that redrawing an unchanged map does not flicker.
    ``precision="bf16"``: run a bfloat16, channels-last copy of G (on CPUs with AMX / AVX-512 BF16 about three times
    as fast at 256², outputs within a level or two of fp32: ``benchmarks/painter.py`` measures both);
    ``"auto"``: time both once and keep bf16 only where it is faster and close (:attr:`used` says which).
    :attr:`seconds` holds the time of every render (the widget prints the last one).
    """

    def __init__(self, G: nn.Module, train_mode: bool = False, seed: int | None = 0,
                 precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.train_mode = bool(train_mode)
        self.seed = seed
        self.precision = precision
        self.G = G
        self.seconds: list[float] = []
        self.refresh()

    def refresh(self) -> None:
        """Take G's current weights (for ``precision="bf16"`` a bfloat16, channels-last copy of G is made here:
        call this again if G is trained further)."""
        self.used = "fp32" if self.precision == "auto" else self.precision
        self._net = self.G
        if self.precision == "fp32":
            return
        p = next(self.G.parameters(), None)
        if p is None or p.device.type != "cpu" or p.dtype != torch.float32:
            if self.precision == "bf16":
                raise ValueError("precision='bf16' makes a bfloat16 copy of a float32 generator on the CPU")
            return
        fast = copy.deepcopy(self.G).to(dtype=torch.bfloat16, memory_format=torch.channels_last)
        if self.precision == "bf16":
            self._net, self.used = fast, "bf16"
            return
        # auto: time both on a blank label map (after a warm-up run each); keep bf16 only if it is faster and
        # within AUTO_MAX_LEVELS uint8 levels of fp32 there
        side = 2 ** int(getattr(unwrap(self.G), "num_downs", 8))
        x = LabelMapState(side).model_input()
        times, photos = {}, {}
        for name, net in (("fp32", self.G), ("bf16", fast)):
            self._net, self.used = net, name
            self.photo(x)
            t0 = time.perf_counter()
            photos[name] = self.photo(x)
            times[name] = time.perf_counter() - t0
        close = int(np.abs(photos["fp32"].astype(int) - photos["bf16"].astype(int)).max()) <= AUTO_MAX_LEVELS
        if close and times["bf16"] < 0.8 * times["fp32"]:
            self._net, self.used = fast, "bf16"
        else:
            self._net, self.used = self.G, "fp32"

    @property
    def last_seconds(self) -> float:
        return self.seconds[-1] if self.seconds else float("nan")

    def photo(self, x: torch.Tensor) -> np.ndarray:
        """G(x) for a 1×3×H×W input in [-1, 1] → H×W×3 uint8."""
        net = self._net
        p = next(net.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
        dtype = p.dtype if p is not None else torch.float32
        x = x.to(device=device, dtype=dtype)
        if self.used == "bf16":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), generator_mode(net, self.train_mode):
            if self.train_mode and self.seed is not None:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(self.seed)
                    y = net(x)
            else:
                y = net(x)
        return to_uint8_image(y[0].float())

    def render(self, state: LabelMapState) -> np.ndarray:
        """The photo for ``state``'s current map; appends the time taken to :attr:`seconds`."""
        t0 = time.perf_counter()
        out = self.photo(state.model_input())
        self.seconds.append(time.perf_counter() - t0)
        return out
