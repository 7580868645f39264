"""The Task protocol: a task owns the networks and how one optimisation step is taken.

The :class:`~dipnb.pix2pix.engine.trainer.Trainer` owns everything else (data, seeding, validation, callbacks,
checkpoints, exact resume, NaN checks); the :class:`~dipnb.pix2pix.runtime.Runtime` says where and how to
compute. A task subclasses :class:`Task`::

    class MyTask(Task):
        def __init__(self, config: TrainConfig, runtime: Runtime, generator=None):
            super().__init__(config, runtime, generator)   # self.config, self.runtime, self.device, self.amp
            G = self.prepare(self.new_generator())   # to the device (and layout), wrapped for DDP
            self.models = {"G": G}                  # "G" (required) maps input → output in [-1, 1]
            self.optimizers = {"G": torch.optim.Adam(G.parameters(), ...)}   # any names; all checkpointed
            self.schedulers = {"G": LambdaLR(...)}  # stepped once at the end of every epoch

        def train_step(self, inp, tgt) -> dict[str, float]:
            G, opt = self.models["G"], self.optimizers["G"]
            opt.zero_grad(set_to_none=True)
            with self.autocast():                   # bf16/fp16 autocast on CUDA, a no-op on CPU
                loss = (G(inp) - tgt).abs().mean()
            self.backward(loss)                     # = GradScaler.scale(loss).backward()
            self.step(opt)                          # = GradScaler.step(opt)
            return {"train L1": loss.item()}        # python floats; each key becomes a history.csv column

``inp`` and ``tgt`` arrive on ``self.device``, both N×3×H×W in [-1, 1]. The trainer calls :meth:`fit_batch`
(``train_step`` then the one GradScaler update of the iteration). ``train_step`` must return finite floats (a
NaN stops training); keys must not be ``epoch``, ``val L1``, ``lr`` or ``seconds``, which the trainer adds.
:meth:`generate` is the output used for validation and samples (G in eval mode); :meth:`state_dict` /
:meth:`load_state_dict` (with :meth:`check_state`) are what a checkpoint holds.

**One initialisation rule for every path**: a network starts as its builder makes it, whatever the task trains
it with. The built-in generator is :func:`build_generator`'s (the FCN with PyTorch's default init, as the
course's; the U-Net with pix2pix's N(0, 0.02)); a ``generator`` factory's network (e.g. the notebook's own
``FullyConvNetwork``) as its constructor makes it; the PatchGAN with N(0, 0.02). No task re-initialises G.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Mapping
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from dipnb.config import TrainConfig
from dipnb.pix2pix.inference import generate
from dipnb.pix2pix.nets import FCN, UNetGenerator, init_weights, unwrap
from dipnb.pix2pix.runtime import Amp, Runtime

__all__ = ["RESERVED_COLUMNS", "GeneratorFactory", "Task", "build_generator", "generator_name"]

#: A zero-argument callable returning the generator G (an ``nn.Module`` class such as the notebook's own
#: ``FullyConvNetwork``, or a function); it maps N×3×H×W in [-1, 1] to the same shape.
GeneratorFactory = Callable[[], nn.Module]

RESERVED_COLUMNS = ("epoch", "val L1", "lr", "seconds")


def build_generator(config: TrainConfig) -> nn.Module:
    """The built-in generator G named by ``config.model``: the FCN of notebooks 05–06 (PyTorch's default init) or
    the U-Net for ``config.size`` (pix2pix's N(0, 0.02) init)."""
    if config.model == "fcn":
        return FCN()
    return init_weights(UNetGenerator(size=config.size, ngf=config.ngf))


def generator_name(G: nn.Module) -> str:
    """``module.QualifiedName`` of G's class (without its DDP wrapper): what a checkpoint records of a user's model."""
    cls = type(unwrap(G))
    return f"{cls.__module__}.{cls.__qualname__}"


class Task(abc.ABC):
    """Base class of training tasks (see the module docstring for the protocol)."""

    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any]

    def __init__(self, config: TrainConfig, runtime: Runtime | str | torch.device | None = None,
                 generator: GeneratorFactory | None = None) -> None:
        if generator is not None and not callable(generator):
            raise TypeError(f"generator must be a zero-argument callable returning an nn.Module (e.g. a model "
                            f"class), got {generator!r}")
        self.config = config
        self.generator = generator
        if not isinstance(runtime, Runtime):  # a device: a single-process runtime with the config's AMP mode
            dev = torch.device(runtime if runtime is not None else "cpu")
            runtime = Runtime(dev, Amp(config.amp, dev))
        self.runtime = runtime
        self.models, self.optimizers, self.schedulers = {}, {}, {}

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    @property
    def amp(self) -> Amp:
        return self.runtime.amp

    # -- helpers for subclasses --------------------------------------------------------------
    def new_generator(self) -> nn.Module:
        """G as its builder makes it: the ``generator`` factory's network, else :func:`build_generator`'s."""
        if self.generator is None:
            return build_generator(self.config)
        G = self.generator()
        if not isinstance(G, nn.Module):
            raise TypeError(f"the generator factory {getattr(self.generator, '__name__', self.generator)!r} must "
                            f"return an nn.Module, got {type(G).__name__}")
        if not any(p.requires_grad for p in G.parameters()):
            raise ValueError(f"the generator {type(G).__name__} has no trainable parameters: its layers must be "
                             "attributes of the module (self.conv1 = nn.Conv2d(...)) created in __init__")
        return G

    def prepare(self, model: nn.Module) -> nn.Module:
        """``model`` on the device (channels-last when configured), wrapped for DDP by the runtime."""
        fmt = torch.channels_last if self.config.channels_last else torch.contiguous_format
        return self.runtime.wrap(model.to(self.device, memory_format=fmt))

    def autocast(self) -> contextlib.AbstractContextManager:
        return self.amp.autocast()

    def backward(self, loss: torch.Tensor) -> None:
        self.amp.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.amp.scaler.step(optimizer)

    def net(self, name: str = "G") -> nn.Module:
        """``self.models[name]`` without its DDP wrapper."""
        return unwrap(self.models[name])

    def lr(self) -> float:
        """The current learning rate of the first optimiser."""
        return next(iter(self.optimizers.values())).param_groups[0]["lr"]

    # -- protocol -------------------------------------------------------------------------------
    @abc.abstractmethod
    def train_step(self, inp: torch.Tensor, tgt: torch.Tensor) -> dict[str, float]:
        """One optimisation step of every net the task trains; returns the losses as python floats."""

    def fit_batch(self, inp: torch.Tensor, tgt: torch.Tensor) -> dict[str, float]:
        """One iteration: :meth:`train_step`, then the GradScaler update (once per iteration, after every step)."""
        losses = self.train_step(inp, tgt)
        self.amp.scaler.update()
        return losses

    def end_epoch(self) -> None:
        """Step every scheduler (the trainer calls this once at the end of every epoch)."""
        for sched in self.schedulers.values():
            sched.step()

    def train(self, mode: bool = True) -> None:
        """Put every network in train (or eval) mode."""
        for m in self.models.values():
            m.train(mode)

    def plot_series(self) -> dict[str, list[str]]:
        """Live-plot panels over history columns."""
        return {"loss": ["train L1", "val L1"]}

    def plot_limits(self) -> dict[str, tuple[float, float]]:
        """Fixed y ranges of some live-plot panels (e.g. probabilities on [0, 1]); the others scale to their data."""
        return {}

    @torch.no_grad()
    def generate(self, inp: torch.Tensor) -> torch.Tensor:
        """G(inp) for validation and samples: eval mode (BatchNorm running stats, no dropout), float32."""
        return generate(self.net("G"), inp, batch_size=None, autocast=self.autocast)

    # -- checkpoint state --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Every network, optimiser, scheduler and the GradScaler, as a checkpoint holds them."""
        return {
            "models": {k: unwrap(m).state_dict() for k, m in self.models.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scaler": self.amp.scaler.state_dict(),
        }

    def check_state(self, states: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
        """Raise ``ValueError`` when the saved model states do not fit this task's networks (names and shapes)."""
        missing = [k for k in self.models if k not in states]
        if missing:
            raise ValueError(
                f"the checkpoint has no {' or '.join(missing)} network (it holds {sorted(states)}): it was written "
                "by another task (e.g. --gan vs not). Start a new run in another --out folder."
            )
        for name, model in self.models.items():
            own, theirs = unwrap(model).state_dict(), states[name]
            extra, lacking = set(theirs) - set(own), set(own) - set(theirs)
            wrong = [k for k in own if k in theirs and tuple(theirs[k].shape) != tuple(own[k].shape)]
            if extra or lacking or wrong:
                detail = (f"{len(lacking)} missing, {len(extra)} unexpected, {len(wrong)} with other shapes"
                          + (f" (e.g. {wrong[0]}: {tuple(theirs[wrong[0]].shape)} vs {tuple(own[wrong[0]].shape)})"
                             if wrong else ""))
                raise ValueError(
                    f"the checkpoint's {name} does not match this run's {type(unwrap(model)).__name__} ({detail}): "
                    "it was trained with another model / size / ngf / ndf / d_layers. Resume with the original "
                    "settings or start a new run in another --out folder."
                )

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; ``ValueError`` saying what does not fit."""
        parts = (("models", self.models), ("optimizers", self.optimizers), ("schedulers", self.schedulers))
        for kind, objs in parts:
            saved = state.get(kind, {})
            if set(saved) != set(objs):
                raise ValueError(
                    f"holds {kind} {sorted(saved)} but {type(self).__name__} has {sorted(objs)}: the checkpoint "
                    "comes from another model or task (e.g. --gan vs not); use another --out."
                )
        self.check_state(state["models"])
        for kind, objs in parts:
            for name, obj in objs.items():
                try:
                    (unwrap(obj) if kind == "models" else obj).load_state_dict(state[kind][name])
                except (RuntimeError, KeyError, ValueError) as exc:
                    raise ValueError(
                        f"{kind[:-1]} {name!r} does not fit the current network ({str(exc).splitlines()[0][:300]}): "
                        "the checkpoint comes from another model or configuration; use another --out."
                    ) from exc
        if state.get("scaler"):
            self.amp.scaler.load_state_dict(state["scaler"])
