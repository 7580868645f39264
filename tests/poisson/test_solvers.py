"""Solver internals and contracts: callback / early stop / info, SPD preconditioner, transfers, DST, Adam."""

from __future__ import annotations

import torch

from dipnb.poisson import clone_problem, polygon_mask, seamless_clone, solve_problem
from dipnb.poisson.operators import apply_A, assemble_dense, laplacian_conv, laplacian_slice
from dipnb.poisson.solvers.adam import energy_and_gradient, multiscale_expand, multiscale_grads
from dipnb.poisson.solvers.dst import dst1
from dipnb.poisson.solvers.mgpcg import MGPreconditioner, prolong, restrict

from conftest import clone_case  # noqa: E402  (tests/conftest.py: the shared test images)

POLY = [(2, 1), (25, 3), (30, 25), (18, 14), (5, 28)]


def _problem(seed=0, dtype=torch.float32):
    return clone_case((3, 30, 40), (3, 36, 34), POLY, seed, dtype=dtype, draw_dtype=torch.float64)


def test_callback_contract_and_early_stop():
    src, tgt, m = _problem()
    calls = []

    def cb(step, f, loss):
        calls.append((step, tuple(f.shape), type(loss)))
        return step >= 30  # stop at the third call

    out, info = seamless_clone(src, tgt, m, (3, 2), solver="adam", callback=cb, callback_every=10,
                               return_info=True)
    assert [c[0] for c in calls] == [10, 20, 30]
    assert all(c[1] == (3, 36, 34) and c[2] is float for c in calls)
    assert info.stopped_early and info.iterations == 30 and info.solver == "adam"
    assert isinstance(info.rel_residual, float) and info.seconds > 0 and out.shape == tgt.shape
    # the fast solver reports every iteration to the same callback
    steps = []
    out, info = seamless_clone(src, tgt, m, (3, 2), solver="mgpcg", callback=lambda s, f, r: steps.append(s),
                               return_info=True)
    assert steps == list(range(1, info.iterations + 1)) and info.converged
    assert 1 <= info.iterations <= 20 and info.rel_residual <= 3e-5


def test_preconditioner_is_symmetric_positive_definite():
    m = polygon_mask([(3, 2), (60, 5), (55, 50), (30, 35), (5, 58)], (64, 70))
    M = MGPreconditioner(m, 0, 0, 64, 70, torch.float64, channels=1, coarse=8)
    assert len(M.levels) >= 3
    g = torch.Generator().manual_seed(0)
    r1 = torch.randn(1, 64, 70, generator=g, dtype=torch.float64) * m
    r2 = torch.randn(1, 64, 70, generator=g, dtype=torch.float64) * m
    z1, z2 = M(r1).clone(), M(r2).clone()
    assert torch.allclose((z1 * r2).sum(), (r1 * z2).sum(), rtol=1e-10)
    assert float((z1 * r1).sum()) > 0 and float((z2 * r2).sum()) > 0
    assert torch.equal(z1 * ~m, torch.zeros_like(z1))


def test_restriction_is_prolongation_transposed_over_four():
    g = torch.Generator().manual_seed(1)
    c = torch.randn(2, 5, 6, generator=g, dtype=torch.float64)
    f = torch.randn(2, 10, 12, generator=g, dtype=torch.float64)
    assert torch.allclose((prolong(c) * f).sum(), 4 * (c * restrict(f)).sum())
    # bilinear: a constant stays constant away from the (zero) edges; weights sum to one
    p = prolong(torch.ones(1, 4, 4, dtype=torch.float64))
    assert torch.allclose(p[0, 1:-1, 1:-1], torch.ones(6, 6, dtype=torch.float64))


def test_dst1_matches_its_matrix_and_is_an_involution_up_to_scale():
    n = 7
    k = torch.arange(n, dtype=torch.float64)
    S = torch.sin(torch.pi * (k[:, None] + 1) * (k[None, :] + 1) / (n + 1))
    x = torch.randn(3, n, dtype=torch.float64)
    assert torch.allclose(dst1(x), x @ S.T)
    assert torch.allclose(dst1(dst1(x)) * 2 / (n + 1), x)


def test_operator_matches_dense_matrix_and_teaching_stencils():
    m = polygon_mask(POLY, (30, 40))
    D = torch.full((30, 40), 4.0, dtype=torch.float64)
    D[0, :] -= 1
    D[:, 0] -= 1
    A, idx = assemble_dense(m, D)
    u = torch.randn(1, 30, 40, dtype=torch.float64) * m
    assert torch.allclose(apply_A(u, D, m.double()).flatten()[idx], A @ u.flatten()[idx])
    f = torch.randn(3, 12, 13)
    assert torch.allclose(laplacian_conv(f), laplacian_slice(f), atol=1e-5)


