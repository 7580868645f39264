"""The course's own blending examples (the template's ``data_poisson/`` pairs) and the offline fallback.

The course template (DIP-Teaching, ``Assignments/02_DIPwithPyTorch``, commit e95e713 of 2026-03-31) ships the
pairs its students blend in ``data_poisson/``: ``monolisa`` (Ginevra de' Benci's face into the Mona Lisa) and
``water`` (a shark into a beach scene). (Its third pair, ``equation``, lacks its target at that commit.)
``make data`` fetches them (``python -m dipnb.data download course_poisson``) into ``data/course_poisson/`` and
checks each file's SHA-256 against :data:`COURSE_PAIRS`. The template gives no polygon — a student draws one in
its app — so each pair carries **ours** (``points``, ``offset``), drawn for this workbook around the face and the
shark.

* :func:`course_poisson_dir` — where the pairs are: ``$DIPNB_COURSE_POISSON_DIR``, else ``data/course_poisson``
  when it verifies, else ``None``;
* :func:`course_example` — one pair as tensors, with its polygon and offset, optionally scaled;
* :func:`blend_example` — the course's pair when present, else the offline photos (scikit-image's astronaut and
  coffee), saying which it uses: what notebooks 02–04 and the polygon app start from.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from dipnb.config import data_dir
from dipnb.images import load_image, resize, sample_image
from dipnb.poisson.demo import demo_problem
from dipnb.poisson.mask import polygon_mask

#: The template's repository, commit and folder (named once here; README and notebook 00 name it too).
COURSE_REPO = "YudongGuo/DIP-Teaching"
COURSE_COMMIT = "e95e713"
COURSE_DATE = "2026-03-31"
#: Raw files of the template's ``data_poisson/`` folder at that commit: ``COURSE_POISSON_URL + "<pair>/<file>"``.
COURSE_POISSON_URL = ("https://raw.githubusercontent.com/YudongGuo/DIP-Teaching/e95e713/Assignments/02_DIPwithPyTorch/"
                      "data_poisson/")


@dataclass(frozen=True)
class CoursePair:
    """One of the template's ``data_poisson`` pairs: its files (with SHA-256) and our polygon on the source."""

    name: str
    source: str  #: file name of the source g inside ``<pair>/``
    target: str  #: file name of the target f*
    source_sha256: str
    target_sha256: str
    points: tuple[tuple[float, float], ...]  #: our polygon (x, y) on the source (the template gives none)
    offset: tuple[int, int]  #: our placement (dx, dy) of the polygon in the target
    description: str

    def files(self) -> dict[str, str]:
        """``{"<pair>/<file>": sha256}`` for both files."""
        return {f"{self.name}/{self.source}": self.source_sha256, f"{self.name}/{self.target}": self.target_sha256}

    def urls(self, base: str = COURSE_POISSON_URL) -> dict[str, str]:
        """``{"<pair>/<file>": URL}``: the raw file at the template's commit (or under another ``base``)."""
        return {rel: base.rstrip("/") + "/" + rel for rel in self.files()}


COURSE_PAIRS: dict[str, CoursePair] = {
    "monolisa": CoursePair(
        "monolisa", "source.png", "target.png",
        "2fe81435e08121fc7416540ed6214afb111906eac10aae3406b4d19a036eb0c7",
        "46c15c87ac06a323f9efe3b587fc9aa5d71bf8ebf1f92c2d876a538689069ac6",
        points=((72, 172), (150, 148), (240, 150), (292, 178), (290, 262), (262, 338), (200, 374), (140, 370),
                (96, 330), (74, 252)),
        offset=(0, 6),
        description="Ginevra de' Benci's eyes, nose and mouth (source, 416×506) into the Mona Lisa (target, 416×506)",
    ),
    "water": CoursePair(
        "water", "source.jpg", "target.jpg",
        "bc26789d0dc9ec7f347e578c0317d44c0334748a16c37ad33b9fbf4906f44cf2",
        "540247b82b982dad7cfe6bb8159be0889b57222bfddbce74ad8a0b688cace70f",
        points=((60, 88), (110, 78), (160, 98), (205, 122), (218, 150), (188, 178), (110, 176), (74, 152),
                (58, 116)),
        offset=(340, 210),
        description="a great white shark (source, 400×266) into a beach scene (target, 603×452)",
    ),
}


class BlendExample(NamedTuple):
    """A ready blending problem: ``source``, ``target`` (3×H×W in [0, 1]), ``mask`` (Ω on the source),
    ``offset`` (dx, dy), ``points`` (the polygon on the source, N×2 (x, y)), ``name`` and ``origin`` (words)."""

    source: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    offset: tuple[int, int]
    points: np.ndarray
    name: str
    origin: str


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_course_poisson(root: str | os.PathLike, pairs: tuple[str, ...] | None = None) -> list[str]:
    """Problems found in ``root`` (one folder per pair, files checked by SHA-256); empty = verified."""
    root = Path(root)
    problems = []
    for name in pairs or tuple(COURSE_PAIRS):
        for rel, digest in COURSE_PAIRS[name].files().items():
            f = root / rel
            if not f.is_file():
                problems.append(f"missing file {rel}")
            elif sha256_of(f) != digest:
                problems.append(f"{rel}: sha256 differs from the template's file (damaged or another image)")
    return problems


