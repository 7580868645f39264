"""Shared test set-up: the ci profile, one torch thread, a non-interactive matplotlib, the real facades."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("DIPNB_PROFILE", "ci")

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

matplotlib.use("Agg")  # unit tests draw off-screen; notebook kernels keep their inline backend
torch.set_num_threads(int(os.environ.get("DIPNB_THREADS", "1")))

ROOT = Path(__file__).resolve().parents[1]
# The tests mirror the package (tests/poisson/, tests/pix2pix/…); the shared helpers (browser.py, labserver.py)
# stay here, importable from every folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def facades_dir() -> Path | None:
    """The real facades folder (``DIPNB_FACADES_DIR``, ``../shared/datasets/facades`` or where ``make data``
    puts it, ``dipnb.data_dir()/facades``), or None."""
    from dipnb.config import data_dir

    env = os.environ.get("DIPNB_FACADES_DIR")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent / "shared" / "datasets" / "facades", data_dir() / "facades"]
    for c in candidates:
        if (c / "train").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def real_facades() -> Path:
    """Path of the real facades dataset; skips the test when it is not on this machine."""
    path = facades_dir()
    if path is None:
        pytest.skip(
            "real facades dataset not found: set DIPNB_FACADES_DIR to a folder with train/ and val/ "
            "(or place it at ../shared/datasets/facades, or run `make data`)"
        )
    return path


def course_poisson_source() -> Path | None:
    """The course's Poisson pairs (``DIPNB_COURSE_POISSON_DIR``, ``../shared/datasets/course_poisson`` or where
    ``make data`` puts them), verified by SHA-256, or None."""
    from dipnb.config import data_dir
    from dipnb.poisson.examples import check_course_poisson

    env = os.environ.get("DIPNB_COURSE_POISSON_DIR")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent / "shared" / "datasets" / "course_poisson", data_dir() / "course_poisson"]
    return next((c for c in candidates if c.is_dir() and not check_course_poisson(c)), None)


@pytest.fixture(scope="session")
def course_poisson() -> Path:
    """Path of the course template's Poisson pairs (monolisa, water); skips the test when they are absent."""
    path = course_poisson_source()
    if path is None:
        pytest.skip(
            "the course's Poisson pairs were not found: set DIPNB_COURSE_POISSON_DIR to a folder holding monolisa/ "
            "and water/ (or place them at ../shared/datasets/course_poisson, or run `make data`)"
        )
    return path


def make_pairs(root: Path, n_train: int = 16, n_val: int = 4, size: int = 32, seed: int = 0) -> Path:
    """A tiny pix2pix-format dataset: smooth random A images, B = a colour transform of A (learnable)."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            low = rng.random((4, 4, 3))
            a = np.asarray(Image.fromarray((low * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR))
            b = 255 - a[..., ::-1]
            Image.fromarray(np.concatenate([a, b], axis=1)).save(root / split / f"{i + 1}.png")
    return root
