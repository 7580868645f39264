"""The pix2pix cGAN step (dipnb.pix2pix.tasks.gan): D then G, losses, schedule, and equality with the reference step."""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from dipnb.pix2pix.tasks import (
    GANLoss,
    GANTask,
    discriminator_step,
    generator_step,
    pix2pix_step,
)
from dipnb.pix2pix import anchor as anchor_module
from dipnb.config import TrainConfig, lr_factor
from dipnb.pix2pix.nets import PatchGAN, UNetGenerator, init_weights

from conftest import make_pairs  # noqa: E402  (tests/conftest.py: the shared tiny dataset)

ROOT = Path(__file__).resolve().parents[3]


def load_anchor():
    """The re-created reference implementation (dipnb.pix2pix.anchor) that benchmarks/gan_step.py times against."""
    return anchor_module


def small_config(**kw) -> TrainConfig:
    base = dict(model="unet", gan=True, size=32, epochs=2, decay_epochs=2, batch_size=2, ngf=8, ndf=8, d_layers=2)
    base.update(kw)
    return TrainConfig(**base)


def batch(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1, torch.rand(n, 3, size, size, generator=g) * 2 - 1


def params(m: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in m.parameters()]


def changed(before: list[torch.Tensor], m: nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, m.parameters()))


@pytest.mark.parametrize("mode", ["vanilla", "lsgan"])
def test_train_step_updates_both_nets_and_reports_losses(mode: str) -> None:
    torch.manual_seed(0)
    task = GANTask(small_config(gan_mode=mode), "cpu")
    G, D = task.models["G"], task.models["D"]
    g0, d0 = params(G), params(D)
    x, y = batch()
    out = task.train_step(x, y)
    assert set(out) >= {"G(GAN)", "G(L1)", "G loss", "D loss", "D(real)", "D(fake)"}
    assert all(math.isfinite(v) for v in out.values())
    assert changed(g0, G) and changed(d0, D)
    assert out["G loss"] == pytest.approx(out["G(GAN)"] + 100 * out["G(L1)"], rel=1e-5)
    # G(L1) is the mean |G(x) - y| before the step: ~ mean |U(-1,1) - small| ≈ 0.5 for these random pairs
    assert 0.2 < out["G(L1)"] < 1.0
    if mode == "vanilla":
        assert 0 < out["D(real)"] < 1 and 0 < out["D(fake)"] < 1
        assert out["D loss"] == pytest.approx(math.log(2), abs=0.3)  # fresh D: about chance level


def test_one_G_forward_and_three_D_forwards_per_step() -> None:
    """No redundant passes: ŷ = G(x) once and reused; D sees (x, ŷ.detach()), (x, y), then (x, ŷ)."""
    task = GANTask(small_config(), "cpu")
    calls = {"G": 0, "D": 0}
    for k, m in task.models.items():
        m.register_forward_hook(lambda *a, k=k: calls.__setitem__(k, calls[k] + 1))
    task.train_step(*batch())
    assert calls == {"G": 1, "D": 3}


def test_d_step_leaves_G_alone_and_G_step_leaves_D_alone() -> None:
    torch.manual_seed(0)
    G = init_weights(UNetGenerator(size=32, ngf=8))
    D = init_weights(PatchGAN(ndf=8, n_layers=2))
    oG, oD = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999)), torch.optim.Adam(D.parameters(), 2e-4)
    crit = GANLoss()
    x, y = batch()
    fake = G(x)
    g0, d0 = params(G), params(D)
    discriminator_step(D, oD, crit, x, y, fake)
    assert changed(d0, D) and not changed(g0, G)
    assert all(p.grad is None for p in G.parameters())  # fake.detach(): nothing flowed into G
    d1, dgrad = params(D), [p.grad.clone() for p in D.parameters()]
    generator_step(D, oG, crit, x, y, fake, 100.0)
    assert changed(g0, G) and not changed(d1, D)
    assert all(torch.equal(p.grad, g) for p, g in zip(D.parameters(), dgrad))  # D frozen: no grads added
    assert all(p.requires_grad for p in D.parameters())  # and unfrozen afterwards


def test_zero_grad_sets_to_none_between_steps() -> None:
    task = GANTask(small_config(), "cpu")
    task.train_step(*batch())
    optD = task.optimizers["D"]
    seen = []
    orig = optD.zero_grad
    optD.zero_grad = lambda set_to_none=True: (seen.append(set_to_none), orig(set_to_none=set_to_none))
    task.train_step(*batch(seed=1))
    assert seen == [True]


