"""The Poisson core under bad input: each class of silent garbage or late error, with the message a user sees.

Classes: floats on another scale; sizes over budget (checked before any conversion); solver options out of
range, unknown, or not converged; edit parameters (type, finiteness, range) and finite results; inputs that
require grad (differentiable: they keep their graph); polygon vertices far outside the image. Plus the solver contract (one registry, one signature,
options validated per solver, "auto" decided by Ω alone, the callback always honoured).
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
import torch

import dipnb.images as images
from dipnb.images import to_tensor
from dipnb.poisson import (REGISTRY, ConvergenceWarning, NotConvergedError, PolygonState, clone_problem,
                           color_change, illumination_change, polygon_mask, seamless_clone, seamless_tile, solve,
                           texture_flatten)

from conftest import clone_case  # noqa: E402  (tests/conftest.py: the shared test images)


@pytest.fixture
def imgs():
    return clone_case((3, 40, 44), (3, 42, 46), [(3, 3), (38, 5), (35, 36), (4, 33)])


def _rect(h=40, w=44):
    m = torch.zeros(h, w, dtype=torch.bool)
    m[8:30, 6:35] = True
    return m


# --- floats on another scale: one rule, in to_tensor ------------------------------------------------------
def test_float_0_255_refused_everywhere_with_the_fix(imgs):
    src, tgt, m = imgs
    as_255 = (src.permute(1, 2, 0).numpy() * 255).round().astype(np.float32)  # np.asarray(img).astype(float32)
    with pytest.raises(ValueError, match=r"source: float image with values in \[.*\].*divide by 255"):
        seamless_clone(as_255, tgt, m)
    with pytest.raises(ValueError, match="target: .*divide by 255"):
        seamless_clone(src, tgt * 255, m)
    with pytest.raises(ValueError, match="image: .*divide by 255"):
        illumination_change(tgt * 255, _rect(42, 46))
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        to_tensor(src * 2 - 1)
    # an unclamped result (small overshoot) chains into the next edit; the same values in [0, 1] are untouched
    out = seamless_clone(src, tgt, m)
    assert float(out.max()) <= 1.5 and to_tensor(out).data_ptr() == out.data_ptr()
    assert torch.equal(to_tensor(as_255 / 255), torch.from_numpy(as_255 / 255).permute(2, 0, 1).float())


@pytest.mark.parametrize("kind", ["numpy", "tensor", "float16", "pil-F"])
def test_to_tensor_float_rule_for_every_float_kind(kind):
    from PIL import Image

    a = np.linspace(0, 255, 12, dtype=np.float32).reshape(3, 4)
    x = {"numpy": a, "tensor": torch.from_numpy(a), "float16": torch.from_numpy(a).half(),
         "pil-F": Image.fromarray(a, mode="F")}[kind]
    with pytest.raises(ValueError, match=r"values in \[0, 255\], but dipnb expects floats in \[0, 1\]"):
        to_tensor(x)
    ok = {"numpy": a / 255, "tensor": torch.from_numpy(a / 255), "float16": torch.from_numpy(a / 255).half(),
          "pil-F": Image.fromarray(a / 255, mode="F")}[kind]
    assert torch.allclose(to_tensor(ok)[0], torch.from_numpy(a / 255), atol=1e-3)


# --- sizes: checked first, from the shape, for every input kind --------------------------------------------
def test_oversized_numpy_refused_before_any_conversion():
    huge = np.broadcast_to(np.zeros(1, np.float32), (7000, 7000, 3))  # 0 bytes; 588 MB once converted
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"7000×7000 = 49,000,000 pixels is more than the memory budget"):
            to_tensor(huge, name="source")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5e6


@pytest.mark.parametrize("kind", ["tensor", "numpy", "pil"])
def test_every_input_kind_has_the_same_budget(imgs, monkeypatch, kind):
    from PIL import Image

    src, tgt, m = imgs
    monkeypatch.setattr(images, "MAX_PIXELS", 40 * 44 - 1)
    x = {"tensor": src, "numpy": (src.permute(1, 2, 0).numpy() * 255).astype(np.uint8),
         "pil": Image.fromarray((src.permute(1, 2, 0).numpy() * 255).astype(np.uint8))}[kind]
    with pytest.raises(ValueError, match="source: 40×44 = 1,760 pixels is more than the memory budget"):
        seamless_clone(x, tgt, m)


def test_polygon_mask_and_polygon_state_share_the_budget():
    with pytest.raises(ValueError, match="mask size: 60000×60000 .* memory budget"):
        polygon_mask([(0, 0), (10, 0), (0, 10)], (60000, 60000))  # was: 13 GiB of scan-line tables
    with pytest.raises(ValueError, match="source_shape: 60000×60000 .* memory budget"):
        PolygonState((60000, 60000))
    with pytest.raises(ValueError, match="target_shape: .* memory budget"):
        PolygonState((60, 60), (60000, 60000))


# --- solver options ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("solver, options, match", [
    ("mgpcg", dict(omega=1.5), r"option omega must be a finite number in \(0, 1\], got 1.5"),
    ("mgpcg", dict(omega=float("nan")), "omega must be a finite number in .*, got nan"),
    ("mgpcg", dict(coarse=0), r"option coarse must be an integer in \[2, 64\], got 0"),
    ("mgpcg", dict(max_iter=0), "option max_iter must be an integer >= 1, got 0"),
    ("mgpcg", dict(tol=-1), "option tol must be a finite number in"),
    ("adam", dict(lr=1e6), r"option lr must be a finite number in \(0, 1\] \(or None\), got 1000000.0"),
    ("adam", dict(max_steps=2.5), "option max_steps must be an integer"),
    ("adam", dict(method="sgd"), "option method must be one of 'fixed', 'course'"),
])
def test_option_values_checked_before_any_work(imgs, solver, options, match):
    src, tgt, m = imgs
    with pytest.raises(ValueError, match=match):
        seamless_clone(src, tgt, m, solver=solver, **options)


def test_options_a_solver_does_not_take_are_refused(imgs):
    src, tgt, m = imgs
    for name in REGISTRY:
        with pytest.raises(TypeError, match=f"solver {name!r}.* takes no option 'bogus'"):
            seamless_clone(src, tgt, m if name != "dst" else _rect(), solver=name, bogus=1)
    with pytest.raises(TypeError, match="option loss_tol belongs to method='course'"):
        seamless_clone(src, tgt, m, solver="adam", loss_tol=1e-9)
    with pytest.raises(TypeError, match="patience only applies with loss_tol"):
        seamless_clone(src, tgt, m, solver="adam", method="course", patience=10)
    with pytest.raises(TypeError, match="option coarse belongs to method='fixed'"):
        seamless_clone(src, tgt, m, solver="adam", method="course", coarse=8)
    # "auto" is decided by Ω alone; the chosen solver's table is what the options are checked against
    with pytest.raises(TypeError, match="solver 'dst' \\(chosen by solver='auto' because Ω is a rectangle.*max_iter"):
        seamless_clone(src, tgt, _rect(), max_iter=5)
    _, info = seamless_clone(src, tgt, _rect(), tol=1e-6, return_info=True)
    assert info.solver == "dst" and info.converged


def test_unconverged_solve_warns_with_the_residual_or_raises_when_strict(imgs):
    src, tgt, m = imgs
    with pytest.warns(ConvergenceWarning, match=r"'mgpcg' did not converge: relative residual \S+ > tol 3.0e-05 "
                                                r"after 1 iterations; raise max_iter"):
        _, info = seamless_clone(src, tgt, m, solver="mgpcg", max_iter=1, return_info=True)
    assert not info.converged and info.rel_residual > 3e-5
    with pytest.raises(NotConvergedError, match="relative residual"):
        seamless_clone(src, tgt, m, solver="mgpcg", max_iter=1, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a converged solve says nothing
        seamless_clone(src, tgt, m, solver="mgpcg")


def test_adam_that_ends_worse_than_it_started_is_reported(imgs):
    src, tgt, m = imgs
    with pytest.warns(ConvergenceWarning, match="residual grew from .* \\(diverged\\): lower lr"):
        out, info = seamless_clone(src, tgt, m, solver="adam", method="course", lr=1.0, max_steps=7,
                                   return_info=True)
    assert info.converged is False and bool(torch.isfinite(out).all())


def test_one_signature_callback_and_x0_honoured_by_every_solver(imgs):
    src, tgt, m = imgs
    for name, mask in (("mgpcg", m), ("dst", _rect()), ("adam", m)):
        pb = clone_problem(src, tgt, mask, (1, 1))
        seen = []
        x, info = solve(pb.system, name, x0=pb.x0, callback=lambda s, x, v: seen.append((s, tuple(x.shape))),
                        callback_every=1, **({"max_steps": 3} if name == "adam" else {}))
        assert seen and seen[0] == (1, tuple(pb.system.b.shape)), name
        assert info.solver == name and x.shape == pb.system.b.shape
    pb = clone_problem(src.double(), tgt.double(), _rect(), (1, 1))
    x1, _ = solve(pb.system, "dst", x0=pb.x0)
    x2, _ = solve(pb.system, "dst", x0=torch.zeros_like(pb.x0))
    assert torch.allclose(x1, x2, atol=1e-12)  # direct: the same solution from any start
    with pytest.raises(ValueError, match="x0 must have the box's shape"):
        solve(pb.system, "dst", x0=pb.x0[:, :-1])


# --- edit parameters and finite results -----------------------------------------------------------------------
def test_illumination_change_parameters_and_finite_results():
    img = torch.rand(3, 40, 44, generator=torch.Generator().manual_seed(1))
    img[:, 10:20, 10:20] = 0  # black pixels inside Ω
    for mask in (_rect(), polygon_mask([(3, 3), (38, 5), (35, 36), (4, 33)], (40, 44))):  # dst and mgpcg paths
        out = illumination_change(img, mask)
        assert bool(torch.isfinite(out).all())
    with pytest.raises(ValueError, match=r"eps must be a finite number in \(0, 1\], got 0"):
        illumination_change(img, _rect(), eps=0)
    with pytest.raises(ValueError, match="eps must be a finite number in"):
        illumination_change(img, _rect(), eps=-1e-3)
    with pytest.raises(ValueError, match=r"alpha must be a finite number in \(0, 100\], got 1e\+30"):
        illumination_change(img, _rect(), alpha=1e30)
    with pytest.raises(ValueError, match="beta must be a finite number in"):
        illumination_change(img, _rect(), beta=1.0)
    with pytest.raises(TypeError, match="alpha must be a finite number"):
        illumination_change(img, _rect(), alpha="0.2")


def test_color_change_and_texture_flatten_blame_the_parameter():
    img = torch.rand(3, 40, 44, generator=torch.Generator().manual_seed(2))
    with pytest.raises(ValueError, match=r"factors\[1\] must be a finite number in .*, got nan"):
        color_change(img, _rect(), factors=(1.0, float("nan"), 1.0))
    with pytest.raises(ValueError, match=r"factors\[0\] must be a finite number in \[0, 100\]"):
        color_change(img, _rect(), factors=(-1.0, 1.0, 1.0))
    with pytest.raises(TypeError, match="factors must be numbers"):
        color_change(img, _rect(), factors="red")
    out = color_change(img, _rect(), factors=(3.0, 0.5, 0.5))  # a recoloured copy beyond [0, 1] is fine inside
    assert bool(torch.isfinite(out).all())
    with pytest.raises(ValueError, match="sigma must be a finite number"):
        texture_flatten(img, _rect(), sigma=float("nan"))
    with pytest.raises(ValueError, match="need low <= high"):
        texture_flatten(img, _rect(), low=0.3, high=0.1)
    assert bool(torch.isfinite(seamless_tile(img)).all())


# --- inputs that require grad: the graph is kept, no warning, the same values ------------------------
def test_inputs_that_require_grad_keep_their_graph(imgs):
    src, tgt, m = imgs
    src = src.clone().requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = seamless_clone(src, tgt, m, solver="mgpcg")
    assert out.requires_grad and torch.equal(out.detach(), seamless_clone(src.detach(), tgt, m, solver="mgpcg"))
    out.sum().backward()
    assert src.grad is not None and bool(src.grad.abs().sum() > 0)
    with torch.no_grad():  # no graph asked for: none built
        assert not seamless_clone(src, tgt, m).requires_grad


# --- polygons far outside the image ---------------------------------------------------------------------------
def _even_odd_reference(pts, h, w):
    """Ray casting on every pixel centre, in exact rational arithmetic (slow, tiny images only)."""
    from fractions import Fraction

    P = [(Fraction(x), Fraction(y)) for x, y in pts]
    out = np.zeros((h, w), dtype=bool)
    for i in range(h):
        for j in range(w):
            inside = False
            for k in range(len(P)):
                (x0, y0), (x1, y1) = P[k], P[(k + 1) % len(P)]
                if (y0 <= i) != (y1 <= i) and j >= x0 + (i - y0) * (x1 - x0) / (y1 - y0):
                    inside = not inside
            out[i, j] = inside
    return out


@pytest.mark.parametrize("far", [1e10, 1e12, 1e15])
def test_far_vertices_are_not_misdiagnosed(far):
    thin = [(5, 5), (far, 5), (5, 20)]  # a 15-px-high sliver, very long: zero area only relative to its length
    assert np.array_equal(polygon_mask(thin, (24, 40)).numpy(), _even_odd_reference(thin, 24, 40))
    around = [(-far, -far), (far, -far), (far, far), (-far, far)]
    assert bool(polygon_mask(around, (9, 7)).all())
    if far <= 1e12:  # (at 1e15 float64 itself spaces vertices 0.125 px apart)
        bow = [(6.5 - far, 8.25 - far), (6.5 + far, 8.25 + far), (6.5 + far, 8.25 - far), (6.5 - far, 8.25 + far)]
        assert np.array_equal(polygon_mask(bow, (16, 12)).numpy(), _even_odd_reference(bow, 16, 12))
    # a large triangle whose part inside the image is thinner than a pixel: said so, not "zero area"
    with pytest.raises(ValueError, match="contains no pixel centre"):
        polygon_mask([(-5, 7.4), (far, 7.6), (-5, 7.45)], (16, 12))


def test_clipping_keeps_the_even_odd_mask_of_random_polygons():
    rng = np.random.default_rng(0)
    for _ in range(20):
        pts = rng.uniform(-30, 50, size=(int(rng.integers(3, 9)), 2)).round(1)
        try:
            got = polygon_mask(pts, (16, 18)).numpy()
        except ValueError:
            assert not _even_odd_reference(pts, 16, 18).any()
            continue
        assert np.array_equal(got, _even_odd_reference(pts, 16, 18))


# --- imports only go down -------------------------------------------------------------------------------------
def test_poisson_never_imports_front_ends():
    code = ("import sys, dipnb.poisson; bad = [m for m in sys.modules if m.startswith(('dipnb.widgets', "
            "'dipnb.plots', 'dipnb.pix2pix', 'dipnb.report', 'ipywidgets', 'matplotlib'))]; print(bad); "
            "sys.exit(bool(bad))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
