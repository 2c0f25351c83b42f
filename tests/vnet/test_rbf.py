"""The memory-light RBF operators: values, gradients (gradcheck), memory, both code paths."""

from __future__ import annotations

import pytest
import torch

from vnet import rbf as R

BASIS = R.RBFBasis(31, 1.2)


@pytest.fixture(params=["chunked", "broadcast"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both implementations; the chunked one with tiny blocks so several are used."""
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
    torch.testing.assert_close(f, f_ref, atol=tol, rtol=tol)
    torch.testing.assert_close(fp, fp_ref, atol=tol * 20, rtol=tol)
    torch.testing.assert_close(R.rbf(x, w, BASIS), f_ref, atol=tol, rtol=tol)
    assert torch.isfinite(f).all() and torch.isfinite(fp).all()


def test_derivative_is_derivative_of_value(path: str) -> None:
    x, w = _inputs(torch.device("cpu"))
    f, fp = R.rbf_value_and_derivative(x, w, BASIS)
    (grad,) = torch.autograd.grad(R.rbf_materialized(x, w, BASIS).sum(), x)
    torch.testing.assert_close(fp, grad)


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
