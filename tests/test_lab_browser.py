"""The first five minutes: `make lab` in a real browser (JupyterLab + Debian's Chromium through Playwright).

A copy of the committed workbook (plus the build clutter a working checkout has: ``dipnb.egg-info``,
``test-artifacts``, ``.pytest_cache``, ``__pycache__``; and what a student uses: ``report/``, ``data/``) is
served exactly as ``make lab`` serves it (``python -m dipnb.lab``). The test opens the URL the server prints,
as a newcomer would, and checks: the URL is notebook 00's; the active tab is notebook 00 on the project's
kernel; no announcement toast ("get notified about official Jupyter news?") shows; the file browser hides the
clutter and shows the workbook; "Restart Kernel and Run All Cells" runs notebook 00 to the end without an
error. Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest

from browser import (ARTIFACTS, chromium_page, kernel_ready, lab_env, require_chromium, running_lab, wait_kernel_ready,
                     wait_until)
from labserver import KernelExec, LabServer

ROOT = Path(__file__).resolve().parents[1]
START = "notebooks/00_getting_started.ipynb"
CLUTTER = ["dipnb.egg-info", "test-artifacts", ".pytest_cache", "__pycache__"]
VISIBLE = ["notebooks", "figures", "data", "report"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()


def committed_files() -> list[str]:
    """The files a fresh clone has (git ls-files), else the folders a workbook needs."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        return [f for f in out.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        return [str(p.relative_to(ROOT)) for d in ("notebooks", "figures", ".jupyter")
                for p in (ROOT / d).rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
def clone(workdir) -> Path:
    """A fresh-clone copy of the workbook with a used checkout's clutter; the real notebooks are never touched."""
    root = workdir / "dipnb"
    for rel in committed_files():
        src = ROOT / rel
        if src.is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / rel)
    for name in CLUTTER + ["report", "data"]:
        (root / name).mkdir(exist_ok=True)
        (root / name / "placeholder.txt").write_text("made by the test\n")
    return root


@pytest.fixture(scope="module")
def lab(clone, workdir):
    env = lab_env(DIPNB_PROFILE="ci", DIPNB_FIGURES=str(ARTIFACTS / "figures"))  # notebook 00 at the ci profile
    with running_lab(clone, workdir / "server", "make_lab.log", env, as_make_lab=True) as server:
        yield server


def printed_url(lab: LabServer) -> str:
    """The URL the server printed for the user (its masked token replaced by the real one)."""
    found = wait_until(lambda: re.findall(r"http://127\.0\.0\.1:\d+/\S*\?token=\S+", lab.log_tail(20000)), 60,
                       "the server to print its URL")
    return found[-1].replace("token=...", f"token={lab.token}")


def test_make_lab_first_screen(lab, clone, workdir):
    url = printed_url(lab)
    assert f"/lab/tree/{START}?" in url, f"the printed URL does not open notebook 00: {url}"

    # the server's own view: clutter hidden, the workbook listed
    names = {c["name"] for c in lab.api("/api/contents")["content"]}
    assert not names & set(CLUTTER), f"hidden from the file browser expected: {sorted(names & set(CLUTTER))}"
    assert set(VISIBLE) <= names, f"missing from the file browser: {sorted(set(VISIBLE) - names)}"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium_page(workdir / "chromium-profile") as page:
        page.goto(url)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180_000)

        wait_kernel_ready(page, lab, "notebook 00's kernel")
        time.sleep(5)  # the announcements plugin asks its question a moment after the app is restored
        page.screenshot(path=str(ARTIFACTS / "lab_first_screen.png"))

        tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
        assert tab.inner_text().strip() == Path(START).name, f"the active tab is {tab.all_inner_texts()}"
        toasts = page.locator(".Toastify__toast").all_inner_texts()
        assert not toasts, f"a notification toast is shown on the first screen: {toasts}"

        # the file browser, at the workbook's top level
        page.locator(".jp-BreadCrumbs-home").first.click()
        wait_until(lambda: "notebooks" in page.locator(".jp-DirListing-itemText").all_inner_texts(), 60,
                   "the file browser to list the top-level folder")
        listed = set(page.locator(".jp-DirListing-itemText").all_inner_texts())
        assert not listed & set(CLUTTER), f"the file browser lists build clutter: {sorted(listed & set(CLUTTER))}"
        assert set(VISIBLE) <= listed, f"the file browser misses {sorted(set(VISIBLE) - listed)}"

        # the kernel is the project's Python (the venv that runs these tests)
        kernel = KernelExec(lab, lab.kernel_id_for(Path(START).name))
        try:
            prefix = kernel.json("__import__('sys').prefix")
        finally:
            kernel.close()
        assert Path(prefix).resolve() == Path(sys.prefix).resolve(), f"kernel runs {prefix}, not {sys.prefix}"

        # Kernel → Restart Kernel and Run All Cells…, confirmed
        page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").first.click()
        page.locator(".lm-Menu-item[data-command='runmenu:restart-and-run-all']").click()
        page.locator(".jp-Dialog-button.jp-mod-accept").click()

        # Completion is read from the saved notebook, not from the page: JupyterLab renders only the cells in
        # view (its default windowing), so prompts scrolled away are not in the DOM to be read.
        def finished():
            page.locator(".lm-MenuBar-itemLabel", has_text="File").first.click()
            page.locator(".lm-Menu-item[data-command='docmanager:save']").click()
            try:
                saved = lab.api(f"/api/contents/{START}?content=1")
            except urllib.error.HTTPError as err:  # read while the save was writing it: unreadable, ask again
                if err.code == 400:
                    return False
                raise
            cells = [c for c in saved["content"]["cells"] if c["cell_type"] == "code"]
            errors = [f"{o['ename']}: {o['evalue']}" for c in cells for o in c.get("outputs", [])
                      if o.get("output_type") == "error"]
            if errors:
                raise AssertionError("a cell of notebook 00 failed: " + "; ".join(errors))
            counts = [c.get("execution_count") for c in cells]
            return counts == list(range(1, len(cells) + 1)) and kernel_ready(page, lab)

        t0 = time.monotonic()
        try:
            wait_until(finished, 300, "Restart Kernel and Run All to run every cell of notebook 00, in order",
                       interval=2.0)
        except AssertionError:
            page.screenshot(path=str(ARTIFACTS / "lab_run_all_failed.png"))
            raise
        page.screenshot(path=str(ARTIFACTS / "lab_after_run_all.png"), full_page=True)
        (ARTIFACTS / "lab_first_screen.json").write_text(json.dumps(
            {"url_path": url.split("?")[0].split(str(lab.port), 1)[1], "active_tab": Path(START).name,
             "toasts": toasts, "listed": sorted(listed), "run_all_s": round(time.monotonic() - t0, 1)}, indent=2))
