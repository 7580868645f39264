"""Public checks of notebooks 05–07 (the FCN, the training loops, the pix2pix losses); re-exported by
:mod:`dipnb.assignment.public`, whose docstring says what a public check is."""

from __future__ import annotations

import contextlib
from typing import Callable

import numpy as np
import torch
from torch import nn

from dipnb.assignment.public_common import Fail, forbid_dipnb_calls, require, require_callable, scalar

# -- 05: the FCN -------------------------------------------------------------------------------------------
CONV1 = (3, 8, (4, 4), (2, 2), (1, 1))  # the template's Conv2d(3, 8, 4, 2, 1): in, out, kernel, stride, padding


def check_fcn(cls: Callable, shapes: list[tuple[int, ...]], seed: int, steps: int = 5) -> nn.Module:
    """Properties of any FCN the prompt allows: the template's conv1, used; the input's shape; outputs in
    [−1, 1]; it learns, and can reach negative targets."""
    name = "FullyConvNetwork"
    require(isinstance(cls, type) and issubclass(cls, nn.Module), f"{name} must be an nn.Module subclass.")
    torch.manual_seed(seed)
    try:
        net = cls()
    except TypeError as err:
        raise Fail(f"{name}() must take no arguments: {err}") from err
    conv1 = getattr(net, "conv1", None)
    require(isinstance(conv1, nn.Sequential) and len(conv1) >= 2 and isinstance(conv1[0], nn.Conv2d)
            and (conv1[0].in_channels, conv1[0].out_channels, conv1[0].kernel_size, conv1[0].stride,
                 conv1[0].padding) == CONV1,
            f"{name}.conv1 must stay the template's Conv2d(3, 8, 4, 2, 1), BatchNorm2d(8), ReLU — the template "
            "gives it and the prompt requires it: build the rest of the network on its 8 channels (a wider "
            "layer may follow it).")
    n_params = sum(p.numel() for p in net.parameters())
    require(n_params > sum(p.numel() for p in conv1.parameters()),
            f"{name} has no layers besides conv1: add the rest of the encoder and the decoder.")
    used = []
    hook = conv1.register_forward_hook(lambda *_: used.append(True))
    try:
        for shape in shapes:
            x = torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1
            for mode in ("train", "eval"):
                net.train(mode == "train")
                used.clear()
                with torch.no_grad():
                    y = net(x)
                require(bool(used), f"{name}.forward never runs self.conv1: the template's first layer must be "
                                    "the first step of forward (x → conv1 → the rest).")
                require(isinstance(y, torch.Tensor), f"{name}.forward returned {type(y).__name__}, not a tensor.")
                require(tuple(y.shape) == tuple(x.shape),
                        f"{name} maps an input of shape {tuple(x.shape)} to {tuple(y.shape)} ({mode} mode); the "
                        "output must have the input's shape (3 channels, same height and width)"
                        + (": the decoder needs as many ×2 up-samplings as the encoder has ×½ down-samplings"
                           if y.dim() == 4 and y.shape[-1] != x.shape[-1] else ""))
                require(bool(torch.isfinite(y).all()) and float(y.min()) >= -1 and float(y.max()) <= 1,
                        f"{name}'s output must lie in [-1, 1] like the data (end with Tanh); got "
                        f"[{float(y.min()):.3f}, {float(y.max()):.3f}]")
    finally:
        hook.remove()
    net.train()
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1
    target = torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (net(x) - target).abs().mean()
        require(loss.requires_grad, f"{name}'s output does not depend on its parameters: it cannot learn.")
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    require(losses[-1] < losses[0] - 1e-4, f"{name} does not learn: its L1 loss on a fixed batch went "
                                           f"{losses[0]:.4f} → {losses[-1]:.4f} over {steps} Adam steps.")
    # the data's range is [-1, 1]: a batch whose targets are all -0.8 must be reachable
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    dark = torch.full_like(x, -0.8)
    for _ in range(15):
        opt.zero_grad()
        out = net(x)
        (out - dark).abs().mean().backward()
        opt.step()
    low = float(net(x).detach().mean())
    require(low < -0.2, f"{name} cannot produce negative values: trained on targets of −0.8 its mean output "
                        f"stays at {low:.3f}. The data lies in [−1, 1]: end with Tanh (not Sigmoid or ReLU).")
    return net


