"""The FCN (one student's solution of the course's blank): architecture, parameter count, shapes and bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dipnb.pix2pix.nets import COURSE_CHANNELS, FCN, count_parameters, receptive_field


def test_parameter_count_is_the_student_solutions_16_7_million():
    model = FCN()
    # Encoder: Σ (16·c_in·c_out + c_out) + 2·c_out (BatchNorm); decoder likewise with the skip-widened inputs.
    enc = [(3, 64), (64, 128), (128, 256), (256, 512), (512, 512)]
    dec = [(512, 512), (1024, 256), (512, 128), (256, 64), (128, 3)]
    expected = sum(16 * a * b + b + 2 * b for a, b in enc) + sum(16 * a * b + b for a, b in dec)
    expected += 2 * (512 + 256 + 128 + 64)  # decoder BatchNorms (none after the last layer)
    assert count_parameters(model) == expected == 16_662_659
    assert round(count_parameters(model) / 1e6, 1) == 16.7


def test_layers_follow_the_student_solutions_design():
    model = FCN()
    convs = [m for m in model.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == list(COURSE_CHANNELS)
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) and c.padding == (1, 1) for c in convs)
    acts = [m for m in model.encoder.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 5 and all(a.negative_slope == 0.2 for a in acts)
    ups = [m for m in model.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(u.in_channels, u.out_channels) for u in ups] == [(512, 512), (1024, 256), (512, 128), (256, 64),
                                                             (128, 3)]
    assert isinstance(list(model.decoder[-1])[-1], nn.Tanh)
    assert receptive_field(model) == 94


def test_shapes_and_output_range():
    torch.manual_seed(0)
    model = FCN()
    x = torch.randn(2, 3, 64, 96) * 3
    y = model(x)
    assert y.shape == (2, 3, 64, 96)
    assert y.abs().max() < 1  # Tanh
    model.eval()
    with torch.no_grad():
        y1 = model(x[:1])
    assert y1.shape == (1, 3, 64, 96)


def test_skip_connections_carry_fine_detail():
    """Changing one input pixel changes the output near it through the shallow skip path."""
    torch.manual_seed(0)
    model = FCN().eval()
    x = torch.zeros(1, 3, 64, 64, requires_grad=True)
    model(x)[0, :, 10, 10].sum().backward()
    g = x.grad.abs().sum((0, 1))
    assert g[8:13, 8:13].sum() > 0
    # Through the bottleneck every output sees the whole 64² image — the receptive field exceeds it.
    assert (g > 0).float().mean() > 0.5


@pytest.mark.parametrize(
    "shape, match",
    [((1, 3, 48, 64), "divisible by 32"), ((1, 1, 64, 64), "N×3×H×W"), ((3, 64, 64), "batch dimension")],
)
def test_bad_input_shapes_are_explained(shape, match):
    with pytest.raises(ValueError, match=match):
        FCN()(torch.zeros(shape))


def test_count_parameters_counts_shared_weights_once_and_rejects_non_modules():
    lin = nn.Linear(3, 4)
    shared = nn.Sequential(lin, nn.ReLU(), lin)
    assert count_parameters(shared) == 16
    frozen = nn.Linear(2, 2)
    frozen.weight.requires_grad_(False)
    assert count_parameters(frozen) == 2 and count_parameters(frozen, trainable_only=False) == 6
    with pytest.raises(TypeError, match="nn.Module"):
        count_parameters([lin])
    with pytest.raises(ValueError, match="channels"):
        FCN(channels=())