def test_student_stopping_rule_fires_and_fixed_adam_converges():
    src, tgt, m = _problem(2)
    exact = seamless_clone(src.double(), tgt.double(), m, (3, 2), tol=1e-12)
    pb = clone_problem(src, tgt, m, (3, 2))
    course, info_c = solve_problem(pb, "adam", return_info=True, method="course", max_steps=400, loss_tol=5e-2,
                                   patience=50)
    assert info_c.iterations < 400  # the student's |Δloss| < loss_tol over `patience` steps rule fired
    assert info_c.history[-1] < info_c.history[0]
    fixed, info_f = solve_problem(pb, "adam", return_info=True)
    err_c = float((course.double() - exact).abs().max()) * 255
    err_f = (fixed.double() - exact).abs() * 255
    assert float(err_f.mean()) <= 1.0 and err_f.max() < err_c  # fixes: mean within one grey level


def test_multiscale_gradient_equals_autograd():
    m = polygon_mask([(3, 2), (30, 5), (28, 29), (5, 30)], (32, 32))
    M = MGPreconditioner(m, 0, 0, 32, 32, torch.float64, channels=1, coarse=8)
    masks = [lv.m for lv in M.levels]
    g = torch.Generator().manual_seed(3)
    coeffs = [torch.randn(1, lv.h, lv.w, generator=g, dtype=torch.float64, requires_grad=True) for lv in M.levels]
    w = torch.randn(1, 32, 32, generator=g, dtype=torch.float64)
    (multiscale_expand(coeffs, masks) * w).sum().backward()
    for c, gc in zip(coeffs, multiscale_grads(w, masks)):
        assert torch.allclose(c.grad, gc)


def test_energy_gradient_equals_autograd_and_minimiser_solves_eq7():
    m = polygon_mask([(3, 2), (30, 5), (28, 29), (5, 30)], (32, 32))
    L0 = MGPreconditioner(m, 0, 0, 32, 32, torch.float64, channels=1, coarse=8).levels[0]
    g = torch.Generator().manual_seed(4)
    mf = L0.m
    r = torch.randn(1, L0.h, L0.w, generator=g, dtype=torch.float64) * mf
    e = (torch.randn(1, L0.h, L0.w, generator=g, dtype=torch.float64) * mf).requires_grad_(True)
    n = float(mf.sum())
    loss, grad = energy_and_gradient(e, r, L0.D, mf, n)
    loss.backward()
    inside = mf.bool().expand_as(grad)
    assert torch.allclose(e.grad[inside], grad[inside]) and not grad[~inside].any()
    # the gradient vanishes exactly at the solution of A e = r
    A, _ = assemble_dense(m, L0.D)
    sol = torch.zeros(1, L0.h, L0.w, dtype=torch.float64)
    sol[0][m] = torch.linalg.solve(A, r[0][m])
    assert energy_and_gradient(sol, r, L0.D, mf, n)[1].abs().max() < 1e-12


def test_course_method_is_the_templates_loop():
    """Start 0.9·f* + 0.1·g on Ω, Adam lr 1e-2, lr × 0.1 after step int(max_steps·2/3) + 1, no stopping rule."""
    from dipnb.poisson.solvers.adam import course_loss

    src, tgt, m = _problem(2)
    pb = clone_problem(src, tgt, m, (3, 2))
    _, a = solve_problem(pb, "adam", return_info=True, method="course", max_steps=40)
    _, b = solve_problem(pb, "adam", return_info=True, method="course", max_steps=100)
    assert a.iterations == 40 and b.iterations == 100 and a.converged is None  # ran its steps, no target
    # identical until the shorter run's decay (after its step int(40·2/3) + 1 = 27) takes effect
    assert a.history[:28] == b.history[:28] and a.history[28] != b.history[28]
    start = torch.where(pb.system.m, 0.9 * pb.system.target + 0.1 * pb.x0, pb.system.target)  # written out
    assert abs(float(course_loss(pb.system, start)) - a.history[0]) < 1e-6


def test_strided_transfers_equal_the_reference_transfers():
    """The V-cycle's restrict_into / prolong_into (strided, no full-size temporaries) are R and P exactly."""
    from dipnb.poisson.solvers.mgpcg import _ringed, prolong_into, restrict_into

    g = torch.Generator().manual_seed(5)
    f = torch.randn(2, 10, 12, generator=g, dtype=torch.float64)
    fp = _ringed(2, 10, 12, torch.float64, f.device)
    fp[..., 1:-1, 1:-1] = f
    out = torch.empty(2, 5, 6, dtype=torch.float64)
    assert torch.allclose(restrict_into(fp, torch.empty(2, 5, 14, dtype=torch.float64), out) / 64, restrict(f))
    c = torch.randn(2, 5, 6, generator=g, dtype=torch.float64)
    cp = _ringed(2, 5, 6, torch.float64, c.device)
    cp[..., 1:-1, 1:-1] = c
    fine = torch.empty(2, 10, 12, dtype=torch.float64)
    assert torch.allclose(prolong_into(cp, torch.empty(2, 7, 12, dtype=torch.float64), fine) / 16, prolong(c))
