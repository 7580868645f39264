"""Training image-to-image translators: a Trainer that owns the loop, Tasks that own the networks, and the CLI.

Command line (long runs; ``--help`` lists every option)::

    python -m dipnb.pix2pix.train --data DIR|facades --direction AtoB|BtoA --model fcn --size N --epochs E \\
        --batch-size B [--max-steps S] --out DIR [--resume]            # the course FCN with L1
    python -m dipnb.pix2pix.train ... --model unet --gan [--lambda-l1 100 --gan-mode vanilla|lsgan --decay-epochs D]
    torchrun --nproc_per_node=N -m dipnb.pix2pix.train ...              # the same, data-parallel (DDP)

It writes ``OUT/history.csv`` (one row per epoch), ``OUT/checkpoint.pt`` (the latest epoch, written atomically),
``OUT/samples/epoch_NNN.png`` (rows: input | target | output on fixed val images) and ``OUT/loss.png``.

The Task protocol
-----------------
A *task* owns the networks and how one optimisation step is taken; the :class:`Trainer` owns everything else
(data, device, AMP autocast/GradScaler bookkeeping, seeding, validation, history, live plot, samples, tqdm,
checkpoints, exact resume, NaN checks, DDP). A task subclasses :class:`Task` and sets, in ``__init__``::

    class MyTask(Task):
        def __init__(self, config: TrainConfig, device: torch.device):
            super().__init__(config, device)              # sets self.config, self.device, self.amp
            self.models = {"G": G.to(device), ...}         # "G" (required) maps input → output in [-1, 1]
            self.optimizers = {"G": torch.optim.Adam(...)} # any names; all are checkpointed
            self.schedulers = {"G": LambdaLR(...)}          # stepped once at the end of every epoch

        def train_step(self, inp, tgt) -> dict[str, float]:
            G = self.models["G"]        # ALWAYS look nets up in self.models at call time: the trainer may have
                                        # replaced the entry by a DistributedDataParallel wrapper (torchrun)
            opt = self.optimizers["G"]
            opt.zero_grad(set_to_none=True)
            with self.autocast():       # bf16/fp16 autocast on CUDA, a no-op on CPU
                loss = (G(inp) - tgt).abs().mean()
            self.backward(loss)         # = GradScaler.scale(loss).backward()
            self.step(opt)              # = GradScaler.step(opt); the trainer calls GradScaler.update() after
            return {"train L1": loss.item()}  # python floats; each key becomes a history.csv column

        def plot_series(self) -> dict[str, list[str]]:   # LivePlot panels over history columns
            return {"L1": ["train L1", "val L1"]}

``inp`` and ``tgt`` arrive on ``self.device`` (channels-last when ``config.channels_last``), both N×3×H×W in
[-1, 1]. ``train_step`` must run one optimiser step of every net it trains and return finite floats (a NaN or
inf stops training with :class:`NonFiniteLossError`); the history holds, per epoch, the mean of each key over
the epoch's steps (keys must not be ``epoch``, ``val L1``, ``lr`` or ``seconds``, which the trainer adds).
Optional overrides: :meth:`Task.generate` (the output used for validation and samples; default: ``G`` in eval
mode without gradients) and :meth:`Task.net` (a model without its DDP wrapper); an optional
``check_state(model_states)`` is called before a checkpoint's model states are loaded. The trainer computes
"val L1" = mean |G(x) − y| over all val pixels (images in [-1, 1], so the range is [0, 2]). Tasks that do not
subclass :class:`Task` work too (duck typing): then the trainer skips GradScaler bookkeeping unless the task has
an :class:`Amp` as ``task.amp``.

Exact resume: checkpoints are written at the end of every epoch; ``--resume`` after an interruption (anywhere)
continues from the last completed epoch and, on CPU, reproduces the uninterrupted run's losses bit for bit: the batch order and the augmentations are functions of (seed, epoch, index)
(:func:`epoch_batches`, ``PairedImageDataset.set_epoch``), and the checkpoint holds every state dict and the
Python/NumPy/torch RNG states. ``epochs`` (and a few logistics fields) may grow on resume; any other change of
the configuration is refused with a list of the differences.

DDP (``torchrun``): each of ``task.models`` is wrapped in DistributedDataParallel (gloo on CPU, nccl on CUDA);
every global batch of ``batch_size`` images is split into ``world_size`` equal shards (``batch_size`` must be a
multiple of the world size); rank 0 alone prints, plots and writes files. BatchNorm: by default each rank
normalises with its own shard's statistics, so a 2-process run is a 2-"ghost batch" run of the same global
batch (gradients are averaged exactly as a single process averaging the two shard losses would; with one
thread per process the 2-process gloo run matches that single-process computation bit for bit, see
``tests/test_ddp.py``).
``--sync-bn`` converts BatchNorm to :class:`torch.nn.SyncBatchNorm` (statistics of the whole global batch, as a
single process; CUDA/nccl only — torch's SyncBatchNorm has no CPU kernel). BatchNorm running statistics are
broadcast from rank 0 at the end of every epoch, so validation and the checkpoint use one consistent model.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import inspect
import math
import os
import random
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "Amp",
    "CheckpointError",
    "L1Task",
    "NonFiniteLossError",
    "RESUME_MUTABLE",
    "Task",
    "TrainConfig",
    "Trainer",
    "build_generator",
    "epoch_batches",
    "load_checkpoint",
    "main",
    "per_rank_batch",
    "read_history",
    "train",
    "unwrap",
]

CHECKPOINT_FORMAT = "dipnb.pix2pix.train/1"
CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.csv"

#: Config fields that may differ when resuming (they change logistics, not the run's mathematics).
RESUME_MUTABLE = frozenset({"epochs", "sample_every", "n_samples", "num_workers"})


class NonFiniteLossError(FloatingPointError):
    """A training or validation loss became NaN or infinite."""


class CheckpointError(ValueError):
    """A checkpoint or output folder cannot be used for the requested run."""


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """Everything that defines a training run; saved in every checkpoint.

    Epochs: the run trains ``epochs + decay_epochs`` epochs in total (pix2pix's ``n_epochs + n_epochs_decay``:
    ``decay_epochs`` > 0 decays the learning rate linearly to 0 over the last ``decay_epochs`` epochs).
    ``lr_step`` > 0 additionally multiplies the lr by ``lr_gamma`` every ``lr_step`` epochs (StepLR, as the course).
    ``lr=None`` means 1e-3 (course FCN, L1) or 2e-4 (pix2pix GAN).
    """

    data: str = "facades"  #: dataset folder (with train/ and val/) or the name "facades"
    direction: str = "AtoB"  #: AtoB = facades photo→labels, BtoA = labels→photo
    model: str = "fcn"  #: "fcn" (the course net) or "unet" (pix2pix's generator)
    size: int = 256
    epochs: int = 10
    decay_epochs: int = 0
    batch_size: int = 8  #: the global batch (split over DDP ranks)
    max_steps: int | None = None  #: cap on optimiser steps per epoch (smoke runs)
    lr: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    lr_step: int = 0
    lr_gamma: float = 0.5
    gan: bool = False  #: train with dipnb.pix2pix.gan.GANTask (cGAN + λ·L1) instead of L1Task
    gan_mode: str = "vanilla"  #: "vanilla" (BCE) or "lsgan"
    lambda_l1: float = 100.0
    ngf: int = 64  #: U-Net width
    ndf: int = 64  #: PatchGAN width
    d_layers: int = 3  #: PatchGAN depth (3 → 70×70 patches)
    seed: int = 0
    augment: bool = True  #: pix2pix jitter (resize 286/256, random crop, flip) on the training split
    train_limit: int | None = None
    val_limit: int | None = None
    sample_every: int = 1  #: save a sample grid every N epochs (and after the last)
    n_samples: int = 4
    amp: str = "auto"  #: "auto" (bf16 if supported else fp16 on CUDA; off elsewhere), "off", "bf16", "fp16"
    channels_last: bool = False
    sync_bn: bool = False  #: SyncBatchNorm under DDP (CUDA only)
    num_workers: int = 0  #: DataLoader workers (0 is fastest with in-memory data)

    def __post_init__(self) -> None:
        if self.lr is None:
            self.lr = 2e-4 if self.gan else 1e-3
        self.validate()

    def validate(self) -> None:
        """Raise a ``ValueError`` naming the bad field and how to fix it."""
        if self.direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {self.direction!r}")
        if self.model not in ("fcn", "unet"):
            raise ValueError(f"model must be 'fcn' (the course FCN) or 'unet' (pix2pix), got {self.model!r}")
        for name in ("size", "epochs", "batch_size", "sample_every", "n_samples"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < (0 if name == "epochs" else 1):
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.decay_epochs < 0 or self.lr_step < 0 or self.num_workers < 0:
            raise ValueError("decay_epochs, lr_step and num_workers must be >= 0")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        if self.model == "fcn" and self.size % 32:
            raise ValueError(f"the FCN halves the image 5 times, so size must be a multiple of 32, got {self.size}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.amp not in ("auto", "off", "bf16", "fp16"):
            raise ValueError(f"amp must be 'auto', 'off', 'bf16' or 'fp16', got {self.amp!r}")
        if self.gan_mode not in ("vanilla", "lsgan"):
            raise ValueError(f"gan_mode must be 'vanilla' or 'lsgan', got {self.gan_mode!r}")

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.decay_epochs

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> "TrainConfig":
        """Build a config from a profile section (``P.fcn`` or ``P.pix2pix``) plus keyword overrides."""
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for f in dataclasses.fields(settings):
            key = "size" if f.name == "image_size" else f.name
            if key in names:
                values[key] = getattr(settings, f.name)
        values.update(overrides)
        return cls(**values)

    def differences(self, other: "TrainConfig", ignore: Sequence[str] = ()) -> dict[str, tuple[Any, Any]]:
        """``{field: (self's value, other's value)}`` for every field that differs, except ``ignore``."""
        a, b = dataclasses.asdict(self), dataclasses.asdict(other)
        return {k: (a[k], b.get(k)) for k in a if k not in ignore and a[k] != b.get(k)}


# --------------------------------------------------------------------------------------------------
# Mixed precision
# --------------------------------------------------------------------------------------------------
class Amp:
    """Autocast + GradScaler for one device: bf16 (no scaling needed) or fp16 (dynamic loss scaling) on CUDA.

    On CPU/MPS with ``mode="auto"`` everything is a no-op (full float32), which keeps CPU runs exactly
    reproducible.
    """

    def __init__(self, mode: str, device: torch.device) -> None:
        self.device = torch.device(device)
        self.dtype: torch.dtype | None = None
        if mode == "auto":
            if self.device.type == "cuda":
                self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        elif mode == "bf16":
            self.dtype = torch.bfloat16
        elif mode == "fp16":
            self.dtype = torch.float16
        elif mode != "off":
            raise ValueError(f"amp mode must be 'auto', 'off', 'bf16' or 'fp16', got {mode!r}")
        self.enabled = self.dtype is not None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def update(self) -> None:
        self.scaler.update()

    def __repr__(self) -> str:
        return f"Amp({self.dtype if self.enabled else 'off'}, scaler={'on' if self.scaler.is_enabled() else 'off'})"


# --------------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------------
def unwrap(model: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel (or DataParallel) wrapper, else ``model`` itself."""
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def build_generator(config: TrainConfig) -> nn.Module:
    """The generator G named by ``config.model``: the course :class:`~dipnb.pix2pix.models.FCN` or the U-Net."""
    if config.model == "fcn":
        from dipnb.pix2pix.models import FCN

        return FCN()
    try:
        from dipnb.pix2pix.gan_models import UNetGenerator, init_weights
    except ImportError as exc:  # pragma: no cover - only while gan_models is missing
        raise ImportError(f"--model unet needs dipnb.pix2pix.gan_models ({exc})") from exc
    return init_weights(UNetGenerator(size=config.size, ngf=config.ngf))


