"""Run-time configuration: profiles, device, threads, seeds and data paths.

A *profile* is plain data that notebooks and scripts read (image sizes, epochs, iterations); code never
branches on the profile's name. Three profiles exist:

* ``ci``  — tiny: every notebook runs in seconds on a 2-core CPU (used by ``make test``).
* ``cpu`` — meaningful results on a laptop CPU in minutes.
* ``gpu`` — the papers' settings (hours on a GPU).

The profile is chosen automatically (``gpu`` when CUDA or MPS is available, else ``cpu``) and the
environment variable ``DIPNB_PROFILE`` overrides it. Other variables: ``DIPNB_DEVICE`` (``cpu``,
``cuda``, ``cuda:1``, ``mps``), ``DIPNB_THREADS`` (torch intra-op threads), ``DIPNB_DATA`` (data folder,
default ``data/`` at the project root), ``DIPNB_FIGURES`` (where figures are saved) and ``DIPNB_SEED``.

This module imports nothing from :mod:`dipnb` and imports torch lazily, so it is cheap to import.
"""

from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

PROFILE_NAMES = ("ci", "cpu", "gpu")

#: The project root when dipnb runs from a checkout (``pip install -e .``), else ``None``.
_PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT: Path | None = (
    _PACKAGE_DIR.parent if (_PACKAGE_DIR.parent / "pyproject.toml").is_file() else None
)


# --------------------------------------------------------------------------------------------------
# Profile sections: one frozen dataclass per part of the workbook.
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PoissonSettings:
    """Sizes and iteration budgets for the Poisson notebooks (01–04)."""

    image_size: int = 256  #: longest side the gallery photos are resized to (notebook 04)
    adam_size: int = 128  #: region size S (S×S bounding box) of the Adam demo in notebook 03
    #: steps of the course template's Adam loop in notebook 03 (i19: the template, DIP-Teaching e95e713, runs
    #: 5,000 at lr 1e-2, × 0.1 after step 3,333 = int(5000·2/3), no stopping rule; cpu and gpu run exactly that,
    #: ci caps it to fit its budget, the lr drop then falls at 2/3 of the cap).
    #: The "loss change < 1e-9 over 100 steps" rule is one student's, not the course's (adam's ``loss_tol``).
    adam_steps: int = 3000
    adam_preview_every: int = 100  #: live-preview period (steps) of the Adam solvers
    fixed_adam_steps: int = 300  #: steps of the fixed Adam of notebook 03 (multiscale, gradient energy): ours
    study_sizes: tuple[int, ...] = (64, 128)  #: region sizes for the solver comparison table (notebook 03)


@dataclass(frozen=True)
class FCNSettings:
    """Training settings of the FCN (one student's solution of the course's blank; notebooks 05–06, ``python -m dipnb.pix2pix.train``)."""

    image_size: int = 128  #: training resolution (square)
    batch_size: int = 8
    epochs: int = 10
    max_steps: int | None = None  #: cap on optimiser steps per epoch (``None`` = whole epoch)
    lr: float = 1e-3
    train_limit: int | None = None  #: use only the first N training pairs (``None`` = all)
    val_limit: int | None = None
    sample_every: int = 1  #: save a sample grid every N epochs
    num_workers: int = 0  #: DataLoader workers (0: in-memory data is fastest on a CPU; >0 keeps a GPU fed)


@dataclass(frozen=True)
class Pix2PixSettings:
    """Training settings of pix2pix (U-Net + PatchGAN, notebook 07)."""

    image_size: int = 128
    batch_size: int = 1
    epochs: int = 10  #: epochs at constant learning rate
    decay_epochs: int = 10  #: further epochs with linear decay to 0
    max_steps: int | None = None
    lr: float = 2e-4
    lambda_l1: float = 100.0
    train_limit: int | None = None
    val_limit: int | None = None
    ngf: int = 64  #: U-Net width (the paper: 64)
    ndf: int = 64  #: PatchGAN width (the paper: 64)
    d_layers: int = 3  #: PatchGAN depth: 0/1/3/5 → 1/16/70/286-pixel patches (the paper: 3 → 70×70)
    seg_epochs: int = 15  #: epochs of the FCN-score segmenter (the FCN of notebooks 05–06, photo → labels), trained once
    seg_batch_size: int = 8
    seg_max_steps: int | None = None  #: cap on the segmenter's steps per epoch


