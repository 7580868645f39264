"""Inference on your own images (dipnb.pix2pix.inference, dipnb.widgets.translate)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dipnb.pix2pix.inference import model_size, translate
from dipnb.pix2pix.nets import UNetGenerator, init_weights
from dipnb.widgets.translate import TranslateApp, upload_widget


@pytest.fixture(scope="module")
def G() -> UNetGenerator:
    torch.manual_seed(0)
    g = init_weights(UNetGenerator(size=64, ngf=8))
    # give BatchNorm non-trivial running statistics, as after training
    g.train()
    with torch.no_grad():
        for _ in range(3):
            g(torch.rand(4, 3, 64, 64) * 2 - 1)
    return g.eval()


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_model_size() -> None:
    assert model_size(UNetGenerator(size=64, ngf=2)) == 64
    assert model_size(UNetGenerator(size=256, ngf=2)) == 256
    assert model_size(UNetGenerator(size=64, ngf=2), size=128) == 128


def test_tensor_at_model_size_equals_running_the_model(G) -> None:
    """On the uint8 grid, translate(G, x) is G(x) in eval mode up to the output's 8-bit rounding."""
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (3, 64, 64), generator=g).float() / 127.5 - 1
    out = translate(G, x)
    assert out.shape == x.shape and out.dtype == torch.float32
    with torch.no_grad():
        ref = G(x[None])[0]
    torch.testing.assert_close(out, ref, atol=1 / 127.5 + 1e-5, rtol=0)
    assert translate(G, x[None]).shape == (1, 3, 64, 64)


def test_same_kind_out_and_size_restored(G) -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)  # non-square, not the model's size
    pil_out = translate(G, Image.fromarray(arr))
    assert isinstance(pil_out, Image.Image) and pil_out.size == (50, 40) and pil_out.mode == "RGB"
    u8 = translate(G, arr)
    assert u8.dtype == np.uint8 and u8.shape == (40, 50, 3)
    np.testing.assert_array_equal(u8, np.asarray(pil_out))  # one computation, several wrappers
    f = translate(G, arr.astype(np.float32) / 255)
    assert f.dtype == np.float32 and f.shape == (40, 50, 3) and 0 <= f.min() and f.max() <= 1
    np.testing.assert_allclose(f, u8 / 255, atol=1 / 255 + 1e-6)
    grey = translate(G, arr[..., 0])
    assert grey.shape == (40, 50, 3)
    rgba = translate(G, np.dstack([arr, np.full((40, 50), 255, np.uint8)]))
    np.testing.assert_array_equal(rgba, u8)  # alpha dropped


def test_train_mode_is_stochastic_and_leaves_the_model_unchanged(G) -> None:
    x = torch.rand(3, 64, 64) * 2 - 1
    before = {k: v.clone() for k, v in G.state_dict().items()}
    torch.manual_seed(0)
    a = translate(G, x, train_mode=True)
    b = translate(G, x, train_mode=True)
    assert not torch.equal(a, b)  # dropout (the paper's noise z) is on
    assert torch.equal(translate(G, x), translate(G, x))  # eval mode is deterministic
    assert not G.training
    for k, v in G.state_dict().items():
        assert torch.equal(v, before[k]), k  # running statistics restored


def test_bad_inputs(G) -> None:
    with pytest.raises(TypeError, match="PIL image, a NumPy array or a torch tensor"):
        translate(G, "photo.png")
    with pytest.raises(ValueError, match="H×W"):
        translate(G, np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match="one image"):
        translate(G, torch.zeros(2, 3, 64, 64))
    with pytest.raises(TypeError, match="uint8"):
        translate(G, np.zeros((8, 8, 3), np.int64))
    with pytest.raises(TypeError, match="generator"):
        translate("G", np.zeros((8, 8, 3), np.uint8))


def test_app_handles_uploads_and_explains_bad_files(G) -> None:
    app = TranslateApp(G, direction="BtoA")
    rng = np.random.default_rng(0)
    pair = np.concatenate([np.zeros((32, 32, 3), np.uint8), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)], 1)
    msgs = app.handle([
        {"name": "mine.png", "content": png_bytes(rng.integers(0, 256, (30, 45, 3), dtype=np.uint8))},
        {"name": "notes.txt", "content": b"hello, not an image"},
        {"name": "pair.png", "content": memoryview(png_bytes(pair))},
        {"name": "cut.png", "content": png_bytes(pair)[:60]},
    ])
    assert msgs[0].startswith("✓") and msgs[2].startswith("✓")
    assert msgs[1].startswith("✗") and "notes.txt: not an image" in msgs[1] and "PNG, JPEG" in msgs[1]
    assert msgs[3].startswith("✗") and "cut.png" in msgs[3]
    (n0, in0, out0), (n2, in2, out2) = app.results
    assert in0.size == out0.size == (45, 30)
    assert in2.size == (32, 32)
    np.testing.assert_array_equal(np.asarray(in2), pair[:, 32:])  # BtoA: the right half (labels) is the input


def test_upload_widget_without_front_end(G) -> None:
    w = upload_widget(G)
    assert w.app.direction == "BtoA"
    w.on_upload({"new": ({"name": "a.png", "content": memoryview(png_bytes(np.zeros((16, 16, 3), np.uint8)))},)})
    assert len(w.app.results) == 1 and w.app.results[0][2].size == (16, 16)
