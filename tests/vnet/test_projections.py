"""Projections onto the constraint set: feasible, idempotent, nearest (vs. SLSQP)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from vnet import CoupledVN, VNConfig
from vnet.projections import (
    kernel_rows,
    project_kernels_,
    project_l1_ball,
    project_zero_mean_l1_ball,
)


def _rows(n: int, d: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, d, generator=g, dtype=torch.float64) * scale
    return v + torch.rand(n, 1, generator=g, dtype=torch.float64)  # non-zero means


def _slsqp(v: np.ndarray, zero_mean: bool, radius: float = 1.0) -> np.ndarray:
    """Brute-force reference: x = p - q, p, q >= 0, sum(p + q) <= r (, sum(p - q) = 0)."""
    d = v.size
    cons = [{"type": "ineq", "fun": lambda z: radius - z.sum(), "jac": lambda z: -np.ones(2 * d)}]
    if zero_mean:
        jac = np.concatenate([np.ones(d), -np.ones(d)])
        cons.append(
            {"type": "eq", "fun": lambda z: z[:d].sum() - z[d:].sum(), "jac": lambda z: jac}
        )

    def f(z: np.ndarray) -> float:
        return 0.5 * float(np.sum((z[:d] - z[d:] - v) ** 2))

    def g(z: np.ndarray) -> np.ndarray:
        r = z[:d] - z[d:] - v
        return np.concatenate([r, -r])

    z0 = np.full(2 * d, radius / (4 * d))
    res = minimize(
        f,
        z0,
        jac=g,
        bounds=[(0, None)] * (2 * d),
        constraints=cons,
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    return res.x[:d] - res.x[d:]


def test_l1_ball_feasible_idempotent_exact_inside() -> None:
    v = _rows(50, 25, 0, scale=0.3)
    x = project_l1_ball(v)
    assert (x.abs().sum(1) <= 1 + 1e-12).all()
    torch.testing.assert_close(project_l1_ball(x), x)
    small = v / (10 * v.abs().sum(1, keepdim=True))
    torch.testing.assert_close(project_l1_ball(small), small)


@pytest.mark.parametrize("seed", range(4))
def test_l1_ball_nearest(seed: int) -> None:
    v = _rows(1, 9, seed)
    x = project_l1_ball(v)[0].numpy()
    ref = _slsqp(v[0].numpy(), zero_mean=False)
    np.testing.assert_allclose(x, ref, atol=1e-6)


@pytest.mark.parametrize("d, scale", [(9, 1.0), (25, 0.05), (121, 0.2), (363, 1.0), (600, 0.03)])
def test_zero_mean_l1_feasible_idempotent(d: int, scale: float) -> None:
    v = _rows(40, d, d, scale)
    x, info = project_zero_mean_l1_ball(v)
    assert info.converged
    assert info.iterations <= 20
    assert x.sum(1).abs().max() <= 1e-12
    assert (x.abs().sum(1) <= 1 + 1e-12).all()
    x2, info2 = project_zero_mean_l1_ball(x)
    torch.testing.assert_close(x2, x, atol=1e-13, rtol=0)
    assert info2.iterations <= 1


@pytest.mark.parametrize("seed", range(6))
def test_zero_mean_l1_nearest(seed: int) -> None:
    v = _rows(1, 9 if seed % 2 else 16, seed, scale=[0.05, 0.5, 2.0][seed % 3])
    x = project_zero_mean_l1_ball(v)[0][0].numpy()
    ref = _slsqp(v[0].numpy(), zero_mean=True)
    np.testing.assert_allclose(x, ref, atol=1e-6)
    # x is at least as close to v as the reference
    vv = v[0].numpy()
    assert np.sum((x - vv) ** 2) <= np.sum((ref - vv) ** 2) + 1e-9


def test_zero_mean_inactive_ball_is_mean_shift() -> None:
    v = torch.tensor([[0.1, 0.2, 0.3, 0.0]], dtype=torch.float64)
    x, _ = project_zero_mean_l1_ball(v)
    torch.testing.assert_close(x, v - v.mean())


def test_float32_input() -> None:
    v = _rows(20, 121, 7).float()
    x, _ = project_zero_mean_l1_ball(v)
    assert x.dtype == torch.float32
    assert x.double().sum(1).abs().max() < 1e-6
    assert (x.double().abs().sum(1) <= 1 + 1e-6).all()


def test_kernel_rows_and_granularity() -> None:
    w = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    assert kernel_rows(w, "filter").shape == (4, 75)
    assert kernel_rows(w, "slice").shape == (12, 25)
    with pytest.raises(ValueError):
        kernel_rows(w, "pixel")
    ws = w.clone()
    project_kernels_(ws, zero_mean=True, granularity="slice")
    assert ws.sum((2, 3)).abs().max() < 1e-12
    assert (ws.abs().sum((2, 3)) <= 1 + 1e-12).all()
    wf = w.clone()
    project_kernels_(wf, zero_mean=True, granularity="filter")
    assert wf.sum((1, 2, 3)).abs().max() < 1e-12
    assert (wf.abs().sum((1, 2, 3)) <= 1 + 1e-12).all()


@pytest.mark.parametrize("zero_mean", [True, False])
@pytest.mark.parametrize("granularity", ["filter", "slice"])
def test_model_project(zero_mean: bool, granularity: str, small_config: VNConfig) -> None:
    cfg = small_config.model_copy(update={"zero_mean": zero_mean, "granularity": granularity})
    net = CoupledVN(cfg)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g))
    net.project_()
    dims = (1, 2, 3) if granularity == "filter" else (2, 3)
    tol = 1e-5
    for block in net.blocks:
        assert (block.ku.abs().sum(dims) <= 1 + tol).all()
        assert (block.km.abs().sum(dims) <= 1 + tol).all()
        assert (block.k.abs().sum((1, 2, 3)) <= 1 + tol).all()  # coupling: one l1 ball per filter
        assert block.km.sum(dims).abs().max() < tol  # mask kernels are always zero mean
        if zero_mean:
            assert block.ku.sum(dims).abs().max() < tol
        else:
            assert block.ku.sum(dims).abs().max() > 1e-3  # not forced to zero mean
        assert (block.lam >= 0).all()
    before = [p.detach().clone() for p in net.parameters()]
    net.project_()
    for a, b in zip(before, net.parameters(), strict=True):
        torch.testing.assert_close(a, b.detach(), atol=1e-6, rtol=0)