@dataclass(frozen=True)
class Profile:
    """Everything a notebook needs to know about how big to make its experiments."""

    name: str
    threads: int | None  #: torch intra-op threads (``None`` = torch's default)
    poisson: PoissonSettings = field(default_factory=PoissonSettings)
    fcn: FCNSettings = field(default_factory=FCNSettings)
    pix2pix: Pix2PixSettings = field(default_factory=Pix2PixSettings)

    def replace(self, **changes: Any) -> "Profile":
        """Return a copy with some top-level fields replaced."""
        return dataclasses.replace(self, **changes)


PROFILES: dict[str, Profile] = {
    # One thread: on the shared 2-core CI machines torch with 2 intra-op threads measured slower than with
    # one (see benchmarks/threads.py and README "Profiles").
    "ci": Profile(
        name="ci",
        threads=1,
        poisson=PoissonSettings(image_size=128, adam_size=48, adam_steps=300, adam_preview_every=50,
                                fixed_adam_steps=200, study_sizes=(32, 64)),
        fcn=FCNSettings(image_size=32, batch_size=8, epochs=2, max_steps=4, train_limit=32, val_limit=8,
                        sample_every=1),
        pix2pix=Pix2PixSettings(image_size=32, batch_size=4, epochs=1, decay_epochs=1, max_steps=4,
                                train_limit=16, val_limit=8, ngf=32, ndf=32, seg_epochs=2, seg_max_steps=4),
    ),
    "cpu": Profile(
        name="cpu",
        threads=None,
        poisson=PoissonSettings(image_size=384, adam_size=128, adam_steps=5000, adam_preview_every=100,  # i19: e95e713's
                                fixed_adam_steps=300, study_sizes=(64, 128, 256)),
        # Sized so that `make report` runs every notebook in <= 15 min on 2 quiet cores the first time (README,
        # "Profiles and run times"). Measured on 2 quiet cores, 2 threads, 400 pairs at 64²: an FCN epoch (batch 8)
        # 9 s, an L1 U-Net epoch (batch 4) 20 s, a GAN epoch 40 s. 06: 2 × 8 FCN epochs; 07: segmenter 8 epochs +
        # L1, cGAN, cGAN + L1 at 2 + 2 epochs each.
        fcn=FCNSettings(image_size=64, batch_size=8, epochs=8, sample_every=4),
        pix2pix=Pix2PixSettings(image_size=64, batch_size=4, epochs=2, decay_epochs=2, seg_epochs=8),
    ),
    "gpu": Profile(
        name="gpu",
        threads=None,
        poisson=PoissonSettings(image_size=512, adam_size=300, adam_steps=5000, adam_preview_every=250,  # i19: e95e713
                                fixed_adam_steps=300, study_sizes=(100, 300, 800)),
        # One student's solution's FCN schedule: 256², batch 256, Adam 1e-3, 200 epochs (i19: the course template's
        # train.py at e95e713: batch 100, Adam 1e-3 betas (0.5, 0.999), StepLR(200, 0.2), 300 epochs).
        fcn=FCNSettings(image_size=256, batch_size=256, epochs=200, sample_every=20, num_workers=4),
        # The pix2pix paper's settings: 256², batch 1, 100 + 100 epochs, λ_L1 = 100.
        pix2pix=Pix2PixSettings(image_size=256, batch_size=1, epochs=100, decay_epochs=100),
    ),
}


