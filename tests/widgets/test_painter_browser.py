"""The facade painter in a real browser: JupyterLab + Debian's Chromium driven by Playwright (marker ``browser``).

Runs a small notebook that trains nothing (a freshly initialised U-Net is a generator like any other for the
widget) and shows a :class:`~dipnb.widgets.painter.PainterApp`; then, with the mouse, draws three rectangles of
three classes and undoes one. After each stroke the photo canvas in the page must change (and after the undo be
back to what it showed after the second rectangle: eval mode is deterministic), and the kernel-side label map
must match the strokes pixel for pixel — as must the label canvas the browser shows. Screenshots and timings go
to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import os
import time

import nbformat
import numpy as np
import pytest

from dipnb.pix2pix.facades import FACADES_CLASSES, FACADES_PALETTE

from browser import ARTIFACTS, chromium_page, open_notebook_and_run_all, require_chromium, running_lab, wait_until
from labserver import KernelExec

NB_NAME = "painter.ipynb"
SIZE = int(os.environ.get("DIPNB_PAINTER_SIZE", "32"))  # with DIPNB_PAINTER_RUN: that run's size
ZOOM = max(1, 320 // SIZE)
pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()

CELLS = [
    "import torch\nfrom dipnb.pix2pix.nets import UNetGenerator, init_weights\nfrom dipnb.widgets.painter import PainterApp",
    f"torch.manual_seed(0)\nG = init_weights(UNetGenerator(size={SIZE}, ngf=8)).eval()",
    # DIPNB_PAINTER_RUN: a labels → photo run folder at 32² (e.g. a real-facades run) for a screenshot with a photo
    "import os\nfrom dipnb.pix2pix.scoring import load_generator, load_pairs\nrun = os.environ.get('DIPNB_PAINTER_RUN')\n"
    f"val = load_pairs(load_generator(run)[1].data, 'val', 'BtoA', {SIZE}, 8)[0] if run else None",
    f"app = PainterApp(run or G, size={SIZE}, display_size={SIZE * ZOOM}, val_labels=val)\napp.widget",
]

#: the canvas' RGBA pixels as a flat list (the MultiCanvas view is one <canvas> with its layers composited)
JS_PIXELS = "(el) => Array.from(el.getContext('2d').getImageData(0, 0, el.width, el.height).data)"
JS_SUM = """(el) => { const d = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
  let s = 0; for (let i = 0; i < d.length; i += 4) s = (s + d[i] * 3 + d[i + 1] * 5 + d[i + 2] * 7 + d[i + 3] * 11) % 1000000007;
  return s; }"""


@pytest.fixture(scope="module")
def lab(workdir):
    root = workdir / "root"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / NB_NAME)
    with running_lab(root, workdir / "lab", "painter-jupyterlab.log") as server:
        yield server


def test_painter_browser_three_rectangles_undo_pixel_exact(lab, workdir):
    timings: dict[str, object] = {}
    with chromium_page(workdir / "chromium-profile") as page:
        t0 = time.monotonic()
        open_notebook_and_run_all(page, lab, NB_NAME)
        timings["open_and_run_s"] = time.monotonic() - t0
        kernel = KernelExec(lab, lab.kernel_id_for(NB_NAME))
        try:
            labels = page.locator("canvas.dipnb-painter-labels").first
            photo = page.locator("canvas.dipnb-painter-photo").first
            labels.scroll_into_view_if_needed()
            wait_until(lambda: labels.evaluate(JS_SUM) != 0 and photo.evaluate(JS_SUM) != 0, 60,
                       "both painter canvases to be drawn")
            assert kernel.json("[app.state.shape[0], app.zoom, app.renders]")[:2] == [SIZE, ZOOM]
            sums = [photo.evaluate(JS_SUM)]
            box = labels.bounding_box()
            assert abs(box["width"] - SIZE * ZOOM) < 1 and abs(box["height"] - SIZE * ZOOM) < 1, box

            def page_xy(j: float, i: float) -> tuple[float, float]:  # the centre of map pixel (j, i) on the page
                return box["x"] + (j + 0.5) * box["width"] / SIZE, box["y"] + (i + 0.5) * box["height"] / SIZE

            # three rectangles of three classes, dragged with the mouse (corners in map pixels, any order)
            strokes = [("window", (3, 4), (12, 15)), ("door", (20, 28), (14, 18)), ("balcony", (1, 25), (30, 27))]
            expected = np.zeros((SIZE, SIZE), np.uint8)
            maps, latencies = [expected.copy()], []
            for k, (cls, a, b) in enumerate(strokes, start=1):
                page.locator(f".dipnb-painter-class-{cls}").first.click()
                wait_until(lambda cls=cls: kernel.json(f"app.cls == {FACADES_CLASSES.index(cls)}"),
                           60, f"the class {cls} to be picked")
                before = photo.evaluate(JS_SUM)
                t_down = time.monotonic()
                page.mouse.move(*page_xy(*a))
                page.mouse.down()
                page.mouse.move(*page_xy((a[0] + b[0]) / 2, (a[1] + b[1]) / 2), steps=3)
                page.mouse.move(*page_xy(*b), steps=3)
                page.mouse.up()
                wait_until(lambda before=before: photo.evaluate(JS_SUM) != before, 60,
                           f"the photo canvas to change after rectangle {k}", interval=0.05)
                latencies.append(round(1000 * (time.monotonic() - t_down)))
                code = FACADES_CLASSES.index(cls)
                (x0, x1), (y0, y1) = sorted((a[0], b[0])), sorted((a[1], b[1]))
                expected[y0:y1 + 1, x0:x1 + 1] = code
                maps.append(expected.copy())
                wait_until(lambda k=k: kernel.json("len(app.state.history)") == k, 60, f"rectangle {k} in the kernel")
                got = np.array(kernel.json("app.state.classes.tolist()"), dtype=np.uint8)
                assert np.array_equal(got, expected), f"rectangle {k}: kernel map differs at {np.argwhere(got != expected)[:5]}"
                wait_until(lambda: kernel.json("app.photo_version == app.state.version"), 60, "the photo to be current")
                sums.append(photo.evaluate(JS_SUM))
            timings["stroke_to_photo_ms"] = latencies
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.locator(".dipnb-painter").first.screenshot(path=str(ARTIFACTS / "07_painter.png"))

            # the label canvas the browser shows is the kernel's map, pixel for pixel (sampled at pixel centres)
            px = np.array(labels.evaluate(JS_PIXELS), dtype=np.uint8).reshape(SIZE * ZOOM, SIZE * ZOOM, 4)
            shown = px[ZOOM // 2::ZOOM, ZOOM // 2::ZOOM, :3]
            assert np.array_equal(shown, FACADES_PALETTE[expected]), "the label canvas differs from the kernel's map"

            # undo the third rectangle: the map and the photo are those after the second
            before = photo.evaluate(JS_SUM)
            page.locator(".dipnb-painter button", has_text="Undo").first.click()
            wait_until(lambda: photo.evaluate(JS_SUM) != before, 60, "the photo canvas to change after Undo",
                       interval=0.05)
            wait_until(lambda: kernel.json("len(app.state.history) == 2 and app.photo_version == app.state.version"),
                       60, "the undo in the kernel")
            got = np.array(kernel.json("app.state.classes.tolist()"), dtype=np.uint8)
            assert np.array_equal(got, maps[2]), "after Undo the kernel map is not the one after rectangle 2"
            wait_until(lambda: photo.evaluate(JS_SUM) == sums[2], 30, "the photo after Undo to equal the one "
                       "after rectangle 2 (eval mode is deterministic)")
            assert len(set(sums)) == len(sums), f"the photo did not change after every rectangle: {sums}"
            timings["renders"] = kernel.json("app.renders")
            timings["render_ms"] = kernel.json("[round(1000 * s, 1) for s in app.renderer.seconds]")
            assert kernel.json("app.renders") <= 1 + len(strokes) + 1 + 2  # debounced: ~one G run per edit
            page.locator(".dipnb-painter").first.screenshot(path=str(ARTIFACTS / "07_painter_after_undo.png"))
            if kernel.json("val is not None"):  # a trained generator: a validation map, then a window drawn on it
                before = photo.evaluate(JS_SUM)
                page.locator(".dipnb-painter button", has_text="Load val map").first.click()
                wait_until(lambda: photo.evaluate(JS_SUM) != before, 60, "the photo of the val map")
                page.locator(".dipnb-painter-class-window").first.click()
                page.mouse.move(*page_xy(12, 3))
                page.mouse.down()
                page.mouse.move(*page_xy(19, 9), steps=3)
                page.mouse.up()
                wait_until(lambda: kernel.json("app.state.history[-1] == 'rectangle window' and "
                                               "app.photo_version == app.state.version"), 60, "the window on the val map")
                time.sleep(0.5)
                page.locator(".dipnb-painter").first.screenshot(path=str(ARTIFACTS / "07_painter_val_map.png"))
        finally:
            kernel.close()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / "painter_timings.json").write_text(json.dumps(timings, indent=2))
            print("painter browser timings:", json.dumps(timings))
