"""The one definition of a training run: a frozen :class:`TrainConfig`, built from a profile or from flags.

Every field carries its help text, choices and range (``FieldSpec``): :meth:`TrainConfig.validate` and the
command line (:mod:`dipnb.pix2pix.cli.train`, whose flags are generated from these fields) check the same rules,
so the two cannot drift. :meth:`TrainConfig.from_profile` takes a profile section (``P.fcn``, ``P.pix2pix`` of
:mod:`dipnb.config`) and refuses any field it does not know instead of dropping it.

Epochs: a run trains ``epochs + decay_epochs`` epochs (pix2pix's ``n_epochs + n_epochs_decay``); the learning
rate is multiplied by :func:`lr_factor` — StepLR's γ^⌊e/step⌋ (the course) times the paper's linear decay
1 − max(0, e + 1 − epochs)/(decay_epochs + 1).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dipnb.pix2pix.data.pairs import DIRECTIONS
from dipnb.pix2pix.runtime import AMP_MODES

__all__ = ["AMP_MODES", "DIRECTIONS", "GAN_MODES", "MODELS", "RESUME_MUTABLE", "FieldSpec", "TrainConfig",
           "lr_factor"]

MODELS = ("fcn", "unet")
GAN_MODES = ("vanilla", "lsgan")

#: Config fields that may differ when resuming (they change logistics, not the run's mathematics).
RESUME_MUTABLE = frozenset({"epochs", "sample_every", "n_samples", "num_workers"})

#: Fields of the profile sections that are not training-run fields (the FCN-score segmenter's own budget).
PROFILE_ONLY = frozenset({"seg_epochs", "seg_batch_size", "seg_max_steps"})


@dataclass(frozen=True)
class FieldSpec:
    """What a field accepts: ``kind`` (int, float, str, bool), ``choices``, bounds ``lo``/``hi`` (``lo_open``:
    strictly above ``lo``), ``optional`` (None allowed); ``flag``: the command-line spelling (None = derived)."""

    help: str
    kind: type = int
    choices: tuple[str, ...] | None = None
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False

    def rule(self) -> str:
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        what = {int: "an integer", float: "a finite number", bool: "True or False", str: "a string"}[self.kind]
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {self.hi:g}")
        return what + (" " + " and ".join(parts) if parts else "") + (" (or None)" if self.optional else "")

    def problem(self, value: Any) -> str | None:
        """None when ``value`` is acceptable, else what is wrong."""
        if value is None:
            return None if self.optional else f"must be {self.rule()}, got None"
        if self.kind is bool:
            return None if isinstance(value, bool) else f"must be True or False, got {value!r}"
        if self.kind is str:
            if self.choices and value not in self.choices:
                return f"must be {self.rule()}, got {value!r}"
            return None if isinstance(value, str) else f"must be a string, got {value!r}"
        if isinstance(value, bool) or not isinstance(value, int if self.kind is int else (int, float)):
            return f"must be {self.rule()}, got {value!r}"
        if not math.isfinite(value):
            return f"must be {self.rule()}, got {value!r}"
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return f"must be {self.rule()}, got {value!r}"
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return f"must be {self.rule()}, got {value!r}"
        return None


def _f(default: Any, help: str, **spec: Any) -> Any:
    return field(default=default, metadata={"spec": FieldSpec(help, **spec)})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved in every checkpoint. Frozen: derive with ``dataclasses.replace``.

    ``lr=None`` means 1e-3 (the FCN with L1, as the course template's train.py) or 2e-4 (pix2pix GAN).
    """

    data: str = _f("facades", "dataset folder with train/ and val/ (pix2pix format), or a pix2pix dataset's name: "
                   "facades, cityscapes, maps, edges2shoes, edges2handbags, night2day", kind=str)
    direction: str = _f("AtoB", "AtoB: left half → right half (facades photo→labels); BtoA: the reverse",
                        kind=str, choices=DIRECTIONS)
    model: str = _f("fcn", "fcn (the FCN of notebooks 05–06) or unet (pix2pix's generator)", kind=str, choices=MODELS)
    size: int = _f(256, "square training size", lo=8)
    epochs: int = _f(10, "epochs at the full learning rate", lo=0)
    decay_epochs: int = _f(0, "further epochs with the lr decaying linearly to 0 (pix2pix: 100)", lo=0)
    batch_size: int = _f(8, "global batch (split over DDP ranks)", lo=1)
    max_steps: int | None = _f(None, "cap optimiser steps per epoch (smoke runs)", lo=1, optional=True)
    lr: float | None = _f(None, "Adam lr (default 1e-3, or 2e-4 with --gan)", kind=float, lo=0, lo_open=True,
                          optional=True)
    beta1: float = _f(0.5, "Adam β1", kind=float, lo=0, hi=1, hi_open=True)
    beta2: float = _f(0.999, "Adam β2", kind=float, lo=0, hi=1, hi_open=True)
    lr_step: int = _f(0, "StepLR period in epochs (0 = off)", lo=0)
    lr_gamma: float = _f(0.5, "StepLR factor γ", kind=float, lo=0, lo_open=True)
    gan: bool = _f(False, "conditional GAN + λ·L1 (pix2pix) instead of L1 alone", kind=bool)
    gan_mode: str = _f("vanilla", "GAN loss: vanilla (BCE) or lsgan", kind=str, choices=GAN_MODES)
    lambda_l1: float = _f(100.0, "weight λ of the L1 term of the GAN objective", kind=float, lo=0)
    ngf: int = _f(64, "U-Net width (filters of its first layer)", lo=1)
    ndf: int = _f(64, "PatchGAN width", lo=1)
    d_layers: int = _f(3, "PatchGAN layers (0/1/3/5 → 1/16/70/286 px)", lo=0, hi=8)
    seed: int = _f(0, "random seed (init, batch order, augmentation)", lo=0)
    augment: bool = _f(True, "pix2pix jitter (resize 286/256, random crop, flip) on the training split", kind=bool)
    train_limit: int | None = _f(None, "use only the first N training pairs", lo=1, optional=True)
    val_limit: int | None = _f(None, "use only the first N val pairs", lo=1, optional=True)
    sample_every: int = _f(1, "save a sample grid every N epochs (and after the last)", lo=1)
    n_samples: int = _f(4, "val images in each sample grid", lo=1)
    amp: str = _f("auto", "mixed precision: auto (bf16/fp16 on CUDA, off elsewhere), off, bf16, fp16", kind=str,
                  choices=AMP_MODES)
    channels_last: bool = _f(False, "channels-last memory layout", kind=bool)
    sync_bn: bool = _f(False, "SyncBatchNorm under DDP (CUDA only)", kind=bool)
    num_workers: int = _f(0, "DataLoader workers (0 is fastest with in-memory data)", lo=0)

    def __post_init__(self) -> None:
        if self.lr is None:
            object.__setattr__(self, "lr", 2e-4 if self.gan else 1e-3)
        self.validate()

    @staticmethod
    def specs() -> dict[str, FieldSpec]:
        """``{field name: FieldSpec}`` in declaration order (the command line is generated from it)."""
        return {f.name: f.metadata["spec"] for f in dataclasses.fields(TrainConfig)}

    def validate(self) -> None:
        """Raise a ``ValueError`` naming the bad field and the rule it breaks."""
        for name, spec in self.specs().items():
            problem = spec.problem(getattr(self, name))
            if problem:
                raise ValueError(f"{name} {problem}")
        if self.model == "fcn" and self.size % 32:
            raise ValueError(f"the FCN halves the image 5 times, so size must be a multiple of 32, got {self.size}")
        if self.model == "unet" and (self.size < 32 or self.size & (self.size - 1)):
            raise ValueError(f"the U-Net generator's depth follows the size (log2(size) stride-2 levels), so the "
                             f"size must be a power of two >= 32 (32, 64, 128, 256…), got {self.size}")

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.decay_epochs

    @classmethod
    def from_profile(cls, section: Any, **overrides: Any) -> "TrainConfig":
        """A config from a profile section (``P.fcn`` or ``P.pix2pix``; ``image_size`` is ``size``) plus overrides.

        A section field that is neither a config field nor a known profile-only field (the segmenter's
        ``seg_*``) is an error, so a setting is never silently ignored.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for f in dataclasses.fields(section):
            key = "size" if f.name == "image_size" else f.name
            if key in names:
                values[key] = getattr(section, f.name)
            elif f.name not in PROFILE_ONLY:
                raise ValueError(f"profile field {f.name!r} of {type(section).__name__} has no TrainConfig field")
        unknown = set(overrides) - names
        if unknown:
            raise TypeError(f"TrainConfig has no field(s) {sorted(unknown)}; fields: {sorted(names)}")
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """The config saved as a dict (a checkpoint's); fields of other dipnb versions are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def differences(self, other: "TrainConfig", ignore: Sequence[str] = ()) -> dict[str, tuple[Any, Any]]:
        """``{field: (self's value, other's value)}`` for every field that differs, except ``ignore``."""
        a, b = dataclasses.asdict(self), dataclasses.asdict(other)
        return {k: (a[k], b.get(k)) for k in a if k not in ignore and a[k] != b.get(k)}


def lr_factor(config: TrainConfig, epoch: int) -> float:
    """Multiplier of the base lr in (0-based) ``epoch``: StepLR steps × pix2pix's linear decay to 0."""
    f = config.lr_gamma ** (epoch // config.lr_step) if config.lr_step else 1.0
    if config.decay_epochs:
        f *= 1.0 - max(0, epoch + 1 - config.epochs) / float(config.decay_epochs + 1)
    return f
