"""Every bad input to seamless_clone gets a clear, early ValueError/TypeError (or a warning where converted)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dipnb.images as images
from dipnb.poisson import seamless_clone

from conftest import clone_case  # noqa: E402  (tests/conftest.py: the shared test images)


@pytest.fixture
def imgs():
    return clone_case((3, 20, 24), (3, 22, 26), [(3, 3), (18, 4), (15, 16), (4, 15)])


def test_empty_mask(imgs):
    src, tgt, m = imgs
    with pytest.raises(ValueError, match="empty"):
        seamless_clone(src, tgt, torch.zeros_like(m))


def test_mask_shape_differs_from_source(imgs):
    src, tgt, m = imgs
    with pytest.raises(ValueError, match="source shape"):
        seamless_clone(src, tgt, m[:, :20])


def test_non_binary_mask(imgs):
    src, tgt, m = imgs
    with pytest.raises(ValueError, match="0/1"):
        seamless_clone(src, tgt, m.float() * 0.7)


def test_offset_clips_with_a_warning_that_counts_pixels(imgs):
    src, tgt, m = imgs
    total = int(m.sum())
    with pytest.warns(UserWarning, match=r"puts \d+ of Ω's %d pixels outside" % total) as rec:
        out = seamless_clone(src, tgt, m, (20, 0))
    dropped = int(str(rec[0].message).split("puts ")[1].split(" ")[0])
    # the kept pixels are those whose target column x + 20 < 26
    ys, xs = torch.nonzero(m, as_tuple=True)
    assert dropped == int((xs + 20 >= 26).sum())
    assert out.shape == tgt.shape


def test_offset_outside_refused_on_request_or_when_nothing_is_left(imgs):
    src, tgt, m = imgs
    with pytest.raises(ValueError, match="outside"):
        seamless_clone(src, tgt, m, (20, 0), outside="raise")
    with pytest.raises(ValueError, match="all of Ω"):
        seamless_clone(src, tgt, m, (100, 0))
    with pytest.raises(ValueError, match="all of Ω"):
        seamless_clone(src, tgt, m, (0, -40))
    with pytest.raises(ValueError, match="'clip' or 'raise'"):
        seamless_clone(src, tgt, m, outside="wrap")


@pytest.mark.parametrize("offset", [(1.5, 0), "ab", (1, 2, 3), None])
def test_bad_offsets(imgs, offset):
    src, tgt, m = imgs
    with pytest.raises(TypeError, match="offset"):
        seamless_clone(src, tgt, m, offset)


def test_gray_rgb_mismatch_converted_with_warning(imgs):
    src, tgt, m = imgs
    with pytest.warns(UserWarning, match="repeated to RGB"):
        out = seamless_clone(src[:1], tgt, m)
    assert out.shape == tgt.shape
    with pytest.warns(UserWarning, match="repeated to RGB"):
        out = seamless_clone(src, tgt[:1], m)
    assert out.shape == (3, 22, 26)


def test_rgba_alpha_dropped_with_warning(imgs):
    src, tgt, m = imgs
    rgba = torch.cat([src, torch.ones(1, 20, 24)])
    with pytest.warns(UserWarning, match="alpha"):
        out = seamless_clone(rgba, tgt, m)
    assert out.shape == tgt.shape


@pytest.mark.parametrize("which", ["source", "target"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_values(imgs, which, value):
    src, tgt, m = imgs
    src, tgt = src.clone(), tgt.clone()
    (src if which == "source" else tgt)[1, 2, 3] = value
    with pytest.raises(ValueError, match=f"{which}: contains NaN or infinite"):
        seamless_clone(src, tgt, m)


def test_integer_images_outside_their_range(imgs):
    src, tgt, m = imgs
    bad = np.full((20, 24, 3), 300, dtype=np.int32)
    with pytest.raises(ValueError, match="outside 0..255"):
        seamless_clone(bad, tgt, m)


def test_image_larger_than_memory_budget(imgs, monkeypatch):
    src, tgt, m = imgs
    monkeypatch.setattr(images, "MAX_PIXELS", 500)
    with pytest.raises(ValueError, match="memory budget"):
        seamless_clone(src, tgt, m)


def test_omega_covering_the_whole_target():
    src = torch.rand(3, 8, 8)
    with pytest.raises(ValueError, match="whole target"):
        seamless_clone(src, src.clone(), torch.ones(8, 8, dtype=torch.bool))


def test_unknown_mode_solver_and_options(imgs):
    src, tgt, m = imgs
    with pytest.raises(ValueError, match="unknown mode"):
        seamless_clone(src, tgt, m, mode="average")
    with pytest.raises(ValueError, match="unknown solver"):
        seamless_clone(src, tgt, m, solver="lu")
    with pytest.raises(ValueError, match="Ω to be a full rectangle"):
        seamless_clone(src, tgt, m, solver="dst")
    with pytest.raises(TypeError, match="solver 'mgpcg' takes no option 'steps'; it takes: tol, max_iter"):
        seamless_clone(src, tgt, m, solver="mgpcg", steps=3)
    with pytest.raises(ValueError, match="callback_every"):
        seamless_clone(src, tgt, m, solver="adam", callback=lambda *a: None, callback_every=0)
    with pytest.raises(TypeError, match="callable"):
        seamless_clone(src, tgt, m, solver="adam", callback=3)
    with pytest.raises(ValueError, match="method"):
        seamless_clone(src, tgt, m, solver="adam", method="sgd")


def test_not_an_image(imgs):
    _, tgt, m = imgs
    with pytest.raises(TypeError, match="source"):
        seamless_clone("face.png", tgt, m)
    with pytest.raises(TypeError, match="mask"):
        seamless_clone(tgt, tgt, "mask")
