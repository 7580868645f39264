"""Poisson image editing (Pérez, Gangnet & Blake, SIGGRAPH 2003): seamless cloning and the other edits.

Conventions: images are float tensors ``C×H×W`` in [0, 1]; every input image goes through
:func:`dipnb.images.to_tensor` (its one float rule: floats beyond [−0.5, 1.5] are refused with the fix; its
pixel budget, checked from the shape first); every parameter is checked (type, finiteness, range) before any
work, and no result holds NaN or inf. The edits are differentiable: inputs that require grad keep their graph,
and the solve's backward pass is one adjoint solve (eq. 7's matrix is symmetric), not unrolled iterations. The mask Ω is given in **source** coordinates; ``offset = (dx, dy)`` moves source pixel (x, y)
to target pixel (x + dx, y + dy), x to the right, y down. Results are *not* clamped (use
:func:`dipnb.images.to_uint8` or ``.clamp(0, 1)`` for display); pixels outside Ω are the target's, bit for
bit; inputs are never modified.

**Offset policy**: pixels of Ω that the offset puts outside the target are dropped with a warning that says
how many (``outside="clip"``, the default), or the call is refused (``outside="raise"``). Nothing wraps
around. When the *neighbours* of Ω fall outside the source, the nearest source pixel's value is used.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from dipnb import checks
from dipnb.checks import check
from dipnb.images import to_tensor
from dipnb.poisson.guidance import build_system, crop_with_margin, image_gradients, luminance, mixed_field
from dipnb.poisson.operators import PoissonSystem
from dipnb.poisson.mask import check_mask, place_mask
from dipnb.poisson.operators import DIRECTIONS, bounding_box, inner, neighbour
from dipnb.poisson.solvers import SolveInfo, StepCallback, solve
from dipnb.poisson.solvers.base import user_stacklevel

#: Guidance fields of seamless cloning: the source's gradient (import), the larger of source and target gradients
#: (mixed, eq. 13), the source's luminance gradient (monochrome); the blend app's picker lists these.
MODES = ("import", "mixed", "monochrome")


def _image(x: Any, name: str) -> torch.Tensor:
    """One input image through :func:`dipnb.images.to_tensor` (its float rule and pixel budget); float64 stays
    float64. A tensor that requires grad keeps its graph (the checks run on its values): gradients flow through
    every edit to the images (see :func:`seamless_clone`)."""
    f64 = getattr(x, "dtype", None) in (torch.float64, np.float64)
    t = to_tensor(x, name=name, dtype=torch.float64 if f64 else torch.float32)
    if isinstance(x, torch.Tensor) and x.requires_grad and torch.is_grad_enabled():
        g = x[None] if x.ndim == 2 else x  # to_tensor's layouts for tensors: H×W or C×H×W
        g = g[:t.shape[0]]  # an alpha channel dropped by to_tensor
        if g.shape == t.shape and g.device == t.device:
            t = g.to(t.dtype)  # the same values (floats are kept as they are), now with the graph
    return t


def _check_images(source: Any, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
    src, tgt = _image(source, "source"), _image(target, "target")
    for name, t in (("source", src), ("target", tgt)):
        if t.shape[0] not in (1, 3):
            raise ValueError(f"{name} has {t.shape[0]} channels; pass a gray or RGB image (keep_alpha is not "
                             "supported by the edits)")
    if src.device != tgt.device:
        raise ValueError(f"source is on {src.device} but target on {tgt.device}; move both to one device")
    if src.shape[0] != tgt.shape[0]:
        warnings.warn(f"source has {src.shape[0]} channel(s), target {tgt.shape[0]}: the gray one is repeated "
                      "to RGB", stacklevel=user_stacklevel())
        src, tgt = (src.expand(3, -1, -1) if src.shape[0] == 1 else src,
                    tgt.expand(3, -1, -1) if tgt.shape[0] == 1 else tgt)
    dtype = torch.float64 if torch.float64 in (src.dtype, tgt.dtype) else torch.float32
    return src.to(dtype), tgt.to(dtype)


def _param(name: str, value: Any, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> float:
    """A real-valued parameter of an edit: a finite number in the interval (:func:`dipnb.checks.check`: a
    ``TypeError`` for a non-number, a ``ValueError`` for a number outside the rule)."""
    return float(check(name, value, checks.real(lo, hi, lo_open=lo_open, hi_open=hi_open)))


def _check_offset(offset: Any) -> tuple[int, int]:
    try:
        dx, dy = offset
    except (TypeError, ValueError):
        raise TypeError(f"offset must be a pair (dx, dy) of ints, got {offset!r}") from None
    for v in (dx, dy):
        if isinstance(v, (bool, str)) or not isinstance(v, (int, float, torch.Tensor, np.integer, np.floating)) \
                or not float(v).is_integer():
            raise TypeError(f"offset must be whole pixels (dx, dy), got {offset!r}; round it first")
    return int(dx), int(dy)


class Problem(NamedTuple):
    """A Poisson editing problem ready to solve: the system on Ω's box, the full target, a start value."""

    system: PoissonSystem
    target: torch.Tensor
    x0: torch.Tensor

    def compose(self, x: torch.Tensor) -> torch.Tensor:
        """The full image: values ``x`` (on the box) inside Ω, the target everywhere else (bit for bit)."""
        ys, xs = self.system.box.slices
        out = self.target.clone()
        region, x = out[..., ys, xs], x.to(out.dtype)
        if torch.is_grad_enabled() and (x.requires_grad or self.target.requires_grad):
            out[..., ys, xs] = torch.where(self.system.m, x, region)
        else:  # in place: no box-sized temporary (each fresh large buffer costs its page faults too)
            torch.where(self.system.m, x, region, out=region)
        return out


