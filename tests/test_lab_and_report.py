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


def test_notebook_title(tmp_path: Path) -> None:
    assert report.notebook_title(ROOT / "notebooks" / "00_getting_started.ipynb") == "00 · Getting started"


def _notebook(path: Path, sources: list[str]) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A tiny notebook")]
                                  + [nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_report_pages_index_and_offline_assets(tmp_path: Path) -> None:
    good = _notebook(tmp_path / "01_good.ipynb", [
        "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]); plt.title('$x^2$')",
        "print('hello from the report')",
    ])
    bad = _notebook(tmp_path / "02_bad.ipynb", ["assert 1 + 1 == 3, 'arithmetic is broken'"])
    out = tmp_path / "report"
    code = report.main([str(good), str(bad), "--out", str(out), "--profile", "ci"])
    assert code == 1  # the failing notebook fails the report
    index = (out / "index.html").read_text()
    assert index.index("01_good.html") < index.index("02_bad.html")
    assert "A tiny notebook" in index and "FAILED" in index
    page = (out / "01_good.html").read_text()
    assert "hello from the report" in page
    assert re.search(r'<img[^>]+src="data:image/png;base64,', page), "figure not embedded"
    assert not re.search(r'<img[^>]+src="https?://', page)
    assert 'src="mathjax/MathJax.js' in page and (out / "mathjax" / "MathJax.js").is_file()
    assert "arithmetic is broken" not in page
