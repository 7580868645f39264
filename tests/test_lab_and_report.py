"""`make lab` serves JupyterLab; `python -m dipnb.report` (`make report`) writes an offline report."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dipnb import report

from labserver import free_port  # noqa: E402  (tests/ is on sys.path under pytest's default import mode)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_make_lab_serves_jupyterlab_on_loopback() -> None:
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_TOKEN=token)
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"PORT={port}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        status, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5) as r:
                    status = r.status
                    page = r.read().decode()
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert status == 200, f"JupyterLab did not answer on 127.0.0.1:{port} (exit code {proc.poll()})"
        assert "JupyterLab" in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/notebooks?token={token}") as r:
            names = {c["name"] for c in json.load(r)["content"]}
        assert "00_getting_started.ipynb" in names
        # the start page is notebook 00: `/` redirects there
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?token={token}", timeout=10) as r:
            assert r.url.split("?")[0].endswith("/lab/tree/notebooks/00_getting_started.ipynb"), r.url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=2)


def test_notebook_title_and_intro() -> None:
    nb00 = ROOT / "notebooks" / "00_getting_started.ipynb"
    assert report.notebook_title(nb00) == "00 · Getting started"
    assert report.what_you_will_do(nb00).startswith("Check that your environment works")
    from dipnb.report.notebook_info import summary

    assert summary(ROOT / "notebooks" / "04_editing_gallery.ipynb").startswith("One linear system")  # ## Summary
    assert summary(ROOT / "notebooks" / "07_pix2pix.ipynb").startswith("$L_1$ alone")  # a **Summary.** paragraph


def _notebook(path: Path, sources: list[str], title: str = "A tiny notebook") -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        f"# {title}\n\n**What you will do.** Draw a line.\n\nIt is $y = 1 - x$.\n\n## Summary\n\nThe line goes down.")]
        + [nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _statuses(results) -> dict[str, str]:
    return {r.source.name: r.status for r in results}


def test_source_hash_ignores_the_report_builder(tmp_path: Path) -> None:
    from dipnb.report.execute import dipnb_source_hash

    pkg = tmp_path / "dipnb"
    (pkg / "report").mkdir(parents=True)
    (pkg / "core.py").write_text("x = 1\n")
    (pkg / "report" / "book.py").write_text("y = 1\n")
    before = dipnb_source_hash(pkg)
    (pkg / "report" / "book.py").write_text("y = 2\n")
    assert dipnb_source_hash(pkg) == before  # editing the report builder keeps the executed notebooks
    (pkg / "core.py").write_text("x = 2\n")
    assert dipnb_source_hash(pkg) != before  # a change in what notebooks import invalidates them


@pytest.mark.slow
def test_report_book_cache_and_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat

    good = _notebook(tmp_path / "01_good.ipynb", [
        "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]); plt.title('$x^2$')",
        "import ipywidgets\nipywidgets.IntSlider()",
        "print('hello from the report')",
    ])
    bad = _notebook(tmp_path / "02_bad.ipynb", ["assert 1 + 1 == 3, 'arithmetic is broken'"], title="A bad one")
    out = tmp_path / "report"
    assert report.main([str(good), str(bad), "--out", str(out), "--profile", "ci"]) == 1  # a failure fails it
    index = (out / "index.html").read_text()
    assert index.index("01_good.html") < index.index("02_bad.html")
    assert "A tiny notebook" in index and "Draw a line." in index and "FAILED" in index
    assert "Profile" in index and "ci" in index and "device" in index
    page = (out / "notebooks" / "01_good.html").read_text()
    assert "hello from the report" in page
    assert "IntSlider(value=0)" not in page  # the widget view (and its text stand-in) is dropped
    assert re.search(r'<img[^>]+src="\.\./_images/[^"]+\.png"', page), "figure not in the page"
    assert not re.search(r'(src|href)="https?://', page), "the page loads something from the network"
    assert "_static/mathjax/MathJax.js" in page and (out / "_static" / "mathjax" / "MathJax.js").is_file()
    assert "arithmetic is broken" in (out / "notebooks" / "02_bad.html").read_text()  # the error is on its page
    assert (out / "search.html").is_file() and (out / "searchindex.js").is_file()
    md = (out / "markdown" / "01_good.md").read_text()
    assert "hello from the report" in md and re.search(r"!\[[^]]*\]\(01_good_files/[^)]+\.png\)", md)
    hand_in = (out / "markdown" / "REPORT.md").read_text()
    for section in ("## 1. Implementation", "## 2. Results", "## 3. Analysis"):
        assert section in hand_in
    assert "REPORT_files/01_good.png" in hand_in and (out / "markdown" / "REPORT_files" / "01_good.png").is_file()
    assert "The line goes down." in hand_in

    # unchanged: nothing executes; the failed notebook is retried (failures are never cached)
    results = report.build_report([good, bad], out, "ci")
    assert _statuses(results) == {"01_good.ipynb": "cached", "02_bad.ipynb": "failed"}
    # prose edit: still nothing executes, and the page shows the new prose
    nb = nbformat.read(good, as_version=4)
    nb.cells[0].source += "\n\nA sentence added later."
    nbformat.write(nb, good)
    results = report.build_report([good], out, "ci")
    assert _statuses(results) == {"01_good.ipynb": "cached"}
    assert "A sentence added later." in (out / "notebooks" / "01_good.html").read_text()
    # code edit of one notebook: that one executes
    other = _notebook(tmp_path / "03_other.ipynb", ["print('other')"], title="Other")
    report.build_report([good, other], out, "ci")
    nb.cells[3].source = "print('hello again')"
    nbformat.write(nb, good)
    results = report.build_report([good, other], out, "ci")
    assert _statuses(results) == {"01_good.ipynb": "executed", "03_other.ipynb": "cached"}
    assert "hello again" in (out / "notebooks" / "01_good.html").read_text()
    # a different environment (here the seed; likewise the dipnb sources, profile, dataset, device): all execute
    monkeypatch.setenv("DIPNB_SEED", "1")
    results = report.build_report([good, other], out, "ci")
    assert _statuses(results) == {"01_good.ipynb": "executed", "03_other.ipynb": "executed"}
