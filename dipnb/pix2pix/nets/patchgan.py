"""The pix2pix discriminator D: PatchGAN, a grid of logits each judging one N×N patch of the (input, output) pair.

D(x, y) maps the 6-channel pair to a grid of logits. ``n_layers`` sets N (the receptive field): 0 → 1×1
(*PixelGAN*), 1 → 16×16, 3 → 70×70 (the default), 5 → 286×286, as in the paper's patch-size ablation (its
FCN-scores are measured on Cityscapes).
As in the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix, ``NLayerDiscriminator``).
"""

from __future__ import annotations

import torch
from torch import nn

from dipnb.pix2pix.nets.util import conv_output_size, receptive_field

__all__ = ["PATCH_SIZES", "PatchGAN"]

#: Receptive field (pixels) → ``n_layers`` of :class:`PatchGAN`, the four discriminators of the paper's ablation.
PATCH_SIZES: dict[int, int] = {1: 0, 16: 1, 70: 3, 286: 5}


class PatchGAN(nn.Module):
    """The pix2pix discriminator D: a grid of logits, one per N×N patch of the (input, output) pair.

    ``n_layers`` = 0 gives the 1×1 *PixelGAN* (1×1 convs), 1 → 16×16, 3 → 70×70 (default), 5 → 286×286
    patches; see :func:`receptive_field`. ``in_ch`` is the channels of the concatenated pair (3 + 3 = 6).
    """

    def __init__(self, in_ch: int = 6, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        if n_layers < 0:
            raise ValueError(f"n_layers must be >= 0 (0 = PixelGAN), got {n_layers}")
        self.in_ch, self.ndf, self.n_layers = in_ch, ndf, n_layers
        lrelu = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        if n_layers == 0:  # PixelGAN: every pixel judged on its own
            layers: list[nn.Module] = [
                nn.Conv2d(in_ch, ndf, 1), lrelu(),
                nn.Conv2d(ndf, ndf * 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), lrelu(),
                nn.Conv2d(ndf * 2, 1, 1, bias=False),
            ]
        else:
            layers = [nn.Conv2d(in_ch, ndf, 4, 2, 1), lrelu()]
            mult = 1
            for n in range(1, n_layers):
                prev, mult = mult, min(2**n, 8)
                layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * mult), lrelu()]
            prev, mult = mult, min(2**n_layers, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=False), nn.BatchNorm2d(ndf * mult), lrelu()]
            layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)

    @classmethod
    def from_patch_size(cls, patch: int, in_ch: int = 6, ndf: int = 64) -> "PatchGAN":
        """The paper's discriminators by patch size: 1 (PixelGAN), 16, 70 or 286."""
        if patch not in PATCH_SIZES:
            raise ValueError(f"patch size {patch} is not one of the paper's {sorted(PATCH_SIZES)}")
        return cls(in_ch=in_ch, ndf=ndf, n_layers=PATCH_SIZES[patch])

    @property
    def receptive_field(self) -> int:
        """Side N of the square input patch that one output logit sees (computed from the layers)."""
        return receptive_field(self.model)

    def min_input_size(self) -> int:
        """Smallest square input giving a non-empty output grid."""
        s = 1
        while True:
            if conv_output_size(self.model, s) >= 1:
                return s
            s += 1

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        if xy.ndim != 4 or xy.shape[1] != self.in_ch:
            raise ValueError(
                f"PatchGAN expects N×{self.in_ch}×H×W (input and output images concatenated on channels), "
                f"got shape {tuple(xy.shape)}"
            )
        if self.n_layers and conv_output_size(self.model, min(xy.shape[-2:])) < 1:
            raise ValueError(
                f"a {xy.shape[-2]}×{xy.shape[-1]} input is too small for a PatchGAN with n_layers={self.n_layers} "
                f"(needs >= {self.min_input_size()} pixels); use fewer layers or larger images."
            )
        return self.model(xy)
