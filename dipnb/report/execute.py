"""Execute notebooks once per content, through jupyter-cache: what ran is reused until something it depends on changes.

A notebook is executed (by nbclient, in its own folder, as "Restart & Run All" would) only when the cache has no
run of it. The cache is jupyter-cache's: a notebook matches a cached run when its **code cells** are the same, so
an edit of Markdown (prose, a formula) re-executes nothing — its outputs are merged into the edited notebook —
and an edit of one code cell re-executes that notebook only.

What the code cells import is not in their text, so each *environment* gets its own cache folder, keyed by
:attr:`Environment.key` (built by :func:`environment`): the source of :mod:`dipnb` (every file but the report builder), the profile, the
dataset the notebooks will see (the real facades' content or the synthetic set), the device, the seed and the
torch/Python versions. Any change there starts an empty cache (stale results are never served); the last
:data:`KEEP_ENVIRONMENTS` caches are kept, so switching back and forth between two profiles stays cheap.

Trained networks are cached separately, by the trainer (``data/models/trained/``, keyed by the full training
configuration and the dataset's content), so a re-executed notebook 07 loads its U-Nets instead of retraining.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import torch
from jupyter_cache.base import CacheBundleIn

from dipnb._io import files_digest
from dipnb.config import get_device
from dipnb.pix2pix.datasets.registry import dataset_fingerprint, resolve_dataset
from dipnb.poisson.examples import course_poisson_dir

#: MIME type of a Jupyter widget view; static pages cannot show it (its JavaScript would come from a CDN).
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: How many environment caches to keep (the most recently used).
KEEP_ENVIRONMENTS = 3


@dataclass
class Environment:
    """What a notebook's results depend on beyond its own code cells."""

    profile: str
    device: str
    dataset: str  #: "real facades" or "synthetic facades (offline fallback)"
    dataset_path: str
    dataset_id: str  #: content fingerprint of the dataset (names and sizes)
    seed: str
    versions: str  #: Python / torch
    source_hash: str  #: digest of the dipnb sources that notebooks import
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            parts = [self.profile, self.device, self.dataset_id, self.seed, self.versions, self.source_hash]
            self.key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@dataclass
class Executed:
    """One notebook after :func:`execute_or_load`: its outputs, and how they were obtained."""

    source: Path
    nb: Any  #: nbformat.NotebookNode with outputs
    status: str  #: "executed", "cached" or "failed"
    seconds: float  #: wall time of this build for this notebook
    run_seconds: float  #: how long the execution that produced the outputs took (now or when cached)
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def dipnb_source_hash(package_dir: Path | None = None) -> str:
    """A digest (:func:`dipnb._io.files_digest`) of every ``*.py``/``*.json`` file of :mod:`dipnb` except the
    report builder itself."""
    root = Path(package_dir or Path(__file__).resolve().parents[1])
    files = [p for p in sorted(root.rglob("*")) if p.suffix in (".py", ".json") and "__pycache__" not in p.parts
             and not p.relative_to(root).as_posix().startswith("report/")]
    return files_digest(root, files)[:16]


def environment(profile: str) -> Environment:
    """Describe the environment the notebooks will run in (resolving the facades dataset the way they do)."""
    with contextlib.redirect_stdout(io.StringIO()):
        path = resolve_dataset("facades", verbose=False)  # may generate the synthetic set once, as 06/07 would
    synthetic = path.name == "synthetic_facades"
    course = course_poisson_dir() is not None  # notebooks 02–04 blend the course's pairs when they are installed
    return Environment(
        profile=profile,
        device=str(get_device()),
        dataset=("synthetic facades (offline fallback)" if synthetic else "real CMP facades")
        + (" · the course's Poisson pairs" if course else ""),
        dataset_path=str(path),
        dataset_id=dataset_fingerprint(path) + ("+course_poisson" if course else ""),
        seed=os.environ.get("DIPNB_SEED", "0").strip() or "0",
        versions=f"Python {platform.python_version()} · torch {torch.__version__}",
        source_hash=dipnb_source_hash(),
    )


def open_cache(root: Path, env: Environment) -> Any:
    """The jupyter-cache of ``env`` under ``root/<key>`` (created); older environments beyond the last few pruned."""
    from jupyter_cache import get_cache

    root.mkdir(parents=True, exist_ok=True)
    folder = root / env.key
    folder.mkdir(exist_ok=True)
    (folder / "environment.json").write_text(json.dumps(env.__dict__, indent=1), encoding="utf-8")
    os.utime(folder)
    others = sorted((p for p in root.iterdir() if p.is_dir() and p != folder), key=lambda p: p.stat().st_mtime)
    for old in others[: max(0, len(others) - (KEEP_ENVIRONMENTS - 1))]:
        shutil.rmtree(old, ignore_errors=True)
    return get_cache(str(folder / "jupyter_cache"))


def _first_error(nb: Any) -> str:
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}".strip()
    return ""


def execute_or_load(path: Path, cache: Any, timeout: int = 3600, kernel: str = "python3") -> Executed:
    """The notebook at ``path`` with its outputs: from ``cache`` when its code was run before, else executed.

    Execution runs in the notebook's folder with a fresh kernel and stops at the first failing cell (like
    "Restart & Run All"); a failed run is returned with the outputs up to the error and is not cached.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    start = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    with contextlib.suppress(KeyError):
        pk, merged = cache.merge_match_into_notebook(nb)
        record = cache.get_cache_record(pk)
        run_seconds = float(record.data.get("execution_seconds", 0.0))
        return Executed(path, merged, "cached", time.perf_counter() - start, run_seconds)
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, allow_errors=False, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    env_backup = os.environ.pop("MPLBACKEND", None)  # the kernel must keep its inline backend
    error = ""
    try:
        client.execute()
    except CellExecutionError as exc:
        error = _first_error(nb) or str(exc).strip().splitlines()[-1]
    except Exception as exc:  # a dead kernel, a timeout: the report still gets a page saying so
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if env_backup is not None:
            os.environ["MPLBACKEND"] = env_backup
    seconds = time.perf_counter() - start
    if error:
        return Executed(path, nb, "failed", seconds, seconds, error)
    cache.cache_notebook_bundle(CacheBundleIn(copy.deepcopy(nb), str(path), data={"execution_seconds": seconds}),
                                overwrite=True)
    return Executed(path, nb, "executed", seconds, seconds)


def without_widgets(nb: Any) -> Any:
    """A copy of ``nb`` for static pages: every output that carries a widget view is dropped, with its text
    stand-in (``Canvas(...)``), and so is the notebook's widget state; each widget has a static figure beside it."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_MIME in data:
                continue
            kept.append(out)
        cell.outputs = kept
    return nb


__all__ = ["Environment", "Executed", "KEEP_ENVIRONMENTS", "WIDGET_MIME", "dipnb_source_hash", "environment",
           "execute_or_load", "open_cache", "without_widgets"]
