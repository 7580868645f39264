"""Download, verify and install the facades dataset, never leaving half-written data in place.

The steps, each of which either completes or leaves the previous state untouched:

1. download the archive with `pooch <https://www.fatiando.org/pooch>`_ (the fetcher scikit-image uses: progress
   bar, a temporary file renamed into ``downloads/facades.tar.gz`` only when complete);
2. extract it into a temporary folder (refusing links, absolute paths and ``..``);
3. verify the extracted files against the manifest (:mod:`dipnb.pix2pix.facades`: file counts per split,
   sizes and sha256 per file) — pooch checks one hash per archive, the manifest checks every file;
4. only then swap the folder into place (:func:`dipnb._io.replace_dir`: the previous folder is renamed away first
   and deleted last).

A corrupted or cut archive fails at step 1, 2 or 3 and is deleted; the data already installed is not touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any, Iterable

import pooch

from dipnb._io import list_images, replace_dir
from dipnb.config import data_dir
from dipnb.pix2pix.facades import FACADES_URL, load_manifest

__all__ = ["DownloadError", "check_dataset", "check_facades", "check_location", "download_facades", "download_file",
           "install_dataset", "install_files", "safe_extract", "sha256_file"]


class DownloadError(RuntimeError):
    """The dataset could not be downloaded or verified; the message says what to do."""


# --------------------------------------------------------------------------------------------------
# Manifest and verification
# --------------------------------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_dataset(
    root: str | os.PathLike,
    manifest: dict[str, Any],
    *,
    hashes: bool = True,
    splits: Iterable[str] | None = None,
) -> list[str]:
    """Problems found when comparing the folder ``root`` with ``manifest`` (empty list = verified).

    For every split in the manifest (or in ``splits``): the folder must exist when the split is ``required``
    (else it is skipped), hold exactly ``count`` images, and every file the manifest lists must be there with
    its size and — when ``hashes`` — its sha256.
    """
    root = Path(root)
    problems: list[str] = []
    wanted = list(manifest["splits"]) if splits is None else list(splits)
    for split in wanted:
        info = manifest["splits"].get(split)
        if info is None:
            problems.append(f"split {split!r} is not in the manifest")
            continue
        folder = root / split
        if not folder.is_dir():
            if info.get("required", True):
                problems.append(f"missing folder {split}/")
            continue
        n = len(list_images(folder))
        if info.get("count") is not None and n != info["count"]:
            problems.append(f"{split}/ holds {n} images, expected {info['count']}")
        elif n == 0:
            problems.append(f"{split}/ holds no images")
        for rel, meta in manifest["files"].items():
            if rel.split("/", 1)[0] != split:
                continue
            f = root / rel
            if not f.is_file():
                problems.append(f"missing file {rel}")
                continue
            size = meta.get("size")
            if size is not None and f.stat().st_size != size:
                problems.append(f"{rel}: {f.stat().st_size} bytes, expected {size}")
                continue
            if hashes and meta.get("sha256") and sha256_file(f) != meta["sha256"]:
                problems.append(f"{rel}: sha256 differs from the manifest (corrupted or a different file)")
    return problems


def check_facades(root: str | os.PathLike, *, hashes: bool = True, splits: Iterable[str] | None = None) -> list[str]:
    """:func:`check_dataset` with the shipped facades manifest."""
    return check_dataset(root, load_manifest(), hashes=hashes, splits=splits)


# --------------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------------
def offline_help(url: str, archive: Path, dest: Path) -> str:
    """What to do when the download is impossible."""
    return (
        f"Could not download {url}.\n"
        "If this machine is offline or the server is unreachable, do one of these:\n"
        f"  1. download {url} on a machine with internet access and run\n"
        f"       python -m dipnb.data download facades --archive /path/to/facades.tar.gz\n"
        f"     (or copy it to {archive} and run `make data` again);\n"
        f"  2. unpack it anywhere and set DIPNB_FACADES_DIR=/path/to/facades (the folder holding train/ val/ test/);\n"
        "  3. do nothing: the notebooks then use the offline synthetic facades (dipnb.pix2pix.datasets.synthetic).\n"
        f"Nothing was written to {dest}."
    )


def check_location(dest: str | os.PathLike) -> Path:
    """Refuse, before anything is fetched, a destination that cannot hold a dataset folder; returns it absolute.

    A clear :class:`DownloadError` when ``dest`` or one of its parents is a file (e.g. ``DIPNB_DATA`` pointing at a
    file), or when the nearest existing parent is not writable.
    """
    dest = Path(dest).expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise DownloadError(f"{dest} is a file, not a folder; choose another --dest (or move the file away).")
    for parent in dest.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DownloadError(
                    f"cannot install into {dest}: {parent} is a file, not a folder. If DIPNB_DATA points at it, set "
                    "DIPNB_DATA to a folder (or unset it to use data/ in the project); or pass --dest DIR. "
                    "Nothing was downloaded.")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise DownloadError(f"cannot install into {dest}: {parent} is not writable; choose another --dest "
                                    "or DIPNB_DATA. Nothing was downloaded.")
            break
    return dest


def download_file(url: str, dest: str | os.PathLike, *, timeout: float = 60.0, progress: bool = True,
                  known_hash: str | None = None) -> Path:
    """Download ``url`` to ``dest`` with pooch: into a temporary file beside it, renamed only when complete.

    ``known_hash``: the file's hex SHA-256; pooch checks it before the file is renamed into place. Raises
    :class:`DownloadError` (network errors, HTTP errors, a transfer cut before ``Content-Length`` bytes arrived,
    a hash mismatch); the temporary file is removed in every case.
    """
    import requests  # pooch's own HTTP client (a dependency of pooch)

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # parts left by a killed download are never resumed; remove those older than an hour
    for stale in [*dest.parent.glob(f".{dest.name}.part-*"), *dest.parent.glob("tmp*")]:
        with contextlib.suppress(OSError):
            if stale.is_file() and time.time() - stale.stat().st_mtime > 3600:
                stale.unlink()
    dest.unlink(missing_ok=True)  # pooch would return an existing file as it is
    pooch.get_logger().setLevel(logging.WARNING)
    downloader = pooch.HTTPDownloader(progressbar=progress, timeout=timeout, headers={"User-Agent": "dipnb"})
    try:
        return Path(pooch.retrieve(url, known_hash=f"sha256:{known_hash}" if known_hash else None, fname=dest.name,
                                   path=dest.parent, downloader=downloader))
    except requests.exceptions.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else "?"
        reason = exc.response.reason if exc.response is not None else exc
        raise DownloadError(f"the server answered HTTP {code} ({reason}) for {url}") from exc
    except requests.exceptions.ChunkedEncodingError as exc:
        raise DownloadError(f"transfer of {url} was cut ({exc}); run the command again") from exc
    except (requests.exceptions.RequestException, OSError) as exc:
        raise DownloadError(f"network error while downloading {url}: {exc}") from exc
    except ValueError as exc:  # pooch: the SHA-256 does not match
        raise DownloadError(f"{url} is not the expected file (its SHA-256 differs: {exc}); nothing was kept") from exc


# --------------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------------
def safe_extract(archive: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    """Extract a (gzipped) tar into ``out_dir``; only regular files and folders inside it are allowed.

    Raises :class:`DownloadError` for a corrupt or cut archive and for unsafe members.
    """
    out_dir = Path(out_dir).resolve()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                target = (out_dir / m.name).resolve()
                if not (m.isfile() or m.isdir()):
                    raise DownloadError(f"archive member {m.name!r} is a link or device; refusing to extract")
                if os.path.isabs(m.name) or not (target == out_dir or out_dir in target.parents):
                    raise DownloadError(f"archive member {m.name!r} points outside the target folder")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(out_dir, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.11.4
                tar.extractall(out_dir, members=members)
    except DownloadError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DownloadError(f"archive {archive} is corrupt or incomplete ({type(exc).__name__}: {exc})") from exc


def _find_root(tmp: Path, manifest: dict[str, Any]) -> Path:
    name = manifest.get("archive_root")
    if name and (tmp / name).is_dir():
        return tmp / name
    if any((tmp / s).is_dir() for s in manifest["splits"]):
        return tmp
    subdirs = [p for p in tmp.iterdir() if p.is_dir()]
    if len(subdirs) == 1:
        return subdirs[0]
    raise DownloadError(f"the archive does not contain a '{name}/' folder with split folders")


def install_dataset(
    dest: str | os.PathLike,
    manifest: dict[str, Any],
    *,
    url: str | None = None,
    archive: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Make ``dest`` hold the verified dataset of ``manifest``; returns ``dest``.

    If ``dest`` already verifies (and not ``force``) nothing is done. Otherwise the archive — ``archive``
    when given, else a cached download in ``dest.parent/downloads/``, else downloaded from ``url`` — is
    extracted into a temporary folder, verified, and swapped into place. On any failure ``dest`` is left
    exactly as it was, and :class:`DownloadError` explains what to do.
    """
    dest = check_location(dest)
    url = url or manifest.get("url") or FACADES_URL
    if dest.is_dir() and not force:
        problems = check_dataset(dest, manifest, hashes=True)
        if not problems:
            print(f"{manifest.get('name', 'dataset')}: {dest} is already present and verified.")
            return dest
        print(f"{dest} does not verify ({len(problems)} problems, e.g. {problems[0]}); installing again.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    cache = dest.parent / "downloads" / Path(url.split("?")[0]).name
    downloaded = False
    if archive is not None:
        src = Path(archive).expanduser()
        if not src.is_file():
            raise DownloadError(f"archive {src} does not exist; give the path of the downloaded facades.tar.gz")
    elif cache.is_file() and not force:
        src = cache
        print(f"using the archive downloaded before: {cache}")
    else:
        try:
            print(f"downloading {url}")
            src = download_file(url, cache, timeout=timeout, progress=progress)
        except DownloadError as exc:
            raise DownloadError(f"{exc}\n\n{offline_help(url, cache, dest)}") from exc
        downloaded = True

    record = cache.with_name(cache.name + ".sha256")  # an archive's SHA-256 recorded at its first download
    known = manifest.get("archive_sha256") or (record.read_text().split()[0] if record.is_file() else None)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-new-", dir=dest.parent))
    try:
        try:
            digest = sha256_file(src) if (known or manifest.get("record_hash")) else None
            if known and digest != known:
                where = "the published hash" if manifest.get("archive_sha256") else f"the hash recorded in {record}"
                raise DownloadError(f"{src} has SHA-256 {digest}, not {known} ({where})")
            safe_extract(src, tmp)
            root = _find_root(tmp, manifest)
            problems = check_dataset(root, manifest, hashes=True)
            if problems:
                raise DownloadError(
                    f"{src} does not match the manifest ({len(problems)} problems):\n  "
                    + "\n  ".join(problems[:10])
                )
        except DownloadError as exc:
            if src == cache:  # a bad cached/downloaded archive must not be used again
                with contextlib.suppress(FileNotFoundError):
                    cache.unlink()
            again = "run the command again to download a fresh copy" if src == cache else "get a fresh archive"
            raise DownloadError(f"{exc}\nThe archive was rejected ({again}); {dest} was not changed.") from exc
        replace_dir(root, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if digest and not known:  # trust on first use: later downloads and re-installs must match it
        origin = f"downloaded from {url}" if downloaded else f"taken from {src}"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(f"{digest}  {cache.name}  recorded at first install ({origin}); not a published hash\n")
        print(f"{manifest.get('name', 'dataset')}: no published hash exists for this archive: UNVERIFIED; its SHA-256 "
              f"{digest[:16]}… is recorded in {record} and checked from now on")
    if manifest.get("files") or manifest.get("archive_sha256"):
        what = "downloaded, verified" if downloaded else "verified"
    else:
        what = ("downloaded" if downloaded else "unpacked") + (", checked against the recorded hash" if known else "")
    print(f"{manifest.get('name', 'dataset')}: {what} and installed in {dest}")
    return dest


def install_files(dest: str | os.PathLike, files: dict[str, tuple[str, str]], *, force: bool = False,
                  progress: bool = True, timeout: float = 60.0, name: str = "files") -> Path:
    """Make ``dest`` hold ``files`` = ``{relative path: (url, sha256)}``, each downloaded with pooch and checked.

    Already-verified folders are left alone (unless ``force``). The files are fetched into a temporary folder
    beside ``dest`` and swapped into place only when every one arrived with its SHA-256; on any failure ``dest``
    is unchanged and :class:`DownloadError` says what happened.
    """
    dest = check_location(dest)

    def problems(root: Path) -> list[str]:
        return [rel for rel, (_, digest) in files.items()
                if not (root / rel).is_file() or sha256_file(root / rel) != digest]

    if dest.is_dir() and not force and not problems(dest):
        print(f"{name}: {dest} is already present and verified.")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-new-", dir=dest.parent))
    try:
        for rel, (url, digest) in files.items():
            if progress:
                print(f"downloading {url}")
            download_file(url, tmp / rel, timeout=timeout, progress=progress, known_hash=digest)
        bad = problems(tmp)
        if bad:  # pragma: no cover - pooch checked each hash already
            raise DownloadError(f"{', '.join(bad)} did not verify")
        replace_dir(tmp, dest)
    except DownloadError as exc:
        raise DownloadError(f"{exc}\n{dest} was not changed.") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{name}: downloaded, SHA-256 verified and installed in {dest}")
    return dest


def download_facades(
    dest: str | os.PathLike | None = None,
    *,
    url: str | None = None,
    archive: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Download (or take ``archive``), verify and install facades into ``dest`` (default ``data_dir()/facades``)."""
    dest = Path(dest) if dest is not None else data_dir() / "facades"
    return install_dataset(dest, load_manifest(), url=url, archive=archive, force=force, progress=progress)