def FullyConvNetwork(cls: Callable) -> None:  # noqa: N802  the template's class name
    require_callable(cls, "FullyConvNetwork")
    with forbid_dipnb_calls("FullyConvNetwork"):
        check_fcn(cls, [(1, 3, 256, 256), (2, 3, 64, 64)], seed=0)


# -- 06: training step and validation ----------------------------------------------------------------------
class TinyNet(nn.Sequential):
    """Conv + BatchNorm + Tanh: a small model to train in the checks (not an answer)."""

    def __init__(self) -> None:
        super().__init__(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 3, 3, padding=1), nn.Tanh())


def tiny_loader(seed: int, n: int = 6, batch: int = 2, size: int = 8) -> torch.utils.data.DataLoader:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=gen) * 2 - 1
    y = torch.rand(n, 3, size, size, generator=gen) * 2 - 1
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch, shuffle=False)


class SpyCriterion(nn.Module):
    """A criterion (here the MSE, not the L1) that records each call: the loss it returned and, for training,
    the gradient that loss alone gives each parameter."""

    def __init__(self, params: list[nn.Parameter] | None = None) -> None:
        super().__init__()
        self.params, self.values, self.grads = params, [], []

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = ((out - target) ** 2).mean()
        self.values.append(float(loss.detach()))
        if self.params is not None and loss.requires_grad:
            self.grads.append([g.detach().clone() for g in torch.autograd.grad(loss, self.params,
                                                                               retain_graph=True)])
        return loss


class SpyAdam(torch.optim.Adam):
    """Adam that records, at each step, whether each parameter's gradient is that of the last criterion call."""

    def __init__(self, params, spy: SpyCriterion, **kw) -> None:
        super().__init__(params, **kw)
        self.spy, self.events = spy, []

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.events.append("zero_grad")
        super().zero_grad(set_to_none)

    def step(self, closure=None):
        ps = self.spy.params
        if not self.spy.grads or any(p.grad is None for p in ps):
            self.events.append("step without gradient")
        else:
            ok = all(torch.allclose(p.grad, g, atol=1e-6, rtol=1e-4) for p, g in zip(ps, self.spy.grads[-1]))
            self.events.append("step" if ok else "step with wrong gradient")
        return super().step(closure)


def train_one_epoch(fn: Callable) -> None:
    name = "train_one_epoch"
    require_callable(fn, name)
    torch.manual_seed(0)
    model = TinyNet().eval()  # the function must switch it to train mode itself
    modes: list[bool] = []
    model.register_forward_hook(lambda m, i, o: modes.append(m.training))
    loader = tiny_loader(0)
    spy = SpyCriterion(list(model.parameters()))
    opt = SpyAdam(model.parameters(), spy, lr=1e-2, betas=(0.5, 0.999))
    with forbid_dipnb_calls(name):
        fn(model, loader, opt, spy, torch.device("cpu"), 3, 10)
    n = len(loader)
    require(len(spy.values) == n, f"{name} called `criterion` {len(spy.values)} times for {n} batches: compute "
                                  "each batch's loss with the criterion it is given (here the MSE), not a loss of "
                                  "its own.")
    require(modes and all(modes), f"{name} must put the model in training mode (model.train()) before the "
                                  "forward passes.")
    steps = [e for e in opt.events if e.startswith("step")]
    require(len(steps) == n, f"{name} took {len(steps)} optimiser steps for {n} batches: one per batch.")
    require("step without gradient" not in steps, f"{name}: optimizer.step() ran before loss.backward() (no "
                                                  "gradient yet): backward first, then step.")
    require(all(e == "step" for e in steps),
            f"{name}: at an optimiser step the gradients were not those of that batch's loss — call "
            "optimizer.zero_grad() before each backward (gradients accumulate otherwise), then loss.backward(), "
            "then optimizer.step().")