def lr_factor(config: TrainConfig, epoch: int) -> float:
    """Multiplier of the base lr in (0-based) ``epoch``: StepLR steps × pix2pix's linear decay to 0."""
    f = config.lr_gamma ** (epoch // config.lr_step) if config.lr_step else 1.0
    if config.decay_epochs:
        f *= 1.0 - max(0, epoch + 1 - config.epochs) / float(config.decay_epochs + 1)
    return f


class Task:
    """Base class of training tasks (see the module docstring for the protocol)."""

    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any]

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        self.config = config
        self.device = torch.device(device)
        self.amp = Amp(config.amp, self.device)
        self.models, self.optimizers, self.schedulers = {}, {}, {}

    # -- helpers for subclasses --------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        return self.amp.autocast()

    def backward(self, loss: torch.Tensor) -> None:
        self.amp.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.amp.scaler.step(optimizer)

    def net(self, name: str = "G") -> nn.Module:
        """``self.models[name]`` without its DDP wrapper."""
        return unwrap(self.models[name])

    # -- protocol -------------------------------------------------------------------------------
    def train_step(self, inp: torch.Tensor, tgt: torch.Tensor) -> dict[str, float]:
        raise NotImplementedError

    def plot_series(self) -> dict[str, list[str]]:
        return {"loss": ["train L1", "val L1"]}

    @torch.no_grad()
    def generate(self, inp: torch.Tensor) -> torch.Tensor:
        """G(inp) for validation and samples: eval mode (BatchNorm running stats, no dropout), float32."""
        G = self.net("G")
        was_training = G.training
        G.eval()
        try:
            with self.autocast():
                out = G(inp)
        finally:
            G.train(was_training)
        return out.float()

    def train(self, mode: bool = True) -> None:
        for m in self.models.values():
            m.train(mode)


