"""dipnb.images: conversions both ways, loading, offline sample photos."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dipnb.images import SAMPLE_IMAGES, load_image, resize, sample_image, to_pil, to_tensor, to_uint8


def test_uint8_round_trip_rgb_and_gray():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    t = to_tensor(rgb)
    assert t.shape == (3, 5, 7) and t.dtype == torch.float32
    assert torch.allclose(t[:, 2, 3], torch.from_numpy(rgb[2, 3].astype(np.float32)) / 255)
    assert np.array_equal(to_uint8(t), rgb)
    gray = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    tg = to_tensor(gray)
    assert tg.shape == (1, 4, 6)
    assert np.array_equal(to_uint8(tg), gray)


def test_pil_both_ways_and_modes():
    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    im = Image.fromarray(arr)
    t = to_tensor(im)
    assert t.shape == (3, 2, 3)
    back = to_pil(t)
    assert back.mode == "RGB" and np.array_equal(np.asarray(back), arr)
    assert to_pil(t[:1]).mode == "L"
    assert to_tensor(Image.fromarray(arr[..., 0]).convert("1")).shape == (1, 2, 3)


def test_rgba_alpha_dropped_with_warning_or_kept():
    rgba = np.zeros((3, 4, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    with pytest.warns(UserWarning, match="alpha"):
        t = to_tensor(Image.fromarray(rgba, "RGBA"))
    assert t.shape[0] == 3
    assert to_tensor(rgba, keep_alpha=True).shape[0] == 4


def test_other_dtypes_and_layouts():
    assert float(to_tensor(np.full((2, 2), 65535, np.uint16)).max()) == 1.0
    assert to_tensor(np.ones((2, 2), bool)).dtype == torch.float32
    x = torch.rand(1, 3, 4, 5)
    assert to_tensor(x).shape == (3, 4, 5)
    f = torch.rand(3, 4, 5)
    assert to_tensor(f).data_ptr() == f.data_ptr()  # no copy for a float tensor already in the right form
    assert to_tensor(torch.full((3, 2, 2), 255, dtype=torch.uint8)).max() == 1.0
    assert to_tensor(np.full((2, 2), 7, dtype=np.int64)).max() == pytest.approx(7 / 255)


@pytest.mark.parametrize("bad, exc, match", [
    (np.full((2, 2), 300, dtype=np.int32), ValueError, "outside 0..255"),
    (np.full((2, 2), -1, dtype=np.int16), ValueError, "outside 0..255"),
    (torch.full((1, 2, 2), 256, dtype=torch.int32), ValueError, "outside 0..255"),
    (np.array([[np.nan, 0.0]]), ValueError, "NaN"),
    (torch.tensor([[[float("inf")]]]), ValueError, "NaN or infinite"),
    (np.zeros((2, 2, 2, 2)), ValueError, "H×W"),
    (torch.zeros(5, 2, 2), ValueError, "channels"),
    (np.zeros((0, 3)), ValueError, "empty"),
    ("photo.png", TypeError, "load_image"),
    ([1, 2, 3], TypeError, "expected a torch tensor"),
    (np.zeros((2, 2), dtype=np.complex64), TypeError, "dtype"),
])
def test_bad_inputs(bad, exc, match):
    with pytest.raises(exc, match=match):
        to_tensor(bad)


def test_to_uint8_clamps_for_display():
    t = torch.tensor([[[-0.5, 0.5, 1.7]]])
    assert to_uint8(t).tolist() == [[0, 128, 255]]


def test_load_image_path_bytes_file(tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    p = tmp_path / "x.png"
    Image.fromarray(arr).save(p)
    for src in (p, str(p), p.read_bytes(), io.BytesIO(p.read_bytes())):
        t = load_image(src)
        assert np.array_equal(to_uint8(t), arr)
    assert load_image(p, gray=True).shape == (1, 6, 8)
    assert load_image(p, size=4).shape == (3, 3, 4)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not an image"):
        load_image(bad)
    with pytest.raises(ValueError, match="no image file"):
        load_image(tmp_path / "missing.png")


@pytest.mark.parametrize("name", sorted(SAMPLE_IMAGES))
def test_sample_images_load_offline(name):
    t = sample_image(name, size=64)
    assert t.ndim == 3 and t.shape[0] == 3 and max(t.shape[1:]) == 64
    assert 0.0 <= float(t.min()) and float(t.max()) <= 1.0 and float(t.std()) > 0.01


def test_sample_image_full_size_gray_and_errors():
    assert sample_image("astronaut").shape == (3, 512, 512)
    assert sample_image("camera", gray=True).shape == (1, 512, 512)
    with pytest.raises(ValueError, match="unknown sample image"):
        sample_image("lena")
    with pytest.raises(ValueError, match="positive int"):
        resize(torch.zeros(3, 4, 4), 0)