def test_same_step_as_the_reference_implementation() -> None:
    """Same initial weights and inputs → the same parameters after one step as junyanz's optimize_parameters."""
    anchor = load_anchor()
    torch.manual_seed(0)
    aG = anchor.init_anchor(anchor.UnetGenerator(3, 3, 5, ngf=8, use_dropout=True))
    aD = anchor.init_anchor(anchor.NLayerDiscriminator(6, ndf=8, n_layers=3))
    G, D = UNetGenerator(size=32, ngf=8), PatchGAN(ndf=8, n_layers=3)
    for mine, ref in ((G, aG), (D, aD)):
        sa, sb = list(mine.state_dict().values()), list(ref.state_dict().values())
        assert [t.shape for t in sa] == [t.shape for t in sb]
        mine.load_state_dict(dict(zip(mine.state_dict(), sb)))
    ref = anchor.AnchorPix2Pix.__new__(anchor.AnchorPix2Pix)
    ref.netG, ref.netD, ref.criterionGAN, ref.criterionL1 = aG, aD, anchor.AnchorGANLoss(), nn.L1Loss()
    ref.optimizer_G = torch.optim.Adam(aG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ref.optimizer_D = torch.optim.Adam(aD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ref.lambda_L1 = 100.0
    oG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    oD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x, y = batch()
    for seed in (1, 2):
        torch.manual_seed(seed)
        ref.set_input(x, y)
        ref.optimize_parameters()
        torch.manual_seed(seed)
        stats = pix2pix_step(G, D, oG, oD, GANLoss(), x, y, 100.0)
        assert stats["D loss"] == pytest.approx(float(ref.loss_D.detach()), rel=1e-5)
        assert stats["G(GAN)"] == pytest.approx(float(ref.loss_G_GAN.detach()), rel=1e-5)
    for mine, theirs in ((G, aG), (D, aD)):
        for a, b in zip(mine.state_dict().values(), theirs.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_linear_decay_schedule_like_the_paper() -> None:
    # reference: lr_l = 1 − max(0, epoch + 1 − n_epochs) / (n_epochs_decay + 1)
    cfg = small_config(epochs=3, decay_epochs=3)
    assert [lr_factor(cfg, e) for e in range(6)] == pytest.approx([1, 1, 1, 0.75, 0.5, 0.25])
    task = GANTask(small_config(epochs=2, decay_epochs=3), "cpu")
    lrs = []
    for _ in range(5):
        lrs.append(task.optimizers["G"].param_groups[0]["lr"])
        for s in task.schedulers.values():
            s.step()
    assert lrs == pytest.approx([2e-4, 2e-4, 2e-4 * 3 / 4, 2e-4 * 2 / 4, 2e-4 * 1 / 4], rel=1e-6)
    assert task.optimizers["D"].param_groups[0]["lr"] == task.optimizers["G"].param_groups[0]["lr"]


def test_bad_gan_mode() -> None:
    with pytest.raises(ValueError, match="gan_mode"):
        GANTask(small_config(gan_mode="wgan"), "cpu")


def test_bad_size_says_which_work() -> None:
    with pytest.raises(ValueError, match="power of two"):
        GANTask(small_config(size=48), "cpu")


def test_check_state_rejects_generator_discriminator_mismatch() -> None:
    task = GANTask(small_config(), "cpu")
    good = {k: copy.deepcopy(m.state_dict()) for k, m in task.models.items()}
    task.check_state(good)  # fine
    with pytest.raises(ValueError, match="no D network"):
        task.check_state({"G": good["G"]})  # an L1-only checkpoint resumed with --gan
    other_d = PatchGAN(ndf=8, n_layers=3).state_dict()  # another PatchGAN depth
    with pytest.raises(ValueError, match="D does not match"):
        task.check_state({"G": good["G"], "D": other_d})
    other_g = UNetGenerator(size=32, ngf=16).state_dict()
    with pytest.raises(ValueError, match="G does not match.*other shapes"):
        task.check_state({"G": other_g, "D": good["D"]})


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_whose_D_or_G_does_not_fit(tmp_path) -> None:
    from dipnb.pix2pix.engine import CheckpointError, Trainer, load_checkpoint

    data = make_pairs(tmp_path / "data", n_train=4, n_val=4, content="labels")
    cfg = small_config(data=str(data), direction="BtoA", epochs=1, decay_epochs=0, max_steps=1, sample_every=1)
    out = tmp_path / "run"
    Trainer(cfg, out, plot=False, progress=False, verbose=False).fit()
    ck_path = out / "checkpoint.pt"
    ck = load_checkpoint(ck_path)
    # an L1-only run's folder resumed with --gan: refused (configuration and networks differ)
    l1_out = tmp_path / "l1"
    Trainer(small_config(data=str(data), gan=False, epochs=1, decay_epochs=0, max_steps=1), l1_out, plot=False,
            progress=False, verbose=False).fit()
    with pytest.raises(CheckpointError, match="gan"):
        Trainer(small_config(data=str(data), epochs=2, decay_epochs=0, max_steps=1), l1_out, resume=True,
                plot=False, progress=False, verbose=False).setup()
    # a checkpoint whose D was swapped for another PatchGAN depth: refused by GANTask.check_state
    ck["models"]["D"] = PatchGAN(ndf=8, n_layers=3).state_dict()
    torch.save(ck, ck_path)
    with pytest.raises(CheckpointError, match="D does not match"):
        Trainer(dataclasses.replace(cfg, epochs=2), out, resume=True, plot=False, progress=False, verbose=False).setup()
