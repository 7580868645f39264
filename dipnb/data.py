"""Datasets from the command line (``make data`` runs ``python -m dipnb.data download facades``).

    python -m dipnb.data list                       # what is where, and whether it verifies
    python -m dipnb.data download facades [--dest DIR] [--url URL] [--archive FILE] [--force]
    python -m dipnb.data verify [facades] [--dest DIR] [--splits train val]   # counts, sizes, sha256
    python -m dipnb.data synthetic [--dest DIR] [--size N] [--seed S]   # the offline synthetic facades

Exit status: 0 on success, 1 when a download or verification failed (the message says what to do).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dipnb.config import data_dir
from dipnb.pix2pix.data.download import DownloadError, check_facades, download_facades
from dipnb.pix2pix.data.registry import dataset_summary
from dipnb.pix2pix.data.synthetic import make_synthetic_facades
from dipnb.pix2pix.facades import FACADES_URL

DATASETS = ("facades",)


def _facades_dest(dest: str | None) -> Path:
    return Path(dest).expanduser() if dest else data_dir() / "facades"


def cmd_list(args: argparse.Namespace) -> int:
    root = data_dir()
    print(f"data folder: {root}  (set DIPNB_DATA to move it)")
    fac = root / "facades"
    if fac.is_dir():
        problems = check_facades(fac, hashes=False)
        state = "verified (counts, sizes)" if not problems else f"NOT verified: {problems[0]}"
        print(f"  facades            {fac}  {dataset_summary(fac)}  {state}")
    else:
        print(f"  facades            not downloaded  (make data  ←  {FACADES_URL})")
    env = os.environ.get("DIPNB_FACADES_DIR")
    if env:
        print(f"  DIPNB_FACADES_DIR  {env}  {dataset_summary(env) if Path(env).is_dir() else 'missing!'}")
    syn = root / "synthetic_facades"
    if syn.is_dir():
        print(f"  synthetic_facades  {syn}  {dataset_summary(syn)}")
    else:
        print("  synthetic_facades  not generated yet (created on first use, or: python -m dipnb.data synthetic)")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    try:
        download_facades(_facades_dest(args.dest), url=args.url, archive=args.archive, force=args.force,
                         progress=not args.quiet)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    dest = _facades_dest(args.dest)
    if not dest.is_dir():
        print(f"error: {dest} does not exist; run `python -m dipnb.data download facades` (make data).",
              file=sys.stderr)
        return 1
    problems = check_facades(dest, hashes=True, splits=args.splits)
    if problems:
        print(f"error: {dest} does not match the manifest ({len(problems)} problems):", file=sys.stderr)
        for p in problems[:20]:
            print(f"  {p}", file=sys.stderr)
        print("Re-install with: python -m dipnb.data download facades --force", file=sys.stderr)
        return 1
    print(f"{dest}: verified (file counts, sizes, sha256 of the files the manifest lists; "
          "the test split is checked by count only)")
    return 0


def cmd_synthetic(args: argparse.Namespace) -> int:
    dest = Path(args.dest).expanduser() if args.dest else data_dir() / "synthetic_facades"
    make_synthetic_facades(dest, size=args.size, seed=args.seed, verbose=True)
    print(dest)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dipnb.data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="show the datasets and where they are").set_defaults(func=cmd_list)

    d = sub.add_parser("download", help="download, verify and install a dataset")
    d.add_argument("name", choices=DATASETS)
    d.add_argument("--dest", help="install folder (default: <data dir>/facades)")
    d.add_argument("--url", help="archive URL (default: the official pix2pix URL)")
    d.add_argument("--archive", help="use this already downloaded facades.tar.gz instead of the network")
    d.add_argument("--force", action="store_true", help="install again even if the folder verifies")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_download)

    v = sub.add_parser("verify", help="check an installed dataset against its manifest")
    v.add_argument("name", nargs="?", default="facades", choices=DATASETS)
    v.add_argument("--dest", help="folder to check (default: <data dir>/facades)")
    v.add_argument("--splits", nargs="+", choices=("train", "val", "test"),
                   help="check only these splits (e.g. a copy without the test split)")
    v.set_defaults(func=cmd_verify)

    s = sub.add_parser("synthetic", help="generate the offline synthetic facades")
    s.add_argument("--dest", help="output folder (default: <data dir>/synthetic_facades)")
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_synthetic)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