class L1Task(Task):
    """The course objective: min_G E ‖G(x) − y‖₁ with Adam(lr, β1, β2) — for the FCN or an L1-only U-Net."""

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        super().__init__(config, device)
        G = build_generator(config).to(self.device)
        if config.channels_last:
            G = G.to(memory_format=torch.channels_last)
        self.models = {"G": G}
        # fused=True: one kernel for all 16.7 M parameters (4x faster than the per-tensor loop on CPU).
        fused = self.device.type in ("cpu", "cuda")
        self.optimizers = {"G": torch.optim.Adam(G.parameters(), lr=config.lr, betas=(config.beta1, config.beta2),
                                                 fused=fused)}
        self.schedulers = {
            "G": torch.optim.lr_scheduler.LambdaLR(self.optimizers["G"], lambda e: lr_factor(self.config, e))
        }

    def train_step(self, inp: torch.Tensor, tgt: torch.Tensor) -> dict[str, float]:
        G, opt = self.models["G"], self.optimizers["G"]
        opt.zero_grad(set_to_none=True)
        with self.autocast():
            loss = nn.functional.l1_loss(G(inp).float(), tgt)
        self.backward(loss)
        self.step(opt)
        return {"train L1": loss.item()}

    def plot_series(self) -> dict[str, list[str]]:
        return {"L1 loss": ["train L1", "val L1"]}


def _task_amp(task: Any) -> Amp | None:
    amp = getattr(task, "amp", None)
    return amp if isinstance(amp, Amp) else None


def _set_train(task: Any, mode: bool) -> None:
    for m in task.models.values():
        m.train(mode)


