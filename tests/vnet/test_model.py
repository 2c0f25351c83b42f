"""The coupled variational network: shapes, explicit gradient = autograd, adjoints, reference."""

from __future__ import annotations

import pytest
import torch

from vnet import CoupledVN, UNet, UNetConfig, VNConfig
from vnet import rbf as R
from vnet.model import VNStep, conv, conv_adjoint, pad_symmetric, pad_symmetric_adjoint
from vnet.reference import NaiveCoupledVN, naive_energy


def _perturbed(cfg: VNConfig, dtype: torch.dtype = torch.float64) -> CoupledVN:
    """A network with non-trivial RBF functions (random weights), projected."""
    net = CoupledVN(cfg).to(dtype)
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for block in net.blocks:
            for p in (block.wu, block.wm, block.w):
                p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=dtype))
            block.lam.fill_(0.3)
    return net


@pytest.fixture(params=["exact", "table"])
def rbf_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both RBF implementations (the table deviates from the exact functions by ~1e-7)."""
    monkeypatch.setattr(R, "_default_path", request.param)
    return str(request.param)


def _tol(path: str, exact: float, table: float) -> dict[str, float]:
    return {"atol": exact, "rtol": exact} if path == "exact" else {"atol": table, "rtol": table}


def test_paper_defaults() -> None:
    c = VNConfig()
    assert (c.steps, c.n_fu, c.k_u, c.n_fm, c.k_m, c.n_f, c.k, c.n_w) == (
        10,
        20,
        11,
        4,
        5,
        24,
        5,
        31,
    )
    assert c.rbf_range == 1.2 and c.zero_mean is True
    net = CoupledVN(c)
    assert len(net.blocks) == 10
    b = net.blocks[0]
    assert tuple(b.ku.shape) == (20, 3, 11, 11)
    assert tuple(b.km.shape) == (4, 1, 5, 5)
    assert tuple(b.k.shape) == (24, 24, 5, 5)
    assert tuple(b.wu.shape) == (20, 31) and tuple(b.wm.shape) == (4, 31)
    assert tuple(b.w.shape) == (24, 31) and tuple(b.lam.shape) == (1,)


def test_forward_shapes_and_range(device: torch.device, small_config: VNConfig) -> None:
    net = CoupledVN(small_config).to(device)
    u0 = torch.rand(2, 3, 17, 23, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        u, m = net(u0, torch.zeros(2, 1, 17, 23, device=device))
        u2, m2 = net(u0)  # m0 defaults to the empty mask
    assert u.shape == u0.shape and m.shape == (2, 1, 17, 23)
    assert u.dtype == torch.float32
    assert 0 <= float(u.min()) and float(u.max()) <= 1
    assert 0 <= float(m.min()) and float(m.max()) <= 1
    torch.testing.assert_close(u2, u)
    torch.testing.assert_close(m2, m)


@pytest.mark.parametrize("padding", ["symmetric", "zeros"])
@pytest.mark.parametrize("zero_mean", [True, False])
def test_explicit_gradient_equals_autograd(
    padding: str, zero_mean: bool, small_config: VNConfig, device: torch.device, rbf_path: str
) -> None:
    """``E_t`` uses the exact antiderivative, so the table path agrees to its deviation."""
    cfg = small_config.model_copy(update={"padding": padding, "zero_mean": zero_mean})
    net = _perturbed(cfg).to(device)
    g = torch.Generator().manual_seed(2)
    u0 = torch.rand(2, 3, 9, 12, generator=g, dtype=torch.float64).to(device)
    u = torch.rand(2, 3, 9, 12, generator=g, dtype=torch.float64).to(device).requires_grad_()
    m = torch.rand(2, 1, 9, 12, generator=g, dtype=torch.float64).to(device).requires_grad_()
    for block in net.blocks:
        energy = block.energy(u, m, u0).sum()
        gu_auto, gm_auto = torch.autograd.grad(energy, (u, m))
        gu, gm = block.grad_energy(u, m, u0)
        assert float(gu.detach().abs().max()) > 1e-3 and float(gm.detach().abs().max()) > 1e-3
        if rbf_path == "exact":
            torch.testing.assert_close(gu, gu_auto, atol=1e-12, rtol=1e-10)
            torch.testing.assert_close(gm, gm_auto, atol=1e-12, rtol=1e-10)
        else:
            torch.testing.assert_close(gu, gu_auto, atol=1e-6, rtol=0)
            torch.testing.assert_close(gm, gm_auto, atol=1e-6, rtol=0)
        # the naive energy (materialised RBFs) is the same function
        torch.testing.assert_close(naive_energy(block, u, m, u0), block.energy(u, m, u0))


@pytest.mark.parametrize("padding", ["symmetric", "zeros"])
@pytest.mark.parametrize("size", [(5, 6), (7, 9), (12, 10)])
def test_conv_adjoint(padding: str, size: tuple[int, int]) -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, *size, generator=g, dtype=torch.float64)
    w = torch.randn(4, 3, 5, 5, generator=g, dtype=torch.float64)
    y = torch.randn(2, 4, *size, generator=g, dtype=torch.float64)
    lhs = (conv(x, w, padding) * y).sum()
    rhs = (x * conv_adjoint(y, w, padding)).sum()
    torch.testing.assert_close(lhs, rhs)


def test_symmetric_padding() -> None:
    x = torch.arange(3.0).view(1, 1, 1, 3).expand(1, 1, 3, 3)
    p = pad_symmetric(x, 2)
    assert p[0, 0, 0].tolist() == [1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 1.0]
    y = torch.randn(1, 1, 7, 7, dtype=torch.float64)
    xx = torch.randn(1, 1, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(
        (pad_symmetric(xx, 2) * y).sum(), (xx * pad_symmetric_adjoint(y, 2)).sum()
    )
    with pytest.raises(ValueError, match="at least"):
        pad_symmetric(torch.zeros(1, 1, 2, 2), 3)


def test_matches_naive_reference(small_config: VNConfig, rbf_path: str) -> None:
    """Forward and parameter gradients of the training loss agree with autograd-of-energy.

    Exactly for the exact RBFs; to the table's deviation (docs/vnet.md) for the table.
    """
    net = _perturbed(small_config)
    naive = NaiveCoupledVN(net)
    g = torch.Generator().manual_seed(5)
    u0 = torch.rand(2, 3, 10, 11, generator=g, dtype=torch.float64)
    gu = torch.rand(2, 3, 10, 11, generator=g, dtype=torch.float64)
    gm = (torch.rand(2, 1, 10, 11, generator=g) > 0.5).double()
    grads = []
    outs = []
    for model in (net, naive):
        net.zero_grad()
        u, m = model(u0)
        outs.append((u.detach(), m.detach()))
        loss = ((u - gu) ** 2).sum() / 6 + ((m - gm) ** 2).sum() / 2
        loss.backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    torch.testing.assert_close(outs[0][0], outs[1][0], **_tol(rbf_path, 1e-7, 1e-5))
    torch.testing.assert_close(outs[0][1], outs[1][1], **_tol(rbf_path, 1e-7, 1e-5))
    for a, b in zip(*grads, strict=True):
        if rbf_path == "exact":
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-7)
        else:  # relative to the gradient's scale: entries near 0 carry the absolute error
            torch.testing.assert_close(a, b, atol=1e-4 * float(b.abs().max()), rtol=1e-3)


def test_training_gradient_flows_to_every_parameter(small_config: VNConfig) -> None:
    net = CoupledVN(small_config)
    u0 = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    u, m = net(u0)
    (((u - 0.5) ** 2).sum() + ((m - 0.7) ** 2).sum()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if name != "blocks.0.lam":  # u_0 = u0, so the first data term has zero gradient
            assert float(p.grad.abs().sum()) > 0, name


def test_seeded_initialisation(small_config: VNConfig) -> None:
    a, b = CoupledVN(small_config), CoupledVN(small_config)
    c = CoupledVN(small_config.model_copy(update={"seed": 99}))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.blocks[0].ku, c.blocks[0].ku)


def test_bad_inputs(small_config: VNConfig) -> None:
    net = CoupledVN(small_config)
    with pytest.raises(ValueError, match="channels"):
        net(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="at least"):
        net(torch.rand(1, 3, 1, 16))
    with pytest.raises(ValueError, match="m0"):
        net(torch.rand(1, 3, 16, 16), torch.zeros(1, 2, 16, 16))
    with pytest.raises(ValueError, match="shape"):
        net(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="odd"):
        VNConfig(k_u=4)
    with pytest.raises(ValueError, match="padding"):
        VNConfig(padding="reflect")


def test_config_round_trip() -> None:
    c = VNConfig(steps=3, zero_mean=False)
    assert VNConfig.model_validate(c.model_dump()) == c
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        VNConfig.model_validate({**c.model_dump(), "bogus": 1})
    with pytest.raises(ValueError, match="^error: VNConfig has an unknown field 'bogus'$"):
        c.replace(bogus=1)  # a copy validated like a new one: one line


@pytest.mark.parametrize("size", [(37, 53), (8, 8), (5, 3)])
def test_unet(size: tuple[int, int], device: torch.device) -> None:
    net = UNet(UNetConfig(channels=8)).to(device)
    u0 = torch.rand(2, 3, *size, device=device)
    with torch.no_grad():
        u, m = net(u0, torch.zeros(2, 1, *size, device=device))
    assert u.shape == u0.shape and m.shape == (2, 1, *size)
    assert 0 <= float(m.min()) and float(m.max()) <= 1
    assert 0 <= float(u.min()) and float(u.max()) <= 1
    assert net.project_() == []


def test_bf16_autocast_forward(small_config: VNConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--precision bf16``: the network runs under autocast, close to float32; refused
    on a CPU without AVX-512-BF16/AMX."""
    from vnet import hardware as T

    net = _perturbed(small_config, torch.float32)
    u0 = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        u32, m32 = net(u0)
        with T.autocast("bf16", torch.device("cpu")):
            u16, m16 = net(u0)
    assert u16.dtype in (torch.float32, torch.bfloat16)
    torch.testing.assert_close(u16.float(), u32, atol=0.05, rtol=0)
    torch.testing.assert_close(m16.float(), m32, atol=0.05, rtol=0)
    T.check_precision("fp32", torch.device("cpu"))
    monkeypatch.setattr(T, "_cpu_flags", lambda: {"avx2", "avx512f"})
    with pytest.raises(T.TrainingError, match="AVX-512-BF16"):
        T.check_precision("bf16", torch.device("cpu"))
    monkeypatch.setattr(T, "_cpu_flags", lambda: {"amx_bf16"})
    T.check_precision("bf16", torch.device("cpu"))
    with pytest.raises(T.TrainingError, match="unknown precision"):
        T.check_precision("fp16", torch.device("cpu"))


