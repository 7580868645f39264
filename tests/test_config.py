"""Profiles, device, threads, seeding and paths."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import dipnb
from dipnb import config


def test_profiles_are_plain_data() -> None:
    assert set(config.PROFILES) == {"ci", "cpu", "gpu"}
    for name, prof in config.PROFILES.items():
        assert prof.name == name
        assert dataclasses.is_dataclass(prof.poisson)
        # the training sections are the one definition of a run, not a parallel settings class
        for run in (prof.fcn, prof.pix2pix, prof.segmenter):
            assert isinstance(run, config.TrainConfig)
        assert prof.fcn.model == prof.segmenter.model == "fcn" and prof.pix2pix.model == "unet" and prof.pix2pix.gan
        assert prof.segmenter.direction == "AtoB" and prof.segmenter.size == prof.pix2pix.size
    # ci is the smallest, gpu the paper's settings
    ci, cpu, gpu = (config.PROFILES[n] for n in ("ci", "cpu", "gpu"))
    assert ci.threads == 1
    assert ci.fcn.size <= cpu.fcn.size <= gpu.fcn.size == 256
    assert gpu.fcn.batch_size == 256 and gpu.fcn.epochs == 200
    assert gpu.pix2pix.batch_size == 1 and gpu.pix2pix.epochs + gpu.pix2pix.decay_epochs == 200


def test_env_overrides_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIPNB_PROFILE", "gpu")
    assert config.get_profile().name == "gpu"
    monkeypatch.setenv("DIPNB_PROFILE", "laptop")
    with pytest.raises(ValueError, match="DIPNB_PROFILE='laptop' is not a profile"):
        config.get_profile()


def test_auto_profile_without_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIPNB_PROFILE", raising=False)
    monkeypatch.setattr(config, "accelerator_available", lambda: False)
    assert config.auto_profile_name() == "cpu"
    monkeypatch.setattr(config, "accelerator_available", lambda: True)
    assert config.auto_profile_name() == "gpu"


def test_device_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIPNB_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv("DIPNB_DEVICE", "cuda")
        with pytest.raises(ValueError, match="CUDA is not available"):
            config.get_device()


def test_setup_pins_threads_and_seeds(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("DIPNB_THREADS", raising=False)
        prof = dipnb.setup("ci", seed=3)
        assert torch.get_num_threads() == 1
        a = torch.rand(3)
        dipnb.setup("ci", seed=3, verbose=False)
        assert torch.equal(a, torch.rand(3))
        assert "profile 'ci'" in capsys.readouterr().out
        assert prof is config.PROFILES["ci"]
    finally:
        torch.set_num_threads(before)


def test_bad_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIPNB_THREADS", raising=False)
    with pytest.raises(ValueError, match="thread count"):
        config.set_threads(0)


def test_paths(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("DIPNB_DATA", str(tmp_path / "d"))
    assert config.data_dir() == (tmp_path / "d").resolve()
    monkeypatch.delenv("DIPNB_DATA")
    assert config.data_dir().name == "data"
    monkeypatch.setenv("DIPNB_FIGURES", str(tmp_path / "f"))
    assert config.figures_dir().is_dir()


def test_a_profile_run_is_derived_with_replace_and_checked_again() -> None:
    fcn = config.PROFILES["ci"].fcn
    run = fcn.replace(data="/somewhere", direction="BtoA")
    assert (run.data, run.direction, run.size, run.epochs) == ("/somewhere", "BtoA", fcn.size, fcn.epochs)
    with pytest.raises(TypeError, match=r"TrainConfig has no field\(s\) \['image_size'\]"):
        fcn.replace(image_size=64)
    with pytest.raises(ValueError, match="size must be a multiple of 32"):
        fcn.replace(size=48)
