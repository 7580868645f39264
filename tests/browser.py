"""Shared pieces of the browser tests: Debian's Chromium driven by Playwright (never a downloaded browser), the
throw-away JupyterLab they drive, and the waits for its readiness. (Each test module's temporary folder is the
``workdir`` fixture of ``tests/conftest.py``.)"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labserver import LabServer

#: screenshots, timings and the servers' logs of the browser tests
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("DIPNB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-dev-shm-usage"]  # containers often have a tiny /dev/shm


def require_chromium() -> Any:
    """Skip the calling test module unless Debian's Chromium and Playwright are here; returns playwright.sync_api."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's Chromium with `apt-get install chromium` to run the "
                    "browser tests (Playwright is used with executable_path and never downloads a browser)",
                    allow_module_level=True)
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]'")


def wait_until(fn, timeout: float, what: str, interval: float = 0.25):
    """Poll ``fn()`` until it returns a truthy value; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last value: {last!r})")


@contextlib.contextmanager
def chromium_page(profile_dir: Path, width: int = 1600, height: int = 1000) -> Iterator[Any]:
    """A Playwright page in a fresh headless Chromium profile (closed on exit)."""
    sync_api = require_chromium()
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile_dir), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": width, "height": height}, device_scale_factor=1)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(120_000)
            yield page
        finally:
            context.close()


def lab_env(**extra: str) -> dict[str, str]:
    """The environment of a browser test's server and kernels: the ci profile (unless ``DIPNB_PROFILE`` names
    another), one thread; ``extra`` adds or overrides variables."""
    return {"DIPNB_PROFILE": os.environ.get("DIPNB_PROFILE", "ci"), "DIPNB_THREADS": "1", "OMP_NUM_THREADS": "1",
            **extra}


@contextlib.contextmanager
def running_lab(root: Path, workdir: Path, log_name: str, env: dict[str, str] | None = None,
                **kwargs: Any) -> Iterator[LabServer]:
    """A started :class:`~labserver.LabServer` serving ``root`` (its own files under ``workdir``; ``kwargs`` go to
    it), stopped on exit, its log kept as ``ARTIFACTS/log_name``."""
    server = LabServer(root, workdir, env=lab_env() if env is None else env, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log_path, ARTIFACTS / log_name)


def kernel_ready(page: Any, lab: Any) -> bool:
    """The server sees only idle kernels, each with a connection, and the page's status bar reads "… | Idle"."""
    kernels = lab.api("/api/kernels")
    status = " ".join(page.locator(".jp-StatusBar-Widget").all_inner_texts())
    return bool(kernels) and all(k["execution_state"] == "idle" and k["connections"] >= 1 for k in kernels) \
        and "| Idle" in status


def wait_kernel_ready(page: Any, lab: Any, what: str = "the notebook's kernel") -> None:
    """Wait until the kernel is started AND this page is connected to it (else Run All or a click races it): the
    server sees only idle kernels with a connection, and the status bar reads "<kernel> | Idle"."""

    wait_until(lambda: kernel_ready(page, lab), 240, f"{what} to be idle and connected", interval=0.5)


def open_notebook(page: Any, lab: Any, name: str) -> None:
    """Open notebook ``name`` of ``lab`` in ``page`` and wait until its kernel is ready."""
    page.goto(lab.url(f"/lab/tree/{name}"))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180_000)
    wait_kernel_ready(page, lab)


def run_all(page: Any) -> None:
    """JupyterLab's Run ▸ Run All Cells, through the menu as a person would."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()


def open_notebook_and_run_all(page: Any, lab: Any, name: str, timeout: float = 300) -> None:
    """Open notebook ``name`` of ``lab`` in ``page``, wait until its kernel is idle and connected (else Run All or
    a click races it), run all cells and wait until every code cell is numbered; a traceback fails at once."""
    open_notebook(page, lab, name)
    run_all(page)

    def finished():
        failed = [t for t in page.locator(".jp-OutputArea-output").all_inner_texts() if "Traceback" in t]
        if failed:
            raise AssertionError("a cell failed during Run All:\n" + "\n".join(failed)[-3000:])
        prompts = [p.strip().strip("[]:").strip() for p in page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()]
        return prompts and all(p.isdigit() for p in prompts)

    wait_until(finished, timeout, "Run All to finish (every code cell numbered)", interval=1.0)
