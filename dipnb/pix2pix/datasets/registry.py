"""Where a pix2pix dataset is, and what it is: name → folder (real facades, a copy, or the synthetic set).

* :data:`PIX2PIX_DATASETS` — the datasets the pix2pix authors distribute (facades, cityscapes, maps, edges2shoes,
  edges2handbags, night2day): URL, archive size, what the A and B halves hold, the direction of the usual task,
  and whether a published hash verifies the download; :func:`download_dataset` installs one
  (``make data DATASET=name``);
* :func:`resolve_dataset` — the policy: ``"facades"`` is ``$DIPNB_FACADES_DIR``, else ``data/facades`` when it
  verifies against the manifest, else the offline synthetic facades (generated once, with a notice); another
  name is ``data/<name>`` once downloaded;
* :func:`dataset_fingerprint` — the dataset's identity by content (file names and sizes per split), so a run
  can be resumed after its dataset folder moved;
* :func:`dataset_summary` — number of images per split.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dipnb._io import list_images
from dipnb.config import data_dir
from dipnb.pix2pix.datasets.download import check_facades, check_location, download_facades, install_dataset
from dipnb.pix2pix.datasets.pairs import SPLITS
from dipnb.pix2pix.datasets.synthetic import make_synthetic_facades

__all__ = ["PIX2PIX_DATASETS", "DatasetInfo", "dataset_fingerprint", "dataset_info", "dataset_summary",
           "download_dataset", "resolve_dataset"]

PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"


@dataclass(frozen=True)
class DatasetInfo:
    """One pix2pix dataset as its authors distribute it: ``<name>.tar.gz`` holding ``<name>/{train,val[,test]}/``
    of side-by-side A|B JPEGs."""

    name: str
    a: str  #: what the left half (A) holds
    b: str  #: what the right half (B) holds
    direction: str  #: the usual task in the pix2pix paper/code: "AtoB" or "BtoA"
    archive_mb: int  #: approximate size of the archive (MB), as the server lists it
    counts: dict[str, int]  #: images per split, as documented (checked after download: a warning if different)
    about: str
    verified: bool = False  #: True when dipnb ships a per-file manifest (only facades), else trust on first use

    @property
    def url(self) -> str:
        return PIX2PIX_URL.format(name=self.name)

    @property
    def task(self) -> str:
        """The usual task in words, e.g. "labels → photo"."""
        src, dst = (self.a, self.b) if self.direction == "AtoB" else (self.b, self.a)
        return f"{src} → {dst}"


#: The pix2pix datasets (https://github.com/phillipi/pix2pix#datasets). Sizes are the archives' approximate sizes;
#: only facades can be verified file by file (dipnb ships its manifest); for the others no hash is published, so
#: the archive's SHA-256 is recorded at first download and checked on later installs (stated as unverified).
PIX2PIX_DATASETS: dict[str, DatasetInfo] = {d.name: d for d in (
    DatasetInfo("facades", "photo", "labels", "BtoA", 29, {"train": 400, "val": 100, "test": 106},
                "CMP Facades: 606 building fronts with 12-class label maps", verified=True),
    DatasetInfo("cityscapes", "photo", "labels", "BtoA", 99, {"train": 2975, "val": 500},
                "Cityscapes street scenes with semantic label colours (the paper's FCN-score dataset)"),
    DatasetInfo("maps", "aerial photo", "map", "AtoB", 239, {"train": 1096, "val": 1098},
                "Google Maps aerial photos and map tiles around New York City"),
    DatasetInfo("edges2shoes", "edges", "photo", "AtoB", 2048, {"train": 49825, "val": 200},
                "UT Zappos50K shoes with HED edge maps"),
    DatasetInfo("edges2handbags", "edges", "photo", "AtoB", 8192, {"train": 138567, "val": 200},
                "Amazon handbags (iGAN) with HED edge maps"),
    DatasetInfo("night2day", "night", "day", "AtoB", 1946, {"train": 17823, "val": 10, "test": 2287},
                "Transient Attributes webcams: the same scene at night and by day"),
)}


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of ``name``; a clear error listing the known names otherwise."""
    try:
        return PIX2PIX_DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown pix2pix dataset {name!r}; choose one of {', '.join(PIX2PIX_DATASETS)} "
                         "(or pass a folder holding train/ and val/)") from None


def download_dataset(name: str, dest: str | os.PathLike | None = None, *, url: str | None = None,
                     archive: str | os.PathLike | None = None, force: bool = False, progress: bool = True) -> Path:
    """Download (or take ``archive``), check and install the pix2pix dataset ``name`` into ``dest``
    (default ``data_dir()/name``).

    facades is verified file by file against its shipped manifest. The others have no published hash: the
    archive's SHA-256 is recorded at first download (``downloads/<name>.tar.gz.sha256``) and later installs must
    match it; the split counts are compared with the documented ones (a warning if they differ).
    """
    info = dataset_info(name)
    dest = check_location(Path(dest) if dest is not None else data_dir() / name)  # a bad place fails first
    if name == "facades":
        return download_facades(dest, url=url, archive=archive, force=force, progress=progress)
    manifest = {"name": name, "url": info.url, "archive_root": name, "files": {}, "record_hash": True,
                "splits": {s: {"count": None, "required": s in ("train", "val")} for s in info.counts}}
    print(f"{name}: {info.about}; A = {info.a}, B = {info.b} (usual task {info.task}: --direction "
          f"{info.direction}); archive ≈ {info.archive_mb} MB. UNVERIFIED: no published hash exists.")
    out = install_dataset(dest, manifest, url=url or info.url, archive=archive, force=force, progress=progress)
    found = dataset_summary(out)
    differ = {s: (found.get(s), n) for s, n in info.counts.items() if found.get(s) != n}
    if differ:
        print(f"WARNING: {name}: image counts differ from the documented ones (found, documented): {differ}")
    return out


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
    if name in PIX2PIX_DATASETS:
        path = _data_dir() / name
        if not (path / "train").is_dir():
            raise FileNotFoundError(
                f"the {name} dataset is not in {path}; download it with `make data DATASET={name}` "
                f"(python -m dipnb.data download {name}; ≈ {PIX2PIX_DATASETS[name].archive_mb} MB), or pass a "
                "folder.")
        if verbose:
            info = PIX2PIX_DATASETS[name]
            print(f"{name}: using {path} (A = {info.a}, B = {info.b}; the usual task {info.task} is "
                  f"direction={info.direction!r})")
        return path
    path = Path(name).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"dataset {name!r} is neither a known name ({', '.join(PIX2PIX_DATASETS)}, 'synthetic_facades') nor "
            "an existing folder."
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
