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

A profile's training sections (``P.fcn``, ``P.pix2pix``, ``P.segmenter``) are :class:`TrainConfig` values, the
one definition of a training run (the trainer, the command line and the FCN-score segmenter take it as is):
a notebook derives its run with ``P.fcn.replace(data=..., direction=...)``.

This module imports only :mod:`dipnb.checks` and imports torch lazily, so it is cheap to import.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dipnb.checks import Rule, boolean, check, choice, integer, real, text

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
    #: steps of the course template's Adam loop in notebook 03 (the template, DIP-Teaching e95e713, runs
    #: 5,000 at lr 1e-2, × 0.1 after step 3,333 = int(5000·2/3), no stopping rule; cpu and gpu run exactly that,
    #: ci caps it to fit its budget, the lr drop then falls at 2/3 of the cap).
    #: The "loss change < 1e-9 over 100 steps" rule is one student's, not the course's (adam's ``loss_tol``).
    adam_steps: int = 3000
    adam_preview_every: int = 100  #: live-preview period (steps) of the Adam solvers
    fixed_adam_steps: int = 300  #: steps of the fixed Adam of notebook 03 (multiscale, gradient energy): ours
    study_sizes: tuple[int, ...] = (64, 128)  #: region sizes for the solver comparison table (notebook 03)


# --------------------------------------------------------------------------------------------------
# A training run (notebooks 05–07, ``python -m dipnb.pix2pix.train``): one frozen TrainConfig.
# --------------------------------------------------------------------------------------------------
DIRECTIONS: tuple[str, ...] = ("AtoB", "BtoA")  #: AtoB: left half → right half of a pix2pix pair; BtoA: the reverse
MODELS = ("fcn", "unet")
GAN_MODES = ("vanilla", "lsgan")
#: Mixed-precision modes: "auto" (bf16 if supported else fp16 on CUDA; off elsewhere), "off", "bf16", "fp16".
AMP_MODES = ("auto", "off", "bf16", "fp16")

#: Config fields that may differ when resuming (they change logistics, not the run's mathematics).
RESUME_MUTABLE = frozenset({"epochs", "sample_every", "n_samples", "num_workers"})


