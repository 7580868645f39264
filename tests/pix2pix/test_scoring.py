"""FCN-score and translation metrics (dipnb.pix2pix.scoring)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dipnb.config import TrainConfig
from dipnb.pix2pix import scoring as ev
from dipnb.pix2pix.facades import FACADES_PALETTE
from dipnb.pix2pix.datasets.synthetic import synthetic_classes

from conftest import make_pairs  # noqa: E402  (tests/conftest.py: the shared tiny dataset)


def label_maps(n: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact (un-blurred) synthetic label maps in [-1, 1] and their class maps."""
    cls = torch.stack([torch.from_numpy(synthetic_classes(0, i, size, "val").astype(np.int64)) for i in range(n)])
    rgb = torch.from_numpy(FACADES_PALETTE[cls.numpy()]).permute(0, 3, 1, 2).float() / 127.5 - 1
    return rgb, cls


def test_fcn_score_sanity_identity_segmenter_scores_one() -> None:
    """If the 'photos' are the label maps themselves and S is the identity, every pixel is right."""
    labels, _ = label_maps(3)
    s = ev.fcn_score(nn.Identity(), labels, labels)
    assert s == {"pixel_accuracy": 1.0, "mean_iou": 1.0}


def test_fcn_score_counts_wrong_pixels() -> None:
    labels, cls = label_maps(3)
    facade = torch.tensor(FACADES_PALETTE[1], dtype=torch.float32).view(1, 3, 1, 1) / 127.5 - 1

    def all_facade(x: torch.Tensor) -> torch.Tensor:  # a segmenter that calls everything "facade"
        return facade.expand_as(x)

    s = ev.fcn_score(all_facade, labels, labels)
    share = float((cls == 1).float().mean())
    assert s["pixel_accuracy"] == pytest.approx(share, abs=1e-6)
    assert 0.05 < share < 0.95
    n_classes = int(torch.unique(cls).numel())
    assert s["mean_iou"] == pytest.approx(share / n_classes, abs=1e-6)  # IoU = share for facade, 0 for the rest


def test_fcn_score_resizes_to_the_segmenter_size() -> None:
    labels, _ = label_maps(2, size=64)
    seg = nn.Identity()
    seg.size = 32  # a segmenter trained at 32²: photos and labels are compared at 32²
    s = ev.fcn_score(seg, labels, labels)
    # only the bilinear (photo) vs nearest (labels) resampling of thin 1–2 px structures can differ
    assert 0.7 < s["pixel_accuracy"] < 1.0
    with pytest.raises(ValueError, match="same shape"):
        ev.fcn_score(seg, labels, labels[:1])


def test_score_translators_rows() -> None:
    labels, cls = label_maps(4)
    const = torch.zeros_like(labels)
    rows = ev.score_translators({"perfect": labels.clone(), "grey": const}, labels, labels, nn.Identity())
    real, perfect, grey = rows
    assert real["model"] == "real photos" and real["FCN pixel acc."] == 1.0
    assert perfect["L1"] == 0 and perfect["SSIM"] == pytest.approx(1.0) and perfect["FCN pixel acc."] == 1.0
    assert grey["L1"] == pytest.approx(float(labels.abs().mean()), rel=1e-6)
    assert grey["FCN pixel acc."] < 0.9 and grey["SSIM"] < 0.5
    table = ev.format_table(rows)
    assert table.count("\n") == 4 and "| real photos |" in table


def write_tiny_dataset(root: Path) -> Path:
    """Photos and their label maps at 64² (8 train, 4 val pairs): what the FCN-score segmenter learns from."""
    return make_pairs(root, n_train=8, n_val=4, size=64, content="labels")


def test_missing_segmenter_says_how_to_train_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DIPNB_DATA", str(tmp_path / "data"))
    data = write_tiny_dataset(tmp_path / "tiny")
    with pytest.raises(ev.SegmenterMissingError) as info:
        ev.load_segmenter(data, 32)
    msg = str(info.value)
    assert "python -m dipnb.pix2pix.evaluate train-segmenter" in msg and "train_segmenter(" in msg
    assert str(tmp_path / "data" / "models") in msg
    bad = ev.segmenter_path(data, 32)
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot be read"):
        ev.load_segmenter(data, 32)


@pytest.mark.slow
def test_train_segmenter_then_score_a_gan_run_from_the_cli(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DIPNB_DATA", str(tmp_path / "data"))
    data = write_tiny_dataset(tmp_path / "tiny")
    cfg = TrainConfig(data=str(data), model="fcn", direction="AtoB", size=32, epochs=1, batch_size=4, max_steps=2)
    path = ev.train_segmenter(cfg, verbose=False, plot=False)
    assert path == ev.segmenter_path(data, 32) and path.is_file()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left behind
    S = ev.load_segmenter(data, 32)
    assert S.size == 32 and not S.training and 0 <= S.val_pixel_accuracy <= 1

    from dipnb.pix2pix.train import main as train_main

    run = tmp_path / "gan"
    assert train_main(["--data", str(data), "--direction", "BtoA", "--model", "unet", "--gan", "--size", "32",
                       "--epochs", "1", "--batch-size", "2", "--max-steps", "2", "--ngf", "8", "--ndf", "8",
                       "--out", str(run), "--quiet", "--no-progress"]) == 0
    G, cfg = ev.load_generator(run)
    assert cfg.gan and G.num_downs == 5
    capsys.readouterr()
    from dipnb.pix2pix.evaluate import main as evaluate_main

    assert evaluate_main(["score", str(run)]) == 0
    out = capsys.readouterr().out
    assert "| real photos |" in out and "| gan |" in out and "FCN pixel acc." in out
    # an existing photo → labels FCN run can become the segmenter; a labels → photo GAN run cannot
    with pytest.raises(ValueError, match="photo → labels"):
        ev.segmenter_from_run(run)
    path.unlink()
    assert ev.segmenter_from_run(path.parent / "runs" / path.stem, verbose=False) == path
    assert ev.load_segmenter(data, 32).size == 32


def test_generate_in_train_mode_is_per_image_and_leaves_the_model_unchanged() -> None:
    from dipnb.pix2pix.nets import UNetGenerator

    torch.manual_seed(0)
    G = UNetGenerator(size=32, ngf=8)  # no dropout at 32²: train mode is deterministic here
    assert not any(isinstance(m, nn.Dropout) for m in G.modules())
    G.eval()
    x = torch.rand(5, 3, 32, 32) * 2 - 1
    before = {k: v.clone() for k, v in G.state_dict().items()}
    out = ev.generate(G, x, batch_size=4, train_mode=True)
    assert not G.training and all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    # BatchNorm on each image's own statistics: an image's output does not depend on the rest of the batch
    for i in range(len(x)):
        assert torch.allclose(out[i:i + 1], ev.generate(G, x[i:i + 1], train_mode=True), atol=1e-6)
    assert not torch.allclose(out, ev.generate(G, x))  # and it differs from eval mode's running statistics
