"""The run folder: what a training run leaves on disk, how it is written and read, and whether a folder may be used.

:class:`RunFolder` is the one owner of a run folder. It names the files (``checkpoint.pt``, ``history.csv``,
``loss.png``, ``samples/epoch_NNN.png``), writes and reads the checkpoint and the history, and decides, before
anything is trained, whether the folder can hold the requested run: a new run in an empty folder, ``resume``
(continue the run in it; its configuration and dataset must match), ``overwrite`` (delete the run in it: the
files named here, nothing else), or a refusal (a foreign run, an unreadable checkpoint, a history without a
checkpoint). The trainer, its callbacks and the model cache ask it; no other module spells a file name.

A checkpoint is a dict: ``format``, ``task`` (class path), ``model`` (the generator's class, when it is not the
config's built-in one), ``config`` (the :class:`TrainConfig` as a dict), ``dataset``
(:func:`~dipnb.pix2pix.datasets.registry.dataset_fingerprint`), ``epoch``, ``models``/``optimizers``/``schedulers``/
``scaler`` (:meth:`Task.state_dict`), ``rng`` (Python/NumPy/torch RNG states of every rank), ``history`` (one
dict per epoch), ``world_size`` and the torch version. The trainer writes it at the end of every epoch *before*
``history.csv`` (the callbacks' ``order``), so the history on disk never runs ahead of the checkpoint; on resume
the history is rewritten from the checkpoint.
"""

from __future__ import annotations

import csv
import random
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dipnb._io import atomic_write, clean_stray_temps
from dipnb.config import RESUME_MUTABLE, TrainConfig

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_NAME", "HISTORY_NAME", "LOSS_PLOT_NAME", "SAMPLES_DIR", "CheckpointError",
           "RunFolder", "checkpoint_config", "load_checkpoint", "read_history", "rng_state", "save_checkpoint",
           "set_rng_state", "write_history"]

CHECKPOINT_FORMAT = "dipnb.pix2pix.train/1"
CHECKPOINT_NAME = "checkpoint.pt"  #: every state of the run, written atomically after every epoch
HISTORY_NAME = "history.csv"  #: one row per epoch
LOSS_PLOT_NAME = "loss.png"  #: the loss curves, saved at the end of a fit
SAMPLES_DIR = "samples"  #: sample grids epoch_NNN.png


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


