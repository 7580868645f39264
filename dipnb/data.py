"""Datasets from the command line (``make data`` runs ``python -m dipnb.data download facades course_poisson``;
``make data DATASET=name`` downloads one).

    python -m dipnb.data list                       # what is where, and whether it verifies
    python -m dipnb.data download NAME [NAME ...] [--dest DIR] [--url URL] [--archive FILE] [--force]
    python -m dipnb.data verify [NAME] [--dest DIR] [--splits train val]   # counts, sizes, sha256
    python -m dipnb.data synthetic [--dest DIR] [--size N] [--seed S]   # the offline synthetic facades

NAME: a pix2pix dataset (facades, cityscapes, maps, edges2shoes, edges2handbags, night2day) or course_poisson
(the course template's example pairs for Poisson blending: monolisa, water).

Exit status: 0 on success, 1 when a download or verification failed (the message says what to do).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dipnb.config import data_dir
from dipnb.pix2pix.datasets.download import DownloadError, check_facades, check_location, install_files
from dipnb.pix2pix.datasets.registry import PIX2PIX_DATASETS, dataset_summary, download_dataset
from dipnb.pix2pix.datasets.synthetic import make_synthetic_facades
from dipnb.poisson.examples import (COURSE_COMMIT, COURSE_PAIRS, COURSE_POISSON_URL, check_course_poisson)

COURSE = "course_poisson"
DATASETS = (*PIX2PIX_DATASETS, COURSE)


def _dest(name: str, dest: str | None) -> Path:
    return Path(dest).expanduser() if dest else data_dir() / name


def download_course_poisson(dest: str | os.PathLike | None = None, *, url: str | None = None, force: bool = False,
                            progress: bool = True) -> Path:
    """The template's ``data_poisson`` pairs (monolisa, water) into ``dest`` (default ``data_dir()/course_poisson``),
    each raw file fetched from the template's repository at commit e95e713 and checked by SHA-256."""
    dest = check_location(dest if dest is not None else data_dir() / COURSE)
    files = {rel: (u, pair.files()[rel]) for pair in COURSE_PAIRS.values()
             for rel, u in pair.urls(url or COURSE_POISSON_URL).items()}
    try:
        return install_files(dest, files, force=force, progress=progress, name=f"{COURSE} (template {COURSE_COMMIT})")
    except DownloadError as exc:
        raise DownloadError(
            f"{exc}\nOffline? Copy the template's data_poisson/monolisa and data_poisson/water folders into {dest} "
            "(or set DIPNB_COURSE_POISSON_DIR to a folder holding them); without them notebooks 02–04 use the "
            "offline photos.") from exc


def cmd_list(args: argparse.Namespace) -> int:
    root = data_dir()
    print(f"data folder: {root}  (set DIPNB_DATA to move it)")
    for name, info in PIX2PIX_DATASETS.items():
        folder = root / name
        if folder.is_dir():
            if name == "facades":
                problems = check_facades(folder, hashes=False)
                state = "verified (counts, sizes)" if not problems else f"NOT verified: {problems[0]}"
            else:
                state = "unverified (no published hash; archive hash recorded at download)"
            print(f"  {name:18s} {folder}  {dataset_summary(folder)}  {state}")
        else:
            print(f"  {name:18s} not downloaded  ({info.task}, ≈ {info.archive_mb} MB: make data DATASET={name})")
    env = os.environ.get("DIPNB_FACADES_DIR")
    if env:
        print(f"  DIPNB_FACADES_DIR  {env}  {dataset_summary(env) if Path(env).is_dir() else 'missing!'}")
    syn = root / "synthetic_facades"
    if syn.is_dir():
        print(f"  synthetic_facades  {syn}  {dataset_summary(syn)}")
    else:
        print("  synthetic_facades  not generated yet (created on first use, or: python -m dipnb.data synthetic)")
    course = root / COURSE
    if course.is_dir():
        problems = check_course_poisson(course)
        print(f"  {COURSE:18s} {course}  {'verified (sha256)' if not problems else 'NOT verified: ' + problems[0]}")
    else:
        print(f"  {COURSE:18s} not downloaded  (the template's monolisa and water pairs: make data)")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    if len(args.names) > 1 and (args.dest or args.url or args.archive):
        print("error: --dest, --url and --archive apply to one dataset; name one.", file=sys.stderr)
        return 2
    rc = 0
    for name in args.names:
        try:
            if name == COURSE:
                if args.archive:
                    raise DownloadError(f"{COURSE} is fetched file by file; --archive does not apply to it")
                download_course_poisson(args.dest, url=args.url, force=args.force, progress=not args.quiet)
            else:
                download_dataset(name, args.dest, url=args.url, archive=args.archive, force=args.force,
                                 progress=not args.quiet)
        except DownloadError as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            rc = 1
    return rc


def cmd_verify(args: argparse.Namespace) -> int:
    dest = _dest(args.name, args.dest)
    if not dest.is_dir():
        print(f"error: {dest} does not exist; run `python -m dipnb.data download {args.name}` "
              f"(make data{'' if args.name in ('facades', COURSE) else ' DATASET=' + args.name}).", file=sys.stderr)
        return 1
    if args.name == COURSE:
        problems = check_course_poisson(dest)
    elif args.name == "facades":
        problems = check_facades(dest, hashes=True, splits=args.splits)
    else:
        found, documented = dataset_summary(dest), PIX2PIX_DATASETS[args.name].counts
        problems = [f"{s}/ holds {found.get(s, 0)} images, documented {n}" for s, n in documented.items()
                    if (args.splits is None or s in args.splits) and found.get(s, 0) != n]
        if not problems:
            print(f"{dest}: image counts match the documented ones; UNVERIFIED otherwise (no published hashes)")
            return 0
    if problems:
        print(f"error: {dest} does not match the manifest ({len(problems)} problems):", file=sys.stderr)
        for p in problems[:20]:
            print(f"  {p}", file=sys.stderr)
        print(f"Re-install with: python -m dipnb.data download {args.name} --force", file=sys.stderr)
        return 1
    what = ("sha256 of every file" if args.name == COURSE else
            "file counts, sizes, sha256 of the files the manifest lists; the test split is checked by count only")
    print(f"{dest}: verified ({what})")
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

    d = sub.add_parser("download", help="download, verify and install datasets")
    d.add_argument("names", nargs="+", choices=DATASETS, metavar="NAME",
                   help=f"one or more of: {', '.join(DATASETS)}")
    d.add_argument("--dest", help="install folder (default: <data dir>/NAME)")
    d.add_argument("--url", help="archive URL (course_poisson: the base URL of its <pair>/<file> files)")
    d.add_argument("--archive", help="use this already downloaded NAME.tar.gz instead of the network")
    d.add_argument("--force", action="store_true", help="install again even if the folder verifies")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_download)

    v = sub.add_parser("verify", help="check an installed dataset against its manifest")
    v.add_argument("name", nargs="?", default="facades", choices=DATASETS)
    v.add_argument("--dest", help="folder to check (default: <data dir>/NAME)")
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
