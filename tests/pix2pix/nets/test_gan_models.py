"""U-Net generator, PatchGAN discriminator and init of pix2pix (dipnb.pix2pix.nets)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dipnb.pix2pix.nets import (
    PATCH_SIZES,
    PatchGAN,
    UNetGenerator,
    init_weights,
    receptive_field,
    unet_num_downs,
)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("size", [32, 64, 128])
def test_unet_shapes_and_range(size: int) -> None:
    torch.manual_seed(0)
    g = init_weights(UNetGenerator(size=size, ngf=8))
    assert g.num_downs == unet_num_downs(size) == {32: 5, 64: 6, 128: 7}[size]
    x = torch.randn(2, 3, size, size)
    y = g(x)
    assert y.shape == (2, 3, size, size)
    assert y.min() >= -1 and y.max() <= 1  # Tanh output
    assert y.std() > 1e-3  # not a constant image


def test_unet_depth_follows_size_and_dropout_layers() -> None:
    for size, downs in [(32, 5), (64, 6), (256, 8), (512, 9)]:
        g = UNetGenerator(size=size, ngf=2)
        assert g.num_downs == downs
        drops = [m for m in g.modules() if isinstance(m, nn.Dropout)]
        assert len(drops) == downs - 5  # the paper: dropout in the inner 8·ngf decoder layers only
    assert not any(isinstance(m, nn.Dropout) for m in UNetGenerator(size=256, ngf=2, dropout=False).modules())


@pytest.mark.parametrize("bad", [16, 100, 96, 255, 0])
def test_unet_rejects_sizes_it_cannot_take(bad: int) -> None:
    with pytest.raises(ValueError, match="power of two >= 32"):
        UNetGenerator(size=bad)


def test_unet_forward_rejects_wrong_input_size_and_says_which_work() -> None:
    g = UNetGenerator(size=64, ngf=4)
    with pytest.raises(ValueError, match="multiples of 64"):
        g(torch.zeros(1, 3, 48, 48))
    with pytest.raises(ValueError, match="input channels"):
        g(torch.zeros(1, 1, 64, 64))
    # Sides that are multiples of 2**num_downs work (non-square too): the bottleneck is just larger than 1×1.
    assert g(torch.zeros(1, 3, 64, 128)).shape == (1, 3, 64, 128)
    g5 = UNetGenerator(num_downs=5, size=None, ngf=4)
    assert g5(torch.zeros(2, 3, 96, 96)).shape == (2, 3, 96, 96)


def test_unet_skip_connections_carry_fine_detail() -> None:
    """With skips, a one-pixel change in x changes G(x) most at that pixel (a plain encoder-decoder smears it)."""
    torch.manual_seed(0)
    g = init_weights(UNetGenerator(size=32, ngf=8)).eval()
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    g(x)[0, :, 10, 21].sum().backward()
    grad = x.grad[0].abs().sum(0)
    r, c = torch.nonzero(grad == grad.max())[0].tolist()
    assert abs(r - 10) <= 1 and abs(c - 21) <= 1
    # ... while the whole image still reaches it through the 1×1 bottleneck (global context)
    assert (grad > 0).float().mean() > 0.9


def test_encoder_decoder_ablation_has_no_skips() -> None:
    torch.manual_seed(0)
    ed = init_weights(UNetGenerator(size=32, ngf=8, skips=False)).eval()
    unet = init_weights(UNetGenerator(size=32, ngf=8)).eval()
    assert n_params(ed) < n_params(unet)
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    assert ed(x).shape == (1, 3, 32, 32)
    ed(x)[0, :, 10, 21].sum().backward()
    g_ed = x.grad[0].abs().sum(0)
    x.grad = None
    unet(x)[0, :, 10, 21].sum().backward()
    g_unet = x.grad[0].abs().sum(0)
    # share of the sensitivity within ±1 px of the output pixel: high with skips, diffuse without
    local = lambda g: float(g[9:12, 20:23].sum() / g.sum())  # noqa: E731
    assert local(g_unet) > 3 * local(g_ed)


def test_parameter_counts_match_the_reference() -> None:
    """junyanz's repo prints 54.414 M for unet_256 (ngf 64) and 2.769 M for the basic (n_layers=3) D."""
    assert n_params(UNetGenerator(size=256)) == 54_413_955  # the anchor's count, re-created in benchmarks/
    assert n_params(PatchGAN()) == 2_768_705


def test_patchgan_output_grid_like_reference() -> None:
    d = PatchGAN(ndf=8)
    assert d(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)  # 30×30 patches of 70×70 at 256²
    with pytest.raises(ValueError, match="concatenated"):
        d(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="too small"):
        PatchGAN(ndf=4, n_layers=5)(torch.zeros(1, 6, 64, 64))


def empirical_receptive_field(d: PatchGAN, size: int) -> int:
    """Side of the input region that reaches the centre logit: where d(logit)/d(input) is non-zero."""
    d.eval()  # BatchNorm with running statistics: no coupling between pixels through batch statistics
    x = torch.randn(1, 6, size, size, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    nz = torch.nonzero(x.grad.abs().sum((0, 1)) > 0)
    rows, cols = nz[:, 0], nz[:, 1]
    h, w = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
    assert h == w
    return h


@pytest.mark.parametrize("patch,size", [(1, 16), (16, 48), (70, 128), (286, 320)])
def test_patchgan_receptive_fields_analytic_and_empirical(patch: int, size: int) -> None:
    torch.manual_seed(0)
    d = init_weights(PatchGAN.from_patch_size(patch, ndf=4))
    assert d.n_layers == PATCH_SIZES[patch]
    assert d.receptive_field == receptive_field(d.model) == patch
    assert empirical_receptive_field(d, size) == patch


def test_patchgan_unknown_patch_size() -> None:
    with pytest.raises(ValueError, match="1, 16, 70, 286"):
        PatchGAN.from_patch_size(64)


def test_init_weights_statistics() -> None:
    torch.manual_seed(0)
    g = init_weights(UNetGenerator(size=64, ngf=16))
    convs = [m for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    w = torch.cat([m.weight.flatten() for m in convs])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    assert all(m.bias is None or torch.all(m.bias == 0) for m in convs)
    bns = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    gamma = torch.cat([m.weight for m in bns])
    assert abs(gamma.mean().item() - 1) < 5e-3 and abs(gamma.std().item() - 0.02) < 5e-3
    assert all(torch.all(m.bias == 0) for m in bns)
