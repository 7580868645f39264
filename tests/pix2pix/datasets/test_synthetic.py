"""The offline synthetic facades: determinism, classes and layout, files on disk, and that it can be learnt."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from dipnb.pix2pix.datasets import PairedImageDataset
from dipnb.pix2pix.facades import FACADES_PALETTE
from dipnb.pix2pix.metrics import l1, labels_to_classes
from dipnb.pix2pix.datasets.synthetic import (
    BACKGROUND,
    FACADE,
    WINDOW,
    make_synthetic_facades,
    synthetic_classes,
    synthetic_pair,
)


def test_deterministic_and_varied():
    p1, l1_ = synthetic_pair(seed=0, index=3, size=64)
    p2, l2_ = synthetic_pair(seed=0, index=3, size=64)
    assert np.array_equal(p1, p2) and np.array_equal(l1_, l2_)
    assert p1.shape == l1_.shape == (64, 64, 3) and p1.dtype == np.uint8
    assert not np.array_equal(synthetic_pair(0, 4, 64)[0], p1)
    assert not np.array_equal(synthetic_pair(1, 3, 64)[0], p1)
    assert not np.array_equal(synthetic_pair(0, 3, 64, split="val")[0], p1)


def test_label_maps_use_the_palette_and_all_classes():
    seen = np.zeros(12, int)
    for i in range(40):
        cls = synthetic_classes(0, i, 128)
        _, labels = synthetic_pair(0, i, 128)
        assert np.array_equal(labels, FACADES_PALETTE[cls])
        seen += np.bincount(cls.ravel(), minlength=12) > 0
        # facade-like layout: the top row is background or roof cornice, the facade class dominates the middle
        assert np.isin(cls[0], (BACKGROUND, 4)).all()
        mid = cls[40:90]
        assert (mid == WINDOW).mean() > 0.05 and np.isin(mid, (FACADE, WINDOW)).mean() > 0.4
    assert (seen > 0).all(), f"classes never drawn: {np.flatnonzero(seen == 0)}"
    assert seen[BACKGROUND] == 40 and seen[FACADE] == 40 and seen[WINDOW] == 40


def test_photo_is_not_a_recolouring_of_the_labels():
    """Photos carry texture and shading: pixels of one class are not one colour."""
    photo, _ = synthetic_pair(0, 0, 128)
    cls = synthetic_classes(0, 0, 128)
    wall = photo[cls == FACADE].astype(float)
    assert wall.std(0).mean() > 3
    # walls and windows differ in brightness on average (glass is dark)
    assert photo[cls == WINDOW].mean() < wall.mean()


def test_make_synthetic_facades_files(tmp_path):
    out = make_synthetic_facades(tmp_path / "syn", n_train=5, n_val=2, n_test=3, size=128, seed=7)
    assert out == tmp_path / "syn"
    assert {s: len(list((out / s).glob("*.jpg"))) for s in ("train", "val", "test")} == {"train": 5, "val": 2, "test": 3}
    with Image.open(out / "train" / "1.jpg") as im:
        assert im.size == (256, 128) and im.format == "JPEG" and im.mode == "RGB"
    meta = json.loads((out / "SYNTHETIC.json").read_text())
    assert meta["params"]["seed"] == 7 and len(meta["classes"]) == 12
    # the JPEG (4:2:0 chroma, like the real files) blurs label colours at class edges; away from edges the
    # nearest palette colour recovers the classes
    img = np.asarray(Image.open(out / "train" / "2.jpg").convert("RGB"))
    labels = img[:, 128:].astype(int)
    exact = FACADES_PALETTE[synthetic_classes(7, 1, 128)].astype(int)
    assert np.abs(labels - exact).max() > 40  # blurred
    cls = labels_to_classes(img[:, 128:]).numpy()
    true = synthetic_classes(7, 1, 128)
    interior = np.ones_like(true, bool)
    for dy in (-2, -1, 0, 1, 2):
        for dx in (-2, -1, 0, 1, 2):
            interior &= np.roll(true, (dy, dx), axis=(0, 1)) == true
    assert interior.mean() > 0.3
    assert (cls[interior] == true[interior]).mean() > 0.97
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_reused_or_regenerated(tmp_path):
    out = make_synthetic_facades(tmp_path / "syn", n_train=2, n_val=1, n_test=0, size=32)
    f = out / "train" / "1.jpg"
    stamp = f.stat().st_mtime_ns
    before = f.read_bytes()
    make_synthetic_facades(tmp_path / "syn", n_train=2, n_val=1, n_test=0, size=32)
    assert f.stat().st_mtime_ns == stamp  # same parameters: reused
    make_synthetic_facades(tmp_path / "syn", n_train=3, n_val=1, n_test=0, size=32)  # other parameters
    assert len(list((out / "train").glob("*.jpg"))) == 3
    assert f.read_bytes() == before  # image 1 does not depend on how many there are
    os.remove(out / "train" / "2.jpg")  # damaged: regenerated
    make_synthetic_facades(tmp_path / "syn", n_train=3, n_val=1, n_test=0, size=32)
    assert (out / "train" / "2.jpg").is_file()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_train"):
        make_synthetic_facades(tmp_path / "x", n_train=-1)
    with pytest.raises(ValueError, match="size"):
        make_synthetic_facades(tmp_path / "x", size=16)


@pytest.mark.slow
def test_learnable_short_training_reduces_val_l1(tmp_path):
    """A tiny encoder-decoder trained for ~100 steps (photo → labels, 32²) clearly lowers val L1: from the
    untrained net's value to below the per-pixel-median baseline of the training labels."""
    torch.manual_seed(0)
    root = make_synthetic_facades(tmp_path / "syn", n_train=64, n_val=16, n_test=0, size=64)
    tr = PairedImageDataset(root, "train", size=32)
    va = PairedImageDataset(root, "val", size=32)
    xv = torch.stack([va[i][0] for i in range(len(va))])
    yv = torch.stack([va[i][1] for i in range(len(va))])
    median = torch.stack([tr[i][1] for i in range(len(tr))]).median(0).values
    baseline = l1(median.expand_as(yv), yv)

    c = 16
    down = lambda i, o: torch.nn.Sequential(torch.nn.Conv2d(i, o, 4, 2, 1), torch.nn.BatchNorm2d(o),  # noqa: E731
                                            torch.nn.LeakyReLU(0.2))
    up = lambda i, o: torch.nn.Sequential(torch.nn.ConvTranspose2d(i, o, 4, 2, 1), torch.nn.BatchNorm2d(o),  # noqa: E731
                                          torch.nn.ReLU())

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.d1, self.d2, self.d3 = down(3, c), down(c, 2 * c), down(2 * c, 4 * c)
            self.u3, self.u2 = up(4 * c, 2 * c), up(4 * c, c)
            self.u1 = torch.nn.Sequential(torch.nn.ConvTranspose2d(2 * c, 3, 4, 2, 1), torch.nn.Tanh())

        def forward(self, x):
            a = self.d1(x)
            b = self.d2(a)
            return self.u1(torch.cat([self.u2(torch.cat([self.u3(self.d3(b)), b], 1)), a], 1))

    net = Tiny()
    opt = torch.optim.Adam(net.parameters(), 2e-3, betas=(0.5, 0.999))
    net.eval()
    with torch.no_grad():
        start = l1(net(xv), yv)
    g = torch.Generator().manual_seed(0)
    for epoch in range(12):
        tr.set_epoch(epoch)
        net.train()
        perm = torch.randperm(len(tr), generator=g).tolist()
        for k in range(0, len(tr), 8):
            xb, yb = (torch.stack(t) for t in zip(*(tr[i] for i in perm[k:k + 8])))
            loss = (net(xb) - yb).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        end = l1(net(xv), yv)
    assert end < 0.6 * start, (start, end)
    assert end < baseline - 0.01, (end, baseline)


def test_cli_synthetic(tmp_path, capsys):
    from dipnb.data import main as data_cli

    assert data_cli(["synthetic", "--dest", str(tmp_path / "s"), "--size", "32", "--seed", "1"]) == 0
    assert str(tmp_path / "s") in capsys.readouterr().out
    assert {s: len(list((tmp_path / "s" / s).glob("*.jpg"))) for s in ("train", "val", "test")} == {
        "train": 400, "val": 100, "test": 106}
