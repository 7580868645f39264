"""Download, verify and install the facades dataset, never leaving half-written data in place.

The steps, each of which either completes or leaves the previous state untouched:

1. download the archive into a temporary ``*.part-*`` file next to its final place (progress bar), check the
   byte count against ``Content-Length``, then rename it to ``downloads/facades.tar.gz`` (atomic on one disk);
2. extract it into a temporary folder (refusing links, absolute paths and ``..``);
3. verify the extracted files against the manifest (file counts per split, sizes and sha256);
4. only then swap the folder into place (the previous folder is renamed away first and deleted last).

A corrupted or cut archive fails at step 2 or 3 and is deleted; the data already installed is not touched.

The manifest (``facades_manifest.json``, shipped in the package) lists, per split, the expected number of
files and, per file, its size and sha256. The sha256 of the 500 train/val files come from the copy this
project was built with; **the 106 test files' hashes were not available**, so for ``test/`` only the count is
checked (add ``"test/N.jpg": {"size": …, "sha256": …}`` entries to verify them too).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import socket
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from dipnb.pix2pix.data import list_images, replace_dir

FACADES_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz"
MANIFEST_FILE = "facades_manifest.json"
CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """The dataset could not be downloaded or verified; the message says what to do."""


# --------------------------------------------------------------------------------------------------
# Manifest and verification
# --------------------------------------------------------------------------------------------------
def load_manifest(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The facades manifest shipped with dipnb (or the JSON file at ``path``)."""
    if path is None:
        text = resources.files("dipnb.pix2pix").joinpath(MANIFEST_FILE).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    manifest = json.loads(text)
    if "splits" not in manifest or "files" not in manifest:
        raise ValueError(f"manifest {path or MANIFEST_FILE} lacks 'splits' or 'files'")
    return manifest


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
        if n != info["count"]:
            problems.append(f"{split}/ holds {n} images, expected {info['count']}")
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
        "  3. do nothing: the notebooks then use the offline synthetic facades (dipnb.pix2pix.synthetic).\n"
        f"Nothing was written to {dest}."
    )


def download_file(url: str, dest: str | os.PathLike, *, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` atomically: into a temporary file beside it, renamed only when complete.

    Raises :class:`DownloadError` (network errors, HTTP errors, a transfer cut before ``Content-Length``
    bytes arrived); the temporary file is removed in every case.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # parts left by a killed download are never resumed; remove those older than an hour
    for stale in dest.parent.glob(f".{dest.name}.part-*"):
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.part-", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            req = urllib.request.Request(url, headers={"User-Agent": "dipnb"})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                got = 0
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name,
                          disable=not progress, leave=False) as bar:
                    while True:
                        block = resp.read(CHUNK)
                        if not block:
                            break
                        out.write(block)
                        got += len(block)
                        bar.update(len(block))
            if total is not None and got != total:
                raise DownloadError(f"transfer of {url} was cut: got {got} of {total} bytes; run the command again")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
        return dest
    except DownloadError:
        raise
    except http.client.IncompleteRead as exc:
        raise DownloadError(f"transfer of {url} was cut after {len(exc.partial)} bytes; run the command again") from exc
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"the server answered HTTP {exc.code} ({exc.reason}) for {url}") from exc
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"network error while downloading {url}: {reason}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


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
    dest = Path(dest).expanduser().absolute()
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

    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-new-", dir=dest.parent))
    try:
        try:
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
    what = "downloaded, verified" if downloaded else "verified"
    print(f"{manifest.get('name', 'dataset')}: {what} and installed in {dest}")
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
    from dipnb.config import data_dir

    dest = Path(dest) if dest is not None else data_dir() / "facades"
    return install_dataset(dest, load_manifest(), url=url, archive=archive, force=force, progress=progress)
