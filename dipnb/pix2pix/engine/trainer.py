"""The training loop: data, seeding, steps, validation and exact resume; everything it reports is a callback.

:class:`Trainer` takes a :class:`~dipnb.pix2pix.config.TrainConfig` and an output folder. Building it does no
work; :meth:`Trainer.setup` (called by :meth:`fit`, or on first use of ``task``/``train_set``/``val_set``) starts
the :class:`~dipnb.pix2pix.runtime.Runtime` (device, AMP, the DDP process group), resolves the dataset, checks
the output folder, builds the datasets and the task, and loads the checkpoint when resuming.

Exact resume: checkpoints are written at the end of every epoch; ``resume=True`` after an interruption
(anywhere) continues from the last completed epoch and, on CPU, reproduces the uninterrupted run's losses bit for
bit: the batch order and the augmentations are functions of (seed, epoch, index)
(:func:`~dipnb.pix2pix.runtime.epoch_batches`, ``PairedImageDataset.set_epoch``), and the checkpoint holds every
state dict and the Python/NumPy/torch RNG states. ``epochs`` (and a few logistics fields) may grow on resume; any
other change of the configuration is refused with a list of the differences. The run's dataset is identified by
its content (:func:`~dipnb.pix2pix.data.registry.dataset_fingerprint`), not its path: a moved dataset resumes.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from dipnb._io import clean_stray_temps
from dipnb.config import seed_everything
from dipnb.pix2pix.config import RESUME_MUTABLE, TrainConfig
from dipnb.pix2pix.data.pairs import PairedImageDataset
from dipnb.pix2pix.data.registry import PIX2PIX_DATASETS, dataset_fingerprint, resolve_dataset
from dipnb.pix2pix.engine import cache as run_cache
from dipnb.pix2pix.engine.callbacks import Callback, LiveLossPlot, default_callbacks, save_samples
from dipnb.pix2pix.engine.checkpoint import (
    CHECKPOINT_NAME,
    HISTORY_NAME,
    CheckpointError,
    checkpoint_config,
    load_checkpoint,
    set_rng_state,
    write_history,
)
from dipnb.pix2pix.runtime import Runtime, epoch_batches, per_rank_batch
from dipnb.pix2pix.tasks import RESERVED_COLUMNS, Task, task_class

__all__ = ["NonFiniteLossError", "Trainer", "train"]


class NonFiniteLossError(FloatingPointError):
    """A training or validation loss became NaN or infinite."""


class Trainer:
    """Train ``task_cls(config, runtime)`` on the paired dataset ``config.data``, writing into ``out``.

    Parameters
    ----------
    config: the run (see :class:`TrainConfig`).
    out: output folder (``history.csv``, ``checkpoint.pt``, ``samples/``, ``loss.png``).
    resume: continue from ``out/checkpoint.pt`` (a fresh start if there is none yet).
    overwrite: replace a different run found in ``out`` (otherwise that is an error).
    task_cls: the :class:`Task` subclass (default :class:`L1Task`, or ``GANTask`` when ``config.gan``).
    device: ``"cpu"``, ``"cuda"``, … (default :func:`dipnb.get_device`).
    plot, progress, verbose: the default callbacks' live loss plot (default: in Jupyter), tqdm bar (default: in
        Jupyter or on a terminal) and per-epoch lines; ignored when ``callbacks`` is given.
    callbacks: the :class:`~dipnb.pix2pix.engine.callbacks.Callback` list (default :func:`default_callbacks`).
    cache: load a fresh run from ``data/models/trained/`` when the same configuration, dataset content and
        dipnb.pix2pix source were trained before (:mod:`~dipnb.pix2pix.engine.cache`), and keep a finished run
        there; the run folder then holds the same files as if it had trained.
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
        callbacks: Sequence[Callback] | None = None,
        cache: bool = False,
    ) -> None:
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        config.validate()
        self.config = config
        self.out = Path(out)
        self.ckpt_path = self.out / CHECKPOINT_NAME
        self.resume, self.overwrite, self.task_cls, self.device_name = resume, overwrite, task_cls, device
        self.verbose, self.cache = verbose, cache
        self.callbacks = list(callbacks) if callbacks is not None else default_callbacks(plot, progress, verbose)
        self.history: list[dict[str, Any]] = []
        self.start_epoch = 0
        self.step_times: list[float] = []  #: time.perf_counter() after each step of the latest epoch
        self._ready = False

    # -- set-up (all the work a constructor should not do) -------------------------------------------
    def setup(self) -> "Trainer":
        """Start the runtime, resolve and check data and output folder, build the task, load the checkpoint."""
        if self._ready:
            return self
        self.runtime = rt = Runtime.start(self.device_name, self.config.amp, self.config.sync_bn)
        self.device = rt.device
        self.verbose = self.verbose and rt.dist.is_main
        self.local_batch = per_rank_batch(self.config.batch_size, rt.dist.world_size)
        self.config = config = replace(self.config, data=str(self._resolve_data(self.config.data)))
        self.dataset_id = dataset_fingerprint(config.data)
        checkpoint = self._prepare_out()
        if checkpoint is not None:
            self._check_same_run(checkpoint)
        # Data before the task, so that bad data fails before any network is allocated.
        self._train_set = PairedImageDataset(config.data, split="train", direction=config.direction,
                                             size=config.size, augment=config.augment, limit=config.train_limit,
                                             seed=config.seed)
        self._val_set = PairedImageDataset(config.data, split="val", direction=config.direction, size=config.size,
                                           augment=False, limit=config.val_limit, seed=config.seed)
        # The task: same init on every rank (seed), then per-rank noise streams.
        seed_everything(config.seed)
        self._task = (self.task_cls or task_class(config))(config, rt)
        if "G" not in self._task.models:
            raise TypeError(f"{type(self._task).__name__}.models must contain the generator under the key 'G'")
        if rt.dist.rank:
            seed_everything(config.seed + 7919 * rt.dist.rank)
        if checkpoint is not None:
            self._load_state(checkpoint)
        self._ready = True
        return self

    @property
    def task(self) -> Task:
        return self.setup()._task

    @property
    def train_set(self) -> PairedImageDataset:
        return self.setup()._train_set

    @property
    def val_set(self) -> PairedImageDataset:
        return self.setup()._val_set

    @property
    def live_plot(self) -> Any:
        """The :class:`~dipnb.plots.LivePlot` of the latest :meth:`fit` (rank 0), or None."""
        return next((cb.plot for cb in self.callbacks if isinstance(cb, LiveLossPlot)), None)

    def _resolve_data(self, data: str) -> Path:
        known = (*PIX2PIX_DATASETS, "synthetic_facades")  # i19: any registered pix2pix dataset by name
        path = resolve_dataset(data, verbose=self.verbose) if data in known else Path(data)
        path = path.expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"data folder {path} does not exist; pass --data with a folder holding train/ and val/ "
                "(pix2pix format), --data facades for the facades (real or synthetic), or another pix2pix dataset "
                "by name (cityscapes, maps, edges2shoes, edges2handbags, night2day) once downloaded."
            )
        return path.resolve()

    def _prepare_out(self) -> dict[str, Any] | None:
        """Check that ``out`` can hold this run (writable; no foreign run) and return the checkpoint to resume."""
        out, main = self.out, self.runtime.dist.is_main
        if out.exists() and not out.is_dir():
            raise CheckpointError(f"--out {out} is a file, not a folder; choose another --out.")
        if main:
            try:
                out.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
                    pass
            except OSError as exc:
                raise CheckpointError(f"--out {out} is not a writable folder ({exc.strerror or exc}); choose "
                                      "another --out (nothing was trained).") from None
            for name in (CHECKPOINT_NAME, HISTORY_NAME):  # left by a process killed while writing
                clean_stray_temps(out, name)
        has_ckpt, has_hist = self.ckpt_path.exists(), (out / HISTORY_NAME).exists()
        if self.overwrite and not self.resume:
            if main:
                for p in (self.ckpt_path, out / HISTORY_NAME, out / "loss.png"):
                    p.unlink(missing_ok=True)
                for p in (out / "samples").glob("epoch_*.png"):
                    p.unlink()
            self.runtime.barrier()
            return None
        if not self.resume:
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
                    f"{out} already holds a training run{what}. Pass --resume (resume=True) to continue it, "
                    "--overwrite (overwrite=True) to replace it, or choose another --out."
                )
            return None
        if not has_ckpt:
            if has_hist:
                raise CheckpointError(
                    f"{out} has a history.csv but no {CHECKPOINT_NAME}: it holds a different or broken run "
                    "that cannot be resumed; choose another --out or use --overwrite."
                )
            if self.verbose:
                print(f"no checkpoint in {out} yet: starting a new run there")
            return None
        return load_checkpoint(self.ckpt_path)

    def _check_same_run(self, ck: Mapping[str, Any]) -> None:
        saved = checkpoint_config(ck)
        diff = saved.differences(self.config, ignore=RESUME_MUTABLE | {"data"})
        if ck.get("dataset", self.dataset_id) != self.dataset_id:
            diff["dataset"] = (f"{saved.data} (content {ck['dataset']})", f"{self.config.data} (content "
                               f"{self.dataset_id}): other files or sizes")
        if diff:
            lines = "\n".join(f"  {k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in diff.items())
            raise CheckpointError(
                f"{self.ckpt_path} holds a run with a different configuration:\n{lines}\n"
                "Resume with the checkpoint's settings, or start a new run with another --out "
                "(or --overwrite to replace it)."
            )

    def _load_state(self, ck: Mapping[str, Any]) -> None:
        try:
            self._task.load_state_dict(ck)
        except ValueError as exc:
            raise CheckpointError(f"{self.ckpt_path}: {exc}") from exc
        dist = self.runtime.dist
        rng = ck.get("rng", [])
        if len(rng) == dist.world_size:
            set_rng_state(rng[dist.rank])
        elif rng and self.verbose:
            print(f"note: checkpoint written by {len(rng)} process(es), now {dist.world_size}: "
                  "random streams (dropout) restart from the seed")
        self.history = [dict(r) for r in ck["history"]]
        self.start_epoch = int(ck["epoch"])
        if dist.is_main:  # a kill between the checkpoint and history.csv left the CSV one epoch behind
            write_history(self.out / HISTORY_NAME, self.history)

    # -- batches, validation ------------------------------------------------------------------------
    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.config.channels_last else x

    def _index_lists(self, epoch: int) -> list[list[int]]:
        cfg, d = self.config, self.runtime.dist
        return epoch_batches(len(self.train_set), cfg.batch_size, cfg.seed, epoch, d.rank, d.world_size,
                             cfg.max_steps)

    def _batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        cfg = self.config
        self.train_set.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(
            self.train_set, batch_sampler=self._index_lists(epoch), num_workers=cfg.num_workers,
            pin_memory=self.device.type == "cuda", generator=torch.Generator().manual_seed(cfg.seed + epoch),
        )
        for inp, tgt in loader:
            yield self.to_device(inp), self.to_device(tgt)

    def steps_per_epoch(self) -> int:
        return len(self._index_lists(0))

    @torch.no_grad()
    def evaluate(self, dataset: Any = None) -> float:
        """Mean |G(x) − y| over every pixel of ``dataset`` (default: the val split); all ranks together."""
        dataset = self.val_set if dataset is None else dataset
        d = self.runtime.dist
        idx = list(range(len(dataset)))[d.rank::d.world_size]
        total, count = 0.0, 0.0
        for start in range(0, len(idx), self.local_batch):
            items = [dataset[i] for i in idx[start:start + self.local_batch]]
            inp = self.to_device(torch.stack([a for a, _ in items]))
            tgt = torch.stack([b for _, b in items]).to(self.device)
            out = self.task.generate(inp)
            total += (out - tgt).abs().double().sum().item()
            count += tgt.numel()
        total, count = self.runtime.all_reduce_sum([total, count])
        return total / max(count, 1.0)

    def save_samples(self, epoch: int) -> Path:
        """Grid of (input | target | output) rows on the first ``n_samples`` val images → ``samples/``."""
        return save_samples(self, epoch)

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
    def _train_epoch(self, epoch: int) -> dict[str, float]:
        task, rt = self.task, self.runtime
        sums: dict[str, float] = {}
        n = 0
        self.step_times = []
        for step, (inp, tgt) in enumerate(self._batches(epoch)):
            losses = task.fit_batch(inp, tgt)
            if step == 0:
                clash = [k for k in losses if k in RESERVED_COLUMNS]
                if clash:
                    raise ValueError(f"{type(task).__name__}.train_step returned reserved keys {clash}")
            if rt.dist.enabled:  # a NaN on any rank stops every rank (no one left waiting)
                bad = sum(not math.isfinite(float(v)) for v in losses.values())
                if rt.all_reduce_sum([float(bad)])[0] and not bad:
                    losses = {**losses, "loss on another rank": float("nan")}
            self._check_finite(losses, f"at epoch {epoch + 1}, step {step + 1}")
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n += 1
            self.step_times.append(time.perf_counter())
            for cb in self.callbacks:
                cb.on_step_end(self, step, losses)
        keys = list(sums)
        reduced = rt.all_reduce_sum([sums[k] for k in keys] + [float(n)])
        return {k: v / max(reduced[-1], 1.0) for k, v in zip(keys, reduced)}

    def fit(self) -> list[dict[str, Any]]:
        """Train up to ``config.total_epochs`` epochs; returns the history (one dict per epoch)."""
        self.setup()
        task, total = self._task, self.config.total_epochs
        key, cached = self._from_cache()
        for cb in self.callbacks:
            cb.on_fit_start(self)
        try:
            if self.start_epoch >= total and self.verbose and cached is None:
                print(f"{self.out}: all {total} epochs already done (raise epochs to train further)")
            for epoch in range(self.start_epoch, total):
                t0 = time.perf_counter()
                task.train(True)
                lr = task.lr()
                train = self._train_epoch(epoch)
                task.end_epoch()
                self.runtime.sync_buffers(task.models.values())
                task.train(False)
                val = self.evaluate()
                self._check_finite({"val L1": val}, f"in validation after epoch {epoch + 1}")
                row: dict[str, Any] = {"epoch": epoch + 1, **train, "val L1": val, "lr": lr,
                                       "seconds": time.perf_counter() - t0}
                self.history.append(row)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch + 1, row)
        except BaseException:
            self._end(failed=True)
            raise
        self._end(failed=False)
        if key is not None and cached is None:
            run_cache.store(self.out, self.out.name, key)
        self.runtime.barrier()  # only on success: a failing rank exits and torchrun stops the others
        return self.history

    def _from_cache(self) -> tuple[str | None, Path | None]:
        """(key, entry): a fresh single-process run with ``cache`` looks itself up, and loads the entry on a hit."""
        if not self.cache or self.runtime.dist.enabled or self.start_epoch:
            return None, None
        key = run_cache.run_key(self.config, self.dataset_id, self.device)
        entry = run_cache.lookup(self.out.name, key)
        if entry is not None:
            run_cache.restore(entry, self.out)
            self._load_state(load_checkpoint(self.ckpt_path))
            if self.verbose:
                print(f"{self.out.name}: loaded the trained run from {entry} (same configuration, dataset content "
                      "and dipnb.pix2pix source; delete that folder to train again)")
        return key, entry

    def _end(self, failed: bool) -> None:
        """``on_fit_end`` of every callback; while an error propagates, a second error is reported, not raised."""
        for cb in self.callbacks:
            try:
                cb.on_fit_end(self)
            except Exception as exc:
                if not failed:
                    raise
                print(f"note: {type(cb).__name__} could not finish ({type(exc).__name__}: {exc})", file=sys.stderr)


def train(config: TrainConfig, out: str | Path, **kwargs: Any) -> Trainer:
    """Build a :class:`Trainer` and run :meth:`Trainer.fit`; returns the trainer (``.history``, ``.task``)."""
    trainer = Trainer(config, out, **kwargs)
    trainer.fit()
    return trainer
