"""What the training loop reports and writes, as callbacks (the fastai/Lightning pattern, in a few lines).

The :class:`~dipnb.pix2pix.engine.trainer.Trainer` calls, on every callback in ascending :attr:`Callback.order`,
``on_fit_start(trainer)``, ``on_step_end(trainer, step, losses)`` after each optimisation step,
``on_epoch_end(trainer, epoch, row)`` after validation (``row`` = the epoch's history row), and
``on_fit_end(trainer)`` at the end (also after an error). :func:`default_callbacks` gives the usual set; a
notebook may pass its own list, in any order.

The order is code, not a convention: :class:`Checkpoint` (order 10; a collective under DDP: every rank takes
part) runs before :class:`HistoryCSV` (20), so ``history.csv`` never shows an epoch that ``checkpoint.pt`` does
not hold; the pictures (samples 30, live plot 40) and the printed lines (50) come after what must be saved.
Every file name comes from the trainer's :class:`~dipnb.pix2pix.engine.run.RunFolder`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from PIL import Image
from torchvision.utils import make_grid
from tqdm.auto import tqdm

from dipnb._io import atomic_write
from dipnb.images import to_uint8
from dipnb.pix2pix.engine.run import rng_state, write_history
from dipnb.plots import LivePlot, in_notebook

#: Callbacks receive the :class:`~dipnb.pix2pix.engine.trainer.Trainer` (not imported here: the trainer imports
#: this module, and imports go one way).
Trainer = Any
__all__ = ["Callback", "Checkpoint", "HistoryCSV", "LiveLossPlot", "Progress", "Samples", "default_callbacks",
           "in_order"]


class Callback:
    """Base class: every hook does nothing. ``order``: where the callback runs among the others (ascending; equal
    orders keep the list's order)."""

    order: int = 100

    def on_fit_start(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer, step: int, losses: Mapping[str, float]) -> None: ...

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: Mapping[str, Any]) -> None: ...

    def on_fit_end(self, trainer: Trainer) -> None: ...


class Checkpoint(Callback):
    """``checkpoint.pt`` after every epoch: every state of the task, the RNG states of every rank, the history."""

    order = 10

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: Mapping[str, Any]) -> None:
        rt = trainer.runtime
        rngs = rt.all_gather(rng_state())  # every rank takes part; rank 0 writes
        if rt.dist.is_main:
            trainer.run.write_checkpoint(task=trainer.task, config=trainer.config, dataset_id=trainer.dataset_id,
                                         epoch=epoch, history=trainer.history, rngs=rngs,
                                         world_size=rt.dist.world_size, model=trainer.model_name)


class HistoryCSV(Callback):
    """``history.csv``: one row per epoch (rank 0), rewritten atomically after the checkpoint."""

    order = 20

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: Mapping[str, Any]) -> None:
        if trainer.runtime.dist.is_main:
            write_history(trainer.run.history, trainer.history)


class Samples(Callback):
    """``samples/epoch_NNN.png`` every ``sample_every`` epochs and after the last: rows input | target | output."""

    order = 30

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: Mapping[str, Any]) -> None:
        cfg = trainer.config
        if trainer.runtime.dist.is_main and (epoch % cfg.sample_every == 0 or epoch == cfg.total_epochs):
            save_samples(trainer, epoch)


def save_samples(trainer: Trainer, epoch: int) -> Any:
    """Grid of (input | target | output) rows on the first ``n_samples`` val images → ``samples/``."""
    val = trainer.val_set
    n = min(trainer.config.n_samples, len(val))
    items = [val[i] for i in range(n)]
    inp = torch.stack([a for a, _ in items])
    tgt = torch.stack([b for _, b in items])
    out = trainer.task.generate(trainer.to_device(inp)).cpu()
    rows = torch.stack([inp, tgt, out], dim=1).flatten(0, 1)  # (n·3)×C×H×W, row-major
    path = trainer.run.sample_path(epoch)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = to_uint8(make_grid((rows + 1) / 2, nrow=3, padding=2))  # [-1, 1] → [0, 1] → uint8, black padding
    return atomic_write(path, lambda tmp: Image.fromarray(grid).save(tmp, format="png"))


class LiveLossPlot(Callback):
    """The loss curves, redrawn in place in the notebook after every epoch; ``loss.png`` at the end (rank 0)."""

    order = 40

    def __init__(self, display: bool | None = None) -> None:
        self.display = display
        self.plot: LivePlot | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        if not trainer.runtime.dist.is_main:
            return
        cfg = trainer.config
        show = in_notebook() if self.display is None else self.display
        loss = (f"cGAN + {cfg.lambda_l1:g}·L1" if cfg.lambda_l1 else "cGAN") if cfg.gan else "L1"
        self.plot = LivePlot(trainer.task.plot_series(), xlabel="epoch", title=f"{cfg.model} {cfg.direction}, {loss}",
                             ylims=trainer.task.plot_limits(), rate_key="lr", time_key="seconds",
                             display=show)
        for row in trainer.history:
            self.plot.update(row["epoch"], {k: v for k, v in row.items() if k != "epoch"})

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: Mapping[str, Any]) -> None:
        if self.plot is not None:
            self.plot.update(epoch, {k: v for k, v in row.items() if k != "epoch"})

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.plot is not None and trainer.history:
            self.plot.savefig(trainer.run.loss_plot)


class Progress(Callback):
    """A tqdm bar over the run's steps (``bar``) and one printed line per epoch (``verbose``), rank 0 only."""

    order = 50

    def __init__(self, bar: bool | None = None, verbose: bool = True) -> None:
        self.want_bar, self.verbose = bar, verbose
        self.bar: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        if not trainer.runtime.dist.is_main:
            self.verbose = False
            return
        show = (in_notebook() or sys.stderr.isatty()) if self.want_bar is None else self.want_bar
        todo = trainer.steps_per_epoch() * max(trainer.config.total_epochs - trainer.start_epoch, 0)
        self.bar = tqdm(total=todo, disable=not show, leave=False, desc="training", unit="step", dynamic_ncols=True)

    def on_step_end(self, trainer: Trainer, step: int, losses: Mapping[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if step % 10 == 0:
                self.bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()}, refresh=False)

    def on_epoch_end(self, trainer: Trainer, epoch: int, row: Mapping[str, Any]) -> None:
        if not self.verbose:
            return
        parts = " · ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "lr", "seconds"))
        line = f"epoch {epoch}/{trainer.config.total_epochs} · {parts} · lr {row['lr']:.2e} · {row['seconds']:.1f} s"
        (self.bar.write if self.bar is not None and not self.bar.disable else print)(line)

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.close()


def default_callbacks(plot: bool | None = None, progress: bool | None = None, verbose: bool = True) -> list[Callback]:
    """Checkpoint, history.csv, sample grids, the live loss plot (in Jupyter unless ``plot``), tqdm and epoch lines."""
    return [Checkpoint(), HistoryCSV(), Samples(), LiveLossPlot(plot), Progress(progress, verbose)]


def in_order(callbacks: Sequence[Callback]) -> list[Callback]:
    """The callbacks sorted by :attr:`Callback.order` (stable); a non-callback is a ``TypeError``."""
    bad = [c for c in callbacks if not isinstance(c, Callback)]
    if bad:
        raise TypeError(f"callbacks must be Callback instances (dipnb.pix2pix.engine.Callback), got {bad[0]!r}")
    return sorted(callbacks, key=lambda c: c.order)
