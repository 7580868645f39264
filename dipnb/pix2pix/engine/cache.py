"""Trained runs kept under ``data/models/trained/`` so that re-executing a notebook loads instead of retraining.

An entry is keyed by everything that decides the result (:func:`run_key`): the full :class:`TrainConfig`
except the dataset's path, the dataset's content (:func:`~dipnb.pix2pix.datasets.registry.dataset_fingerprint`), a
hash of the ``dipnb.pix2pix`` source and of ``dipnb/images.py`` (:func:`source_hash`), the user's code that
trains (the model class and epoch functions a notebook passed, :func:`code_digest`), the torch version and the
device type. A change to any of them is a miss, so a result is never served stale after a code change. An entry
holds the finished run's :meth:`~dipnb.pix2pix.engine.run.RunFolder.result_files` (``checkpoint.pt`` with every
state, so the run can still be resumed for more epochs; ``history.csv``; ``samples/``); it is written in a
temporary folder and swapped into place (:func:`dipnb._io.replace_dir`), and a new entry for the same run name
replaces the older ones.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from dipnb._io import atomic_write, files_digest, replace_dir
from dipnb.config import TrainConfig, data_dir
from dipnb.pix2pix.engine.run import RunFolder

__all__ = ["cache_root", "code_digest", "lookup", "restore", "run_key", "source_hash", "store"]

_PACKAGE = Path(__file__).resolve().parents[2]  # dipnb/


def cache_root() -> Path:
    """``dipnb.data_dir()/"models"/"trained"``."""
    return data_dir() / "models" / "trained"


def source_hash() -> str:
    """sha256 of the code that trains: every ``dipnb/pix2pix/**.py`` file and ``dipnb/images.py`` (path + bytes)."""
    return files_digest(_PACKAGE, sorted((_PACKAGE / "pix2pix").rglob("*.py")) + [_PACKAGE / "images.py"])


def code_digest(*objects: Any) -> str | None:
    """sha256 of the source text of ``objects`` (classes, functions; ``None`` entries skipped), or ``None`` when
    one's source cannot be read (then a run must not be cached: an edit would go unnoticed)."""
    h = hashlib.sha256()
    for obj in objects:
        if obj is None:
            continue
        try:
            h.update(inspect.getsource(obj).encode() + b"\0")
        except (OSError, TypeError):
            return None
    return h.hexdigest()


def run_key(config: TrainConfig, dataset_id: str, device: torch.device, user_code: str = "") -> str:
    """The cache key of a run: configuration (without the data path), dataset content, source, the user's code
    (:func:`code_digest`; "" for the built-in tasks), torch, device type."""
    payload = {"config": {k: v for k, v in config.to_dict().items() if k != "data"}, "dataset": dataset_id,
               "source": source_hash(), "torch": str(torch.__version__), "device": torch.device(device).type}
    if user_code:
        payload["user code"] = user_code
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _entry(name: str, key: str) -> Path:
    return cache_root() / f"{name}-{key}"


def lookup(name: str, key: str) -> Path | None:
    """The cached run ``name`` with ``key``, or None."""
    entry = _entry(name, key)
    return entry if RunFolder(entry).checkpoint.is_file() else None


def _copy_run(src: Path, dest: Path) -> None:
    """The result files of a run folder (:meth:`RunFolder.result_files`), each file copied atomically."""
    for rel in RunFolder(src).result_files():
        if (src / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            atomic_write(dest / rel, lambda tmp, s=src / rel: shutil.copyfile(s, tmp))


def store(out: Path, name: str, key: str) -> Path:
    """Keep the finished run in ``out`` as the cache entry (name, key); older entries of ``name`` are removed."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-new-", dir=root))
    try:
        _copy_run(Path(out), tmp)
        replace_dir(tmp, _entry(name, key))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in root.glob(f"{name}-*"):
        if old.is_dir() and old.name != f"{name}-{key}" and old.name[len(name) + 1:].isalnum():
            shutil.rmtree(old, ignore_errors=True)
    return _entry(name, key)


def restore(entry: Path, out: Path) -> None:
    """Copy a cache entry into the run folder ``out`` (which then holds the finished run)."""
    Path(out).mkdir(parents=True, exist_ok=True)
    _copy_run(entry, Path(out))
