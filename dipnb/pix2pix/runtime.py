"""Where and how a task computes: the device, mixed precision (:class:`Amp`) and data parallelism (DDP).

A :class:`Runtime` is handed to every :class:`~dipnb.pix2pix.tasks.base.Task`; the task builds its networks and
passes each through :meth:`Runtime.wrap` (DistributedDataParallel under ``torchrun``, else unchanged), so no one
replaces a task's models from outside.

DDP (``torchrun``): gloo on CPU, nccl on CUDA; every global batch of ``batch_size`` images is split into
``world_size`` contiguous shards (:func:`epoch_batches`); rank 0 alone prints, plots and writes files. BatchNorm:
by default each rank normalises with its own shard's statistics (a 2-process run is a 2-"ghost batch" run of the
same global batch; with one thread per process the 2-process gloo run matches the single-process computation on
the same shards bit for bit, see ``tests/test_ddp.py``). ``sync_bn`` converts BatchNorm to SyncBatchNorm (CUDA
only). BatchNorm running statistics are broadcast from rank 0 at the end of every epoch (:meth:`Runtime.sync_buffers`).
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from dipnb.config import AMP_MODES, get_device
from dipnb.pix2pix.nets.util import unwrap

__all__ = ["AMP_MODES", "MIN_BATCH", "Amp", "DistInfo", "Runtime", "epoch_batches", "leave_process_group", "per_rank_batch"]

#: Smallest training batch: BatchNorm in train mode needs more than one value per channel.
MIN_BATCH = 2


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
        elif mode not in AMP_MODES:
            raise ValueError(f"amp mode must be one of {', '.join(AMP_MODES)}, got {mode!r}")
        self.enabled = self.dtype is not None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def __repr__(self) -> str:
        return f"Amp({self.dtype if self.enabled else 'off'}, scaler={'on' if self.scaler.is_enabled() else 'off'})"


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

    @classmethod
    def from_env(cls) -> "DistInfo":
        """Rank and world size as ``torchrun`` sets them (a single process without it)."""
        return cls(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                   int(os.environ.get("LOCAL_RANK", "0")))


@dataclass
class Runtime:
    """The device, the :class:`Amp` of the run and the process group; :meth:`wrap` readies a net for DDP."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp: Amp | None = None
    dist: DistInfo = field(default_factory=DistInfo)
    sync_bn: bool = False

    def __post_init__(self) -> None:
        self.device = torch.device(self.device)
        if self.amp is None:
            self.amp = Amp("off", self.device)

    @classmethod
    def start(cls, device: str | torch.device | None = None, amp: str = "auto", sync_bn: bool = False) -> "Runtime":
        """Join the torchrun process group (gloo on CPU, nccl on CUDA) when ``WORLD_SIZE`` > 1; pick the device."""
        info = DistInfo.from_env()
        dev = get_device(str(device) if device is not None else None)
        if info.enabled:
            if sync_bn and dev.type != "cuda":
                raise ValueError(
                    "--sync-bn needs CUDA (torch's SyncBatchNorm has no CPU kernel); drop --sync-bn on CPU — each "
                    "rank then normalises with its own shard's statistics (see dipnb.pix2pix.runtime)."
                )
            if dev.type == "cuda":
                dev = torch.device("cuda", info.local_rank)
                torch.cuda.set_device(dev)
            if not dist.is_initialized():
                dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        return cls(dev, Amp(amp, dev), info, sync_bn)

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` wrapped in DistributedDataParallel when running under torchrun, else ``model`` itself."""
        if not self.dist.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP

        if self.sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # reuses the same Parameter objects
        ids = [self.device.index] if self.device.type == "cuda" else None
        # broadcast_buffers=False: a GAN step runs D several times before backward; rank 0's BatchNorm
        # statistics are broadcast once per epoch instead (sync_buffers). Newer torch spells it forward_sync_buffers.
        no_sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DDP).parameters
                   else {"broadcast_buffers": False})
        return DDP(model, device_ids=ids, **no_sync)

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over all ranks (the values themselves in a single process)."""
        if not self.dist.enabled:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def all_gather(self, obj: object) -> list[object]:
        """Every rank's ``obj``, in rank order."""
        if not self.dist.enabled:
            return [obj]
        out: list[object] = [None] * self.dist.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.dist.enabled:
            dist.barrier()

    def sync_buffers(self, models: Iterable[nn.Module]) -> None:
        """Broadcast rank 0's buffers (BatchNorm running statistics) so every rank holds one model."""
        if not self.dist.enabled:
            return
        for model in models:
            for buf in unwrap(model).buffers():
                dist.broadcast(buf, src=0)



def leave_process_group() -> None:
    """Leave the torchrun process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


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

    The permutation is cut into global batches of ``batch_size``. A short last batch of fewer than
    :data:`MIN_BATCH` images (BatchNorm cannot normalise one image whose features are 1×1, e.g. the FCN's
    bottleneck: N mod batch = 1 used to stop training mid-epoch) is **merged** into the previous batch, so no
    pair is skipped; a full batch is never changed (``batch_size=1`` stays 1). Each global batch is then cut into
    ``world_size`` contiguous shards; rank ``r`` gets shard ``r`` of every global batch, so the union over ranks
    of step k's shards is the single-process batch k. Under DDP a last batch too small to give every rank an
    image is dropped.
    """
    if n < 1:
        raise ValueError("the training set is empty")
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    perm = torch.randperm(n, generator=g).tolist() if shuffle else list(range(n))
    batches = [perm[start:start + batch_size] for start in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < min(MIN_BATCH, batch_size):
        last = batches.pop()
        batches[-1] = batches[-1] + last
    if world_size > 1:
        if len(batches[-1]) < world_size:  # a single short batch cannot feed every rank: drop it
            batches.pop()
        batches = [np.array_split(np.asarray(b), world_size)[rank].tolist() for b in batches]
    return batches[:max_steps] if max_steps is not None else batches
