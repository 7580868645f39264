"""Where a pix2pix dataset is, and what it is: name → folder (real facades, a copy, or the synthetic set).

* :func:`resolve_dataset` — the policy: ``"facades"`` is ``$DIPNB_FACADES_DIR``, else ``data/facades`` when it
  verifies against the manifest, else the offline synthetic facades (generated once, with a notice);
* :func:`dataset_fingerprint` — the dataset's identity by content (file names and sizes per split), so a run
  can be resumed after its dataset folder moved;
* :func:`dataset_summary` — number of images per split.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from dipnb._io import list_images
from dipnb.config import data_dir
from dipnb.pix2pix.data.download import check_facades
from dipnb.pix2pix.data.pairs import SPLITS
from dipnb.pix2pix.data.synthetic import make_synthetic_facades

__all__ = ["dataset_fingerprint", "dataset_summary", "resolve_dataset"]


def _has_splits(path: Path) -> bool:
    return any((path / s).is_dir() for s in SPLITS)


def resolve_dataset(name_or_path: str | os.PathLike = "facades", *, verbose: bool = True) -> Path:
    """The folder of a pix2pix dataset (holding ``train/``, ``val/``, ``test/``).

    * a folder path is used as is (it must hold split folders);
    * ``"facades"``: ``$DIPNB_FACADES_DIR`` when set, else ``dipnb.data_dir()/"facades"`` when present and
      verified against the manifest, else the offline synthetic facades (generated once into
      ``dipnb.data_dir()/"synthetic_facades"``) with a notice saying how to get the real data;
    * ``"synthetic_facades"``: the synthetic set.
    """
    name = os.fspath(name_or_path)
    if name == "facades":
        env = os.environ.get("DIPNB_FACADES_DIR", "").strip()
        if env:
            path = Path(env).expanduser()
            if not (path / "train").is_dir():
                raise FileNotFoundError(
                    f"DIPNB_FACADES_DIR={env} has no train/ folder; point it at the folder that holds facades' "
                    "train/ val/ test/, or unset it to use data/facades (`make data`) or the synthetic set."
                )
            if verbose:
                print(f"facades: using DIPNB_FACADES_DIR={path}")
            return path
        path = _data_dir() / "facades"
        if path.is_dir():
            problems = check_facades(path, hashes=False)
            if not problems:
                if verbose:
                    print(f"facades: using the real CMP facades in {path}")
                return path
            if verbose:
                print(f"facades: {path} is incomplete or damaged ({problems[0]}…); re-run `make data`.")
        return _synthetic(verbose=verbose, reason="the real facades dataset is not in " + str(path))
    if name in ("synthetic_facades", "synthetic"):
        return _synthetic(verbose=verbose, reason=None)
    path = Path(name).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"dataset {name!r} is neither a known name ('facades', 'synthetic_facades') nor an existing folder."
        )
    if not path.is_dir() or not _has_splits(path):
        raise FileNotFoundError(
            f"{path} is not a pix2pix dataset folder: it needs split sub-folders train/, val/ and/or test/ of "
            "A|B side-by-side images."
        )
    return path


def _data_dir() -> Path:
    path = data_dir()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"the data folder {path} (DIPNB_DATA) is a file; point DIPNB_DATA at a folder "
                                 "(or unset it to use data/ in the project).")
    return path


def _synthetic(verbose: bool, reason: str | None) -> Path:
    out = _data_dir() / "synthetic_facades"
    if verbose and reason:
        print(
            f"NOTICE: {reason}; using the offline SYNTHETIC facades in {out} (procedural label maps rendered "
            "into photo-like facades). For the real CMP facades run `make data` "
            "(= python -m dipnb.data download facades) or set DIPNB_FACADES_DIR."
        )
    return make_synthetic_facades(out, verbose=verbose)


def dataset_summary(root: str | os.PathLike, splits: Sequence[str] = SPLITS) -> dict[str, int]:
    """Number of image files in each split folder that exists."""
    root = Path(root)
    return {s: len(list_images(root / s)) for s in splits if (root / s).is_dir()}


def dataset_fingerprint(root: str | os.PathLike, splits: Sequence[str] = ("train", "val")) -> str:
    """A short hex digest of the dataset's content: every image's split, name and size in bytes.

    Independent of where the folder lies, so a run whose dataset was moved or copied keeps its identity;
    a file added, removed, renamed or re-encoded (other size) changes it. Only ``splits`` that exist count.
    """
    root = Path(root)
    h = hashlib.sha256()
    for split in splits:
        folder = root / split
        if not folder.is_dir():
            continue
        for f in list_images(folder):
            h.update(f"{split}/{f.name}:{f.stat().st_size}\n".encode())
    return h.hexdigest()[:16]
