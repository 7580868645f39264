"""The built report (ci profile) in a real browser: landing page, previous/next, MathJax, images, search.

Debian's Chromium driven by Playwright (see tests/browser.py); the report is built once for the module by
``python -m dipnb.report --profile ci`` into ``test-artifacts/report-ci`` and served over HTTP on loopback.
Screenshots are kept in ``test-artifacts/browser/``.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser import chromium_page, require_chromium, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """Build the ci-profile report and serve it; yields the base URL."""
    out = ARTIFACTS / "report-ci"
    env = dict(os.environ, DIPNB_PROFILE="ci", DIPNB_THREADS="1", OMP_NUM_THREADS="1",
               DIPNB_FIGURES=str(ARTIFACTS / "figures"))
    proc = subprocess.run([sys.executable, "-m", "dipnb.report", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, f"make report (ci) failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


#: JavaScript: the page's visible prose with code, scripts and typeset math removed.
PROSE_JS = """() => {
  const main = document.querySelector('main') || document.body;
  const copy = main.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, .MathJax, .MathJax_Display, .MathJax_Preview, mjx-container,'
                        + ' .cell_output').forEach(e => e.remove());
  return copy.innerText;
}"""

#: JavaScript: [src, naturalWidth] of every <img> of the page, each decoded afresh (lazy images included).
IMAGES_JS = """() => Promise.all([...document.images].map(img => {
  const probe = new Image(); probe.src = img.currentSrc || img.src;
  return probe.decode().then(() => [img.src, probe.naturalWidth]).catch(() => [img.src, 0]);
}))"""

#: JavaScript: resolves once MathJax 2 has typeset the page (true), or false when the page loads no MathJax.
MATHJAX_DONE_JS = """() => new Promise(resolve => {
  if (!document.querySelector('script[src*="MathJax.js"]')) { resolve(false); return; }
  const wait = () => (window.MathJax && MathJax.Hub && MathJax.Hub.Queue)
      ? MathJax.Hub.Queue(() => resolve(true)) : setTimeout(wait, 100);
  wait();
})"""


def _check_page(page, url: str) -> None:
    page.goto(url)
    typeset = page.evaluate(MATHJAX_DONE_JS)
    prose = page.evaluate(PROSE_JS)
    for raw in ("$$", "\\(", "\\[", "\\frac", "\\mathbf", "\\Delta", "\\operatorname", "\\Omega"):
        assert raw not in prose, f"{url}: raw TeX {raw!r} visible after MathJax ran (typeset={typeset})"
    inline = re.findall(r"\$[^$\n]{1,120}\$", prose)
    assert not inline, f"{url}: raw $…$ TeX visible after MathJax ran: {inline[:5]}"
    images = page.evaluate(IMAGES_JS)
    broken = [src for src, width in images if not width]
    assert not broken, f"{url}: images that do not load: {broken}"


def test_report_in_a_browser(site: str, tmp_path: Path) -> None:
    shots = ARTIFACTS / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    with chromium_page(tmp_path / "chromium") as page:
        failed_requests: list[str] = []  # a missing file (404) or a refused request; not those cut by navigation
        # (MathJax 2's @font-face rules for native MathML name TeX .otf fonts that jupyter-server-mathjax does not
        # ship; the HTML-CSS output typesets with its STIX-Web fonts, so those probes are not failures. Favicon:
        # the report has none, and browsers ask for one.)
        allowed = ("/_static/mathjax/fonts/HTML-CSS/TeX/otf/", "/favicon.ico")
        page.on("response", lambda r: failed_requests.append(f"{r.status} {r.url}")
                if r.status >= 400 and not any(a in r.url for a in allowed) else None)
        page.on("requestfailed", lambda req: failed_requests.append(f"{req.failure} {req.url}")
                if req.failure != "net::ERR_ABORTED" and req.url != "about:blank" else None)
        external: list[str] = []
        page.on("request", lambda req: external.append(req.url)
                if not req.url.startswith((site, "about:", "data:")) else None)

        # the landing page lists every notebook, with its "what you will do" line and a thumbnail
        page.goto(f"{site}/index.html")
        for nb in NOTEBOOKS:
            assert page.locator(f'.dipnb-card a[href="notebooks/{nb.stem}.html"]').count() >= 1, nb.name
        cards = page.locator(".dipnb-card")
        assert cards.count() == len(NOTEBOOKS)
        assert "Check that your environment works" in cards.nth(0).inner_text()
        meta = page.locator(".dipnb-meta").inner_text()
        assert "Profile" in meta and "ci" in meta and "dataset" in meta and "device" in meta
        nav = page.locator("nav.bd-docs-nav a.reference").all_inner_texts()
        assert len(nav) == len(NOTEBOOKS), nav
        page.screenshot(path=str(shots / "report_landing.png"), full_page=False)
        _check_page(page, f"{site}/index.html")

        # next/previous walk the notebooks in order, both ways
        page.goto(f"{site}/notebooks/{NOTEBOOKS[0].stem}.html")
        visited = [page.url]
        for _ in NOTEBOOKS[1:]:
            page.locator("a.right-next").first.click()
            page.wait_for_load_state()
            visited.append(page.url)
        assert [u.rsplit("/", 1)[-1] for u in visited] == [f"{nb.stem}.html" for nb in NOTEBOOKS]
        assert page.locator("a.right-next").count() == 0  # the last page has no "next"
        page.locator("a.left-prev").first.click()
        page.wait_for_load_state()
        assert page.url.endswith(f"{NOTEBOOKS[-2].stem}.html")

        # every page: formulas typeset (no raw TeX), every image loads
        for nb in NOTEBOOKS:
            _check_page(page, f"{site}/notebooks/{nb.stem}.html")
            if nb.stem.startswith("04"):
                assert page.locator("#pst-page-navigation-heading-2, .bd-toc").count() >= 1  # in-page contents
                page.screenshot(path=str(shots / "report_page_04.png"), full_page=False)

        # full-text search finds a word from notebook 04
        page.goto(f"{site}/search.html?q=illumination")
        results = wait_until(lambda: page.locator("#search-results li a").count(), 60, "search results")
        hrefs = [page.locator("#search-results li a").nth(i).get_attribute("href") for i in range(results)]
        assert any("04_editing_gallery" in (h or "") for h in hrefs), hrefs
        page.screenshot(path=str(shots / "report_search.png"), full_page=False)

        assert not failed_requests, f"requests that failed: {failed_requests[:10]}"
        assert not external, f"requests outside the report (the report must work offline): {external[:10]}"
