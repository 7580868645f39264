"""pix2pix training: the conditional GAN objective and one optimisation step of D then G.

The pix2pix objective (Isola et al. 2017, eq. 4) is

    G* = arg min_G max_D  L_cGAN(G, D) + λ·L_L1(G),
    L_cGAN(G, D) = E_{x,y}[log D(x, y)] + E_{x}[log(1 − D(x, G(x)))],     L_L1(G) = E_{x,y} ‖y − G(x)‖₁,

with x the input (e.g. a label map), y the real output (a photo) and λ = 100. L1 alone is minimised by the
per-pixel *median* of the plausible outputs — a blur when several outputs are plausible; the discriminator D,
which looks at (x, y) pairs patch by patch, penalises such blurry, unrealistic textures.

One step (as ``pix2pix_model.optimize_parameters`` of the reference implementation):

1. ŷ = G(x) — computed once;
2. **D step**: L_D = ½[ℓ(D(x, ŷ.detach()), 0) + ℓ(D(x, y), 1)], backward, Adam step on D;
3. **G step** (D frozen): L_G = ℓ(D(x, ŷ), 1) + λ‖ŷ − y‖₁, backward, Adam step on G.

ℓ is the binary cross-entropy on logits (``gan_mode="vanilla"``, the paper's non-saturating form) or the
squared error (``"lsgan"``, Mao et al.). The learning rate is constant for ``epochs`` epochs, then decays
linearly towards 0 over ``decay_epochs`` epochs (the paper: 100 + 100).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from dipnb.config import GAN_MODES, TrainConfig, lr_factor
from dipnb.pix2pix.nets import PatchGAN, init_weights, unwrap
from dipnb.pix2pix.runtime import Runtime
from dipnb.pix2pix.tasks.base import GeneratorFactory, Task

__all__ = ["GANLoss", "GANTask", "discriminator_step", "generator_step", "pix2pix_step"]


class GANLoss(nn.Module):
    """ℓ(D's output, real?) averaged over all patches: BCE-with-logits (``vanilla``) or MSE (``lsgan``)."""

    def __init__(self, mode: str = "vanilla") -> None:
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {mode!r}")
        self.mode = mode
        self.loss = nn.BCEWithLogitsLoss() if mode == "vanilla" else nn.MSELoss()

    def forward(self, pred: torch.Tensor, real: bool) -> torch.Tensor:
        target = torch.ones_like(pred) if real else torch.zeros_like(pred)
        return self.loss(pred.float(), target.float())

    def score(self, pred: torch.Tensor) -> float:
        """D's mean verdict: the probability 'real' (σ of the logits) for vanilla, the raw output for LSGAN."""
        p = pred.detach().float()
        return float((torch.sigmoid(p) if self.mode == "vanilla" else p).mean())


def _backward(loss: torch.Tensor) -> None:
    loss.backward()


def _step(optimizer: torch.optim.Optimizer) -> None:
    optimizer.step()


def discriminator_step(
    D: nn.Module, opt_D: torch.optim.Optimizer, criterion: GANLoss, x: torch.Tensor, y: torch.Tensor,
    fake: torch.Tensor, autocast: Callable[[], Any] = contextlib.nullcontext,
    backward: Callable[[torch.Tensor], None] = _backward,
    step: Callable[[torch.optim.Optimizer], None] = _step,
) -> dict[str, float]:
    """L_D = ½[ℓ(D(x, ŷ.detach()), 0) + ℓ(D(x, y), 1)]; backward; one step of D's optimiser."""
    opt_D.zero_grad(set_to_none=True)
    with autocast():
        pred_fake = D(torch.cat([x, fake.detach()], 1))  # detach: no gradient flows into G from the D step
        pred_real = D(torch.cat([x, y], 1))
    loss_D = 0.5 * (criterion(pred_fake, False) + criterion(pred_real, True))
    backward(loss_D)
    step(opt_D)
    return {"D loss": float(loss_D.detach()), "D(real)": criterion.score(pred_real),
            "D(fake)": criterion.score(pred_fake)}


def generator_step(
    D: nn.Module, opt_G: torch.optim.Optimizer, criterion: GANLoss, x: torch.Tensor, y: torch.Tensor,
    fake: torch.Tensor, lambda_l1: float, autocast: Callable[[], Any] = contextlib.nullcontext,
    backward: Callable[[torch.Tensor], None] = _backward,
    step: Callable[[torch.optim.Optimizer], None] = _step,
) -> dict[str, float]:
    """L_G = ℓ(D(x, ŷ), 1) + λ‖ŷ − y‖₁ with D frozen; backward into G; one step of G's optimiser.

    D's parameters are switched to ``requires_grad=False`` for this backward pass (their gradients would be
    thrown away), and D is called unwrapped from DDP: D is not updated here, so no gradient sync is needed.
    """
    D = unwrap(D)
    opt_G.zero_grad(set_to_none=True)
    flags = [p.requires_grad for p in D.parameters()]
    for p in D.parameters():
        p.requires_grad_(False)
    try:
        with autocast():
            pred_fake = D(torch.cat([x, fake], 1))
        loss_gan = criterion(pred_fake, True)
        loss_l1 = (fake.float() - y.float()).abs().mean()
        loss_G = loss_gan + lambda_l1 * loss_l1 if lambda_l1 else loss_gan
        backward(loss_G)
    finally:
        for p, f in zip(D.parameters(), flags):
            p.requires_grad_(f)
    step(opt_G)
    return {"G(GAN)": float(loss_gan.detach()), "G(L1)": float(loss_l1.detach()), "G loss": float(loss_G.detach())}


def pix2pix_step(
    G: nn.Module, D: nn.Module, opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer, criterion: GANLoss,
    x: torch.Tensor, y: torch.Tensor, lambda_l1: float = 100.0,
    autocast: Callable[[], Any] = contextlib.nullcontext,
    backward: Callable[[torch.Tensor], None] = _backward,
    step: Callable[[torch.optim.Optimizer], None] = _step,
) -> dict[str, float]:
    """One pix2pix iteration: ŷ = G(x) once, then the D step, then the G step (reusing ŷ).

    ``autocast`` (a context-manager factory, e.g. ``lambda: torch.autocast("cuda", torch.bfloat16)``) wraps the
    forward passes only; losses, backward passes and optimiser steps run outside it. ``backward(loss)`` and
    ``step(optimizer)`` default to plain autograd/optimiser calls (the trainer passes GradScaler-aware ones).
    """
    with autocast():
        fake = G(x)
    stats = discriminator_step(D, opt_D, criterion, x, y, fake, autocast, backward, step)
    stats.update(generator_step(D, opt_G, criterion, x, y, fake, lambda_l1, autocast, backward, step))
    return stats


class GANTask(Task):
    """The pix2pix task for the trainer (``--model unet --gan``).

    Builds G (the U-Net for ``config.size``/``ngf``, the FCN of notebooks 05–06 with ``--model fcn``, or the
    ``generator`` factory's network), each initialised as its builder does (:mod:`~dipnb.pix2pix.tasks.base`),
    and D = :class:`PatchGAN` (``ndf``, ``d_layers``: 0/1/3/5 → 1/16/70/286-pixel patches) with N(0, 0.02); Adam(lr, (β1, β2)) for each; the paper's schedule (constant for ``config.epochs`` epochs, then
    linear decay to 0 over ``config.decay_epochs``, :func:`~dipnb.config.lr_factor`).

    ``train_step`` returns ``G(GAN)``, ``G(L1)`` (the *unweighted* mean |ŷ − y| of the batch), ``G loss``
    (= G(GAN) + λ·G(L1)), ``D loss``, ``D(real)`` and ``D(fake)`` (D's mean probability of 'real' on each).
    """

    def __init__(self, config: TrainConfig, runtime: Runtime | str | torch.device | None = None,
                 generator: GeneratorFactory | None = None) -> None:
        super().__init__(config, runtime, generator)
        self.lambda_l1 = float(config.lambda_l1)
        self.criterion = GANLoss(config.gan_mode)
        G = self.new_generator()  # as built (one rule for every task: see tasks.base)
        D = init_weights(PatchGAN(6, ndf=config.ndf, n_layers=config.d_layers))
        self.models = {"G": self.prepare(G), "D": self.prepare(D)}
        betas = (config.beta1, config.beta2)
        self.optimizers = {k: torch.optim.Adam(m.parameters(), lr=config.lr, betas=betas)
                           for k, m in self.models.items()}
        self.schedulers = {k: torch.optim.lr_scheduler.LambdaLR(o, lambda e: lr_factor(self.config, e))
                           for k, o in self.optimizers.items()}

    def train_step(self, inp: torch.Tensor, tgt: torch.Tensor) -> dict[str, float]:
        """One iteration on a batch (x = ``inp``, y = ``tgt``): ŷ = G(x), the D step, then the G step."""
        return pix2pix_step(self.models["G"], self.models["D"], self.optimizers["G"], self.optimizers["D"],
                            self.criterion, inp.to(self.device), tgt.to(self.device), self.lambda_l1,
                            self.autocast, self.backward, self.step)

    def plot_series(self) -> dict[str, list[str]]:
        """Live-plot panels, one scale each: G's total and its GAN part (λ·L1 dominates the total, so they are
        apart), L1 on train and val batches, D's loss, D's verdicts (probabilities)."""
        return {
            "G loss = G(GAN) + λ·G(L1)": ["G loss"],
            "G: GAN part": ["G(GAN)"],
            "L1 |ŷ − y|": ["G(L1)", "val L1"],
            "D loss": ["D loss"],
            "D(real) / D(fake)": ["D(real)", "D(fake)"],
        }

    def plot_limits(self) -> dict[str, tuple[float, float]]:
        """D's verdicts are probabilities: on [0, 1], where 0.5 means D cannot tell."""
        return {"D(real) / D(fake)": (0.0, 1.0)}
