"""What a training run leaves on disk: ``checkpoint.pt`` (every state, written atomically) and ``history.csv``.

A checkpoint is a dict: ``format``, ``task`` (class path), ``config`` (the :class:`TrainConfig` as a dict),
``dataset`` (:func:`~dipnb.pix2pix.data.registry.dataset_fingerprint`), ``epoch``, ``models``/``optimizers``/
``schedulers``/``scaler`` (:meth:`Task.state_dict`), ``rng`` (Python/NumPy/torch RNG states of every rank),
``history`` (one dict per epoch), ``world_size`` and the torch version. It is written at the end of every epoch
*before* ``history.csv``, so the history on disk never runs ahead of the checkpoint.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dipnb._io import atomic_write
from dipnb.config import TrainConfig

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_NAME", "HISTORY_NAME", "CheckpointError", "checkpoint_config",
           "load_checkpoint", "read_history", "rng_state", "save_checkpoint", "set_rng_state", "write_history"]

CHECKPOINT_FORMAT = "dipnb.pix2pix.train/1"
CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.csv"


class CheckpointError(ValueError):
    """A checkpoint or output folder cannot be used for the requested run."""


def rng_state() -> dict[str, Any]:
    """The Python, NumPy, torch (and CUDA) RNG states of this process."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, checkpoint: Mapping[str, Any]) -> Path:
    """``torch.save`` through :func:`dipnb._io.atomic_write` (a reader sees the old file or the whole new one)."""
    return atomic_write(path, lambda tmp: torch.save({"format": CHECKPOINT_FORMAT, **checkpoint}, tmp))


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load and sanity-check a trainer checkpoint; :class:`CheckpointError` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        msg = str(exc)
        if "WeightsUnpickler error:" in msg:  # keep the informative part of torch's long message
            msg = msg.split("WeightsUnpickler error:", 1)[1].strip().splitlines()[0]
        raise CheckpointError(
            f"{path} cannot be read as a dipnb checkpoint ({type(exc).__name__}: {msg[:200]}); it is "
            "truncated, corrupt or from another program — delete it, or choose another --out."
        ) from exc
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not a checkpoint written by dipnb.pix2pix.train (format {CHECKPOINT_FORMAT!r}); "
            "choose another --out, or delete the file."
        )
    return ck


def checkpoint_config(ck: Mapping[str, Any]) -> TrainConfig:
    """The :class:`TrainConfig` stored in a checkpoint (unknown fields from other versions are ignored)."""
    return TrainConfig.from_dict(ck["config"])


def read_history(path: str | Path) -> list[dict[str, float]]:
    """Rows of a ``history.csv`` (or of an output folder holding one) as dicts of floats (``epoch`` int)."""
    path = Path(path)
    if path.is_dir():
        path = path / HISTORY_NAME
    with open(path, newline="") as f:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v != ""}
                for row in csv.DictReader(f)]


def write_history(path: str | Path, history: list[Mapping[str, Any]]) -> Path:
    """Write the rows atomically as CSV (floats by ``repr``, so :func:`read_history` gives them back exactly)."""
    cols: list[str] = []
    for row in history:
        cols += [k for k in row if k not in cols]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for row in history:
                w.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})

    return atomic_write(path, write)