# --------------------------------------------------------------------------------------------------
# Choosing things
# --------------------------------------------------------------------------------------------------
def accelerator_available() -> bool:
    """True when torch sees CUDA or Apple's MPS."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(torch.cuda.is_available() or (mps is not None and mps.is_available()))


def auto_profile_name() -> str:
    """``DIPNB_PROFILE`` if set, else ``gpu`` with an accelerator, else ``cpu``."""
    name = os.environ.get("DIPNB_PROFILE", "").strip().lower()
    if name:
        if name not in PROFILES:
            raise ValueError(
                f"DIPNB_PROFILE={name!r} is not a profile; use one of {', '.join(PROFILE_NAMES)} "
                "(or unset it to choose automatically)."
            )
        return name
    return "gpu" if accelerator_available() else "cpu"


def get_profile(name: str | None = None) -> Profile:
    """The profile called ``name``, or the automatic choice (see :func:`auto_profile_name`)."""
    name = auto_profile_name() if name is None else name.strip().lower()
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)}") from None


def get_device(prefer: str | None = None) -> "torch.device":
    """The device to compute on: ``prefer``, else ``DIPNB_DEVICE``, else CUDA, MPS, CPU in that order."""
    import torch

    choice = prefer or os.environ.get("DIPNB_DEVICE", "").strip()
    if choice:
        dev = torch.device(choice)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {choice!r} was asked for but CUDA is not available; use 'cpu'.")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def env_threads() -> int | None:
    """The thread count ``DIPNB_THREADS`` asks for (``None`` when unset); a clear error when it is not one."""
    raw = os.environ.get("DIPNB_THREADS", "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"DIPNB_THREADS={raw!r} is not a whole number; set it to a thread count such as 1 or 2, "
                         "or unset it.") from None
    if n < 1:
        raise ValueError(f"DIPNB_THREADS={raw!r}: the thread count must be >= 1; set it to 1 or more, or unset it.")
    return n


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op thread count: ``n`` when given (an explicit request wins), else ``DIPNB_THREADS``,
    else leave it; returns the count in force."""
    import torch

    if n is None:
        n = env_threads()
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"thread count must be an integer >= 1, got {n!r}")
        torch.set_num_threads(n)
    return torch.get_num_threads()


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy and torch (all devices) so that runs repeat; returns the seed."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def data_dir() -> Path:
    """Where datasets live: ``DIPNB_DATA``, else ``data/`` in the project checkout, else ``./data``."""
    env = os.environ.get("DIPNB_DATA", "").strip()
    if env:
        return Path(env).expanduser().resolve()
    if PROJECT_ROOT is not None:
        return PROJECT_ROOT / "data"
    return Path.cwd() / "data"


def figures_dir() -> Path:
    """Where notebooks save figures; created.

    ``DIPNB_FIGURES`` if set (``make test`` points it into ``test-artifacts/`` so that tiny ci-profile figures
    never overwrite the committed ones), else ``figures/`` in the project checkout, else ``./figures``.
    """
    env = os.environ.get("DIPNB_FIGURES", "").strip()
    if env:
        path = Path(env).expanduser().resolve()
    else:
        path = (PROJECT_ROOT if PROJECT_ROOT is not None else Path.cwd()) / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def setup(profile: str | None = None, seed: int | None = None, verbose: bool = True) -> Profile:
    """Call once at the top of a notebook: choose the profile, pin threads, seed everything.

    Returns the :class:`Profile`, whose sections (``P.poisson``, ``P.fcn``, ``P.pix2pix``) hold the sizes.
    """
    prof = get_profile(profile)
    threads = set_threads(env_threads() or prof.threads)  # DIPNB_THREADS overrides the profile
    if seed is None:
        seed = int(os.environ.get("DIPNB_SEED", "0"))
    seed_everything(seed)
    if verbose:
        print(f"dipnb profile '{prof.name}' · device {get_device()} · {threads} torch thread(s) · seed {seed}")
    return prof
