"""The training loop: data, seeding, steps, validation and exact resume; everything it reports is a callback.

:class:`Trainer` takes a :class:`~dipnb.config.TrainConfig` and an output folder. Building it does no
work; :meth:`Trainer.setup` (called by :meth:`fit`, or on first use of ``task``/``train_set``/``val_set``) starts
the :class:`~dipnb.pix2pix.runtime.Runtime` (device, AMP, the DDP process group), resolves the dataset, checks
the output folder, builds the datasets and the task, and loads the checkpoint when resuming.

Exact resume: checkpoints are written at the end of every epoch; ``resume=True`` after an interruption
(anywhere) continues from the last completed epoch and, on CPU, reproduces the uninterrupted run's losses bit for
bit: the batch order and the augmentations are functions of (seed, epoch, index)
(:func:`~dipnb.pix2pix.runtime.epoch_batches`, ``PairedImageDataset.set_epoch``), and the checkpoint holds every
state dict and the Python/NumPy/torch RNG states. ``epochs`` (and a few logistics fields) may grow on resume; any
other change of the configuration is refused with a list of the differences. The run's dataset is identified by
its content (:func:`~dipnb.pix2pix.datasets.registry.dataset_fingerprint`), not its path: a moved dataset resumes.
What the run folder holds, and whether it may be used, is :class:`~dipnb.pix2pix.engine.run.RunFolder`'s.

The student's code drives it (the course template's names): ``model=`` any zero-argument callable returning an
``nn.Module`` (the notebook's ``FullyConvNetwork`` class), used as built; ``train_one_epoch=`` (and
``validate=``, ``criterion=``) run each epoch (:class:`~dipnb.pix2pix.tasks.epochs.EpochFunctionsTask`) while
the trainer keeps the optimiser and schedule of the config, history, plot, samples, checkpoints, resume, cache.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dipnb.config import TrainConfig, seed_everything
from dipnb.pix2pix.datasets.pairs import PairedImageDataset
from dipnb.pix2pix.datasets.registry import PIX2PIX_DATASETS, dataset_fingerprint, resolve_dataset
from dipnb.pix2pix.engine import cache as run_cache
from dipnb.pix2pix.engine.callbacks import Callback, LiveLossPlot, default_callbacks, in_order, save_samples
from dipnb.pix2pix.engine.run import RunFolder, load_checkpoint
from dipnb.pix2pix.runtime import Runtime, epoch_batches, per_rank_batch
from dipnb.pix2pix.tasks import RESERVED_COLUMNS, EpochFunctionsTask, GeneratorFactory, Task, generator_name, task_class

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
    model: the generator G as any zero-argument callable returning an ``nn.Module`` (a class such as the
        notebook's ``FullyConvNetwork``, or a function), used as built; default: ``config.model``'s.
    train_one_epoch, validate, criterion: the course template's epoch functions (see
        :mod:`~dipnb.pix2pix.tasks.epochs`) and their loss (default ``nn.L1Loss()``); with them the user's
        functions train each epoch and the history's ``train loss``/``val loss`` are what they return.
    device: ``"cpu"``, ``"cuda"``, … (default :func:`dipnb.get_device`).
    plot, progress, verbose: the default callbacks' live loss plot (default: in Jupyter), tqdm bar (default: in
        Jupyter or on a terminal) and per-epoch lines (``verbose`` also silences the trainer's own notes).
    callbacks: the :class:`~dipnb.pix2pix.engine.callbacks.Callback` list (default :func:`default_callbacks`),
        run in their ``order``; ``plot``/``progress`` configure the default list, so passing either with
        ``callbacks`` is refused (build the list with ``default_callbacks(plot, progress)`` instead).
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
        model: GeneratorFactory | None = None,
        train_one_epoch: Callable[..., float] | None = None,
        validate: Callable[..., float] | None = None,
        criterion: nn.Module | None = None,
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
        if callbacks is not None and (plot is not None or progress is not None):
            raise TypeError("plot= and progress= configure the default callbacks, which callbacks= replaces: pass "
                            "callbacks=default_callbacks(plot=..., progress=...) (plus your own), or drop callbacks=")
        if model is not None and (isinstance(model, nn.Module) or not callable(model)):
            raise TypeError(f"model must be a zero-argument callable returning an nn.Module (e.g. the class "
                            f"FullyConvNetwork itself, not an instance), got {type(model).__name__}")
        if train_one_epoch is None and (validate is not None or criterion is not None):
            raise TypeError("validate= and criterion= go with train_one_epoch= (the user's epoch); without it "
                            "the task's own step and the engine's val L1 are used")
        if train_one_epoch is not None and task_cls is not None:
            raise TypeError("train_one_epoch= chooses the task (EpochFunctionsTask); do not pass task_cls= too")
        self.config = config
        self.out = Path(out)
        self.run = RunFolder(self.out)
        self.resume, self.overwrite, self.task_cls, self.device_name = resume, overwrite, task_cls, device
        self.model_factory = model
        self.epoch_functions = (dict(train_one_epoch=train_one_epoch, validate=validate, criterion=criterion)
                                if train_one_epoch is not None else None)
        self.verbose, self.cache = verbose, cache
        self.callbacks = in_order(list(callbacks) if callbacks is not None else default_callbacks(plot, progress, verbose))
        self.model_name: str | None = None  #: the generator's class when it is not the config's built-in one
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
        if self.epoch_functions is not None and rt.dist.enabled:
            raise ValueError("train_one_epoch= runs in one process; start it without torchrun")
        checkpoint = self.run.prepare(resume=self.resume, overwrite=self.overwrite, is_main=rt.dist.is_main,
                                      barrier=rt.barrier, verbose=self.verbose)
        # Data before the task, so that bad data fails before any network is allocated.
        self._train_set = PairedImageDataset(config.data, split="train", direction=config.direction,
                                             size=config.size, augment=config.augment, limit=config.train_limit,
                                             seed=config.seed)
        self._val_set = PairedImageDataset(config.data, split="val", direction=config.direction, size=config.size,
                                           augment=False, limit=config.val_limit, seed=config.seed)
        # The task: same init on every rank (seed), then per-rank noise streams.
        seed_everything(config.seed)
        self._task = self._build_task(rt)
        if "G" not in self._task.models:
            raise TypeError(f"{type(self._task).__name__}.models must contain the generator under the key 'G'")
        if self.model_factory is not None:
            self.model_name = generator_name(self._task.models["G"])
            self._check_generator_output()
        if rt.dist.rank:
            seed_everything(config.seed + 7919 * rt.dist.rank)
        if checkpoint is not None:
            self.run.check_same_run(checkpoint, config, self.dataset_id, self.model_name)
            self._load_state(checkpoint)
        self._ready = True
        return self

    def _build_task(self, rt: Runtime) -> Task:
        config = self.config
        if self.epoch_functions is not None:
            return EpochFunctionsTask(config, rt, self.model_factory, **self.epoch_functions)
        cls = self.task_cls or task_class(config)
        if self.model_factory is None:
            return cls(config, rt)
        try:
            return cls(config, rt, generator=self.model_factory)
        except TypeError as exc:
            if "generator" not in str(exc):
                raise
            raise TypeError(f"{cls.__name__} takes no generator= argument, so model= cannot be used with it: "
                            "give its __init__ a generator=None parameter passed on to Task.__init__") from exc

    @torch.no_grad()
    def _check_generator_output(self) -> None:
        """A user's G must map a val input (1×3×size×size in [-1, 1]) to an output of the target's shape."""
        inp, tgt = self._val_set[0]
        G = self._task.net("G")
        was_training = G.training
        G.eval()
        try:
            out = G(self.to_device(inp[None]))
        except Exception as exc:
            raise ValueError(f"model {self.model_name} failed on one {tuple(inp.shape)} input of size "
                             f"{self.config.size} ({type(exc).__name__}: {exc})") from exc
        finally:
            G.train(was_training)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, *tgt.shape):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"model {self.model_name} maps a 1×{'×'.join(map(str, inp.shape))} input to {shape}; "
                             f"the target is 1×{'×'.join(map(str, tgt.shape))}: the output must have the target's "
                             "shape (3 channels in [-1, 1], the input's size)")

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

    @property
    def ckpt_path(self) -> Path:
        return self.run.checkpoint

    def _load_state(self, ck: Mapping[str, Any]) -> None:
        dist = self.runtime.dist
        self.history, self.start_epoch = self.run.restore(ck, self._task, dist.rank, dist.world_size, self.verbose)

    # -- batches, validation ------------------------------------------------------------------------
    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.config.channels_last else x

    def _index_lists(self, epoch: int) -> list[list[int]]:
        cfg, d = self.config, self.runtime.dist
        return epoch_batches(len(self.train_set), cfg.batch_size, cfg.seed, epoch, d.rank, d.world_size,
                             cfg.max_steps)

    def _loader(self, epoch: int) -> torch.utils.data.DataLoader:
        """The training split's batches of ``epoch`` (CPU tensors), in the order fixed by (seed, epoch)."""
        cfg = self.config
        self.train_set.set_epoch(epoch)
        return torch.utils.data.DataLoader(
            self.train_set, batch_sampler=self._index_lists(epoch), num_workers=cfg.num_workers,
            pin_memory=self.device.type == "cuda", generator=torch.Generator().manual_seed(cfg.seed + epoch),
        )

    def _batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for inp, tgt in self._loader(epoch):
            yield self.to_device(inp), self.to_device(tgt)

    def steps_per_epoch(self) -> int:
        return len(self._index_lists(0))

    @torch.no_grad()
    def val_l1(self, dataset: Any = None) -> float:
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
    def _user_epoch(self, epoch: int) -> dict[str, float]:
        """An epoch of the user's ``train_one_epoch`` (and ``validate``) over the engine's loaders."""
        task = self.task
        assert isinstance(task, EpochFunctionsTask)
        loader = _ReportingLoader(self._loader(epoch), self)
        val = torch.utils.data.DataLoader(self.val_set, batch_size=self.local_batch, shuffle=False)
        losses = task.run_epoch(loader, val if task.validate is not None else None, epoch, self.config.total_epochs)
        self._check_finite(losses, f"returned by the epoch functions at epoch {epoch + 1}")
        return losses

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        if self.epoch_functions is not None:
            return self._user_epoch(epoch)
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
                val = self.val_l1()
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
        user_code = self._user_code()
        if user_code is None:
            if self.verbose:
                print(f"note: the source of the model or epoch functions cannot be read, so {self.out.name} is not "
                      "cached (a cached result could be stale after an edit); it trains")
            return None, None
        key = run_cache.run_key(self.config, self.dataset_id, self.device, user_code)
        entry = run_cache.lookup(self.out.name, key)
        if entry is not None:
            run_cache.restore(entry, self.out)
            self._load_state(load_checkpoint(self.ckpt_path))
            if self.verbose:
                print(f"{self.out.name}: loaded the trained run from {entry} (same configuration, dataset content "
                      "and dipnb.pix2pix source; delete that folder to train again)")
        return key, entry

    def _user_code(self) -> str | None:
        """What the user's code contributes to the cache key ("" for the built-in task), None when unreadable."""
        parts = []
        if self.model_factory is not None:
            parts.append(run_cache.code_digest(self.model_factory, type(self.task.net("G"))))
        if self.epoch_functions is not None:
            fns = self.epoch_functions
            parts.append(run_cache.code_digest(fns["train_one_epoch"], fns["validate"]))
            parts.append(repr(self.task.criterion))
        if self.task_cls is not None:
            parts.append(run_cache.code_digest(self.task_cls))
        return None if any(p is None for p in parts) else "|".join(parts)

    def _end(self, failed: bool) -> None:
        """``on_fit_end`` of every callback; while an error propagates, a second error is reported, not raised."""
        for cb in self.callbacks:
            try:
                cb.on_fit_end(self)
            except Exception as exc:
                if not failed:
                    raise
                print(f"note: {type(cb).__name__} could not finish ({type(exc).__name__}: {exc})", file=sys.stderr)


class _ReportingLoader:
    """The training loader handed to the user's ``train_one_epoch``: batches as the DataLoader gives them (on
    the CPU), ``len()``, ``.dataset``; after each batch is used the trainer's callbacks hear ``on_step_end``."""

    def __init__(self, loader: torch.utils.data.DataLoader, trainer: Trainer) -> None:
        self.loader, self.trainer = loader, trainer
        self.dataset = loader.dataset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        tr = self.trainer
        tr.step_times = []
        for step, batch in enumerate(self.loader):
            yield batch
            tr.step_times.append(time.perf_counter())
            for cb in tr.callbacks:
                cb.on_step_end(tr, step, {})


def train(config: TrainConfig, out: str | Path, **kwargs: Any) -> Trainer:
    """Build a :class:`Trainer` and run :meth:`Trainer.fit`; returns the trainer (``.history``, ``.task``)."""
    trainer = Trainer(config, out, **kwargs)
    trainer.fit()
    return trainer