def validate(fn: Callable) -> None:
    name = "validate"
    require_callable(fn, name)
    torch.manual_seed(0)
    model = TinyNet()
    with torch.no_grad():
        for x, _ in tiny_loader(7):
            model(x)  # BatchNorm running statistics that differ from a fresh batch's
    model.train()  # the function must switch it to eval mode itself
    seen: list[tuple[bool, bool]] = []
    model.register_forward_hook(lambda m, i, o: seen.append((m.training, torch.is_grad_enabled())))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    spy = SpyCriterion()
    with forbid_dipnb_calls(name):
        out = fn(model, tiny_loader(1), spy, torch.device("cpu"), 3, 10)
    require(seen, f"{name} never ran the model.")
    require(not any(t for t, _ in seen), f"{name} ran the model in training mode: call model.eval() first "
                                         "(BatchNorm then uses, and keeps, its running statistics).")
    require(not any(g for _, g in seen), f"{name} ran the model's forward passes with gradients enabled: wrap "
                                         "the loop in `with torch.no_grad():`.")
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    require(not changed, f"{name} changed the model (`{changed[0] if changed else ''}`): validation must not train.")
    require(len(spy.values) == len(tiny_loader(1)), f"{name} called `criterion` {len(spy.values)} times for "
                                                    f"{len(tiny_loader(1))} batches: use the criterion it is given.")
    require(out is not None, f"{name} must return the average validation loss (it returned None).")
    expected = sum(spy.values) / len(spy.values)
    require(abs(float(out) - expected) < 1e-5 * max(1, abs(expected)),
            f"{name} returned {float(out):.6f}; the mean of the criterion's values over the batches is "
            f"{expected:.6f}" + (" (you returned their sum)" if abs(float(out) - sum(spy.values)) < 1e-6 else ""))


# -- 07: pix2pix losses ------------------------------------------------------------------------------------
def gan_case(seed: int, size: int = 16) -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    """A tiny G (3→3) and conditional D (6→1 logits map), and a batch (x, y)."""
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(6, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3, padding=1))
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, size, size, generator=gen) * 2 - 1
    y = torch.rand(2, 3, size, size, generator=gen) * 2 - 1
    return G, D, x, y


#: L_D = ½[BCE(D(x, G(x)), 0) + BCE(D(x, y), 1)] and the GAN term BCE(D(x, G(x)), 1) of L_G for gan_case(0), (1).
_D_LOSS = {0: 0.6897117495536804, 1: 0.6920287609100342}
_G_GAN = {0: 0.6921135783195496, 1: 0.6459265947341919}


def proportional(got: list[float], ref: list[float], what: str, rtol: float = 1e-4) -> float:
    """``got[k] = c · ref[k]`` for one c > 0 (any positive normalisation); returns c."""
    require(all(np.isfinite(got)), f"{what} is not finite: {got}")
    ratios = [g / r for g, r in zip(got, ref)]
    require(all(r > 0 for r in ratios),
            f"{what} has the wrong sign or is zero: got {got}, expected positive multiples of {ref}")
    c = ratios[0]
    require(all(abs(r / c - 1) <= rtol for r in ratios),
            f"{what} is off: got {[f'{g:.6g}' for g in got]} where the expected values (up to one positive "
            f"factor) are {[f'{r:.6g}' for r in ref]}")
    return c


def _answer_guard(name: str, guard: bool) -> contextlib.AbstractContextManager:
    """:func:`forbid_dipnb_calls` around the answer's call, or nothing where the caller guards a whole check."""
    return forbid_dipnb_calls(name) if guard else contextlib.nullcontext()


