"""Polygon + placement state of notebook 02, and its canvas views driven without a browser (fast)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dipnb.poisson import PolygonState, polygon_mask, segments_intersect, self_intersections

SQUARE = [(2, 2), (10, 2), (10, 8), (2, 8)]


def test_add_undo_close_reset_flow():
    events = []
    st = PolygonState((20, 30), (40, 50))
    st.on_change(lambda s, what: events.append(what))
    assert [st.add(*p) for p in SQUARE] == ["added"] * 4
    assert st.points == [(2.0, 2.0), (10.0, 2.0), (10.0, 8.0), (2.0, 8.0)]
    assert st.undo() == "removed" and len(st) == 3
    st.add(2, 8)
    st.close()
    assert st.closed and "Ω has" in st.message
    # a click after closing changes nothing and says so
    assert st.add(5, 5) == "ignored" and len(st) == 4 and "closed" in st.message
    assert st.undo() == "reopened" and not st.closed
    st.reset()
    assert len(st) == 0 and not st.closed
    assert st.undo() == "ignored"
    assert events.count("points") >= 7 and "message" in events


def test_click_near_first_vertex_closes_and_duplicates_are_ignored():
    st = PolygonState((20, 30), snap_radius=1.5)
    for p in SQUARE[:3]:
        st.add(*p)
    assert st.add(10, 8) == "ignored" and len(st) == 3  # repeats the last vertex
    st.add(*SQUARE[3])
    assert st.add(2.9, 2.5) == "closed"
    assert st.closed and len(st) == 4
    # two clicks only: near the first vertex it cannot close, so it adds a vertex
    st2 = PolygonState((20, 30), snap_radius=3)
    st2.add(2, 2)
    st2.add(10, 2)
    assert st2.add(2.5, 2.5) == "added" and len(st2) == 3


def test_masks_match_polygon_mask_and_offset():
    st = PolygonState((20, 30), (40, 50))
    st.set_points(SQUARE)
    expected = polygon_mask(SQUARE, (20, 30))
    assert torch.equal(st.mask(), expected)
    assert int(expected.sum()) == 8 * 6  # top-left rule: columns 2..9, rows 2..7
    st.set_offset(5, 11)
    assert st.offset == (5, 11) and not st.clamped
    placed = st.placed_mask()
    assert placed.shape == (40, 50) and int(placed.sum()) == int(expected.sum())
    assert torch.equal(placed[11:31, 5:35], expected)


def test_offset_is_clamped_to_keep_omega_and_margin_inside_target():
    st = PolygonState((20, 30), (40, 50), margin=1)
    st.set_points(SQUARE)  # mask columns 2..9, rows 2..7
    assert st.offset_range() == (1 - 2, 50 - 2 - 9, 1 - 2, 40 - 2 - 7)
    assert st.set_offset(1000, -1000) == (39, -1)
    assert st.clamped and st.requested_offset == (1000, -1000) and "clamped" in st.message
    placed = st.placed_mask()
    ys, xs = torch.nonzero(placed, as_tuple=True)
    assert int(xs.max()) == 48 and int(ys.min()) == 1  # one pixel of margin left
    assert int(placed.sum()) == int(st.mask().sum())
    assert st.move_by(-3, 2) == (36, 1) and not st.clamped
    # an offset asked for before closing is applied (clamped) at close
    st2 = PolygonState((20, 30), (40, 50))
    st2.set_offset(-50, 5)
    st2.set_points(SQUARE)
    assert st2.offset == (-1, 5) and st2.clamped


def test_region_larger_than_target_is_refused_clearly():
    st = PolygonState((40, 40), (10, 10))
    with pytest.raises(ValueError, match="does not fit"):
        st.set_points([(1, 1), (30, 1), (30, 30), (1, 30)])
    assert not st.closed and len(st) == 0  # the old (empty) state is kept


def test_self_intersection_is_flagged_and_mask_uses_even_odd():
    bowtie = [(2, 2), (12, 9), (12, 2), (2, 8)]  # edges 0 and 2 cross
    assert self_intersections(bowtie) == [(0, 2)]
    assert self_intersections(SQUARE) == []
    st = PolygonState((20, 30))
    for p in bowtie:
        st.add(*p)
    assert "crosses itself" in st.message  # flagged while drawing, before closing
    st.close()
    assert not st.is_simple and "even-odd" in st.message
    assert torch.equal(st.mask(), polygon_mask(bowtie, (20, 30)))
    # a pentagram: every point edge crosses two others; even-odd leaves the centre pentagon empty
    star = [(10 + 8 * np.cos(a), 10 + 8 * np.sin(a)) for a in np.pi / 2 + 4 * np.pi / 5 * np.arange(5)]
    assert len(self_intersections(star)) == 5
    m = PolygonState((21, 21))
    m.set_points(star)
    assert not m.mask()[10, 10]  # the centre is covered twice → outside by the even-odd rule


def test_segment_tests_cover_touching_and_folding_back():
    assert segments_intersect((0, 0), (2, 2), (0, 2), (2, 0))
    assert segments_intersect((0, 0), (2, 0), (2, 0), (3, 5))  # touching at an end point
    assert not segments_intersect((0, 0), (1, 0), (2, 0), (3, 0))  # collinear, apart
    assert self_intersections([(0, 0), (6, 0), (3, 0), (3, 5)], closed=False) == [(0, 1), (0, 2)]  # folds back, T


def test_bad_input_raises_helpful_errors():
    st = PolygonState((20, 30))
    with pytest.raises(ValueError, match="at least 3"):
        st.close()
    with pytest.raises(ValueError, match="not closed"):
        st.mask()
    with pytest.raises(TypeError, match="two numbers"):
        st.add("a", 1)
    with pytest.raises(ValueError, match="finite"):
        st.add(float("nan"), 1)
    with pytest.raises(ValueError, match="at least 3"):
        st.set_points([(1, 1), (2, 2)])
    st.set_points(SQUARE)
    with pytest.raises(ValueError, match="zero area"):
        st.set_points([(1, 1), (5, 5), (9, 9)])
    assert st.closed and st.points == [tuple(map(float, p)) for p in SQUARE]  # unchanged after the error
    with pytest.raises(TypeError, match=r"\(H, W\)"):
        PolygonState(20)


def test_points_outside_the_image_are_moved_onto_its_border():
    st = PolygonState((20, 30))
    st.add(-7, 4)
    st.add(45, 25)
    assert st.points == [(-0.5, 4.0), (29.5, 19.5)] and "border" in st.message


# --------------------------------------------------------------------------------------------------
# canvases without a browser: the handlers ipycanvas would call, and the exact click → pixel mapping
# --------------------------------------------------------------------------------------------------
def _image(h: int, w: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, h, w, generator=g)


@pytest.mark.parametrize("shape,display", [((40, 60), 300), ((90, 64), 48), ((37, 53), 200)])
def test_click_to_pixel_mapping_is_exact(shape, display):
    from dipnb.widgets.canvas import SourceCanvas, display_scale

    cw, ch, sx, sy = display_scale(shape, display)
    assert max(cw, ch) == display and abs(cw / shape[1] - sx) < 1e-12
    st = PolygonState(shape)
    view = SourceCanvas(_image(*shape), st, display_size=display)
    assert (view.widget.width, view.widget.height) == (cw, ch)
    # the middle of image pixel (j, i) on the canvas maps back to exactly (j, i)
    for j, i in [(0, 0), (shape[1] - 1, shape[0] - 1), (7, 3)]:
        u, v = (j + 0.5) * sx, (i + 0.5) * sy
        x, y = view.canvas_to_image(u, v)
        assert abs(x - j) < 1e-9 and abs(y - i) < 1e-9
        assert np.allclose(view.image_to_canvas(x, y), (u, v))
    # the canvas' corner is the image's corner [-1/2, W - 1/2]
    assert np.allclose(view.canvas_to_image(0, 0), (-0.5, -0.5))
    assert np.allclose(view.canvas_to_image(cw, ch), (shape[1] - 0.5, shape[0] - 0.5))


def test_source_clicks_and_target_drag_drive_the_state():
    from dipnb.widgets.canvas import SNAP_PIXELS, SourceCanvas, TargetCanvas

    st = PolygonState((40, 60), (50, 80))
    src = SourceCanvas(_image(40, 60), st, display_size=240)  # scale 4
    tgt = TargetCanvas(_image(50, 80), st, display_size=160)  # scale 2
    assert st.snap_radius == pytest.approx(SNAP_PIXELS / 4)
    tgt._on_mouse_down(10, 10)  # nothing to drag yet: a hint, no error
    assert "Close the polygon" in st.message
    clicks = [(40, 40), (200, 44), (180, 120), (48, 130)]
    for u, v in clicks:
        src._on_mouse_down(u, v)
    assert st.points == [(u / 4 - 0.5, v / 4 - 0.5) for u, v in clicks]
    src._on_mouse_down(42, 43)  # within 8 screen pixels of the first vertex → closes
    assert st.closed and len(st) == 4
    assert src.last_draw_time > 0
    start = st.offset
    tgt._on_mouse_down(50, 50)
    assert tgt.dragging
    tgt._on_mouse_move(61, 50)  # 11 screen px = 5.5 image px → 6 (round half to even would give 6 too)
    tgt._on_mouse_up(70, 43)  # 20, -7 screen px → 10, -4 (rounded) image px
    assert not tgt.dragging
    assert st.offset == (start[0] + 10, start[1] - 4)
    # a client (re)connecting triggers a full redraw
    src._on_client_ready()
    assert src.client_ready_count == 1


def test_blend_app_uploads_report_unsupported_files(tmp_path):
    from dipnb.widgets import BlendApp

    app = BlendApp(_image(40, 60), _image(50, 80), display_size=160, figures_dir=tmp_path)
    with pytest.raises(ValueError, match="nothing to save"):
        app.save()
    with pytest.raises(ValueError, match="no closed polygon"):
        app.blend()
    app._on_upload({"new": ({"name": "notes.txt", "content": memoryview(b"hello, not an image")},)}, "source")
    assert "notes.txt" in app.status.value and "PNG" in app.status.value
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((30, 45, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    app.state.set_points([(5, 5), (20, 5), (20, 20)])
    app._on_upload({"new": ({"name": "mine.png", "content": memoryview(buf.getvalue())},)}, "source")
    assert "Loaded mine.png" in app.status.value
    assert app.source.shape[0] == 3 and max(app.source.shape[-2:]) == app.image_size
    assert app.state.source_shape == tuple(app.source.shape[-2:]) and len(app.state) == 0
    assert app.use_default([(5, 5), (40, 8), (30, 25)]) is True
    assert app.use_default([(1, 1), (2, 9), (9, 2)]) is False  # a drawn polygon is kept
    fig = app.figure(save=tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 0 and len(fig.axes) == 2


@pytest.mark.slow
def test_blend_app_blends_stops_and_saves(tmp_path):
    from dipnb.widgets import BlendApp

    src, tgt = _image(40, 60), _image(50, 80) * 0.5
    app = BlendApp(src, tgt, display_size=160, figures_dir=tmp_path)
    app.use_default([(10, 8), (40, 10), (35, 30), (12, 28)], offset=(20, 10))
    omega = app.state.placed_mask()
    out = app.blend(mode="import", solver="fast (exact)")
    assert app.mode_picker.value == "import" and app.solver_picker.value == "fast (exact)"
    assert torch.equal(out[:, ~omega], tgt[:, ~omega]) and app.result_offset == (20, 10)
    assert ((out - tgt).abs().amax(0) > 1e-3)[omega].float().mean() > 0.5
    assert app.result_view.value[:8] == b"\x89PNG\r\n\x1a\n"
    # Adam with live previews, run by the Blend button's code path in a background thread
    app.adam_options["max_steps"] = 40
    app.preview_every = 10
    app.solver_picker.value = "Adam (live)"
    app.start_blend()
    assert app.wait(timeout=120) and not app.busy
    assert app.info.solver == "adam" and app.previews == 4 and not app.stopped_early, app.status.value
    assert app.progress.value == app.progress.max == 40
    # Stop: pressed as soon as the run starts → the run ends at its first preview, keeping that image
    app.adam_options["max_steps"] = 10**6
    app.progress.observe(lambda change: app.stop(), "value")
    stopped = app.blend()
    assert app.stopped_early and app.info.iterations == 10 and "stopped early" in app.progress_label.value
    assert torch.equal(stopped[:, ~omega], tgt[:, ~omega])
    path = app.save()
    assert path == tmp_path / "02_blend_import.png" and path.stat().st_size > 0


def test_symmetric_bowtie_is_rasterised_by_the_even_odd_rule():
    # a symmetric bow-tie has signed area 0, yet it encloses two triangles of pixels
    bowtie = [(2, 2), (12, 12), (12, 2), (2, 12)]
    st = PolygonState((20, 20))
    st.set_points(bowtie)
    m = st.mask()
    assert st.closed and not st.is_simple and int(m.sum()) > 20
    assert m[7, 4] and m[7, 10] and not m[3, 7]  # left and right lobes in, top wedge out
    assert torch.equal(m, polygon_mask(bowtie, (20, 20)))
