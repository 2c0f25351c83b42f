"""The RBF operators: values, gradients (gradcheck), memory; the table and both exact paths."""

from __future__ import annotations

import pytest
import torch

from vnet import rbf as R

BASIS = R.RBFBasis(31, 1.2)


@pytest.fixture(params=["table", "chunked", "broadcast"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """All implementations; the chunked one with tiny blocks so several are used."""
    monkeypatch.setattr(R, "_default_path", request.param)
    monkeypatch.setattr(R, "CHUNK_ELEMENTS", 16)
    return request.param


def _inputs(
    device: torch.device,
    dtype: torch.dtype = torch.float64,
    scale: float = 1.6,
    shape: tuple[int, ...] = (1, 2, 3, 4),
):
    g = torch.Generator().manual_seed(0)
    x = ((torch.rand(shape, generator=g, dtype=dtype) * 2 - 1) * scale).to(device)
    w = torch.randn(shape[1], 31, generator=g, dtype=dtype).to(device)
    return x.requires_grad_(), w.requires_grad_()


def test_basis() -> None:
    assert BASIS.sigma == pytest.approx(0.08)
    assert BASIS.centers[0] == pytest.approx(-1.2)
    assert BASIS.centers[-1] == pytest.approx(1.2)
    assert len(BASIS.centers) == 31
    with pytest.raises(ValueError):
        R.RBFBasis(1, 1.0)


def test_rbf_gradcheck(device: torch.device, path: str) -> None:
    x, w = _inputs(device)
    assert torch.autograd.gradcheck(lambda a, b: R.rbf(a, b, BASIS), (x, w))


def test_value_and_derivative_gradcheck(device: torch.device, path: str) -> None:
    x, w = _inputs(device)
    assert torch.autograd.gradcheck(lambda a, b: R.rbf_value_and_derivative(a, b, BASIS), (x, w))


def test_gradcheck_single_output_used(path: str) -> None:
    """Backward gets None for an unused output."""
    x, w = _inputs(torch.device("cpu"))
    assert torch.autograd.gradcheck(lambda a, b: R.rbf_value_and_derivative(a, b, BASIS)[1], (x, w))
    assert torch.autograd.gradcheck(lambda a, b: R.rbf_value_and_derivative(a, b, BASIS)[0], (x, w))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_materialized(device: torch.device, path: str, dtype: torch.dtype) -> None:
    x, w = _inputs(device, dtype, scale=4.0, shape=(2, 3, 5, 7))  # far outside the centres too
    f, fp = R.rbf_value_and_derivative(x, w, BASIS)
    f_ref, fp_ref = R.rbf_value_and_derivative_materialized(x, w, BASIS)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    tol_f = tol_fp = tol
    if path == "table":
        bound_f, bound_fp = R.table_deviation_bound(BASIS, w)
        tol_f, tol_fp = tol + bound_f, tol + bound_fp / 20
    torch.testing.assert_close(f, f_ref, atol=tol_f, rtol=tol)
    torch.testing.assert_close(fp, fp_ref, atol=tol_fp * 20, rtol=tol)
    torch.testing.assert_close(R.rbf(x, w, BASIS), f_ref, atol=tol_f, rtol=tol)
    assert torch.isfinite(f).all() and torch.isfinite(fp).all()


def test_derivative_is_derivative_of_value(path: str) -> None:
    x, w = _inputs(torch.device("cpu"))
    f, fp = R.rbf_value_and_derivative(x, w, BASIS)
    (grad,) = torch.autograd.grad(R.rbf_materialized(x, w, BASIS).sum(), x)
    atol = R.table_deviation_bound(BASIS, w)[1] if path == "table" else 1e-7
    torch.testing.assert_close(fp, grad, atol=atol, rtol=1e-7)
    (grad_own,) = torch.autograd.grad(R.rbf(x, w, BASIS).sum(), x)
    torch.testing.assert_close(fp, grad_own)  # f' is the derivative of the computed f


def test_antiderivative() -> None:
    x, w = _inputs(torch.device("cpu"))
    (grad,) = torch.autograd.grad(R.rbf_antiderivative(x, w, BASIS).sum(), x)
    torch.testing.assert_close(grad, R.rbf_materialized(x, w, BASIS))


def test_float32_gradients_match_float64(path: str) -> None:
    x, w = _inputs(torch.device("cpu"))
    go = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    outs = []
    for dtype in (torch.float64, torch.float32):
        xx = x.detach().to(dtype).requires_grad_()
        ww = w.detach().to(dtype).requires_grad_()
        f, fp = R.rbf_value_and_derivative(xx, ww, BASIS)
        ((f * go.to(dtype)).sum() + (fp * go.to(dtype)).sum()).backward()
        outs.append((xx.grad.double(), ww.grad.double()))
    torch.testing.assert_close(outs[1][0], outs[0][0], atol=2e-3, rtol=1e-4)
    torch.testing.assert_close(outs[1][1], outs[0][1], atol=2e-3, rtol=1e-4)


def test_saves_only_input_and_weights() -> None:
    """Memory O(input): the graph keeps x and w, never an (input x N_w) tensor."""
    x = torch.randn(2, 4, 16, 16, requires_grad=True)
    w = torch.randn(4, 31, requires_grad=True)
    saved: list[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        f, fp = R.rbf_value_and_derivative(x, w, BASIS)
        g = R.rbf(x, w, BASIS)
    assert sorted(saved) == sorted([x.numel(), w.numel()] * 2)
    assert f.shape == fp.shape == g.shape == x.shape


def test_linear_and_constant_weights() -> None:
    """Least-squares fits on [-r, r]; within |x| <= 1 they are good to 1 %."""
    x = torch.linspace(-1.0, 1.0, 41, dtype=torch.float64).view(1, 1, 41)
    w = R.linear_weights(1, BASIS, 0.5, dtype=torch.float64)
    torch.testing.assert_close(R.rbf_materialized(x, w, BASIS), 0.5 * x, atol=5e-3, rtol=0)
    c = R.constant_weights(1, BASIS, 0.2, dtype=torch.float64)
    torch.testing.assert_close(
        R.rbf_materialized(x, c, BASIS), torch.full_like(x, 0.2), atol=2e-3, rtol=0
    )


def test_bad_shapes() -> None:
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match="w must have shape"):
        R.rbf(x, torch.randn(2, 31), BASIS)
    with pytest.raises(ValueError, match="x must have shape"):
        R.rbf(torch.randn(5), torch.randn(5, 31), BASIS)
    with pytest.raises(ValueError, match="dtype"):
        R.rbf(x, torch.randn(3, 31, dtype=torch.float64), BASIS)
    with pytest.raises(ValueError):
        R.set_default_path("fast")


def test_table_within_documented_bound() -> None:
    """Deviation of the table from the exact functions over [-3, 3], paper basis, float64.

    docs/vnet.md quotes the bounds: |f - f_exact| <= 2e-8 max|w|, |f' - f'_exact| <= 2.5e-5 max|w|.
    """
    g = torch.Generator().manual_seed(7)
    w = torch.randn(4, 31, generator=g, dtype=torch.float64)
    x = torch.linspace(-3.0, 3.0, 60001, dtype=torch.float64).view(1, 1, -1).expand(1, 4, -1)
    f, fp = R.rbf_value_and_derivative(x.contiguous(), w, BASIS)
    f_ref, fp_ref = R.rbf_value_and_derivative_materialized(x, w, BASIS)
    dev_f, dev_fp = float((f - f_ref).abs().max()), float((fp - fp_ref).abs().max())
    bound_f, bound_fp = R.table_deviation_bound(BASIS, w)
    assert dev_f <= bound_f and dev_fp <= bound_fp
    wmax = float(w.abs().max())
    assert bound_f <= 2e-8 * wmax and bound_fp <= 2.5e-5 * wmax


def test_table_outside_and_nonfinite() -> None:
    """Beyond the table the functions are 0 (as the exact path); NaN stays NaN; no bad index."""
    w = torch.randn(2, 31, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    vals = [-1e30, -100.0, -2.5, 2.5, 7.0, 1e30, float("inf"), float("-inf")]
    x = torch.tensor(vals, dtype=torch.float64).repeat(2, 1).unsqueeze(0).requires_grad_()
    f, fp = R.rbf_value_and_derivative(x, w, BASIS)
    assert float(f.detach().abs().max()) == 0.0 and float(fp.detach().abs().max()) == 0.0
    with R.default_path("exact"):
        f_exact = R.rbf(x.detach(), w, BASIS)
    assert float(f_exact.detach().abs().max()) == 0.0
    (f + fp).sum().backward()
    assert float(x.grad.abs().max()) == 0.0
    nan = torch.tensor([[[float("nan"), 0.1]]], dtype=torch.float64).expand(1, 2, 2).contiguous()
    f, fp = R.rbf_value_and_derivative(nan, w, BASIS)
    assert bool(f[..., 0].isnan().all()) and bool(fp[..., 0].isnan().all())
    assert bool(torch.isfinite(f[..., 1]).all())


def test_path_setting() -> None:
    assert R.get_default_path() == "auto"
    with R.default_path("exact"):
        assert R.get_default_path() == "exact"
        x, w = _inputs(torch.device("cpu"))
        f_exact = R.rbf(x, w, BASIS)
    assert R.get_default_path() == "auto"
    assert R.set_default_path("table") == "auto"
    assert R.set_default_path("auto") == "table"
    torch.testing.assert_close(R.rbf(x, w, BASIS), f_exact, atol=1e-7, rtol=0)


def test_autocast_computes_in_float32() -> None:
    """Under bfloat16 autocast the operators take bf16 inputs and compute in float32."""
    x, w = _inputs(torch.device("cpu"), torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        xb = x.detach().to(torch.bfloat16).requires_grad_()
        f, fp = R.rbf_value_and_derivative(xb, w, BASIS)
        g = R.rbf(xb, w, BASIS)
    assert f.dtype == fp.dtype == g.dtype == torch.float32
    ref = R.rbf_materialized(xb.detach().float(), w.detach(), BASIS)
    torch.testing.assert_close(f, ref, atol=1e-5, rtol=1e-5)
    (f.sum() + g.sum()).backward()
    assert xb.grad is not None and xb.grad.dtype == torch.bfloat16
    assert w.grad is not None and torch.isfinite(w.grad).all()
