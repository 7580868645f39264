"""Shared test set-up: the ci profile, one torch thread, a non-interactive matplotlib, the real facades."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("DIPNB_PROFILE", "ci")

import matplotlib  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

matplotlib.use("Agg")  # unit tests draw off-screen; notebook kernels keep their inline backend
torch.set_num_threads(int(os.environ.get("DIPNB_THREADS", "1")))

ROOT = Path(__file__).resolve().parents[1]


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
