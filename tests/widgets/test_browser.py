"""Notebook 02 in a real browser: JupyterLab + Debian's Chromium driven by Playwright (marker ``browser``).

Runs all cells of a temporary copy of ``notebooks/02_polygon_drawing.ipynb``, then clicks vertices on the source
canvas, closes the polygon, drags it on the target canvas and presses Blend, and checks on the *kernel* side
(through a second client on the kernel's websocket) that what the browser did arrived exactly. Then saves the
copy, reloads the page and checks that the canvases are drawn again. Artifacts (screenshots, timings) go to
``test-artifacts/browser/``.

Needs ``/usr/bin/chromium`` (Debian: ``apt-get install chromium``); Playwright never downloads a browser here.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from browser import ARTIFACTS, chromium_page, lab_env, open_notebook, require_chromium, run_all, running_lab, wait_until
from labserver import KernelExec

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "02_polygon_drawing.ipynb"
pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()

# JavaScript run in the page -------------------------------------------------------------------------
#: a checksum of a canvas' pixels (the MultiCanvas view is one <canvas> with the layers composited)
JS_CANVAS_SUM = """(el) => {
  const d = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
  let s = 0, n = 0;
  for (let i = 0; i < d.length; i += 4) { s = (s + d[i] * 3 + d[i + 1] * 5 + d[i + 2] * 7 + d[i + 3]) % 1000000007;
                                          if (d[i + 3] > 0) n++; }
  return [s, n];
}"""
#: arm a watcher: time from the next mousedown on the canvas to the first change of its pixels (ms)
JS_ARM_LATENCY = """(el) => {
  const sum = () => { const d = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
                      let s = 0; for (let i = 0; i < d.length; i += 4) s = (s + d[i] * 3 + d[i + 1] * 5 + d[i + 2] * 7) % 1000000007;
                      return s; };
  const base = sum();
  let t0 = null;
  el.addEventListener('mousedown', () => { t0 = performance.now(); }, {capture: true, once: true});
  window.__dipnbLatency = new Promise((resolve) => {
    const start = performance.now();
    const tick = () => {
      if (t0 !== null && sum() !== base) { resolve(performance.now() - t0); return; }
      if (performance.now() - start > 60000) { resolve(-1); return; }
      setTimeout(tick, 2);
    };
    tick();
  });
}"""


@pytest.fixture(scope="module")
def lab(workdir):
    root = workdir / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)  # the committed notebook is never touched
    env = lab_env(DIPNB_FIGURES=str(ARTIFACTS / "figures"))
    with running_lab(root, workdir / "lab", "jupyterlab.log", env) as server:
        yield server


@pytest.fixture(scope="module")
def page(workdir):
    with chromium_page(workdir / "chromium-profile") as pg:
        yield pg


def run_all_and_wait(page) -> None:
    """Run ▸ Run All, then wait until every code cell is numbered (a traceback fails at once)."""
    run_all(page)

    def finished():
        prompts = [p.strip().strip("[]:").strip() for p in
                   page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()]
        if not prompts or "*" in prompts:
            return False
        if all(p.isdigit() for p in prompts):
            return True
        failed = [t for t in page.locator(".jp-OutputArea-output").all_inner_texts() if "Traceback" in t]
        if failed:
            raise AssertionError("a cell failed during Run All:\n" + "\n".join(failed)[-3000:])
        return False

    wait_until(finished, 600, "Run All to finish (every code cell numbered)", interval=1.0)


def canvas_pixels(locator) -> np.ndarray:
    """Screenshot of an element as an H×W×3 uint8 array."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB"))


