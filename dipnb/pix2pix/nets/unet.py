"""The pix2pix generator G: a U-Net whose depth follows the image size.

Faithful to the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix, ``networks.py``):

* :class:`UNetGenerator` — an encoder of ``num_downs`` Conv(4, stride 2, pad 1) layers
  (``ngf``, 2·ngf, 4·ngf, 8·ngf, 8·ngf, …) with BatchNorm + LeakyReLU(0.2) and a mirrored ConvTranspose
  decoder with BatchNorm + ReLU; the decoder layer at depth *i* sees the concatenation of its input and the
  encoder features at depth *i* (skip connections), and ends with Tanh so G(x) ∈ [-1, 1].
  ``num_downs`` follows the input size: a size-``s`` image is reduced to 1×1 by ``log2(s)`` layers, so
  ``size`` must be a power of two ≥ 32 (32, 64, 128, 256, 512, …). Dropout(0.5) in the ``num_downs - 5``
  innermost 8·ngf decoder layers is the paper's only source of noise z.
(The discriminator is in :mod:`dipnb.pix2pix.nets.patchgan`, the initialisation in :mod:`dipnb.pix2pix.nets.util`.)

The reference applies LeakyReLU *in place* to the tensor it then concatenates, so its skip connections carry
LeakyReLU(features); this module computes the same function explicitly (no in-place trick needed).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["SkipBlock", "UNetGenerator", "unet_num_downs"]


def unet_num_downs(size: int) -> int:
    """Number of stride-2 layers that bring a ``size``×``size`` image to 1×1: ``log2(size)``.

    Raises a ``ValueError`` saying which sizes work when ``size`` is not a power of two ≥ 32.
    """
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if size < 32 or size & (size - 1):
        raise ValueError(
            f"the U-Net generator cannot take size {size}: its depth follows the size (log2(size) stride-2 "
            "layers down to 1×1), so the size must be a power of two >= 32 — e.g. 32, 64, 128, 256 (the paper) "
            "or 512. Resize or crop your images to one of these, or pass num_downs=k explicitly and use "
            "images whose sides are multiples of 2**k."
        )
    return int(math.log2(size))


class SkipBlock(nn.Module):
    """One level of the U-Net: ``x ↦ [LeakyReLU(x), up(sub(down(LeakyReLU(x))))]`` (channel concatenation).

    The outermost level returns ``up(sub(down(x)))`` only (no skip, no LeakyReLU on the input image).
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        in_nc: int | None = None,
        sub: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        dropout: bool = False,
        skip: bool = True,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        self.skip = skip and not outermost
        in_nc = outer_nc if in_nc is None else in_nc
        # Biases: only the final ConvTranspose has one (the others feed BatchNorm; the reference also leaves
        # the first conv, which feeds a LeakyReLU, without bias).
        down: list[nn.Module] = [nn.Conv2d(in_nc, inner_nc, 4, 2, 1, bias=False)]
        if not (outermost or innermost):
            down.append(nn.BatchNorm2d(inner_nc))
        up_in = inner_nc * 2 if getattr(sub, "skip", False) else inner_nc  # the sub-level's concatenation
        up: list[nn.Module] = [nn.ReLU(inplace=True), nn.ConvTranspose2d(up_in, outer_nc, 4, 2, 1, bias=outermost)]
        if outermost:
            up.append(nn.Tanh())
        else:
            up.append(nn.BatchNorm2d(outer_nc))
            if dropout:
                up.append(nn.Dropout(0.5))
        self.down = nn.Sequential(*down)
        self.sub = sub if sub is not None else nn.Identity()
        self.up = nn.Sequential(*up)
        self.act = nn.Identity() if outermost else nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(x)
        y = self.up(self.sub(self.down(h)))
        return torch.cat([h, y], 1) if self.skip else y


class UNetGenerator(nn.Module):
    """The pix2pix generator G: a U-Net with ``num_downs`` levels (default: ``log2(size)``, 8 for 256²).

    Parameters
    ----------
    in_ch, out_ch: channels of the input x and of the output G(x).
    size: the square image size the net is built for (a power of two ≥ 32); sets ``num_downs = log2(size)``.
    num_downs: give the depth directly instead (≥ 5); inputs must then have sides divisible by ``2**num_downs``.
    ngf: filters of the first layer (64 in the paper; 54.4 M parameters at 256²).
    dropout: Dropout(0.5) in the inner 8·ngf decoder layers (the paper's noise z).
    skips: ``False`` removes the skip connections — the paper's *encoder-decoder* ablation (same layers, every
        bit of information must pass the 1×1 bottleneck).
    """

    def __init__(
        self,
        in_ch: int = 3,
        out_ch: int = 3,
        size: int | None = 256,
        num_downs: int | None = None,
        ngf: int = 64,
        dropout: bool = True,
        skips: bool = True,
    ) -> None:
        super().__init__()
        if num_downs is None:
            if size is None:
                raise ValueError("give UNetGenerator a size (power of two >= 32) or num_downs (>= 5)")
            num_downs = unet_num_downs(size)
        if num_downs < 5:
            raise ValueError(
                f"num_downs={num_downs} is too shallow: the U-Net has 5 fixed levels (ngf..8·ngf), so num_downs "
                "must be >= 5 (size >= 32)."
            )
        self.in_ch, self.out_ch, self.ngf, self.num_downs, self.dropout = in_ch, out_ch, ngf, num_downs, dropout
        self.skips = skips
        block = SkipBlock(ngf * 8, ngf * 8, innermost=True, skip=skips)
        for _ in range(num_downs - 5):
            block = SkipBlock(ngf * 8, ngf * 8, sub=block, dropout=dropout, skip=skips)
        block = SkipBlock(ngf * 4, ngf * 8, sub=block, skip=skips)
        block = SkipBlock(ngf * 2, ngf * 4, sub=block, skip=skips)
        block = SkipBlock(ngf, ngf * 2, sub=block, skip=skips)
        self.model = SkipBlock(out_ch, ngf, in_nc=in_ch, sub=block, outermost=True)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this (``2**num_downs``)."""
        return 2**self.num_downs

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a clear error for an input G cannot take (wrong rank, channels or spatial size)."""
        if x.ndim != 4:
            raise ValueError(f"UNetGenerator expects a batch N×{self.in_ch}×H×W, got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_ch:
            raise ValueError(f"UNetGenerator was built for {self.in_ch} input channels, got {x.shape[1]}")
        h, w = x.shape[-2:]
        m = self.multiple
        if h % m or w % m:
            ok = ", ".join(str(m * k) for k in (1, 2, 3, 4))
            raise ValueError(
                f"this U-Net has {self.num_downs} stride-2 levels, so H and W must be multiples of {m} "
                f"(e.g. {ok}); got {h}×{w}. Resize the input (dipnb.pix2pix.inference.translate does this) or "
                f"build the generator with UNetGenerator(size=...) for your size."
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.model(x)
