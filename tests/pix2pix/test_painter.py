"""The painter of notebook 07 without a browser: the label-map state, the generator checks, the widget's logic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dipnb.config import TrainConfig
from dipnb.pix2pix.facades import FACADES_CLASSES, FACADES_PALETTE
from dipnb.pix2pix.nets import FCN, UNetGenerator, init_weights
from dipnb.pix2pix.painter import (
    LabelMapState,
    PainterGeneratorError,
    PhotoRenderer,
    class_index,
    painter_generator,
)


def _unet(size=32, seed=0):
    torch.manual_seed(seed)
    return init_weights(UNetGenerator(size=size, ngf=8)).eval()


def test_painter_state_rectangles_pixel_exact_undo_redo():
    st = LabelMapState((20, 30))
    assert st.classes.shape == (20, 30) and (st.classes == 0).all()
    events = []
    st.on_change(lambda s, what: events.append(what))
    assert st.rectangle(12, 3, 4, 7, "window") == 9 * 5          # corners in any order, both ends included
    assert st.rectangle(-5, -5, 2, 1, 3) == 3 * 2                 # clipped to the map
    assert st.rectangle(40, 40, 50, 50, "door") == 0              # outside: nothing
    want = np.zeros((20, 30), np.uint8)
    want[3:8, 4:13] = 2
    want[0:2, 0:3] = 3
    assert np.array_equal(st.classes, want)
    assert st.history == ["rectangle window", "rectangle door"] and events.count("map") == 2
    v = st.version
    assert st.undo() and np.array_equal(st.classes, np.where(want == 3, 0, want))
    assert st.redo() and np.array_equal(st.classes, want) and st.version == v + 2
    assert not st.redo() and "Nothing to redo" in st.message
    st.undo()
    st.rectangle(0, 0, 0, 0, "shop")                              # a new edit drops the redo stack
    assert not st.can_redo
    assert st.undo() and st.undo() and not st.undo()
    assert (st.classes == 0).all()


def test_painter_state_brush_is_one_undo_step_and_covers_the_stroke():
    st = LabelMapState(32)
    n = st.brush([(4, 4), (20, 4), (20, 20)], "balcony", radius=1.5)
    m = st.classes == FACADES_CLASSES.index("balcony")
    assert n == m.sum() > 0 and st.history == ["brush balcony"]
    # every pixel centre within 1.5 px of the polyline is painted, none further than that
    yy, xx = np.mgrid[:32, :32]
    d_h = np.where((xx >= 4) & (xx <= 20), np.abs(yy - 4), np.hypot(np.minimum(np.abs(xx - 4), np.abs(xx - 20)), yy - 4))
    d_v = np.where((yy >= 4) & (yy <= 20), np.abs(xx - 20), np.hypot(xx - 20, np.minimum(np.abs(yy - 4), np.abs(yy - 20))))
    assert np.array_equal(m, np.minimum(d_h, d_v) <= 1.5)
    st.begin_stroke(1, 1, "pillar", 0)
    st.stroke_to(1, 5)
    assert st.stroking and st.classes[3, 1] == FACADES_CLASSES.index("pillar")
    st.end_stroke()
    assert st.undo() and st.classes[3, 1] == 0 and st.history == ["brush balcony"]


def test_painter_state_clear_load_colours_and_bad_input():
    st = LabelMapState(16)
    st.rectangle(0, 0, 7, 7, "deco")
    assert st.clear() and (st.classes == 0).all() and st.undo() and st.classes[0, 0] == 8
    cls = np.random.default_rng(0).integers(0, 12, (16, 16))
    rgb = FACADES_PALETTE[cls]
    st.load(rgb)                                                    # a uint8 label image
    assert np.array_equal(st.classes, cls)
    st.clear()
    st.load(torch.from_numpy(rgb).permute(2, 0, 1).float() / 127.5 - 1)  # a dataset's [-1, 1] input
    assert np.array_equal(st.classes, cls)
    st.load(np.repeat(np.repeat(cls, 2, 0), 2, 1))                  # another size: nearest neighbour
    assert np.array_equal(st.classes, cls)
    assert np.array_equal(st.rgb(), rgb)
    x = st.model_input()
    assert x.shape == (1, 3, 16, 16) and torch.allclose((x[0] + 1) * 127.5, torch.from_numpy(rgb).permute(2, 0, 1).float())
    assert class_index("Window") == 2 and class_index(11) == 11
    with pytest.raises(ValueError, match="unknown facades class"):
        st.rectangle(0, 0, 1, 1, "roof")
    with pytest.raises(ValueError, match="0..11"):
        st.rectangle(0, 0, 1, 1, 12)
    with pytest.raises(ValueError, match="finite"):
        st.rectangle(float("nan"), 0, 1, 1, 1)
    with pytest.raises(ValueError, match="class indices must be 0..11"):
        st.load(np.full((16, 16), 13))
    with pytest.raises(ValueError, match="2..4096"):
        LabelMapState(1)


def test_painter_generator_refuses_wrong_direction_network_and_size(tmp_path):
    from dipnb.pix2pix.engine.run import save_checkpoint
    from dipnb.pix2pix.scoring import SEGMENTER_FORMAT
    from dipnb.pix2pix.tasks import build_generator

    G = _unet(32)
    assert painter_generator(G, 32) is G
    with pytest.raises(PainterGeneratorError, match="FCN"):
        painter_generator(FCN(), 32)
    with pytest.raises(PainterGeneratorError, match="U-Net for 32² .* painter draws 64²"):
        painter_generator(G, 64)
    with pytest.raises(PainterGeneratorError, match="photo → labels"):
        painter_generator(G, 32, direction="AtoB")

    def ck(name, **kw):
        cfg = TrainConfig(**{"data": "x", "size": 32, "ngf": 8, **kw})
        path = tmp_path / name / "checkpoint.pt"
        path.parent.mkdir()
        save_checkpoint(path, {"config": cfg.to_dict(), "models": {"G": build_generator(cfg).state_dict()}})
        return path.parent

    good = ck("good", direction="BtoA", model="unet")
    G2 = painter_generator(good, 32)
    assert isinstance(G2, UNetGenerator) and not G2.training
    with pytest.raises(PainterGeneratorError, match="photo → labels .*AtoB"):
        painter_generator(ck("a2b", direction="AtoB", model="unet"), 32)
    with pytest.raises(PainterGeneratorError, match="is an FCN"):
        painter_generator(ck("fcn", direction="BtoA", model="fcn"), 32)
    with pytest.raises(PainterGeneratorError, match="trained at 32², but the painter draws 64²"):
        painter_generator(good, 64)
    seg = tmp_path / "seg.pt"
    torch.save({"format": SEGMENTER_FORMAT, "state_dict": FCN().state_dict(), "size": 32}, seg)
    with pytest.raises(PainterGeneratorError, match="FCN-score segmenter"):
        painter_generator(seg, 32)
    with pytest.raises(PainterGeneratorError, match="no checkpoint"):
        painter_generator(tmp_path / "nothing", 32)
    with pytest.raises(PainterGeneratorError, match="takes a U-Net"):
        painter_generator(42, 32)


def test_painter_renderer_eval_is_deterministic_and_leaves_the_model_alone():
    G = _unet(64)
    G.train()  # as a trainer leaves it
    buffers = {k: v.clone() for k, v in G.named_buffers()}
    st = LabelMapState(64)
    st.rectangle(10, 10, 40, 50, "window")
    r = PhotoRenderer(G)
    a, b = r.render(st), r.render(st)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    with torch.no_grad():
        want = ((G.eval()(st.model_input())[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    G.train()
    assert np.array_equal(a, want)
    paper = PhotoRenderer(G, train_mode=True, seed=3)
    p1, p2 = paper.render(st), paper.render(st)
    assert np.array_equal(p1, p2) and not np.array_equal(p1, a)  # fixed dropout draw; per-image BN ≠ eval
    assert G.training and all(torch.equal(v, buffers[k]) for k, v in G.named_buffers())
    assert len(r.seconds) == 2 and all(s > 0 for s in r.seconds)
    fast = PhotoRenderer(G, precision="bf16")
    assert np.abs(fast.render(st).astype(int) - a.astype(int)).max() <= 8  # bfloat16: a few uint8 levels
    assert next(G.parameters()).dtype == torch.float32                      # G itself is untouched
    with pytest.raises(ValueError, match="precision"):
        PhotoRenderer(G, precision="fp8")
    auto = PhotoRenderer(G, precision="auto")                             # measured once: the faster of the two
    assert auto.used in ("fp32", "bf16") and np.abs(auto.render(st).astype(int) - a.astype(int)).max() <= 8


def test_painter_app_scripted_strokes_redraw_the_photo():
    pytest.importorskip("ipycanvas")
    from dipnb.widgets.painter import PainterApp, painter_figure

    G = _unet(32)
    val = torch.from_numpy(FACADES_PALETTE[np.random.default_rng(1).integers(0, 12, (2, 32, 32))]).permute(0, 3, 1, 2)
    app = PainterApp(G, val_labels=val.float() / 127.5 - 1, display_size=128, debounce=0)
    assert app.zoom == 4 and app.renders == 1 and app.state.shape == (32, 32)
    photos = [app.photo.copy()]
    # the mouse, as ipycanvas reports it: canvas pixels (u, v) → map pixel (⌊u/4⌋, ⌊v/4⌋)
    for cls, (u0, v0, u1, v1) in zip(("window", "door", "balcony"),
                                     [(5, 9, 60.5, 70), (100, 100, 70, 120), (10, 120, 30, 127.9)]):
        app.set_class(cls)
        app._on_down(u0, v0)
        app._on_move((u0 + u1) / 2, (v0 + v1) / 2)
        app._on_up(u1, v1)
        photos.append(app.photo.copy())
    want = np.zeros((32, 32), np.uint8)
    want[2:18, 1:16] = 2
    want[25:31, 17:26] = 3
    want[30:32, 2:8] = 6
    assert np.array_equal(app.state.classes, want)
    assert app.renders == 4 and all(not np.array_equal(a, b) for a, b in zip(photos, photos[1:]))
    app.undo_button.click()
    assert app.renders == 5 and np.array_equal(app.photo, photos[2])  # eval mode: same map, same photo
    app.tool_picker.value = "brush"
    app._on_down(2, 2)
    app._on_move(40, 2)
    app._on_up(40, 2)
    assert app.state.history[-1] == "brush balcony"
    app.load_val(1)
    assert np.array_equal(app.state.classes, np.random.default_rng(1).integers(0, 12, (2, 32, 32))[1])
    app.clear_button.click()
    assert (app.state.classes == 0).all()
    fig = painter_figure(app.state, app.renderer)
    assert len(fig.axes) == 3
    with pytest.raises(PainterGeneratorError):
        PainterApp(G, size=64)