def clone_problem(source: Any, target: Any, mask: Any, offset: Sequence[int] = (0, 0), mode: str = "import",
                  outside: str = "clip") -> Problem:
    """Build eq. 7 for seamless cloning (checks every input; see :func:`seamless_clone`)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    src, tgt = _check_images(source, target)
    m = check_mask(mask, tuple(src.shape[-2:])).to(tgt.device)
    return _clone_problem(src, tgt, m, _check_offset(offset), mode, outside)


def _clone_problem(src: torch.Tensor, tgt: torch.Tensor, m: torch.Tensor, offset: tuple[int, int], mode: str,
                   outside: str) -> Problem:
    """:func:`clone_problem` on inputs already checked (the edits below build their own g)."""
    dx, dy = offset
    mt, box = place_mask(m, tuple(tgt.shape[-2:]), (dx, dy), outside)
    g = crop_with_margin(src, box.y0 - dy, box.x0 - dx, box.h, box.w)  # g on the box, 1-px margin
    t = crop_with_margin(tgt, box.y0, box.x0, box.h, box.w)
    omega_with_margin = torch.nn.functional.pad(mt, (1, 1, 1, 1))
    if mode == "mixed":
        system = build_system(t, omega_with_margin, box, v=mixed_field(g, t))
        x0 = system.target
    else:
        if mode == "monochrome":
            g = luminance(g).expand_as(t)
        system = build_system(t, omega_with_margin, box, guide_with_margin=g)
        x0 = inner(g)
    return Problem(system, tgt, x0)


def solve_problem(problem: Problem, solver: str = "auto", return_info: bool = False, *,
                  callback: StepCallback | None = None, **options: Any):
    """Solve a :class:`Problem` and compose the result (see :func:`seamless_clone` for the options).

    ``callback(step, image, value)`` receives the full composited image (``C×H_t×W_t``)."""
    t0 = time.perf_counter()
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable as callback(step, image, loss)")
    on_box = None if callback is None else (lambda step, x, value: callback(step, problem.compose(x), value))
    x, info = solve(problem.system, solver, x0=problem.x0, callback=on_box, **options)
    out = problem.compose(x)
    info.seconds = time.perf_counter() - t0
    return (out, info) if return_info else out


def seamless_clone(source: Any, target: Any, mask: Any, offset: Sequence[int] = (0, 0), mode: str = "import",
                   solver: str = "auto", *, outside: str = "clip", return_info: bool = False,
                   **options: Any) -> torch.Tensor | tuple[torch.Tensor, SolveInfo]:
    """Seamless cloning (Pérez et al. 2003, eq. 7 with eq. 11 / eq. 13): paste Ω of ``source`` into ``target``.

    Solves, for p ∈ Ω shifted by ``offset = (dx, dy)``, |N_p| f_p − Σ_{q∈N_p∩Ω} f_q = Σ_{q∈N_p\\Ω} f*_q +
    Σ_{q∈N_p} v_pq with v from ``mode``: ``"import"`` (source gradients, eq. 11), ``"mixed"`` (the stronger
    of source and target gradient per edge, eq. 13) or ``"monochrome"`` (the source's luminance gradients).

    ``solver``: ``"auto"`` (default: ``"dst"`` when Ω is a rectangle away from the border, else ``"mgpcg"``,
    decided from Ω alone), ``"mgpcg"`` (options ``tol`` = 3e-5 relative residual, ``max_iter``, ``nu``,
    ``nu0``, ``omega``, ``coarse``), ``"dst"`` (``tol``), ``"adam"`` (``method`` = "fixed" | "course",
    ``lr``, ``max_steps``, ``coarse``, ``loss_tol`` / ``patience``, ``tol``); an option the solver does not take
    is refused (``dipnb.poisson.solvers.REGISTRY[name].options`` lists them). Every solver accepts
    ``callback(step, image, value)`` (full composited image; return True to stop early) every
    ``callback_every`` steps (default 1, adam 100), and ``strict=True`` (raise instead of warning when the
    tolerance is not reached). ``return_info=True`` returns ``(image, SolveInfo)`` with ``.solver``,
    ``.iterations``, ``.rel_residual``, ``.seconds``. ``outside``: see the module's offset policy. Runs on
    the device of ``target``; float64 inputs are solved in float64, everything else in float32. Images go
    through :func:`dipnb.images.to_tensor` (floats must be in [0, 1]; over-budget sizes are refused).

    **Batched**: ``source`` and/or ``target`` may be ``N×C×H×W`` tensors (NumPy: ``N×H×W×C``; a single
    image is used for every item) and ``mask`` ``H×W`` (one Ω for all: the N·C channels are solved together, in
    one run of the solver) or ``N×H×W`` (one Ω each: N solves); the result is ``N×C×H_t×W_t``, the same as N
    single calls, and ``SolveInfo`` describes the whole batch (``extra["per_item"]`` with one Ω per item).

    **Differentiable**: gradients flow to ``source`` and ``target`` (hence to a guidance field built from them
    and to the boundary values f*) through an adjoint solve — A is symmetric, so the backward pass is one more
    solve with the same solver and options, never the unrolled iterations (Adam's gradient is the exact
    solve's). ``tol`` bounds the gradient's relative error as it does the result's: pass e.g. ``tol=1e-12`` in
    float64 for ``torch.autograd.gradcheck``. Ω and the offset are discrete: they have no gradient. In mixed
    mode the choice of the stronger gradient per edge is piecewise (the gradient of the chosen one).
    """
    if _batched(source) or _batched(target) or _batched_mask(mask):
        return _clone_batch(source, target, mask, offset, mode, solver, outside, return_info, options)
    problem = clone_problem(source, target, mask, offset, mode, outside)
    return solve_problem(problem, solver, return_info=return_info, **options)


def _batched(x: Any) -> bool:
    return isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim == 4


def _batched_mask(m: Any) -> bool:
    return isinstance(m, (torch.Tensor, np.ndarray)) and m.ndim == 3 and m.shape[0] > 1 and m.shape[-1] > 1


def _items(x: Any, name: str) -> list[Any] | None:
    """The N images of a batch (``N×C×H×W`` tensor, ``N×H×W×C`` array), or None for a single image."""
    if not _batched(x):
        return None
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (N = 0)")
    return [x[n] for n in range(x.shape[0])]


def _clone_batch(source: Any, target: Any, mask: Any, offset: Sequence[int], mode: str, solver: str, outside: str,
                 return_info: bool, options: dict[str, Any]):
    """:func:`seamless_clone` on a batch: one solve for all N·C channels when Ω is shared, else one per item."""
    t0 = time.perf_counter()
    srcs, tgts = _items(source, "source"), _items(target, "target")
    masks = [mask[n] for n in range(mask.shape[0])] if _batched_mask(mask) else None
    sizes = {len(x) for x in (srcs, tgts, masks) if x is not None}
    if len(sizes) > 1:
        raise ValueError(f"batch sizes differ: source {len(srcs) if srcs else '-'}, target "
                         f"{len(tgts) if tgts else '-'}, mask {len(masks) if masks else '-'} items; give N of each "
                         "(or one image / one H×W mask for all)")
    N = sizes.pop()
    srcs, tgts = srcs or [source] * N, tgts or [target] * N
    if masks is not None:  # one Ω per item: N independent systems
        outs, infos = [], []
        for s, t, m in zip(srcs, tgts, masks):
            o, i = seamless_clone(s, t, m, offset, mode, solver, outside=outside, return_info=True, **options)
            outs.append(o)
            infos.append(i)
        worst = max(infos, key=lambda i: i.rel_residual)
        info = SolveInfo(solver=worst.solver, iterations=max(i.iterations for i in infos),
                         rel_residual=worst.rel_residual, seconds=time.perf_counter() - t0,
                         converged=None if any(i.converged is None for i in infos) else all(i.converged for i in infos),
                         stopped_early=any(i.stopped_early for i in infos), extra={"per_item": infos})
        out = _stack(outs)
        return (out, info) if return_info else out
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    pairs = [_check_images(s, t) for s, t in zip(srcs, tgts)]
    shapes = {(tuple(s.shape), tuple(t.shape), s.dtype) for s, t in pairs}
    if len(shapes) > 1:
        raise ValueError(f"the items of a batch differ in shape or dtype ({sorted(map(str, shapes))}); stack "
                         "images of one size")
    src0 = pairs[0][0]
    m = check_mask(mask, tuple(src0.shape[-2:])).to(src0.device)
    off = _check_offset(offset)
    problems = [_clone_problem(s, t, m, off, mode, outside) for s, t in pairs]
    sy = problems[0].system
    system = PoissonSystem(box=sy.box, m=sy.m, D=sy.D, b=torch.cat([p.system.b for p in problems]),
                           target_with_margin=torch.cat([p.system.target_with_margin for p in problems]),
                           omega_with_margin=sy.omega_with_margin, items=N)
    batch = Problem(system, torch.cat([p.target for p in problems]), torch.cat([p.x0 for p in problems]))
    out, info = solve_problem(batch, solver, return_info=True, **options)
    out = out.view(N, -1, *out.shape[-2:])
    info.seconds = time.perf_counter() - t0
    return (out, info) if return_info else out


def _stack(outs: list[torch.Tensor]) -> torch.Tensor:
    shapes = {tuple(o.shape) for o in outs}
    if len(shapes) > 1:
        raise ValueError(f"the items of a batch give results of different shapes {sorted(shapes)}; stack targets "
                         "of one size")
    return torch.stack(outs)


def paste(source: Any, target: Any, mask: Any, offset: Sequence[int] = (0, 0), outside: str = "clip") -> torch.Tensor:
    """The naive cut-and-paste that seamless cloning improves on: Ω's source pixels copied into the target."""
    pb = clone_problem(source, target, mask, offset, "import", outside)
    return pb.compose(pb.x0)


# --------------------------------------------------------------------------------------------------
# The other edits of the paper: one image, Ω in its own coordinates, a guidance field built from it.
# --------------------------------------------------------------------------------------------------
def _image_and_mask(image: Any, mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
    img = _image(image, "image")
    if img.shape[0] not in (1, 3):
        raise ValueError(f"image has {img.shape[0]} channels; pass a gray or RGB image")
    m = check_mask(mask, tuple(img.shape[-2:])).to(img.device)
    return img, m


def field_problem(image: torch.Tensor, mask: torch.Tensor, field: Any) -> Problem:
    """Eq. 7 on ``image`` (which is also f*) over Ω = ``mask`` with the guidance ``field(crop) → v``.

    ``field`` receives the image cropped to Ω's box with a 1-px margin (``C×(h+2)×(w+2)``, nearest pixel
    beyond the image) and returns v as ``4×C×h×w`` (v_pq for q = p + up, down, left, right).
    """
    mt, box = place_mask(mask, tuple(image.shape[-2:]), (0, 0), "raise")
    t = crop_with_margin(image, box.y0, box.x0, box.h, box.w)
    omega_with_margin = torch.nn.functional.pad(mt, (1, 1, 1, 1))
    system = build_system(t, omega_with_margin, box, v=field(t))
    return Problem(system, image, system.target)


def edge_map(image: torch.Tensor, sigma: float = 1.0, low: float = 0.05, high: float = 0.15) -> torch.Tensor:
    """Canny edges (scikit-image) of the luminance, as a bool ``H×W`` tensor on the image's device."""
    from skimage.feature import canny

    y = luminance(image)[0].detach().to("cpu", torch.float64).numpy()
    e = canny(y, sigma=sigma, low_threshold=low, high_threshold=high)
    return torch.from_numpy(e).to(image.device)


def texture_flatten(image: Any, mask: Any, edges: Any = None, *, sigma: float = 1.0, low: float = 0.05,
                    high: float = 0.15, solver: str = "auto", return_info: bool = False, **options: Any):
    """Texture flattening (Pérez et al. 2003, eqs. 14–15): inside Ω keep only the gradients at edges.

    v_pq = f*_p − f*_q if an edge lies between p and q (E_p or E_q), else 0, where E is a binary edge map
    (``edges``, or Canny with ``sigma``, ``low``, ``high`` on the luminance). The result looks like a
    cartoon: flat regions between the edges. Returns the image (and a :class:`SolveInfo`).
    """
    _param("sigma", sigma, 0, 100, lo_open=True)
    _param("low", low, 0, 1)
    if _param("high", high, 0, 1) < low:
        raise ValueError(f"need low <= high (Canny's hysteresis thresholds), got low={low}, high={high}")
    img, m = _image_and_mask(image, mask)
    E = edge_map(img, sigma, low, high) if edges is None else check_mask(edges, tuple(img.shape[-2:]), "edges",
                                                                                   allow_empty=True)
    Em = crop_with_margin(E[None].to(img.dtype), *_box_of(m), margin=1)

    def field(t: torch.Tensor) -> torch.Tensor:
        v = image_gradients(t)
        keep = image_gradients_or(Em)
        return v * keep

    pb = field_problem(img, m, field)
    return solve_problem(pb, solver, return_info=return_info, **options)


def _box_of(m: torch.Tensor) -> tuple[int, int, int, int]:
    b = bounding_box(m)
    return b.y0, b.x0, b.h, b.w


def image_gradients_or(a: torch.Tensor) -> torch.Tensor:
    """For a 0/1 map cropped with a 1-px margin: [a_p = 1 or a_q = 1] for the 4 neighbours, ``4×1×h×w``."""
    centre = inner(a)
    return torch.stack([torch.maximum(centre, neighbour(a, d)) for d in DIRECTIONS])


def illumination_change(image: Any, mask: Any, alpha: float = 0.2, beta: float = 0.2, *, eps: float = 1e-3,
                        solver: str = "auto", return_info: bool = False, **options: Any):
    """Local illumination change (Pérez et al. 2003, eq. 16), in the log domain.

    With f = log(image + ε): v = a^β |∇f|^{−β} ∇f, a = ``alpha`` × the mean gradient norm of f over Ω
    (per channel, as in the paper: "α is 0.2 times the average gradient norm of f* over Ω", β = 0.2).
    Large gradients are compressed, small ones boosted: shadows and highlights inside Ω even out.
    Discretely, |∇f| is the central-difference gradient norm per pixel and the factor on edge pq is the
    mean of its two pixels' factors (so v_pq = −v_qp). Returns exp(f) − ε (and a :class:`SolveInfo`).
    """
    _param("alpha", alpha, 0, 100, lo_open=True)  # the paper: 0.2
    _param("beta", beta, 0, 1, hi_open=True)  # the paper: 0.2
    _param("eps", eps, 0, 1, lo_open=True)  # log(0) is −inf: black pixels need ε > 0
    img, m = _image_and_mask(image, mask)
    if float(img.min()) < 0:
        raise ValueError("illumination_change works on non-negative intensities (log domain); clamp the image "
                         "to [0, 1] first")
    logi = torch.log(img + eps)
    y0, x0, h, w = _box_of(m)
    L = crop_with_margin(logi, y0, x0, h, w, margin=2)
    gy = (L[..., 2:, 1:-1] - L[..., :-2, 1:-1]) * 0.5
    gx = (L[..., 1:-1, 2:] - L[..., 1:-1, :-2]) * 0.5
    norm = torch.sqrt(gx * gx + gy * gy)  # C×(h+2)×(w+2): |∇f| on the box with a 1-px margin
    on_omega = inner(norm)[:, m[y0:y0 + h, x0:x0 + w]]
    a = (alpha * on_omega.mean(dim=1)).clamp_min(1e-12).view(-1, 1, 1)
    factor = a ** beta * norm.clamp_min(1e-6) ** (-beta)

    def field(t: torch.Tensor) -> torch.Tensor:  # t: log-image crop with a 1-px margin
        v = image_gradients(t)
        centre = inner(factor)
        f_pq = torch.stack([0.5 * (centre + neighbour(factor, d)) for d in DIRECTIONS])
        return v * f_pq

    pb = field_problem(logi, m, field)
    out, info = solve_problem(pb, solver, return_info=True, **options)
    out = torch.where(m, torch.exp(out) - eps, img)  # outside Ω: the input, bit for bit
    if not bool(torch.isfinite(out).all()):
        raise FloatingPointError(f"illumination_change overflowed (exp of the solved log-image) with alpha={alpha}, "
                                 f"beta={beta}, eps={eps}; use values nearer the paper's (alpha = beta = 0.2)")
    return (out, info) if return_info else out


def color_change(image: Any, mask: Any, factors: Sequence[float] | None = (1.5, 0.5, 0.5), recolor: Any = None,
                 *, solver: str = "auto", return_info: bool = False, **options: Any):
    """Local colour change (Pérez et al. 2003, section 4, "local colour changes"): seamless cloning (eq. 7,
    eq. 11) of a recoloured copy of the image into itself over Ω.

    The copy is ``recolor(image)`` if given, else the image with its channels multiplied by ``factors``
    (R, G, B — as OpenCV's ``colorChange``). Outside Ω the image is untouched; at ∂Ω the colours blend.
    """
    img, m = _image_and_mask(image, mask)
    if recolor is not None:
        if not callable(recolor):
            raise TypeError(f"recolor must be a function image → image, got {type(recolor).__name__}")
        g = to_tensor(recolor(img.clone()), name="recolor(image)").to(img)
        if g.shape != img.shape:
            raise ValueError(f"recolor(image) returned shape {tuple(g.shape)}, expected {tuple(img.shape)}")
    else:
        try:
            fac = [float(f) for f in factors]
        except (TypeError, ValueError):
            raise TypeError(f"factors must be numbers, one per channel, e.g. (1.5, 0.5, 0.5), got {factors!r}") from None
        if len(fac) != img.shape[0]:
            raise ValueError(f"factors needs one value per channel ({img.shape[0]}), got {len(fac)}")
        for k, f in enumerate(fac):
            _param(f"factors[{k}]", f, 0, 100)
        g = img * torch.tensor(fac, dtype=img.dtype, device=img.device).view(-1, 1, 1)
    pb = _clone_problem(g, img, m, (0, 0), "import", "raise")
    return solve_problem(pb, solver, return_info=return_info, **options)


def seamless_tile(image: Any, *, solver: str = "auto", return_info: bool = False, **options: Any):
    """Seamless tiling (Pérez et al. 2003, section 4, "seamless tiling"): eq. 7 with v = ∇g over the
    image's interior, and periodic-compatible boundary values f*_north = f*_south = ½(g_north + g_south),
    f*_west = f*_east = ½(g_west + g_east) (corners: the mean of the 4 corners). The result tiles without
    visible seams (its opposite borders are equal).
    """
    img = _image(image, "image")
    C, H, W = img.shape
    if H < 3 or W < 3:
        raise ValueError(f"seamless_tile needs an image of at least 3×3 pixels, got {H}×{W}")
    fstar = img.clone()
    ns = 0.5 * (img[:, 0, :] + img[:, -1, :])
    we = 0.5 * (img[:, :, 0] + img[:, :, -1])
    fstar[:, 0, :] = ns
    fstar[:, -1, :] = ns
    fstar[:, :, 0] = we
    fstar[:, :, -1] = we
    corner = 0.25 * (img[:, 0, 0] + img[:, 0, -1] + img[:, -1, 0] + img[:, -1, -1])
    for y, x in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        fstar[:, y, x] = corner
    mask = torch.zeros(H, W, dtype=torch.bool, device=img.device)
    mask[1:-1, 1:-1] = True
    pb = _clone_problem(img, fstar, mask, (0, 0), "import", "raise")
    return solve_problem(pb, solver, return_info=return_info, **options)


__all__ = ["MODES", "Problem", "clone_problem", "color_change", "edge_map", "field_problem",
           "illumination_change", "paste", "place_mask", "seamless_clone", "seamless_tile", "solve_problem",
           "texture_flatten"]
