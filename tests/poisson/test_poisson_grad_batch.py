"""seamless_clone batched (N×C×H×W) and differentiable (adjoint solve), on CPU and, where present, CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dipnb.poisson import polygon_mask, seamless_clone, solve
from dipnb.poisson.guidance import build_system, crop_with_margin
from dipnb.poisson.mask import place_mask

from conftest import clone_case  # noqa: E402  (tests/conftest.py: the shared test images)

POLY = [(2, 1), (12, 2), (14, 12), (8, 7), (2, 13)]
TINY = [(1, 1), (8, 1), (9, 8), (5, 5), (1, 9)]
TOL_BATCH = 0.01 / 255


def _small(seed=0, dtype=torch.float64, n=None):
    lead = () if n is None else (n,)
    return clone_case((*lead, 3, 15, 16), (*lead, 3, 17, 18), POLY, seed, dtype=dtype, draw_dtype=torch.float64)


@pytest.mark.parametrize("mode", ["import", "mixed", "monochrome"])
def test_gradcheck_source_and_target_every_mode(mode):
    g = torch.Generator().manual_seed(0)
    src = torch.rand(3, 10, 11, generator=g, dtype=torch.float64)
    tgt = torch.rand(3, 12, 12, generator=g, dtype=torch.float64)
    mask = polygon_mask(TINY, (10, 11))
    s, t = src.requires_grad_(True), tgt.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s, t: seamless_clone(s, t, mask, (2, 1), mode, tol=1e-12), (s, t))


def test_gradcheck_rectangle_dst_path_and_border_touching_mask():
    src, tgt, _ = _small(1)
    rect = torch.zeros(15, 16, dtype=torch.bool)
    rect[3:10, 4:12] = True  # solver "auto" → dst
    s, t = src.requires_grad_(True), tgt.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s, t: seamless_clone(s, t, rect, (2, 1), tol=1e-12), (s, t),
                                    fast_mode=True)
    edge = torch.zeros(15, 16, dtype=torch.bool)
    edge[0:9, 0:10] = True  # touches the target's top-left border with offset (0, 0)
    assert torch.autograd.gradcheck(lambda s, t: seamless_clone(s, t, edge, (0, 0), tol=1e-12), (s, t),
                                    fast_mode=True)


def test_gradcheck_guidance_field_and_boundary_values():
    """Through the lower level: b built from a guidance field v and boundary values f*, both requiring grad."""
    _, tgt, mask = _small(2)
    mt, box = place_mask(mask, (17, 18), (2, 1))
    omega_with_margin = torch.nn.functional.pad(mt, (1, 1, 1, 1))
    target_with_margin = crop_with_margin(tgt, box.y0, box.x0, box.h, box.w).clone().requires_grad_(True)
    v = torch.randn(4, 3, box.h, box.w, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    v.requires_grad_(True)

    def f(v, target_with_margin):
        return solve(build_system(target_with_margin, omega_with_margin, box, v=v), "mgpcg", tol=1e-12)[0]

    assert torch.autograd.gradcheck(f, (v, target_with_margin), fast_mode=True)


def test_adam_path_gets_the_exact_solves_gradient():
    src, tgt, mask = _small(4, torch.float32)
    grads = []
    for solver, kw in (("mgpcg", {"tol": 1e-6}), ("adam", {"max_steps": 50})):
        t = tgt.clone().requires_grad_(True)
        out = seamless_clone(src, t, mask, (2, 1), solver=solver, **kw)
        (out * torch.linspace(0, 1, out.numel()).view_as(out)).sum().backward()
        grads.append(t.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-4)


def test_a_colour_gain_is_learned_through_the_blend():
    """The notebook-04 exercise in miniature: recover the gain that made a blended image, by gradient descent."""
    src, tgt, mask = _small(5, torch.float64)
    true = torch.tensor([1.3, 0.8, 1.1], dtype=torch.float64).view(3, 1, 1)
    goal = seamless_clone(src * true / 1.5, tgt, mask, (2, 1))
    gain = torch.ones(3, 1, 1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([gain], lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        loss = ((seamless_clone(src * gain / 1.5, tgt, mask, (2, 1)) - goal) ** 2).mean()
        loss.backward()
        opt.step()
    assert torch.allclose(gain.detach(), true, atol=2e-3), gain.detach().flatten()


def test_backward_is_one_adjoint_solve_not_unrolled_iterations():
    src, tgt, mask = _small(6, torch.float32)
    s = src.requires_grad_(True)
    out, info = seamless_clone(s, tgt, mask, (2, 1), return_info=True, tol=1e-6, coarse=4)
    assert info.iterations > 2
    # the graph holds one solve node, however many iterations ran
    names, stack, seen = [], [out.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.append(type(fn).__name__)
        stack.extend(f for f, _ in fn.next_functions)
    assert sum("AdjointSolve" in n for n in names) == 1 and len(names) < 80


# --- batched ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["import", "mixed", "monochrome"])
def test_batch_with_one_mask_equals_single_solves(mode):
    src, tgt, mask = _small(7, torch.float32, n=4)
    out, info = seamless_clone(src, tgt, mask, (2, 1), mode, return_info=True)
    assert out.shape == (4, 3, 17, 18) and info.converged
    single = torch.stack([seamless_clone(src[n], tgt[n], mask, (2, 1), mode) for n in range(4)])
    assert float((out - single).abs().max()) <= TOL_BATCH


def test_batch_with_one_mask_per_item_and_broadcast_target():
    src, tgt, mask = _small(8, torch.float32, n=3)
    masks = torch.stack([mask, mask.roll(1, 1), mask.roll(2, 0)])
    out, info = seamless_clone(src, tgt[0], masks, (2, 1), return_info=True)
    assert out.shape == (3, 3, 17, 18) and len(info.extra["per_item"]) == 3
    for n in range(3):
        assert float((out[n] - seamless_clone(src[n], tgt[0], masks[n], (2, 1))).abs().max()) <= TOL_BATCH


def test_batch_of_numpy_uint8_channels_last():
    rng = np.random.default_rng(0)
    s8 = rng.integers(0, 256, (2, 15, 16, 3), dtype=np.uint8)
    t8 = rng.integers(0, 256, (2, 17, 18, 3), dtype=np.uint8)
    mask = polygon_mask(POLY, (15, 16))
    out = seamless_clone(s8, t8, mask, (2, 1))
    assert out.shape == (2, 3, 17, 18)
    assert float((out[1] - seamless_clone(s8[1], t8[1], mask, (2, 1))).abs().max()) <= TOL_BATCH


def test_batch_gradients_match_single_gradients():
    src, tgt, mask = _small(9, torch.float64, n=2)
    s = src.clone().requires_grad_(True)
    w = torch.rand(2, 3, 17, 18, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (seamless_clone(s, tgt, mask, (2, 1), tol=1e-12) * w).sum().backward()
    for n in range(2):
        sn = src[n].clone().requires_grad_(True)
        (seamless_clone(sn, tgt[n], mask, (2, 1), tol=1e-12) * w[n]).sum().backward()
        assert torch.allclose(s.grad[n], sn.grad, atol=1e-10)


def test_batch_errors_are_clear():
    src, tgt, mask = _small(10, torch.float32, n=3)
    with pytest.raises(ValueError, match="batch sizes differ"):
        seamless_clone(src, tgt[:2], mask, (2, 1))
    with pytest.raises(ValueError, match="empty batch"):
        seamless_clone(src[:0], tgt[:0], mask, (2, 1))


# --- the GPU path -------------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: no GPU on this machine, the CUDA path is "
                    "not exercised here")
def test_cuda_batched_and_differentiable_matches_cpu():
    src, tgt, mask = _small(11, torch.float32, n=2)
    cpu = seamless_clone(src, tgt, mask, (2, 1))
    s = src.cuda().requires_grad_(True)
    out = seamless_clone(s, tgt.cuda(), mask.cuda(), (2, 1))
    assert out.device.type == "cuda" and float((out.detach().cpu() - cpu).abs().max()) <= 0.05 / 255
    out.sum().backward()
    assert s.grad is not None and s.grad.device.type == "cuda"
    s64, t64, m = _small(12)
    s64, t64 = s64.cuda().requires_grad_(True), t64.cuda().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: seamless_clone(a, b, m.cuda(), (2, 1), tol=1e-12), (s64, t64))


def test_batch_items_stop_as_their_own_solves_would():
    """Items converging at different iterations: each keeps the value its single solve returns (bit for bit)."""
    g = torch.Generator().manual_seed(13)
    src = torch.rand(3, 3, 15, 16, generator=g)
    tgt = torch.rand(3, 3, 17, 18, generator=g)
    tgt[1] = 0.5  # flat boundary values: this item converges in fewer iterations than the others
    mask = polygon_mask(POLY, (15, 16))
    out = seamless_clone(src, tgt, mask, (2, 1), coarse=4)
    iters = []
    for n in range(3):
        one, info = seamless_clone(src[n], tgt[n], mask, (2, 1), coarse=4, return_info=True)
        iters.append(info.iterations)
        assert float((out[n] - one).abs().max()) <= TOL_BATCH
    assert len(set(iters)) > 1, iters  # the case this test is about
