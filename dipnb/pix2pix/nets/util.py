"""Helpers shared by the networks: the paper's initialisation, receptive fields, parameter counts, inference mode.

* :func:`init_weights` — conv weights ~ N(0, 0.02), biases 0, BatchNorm γ ~ N(1, 0.02), β = 0 (pix2pix);
* :func:`receptive_field` — r ← r + (κ − 1)·j, j ← j·s over the Conv2d layers in order (94 px for the notebooks'
  FCN's encoder, 70 px for the default PatchGAN);
* :func:`count_parameters` — trainable parameters, each counted once;
* :func:`generator_mode` — run a network for inference (eval, or the paper's train mode) and leave it as it was;
* :func:`unwrap` — the network inside a DistributedDataParallel wrapper.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["conv_output_size", "count_parameters", "generator_mode", "init_weights", "receptive_field", "unwrap"]


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel (or DataParallel) wrapper, else ``model`` itself."""
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``, counted once even when shared."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"count_parameters expects a torch.nn.Module, got {type(model).__name__}")
    seen: dict[int, int] = {}
    for p in model.parameters():
        if p.requires_grad or not trainable_only:
            seen[id(p)] = p.numel()
    return sum(seen.values())


def _convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def receptive_field(model: nn.Module) -> int:
    """Receptive field (pixels, one side) of the last Conv2d of ``model``'s stack: r_k = r_{k-1} + (κ_k − 1)·Π_{j<k} s_j.

    Only ``Conv2d`` layers count (a decoder's transposed convolutions do not widen what the encoder saw):
    for the FCN of notebooks 05–06 (κ = 4, s = 2 five times) 1 + 3·(1 + 2 + 4 + 8 + 16) = 94 pixels; for the default
    PatchGAN 70.
    """
    convs = _convs(model)
    if not convs:
        raise ValueError("the model has no Conv2d layers, so no receptive field to compute")
    r, jump = 1, 1
    for conv in convs:
        r += (conv.kernel_size[0] - 1) * jump
        jump *= conv.stride[0]
    return r


def conv_output_size(model: nn.Module, size: int) -> int:
    """Side of the output of ``model``'s Conv2d stack for a ``size``×``size`` input."""
    for c in _convs(model):
        size = (size + 2 * c.padding[0] - c.kernel_size[0]) // c.stride[0] + 1
    return size


@torch.no_grad()
def init_weights(model: nn.Module, gain: float = 0.02) -> nn.Module:
    """The paper's initialisation: conv/linear weights ~ N(0, gain), biases 0; BatchNorm γ ~ N(1, gain), β = 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return model


@contextlib.contextmanager
def generator_mode(model: nn.Module, train_mode: bool = False) -> Iterator[nn.Module]:
    """Run ``model`` for inference inside the block, leaving it exactly as it was afterwards.

    ``train_mode=False``: eval mode (running BatchNorm statistics, no dropout) — deterministic.
    ``train_mode=True``: as the pix2pix paper and the reference ``test.py`` test — dropout on, BatchNorm on the
    batch's own statistics (feed one image per call for per-image statistics); the running statistics this
    updates are restored on exit, so translating images never changes the model.
    """
    was = model.training
    saved = {k: v.clone() for k, v in model.named_buffers()} if train_mode else {}
    model.train(train_mode)
    try:
        yield model
    finally:
        model.train(was)
        if saved:
            with torch.no_grad():
                for k, v in model.named_buffers():
                    v.copy_(saved[k])
