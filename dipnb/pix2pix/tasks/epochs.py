"""The student's own epoch: G trained by user functions with the course template's signatures.

The course template (``Pix2Pix/train.py``) asks for two functions::

    train_one_epoch(model, dataloader, optimizer, criterion, device, epoch, num_epochs) -> mean train loss
    validate(model, dataloader, criterion, device, epoch, num_epochs) -> mean val loss

:class:`EpochFunctionsTask` lets them run an epoch while the :class:`~dipnb.pix2pix.engine.trainer.Trainer` keeps
everything else: the optimiser and its schedule from the :class:`~dipnb.config.TrainConfig` (the same Adam and
:func:`~dipnb.config.lr_factor` as :class:`~dipnb.pix2pix.tasks.l1.L1Task`), the batch order (a function of seed
and epoch, so a resumed run repeats the uninterrupted one), validation L1, history, samples, checkpoints and the
cache. The history's ``train loss`` and ``val loss`` columns are the numbers the functions returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from dipnb.config import TrainConfig
from dipnb.pix2pix.runtime import Runtime
from dipnb.pix2pix.tasks.base import GeneratorFactory
from dipnb.pix2pix.tasks.l1 import L1Task

__all__ = ["EpochFunctionsTask", "TrainOneEpoch", "Validate"]

#: ``train_one_epoch(model, dataloader, optimizer, criterion, device, epoch, num_epochs) -> mean train loss``
TrainOneEpoch = Callable[..., float]
#: ``validate(model, dataloader, criterion, device, epoch, num_epochs) -> mean val loss``
Validate = Callable[..., float]


def _as_loss(value: Any, who: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{who} must return the epoch's mean loss as a number, got {type(value).__name__} "
                        f"({value!r}); end it with e.g. `return running_loss / len(dataloader)`")
    return float(value)


class EpochFunctionsTask(L1Task):
    """G (``generator`` factory or the config's built-in) trained one epoch at a time by ``train_one_epoch``
    (and checked by ``validate``), with ``criterion`` (default ``nn.L1Loss()``, as the course)."""

    trains_by_epoch = True

    def __init__(self, config: TrainConfig, runtime: Runtime | str | torch.device | None = None,
                 generator: GeneratorFactory | None = None, *, train_one_epoch: TrainOneEpoch,
                 validate: Validate | None = None, criterion: nn.Module | None = None) -> None:
        if config.gan:
            raise ValueError("train_one_epoch trains G with one loss (the course's L1); it cannot run the GAN "
                             "objective: set gan=False, or drop train_one_epoch to let GANTask train pix2pix")
        for name, fn in (("train_one_epoch", train_one_epoch), ("validate", validate)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be a function, got {fn!r}")
        super().__init__(config, runtime, generator)
        self.train_one_epoch, self.validate = train_one_epoch, validate
        self.criterion = criterion if criterion is not None else nn.L1Loss()

    def run_epoch(self, loader: Iterable, val_loader: Iterable | None, epoch: int, num_epochs: int) -> dict[str, float]:
        """One epoch by the user's functions (0-based ``epoch``, as the template's loop passes it)."""
        G, opt = self.models["G"], self.optimizers["G"]
        row = {"train loss": _as_loss(self.train_one_epoch(G, loader, opt, self.criterion, self.device, epoch,
                                                           num_epochs), "train_one_epoch")}
        if self.validate is not None and val_loader is not None:
            row["val loss"] = _as_loss(self.validate(G, val_loader, self.criterion, self.device, epoch, num_epochs),
                                       "validate")
        return row

    def plot_series(self) -> dict[str, list[str]]:
        return {"loss": ["train loss", "val loss", "val L1"] if self.validate is not None else ["train loss", "val L1"]}
