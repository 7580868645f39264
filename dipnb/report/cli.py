"""``python -m dipnb.report`` (``make report``): execute the notebooks (cached), build the book, write the Markdown.

``python -m dipnb.report [--out report] [--profile ci|cpu|gpu] [notebooks ...]``

1. each notebook is taken from the execution cache when its code is unchanged, else executed
   (:mod:`dipnb.report.execute`);
2. the book is written and built with Sphinx (:mod:`dipnb.report.book`): ``<out>/index.html`` is its landing page;
3. ``<out>/markdown/`` receives one Markdown file per notebook and ``REPORT.md`` (:mod:`dipnb.report.markdown`).

The exit status is 1 when any notebook failed (its page shows the error; the others are built all the same).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from dipnb.config import PROJECT_ROOT, get_profile
from dipnb.report.book import BookPaths, run_sphinx, write_sources
from dipnb.report.execute import Executed, environment, execute_or_load, open_cache, without_widgets
from dipnb.report.markdown import write_markdown

#: Where the landing page points for the paper-scale pix2pix results (commands to reproduce them).
FULL_RESULTS = ("{doc}`Notebook 07 <notebooks/07_pix2pix>`, section 7, holds the ablation table measured on the "
                "real facades (64², with the commands that reproduce it); the README's section *pix2pix at full "
                "size* gives the commands for the paper's settings.")


def default_notebooks() -> list[Path]:
    """Every ``notebooks/NN_*.ipynb`` of the project, in order."""
    if PROJECT_ROOT is None:
        raise FileNotFoundError("dipnb is not running from a checkout: pass the notebooks to report explicitly")
    return sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def build_report(
    notebooks: list[Path] | None = None,
    out_dir: str | Path = "report",
    profile: str | None = None,
    timeout: int = 3600,
) -> list[Executed]:
    """Execute (or load from the cache) ``notebooks`` — default all — and build the book and Markdown in ``out_dir``."""
    notebooks = [Path(n).resolve() for n in (notebooks or default_notebooks())]
    missing = [str(n) for n in notebooks if not n.is_file()]
    if missing:
        raise FileNotFoundError(f"notebooks not found: {', '.join(missing)}")
    if len({n.name for n in notebooks}) != len(notebooks):
        raise ValueError("two notebooks share a file name; the report names its pages after them")
    if profile is not None:
        os.environ["DIPNB_PROFILE"] = get_profile(profile).name  # validates; the kernels inherit it
    out = Path(out_dir).resolve()
    paths = BookPaths.under(out)
    paths.book.mkdir(parents=True, exist_ok=True)
    env = environment(get_profile().name)
    cache = open_cache(paths.book / "cache", env)
    print(f"[report] profile {env.profile} · {env.dataset} · device {env.device} · cache {env.key}", flush=True)
    results = []
    for nb in notebooks:
        result = execute_or_load(nb, cache, timeout)
        result.nb = without_widgets(result.nb)  # static pages and Markdown cannot show widget views
        # a cell meant for the student edition only (00's "Your tasks" for students) is not part of the solutions' book
        result.nb.cells = [c for c in result.nb.cells if c.metadata.get("dipnb", {}).get("role") != "student-only"]
        verb = {"cached": "unchanged, from the cache", "executed": "executed", "failed": "FAILED"}[result.status]
        print(f"[report] {nb.name}: {verb} in {result.seconds:.1f} s"
              + (f" — {result.error}" if result.error else ""), flush=True)
        results.append(result)
    start = time.perf_counter()
    write_sources(paths, results, env, FULL_RESULTS if any(n.stem == "07_pix2pix" for n in notebooks) else "")
    run_sphinx(paths)
    write_markdown(results, out, env, time.strftime("%Y-%m-%d %H:%M %Z"))
    print(f"[report] book and Markdown written in {time.perf_counter() - start:.1f} s", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dipnb.report", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all, in order)")
    parser.add_argument("--out", default="report", help="output folder (default: report/)")
    parser.add_argument("--profile", choices=["ci", "cpu", "gpu"], help="profile (default: DIPNB_PROFILE or auto)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    if args.timeout < 1:
        parser.error("--timeout must be at least 1 second")
    try:
        results = build_report(args.notebooks or None, args.out, args.profile, args.timeout)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"[report] error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    failed = [r.source.name for r in results if not r.ok]
    if failed:
        print(f"[report] {len(failed)} notebook(s) failed: {', '.join(failed)} — see {out / 'index.html'}",
              file=sys.stderr)
        return 1
    print(f"[report] wrote {out / 'index.html'} and {out / 'markdown' / 'REPORT.md'}")
    return 0


__all__ = ["FULL_RESULTS", "build_report", "default_notebooks", "main"]