def _f(default: Any, rule: Rule) -> Any:
    return field(default=default, metadata={"rule": rule})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved in every checkpoint, held by the profiles (``P.fcn``,
    ``P.pix2pix``, ``P.segmenter``). Frozen: derive one with :meth:`replace`.

    Every field carries its :class:`~dipnb.checks.Rule` (help text, choices, range): :meth:`validate` and the
    command line (:mod:`dipnb.pix2pix.cli.train`, whose flags are generated from these fields) check the same
    rules, so the two cannot drift. ``lr=None`` means 1e-3 (the FCN with L1, as the course template's train.py)
    or 2e-4 (pix2pix GAN).

    Epochs: a run trains ``epochs + decay_epochs`` epochs (pix2pix's ``n_epochs + n_epochs_decay``); the learning
    rate is multiplied by :func:`lr_factor` — StepLR's γ^⌊e/step⌋ (the course) times the paper's linear decay
    1 − max(0, e + 1 − epochs)/(decay_epochs + 1).
    """

    data: str = _f("facades", text("dataset folder with train/ and val/ (pix2pix format), or a pix2pix dataset's name: "
                                   "facades, cityscapes, maps, edges2shoes, edges2handbags, night2day"))
    direction: str = _f("AtoB", choice(*DIRECTIONS, help="AtoB: left half → right half (facades photo→labels); "
                                                         "BtoA: the reverse"))
    model: str = _f("fcn", choice(*MODELS, help="fcn (the FCN of notebooks 05–06) or unet (pix2pix's generator)"))
    size: int = _f(256, integer(8, help="square training size"))
    epochs: int = _f(10, integer(0, help="epochs at the full learning rate"))
    decay_epochs: int = _f(0, integer(0, help="further epochs with the lr decaying linearly to 0 (pix2pix: 100)"))
    batch_size: int = _f(8, integer(1, help="global batch (split over DDP ranks)"))
    max_steps: int | None = _f(None, integer(1, optional=True, help="cap optimiser steps per epoch (smoke runs)"))
    lr: float | None = _f(None, real(0, lo_open=True, optional=True, help="Adam lr (default 1e-3, or 2e-4 with --gan)"))
    beta1: float = _f(0.5, real(0, 1, hi_open=True, help="Adam β1"))
    beta2: float = _f(0.999, real(0, 1, hi_open=True, help="Adam β2"))
    lr_step: int = _f(0, integer(0, help="StepLR period in epochs (0 = off)"))
    lr_gamma: float = _f(0.5, real(0, lo_open=True, help="StepLR factor γ"))
    gan: bool = _f(False, boolean("conditional GAN + λ·L1 (pix2pix) instead of L1 alone"))
    gan_mode: str = _f("vanilla", choice(*GAN_MODES, help="GAN loss: vanilla (BCE) or lsgan"))
    lambda_l1: float = _f(100.0, real(0, help="weight λ of the L1 term of the GAN objective"))
    ngf: int = _f(64, integer(1, help="U-Net width (filters of its first layer)"))
    ndf: int = _f(64, integer(1, help="PatchGAN width"))
    d_layers: int = _f(3, integer(0, 8, help="PatchGAN layers (0/1/3/5 → 1/16/70/286 px)"))
    seed: int = _f(0, integer(0, help="random seed (init, batch order, augmentation)"))
    augment: bool = _f(True, boolean("pix2pix jitter (resize 286/256, random crop, flip) on the training split"))
    train_limit: int | None = _f(None, integer(1, optional=True, help="use only the first N training pairs"))
    val_limit: int | None = _f(None, integer(1, optional=True, help="use only the first N val pairs"))
    sample_every: int = _f(1, integer(1, help="save a sample grid every N epochs (and after the last)"))
    n_samples: int = _f(4, integer(1, help="val images in each sample grid"))
    amp: str = _f("auto", choice(*AMP_MODES, help="mixed precision: auto (bf16/fp16 on CUDA, off elsewhere), off, "
                                                  "bf16, fp16"))
    channels_last: bool = _f(False, boolean("channels-last memory layout"))
    sync_bn: bool = _f(False, boolean("SyncBatchNorm under DDP (CUDA only)"))
    num_workers: int = _f(0, integer(0, help="DataLoader workers (0 is fastest with in-memory data)"))

    def __post_init__(self) -> None:
        if self.lr is None:
            object.__setattr__(self, "lr", 2e-4 if self.gan else 1e-3)
        self.validate()

    @staticmethod
    def rules() -> dict[str, Rule]:
        """``{field name: Rule}`` in declaration order (the command line is generated from it)."""
        return {f.name: f.metadata["rule"] for f in dataclasses.fields(TrainConfig)}

    def validate(self) -> None:
        """Raise a ``ValueError`` (``TypeError`` for a value of the wrong kind) naming the field and its rule."""
        for name, rule in self.rules().items():
            check(name, getattr(self, name), rule)
        if self.model == "fcn" and self.size % 32:
            raise ValueError(f"the FCN halves the image 5 times, so size must be a multiple of 32, got {self.size}")
        if self.model == "unet" and (self.size < 32 or self.size & (self.size - 1)):
            raise ValueError(f"the U-Net generator's depth follows the size (log2(size) stride-2 levels), so the "
                             f"size must be a power of two >= 32 (32, 64, 128, 256…), got {self.size}")

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.decay_epochs

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (checked again); an unknown field name is a ``TypeError``."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(f"TrainConfig has no field(s) {unknown}; fields: {sorted(names)}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """The config saved as a dict (a checkpoint's); fields of other dipnb versions are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def differences(self, other: "TrainConfig", ignore: Collection[str] = ()) -> dict[str, tuple[Any, Any]]:
        """``{field: (self's value, other's value)}`` for every field that differs, except ``ignore``."""
        a, b = dataclasses.asdict(self), dataclasses.asdict(other)
        return {k: (a[k], b.get(k)) for k in a if k not in ignore and a[k] != b.get(k)}


def lr_factor(config: TrainConfig, epoch: int) -> float:
    """Multiplier of the base lr in (0-based) ``epoch``: StepLR steps × pix2pix's linear decay to 0."""
    f = config.lr_gamma ** (epoch // config.lr_step) if config.lr_step else 1.0
    if config.decay_epochs:
        f *= 1.0 - max(0, epoch + 1 - config.epochs) / float(config.decay_epochs + 1)
    return f


def fcn_run(**fields: Any) -> TrainConfig:
    """A profile's FCN run (notebooks 05–06): the FCN with L1, photo → labels, Adam 1e-3."""
    return TrainConfig(**{"model": "fcn", "direction": "AtoB", **fields})


def pix2pix_run(**fields: Any) -> TrainConfig:
    """A profile's pix2pix run (notebook 07): U-Net + PatchGAN, labels → photo, λ = 100, Adam 2e-4."""
    return TrainConfig(**{"model": "unet", "direction": "BtoA", "gan": True, "lr": 2e-4, **fields})


def segmenter_run(pix2pix: TrainConfig, epochs: int, batch_size: int = 8, max_steps: int | None = None) -> TrainConfig:
    """The FCN-score segmenter's run (notebook 07): the FCN photo → labels at the pix2pix run's size and data
    limits, trained once (``sample_every`` = its last epoch)."""
    return TrainConfig(model="fcn", direction="AtoB", size=pix2pix.size, epochs=epochs, batch_size=batch_size,
                       max_steps=max_steps, train_limit=pix2pix.train_limit, val_limit=pix2pix.val_limit,
                       sample_every=max(1, epochs))

@dataclass(frozen=True)
class Profile:
    """Everything a notebook needs to know about how big to make its experiments."""

    name: str
    threads: int | None  #: torch intra-op threads (``None`` = torch's default)
    poisson: PoissonSettings = field(default_factory=PoissonSettings)
    fcn: TrainConfig = field(default_factory=lambda: fcn_run(size=128))  #: the FCN's run (notebooks 05–06)
    pix2pix: TrainConfig = field(default_factory=lambda: pix2pix_run(size=128, batch_size=1, decay_epochs=10))
    #: the FCN-score segmenter's run (notebook 07; photo → labels at the pix2pix run's size), trained once
    segmenter: TrainConfig = field(default_factory=lambda: segmenter_run(pix2pix_run(size=128), epochs=15))

    def replace(self, **changes: Any) -> "Profile":
        """Return a copy with some top-level fields replaced."""
        return dataclasses.replace(self, **changes)


_CI_PIX2PIX = pix2pix_run(size=32, batch_size=4, epochs=1, decay_epochs=1, max_steps=4, train_limit=16, val_limit=8,
                          ngf=32, ndf=32)
_CPU_PIX2PIX = pix2pix_run(size=64, batch_size=4, epochs=2, decay_epochs=2)
_GPU_PIX2PIX = pix2pix_run(size=256, batch_size=1, epochs=100, decay_epochs=100)

PROFILES: dict[str, Profile] = {
    # One thread: on the shared 2-core CI machines torch with 2 intra-op threads measured slower than with
    # one (see benchmarks/threads.py and README "Profiles").
    "ci": Profile(
        name="ci",
        threads=1,
        poisson=PoissonSettings(image_size=128, adam_size=48, adam_steps=300, adam_preview_every=50,
                                fixed_adam_steps=200, study_sizes=(32, 64)),
        fcn=fcn_run(size=32, batch_size=8, epochs=2, max_steps=8, train_limit=64, val_limit=8, sample_every=1),
        pix2pix=_CI_PIX2PIX,
        segmenter=segmenter_run(_CI_PIX2PIX, epochs=2, max_steps=4),
    ),
    "cpu": Profile(
        name="cpu",
        threads=None,
        poisson=PoissonSettings(image_size=384, adam_size=128, adam_steps=5000, adam_preview_every=100,  # the template (e95e713) runs 5,000 steps
                                fixed_adam_steps=300, study_sizes=(64, 128, 256)),
        # Sized so that `make report` runs every notebook in <= 15 min on 2 quiet cores the first time (README,
        # "Profiles and run times"). Measured on 2 quiet cores, 2 threads, 400 pairs at 64²: an FCN epoch (batch 8)
        # 9 s, an L1 U-Net epoch (batch 4) 20 s, a GAN epoch 40 s. 06: 2 × 8 FCN epochs; 07: segmenter 8 epochs +
        # L1, cGAN, cGAN + L1 at 2 + 2 epochs each.
        fcn=fcn_run(size=64, batch_size=8, epochs=8, sample_every=4),
        pix2pix=_CPU_PIX2PIX,
        segmenter=segmenter_run(_CPU_PIX2PIX, epochs=8),
    ),
    "gpu": Profile(
        name="gpu",
        threads=None,
        poisson=PoissonSettings(image_size=512, adam_size=300, adam_steps=5000, adam_preview_every=250,  # the template (e95e713) runs 5,000 steps
                                fixed_adam_steps=300, study_sizes=(100, 300, 800)),
        # One student's solution's FCN schedule: 256², batch 256, Adam 1e-3, 200 epochs (the course template's
        # train.py at e95e713: batch 100, Adam 1e-3 betas (0.5, 0.999), StepLR(200, 0.2), 300 epochs).
        fcn=fcn_run(size=256, batch_size=256, epochs=200, sample_every=20, num_workers=4),
        # The pix2pix paper's settings: 256², batch 1, 100 + 100 epochs, λ_L1 = 100.
        pix2pix=_GPU_PIX2PIX,
        segmenter=segmenter_run(_GPU_PIX2PIX, epochs=15),
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

    Returns the :class:`Profile`, whose sections (``P.poisson``; the :class:`TrainConfig` values ``P.fcn``,
    ``P.pix2pix``, ``P.segmenter``) hold the sizes.
    """
    prof = get_profile(profile)
    threads = set_threads(env_threads() or prof.threads)  # DIPNB_THREADS overrides the profile
    if seed is None:
        seed = int(os.environ.get("DIPNB_SEED", "0"))
    seed_everything(seed)
    if verbose:
        print(f"dipnb profile '{prof.name}' · device {get_device()} · {threads} torch thread(s) · seed {seed}")
    return prof
