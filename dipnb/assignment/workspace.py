"""Nothing a student wrote is ever lost: generated folders know what they generated, workspaces are never rebuilt.

Every folder the assignment build writes (``dist/assignment/student/``, ``dist/assignment/release/``) gets a
manifest, :data:`MANIFEST`, in ``sha256sum`` format: one line per notebook it wrote. Before a command deletes or
rewrites such a folder it asks :func:`edited_notebooks`: a notebook whose bytes differ from the manifest, or a
notebook the build never wrote, is someone's work. The build then keeps a timestamped copy of it
(:func:`keep_edits`, under ``dist/assignment/kept/<time>/``) and says so; ``make clean`` stops and names the
files (``python dipnb/assignment/workspace.py check DIR...``, exit status 1).

The student's own folder (``make start``: ``work/`` or ``DEST=dir``) is never regenerated: :func:`start` copies
the student edition there, and a notebook that already exists there is left as it is, whatever it holds.

This module uses only the standard library, so that ``make clean`` can run it with any ``python3`` (no venv).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
from pathlib import Path

#: The manifest a build writes into every folder it generates.
MANIFEST = ".dipnb-generated.sha256"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def write_manifest(folder: Path) -> Path:
    """Record the notebooks now in ``folder`` as generated (``sha256sum -c`` can verify the file)."""
    folder = Path(folder)
    lines = [f"{_digest(p)}  {p.relative_to(folder).as_posix()}" for p in _notebooks(folder)]
    path = folder / MANIFEST
    path.write_text("\n".join(lines) + "\n")
    return path


def edited_notebooks(folder: Path) -> list[Path]:
    """Notebooks in ``folder`` that its build did not write as they are now (edited, or new); all of them when
    the folder has no manifest (nothing proves they were generated)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    manifest = folder / MANIFEST
    known: dict[str, str] = {}
    if manifest.is_file():
        for line in manifest.read_text().splitlines():
            digest, _, name = line.partition("  ")
            if name:
                known[name] = digest
    return [p for p in _notebooks(folder) if known.get(p.relative_to(folder).as_posix()) != _digest(p)]


def keep_edits(folder: Path, kept_root: Path, log=print) -> list[Path]:
    """Copy every edited notebook of ``folder`` into ``kept_root/<YYYYmmdd-HHMMSS>/<folder name>/`` (same
    relative paths) before the folder is rebuilt; returns the copies and logs one line naming them."""
    folder = Path(folder)
    edited = edited_notebooks(folder)
    if not edited:
        return []
    dest = Path(kept_root) / time.strftime("%Y%m%d-%H%M%S") / folder.name
    n = 0
    while dest.exists():  # two rebuilds in one second: never overwrite an earlier copy
        n += 1
        dest = Path(kept_root) / (time.strftime("%Y%m%d-%H%M%S") + f"-{n}") / folder.name
    copies = []
    for p in edited:
        target = dest / p.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)
        copies.append(target)
    log(f"kept {len(copies)} edited notebook(s) of {folder} before rebuilding it: "
        + ", ".join(p.relative_to(folder).as_posix() for p in edited) + f" → {dest}")
    return copies


def start(student: Path, dest: Path, log=print) -> tuple[list[str], list[str]]:
    """Copy the student edition into the workspace ``dest``; a notebook already there is never touched.

    The public tests (``tests/``, generated, not the student's) are refreshed. Returns (copied, kept) names."""
    student, dest = Path(student), Path(dest)
    if not any(student.glob("[0-9][0-9]_*.ipynb")):
        raise FileNotFoundError(f"no student edition in {student}: run `make assignment` first")
    dest.mkdir(parents=True, exist_ok=True)
    copied, kept = [], []
    for nb in sorted(student.glob("[0-9][0-9]_*.ipynb")):
        target = dest / nb.name
        if target.exists():
            kept.append(nb.name)
            continue
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copy2(nb, tmp)
        tmp.replace(target)  # atomic: an interrupted start leaves no half-written notebook
        copied.append(nb.name)
    if (student / "tests").is_dir():
        (dest / "tests").mkdir(exist_ok=True)
        for test in sorted((student / "tests").glob("*.py")):
            shutil.copy2(test, dest / "tests" / test.name)
    log(f"workspace {dest}: copied {', '.join(copied) or 'nothing'}"
        + (f"; kept as you left them: {', '.join(kept)}" if kept else ""))
    return copied, kept


def start_main(argv: list[str] | None = None) -> None:
    """``python -m dipnb.assignment start [--dest work]`` (``make start``)."""
    import argparse

    root = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(prog="python -m dipnb.assignment start",
                                 description="copy the student edition into your workspace (never overwrites)")
    ap.add_argument("--dest", type=Path, default=Path("work"), help="your workspace (default: work/)")
    ap.add_argument("--student", type=Path, default=root / "dist" / "assignment" / "student")
    args = ap.parse_args(argv)
    start(args.student, args.dest)
    print(f"open it: make lab NOTEBOOKS={args.dest}   · check an answer: the grader.check cell under it · "
          f"your report: make report NOTEBOOKS={args.dest}")


def main(argv: list[str] | None = None) -> int:
    """``python dipnb/assignment/workspace.py check DIR...``: exit 1 naming the edited notebooks of the DIRs."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] != "check":
        print("usage: python dipnb/assignment/workspace.py check DIR...", file=sys.stderr)
        return 2
    edited = [p for d in args[1:] for p in edited_notebooks(Path(d))]
    if edited:
        print("refusing to delete notebooks that a person edited (or that no build wrote):\n  "
              + "\n  ".join(map(str, edited)) + "\nmove them somewhere safe (e.g. into your workspace, work/), "
              "then run the command again", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
