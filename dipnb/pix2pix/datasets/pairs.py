"""Paired image datasets in pix2pix format: each file holds A and B side by side (A left, B right).

A split folder (``train/``, ``val/``, ``test/``) holds images of width 2H and height H. ``direction="AtoB"``
makes A the network's *input* x and B its *target* y; ``"BtoA"`` swaps them. For facades, A is the photo and
B the colour-coded label map, so ``AtoB`` = photo → labels (the task of the course's train.py) and ``BtoA`` = labels → photo
(pix2pix).

In the model world images are float tensors C×H×W in [-1, 1]: x = u/127.5 − 1 for 8-bit values u.

Augmentation follows pix2pix: resize A and B to L = round(286·s/256) for a training size s, crop the same
random s×s window out of both and flip both with probability ½. The random numbers for item i in epoch e come
from ``numpy.random.default_rng([seed, e, i])`` — never from a global RNG — so a resumed run, a DataLoader with
any number of workers and a distributed run all see exactly the same augmentations.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from dipnb._io import IMAGE_EXTENSIONS, list_images
from dipnb.config import DIRECTIONS
from dipnb.images import decode_rgb, from_model_range, to_model_range, to_uint8

__all__ = ["DIRECTIONS", "PairFileError", "PairedImageDataset", "SPLITS", "load_size", "read_pair", "split_pair",
           "to_model_tensor", "to_uint8_image"]

SPLITS: tuple[str, ...] = ("train", "val", "test")

#: Decode into memory automatically when the decoded uint8 arrays take at most this many bytes
#: (env ``DIPNB_MAX_DATASET_BYTES`` overrides).
DEFAULT_MAX_IN_MEMORY_BYTES = 2 * 1024**3


def load_size(size: int) -> int:
    """Side L that images are resized to before the random crop: round(286·size/256) (pix2pix's 286 for 256)."""
    return int(round(size * 286 / 256))


def split_pair(img: Any, name: str = "image") -> tuple[Any, Any]:
    """Split a side-by-side image into (A, B) = (left half, right half).

    Accepts a PIL image, a NumPy array ``H×W[×C]`` (channels last) or a tensor ``[...,]C×H×W`` and returns
    two objects of the same kind. Raises ``ValueError`` unless the width is exactly twice the height.
    """
    if isinstance(img, Image.Image):
        w, h = img.size
    elif isinstance(img, np.ndarray):
        if img.ndim not in (2, 3):
            raise ValueError(f"{name}: expected an H×W or H×W×C array, got shape {img.shape}")
        h, w = img.shape[:2]
    elif isinstance(img, torch.Tensor):
        if img.ndim < 2:
            raise ValueError(f"{name}: expected a [..., C,] H×W tensor, got shape {tuple(img.shape)}")
        h, w = img.shape[-2:]
    else:
        raise TypeError(f"{name}: split_pair takes a PIL image, NumPy array or torch tensor, got {type(img)!r}")
    if w != 2 * h:
        raise ValueError(
            f"{name}: a pix2pix pair must be twice as wide as it is high (A left, B right), got width {w} × "
            f"height {h}. Put the two {h}×{h} images side by side, e.g. np.concatenate([A, B], axis=1)."
        )
    if isinstance(img, Image.Image):
        return img.crop((0, 0, h, h)), img.crop((h, 0, w, h))
    if isinstance(img, np.ndarray):
        return img[:, :h], img[:, h:]
    return img[..., :h], img[..., h:]


# --------------------------------------------------------------------------------------------------
# Reading and checking files
# --------------------------------------------------------------------------------------------------
class PairFileError(ValueError):
    """A file that cannot be used as an A|B pair."""


def read_pair(path: Path, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode an A|B file and resize both halves to side×side (bicubic): two uint8 arrays side×side×3.

    Decoding is :func:`dipnb.images.decode_rgb` (16-bit, palette, grey and alpha files scaled the same way as
    everywhere in dipnb); a JPEG at least twice as high as needed is decoded at 1/2, 1/4 or 1/8 scale in the
    DCT domain. Raises :class:`PairFileError` saying what is wrong with the file.
    """
    try:
        arr = decode_rgb(path, name=Path(path).name, draft=(2 * side, side))
    except ValueError as exc:
        raise PairFileError(str(exc).removeprefix(f"{Path(path).name}: ")) from exc
    h, w = arr.shape[:2]
    if abs(w - 2 * h) > 1 or w < 2:  # after a JPEG draft, w may differ from 2h by a pixel for odd sizes
        raise PairFileError(f"width {w} is not twice the height {h} (expected an A|B pair)")
    img = Image.fromarray(arr)
    a, b = img.crop((0, 0, h, h)), img.crop((w - h, 0, w, h))
    return _pil_resize(a, side), _pil_resize(b, side)


def _pil_resize(img: Image.Image, side: int) -> np.ndarray:
    if img.size != (side, side):
        img = img.resize((side, side), Image.BICUBIC)
    return np.array(img, dtype=np.uint8)  # a writable copy


def to_model_tensor(arr: np.ndarray) -> torch.Tensor:
    """uint8 H×W×3 → float32 3×H×W in [-1, 1]: x = u/127.5 − 1 (the model world's scaling)."""
    arr = np.ascontiguousarray(arr)
    if not arr.flags.writeable:  # e.g. a view of a read-only buffer: torch wants memory it may write
        arr = arr.copy()
    return to_model_range(torch.from_numpy(arr).permute(2, 0, 1))


def to_uint8_image(t: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`to_model_tensor`: a 3×H×W tensor in [-1, 1] → H×W×3 uint8, u = round((x + 1)·127.5)."""
    if t.ndim != 3:
        raise ValueError(f"expected a 3×H×W tensor, got shape {tuple(t.shape)}")
    return to_uint8(from_model_range(t.detach().float().cpu()))


# --------------------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------------------
def _check_split_folder(root: Path, split: str) -> Path:
    if not root.exists():
        raise FileNotFoundError(
            f"dataset folder {root} does not exist. Use dipnb.pix2pix.datasets.registry.resolve_dataset('facades') for the "
            "default data, run `make data` to download facades, or pass a folder holding train/ val/ test/."
        )
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is a file; pass the folder that holds the split folders train/ val/ test/.")
    folder = root / split
    if not folder.is_dir():
        present = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise FileNotFoundError(
            f"{root} has no '{split}/' folder (sub-folders found: {present or 'none'}). A pix2pix dataset holds "
            "split folders train/, val/ (and test/) of A|B side-by-side images."
        )
    return folder


class PairedImageDataset(torch.utils.data.Dataset):
    """Pairs (input, target) of float tensors 3×size×size in [-1, 1] from a split folder of A|B images.

    Args:
        root: folder that holds ``train/``, ``val/``, ``test/`` (see :func:`resolve_dataset`).
        split: which split folder to read.
        direction: ``"AtoB"`` (input = left half) or ``"BtoA"`` (input = right half).
        size: side of the square images returned.
        augment: pix2pix jitter (resize to L = round(286·size/256), same random crop and flip for input and
            target); ``None`` = on for ``"train"``, off otherwise. Off: images are resized to ``size``.
        limit: use only the first ``limit`` files (natural order: 1, 2, …, 10).
        in_memory: decode every file once into uint8 arrays; ``None`` = when the arrays take at most
            ``DIPNB_MAX_DATASET_BYTES`` (default 2 GiB).
        seed: base of the per-item random numbers, see :meth:`set_epoch`.

    Every file is fully decoded and checked when the dataset is built; all broken files (not an image,
    truncated, width ≠ 2·height) are reported together in one ``ValueError``, so training never fails mid-epoch.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        direction: str = "AtoB",
        size: int = 256,
        augment: bool | None = None,
        limit: int | None = None,
        in_memory: bool | None = None,
        seed: int = 0,
    ) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'AtoB' (input = left half) or 'BtoA' (input = right half), "
                             f"got {direction!r}")
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 8:
            raise ValueError(f"size must be an integer >= 8 (the side of the square images), got {size!r}")
        if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 1):
            raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
        self.root = Path(root).expanduser()
        self.split = split
        self.direction = direction
        self.size = int(size)
        self.augment = (split == "train") if augment is None else bool(augment)
        self.seed = int(seed)
        self.epoch = 0
        self.side = load_size(self.size) if self.augment else self.size

        folder = _check_split_folder(self.root, split)
        files = list_images(folder)
        if not files:
            others = [p.name for p in folder.iterdir()][:5]
            raise FileNotFoundError(
                f"{folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}); found {others or 'nothing'}. "
                "Put the A|B pair images there, or use resolve_dataset('facades') for the default data."
            )
        if limit is not None:
            files = files[: int(limit)]
        self.files: list[Path] = files

        need = len(files) * self.side * self.side * 3 * 2
        if in_memory is None:
            cap = int(os.environ.get("DIPNB_MAX_DATASET_BYTES", DEFAULT_MAX_IN_MEMORY_BYTES))
            in_memory = need <= cap
        self.in_memory = bool(in_memory)
        self.nbytes = need if self.in_memory else 0

        # Check (and, in memory, keep) every file now: errors surface here, never mid-epoch.
        problems: list[str] = []
        a_list: list[np.ndarray] = []
        b_list: list[np.ndarray] = []
        for f in files:
            try:
                a, b = read_pair(f, self.side)  # decoded either way: a broken file fails now
            except PairFileError as exc:
                problems.append(f"{f.name}: {exc}")
                continue
            if self.in_memory:
                a_list.append(a)
                b_list.append(b)
        if problems:
            shown = "\n  ".join(problems[:50]) + (f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else "")
            raise ValueError(
                f"{len(problems)} of {len(files)} files in {folder} cannot be used as A|B pairs:\n  {shown}\n"
                "Remove or replace them (re-download with `python -m dipnb.data download facades --force` for "
                "facades), then build the dataset again."
            )
        if self.in_memory:
            self._a = np.stack(a_list)
            self._b = np.stack(b_list)

    # ----------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.files)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose augmentations :meth:`__getitem__` returns (item i uses rng(seed, epoch, i))."""
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        """The random generator of item ``index`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def pair_arrays(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The un-augmented (A, B) uint8 arrays L×L×3 of item ``index`` (L = load size or size)."""
        if self.in_memory:
            return self._a[index], self._b[index]
        return read_pair(self.files[index], self.side)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} pairs")
        index = index % len(self)
        a, b = self.pair_arrays(index)
        if self.augment:
            rng = self.rng(index)
            y0, x0 = rng.integers(0, self.side - self.size + 1, size=2)
            flip = bool(rng.random() < 0.5)
            sl = (slice(y0, y0 + self.size), slice(x0, x0 + self.size))
            a, b = a[sl], b[sl]
            if flip:
                a, b = a[:, ::-1], b[:, ::-1]
        x, y = to_model_tensor(a), to_model_tensor(b)
        return (x, y) if self.direction == "AtoB" else (y, x)

    def __repr__(self) -> str:
        return (f"PairedImageDataset({str(self.root)!r}, split={self.split!r}, direction={self.direction!r}, "
                f"size={self.size}, n={len(self)}, augment={self.augment}, in_memory={self.in_memory})")