class RunFolder:
    """The folder of one training run: its file names, its checkpoint and history, and what may be done with it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- names ------------------------------------------------------------------------------------
    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT_NAME

    @property
    def history(self) -> Path:
        return self.path / HISTORY_NAME

    @property
    def loss_plot(self) -> Path:
        return self.path / LOSS_PLOT_NAME

    @property
    def samples(self) -> Path:
        return self.path / SAMPLES_DIR

    def sample_path(self, epoch: int) -> Path:
        return self.samples / f"epoch_{epoch:03d}.png"

    def result_files(self) -> list[str]:
        """What a finished run holds, relative to the folder (what the model cache keeps): the checkpoint, the
        history and the sample grids that exist."""
        samples = sorted(self.samples.glob("epoch_*.png")) if self.samples.is_dir() else []
        return [CHECKPOINT_NAME, HISTORY_NAME, *(f"{SAMPLES_DIR}/{p.name}" for p in samples)]

    # -- deciding ---------------------------------------------------------------------------------
    def prepare(self, *, resume: bool, overwrite: bool, is_main: bool = True,
                barrier: Callable[[], None] = lambda: None, verbose: bool = True) -> dict[str, Any] | None:
        """Check that the folder can hold the run (a writable folder; no foreign run unless ``overwrite``), clean
        what a killed writer left, and return the checkpoint to resume from (None: start afresh)."""
        out = self.path
        if out.exists() and not out.is_dir():
            raise CheckpointError(f"--out {out} is a file, not a folder; choose another --out.")
        if is_main:
            try:
                out.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
                    pass
            except OSError as exc:
                raise CheckpointError(f"--out {out} is not a writable folder ({exc.strerror or exc}); choose "
                                      "another --out (nothing was trained).") from None
            for name in (CHECKPOINT_NAME, HISTORY_NAME):  # left by a process killed while writing
                clean_stray_temps(out, name)
        has_ckpt, has_hist = self.checkpoint.exists(), self.history.exists()
        if overwrite and not resume:
            if is_main:
                self.clear()
            barrier()
            return None
        if not resume:
            if has_ckpt or has_hist:
                raise CheckpointError(
                    f"{out} already holds a training run{self._describe()}. Pass --resume (resume=True) to continue "
                    "it, --overwrite (overwrite=True) to replace it, or choose another --out."
                )
            return None
        if not has_ckpt:
            if has_hist:
                raise CheckpointError(
                    f"{out} has a {HISTORY_NAME} but no {CHECKPOINT_NAME}: it holds a different or broken run "
                    "that cannot be resumed; choose another --out or use --overwrite."
                )
            if verbose:
                print(f"no checkpoint in {out} yet: starting a new run there")
            return None
        return load_checkpoint(self.checkpoint)

    def _describe(self) -> str:
        if not self.checkpoint.exists():
            return ""
        try:
            ck = load_checkpoint(self.checkpoint)
        except CheckpointError:
            return " (an unreadable checkpoint)"
        c = ck["config"]
        return f" ({c.get('model')} {c.get('direction')}, {ck.get('epoch')} epochs done)"

    def clear(self) -> None:
        """Delete the run in the folder: the files named here (anything else in the folder stays)."""
        for p in (self.checkpoint, self.history, self.loss_plot):
            p.unlink(missing_ok=True)
        for p in self.samples.glob("epoch_*.png"):
            p.unlink()

    def check_same_run(self, ck: Mapping[str, Any], config: TrainConfig, dataset_id: str,
                       model: str | None = None) -> None:
        """Refuse to resume ``ck`` with another configuration (except :data:`RESUME_MUTABLE` fields), other dataset
        content or another generator class (``model``)."""
        saved = checkpoint_config(ck)
        diff = saved.differences(config, ignore=RESUME_MUTABLE | {"data"})
        if ck.get("dataset", dataset_id) != dataset_id:
            diff["dataset"] = (f"{saved.data} (content {ck['dataset']})", f"{config.data} (content "
                               f"{dataset_id}): other files or sizes")
        if ck.get("model") != model:
            diff["generator"] = (ck.get("model") or f"the built-in {saved.model}", model or f"the built-in {config.model}")
        if diff:
            lines = "\n".join(f"  {k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in diff.items())
            raise CheckpointError(
                f"{self.checkpoint} holds a run with a different configuration:\n{lines}\n"
                "Resume with the checkpoint's settings, or start a new run with another --out "
                "(or --overwrite to replace it)."
            )

    # -- writing and reading ----------------------------------------------------------------------
    def write_checkpoint(self, *, task: Any, config: TrainConfig, dataset_id: str, epoch: int,
                         history: list[Mapping[str, Any]], rngs: list[Mapping[str, Any]], world_size: int,
                         model: str | None = None) -> Path:
        """The checkpoint after ``epoch``: every state of ``task``, the RNG states of every rank (``rngs``)."""
        return save_checkpoint(self.checkpoint, {
            "task": f"{type(task).__module__}.{type(task).__qualname__}",
            **({"model": model} if model is not None else {}),
            "config": config.to_dict(),
            "dataset": dataset_id,
            "epoch": epoch,
            **task.state_dict(),
            "rng": rngs,
            "history": history,
            "world_size": world_size,
            "torch": str(torch.__version__),
        })

    def restore(self, ck: Mapping[str, Any], task: Any, rank: int = 0, world_size: int = 1,
                verbose: bool = True) -> tuple[list[dict[str, Any]], int]:
        """Load ``ck`` into ``task`` and this process's RNGs; returns (history, epochs done). Rank 0 rewrites
        ``history.csv`` from the checkpoint (a kill between the two writes left it one epoch behind)."""
        try:
            task.load_state_dict(ck)
        except ValueError as exc:
            raise CheckpointError(f"{self.checkpoint}: {exc}") from exc
        rng = ck.get("rng", [])
        if len(rng) == world_size:
            set_rng_state(rng[rank])
        elif rng and verbose:
            print(f"note: checkpoint written by {len(rng)} process(es), now {world_size}: "
                  "random streams (dropout) restart from the seed")
        history = [dict(r) for r in ck["history"]]
        if rank == 0:
            write_history(self.history, history)
        return history, int(ck["epoch"])
