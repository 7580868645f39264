"""Translation metrics: L1, PSNR, SSIM on [-1, 1] images, nearest-palette class maps, accuracy, mean IoU."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from dipnb.pix2pix.datasets import split_pair
from dipnb.pix2pix.facades import FACADES_PALETTE
from dipnb.pix2pix.metrics import (
    confusion_matrix,
    l1,
    labels_to_classes,
    mean_iou,
    pixel_accuracy,
    psnr,
    ssim,
    translation_metrics,
)


def palette_image(classes: torch.Tensor) -> torch.Tensor:
    """Class map H×W → colour-coded label image 3×H×W in [-1, 1]."""
    pal = torch.from_numpy(FACADES_PALETTE.astype(np.float32))
    return (pal[classes].permute(2, 0, 1) / 127.5 - 1).contiguous()


def test_l1_and_psnr_known_values():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 16, 16, generator=g) * 1.6 - 0.8
    pred = target + 0.1
    assert l1(pred, target) == pytest.approx(0.1, abs=1e-6)
    # MSE = 0.01, data range 2: PSNR = 10 log10(4 / 0.01)
    assert psnr(pred, target) == pytest.approx(10 * math.log10(4 / 0.01), abs=1e-3)
    assert l1(target, target) == 0.0


def test_ssim_identity_and_degradation():
    g = torch.Generator().manual_seed(1)
    img = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-5)
    noisy = (img + 0.3 * torch.randn(img.shape, generator=g)).clamp(-1, 1)
    s = ssim(noisy, img)
    assert 0 < s < 0.9
    assert ssim(img[0], img[0]) == pytest.approx(1.0, abs=1e-5)  # C×H×W accepted


def test_metric_input_errors():
    a = torch.zeros(1, 3, 16, 16)
    with pytest.raises(ValueError, match="shape"):
        l1(a, torch.zeros(1, 3, 16, 8))
    with pytest.raises(TypeError):
        psnr(np.zeros((3, 4, 4)), a)
    with pytest.raises(ValueError, match="11×11"):
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_labels_to_classes_exact_and_noisy():
    g = torch.Generator().manual_seed(2)
    classes = torch.randint(0, 12, (2, 20, 24), generator=g)
    img = torch.stack([palette_image(c) for c in classes])
    assert torch.equal(labels_to_classes(img), classes)
    noisy = img + (torch.rand(img.shape, generator=g) - 0.5) * (2 * 8 / 127.5)  # ±8 levels
    assert torch.equal(labels_to_classes(noisy, luma_weight=None), classes)
    assert torch.equal(labels_to_classes(noisy), classes)
    # uint8 channels-last (as read from files) gives the same
    u8 = FACADES_PALETTE[classes[0].numpy()]
    assert torch.equal(labels_to_classes(u8), classes[0])
    assert labels_to_classes(img[0]).shape == (20, 24) and labels_to_classes(img).dtype == torch.long


def test_labels_to_classes_errors():
    with pytest.raises(ValueError):
        labels_to_classes(torch.zeros(1, 16, 16))
    with pytest.raises(ValueError):
        labels_to_classes(np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(TypeError):
        labels_to_classes([[0]])


def test_pixel_accuracy_and_mean_iou_by_hand():
    true = torch.tensor([[0, 0, 1, 1], [2, 2, 2, 2]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 2, 2, 0]])
    assert pixel_accuracy(pred, true) == pytest.approx(6 / 8)
    # class 0: inter 1, union 3; class 1: inter 2, union 3; class 2: inter 3, union 4; others absent
    assert mean_iou(pred, true, num_classes=12) == pytest.approx((1 / 3 + 2 / 3 + 3 / 4) / 3)
    cm = confusion_matrix(pred, true, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 3]]
    assert mean_iou(true, true, 12) == 1.0
    with pytest.raises(ValueError, match="0..2"):
        confusion_matrix(pred + 1, true, 3)


def test_mean_iou_matches_torchmetrics_when_all_classes_occur():
    from torchmetrics.functional.classification import multiclass_jaccard_index

    g = torch.Generator().manual_seed(3)
    true = torch.randint(0, 12, (4, 32, 32), generator=g)
    pred = torch.where(torch.rand(true.shape, generator=g) < 0.7, true, torch.randint(0, 12, true.shape, generator=g))
    ours = mean_iou(pred, true, 12)
    ref = float(multiclass_jaccard_index(pred, true, num_classes=12, average="macro"))
    assert ours == pytest.approx(ref, abs=1e-6)


def test_translation_metrics_keys_and_values():
    g = torch.Generator().manual_seed(4)
    classes = torch.randint(0, 12, (2, 4, 4), generator=g).repeat_interleave(8, 1).repeat_interleave(8, 2)
    target = torch.stack([palette_image(c) for c in classes])
    pred = target.clone()
    pred[:, :, :8] = palette_image(torch.zeros(8, 32, dtype=torch.long))  # top quarter predicted background
    m = translation_metrics(pred, target, labels=True)
    assert set(m) == {"l1", "psnr", "ssim", "pixel_accuracy", "mean_iou"}
    expected_acc = float((torch.where(torch.arange(32)[:, None] < 8, 0, classes) == classes).float().mean())
    assert m["pixel_accuracy"] == pytest.approx(expected_acc)
    assert 0 < m["mean_iou"] < 1 and m["l1"] > 0
    assert set(translation_metrics(pred, target)) == {"l1", "psnr", "ssim"}


def test_real_label_map_quantises_cleanly(real_facades):
    """Recolouring the nearest-palette class map reproduces a real (JPEG) label map closely."""
    img = np.asarray(Image.open(real_facades / "val" / "1.jpg").convert("RGB"))
    _, b = split_pair(img)
    cls = labels_to_classes(b)
    assert cls.shape == (256, 256)
    recoloured = FACADES_PALETTE[cls.numpy()].astype(np.float32)
    err = np.abs(recoloured - b.astype(np.float32)).mean()
    assert err < 6  # JPEG ringing at class edges only
    assert len(torch.unique(cls)) >= 4


def test_iou_from_accumulated_confusion():
    from dipnb.pix2pix.metrics import iou_from_confusion

    g = torch.Generator().manual_seed(5)
    true = torch.randint(0, 5, (4, 16, 16), generator=g)
    pred = torch.randint(0, 5, (4, 16, 16), generator=g)
    cm = sum(confusion_matrix(pred[i], true[i], 5) for i in range(4))
    assert iou_from_confusion(cm) == pytest.approx(mean_iou(pred, true, 5))


def test_median_baseline_matches_course_figure(real_facades):
    """Predicting the train set's per-pixel median label map gives val L1 0.455 at 256² (notes, course)."""
    from dipnb.pix2pix.datasets import PairedImageDataset
    from dipnb.pix2pix.metrics import median_baseline

    tr = PairedImageDataset(real_facades, "train", "AtoB", size=64)
    va = PairedImageDataset(real_facades, "val", "AtoB", size=64)
    assert median_baseline(tr, va) == pytest.approx(0.448, abs=0.005)  # 0.455 at 256², measured 0.448 at 64²


def test_luma_weighted_distance_recovers_jpeg_label_maps_better():
    """Synthetic label maps saved like the real files (JPEG q95, 4:2:0): known classes are recovered far
    better with the luma-weighted YCbCr distance than with plain RGB distance."""
    import io

    from dipnb.pix2pix.datasets.synthetic import synthetic_classes, synthetic_pair

    acc = {4.0: [], None: []}
    for i in range(4):
        photo, labels = synthetic_pair(0, i, 256)
        buf = io.BytesIO()
        Image.fromarray(np.concatenate([photo, labels], 1)).save(buf, "JPEG", quality=95)
        decoded = np.asarray(Image.open(buf).convert("RGB"))[:, 256:]
        true = torch.from_numpy(synthetic_classes(0, i, 256).astype(np.int64))
        for w in acc:
            acc[w].append(pixel_accuracy(labels_to_classes(decoded, luma_weight=w), true))
    assert np.mean(acc[4.0]) > np.mean(acc[None]) + 0.02
    assert np.mean(acc[4.0]) > 0.95
