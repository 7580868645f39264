"""``python -m dipnb.pix2pix.train`` as a user runs it: a few steps, resume, refusal of a foreign run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dipnb.pix2pix.train import load_checkpoint, main, read_history

from test_trainer import make_pairs  # noqa: E402  (tests/ is on sys.path under pytest)

ROOT = Path(__file__).resolve().parents[1]


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
    assert main([*common[:-2], "--epochs", "1", "--batch-size", "0", "--out", str(tmp_path / "o2")]) == 2
    assert "batch_size must be a positive int" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--direction", "AtoB", "--out", str(tmp_path / "o3")])
    assert exc.value.code == 2 and "--data" in capsys.readouterr().err  # argparse names the required option


@pytest.mark.slow
def test_cli_accepts_the_name_facades(real_facades, tmp_path):
    out = tmp_path / "out"
    r = run_cli("--data", "facades", "--direction", "AtoB", "--model", "fcn", "--size", "32", "--epochs", "1",
                "--batch-size", "4", "--max-steps", "1", "--train-limit", "8", "--val-limit", "4", "--out", str(out),
                env={"DIPNB_FACADES_DIR": str(real_facades), "DIPNB_DATA": str(tmp_path / "data")})
    assert r.returncode == 0, r.stderr
    config = load_checkpoint(out / "checkpoint.pt")["config"]
    assert Path(config["data"]) == real_facades.resolve()