def course_poisson_dir() -> Path | None:
    """The folder holding the course's pairs, or ``None`` when they are not installed.

    ``$DIPNB_COURSE_POISSON_DIR`` when set (it must hold a verified copy: a clear error otherwise), else
    ``data_dir()/"course_poisson"`` when it verifies, else ``None`` (the offline photos are used instead).
    """
    env = os.environ.get("DIPNB_COURSE_POISSON_DIR", "").strip()
    if env:
        path = Path(env).expanduser()
        problems = check_course_poisson(path) if path.is_dir() else [f"{path} is not a folder"]
        if problems:
            raise FileNotFoundError(
                f"DIPNB_COURSE_POISSON_DIR={env} does not hold the course's pairs ({problems[0]}); point it at the "
                "folder with monolisa/ and water/, or unset it to use data/course_poisson (`make data`).")
        return path
    path = data_dir() / "course_poisson"
    if path.is_dir() and not check_course_poisson(path):
        return path
    return None


def course_example(name: str = "monolisa", scale: float = 1.0, root: str | os.PathLike | None = None) -> BlendExample:
    """The course's pair ``name`` with our polygon and offset, every image and coordinate scaled by ``scale``."""
    if name not in COURSE_PAIRS:
        raise ValueError(f"unknown course pair {name!r}; choose one of {', '.join(COURSE_PAIRS)}")
    folder = Path(root) if root is not None else course_poisson_dir()
    if folder is None:
        raise FileNotFoundError(
            "the course's example pairs are not installed; run `make data` (python -m dipnb.data download "
            "course_poisson) or set DIPNB_COURSE_POISSON_DIR.")
    pair = COURSE_PAIRS[name]
    src = load_image(folder / name / pair.source)
    tgt = load_image(folder / name / pair.target)
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale!r}")
    if scale != 1:
        src = resize(src, max(1, round(max(src.shape[-2:]) * scale)))
        tgt = resize(tgt, max(1, round(max(tgt.shape[-2:]) * scale)))
    pts = np.asarray(pair.points, dtype=np.float64) * scale
    mask = polygon_mask(pts, tuple(src.shape[-2:]))
    offset = (round(pair.offset[0] * scale), round(pair.offset[1] * scale))
    return BlendExample(src.contiguous(), tgt.contiguous(), mask, offset, pts, name,
                        f"the course's data_poisson/{name} pair (template {COURSE_COMMIT}): {pair.description}")


def course_box_side(name: str = "monolisa") -> int:
    """The longer side of our polygon's bounding box on the pair's source, in pixels (at scale 1)."""
    pts = np.asarray(COURSE_PAIRS[name].points)
    return int(np.ceil((pts.max(0) - pts.min(0)).max()))


def blend_example(size: int | None = None, name: str = "monolisa", *, verbose: bool = True) -> BlendExample:
    """The course's pair ``name`` when installed, else the offline photos (astronaut's face into the coffee).

    ``size``: longest side of the target; ``None`` keeps the course's images as they are (the offline photos
    are then 256 px). Prints which images it uses when ``verbose``.
    """
    root = course_poisson_dir()  # a wrong DIPNB_COURSE_POISSON_DIR raises: reported, not ignored
    if root is not None:
        pair = COURSE_PAIRS[name]
        full = load_image(root / name / pair.target).shape[-2:]
        ex = course_example(name, 1.0 if size is None else min(1.0, size / max(full)), root)
        if verbose:
            print(f"using {ex.origin} — from {root}")
        return ex
    n = size or 256
    tgt = sample_image("coffee", n)
    src = sample_image("astronaut", n)
    h, w = src.shape[-2:]
    pts = np.array([[0.38 * w, 0.08 * h], [0.62 * w, 0.08 * h], [0.66 * w, 0.30 * h], [0.58 * w, 0.46 * h],
                    [0.42 * w, 0.46 * h], [0.34 * w, 0.30 * h]])
    mask = polygon_mask(pts, (h, w))
    offset = (round(0.5 * tgt.shape[-1] - 0.5 * w), round(0.45 * tgt.shape[-2] - 0.27 * h))
    ex = BlendExample(src, tgt, mask, offset, pts, "astronaut_coffee",
                      "the offline photos (scikit-image's astronaut and coffee): the course's pairs are not "
                      "installed (`make data` fetches them)")
    if verbose:
        print(f"using {ex.origin}")
    return ex


def example_problem(size: int, name: str = "monolisa", *, verbose: bool = True
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int], np.ndarray, str]:
    """A cloning problem whose Ω has a bounding box of about ``size``×``size``: the course's pair ``name``
    scaled down to it when installed (never up), else :func:`~dipnb.poisson.demo.demo_problem` (the astronaut's
    face into the coffee photo). Returns ``(source, target, mask, offset, points, origin)``; prints which."""
    if course_poisson_dir() is not None:
        ex = course_example(name, min(1.0, size / course_box_side(name)))
        origin = f"{ex.origin}; scaled so that Ω's box is about {size}² ({tuple(ex.target.shape[-2:])} target)"
    else:
        src, tgt, mask, off, pts = demo_problem(size)
        ex = BlendExample(src, tgt, mask, off, pts, "astronaut_coffee", "")
        origin = (f"the offline photos: the astronaut's face into the coffee photo, Ω's box {size}² (the course's "
                  "pairs are not installed: `make data` fetches them)")
    if verbose:
        print(f"using {origin}")
    return ex.source, ex.target, ex.mask, ex.offset, ex.points, origin


__all__ = ["COURSE_COMMIT", "COURSE_PAIRS", "COURSE_POISSON_URL", "COURSE_REPO", "BlendExample", "CoursePair",
           "blend_example", "check_course_poisson", "course_box_side", "course_example", "course_poisson_dir",
           "example_problem"]