@torch.no_grad()
def _generate(task: Any, inp: torch.Tensor) -> torch.Tensor:
    """``task.generate(inp)`` when the task has one, else G in eval mode (autocast if the task has one)."""
    if hasattr(task, "generate"):
        return task.generate(inp)
    G = unwrap(task.models["G"])
    was_training = G.training
    G.eval()
    try:
        with (task.autocast() if hasattr(task, "autocast") else contextlib.nullcontext()):
            out = G(inp)
    finally:
        G.train(was_training)
    return out.float()


RESERVED_COLUMNS = ("epoch", "val L1", "lr", "seconds")


def task_class(config: TrainConfig) -> type[Task]:
    """:class:`L1Task`, or ``dipnb.pix2pix.gan.GANTask`` when ``config.gan``."""
    if not config.gan:
        return L1Task
    try:
        from dipnb.pix2pix.gan import GANTask
    except ImportError as exc:  # pragma: no cover - only while gan.py is missing
        raise ImportError(f"--gan needs dipnb.pix2pix.gan.GANTask ({exc})") from exc
    return GANTask


# --------------------------------------------------------------------------------------------------
# Batches, distributed helpers
# --------------------------------------------------------------------------------------------------
def per_rank_batch(batch_size: int, world_size: int) -> int:
    """Images per rank and step: ``batch_size / world_size``; a clear error when it does not divide."""
    if batch_size % world_size:
        ok = [b for b in range(world_size, 4 * world_size + 1, world_size)]
        raise ValueError(
            f"--batch-size {batch_size} cannot be split over {world_size} processes: the global batch must be a "
            f"multiple of the world size (e.g. {ok}); change --batch-size or --nproc_per_node."
        )
    return batch_size // world_size


def epoch_batches(
    n: int,
    batch_size: int,
    seed: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    max_steps: int | None = None,
    shuffle: bool = True,
) -> list[list[int]]:
    """This rank's index lists for one epoch: a permutation of ``range(n)`` keyed by (seed, epoch).

    The permutation is cut into global batches of ``batch_size`` (the last one may be smaller), and each
    global batch into ``world_size`` contiguous shards; rank ``r`` gets shard ``r`` of every global batch.
    So the union over ranks of step k's shards is exactly the single-process batch k. Under DDP a last global
    batch too small to give every rank an image is dropped.
    """
    if n < 1:
        raise ValueError("the training set is empty")
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    perm = torch.randperm(n, generator=g).tolist() if shuffle else list(range(n))
    out = []
    for start in range(0, n, batch_size):
        batch = perm[start:start + batch_size]
        if world_size > 1:
            if len(batch) < world_size:
                break
            batch = np.array_split(np.asarray(batch), world_size)[rank].tolist()
        out.append(batch)
    return out[:max_steps] if max_steps is not None else out


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str | None = None) -> tuple[DistInfo, torch.device]:
    """Join the torchrun process group (gloo on CPU, nccl on CUDA) when ``WORLD_SIZE`` > 1; pick the device."""
    import torch.distributed as dist

    from dipnb.config import get_device

    world = int(os.environ.get("WORLD_SIZE", "1"))
    info = DistInfo(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    dev = get_device(device)
    if not info.enabled:
        return info, dev
    if dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return info, dev


def _all_reduce_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    if not info.enabled:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


# --------------------------------------------------------------------------------------------------
# Checkpoints and history files
# --------------------------------------------------------------------------------------------------
def _atomic_write(path: Path, write: Any) -> None:
    """Write through ``write(tmp_path)`` then ``os.replace`` — a reader never sees a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load and sanity-check a trainer checkpoint; :class:`CheckpointError` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        msg = str(exc)
        if "WeightsUnpickler error:" in msg:  # keep the informative part of torch's long message
            msg = msg.split("WeightsUnpickler error:", 1)[1].strip().splitlines()[0]
        raise CheckpointError(
            f"{path} cannot be read as a dipnb checkpoint ({type(exc).__name__}: {msg[:200]}); it is "
            "truncated, corrupt or from another program — delete it, or choose another --out."
        ) from exc
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not a checkpoint written by dipnb.pix2pix.train (format {CHECKPOINT_FORMAT!r}); "
            "choose another --out, or delete the file."
        )
    return ck


def checkpoint_config(ck: Mapping[str, Any]) -> TrainConfig:
    """The :class:`TrainConfig` stored in a checkpoint (unknown fields from other versions are ignored)."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in ck["config"].items() if k in names})


def read_history(path: str | Path) -> list[dict[str, float]]:
    """Rows of a ``history.csv`` (or of an output folder holding one) as dicts of floats (``epoch`` int)."""
    path = Path(path)
    if path.is_dir():
        path = path / HISTORY_NAME
    with open(path, newline="") as f:
        rows = []
        for row in csv.DictReader(f):
            rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v != ""})
        return rows


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    cols: list[str] = []
    for row in history:
        cols += [k for k in row if k not in cols]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for row in history:
                w.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})

    _atomic_write(path, write)