def test_configure_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from vnet import hardware as T

    old = torch.get_num_threads()
    try:
        monkeypatch.setattr(T, "available_cores", lambda: 4)
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
        assert T.configure_threads() == 2  # all cores, shared by the processes of a machine
        assert T.configure_threads(1) == 1
    finally:
        torch.set_num_threads(old)


# ------------------------------------------------------------------ K mask channels


@pytest.mark.parametrize("kind", ["vn", "unet"])
def test_k_channel_forward_backward_shapes(
    kind: str, small_config: VNConfig, device: torch.device
) -> None:
    """K = 3: m0 and m_T have three channels; every parameter gets a gradient."""
    if kind == "vn":
        vn = CoupledVN(small_config.replace(mask_channels=3))
        assert tuple(_step(vn).km.shape) == (2, 3, 3, 3)  # K^m reads all channels
        net: torch.nn.Module = vn
    else:
        net = UNet(UNetConfig(channels=8, mask_channels=3))
    net = net.to(device)
    u0 = torch.rand(2, 3, 16, 20, generator=torch.Generator().manual_seed(1)).to(device)
    u, m = net(u0)
    u_given, m_given = net(u0, torch.zeros(2, 3, 16, 20, device=device))
    assert u.shape == u0.shape and m.shape == (2, 3, 16, 20)
    torch.testing.assert_close(m_given, m)
    assert 0 <= float(m.detach().min()) and float(m.detach().max()) <= 1
    target = torch.zeros_like(m)
    target[:, 1, 4:9, 4:9] = 1  # one-vs-rest target of class 2
    (((u - u0) ** 2).sum() + ((m - target) ** 2).sum()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    with pytest.raises(ValueError, match=r"m0 must have shape \(B, 3, H, W\)"):
        net(u0, torch.zeros(2, 1, 16, 20, device=device))


def test_k_channel_projection_is_the_box_per_channel(small_config: VNConfig) -> None:
    """proj_M clamps every channel to [0, 1] on its own: no simplex coupling of classes."""
    net = _perturbed(small_config.replace(mask_channels=3))
    block = _step(net)
    g = torch.Generator().manual_seed(3)
    u0 = torch.rand(1, 3, 12, 12, generator=g, dtype=torch.float64)
    m = 3 * torch.rand(1, 3, 12, 12, generator=g, dtype=torch.float64) - 1  # outside [0, 1]
    with torch.no_grad():
        block.wm.mul_(50.0)  # large mask gradients: the projection is active
        u_next, m_next = block(u0, m, u0)
        _, gm = block.grad_energy(u0, m, u0)
    assert torch.equal(m_next, torch.clamp(m - gm, 0.0, 1.0))
    assert float(m_next.min()) == 0.0 and float(m_next.max()) == 1.0
    assert float(m_next.sum(1).max()) > 1.0  # several classes may be 1 at a pixel
    with torch.no_grad():
        u, m_t = net(u0, m.clamp(0, 1))
    assert 0 <= float(m_t.min()) and float(m_t.max()) <= 1 and 0 <= float(u.min())


def test_k_channel_explicit_gradient_and_reference(small_config: VNConfig, rbf_path: str) -> None:
    """The explicit gradient of E_t and the naive network hold for K = 3 as for K = 1."""
    net = _perturbed(small_config.replace(mask_channels=3))
    g = torch.Generator().manual_seed(5)
    u0 = torch.rand(2, 3, 9, 12, generator=g, dtype=torch.float64)
    u = torch.rand(2, 3, 9, 12, generator=g, dtype=torch.float64).requires_grad_()
    m = torch.rand(2, 3, 9, 12, generator=g, dtype=torch.float64).requires_grad_()
    tol = 1e-10 if rbf_path == "exact" else 1e-6
    for index in range(len(net.blocks)):
        block = _step(net, index)
        gu_auto, gm_auto = torch.autograd.grad(block.energy(u, m, u0).sum(), (u, m))
        gu, gm = block.grad_energy(u, m, u0)
        assert gm.shape == m.shape and float(gm.detach().abs().max()) > 1e-3
        torch.testing.assert_close(gu, gu_auto, atol=tol, rtol=tol)
        torch.testing.assert_close(gm, gm_auto, atol=tol, rtol=tol)
    with torch.no_grad():
        expected = net(u0)
    got = NaiveCoupledVN(net)(u0)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a.detach(), b, atol=tol, rtol=tol)


def test_one_channel_is_the_papers_network(small_config: VNConfig) -> None:
    """K = 1 is the default: same parameters, and a dump without the new field."""
    one = CoupledVN(small_config.replace(mask_channels=1))
    default = CoupledVN(small_config)
    for (na, a), (nb, b) in zip(
        one.state_dict().items(), default.state_dict().items(), strict=True
    ):
        assert na == nb and torch.equal(a, b)
    assert "mask_channels" not in small_config.model_dump()
    assert small_config.replace(mask_channels=2).model_dump()["mask_channels"] == 2
    assert tuple(_step(default).km.shape) == (2, 1, 3, 3)


def _step(net: CoupledVN, index: int = 0) -> VNStep:
    block = net.blocks[index]
    assert isinstance(block, VNStep)
    return block
