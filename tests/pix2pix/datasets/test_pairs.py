"""Paired datasets: splitting, the dataset's tensors and augmentation, bad input, resolve_dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dipnb.pix2pix.datasets import PairedImageDataset, resolve_dataset, split_pair, to_uint8_image
from dipnb.pix2pix.datasets.pairs import load_size
from dipnb.pix2pix.datasets.synthetic import make_synthetic_facades
from dipnb.pix2pix.facades import FACADES_CLASSES, FACADES_PALETTE

from conftest import write_split  # noqa: E402  (tests/conftest.py: the shared tiny dataset)


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_synthetic(tmp_path_factory) -> Path:
    return make_synthetic_facades(tmp_path_factory.mktemp("syn") / "synthetic", n_train=6, n_val=3, n_test=0,
                                  size=64)


# --------------------------------------------------------------------------------------------------
# split_pair and the palette
# --------------------------------------------------------------------------------------------------
def test_split_pair_kinds():
    arr = np.arange(4 * 8 * 3, dtype=np.uint8).reshape(4, 8, 3)
    a, b = split_pair(arr)
    assert np.array_equal(a, arr[:, :4]) and np.array_equal(b, arr[:, 4:])
    pa, pb = split_pair(Image.fromarray(arr))
    assert np.array_equal(np.asarray(pa), arr[:, :4]) and np.array_equal(np.asarray(pb), arr[:, 4:])
    t = torch.from_numpy(arr).permute(2, 0, 1)
    ta, tb = split_pair(t)
    assert torch.equal(ta, t[..., :4]) and torch.equal(tb, t[..., 4:])


@pytest.mark.parametrize("shape", [(4, 7, 3), (4, 4, 3), (5, 8)])
def test_split_pair_rejects_wrong_aspect(shape):
    with pytest.raises(ValueError, match="twice as wide"):
        split_pair(np.zeros(shape, np.uint8))


def test_split_pair_rejects_other_types():
    with pytest.raises(TypeError):
        split_pair([[1, 2]])


def test_palette_shape():
    assert FACADES_PALETTE.shape == (12, 3) and FACADES_PALETTE.dtype == np.uint8
    assert len(FACADES_CLASSES) == 12 and FACADES_CLASSES[0] == "background"
    assert len({tuple(c) for c in FACADES_PALETTE.tolist()}) == 12


def test_palette_matches_real_label_maps(real_facades):
    """Flat regions of real label maps lie within a few levels of a palette colour (the JPEG noise)."""
    pal = FACADES_PALETTE.astype(np.float32)
    dists = []
    for i in (1, 2, 3, 50, 200):
        img = np.asarray(Image.open(real_facades / "train" / f"{i}.jpg").convert("RGB"))
        _, b = split_pair(img)
        b = b.astype(np.float32)
        # flat pixels: equal to their 4 neighbours within 6 levels
        c = b[1:-1, 1:-1]
        flat = np.ones(c.shape[:2], bool)
        for nb in (b[:-2, 1:-1], b[2:, 1:-1], b[1:-1, :-2], b[1:-1, 2:]):
            flat &= np.abs(nb - c).max(-1) < 6
        px = c[flat]
        d = np.sqrt(((px[:, None, :] - pal[None]) ** 2).sum(-1)).min(1)
        dists.append(d)
    d = np.concatenate(dists)
    assert np.median(d) < 4 and np.mean(d < 15) > 0.97


# --------------------------------------------------------------------------------------------------
# the dataset
# --------------------------------------------------------------------------------------------------
def test_dataset_tensors_and_directions(tmp_path):
    write_split(tmp_path, "train", 3, 32, "noise")
    pairs = write_split(tmp_path, "val", 2, 32, "noise")
    ab = PairedImageDataset(tmp_path, "val", "AtoB", size=32)
    ba = PairedImageDataset(tmp_path, "val", "BtoA", size=32)
    assert not ab.augment and ab.in_memory and len(ab) == 2 and ab.files[0].name == "1.png"
    x, y = ab[0]
    assert x.shape == y.shape == (3, 32, 32) and x.dtype == torch.float32
    assert float(x.min()) >= -1 and float(x.max()) <= 1
    # exact for PNG at native size: x = u/127.5 - 1
    expected = torch.from_numpy(pairs[0][:, :32].astype(np.float32)).permute(2, 0, 1) / 127.5 - 1
    assert torch.allclose(x, expected, atol=1e-6)
    assert np.array_equal(to_uint8_image(x), pairs[0][:, :32])
    x2, y2 = ba[0]
    assert torch.equal(x2, y) and torch.equal(y2, x)
    assert PairedImageDataset(tmp_path, "train", size=32).augment  # train: on by default


def test_augmentation_same_for_input_and_target(tmp_path):
    write_split(tmp_path, "train", 4, 48, "same")
    ds = PairedImageDataset(tmp_path, "train", size=32)
    assert ds.side == load_size(32) == 36
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            x, y = ds[i]
            assert x.shape == (3, 32, 32) and torch.equal(x, y)


def test_augmentation_deterministic_in_seed_epoch_index(tmp_path):
    write_split(tmp_path, "train", 5, 48, "noise")
    ds = PairedImageDataset(tmp_path, "train", size=32, seed=3)
    ds.set_epoch(2)
    forward = [ds[i][0] for i in range(5)]
    backward = [ds[i][0] for i in reversed(range(5))][::-1]
    assert all(torch.equal(a, b) for a, b in zip(forward, backward))  # order of access does not matter
    other = PairedImageDataset(tmp_path, "train", size=32, seed=3, in_memory=False)
    other.set_epoch(2)
    assert all(torch.equal(other[i][0], forward[i]) for i in range(5))  # same from disk
    ds.set_epoch(3)
    assert any(not torch.equal(ds[i][0], forward[i]) for i in range(5))  # another epoch, other crops
    seed4 = PairedImageDataset(tmp_path, "train", size=32, seed=4)
    seed4.set_epoch(2)
    assert any(not torch.equal(seed4[i][0], forward[i]) for i in range(5))
    # flips happen and crops move: over many epochs both flip states of item 0 appear
    firsts = set()
    for e in range(12):
        ds.set_epoch(e)
        firsts.add(tuple(ds.rng(0).integers(0, ds.side - ds.size + 1, size=2)))
    assert len(firsts) > 1


def test_dataloader_workers_see_same_items(tmp_path):
    write_split(tmp_path, "train", 4, 40, "noise")
    ds = PairedImageDataset(tmp_path, "train", size=32)
    ds.set_epoch(5)
    expected = torch.stack([ds[i][0] for i in range(4)])
    for workers in (0, 2):  # worker processes get a copy of the dataset, epoch included
        loader = torch.utils.data.DataLoader(ds, batch_size=2, shuffle=False, num_workers=workers)
        assert torch.equal(torch.cat([xb for xb, _ in loader]), expected)


def test_limit_resize_and_memory_flags(tiny_synthetic):
    ds = PairedImageDataset(tiny_synthetic, "train", size=32, limit=4, augment=False, in_memory=False)
    assert len(ds) == 4 and not ds.in_memory and ds.nbytes == 0
    mem = PairedImageDataset(tiny_synthetic, "train", size=32, limit=4, augment=False, in_memory=True)
    assert mem.nbytes == 4 * 32 * 32 * 3 * 2
    for i in range(4):
        assert all(torch.equal(a, b) for a, b in zip(ds[i], mem[i]))


def test_auto_in_memory_respects_cap(tiny_synthetic, monkeypatch):
    monkeypatch.setenv("DIPNB_MAX_DATASET_BYTES", "1000")
    assert not PairedImageDataset(tiny_synthetic, "val", size=32).in_memory
    monkeypatch.setenv("DIPNB_MAX_DATASET_BYTES", str(10**9))
    assert PairedImageDataset(tiny_synthetic, "val", size=32).in_memory


def test_real_facades_dataset(real_facades):
    ds = PairedImageDataset(real_facades, "val", "AtoB", size=64, limit=8)
    x, y = ds[0]
    assert x.shape == y.shape == (3, 64, 64)
    # B is a label map: bluish (facade/background) dominates, A is a photo (greyish)
    assert float(y[2].mean()) > float(y[0].mean())
    assert len(ds.files) == 8 and ds.split == "val" and ds.direction == "AtoB" and ds.size == 64


# --------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------
def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PairedImageDataset(tmp_path / "nope")


def test_missing_split_folder(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match="no 'val/' folder"):
        PairedImageDataset(tmp_path, "val")


def test_empty_split_folder(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "notes.txt").write_text("hello")
    with pytest.raises(FileNotFoundError, match="holds no images"):
        PairedImageDataset(tmp_path, "train")


def test_root_is_a_file(tmp_path):
    f = tmp_path / "file.jpg"
    f.write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        PairedImageDataset(f)


@pytest.mark.parametrize("in_memory", [True, False])
def test_bad_files_reported_together_at_construction(tmp_path, in_memory):
    folder = tmp_path / "train"
    write_split(tmp_path, "train", 3, 32, "noise")
    (folder / "4.jpg").write_text("this is not an image")
    good = np.random.default_rng(1).integers(0, 256, (32, 64, 3), dtype=np.uint8)
    Image.fromarray(good).save(folder / "5.jpg", quality=90)
    data = (folder / "5.jpg").read_bytes()
    (folder / "5.jpg").write_bytes(data[: len(data) // 2])  # truncated JPEG
    Image.fromarray(np.zeros((32, 50, 3), np.uint8)).save(folder / "6.png")  # wrong aspect
    with pytest.raises(ValueError) as err:
        PairedImageDataset(tmp_path, "train", size=32, in_memory=in_memory)
    msg = str(err.value)
    assert "3 of 6 files" in msg
    assert "4.jpg: not an image PIL can read" in msg
    assert "5.jpg: truncated" in msg
    assert "6.png: width 50 is not twice the height 32" in msg


def test_bad_arguments(tiny_synthetic):
    with pytest.raises(ValueError, match="direction"):
        PairedImageDataset(tiny_synthetic, direction="AB")
    with pytest.raises(ValueError, match="size"):
        PairedImageDataset(tiny_synthetic, size=0)
    with pytest.raises(ValueError, match="limit"):
        PairedImageDataset(tiny_synthetic, limit=0)
    ds = PairedImageDataset(tiny_synthetic, "val", size=32)
    with pytest.raises(IndexError):
        ds[len(ds)]


# --------------------------------------------------------------------------------------------------
# resolve_dataset
# --------------------------------------------------------------------------------------------------
def test_resolve_folder_path(tiny_synthetic, tmp_path):
    assert resolve_dataset(tiny_synthetic) == tiny_synthetic
    (tmp_path / "other").mkdir()
    with pytest.raises(FileNotFoundError, match="split sub-folders"):
        resolve_dataset(tmp_path / "other")
    with pytest.raises(FileNotFoundError, match="neither a known name"):
        resolve_dataset(tmp_path / "missing")


@pytest.fixture(scope="module")
def facades_like(tmp_path_factory) -> Path:
    """A folder laid out like the real facades (256-high JPEG pairs), made of synthetic facades: runs everywhere."""
    return make_synthetic_facades(tmp_path_factory.mktemp("facades_like") / "facades", n_train=8, n_val=4, n_test=0)


def test_resolve_facades_env(facades_like, monkeypatch, capsys):
    monkeypatch.setenv("DIPNB_FACADES_DIR", str(facades_like))
    assert resolve_dataset("facades") == facades_like
    assert "DIPNB_FACADES_DIR" in capsys.readouterr().out


def test_resolve_facades_env_invalid(tmp_path, monkeypatch):
    monkeypatch.setenv("DIPNB_FACADES_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="DIPNB_FACADES_DIR"):
        resolve_dataset("facades")


@pytest.mark.slow
def test_resolve_facades_falls_back_to_synthetic(tmp_path, monkeypatch, capsys):
    """No real data (and a damaged data/facades): the synthetic set is generated once, with a notice."""
    monkeypatch.delenv("DIPNB_FACADES_DIR", raising=False)
    monkeypatch.setenv("DIPNB_DATA", str(tmp_path))
    (tmp_path / "facades" / "train").mkdir(parents=True)  # incomplete download
    path = resolve_dataset("facades")
    out = capsys.readouterr().out
    assert path == tmp_path / "synthetic_facades"
    assert "SYNTHETIC" in out and "make data" in out and "incomplete" in out
    counts = {s: len(list((path / s).glob("*.jpg"))) for s in ("train", "val", "test")}
    assert counts == {"train": 400, "val": 100, "test": 106}
    stamp = (path / "train" / "1.jpg").stat().st_mtime_ns
    assert resolve_dataset("facades", verbose=False) == path  # reused, not regenerated
    assert (path / "train" / "1.jpg").stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_truncated_jpeg_detected_with_reduced_scale_decoding(tmp_path, facades_like):
    """At small sizes JPEGs are decoded at 1/2..1/8 scale; a cut file must still be caught at construction."""
    folder = tmp_path / "val"
    folder.mkdir()
    for i in (1, 2):
        (folder / f"{i}.jpg").write_bytes((facades_like / "val" / f"{i}.jpg").read_bytes())
    data = (facades_like / "val" / "3.jpg").read_bytes()
    (folder / "3.jpg").write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(ValueError, match=r"3\.jpg: truncated"):
        PairedImageDataset(tmp_path, "val", size=32)
    (folder / "3.jpg").unlink()
    ds = PairedImageDataset(tmp_path, "val", size=32)
    full = PairedImageDataset(tmp_path, "val", size=32, in_memory=False)
    assert all(torch.equal(ds[i][0], full[i][0]) for i in range(2))  # same pixels both ways