def discriminator_loss_step(fn: Callable, seed: int, guard: bool = True
                            ) -> tuple[float, nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``fn(D, x, y, G(x))`` on :func:`gan_case` (``seed``), back-propagated, checked for what every
    discriminator loss must do: a scalar with a gradient for D's parameters and none for G's (the fake image is
    detached). ``guard``: the call runs under :func:`forbid_dipnb_calls` (the public check; the hidden test guards
    its whole check instead). Returns the loss's value and (D, x, y, fake), D's ``.grad`` filled by the answer."""
    name = "discriminator_loss"
    G, D, x, y = gan_case(seed)
    fake = G(x)
    with _answer_guard(name, guard):
        loss = scalar(fn(D, x, y, fake), name)
    require(loss.requires_grad, f"{name}: the loss has no gradient with respect to D's parameters.")
    loss.backward()
    leaked = [p for p in G.parameters() if p.grad is not None and float(p.grad.abs().sum()) > 0]
    require(not leaked, f"{name}: gradients flow into the generator — detach the fake image "
                        "(fake.detach()) before giving it to D in the discriminator's loss.")
    return float(loss.detach()), D, x, y, fake


def generator_loss_step(fn: Callable, D: nn.Module, x: torch.Tensor, y: torch.Tensor, fake: torch.Tensor,
                        lambda_l1: float, guard: bool = True) -> float:
    """``fn(D, x, y, fake, lambda_l1)`` back-propagated (``fake.grad`` cleared first), checked for what every
    generator loss must do: a scalar whose gradient reaches the fake image (it is not detached). ``guard`` as in
    :func:`discriminator_loss_step`. Returns the loss's value; ``fake.grad`` holds its gradient."""
    name = "generator_loss"
    with _answer_guard(name, guard):
        loss = scalar(fn(D, x, y, fake, lambda_l1), name)
    require(loss.requires_grad, f"{name}: the loss has no gradient — do not detach the fake image here: "
                                "the generator learns through D(x, G(x)).")
    fake.grad = None
    loss.backward()
    require(fake.grad is not None and float(fake.grad.abs().sum()) > 0,
            f"{name}: no gradient reaches the fake image; do not detach it in the generator's loss.")
    return float(loss.detach())


def discriminator_loss(fn: Callable) -> None:
    name = "discriminator_loss"
    require_callable(fn, name)
    got = [discriminator_loss_step(fn, s)[0] for s in (0, 1)]
    proportional(got, [_D_LOSS[0], _D_LOSS[1]], f"{name}'s value (½[BCE(D(x, G(x)), 0) + BCE(D(x, y), 1)]); fake "
                 "pairs (x, G(x)) are labelled 0, real pairs (x, y) 1, and D sees x concatenated with the image "
                 "on the channel axis —")


def generator_loss(fn: Callable) -> None:
    """Two different λ per case: L_G = c·(BCE(D(x, G(x)), 1) + λ·mean|G(x) − y|) for one c > 0."""
    name = "generator_loss"
    require_callable(fn, name)
    cs = []
    for s, (l1, l2) in ((0, (100.0, 10.0)), (1, (1.0, 50.0))):
        G, D, x, y = gan_case(s)
        fake = G(x).detach().requires_grad_(True)
        values = [generator_loss_step(fn, D, x, y, fake, lam) for lam in (l1, l2)]
        l1_term = float((fake.detach() - y).abs().mean())
        require(abs(values[0] - values[1]) > 1e-6 * max(abs(values[0]), 1),
                f"{name} gave the same value for lambda_l1={l1:g} and {l2:g}: weight the L1 term by the "
                "lambda_l1 argument (do not hard-code 100).")
        c = (values[0] - values[1]) / ((l1 - l2) * l1_term)
        require(np.isfinite(c) and c > 0, f"{name}: the loss must grow with λ·mean|G(x) − y| (lambda_l1={l1:g} "
                                          f"gave {values[0]:.5g}, {l2:g} gave {values[1]:.5g}).")
        gan = values[0] / c - l1 * l1_term
        require(abs(gan - _G_GAN[s]) <= 1e-3 * _G_GAN[s],
                f"{name}: its GAN term is {gan:.5g}, expected BCE(D(x, G(x)), 1) = {_G_GAN[s]:.5g} — label the "
                "fake pairs 1 (the non-saturating loss) and add λ times the mean absolute error.")
        cs.append(c)
    require(abs(cs[0] / cs[1] - 1) < 1e-3, f"{name}: its scale changes between inputs ({cs[0]:.4g} vs {cs[1]:.4g}).")
