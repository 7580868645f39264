"""Build the offline HTML report: execute every notebook and link the pages from ``index.html``.

``python -m dipnb.report [--out report] [--profile ci|cpu|gpu] [notebooks ...]`` (``make report``) runs
``jupyter nbconvert --execute --to html`` on each notebook, in order, from its own folder, then writes
``index.html`` listing the pages with their titles, run times and status. MathJax is copied next to the
pages (from the ``jupyter-server-mathjax`` package) so that the formulas render with no network; figures
are embedded in the pages as PNG data. Widgets cannot render in static HTML: every notebook shows a static
figure beside each interactive view. The exit status is 1 when any notebook failed, naming it.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dipnb.config import PROJECT_ROOT

#: MathJax 2 configuration shipped by jupyter-server-mathjax (TeX input, HTML-CSS output, AMS macros).
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"


@dataclass
class ReportEntry:
    notebook: Path
    title: str
    page: str  #: file name of the HTML page inside the report folder
    seconds: float
    ok: bool
    error: str = ""


def notebook_title(path: Path) -> str:
    """The first Markdown heading of a notebook, else its file name."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else source
        for line in text.splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return Path(path).stem


def default_notebooks() -> list[Path]:
    """Every ``notebooks/NN_*.ipynb`` of the project, in order."""
    if PROJECT_ROOT is None:
        raise FileNotFoundError("dipnb is not running from a checkout: pass the notebooks to report explicitly")
    return sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def copy_mathjax(out_dir: Path) -> str:
    """Copy MathJax into ``out_dir/mathjax`` (once) and return the URL the pages should load it from."""
    import jupyter_server_mathjax

    src = Path(jupyter_server_mathjax.__file__).parent / "static"
    dest = out_dir / "mathjax"
    if not (dest / "MathJax.js").is_file():
        tmp = out_dir / ".mathjax.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    return f"mathjax/MathJax.js?config={MATHJAX_CONFIG}"


def execute_to_html(notebook: Path, out_dir: Path, mathjax_url: str, timeout: int) -> ReportEntry:
    """Run ``jupyter nbconvert --execute --to html`` on one notebook; never raises on a cell error."""
    page = notebook.with_suffix(".html").name
    cmd = [
        sys.executable, "-m", "jupyter", "nbconvert", str(notebook),
        "--execute", "--to", "html",
        "--output-dir", str(out_dir),
        f"--ExecutePreprocessor.timeout={timeout}",
        f"--HTMLExporter.mathjax_url={mathjax_url}",
    ]
    start = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # keep the kernel's inline backend
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    ok = proc.returncode == 0 and (out_dir / page).is_file()
    error = "" if ok else (proc.stderr.strip().splitlines() or ["nbconvert failed"])[-1]
    if not ok:
        sys.stderr.write(proc.stderr[-4000:])
    return ReportEntry(notebook, notebook_title(notebook), page, seconds, ok, error)


def write_index(entries: list[ReportEntry], out_dir: Path, profile: str) -> Path:
    """Write ``index.html``: the notebooks in order with their titles, times and status."""
    rows = []
    for e in entries:
        status = "ok" if e.ok else f"FAILED: {html.escape(e.error)}"
        rows.append(
            f'<tr><td><a href="{html.escape(e.page)}">{html.escape(e.notebook.stem)}</a></td>'
            f"<td>{html.escape(e.title)}</td><td>{e.seconds:.1f} s</td>"
            f'<td class="{"ok" if e.ok else "bad"}">{status}</td></tr>'
        )
    body = "\n".join(rows)
    total = sum(e.seconds for e in entries)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dipnb report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ padding: .4rem .6rem; border-bottom: 1px solid #ddd; }}
th {{ text-align: left; }} .ok {{ color: #1a7f37; }} .bad {{ color: #cf222e; }}
</style></head><body>
<h1>dipnb — Poisson image editing and image-to-image translation with PyTorch</h1>
<p>Every notebook of the workbook, executed offline in the <code>{html.escape(profile)}</code> profile
on {time.strftime('%Y-%m-%d %H:%M')} ({total:.0f} s in all).</p>
<table><thead><tr><th>notebook</th><th>title</th><th>run time</th><th>status</th></tr></thead>
<tbody>
{body}
</tbody></table>
</body></html>
"""
    path = out_dir / "index.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path


def build_report(
    notebooks: list[Path] | None = None,
    out_dir: str | Path = "report",
    profile: str | None = None,
    timeout: int = 3600,
) -> list[ReportEntry]:
    """Execute ``notebooks`` (default: all of them) into ``out_dir`` and write the index."""
    from dipnb.config import get_profile

    notebooks = [Path(n).resolve() for n in (notebooks or default_notebooks())]
    missing = [str(n) for n in notebooks if not n.is_file()]
    if missing:
        raise FileNotFoundError(f"notebooks not found: {', '.join(missing)}")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if profile is not None:
        os.environ["DIPNB_PROFILE"] = get_profile(profile).name  # validates; the kernels inherit it
    profile_name = get_profile().name
    mathjax_url = copy_mathjax(out)
    entries = []
    for nb in notebooks:
        print(f"[report] executing {nb.name} ...", flush=True)
        entry = execute_to_html(nb, out, mathjax_url, timeout)
        print(f"[report] {nb.name}: {'ok' if entry.ok else 'FAILED'} in {entry.seconds:.1f} s", flush=True)
        entries.append(entry)
    write_index(entries, out, profile_name)
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dipnb.report", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all, in order)")
    parser.add_argument("--out", default="report", help="output folder (default: report/)")
    parser.add_argument("--profile", choices=["ci", "cpu", "gpu"], help="profile (default: DIPNB_PROFILE or auto)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    entries = build_report(args.notebooks or None, args.out, args.profile, args.timeout)
    failed = [e.notebook.name for e in entries if not e.ok]
    index = Path(args.out).resolve() / "index.html"
    if failed:
        print(f"[report] {len(failed)} notebook(s) failed: {', '.join(failed)} — see {index}", file=sys.stderr)
        return 1
    print(f"[report] wrote {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
