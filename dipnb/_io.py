"""Files written so that an interruption never leaves half of them: atomic writes, folder swaps, image listings.

* :func:`atomic_write` — write ``path`` through a temporary sibling ``.NAME.tmp-PID`` then ``os.replace``;
* :func:`clean_stray_temps` — remove the ``.NAME.tmp-PID`` files a killed writer left behind;
* :func:`replace_dir` — swap a finished folder into place (the old one is renamed aside, deleted last);
* :func:`list_images` — the image files of a folder in natural order (``2.jpg`` before ``10.jpg``);
* :func:`files_digest` — one sha256 over files' relative paths and bytes (the model and report caches' keys).

This module imports nothing from :mod:`dipnb` (it is the bottom layer, beside :mod:`dipnb.config`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["IMAGE_EXTENSIONS", "atomic_write", "clean_stray_temps", "files_digest", "list_images", "natural_key",
           "replace_dir"]

#: File name endings read as images.
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def temp_name(path: Path) -> Path:
    """The temporary sibling :func:`atomic_write` writes ``path`` through: ``.NAME.tmp-PID``."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` then ``os.replace(tmp, path)``: a reader sees the old file or the whole new one.

    The temporary file is removed if ``write`` fails. Returns ``path``.
    """
    path = Path(path)
    tmp = temp_name(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def clean_stray_temps(folder: str | os.PathLike, name: str) -> list[Path]:
    """Delete ``folder/.NAME.tmp-*`` files left by a writer that was killed mid-write; returns what was removed.

    Only files of processes that are no longer running (or of this process) are removed, so a concurrent
    writer is never disturbed.
    """
    removed = []
    for p in Path(folder).glob(f".{name}.tmp-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user holds that pid
        return True
    return True


def replace_dir(new: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Move the finished folder ``new`` to ``dest`` atomically, replacing what was there.

    The old ``dest`` is renamed aside first and deleted only once ``new`` is in place; if the final rename
    fails, the old folder is put back and the error re-raised — an interruption never leaves half a dataset.
    """
    new, dest = Path(new), Path(dest)
    old: Path | None = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}-old-", dir=dest.parent)) / dest.name
        os.rename(dest, old)
    try:
        os.rename(new, dest)
    except OSError:
        if old is not None and not dest.exists():  # put the previous data back
            os.rename(old, dest)
        raise
    if old is not None:
        shutil.rmtree(old.parent, ignore_errors=True)


def natural_key(path: Path) -> tuple:
    """Sort key that puts ``2.jpg`` before ``10.jpg``."""
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", Path(path).name))


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder`` (hidden files skipped), in natural order."""
    return sorted(
        (p for p in Path(folder).iterdir()
         if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=natural_key,
    )


def files_digest(root: str | os.PathLike, files: Iterable[str | os.PathLike]) -> str:
    """sha256 (hex) of ``files`` in the order given: each file's path relative to ``root`` (POSIX), NUL, its bytes,
    NUL. A renamed, added, removed or edited file changes it; where the files lie (``root``) does not."""
    root = Path(root)
    h = hashlib.sha256()
    for f in files:
        path = Path(f)
        path = path if path.is_absolute() else root / path
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()
