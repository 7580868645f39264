"""``python -m dipnb.pix2pix.train`` as a user runs it: a few steps, resume, refusal of a foreign run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dipnb.pix2pix.engine import load_checkpoint, read_history
from dipnb.pix2pix.train import main

from conftest import make_pairs  # noqa: E402  (tests/conftest.py: the shared tiny dataset)

ROOT = Path(__file__).resolve().parents[3]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "DIPNB_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "dipnb.pix2pix.train", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_trains_resumes_and_refuses_to_mix_runs(tmp_path, capsys):
    data = make_pairs(tmp_path / "data", n_train=8, n_val=2)
    out = tmp_path / "out"
    common = ["--data", str(data), "--direction", "BtoA", "--model", "fcn", "--size", "32", "--batch-size", "4",
              "--max-steps", "2", "--out", str(out)]
    r = run_cli(*common, "--epochs", "1")
    assert r.returncode == 0, r.stderr
    assert "epoch 1/1" in r.stdout and "val L1" in r.stdout
    assert (out / "checkpoint.pt").is_file() and (out / "samples" / "epoch_001.png").is_file()
    assert [row["epoch"] for row in read_history(out)] == [1]

    r = run_cli(*common, "--epochs", "2", "--resume")
    assert r.returncode == 0, r.stderr
    hist = read_history(out)
    assert [row["epoch"] for row in hist] == [1, 2] and "epoch 1/2" not in r.stdout  # epoch 1 was not redone
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 2

    # Refusals, through the same entry point in-process (each subprocess costs seconds of torch import).
    assert main([*common, "--epochs", "2", "--no-progress"]) == 2  # same folder, no --resume
    err = capsys.readouterr().err
    assert "already holds a training run" in err and "--resume" in err
    assert main([*common, "--epochs", "3", "--resume", "--lr", "0.5"]) == 2
    assert "lr: checkpoint 0.001, now 0.5" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse range-checks every number before any work
        main([*common[:-2], "--epochs", "1", "--batch-size", "0", "--out", str(tmp_path / "o2")])
    assert exc.value.code == 2 and "--batch-size: must be an integer >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()
    with pytest.raises(SystemExit) as exc:
        main(["--direction", "AtoB", "--out", str(tmp_path / "o3")])
    assert exc.value.code == 2 and "--data" in capsys.readouterr().err  # argparse names the required option


@pytest.mark.slow
def test_cli_accepts_the_name_facades(tmp_path):
    from dipnb.pix2pix.datasets.synthetic import make_synthetic_facades

    real_facades = make_synthetic_facades(tmp_path / "copy" / "facades", n_train=8, n_val=4, n_test=0, size=64)
    out = tmp_path / "out"
    r = run_cli("--data", "facades", "--direction", "AtoB", "--model", "fcn", "--size", "32", "--epochs", "1",
                "--batch-size", "4", "--max-steps", "1", "--train-limit", "8", "--val-limit", "4", "--out", str(out),
                env={"DIPNB_FACADES_DIR": str(real_facades), "DIPNB_DATA": str(tmp_path / "data")})
    assert r.returncode == 0, r.stderr
    config = load_checkpoint(out / "checkpoint.pt")["config"]
    assert Path(config["data"]) == real_facades.resolve()


def test_every_config_field_is_a_flag_with_the_config_default():
    """The flags are generated from TrainConfig's fields, so they cannot drift (beta2 and n_samples had none)."""
    import dataclasses

    from dipnb.pix2pix.cli.train import build_parser, config_from_args
    from dipnb.config import TrainConfig

    parser = build_parser()
    dests = {a.dest for a in parser._actions}
    assert {f.name for f in dataclasses.fields(TrainConfig)} <= dests
    assert config_from_args(parser.parse_args(["--data", "d", "--out", "o"])) == TrainConfig(data="d")
    args = parser.parse_args(["--data", "d", "--out", "o", "--beta2", "0.99", "--n-samples", "2", "--no-augment"])
    assert config_from_args(args) == TrainConfig(data="d", beta2=0.99, n_samples=2, augment=False)
