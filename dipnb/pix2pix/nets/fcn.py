"""A fully convolutional network (FCN) for image-to-image translation: one student's solution of the course's
`FullyConvNetwork` blank (the template gives only conv1 = Conv2d(3, 8, 4, 2, 1) + BatchNorm2d(8) + ReLU).

The network maps an image x ∈ [-1, 1]^{3×H×W} to an image ŷ = G(x) ∈ [-1, 1]^{3×H×W}:

* **Encoder** — five Conv(4×4, stride 2, pad 1) layers with 64-128-256-512-512 filters, each followed by
  BatchNorm and LeakyReLU(0.2). Every layer halves the side: H → H/2 → … → H/32.
* **Decoder** — the mirror image: five ConvTranspose(4×4, stride 2, pad 1) layers producing
  512-256-128-64-3 channels, each but the last followed by BatchNorm and ReLU; every side doubles.
  Before each decoder layer but the first, the decoder features are concatenated (along channels) with the
  encoder features of the same resolution — the *skip connections* that carry fine detail past the
  bottleneck.
* **Output** — Tanh, so ŷ ∈ (-1, 1) like the targets.

Unlike a classification net there is no fully connected layer: the network accepts any H, W divisible by
2⁵ = 32, and every output pixel is a function of a receptive field of the input (see
:func:`dipnb.pix2pix.nets.util.receptive_field`: 94 pixels). 16.7 M parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["COURSE_CHANNELS", "FCN"]

#: Filters of the five encoder layers of the student's FCN (the name is kept for the tests and notebooks).
COURSE_CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512)


def _down(c_in: int, c_out: int) -> nn.Sequential:
    """Conv(4, s2, p1) → BatchNorm → LeakyReLU(0.2): halves H and W."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
    )


def _up(c_in: int, c_out: int, last: bool = False) -> nn.Sequential:
    """ConvTranspose(4, s2, p1) → BatchNorm → ReLU (→ Tanh for the last layer): doubles H and W."""
    layers: list[nn.Module] = [nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1)]
    if last:
        layers.append(nn.Tanh())
    else:
        layers += [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class FCN(nn.Module):
    """The student solution's FCN: conv encoder 64-128-256-512-512, transposed-conv decoder 512-256-128-64-3 with skips.

    Parameters
    ----------
    in_channels, out_channels: channels of x and of ŷ (3 and 3 for RGB → RGB).
    channels: encoder widths (the decoder mirrors them); the default is the student solution's :data:`COURSE_CHANNELS`.

    ``forward(x)`` takes a batch N×C×H×W with H and W divisible by 2**len(channels) (32 for the default widths)
    and returns N×out_channels×H×W in (-1, 1).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        channels: Sequence[int] = COURSE_CHANNELS,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 1 or any(c < 1 for c in channels):
            raise ValueError(f"channels must be a non-empty sequence of positive ints, got {channels}")
        self.in_channels, self.out_channels, self.channels = in_channels, out_channels, channels
        # Encoder: e_1 … e_L with e_k at resolution H / 2^k.
        widths = (in_channels, *channels)
        self.encoder = nn.ModuleList(_down(widths[k], widths[k + 1]) for k in range(len(channels)))
        # Decoder: d_L takes e_L; d_k (k < L) takes [up-path features, e_k] concatenated.
        dec_out = (*reversed(channels[:-1]), out_channels)  # 512-256-128-64-3 for the default widths
        self.decoder = nn.ModuleList()
        c_in = channels[-1]
        for k, c_out in enumerate(dec_out):
            last = k == len(dec_out) - 1
            self.decoder.append(_up(c_in, c_out, last=last))
            if not last:
                c_in = c_out + channels[-2 - k]  # concatenation with the encoder features of that resolution

    @property
    def divisor(self) -> int:
        """H and W must be multiples of this (2 to the number of stride-2 layers)."""
        return 2 ** len(self.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"FCN expects a batch N×{self.in_channels}×H×W, got shape {tuple(x.shape)}; "
                "add a batch dimension with x[None] for a single image."
            )
        h, w = x.shape[-2:]
        if h % self.divisor or w % self.divisor:
            raise ValueError(
                f"FCN needs H and W divisible by {self.divisor} (one halving per encoder layer), got {h}×{w}; "
                f"resize to e.g. {max(self.divisor, h // self.divisor * self.divisor)}²."
            )
        skips = []
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        x = skips.pop()  # the bottleneck e_L
        for k, layer in enumerate(self.decoder):
            if k > 0:
                x = torch.cat([x, skips.pop()], dim=1)
            x = layer(x)
        return x