# --------------------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------------------
class Trainer:
    """Train ``task_cls(config, device)`` on the paired dataset ``config.data``, writing into ``out``.

    Parameters
    ----------
    config: the run (see :class:`TrainConfig`).
    out: output folder (``history.csv``, ``checkpoint.pt``, ``samples/``, ``loss.png``).
    resume: continue from ``out/checkpoint.pt`` (a fresh start if there is none yet).
    overwrite: replace a different run found in ``out`` (otherwise that is an error).
    task_cls: the :class:`Task` subclass (default :class:`L1Task`, or ``GANTask`` when ``config.gan``).
    device: ``"cpu"``, ``"cuda"``, … (default :func:`dipnb.get_device`).
    plot: live loss plot in the notebook (default: when running in Jupyter).
    progress: tqdm bar (default: in Jupyter or on a terminal).
    verbose: print one line per epoch.
    """

    def __init__(
        self,
        config: TrainConfig,
        out: str | Path,
        *,
        resume: bool = False,
        overwrite: bool = False,
        task_cls: type[Task] | None = None,
        device: str | torch.device | None = None,
        plot: bool | None = None,
        progress: bool | None = None,
        verbose: bool = True,
    ) -> None:
        from dipnb.plots import in_notebook

        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        config.validate()
        self.dist, self.device = init_distributed(str(device) if device is not None else None)
        self.local_batch = per_rank_batch(config.batch_size, self.dist.world_size)
        self.out = Path(out)
        self.verbose = verbose and self.dist.is_main
        self.plot_enabled = (in_notebook() if plot is None else plot) and self.dist.is_main
        self.progress = (in_notebook() or sys.stderr.isatty()) if progress is None else progress
        self.progress = self.progress and self.dist.is_main
        self.config = config = self._resolve_data(config)
        self.ckpt_path = self.out / CHECKPOINT_NAME
        self.history: list[dict[str, Any]] = []
        self.start_epoch = 0
        self.step_times: list[float] = []  #: time.perf_counter() after each step of the latest epoch
        self.live_plot: Any = None  #: the LivePlot of the latest fit() (rank 0)

        checkpoint = self._prepare_out(resume, overwrite)
        if checkpoint is not None:
            saved = checkpoint_config(checkpoint)
            diff = saved.differences(config, ignore=RESUME_MUTABLE)
            if diff:
                lines = "\n".join(f"  {k}: checkpoint {a!r}, now {b!r}" for k, a, b in
                                  ((k, *v) for k, v in diff.items()))
                raise CheckpointError(
                    f"{self.ckpt_path} holds a run with a different configuration:\n{lines}\n"
                    "Resume with the checkpoint's settings, or start a new run with another --out "
                    "(or --overwrite to replace it)."
                )

        # Data (built before the task so that bad data fails before any network is allocated).
        from dipnb.pix2pix.data import PairedImageDataset

        self.train_set = PairedImageDataset(config.data, split="train", direction=config.direction,
                                            size=config.size, augment=config.augment, limit=config.train_limit,
                                            seed=config.seed)
        self.val_set = PairedImageDataset(config.data, split="val", direction=config.direction, size=config.size,
                                          augment=False, limit=config.val_limit, seed=config.seed)

        # The task: same init on every rank (seed), then per-rank noise streams.
        from dipnb.config import seed_everything

        seed_everything(config.seed)
        self.task = (task_cls or task_class(config))(config, self.device)
        if "G" not in self.task.models:
            raise TypeError(f"{type(self.task).__name__}.models must contain the generator under the key 'G'")
        if self.dist.rank:
            seed_everything(config.seed + 7919 * self.dist.rank)
        if checkpoint is not None:
            self._load_state(checkpoint)
        if self.dist.enabled:
            self._wrap_ddp()

    # -- set-up -----------------------------------------------------------------------------------
    def _resolve_data(self, config: TrainConfig) -> TrainConfig:
        data = config.data
        if data == "facades":
            from dipnb.pix2pix.data import resolve_dataset

            data = resolve_dataset("facades", verbose=self.verbose)
        path = Path(data).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"data folder {path} does not exist; pass --data with a folder holding train/ and val/ "
                "(pix2pix format), or --data facades for the facades (real or synthetic)."
            )
        return dataclasses.replace(config, data=str(path.resolve()))

    def _prepare_out(self, resume: bool, overwrite: bool) -> dict[str, Any] | None:
        """Check ``out`` and return the checkpoint to resume from (or None)."""
        has_ckpt = self.ckpt_path.exists()
        has_hist = (self.out / HISTORY_NAME).exists()
        if self.out.exists() and not self.out.is_dir():
            raise CheckpointError(f"--out {self.out} is a file, not a folder; choose another --out.")
        if overwrite and not resume:
            if self.dist.is_main:
                for p in (self.ckpt_path, self.out / HISTORY_NAME, self.out / "loss.png"):
                    p.unlink(missing_ok=True)
                for p in (self.out / "samples").glob("epoch_*.png"):
                    p.unlink()
            self._barrier()
            return None
        if not resume:
            if has_ckpt or has_hist:
                what = ""
                if has_ckpt:
                    try:
                        ck = load_checkpoint(self.ckpt_path)
                        c = ck["config"]
                        what = f" ({c.get('model')} {c.get('direction')}, {ck.get('epoch')} epochs done)"
                    except CheckpointError:
                        what = " (an unreadable checkpoint)"
                raise CheckpointError(
                    f"{self.out} already holds a training run{what}. Pass --resume (resume=True) to continue it, "
                    "--overwrite (overwrite=True) to replace it, or choose another --out."
                )
            return None
        if not has_ckpt:
            if has_hist:
                raise CheckpointError(
                    f"{self.out} has a history.csv but no {CHECKPOINT_NAME}: it holds a different or broken run "
                    "that cannot be resumed; choose another --out or use --overwrite."
                )
            if self.verbose:
                print(f"no checkpoint in {self.out} yet: starting a new run there")
            return None
        return load_checkpoint(self.ckpt_path)

    def _load_state(self, ck: Mapping[str, Any]) -> None:
        task = self.task
        if hasattr(task, "check_state"):
            try:
                task.check_state(ck.get("models", {}))
            except ValueError as exc:
                raise CheckpointError(f"{self.ckpt_path}: {exc}") from exc
        for kind, objs in (("models", task.models), ("optimizers", task.optimizers),
                           ("schedulers", task.schedulers)):
            saved = ck.get(kind, {})
            if set(saved) != set(objs):
                raise CheckpointError(
                    f"{self.ckpt_path} holds {kind} {sorted(saved)} but {type(task).__name__} has {sorted(objs)}: "
                    "the checkpoint comes from another model or task (e.g. --gan vs not); use another --out."
                )
            for name, obj in objs.items():
                try:
                    (unwrap(obj) if kind == "models" else obj).load_state_dict(saved[name])
                except (RuntimeError, KeyError, ValueError) as exc:
                    raise CheckpointError(
                        f"{kind[:-1]} {name!r} in {self.ckpt_path} does not fit the current network "
                        f"({str(exc).splitlines()[0][:300]}): the checkpoint comes from another model or "
                        "configuration; use another --out."
                    ) from exc
        amp = _task_amp(task)
        if amp is not None and ck.get("scaler"):
            amp.scaler.load_state_dict(ck["scaler"])
        rng = ck.get("rng", [])
        if len(rng) == self.dist.world_size:
            _set_rng_state(rng[self.dist.rank])
        elif rng and self.verbose:
            print(f"note: checkpoint written by {len(rng)} process(es), now {self.dist.world_size}: "
                  "random streams (dropout) restart from the seed")
        self.history = [dict(r) for r in ck["history"]]
        self.start_epoch = int(ck["epoch"])

    def _wrap_ddp(self) -> None:
        from torch.nn.parallel import DistributedDataParallel as DDP

        if self.config.sync_bn and self.device.type != "cuda":
            raise ValueError(
                "--sync-bn needs CUDA (torch's SyncBatchNorm has no CPU kernel); drop --sync-bn on CPU — each rank "
                "then normalises with its own shard's statistics (see dipnb.pix2pix.train's docstring)."
            )
        for name, model in list(self.task.models.items()):
            if self.config.sync_bn:
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # reuses the same Parameter objects
            ids = [self.device.index] if self.device.type == "cuda" else None
            # broadcast_buffers=False: a GAN step runs D several times before backward; rank 0's BatchNorm
            # statistics are broadcast once per epoch instead (_sync_buffers).
            # (newer torch spells broadcast_buffers=False as forward_sync_buffers=False)
            no_sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DDP).parameters
                       else {"broadcast_buffers": False})
            self.task.models[name] = DDP(model, device_ids=ids, **no_sync)

    def _barrier(self) -> None:
        if self.dist.enabled:
            import torch.distributed as dist

            dist.barrier()

    def _sync_buffers(self) -> None:
        if not self.dist.enabled:
            return
        import torch.distributed as dist

        for model in self.task.models.values():
            for buf in unwrap(model).buffers():
                dist.broadcast(buf, src=0)

    # -- one epoch ----------------------------------------------------------------------------------
    def _batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        cfg = self.config
        self.train_set.set_epoch(epoch)
        index_lists = epoch_batches(len(self.train_set), cfg.batch_size, cfg.seed, epoch, self.dist.rank,
                                    self.dist.world_size, cfg.max_steps)
        loader = torch.utils.data.DataLoader(
            self.train_set, batch_sampler=index_lists, num_workers=cfg.num_workers,
            pin_memory=self.device.type == "cuda", generator=torch.Generator().manual_seed(cfg.seed + epoch),
        )
        for inp, tgt in loader:
            yield self._to_device(inp), self._to_device(tgt)

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.config.channels_last else x

    def steps_per_epoch(self) -> int:
        cfg = self.config
        return len(epoch_batches(len(self.train_set), cfg.batch_size, cfg.seed, 0, self.dist.rank,
                                 self.dist.world_size, cfg.max_steps))

    @torch.no_grad()
    def evaluate(self, dataset: Any = None) -> float:
        """Mean |G(x) − y| over every pixel of ``dataset`` (default: the val split); all ranks together."""
        dataset = self.val_set if dataset is None else dataset
        idx = list(range(len(dataset)))[self.dist.rank::self.dist.world_size]
        total, count = 0.0, 0.0
        for start in range(0, len(idx), self.local_batch):
            items = [dataset[i] for i in idx[start:start + self.local_batch]]
            inp = self._to_device(torch.stack([a for a, _ in items]))
            tgt = torch.stack([b for _, b in items]).to(self.device)
            out = _generate(self.task, inp)
            total += (out - tgt).abs().double().sum().item()
            count += tgt.numel()
        total, count = _all_reduce_sum([total, count], self.dist, self.device)
        return total / max(count, 1.0)

    def save_samples(self, epoch: int) -> Path:
        """Grid of (input | target | output) rows on the first ``n_samples`` val images → ``samples/``."""
        from torchvision.utils import save_image

        n = min(self.config.n_samples, len(self.val_set))
        items = [self.val_set[i] for i in range(n)]
        inp = torch.stack([a for a, _ in items])
        tgt = torch.stack([b for _, b in items])
        out = _generate(self.task, self._to_device(inp)).cpu()
        rows = torch.stack([inp, tgt, out], dim=1).flatten(0, 1)  # (n·3)×C×H×W, row-major
        path = self.out / "samples" / f"epoch_{epoch:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, lambda tmp: save_image((rows + 1) / 2, tmp, nrow=3, padding=2, format="png"))
        return path

    def _checkpoint(self, epoch: int) -> None:
        task = self.task
        rng = _rng_state()
        if self.dist.enabled:
            import torch.distributed as dist

            states: list[Any] = [None] * self.dist.world_size
            dist.all_gather_object(states, rng)
            rng_all = states
        else:
            rng_all = [rng]
        if not self.dist.is_main:
            return
        ck = {
            "format": CHECKPOINT_FORMAT,
            "task": f"{type(task).__module__}.{type(task).__qualname__}",
            "config": dataclasses.asdict(self.config),
            "epoch": epoch,
            "models": {k: unwrap(m).state_dict() for k, m in task.models.items()},
            "optimizers": {k: o.state_dict() for k, o in task.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in task.schedulers.items()},
            "scaler": _task_amp(task).scaler.state_dict() if _task_amp(task) is not None else {},
            "rng": rng_all,
            "history": self.history,
            "world_size": self.dist.world_size,
            "torch": str(torch.__version__),
        }
        _atomic_write(self.ckpt_path, lambda tmp: torch.save(ck, tmp))

    def _check_finite(self, losses: Mapping[str, float], where: str) -> None:
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        if bad:
            last = (f"the last good checkpoint is {self.ckpt_path} (epoch {self.history[-1]['epoch']})"
                    if self.history else "no checkpoint was written yet")
            raise NonFiniteLossError(
                f"non-finite loss {bad} {where}: training diverged. Lower the learning rate (now {self.config.lr:g}, "
                f"--lr), check the data for NaNs, or turn mixed precision off (--amp off); {last}."
            )

    # -- the loop -----------------------------------------------------------------------------------
    def fit(self) -> list[dict[str, Any]]:
        """Train up to ``config.total_epochs`` epochs; returns the history (one dict per epoch)."""
        from tqdm.auto import tqdm

        from dipnb.plots import LivePlot

        cfg, task = self.config, self.task
        amp = _task_amp(task)
        total = cfg.total_epochs
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        live = LivePlot(task.plot_series(), xlabel="epoch", title=f"{cfg.model} {cfg.direction}",
                        display=self.plot_enabled) if self.dist.is_main else None
        self.live_plot = live
        if live is not None:
            for row in self.history:
                live.update(row["epoch"], {k: v for k, v in row.items() if k != "epoch"})
        if self.start_epoch >= total:
            if self.verbose:
                print(f"{self.out}: all {total} epochs already done (raise epochs to train further)")
            return self.history
        steps = self.steps_per_epoch()
        bar = tqdm(total=steps * (total - self.start_epoch), disable=not self.progress, leave=False,
                   desc="training", unit="step", dynamic_ncols=True)
        try:
            for epoch in range(self.start_epoch, total):
                t0 = time.perf_counter()
                _set_train(task, True)
                lr = task.optimizers[next(iter(task.optimizers))].param_groups[0]["lr"]
                sums: dict[str, float] = {}
                n = 0
                self.step_times = []
                for step, (inp, tgt) in enumerate(self._batches(epoch)):
                    losses = task.train_step(inp, tgt)
                    if amp is not None:
                        amp.update()
                    if step == 0:
                        clash = [k for k in losses if k in RESERVED_COLUMNS]
                        if clash:
                            raise ValueError(f"{type(task).__name__}.train_step returned reserved keys {clash}")
                    if self.dist.enabled:  # a NaN on any rank stops every rank (no one left waiting)
                        bad = sum(not math.isfinite(float(v)) for v in losses.values())
                        if _all_reduce_sum([float(bad)], self.dist, self.device)[0] and not bad:
                            losses = {**losses, "loss on another rank": float("nan")}
                    self._check_finite(losses, f"at epoch {epoch + 1}, step {step + 1}")
                    for k, v in losses.items():
                        sums[k] = sums.get(k, 0.0) + float(v)
                    n += 1
                    self.step_times.append(time.perf_counter())
                    bar.update(1)
                    if step % 10 == 0:
                        bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()}, refresh=False)
                for sched in task.schedulers.values():
                    sched.step()
                keys = list(sums)
                reduced = _all_reduce_sum([sums[k] for k in keys] + [float(n)], self.dist, self.device)
                train = {k: v / max(reduced[-1], 1.0) for k, v in zip(keys, reduced)}
                self._sync_buffers()
                _set_train(task, False)
                val = self.evaluate()
                self._check_finite({"val L1": val}, f"in validation after epoch {epoch + 1}")
                row: dict[str, Any] = {"epoch": epoch + 1, **train, "val L1": val, "lr": lr,
                                       "seconds": time.perf_counter() - t0}
                self.history.append(row)
                if self.dist.is_main:
                    if (epoch + 1) % cfg.sample_every == 0 or epoch + 1 == total:
                        self.save_samples(epoch + 1)
                    _write_history(self.out / HISTORY_NAME, self.history)
                self._checkpoint(epoch + 1)
                if live is not None:
                    live.update(epoch + 1, {k: v for k, v in row.items() if k != "epoch"})
                if self.verbose:
                    parts = " · ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "lr", "seconds"))
                    line = f"epoch {epoch + 1}/{total} · {parts} · lr {lr:.2e} · {row['seconds']:.1f} s"
                    (bar.write if self.progress else print)(line)
        finally:
            bar.close()
            if live is not None and self.history:
                live.savefig(self.out / "loss.png")
        self._barrier()  # only on success: a failing rank exits and torchrun stops the others
        return self.history


