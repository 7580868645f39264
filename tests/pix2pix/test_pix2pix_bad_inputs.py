"""pix2pix, its command lines and settings under bad input and faults: every bad input gets a clear, early
error; an interruption loses nothing. One test per class of fault."""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dipnb import config
from dipnb.images import decode_rgb, load_image
from dipnb.config import TrainConfig
from dipnb.pix2pix.datasets import PairedImageDataset, dataset_fingerprint
from dipnb.pix2pix.engine import CheckpointError, Trainer, load_checkpoint, read_history, train
from dipnb.pix2pix.engine import callbacks as cbs
from dipnb.pix2pix.engine import run as run_folder
from dipnb.pix2pix.inference import translate
from dipnb.pix2pix.nets import UNetGenerator, init_weights
from dipnb.pix2pix.train import main as train_main

from conftest import make_pairs  # noqa: E402  (tests/conftest.py: the shared tiny dataset)

ROOT = Path(__file__).resolve().parents[2]


def cfg(data: Path, **kw) -> TrainConfig:
    base = dict(data=str(data), model="fcn", size=32, batch_size=4, epochs=1, max_steps=2, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def quiet(**kw):
    return dict(progress=False, verbose=False, plot=False, **kw)


# ----------------------------------------------------------------------------------------------------------
# 16-bit images: one decoding path for every loader
# ----------------------------------------------------------------------------------------------------------
def save_16bit_pair(path: Path, gray8: np.ndarray) -> None:
    """An A|B pair saved as a 16-bit grey PNG (PIL mode I;16) whose values are gray8·257."""
    Image.fromarray(gray8.astype(np.uint16) * 257).save(path)


def test_16_bit_files_decode_like_their_8_bit_version(tmp_path):
    rng = np.random.default_rng(0)
    g8 = rng.integers(0, 256, (32, 64), dtype=np.uint8)
    save_16bit_pair(tmp_path / "p16.png", g8)
    assert Image.open(tmp_path / "p16.png").mode.startswith("I")
    rgb = decode_rgb(tmp_path / "p16.png")
    assert rgb.dtype == np.uint8 and rgb.shape == (32, 64, 3)
    assert np.array_equal(rgb[..., 0], g8)  # u·257 / 257 = u, not "almost all white"
    t = load_image(tmp_path / "p16.png")
    assert torch.allclose(t[0], torch.from_numpy(g8).float() / 255)
    # the dataset (every pix2pix loader reads through decode_rgb)
    for split in ("train", "val"):
        (tmp_path / "d" / split).mkdir(parents=True)
        save_16bit_pair(tmp_path / "d" / split / "1.png", g8)
    x, y = PairedImageDataset(tmp_path / "d", "val", size=32, augment=False)[0]
    expect = torch.from_numpy(g8[:, :32]).float() / 127.5 - 1
    assert torch.allclose(x[0], expect, atol=1e-6) and float(x.mean()) < 0.5
    # translate: a 16-bit PIL image and a uint16 array give the 8-bit image's result
    G = init_weights(UNetGenerator(size=32, ngf=8)).eval()
    a8 = np.repeat(g8[:, :32, None], 3, axis=2)
    ref = translate(G, a8)
    assert np.array_equal(np.asarray(translate(G, Image.open(tmp_path / "p16.png").crop((0, 0, 32, 32)))), ref)
    out16 = translate(G, a8.astype(np.uint16) * 257)
    assert out16.dtype == np.uint16 and np.array_equal(out16 // 257, ref)


def test_decoder_names_truncated_files_and_checks_the_size_first(tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.jpg", quality=90)
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.jpg: truncated or corrupt image file"):
        load_image(tmp_path / "cut.jpg")
    with pytest.raises(ValueError, match=r"a\.jpg: 64×64 = 4,096 pixels is more than the memory budget 1,000"):
        decode_rgb(tmp_path / "a.jpg", max_pixels=1000)
    # a palette image with transparency and a float image decode to RGB uint8 too
    Image.fromarray(arr[..., 0]).convert("P").save(tmp_path / "p.png", transparency=0)
    assert decode_rgb(tmp_path / "p.png").shape == (64, 64, 3)
    Image.fromarray(arr[..., 0].astype(np.float32) / 255).save(tmp_path / "f.tif")
    assert np.array_equal(decode_rgb(tmp_path / "f.tif")[..., 0], arr[..., 0])


# ----------------------------------------------------------------------------------------------------------
# translate: float16 models, non-finite images
# ----------------------------------------------------------------------------------------------------------
def test_translate_runs_a_float16_model_on_the_cpu_and_refuses_non_finite_images():
    torch.manual_seed(0)
    G = init_weights(UNetGenerator(size=32, ngf=8)).eval()
    img = np.random.default_rng(2).random((32, 32, 3)).astype(np.float32)
    out32 = translate(G, img)
    out16 = translate(G.half(), img)
    assert out16.shape == img.shape and np.isfinite(out16).all()
    assert np.abs(out16 - out32).max() < 0.05  # the same picture, to float16 precision
    bad = np.full((32, 32, 3), np.nan, np.float32)
    with pytest.raises(ValueError, match="NaN or infinite"):
        translate(G, bad)
    t = torch.zeros(3, 32, 32)
    t[0, 3, 4] = float("inf")
    with pytest.raises(ValueError, match="NaN or infinite"):
        translate(G, t)


# ----------------------------------------------------------------------------------------------------------
# FCN with N mod batch = 1
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_train", [9, 5])
def test_fcn_trains_when_the_last_batch_would_hold_one_pair(tmp_path, n_train):
    data = make_pairs(tmp_path / "d", n_train=n_train, n_val=2)
    tr = train(cfg(data, max_steps=None), tmp_path / "o", **quiet())
    assert len(tr.history) == 1 and math.isfinite(tr.history[0]["train L1"])
    # the short batch was merged, not dropped: every pair was used once
    assert sorted(i for b in tr._index_lists(0) for i in b) == list(range(n_train))


# ----------------------------------------------------------------------------------------------------------
# The command line: user mistakes are one line, found before any work
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flags, message", [
    (["--lambda-l1", "-100"], "argument --lambda-l1: must be a finite number >= 0, got -100"),
    (["--lambda-l1", "nan"], "argument --lambda-l1: must be a finite number >= 0, got nan"),
    (["--ngf", "0"], "argument --ngf: must be an integer >= 1, got 0"),
    (["--threads", "0"], "argument --threads: must be an integer >= 1"),
    (["--lr", "inf"], "argument --lr: must be a finite number > 0"),
    (["--beta1", "1"], "argument --beta1: must be a finite number in [0, 1), got 1"),
    (["--size", "2.5"], "argument --size: '2.5' is not an integer"),
])
def test_numeric_flags_are_range_checked_by_argparse(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exc:
        train_main(["--data", str(tmp_path), "--out", str(tmp_path / "o"), *flags])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    return subprocess.run([sys.executable, "-m", "dipnb.pix2pix.train", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_environment_mistakes_are_one_line_errors(tmp_path):
    afile = tmp_path / "a_file"
    afile.write_text("not a folder")
    r = run_cli("--data", "facades", "--out", str(tmp_path / "o"),
                env={"DIPNB_DATA": str(afile), "DIPNB_FACADES_DIR": "", "DIPNB_THREADS": "1"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "is a file; point DIPNB_DATA at a folder" in r.stderr
    r = run_cli("--data", str(tmp_path), "--out", str(tmp_path / "o"), env={"DIPNB_THREADS": "two"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "DIPNB_THREADS='two' is not a whole number" in r.stderr


def test_unwritable_out_is_found_before_training(tmp_path, capsys):
    data = make_pairs(tmp_path / "d", n_train=4, n_val=2)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "run"  # a folder can never be made under a file: not writable, whoever runs the test
    calls = []
    orig = cbs.Checkpoint.on_epoch_end
    cbs.Checkpoint.on_epoch_end = lambda *a: calls.append(a)  # would run after an epoch of training
    try:
        rc = train_main(["--data", str(data), "--size", "32", "--batch-size", "2", "--max-steps", "1",
                         "--epochs", "1", "--out", str(out), "--quiet", "--no-progress"])
    finally:
        cbs.Checkpoint.on_epoch_end = orig
    err = capsys.readouterr().err
    assert rc == 2 and f"--out {out} is not a writable folder" in err and "nothing was trained" in err
    assert calls == []


def test_a_second_error_while_cleaning_up_does_not_hide_the_first(tmp_path, capsys):
    data = make_pairs(tmp_path / "d", n_train=4, n_val=2)

    class Boom(cbs.Callback):
        def on_step_end(self, trainer, step, losses):
            raise RuntimeError("the first error")

        def on_fit_end(self, trainer):
            raise OSError("the second error")

    with pytest.raises(RuntimeError, match="the first error"):
        Trainer(cfg(data), tmp_path / "o", callbacks=[Boom()]).fit()
    assert "Boom could not finish (OSError: the second error)" in capsys.readouterr().err


def test_explicit_thread_count_wins_over_DIPNB_THREADS(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("DIPNB_THREADS", "2")
        assert config.set_threads(1) == 1  # the argument, not the environment
        assert config.set_threads() == 2  # no argument: the environment
        monkeypatch.setenv("DIPNB_THREADS", "two")
        with pytest.raises(ValueError, match="DIPNB_THREADS='two' is not a whole number"):
            config.set_threads()
        assert config.set_threads(1) == 1  # an explicit count does not even read the variable
    finally:
        torch.set_num_threads(before)


# ----------------------------------------------------------------------------------------------------------
# Checkpoint faults, moved datasets
# ----------------------------------------------------------------------------------------------------------
def test_history_never_runs_ahead_of_the_checkpoint_and_resume_cleans_stray_temps(tmp_path, monkeypatch):
    data = make_pairs(tmp_path / "d", n_train=4, n_val=2)
    out = tmp_path / "o"
    saves = {"n": 0}
    real_save = run_folder.save_checkpoint

    def killed_on_second_save(path, ck):
        saves["n"] += 1
        if saves["n"] == 2:
            (Path(path).parent / ".checkpoint.pt.tmp-999999999").write_bytes(b"half a checkpoint")  # a dead writer
            raise KeyboardInterrupt  # the process dies while writing epoch 2
        return real_save(path, ck)

    monkeypatch.setattr(run_folder, "save_checkpoint", killed_on_second_save)
    with pytest.raises(KeyboardInterrupt):
        train(cfg(data, epochs=3), out, **quiet())
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    assert [r["epoch"] for r in read_history(out)] == [1]  # the CSV does not show the epoch the checkpoint lacks
    monkeypatch.setattr(run_folder, "save_checkpoint", real_save)
    tr = train(cfg(data, epochs=3), out, resume=True, **quiet())
    assert [r["epoch"] for r in tr.history] == [1, 2, 3]
    assert not list(out.glob(".*tmp*"))  # the stray temporary file is gone


@pytest.mark.slow
def test_a_run_whose_dataset_moved_resumes_but_other_content_is_refused(tmp_path):
    data = make_pairs(tmp_path / "d", n_train=4, n_val=2)
    out = tmp_path / "o"
    full = train(cfg(data, epochs=2), tmp_path / "full", **quiet())
    train(cfg(data, epochs=1), out, **quiet())
    fp = dataset_fingerprint(data)
    moved = tmp_path / "elsewhere" / "data"
    moved.parent.mkdir()
    shutil.move(data, moved)
    assert dataset_fingerprint(moved) == fp
    tr = train(cfg(moved, epochs=2), out, resume=True, **quiet())
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(tr.history) == strip(full.history)  # bit-exact, from the moved folder
    Image.fromarray(np.zeros((32, 64, 3), np.uint8)).save(moved / "train" / "99.png")  # different content
    with pytest.raises(CheckpointError, match="dataset: .*other files or sizes"):
        Trainer(cfg(moved, epochs=3), out, resume=True, **quiet()).setup()


def test_dataset_fingerprint_is_content_not_path(tmp_path):
    a = make_pairs(tmp_path / "a", n_train=3, n_val=1)
    b = make_pairs(tmp_path / "b", n_train=3, n_val=1)
    assert dataset_fingerprint(a) == dataset_fingerprint(b)  # same files, sizes
    (b / "val" / "1.png").write_bytes((b / "val" / "1.png").read_bytes() + b"\0")
    assert dataset_fingerprint(a) != dataset_fingerprint(b)