def test_draw_place_blend_and_reload(lab, page):
    timings: dict[str, float] = {}
    t_start = time.monotonic()
    open_notebook(page, lab, NOTEBOOK.name)
    timings["open_notebook_s"] = time.monotonic() - t_start
    t0 = time.monotonic()
    run_all_and_wait(page)
    timings["run_all_s"] = time.monotonic() - t0

    kernel = KernelExec(lab, lab.kernel_id_for(NOTEBOOK.name))
    try:
        info = kernel.json("dict(src=list(app.state.source_shape), tgt=list(app.state.target_shape), "
                           "closed=app.state.closed)")
        assert info["closed"], "after Run All the default polygon should be set"
        hs, ws = info["src"]
        ht, wt = info["tgt"]

        app_el = page.locator(".dipnb-blend-app").first
        app_el.scroll_into_view_if_needed()
        src = page.locator("canvas.dipnb-source-canvas").first
        tgt = page.locator("canvas.dipnb-target-canvas").first
        wait_until(lambda: src.evaluate(JS_CANVAS_SUM)[1] > 0, 60, "the source canvas to be drawn")

        # ---- reset, then click 5 vertices ------------------------------------------------------------
        app_el.locator("button", has_text="Reset").click()
        wait_until(lambda: kernel.json("len(app.state.points)") == 0, 60, "Reset to reach the kernel")
        src.scroll_into_view_if_needed()
        box = src.bounding_box()
        fractions = [(0.21, 0.62), (0.47, 0.58), (0.55, 0.81), (0.37, 0.93), (0.18, 0.83)]
        clicks = [(box["x"] + fx * box["width"] + 0.37, box["y"] + fy * box["height"] + 0.21) for fx, fy in fractions]
        latencies = []
        for k, (px, py) in enumerate(clicks, start=1):
            src.evaluate(JS_ARM_LATENCY)
            page.mouse.click(px, py)
            latencies.append(page.evaluate("window.__dipnbLatency"))
            wait_until(lambda k=k: kernel.json("len(app.state.points)") == k, 60, f"vertex {k} in the kernel")
        assert all(ms > 0 for ms in latencies), f"a click was never redrawn: {latencies}"
        timings["click_to_redraw_ms"] = latencies
        app_el.locator("button", has_text="Close polygon").click()
        wait_until(lambda: kernel.json("app.state.closed"), 60, "the polygon to close in the kernel")

        # vertices: page pixels → image pixels, x = (px − left) / width · W − ½ (display scaling undone)
        got = kernel.json("app.state.points")
        box = src.bounding_box()
        expected = [((px - box["x"]) / box["width"] * ws - 0.5, (py - box["y"]) / box["height"] * hs - 0.5)
                    for px, py in clicks]
        err = np.abs(np.array(got) - np.array(expected)).max()
        assert err < 1.0, f"vertices {got} differ from the clicks {expected} by {err:.3f} image px"
        timings["vertex_error_px"] = float(err)

        # ---- drag the outline on the target ---------------------------------------------------------
        before = kernel.json("list(app.state.offset)")
        rng = kernel.json("list(app.state.offset_range())")
        tgt.scroll_into_view_if_needed()
        tbox = tgt.bounding_box()
        x0, y0 = tbox["x"] + 0.5 * tbox["width"], tbox["y"] + 0.5 * tbox["height"]
        drag = (-0.12 * tbox["width"], 0.09 * tbox["height"])
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + drag[0] / 2, y0 + drag[1] / 2, steps=4)
        page.mouse.move(x0 + drag[0], y0 + drag[1], steps=4)
        page.mouse.up()
        want = [int(np.clip(before[0] + round(drag[0] / tbox["width"] * wt), rng[0], rng[1])),
                int(np.clip(before[1] + round(drag[1] / tbox["height"] * ht), rng[2], rng[3]))]
        after = wait_until(lambda: (lambda o: o if abs(o[0] - want[0]) <= 1 and abs(o[1] - want[1]) <= 1 else None)(
            kernel.json("list(app.state.offset)")), 60, f"the offset to follow the drag to {want}")
        assert after != before

        # ---- mask area, then Blend ------------------------------------------------------------------
        areas = kernel.json(
            "[int(app.state.mask().sum()), int(__import__('dipnb.poisson', fromlist=['x']).polygon_mask("
            "app.state.points, app.state.source_shape).sum()), int(app.state.placed_mask().sum())]")
        assert areas[0] == areas[1] == areas[2] > 0, f"mask / polygon_mask / placed areas differ: {areas}"
        # Stop: make the Adam run far too long to finish, press Blend, then Stop; the current image is kept
        app_el.locator("button", has_text="Adam (live)").click()
        wait_until(lambda: kernel.json("app.solver_picker.value") == "Adam (live)", 60, "the solver picker")
        kernel.execute("_opts = dict(app.adam_options); app.adam_options['max_steps'] = 10**7")
        kernel.execute("_before_blend = id(app.result)")
        app_el.locator("button", has_text="Blend").first.click()
        wait_until(lambda: kernel.json("app.busy and app.previews >= 1"), 120, "a live preview of the Adam run")
        app_el.locator("button", has_text="Stop").first.click()
        wait_until(lambda: kernel.json("id(app.result) != _before_blend and not app.busy"), 120,
                   "Stop to end the Adam run")
        stop = kernel.json("dict(stopped=app.stopped_early, its=app.info.iterations, previews=app.previews, "
                           "outside=int(((app.result - app.target).abs().amax(0) > 0)[~app.state.placed_mask()].sum()))")
        assert stop["stopped"] and 0 < stop["its"] < 10**7 and stop["previews"] >= 1 and stop["outside"] == 0, stop
        timings["stop_after_steps"] = stop["its"]

        # Blend to the end with Adam (live previews every P.poisson.adam_preview_every steps)
        kernel.execute("app.adam_options = _opts; _before_blend = id(app.result)")
        app_el.locator("button", has_text="Blend").first.click()
        wait_until(lambda: kernel.json("id(app.result) != _before_blend and not app.busy"), 300,
                   "the blend started by the button to finish")
        assert kernel.json("app.info.solver == 'adam' and not app.stopped_early and app.previews >= 1")
        check = kernel.json(
            "(lambda m, d: dict(offset=list(app.result_offset), now=list(app.state.offset), "
            "outside=int(d[~m].sum()), inside=int(d[m].sum()), area=int(m.sum())))("
            "app.state.placed_mask(), (app.result - app.target).abs().amax(0) > 1e-6)")
        assert check["offset"] == check["now"] == after
        assert check["outside"] == 0, f"{check['outside']} pixels outside the placed Ω changed"
        assert check["inside"] > 0.5 * check["area"], f"only {check['inside']} of {check['area']} Ω pixels changed"
        # the result image widget shows it
        wait_until(lambda: page.locator("img.dipnb-result").first.evaluate("(e) => e.naturalWidth") > 0, 60,
                   "the result image to appear")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        app_el.screenshot(path=str(ARTIFACTS / "02_after_blend.png"))

        # ---- save the copy (so its outputs hold the widget views), reload, canvases drawn again ------
        ready_before = kernel.json("[app.source_view.client_ready_count, app.target_view.client_ready_count]")
        nb_copy = lab.root_dir / NOTEBOOK.name
        mtime = nb_copy.stat().st_mtime
        page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
        page.keyboard.press("Control+s")
        wait_until(lambda: nb_copy.stat().st_mtime != mtime and "widget-view" in nb_copy.read_text(), 60,
                   "JupyterLab to save the notebook copy")
        t0 = time.monotonic()
        page.reload()
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180_000)
        src = page.locator("canvas.dipnb-source-canvas").first
        tgt = page.locator("canvas.dipnb-target-canvas").first
        src.wait_for(state="attached", timeout=120_000)
        src.scroll_into_view_if_needed()
        wait_until(lambda: src.evaluate(JS_CANVAS_SUM)[1] > 0.9 * src.evaluate("(e) => e.width * e.height")
                   and tgt.evaluate(JS_CANVAS_SUM)[1] > 0.9 * tgt.evaluate("(e) => e.width * e.height"),
                   120, "both canvases to be redrawn after the reload")
        timings["reload_to_redraw_s"] = time.monotonic() - t0
        ready_after = kernel.json("[app.source_view.client_ready_count, app.target_view.client_ready_count]")
        assert ready_after[0] > ready_before[0] and ready_after[1] > ready_before[1]
        for name, loc in (("source", src), ("target", tgt)):
            px = canvas_pixels(loc)
            assert px.std() > 10 and (np.abs(px.astype(int) - 255).sum(-1) > 30).mean() > 0.5, \
                f"the {name} canvas looks blank after the reload"
        page.locator(".dipnb-blend-app").first.screenshot(path=str(ARTIFACTS / "02_after_reload.png"))
        # the polygon is still drawn: the overlay adds the outline's colour to the photo
        assert kernel.json("app.state.closed and len(app.state.points) == 5")
    finally:
        kernel.close()
        timings["total_s"] = time.monotonic() - t_start
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=2))
        print("browser timings:", json.dumps(timings))