def train(config: TrainConfig, out: str | Path, **kwargs: Any) -> Trainer:
    """Build a :class:`Trainer` and run :meth:`Trainer.fit`; returns the trainer (``.history``, ``.task``)."""
    trainer = Trainer(config, out, **kwargs)
    trainer.fit()
    return trainer


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="python -m dipnb.pix2pix.train",
        description="Train the course FCN (L1) or pix2pix (U-Net + PatchGAN, --gan) on a paired dataset. Writes "
        "OUT/history.csv, OUT/checkpoint.pt and OUT/samples/. Runs under torchrun --nproc_per_node=N for DDP.",
    )
    p.add_argument("--data", required=True, help="dataset folder with train/ and val/ (pix2pix format), or 'facades'")
    p.add_argument("--direction", choices=["AtoB", "BtoA"], default=d.direction,
                   help="AtoB: left half → right half (facades photo→labels); BtoA: the reverse")
    p.add_argument("--model", choices=["fcn", "unet"], default=d.model)
    p.add_argument("--size", type=int, default=d.size, help="square training size (default %(default)s)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="epochs at the full learning rate")
    p.add_argument("--decay-epochs", type=int, default=d.decay_epochs,
                   help="further epochs with the lr decaying linearly to 0 (pix2pix: 100)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="global batch (split over DDP ranks)")
    p.add_argument("--max-steps", type=int, default=None, help="cap optimiser steps per epoch (smoke runs)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in OUT")
    p.add_argument("--lr", type=float, default=None, help="Adam lr (default 1e-3, or 2e-4 with --gan)")
    p.add_argument("--beta1", type=float, default=d.beta1)
    p.add_argument("--lr-step", type=int, default=d.lr_step, help="StepLR period in epochs (0 = off)")
    p.add_argument("--lr-gamma", type=float, default=d.lr_gamma)
    p.add_argument("--gan", action="store_true", help="conditional GAN + λ·L1 (pix2pix)")
    p.add_argument("--gan-mode", choices=["vanilla", "lsgan"], default=d.gan_mode)
    p.add_argument("--lambda-l1", type=float, default=d.lambda_l1)
    p.add_argument("--ngf", type=int, default=d.ngf)
    p.add_argument("--ndf", type=int, default=d.ndf)
    p.add_argument("--d-layers", type=int, default=d.d_layers, help="PatchGAN layers (0/1/3/5 → 1/16/70/286 px)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-augment", action="store_true", help="no resize-crop-flip jitter")
    p.add_argument("--train-limit", type=int, default=None, help="use only the first N training pairs")
    p.add_argument("--val-limit", type=int, default=None)
    p.add_argument("--sample-every", type=int, default=d.sample_every)
    p.add_argument("--amp", choices=["auto", "off", "bf16", "fp16"], default=d.amp)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm under DDP (CUDA only)")
    p.add_argument("--num-workers", type=int, default=d.num_workers)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: automatic)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        data=args.data, direction=args.direction, model=args.model, size=args.size, epochs=args.epochs,
        decay_epochs=args.decay_epochs, batch_size=args.batch_size, max_steps=args.max_steps, lr=args.lr,
        beta1=args.beta1, lr_step=args.lr_step, lr_gamma=args.lr_gamma, gan=args.gan, gan_mode=args.gan_mode,
        lambda_l1=args.lambda_l1, ngf=args.ngf, ndf=args.ndf, d_layers=args.d_layers, seed=args.seed,
        augment=not args.no_augment, train_limit=args.train_limit, val_limit=args.val_limit,
        sample_every=args.sample_every, amp=args.amp, channels_last=args.channels_last, sync_bn=args.sync_bn,
        num_workers=args.num_workers,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from dipnb.config import set_threads

    set_threads(args.threads)
    try:
        config = config_from_args(args)
        trainer = Trainer(config, args.out, resume=args.resume, overwrite=args.overwrite, device=args.device,
                          plot=False, progress=False if args.no_progress else None, verbose=not args.quiet)
        history = trainer.fit()
    except (ValueError, TypeError, FileNotFoundError, NonFiniteLossError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if trainer.dist.is_main and history and not args.quiet:
        last = history[-1]
        print(f"done: {len(history)} epochs, val L1 {last['val L1']:.4f} → {Path(args.out) / HISTORY_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
