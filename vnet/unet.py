"""U-Net baseline of the paper (Sect. "Results", Fig. 7).

Three scales; at each scale two 3 x 3 convolutions with ReLU on 32 channels; max
pooling down, transposed convolution up, skip connections by concatenation. The
image head predicts a residual on ``u0`` (clamped to ``[0, 1]``), the mask head
``K = mask_channels`` logits turned into per-class probabilities by a sigmoid each
(one-vs-rest, as the VN's per-channel ``[0, 1]``). The call signature matches
:class:`vnet.model.CoupledVN`: ``u_T, m_T = net(u0, m0)`` with ``m (B, K, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vnet.config import UNetConfig
from vnet.model import check_images

__all__ = ["UNet"]


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net for joint denoising (residual) and segmentation (sigmoid).

    Parameters
    ----------
    config : UNetConfig, optional
        Architecture (paper: 3 scales, 32 channels).

    Examples
    --------
    >>> net = UNet(UNetConfig(channels=8))
    >>> u, m = net(torch.rand(1, 3, 37, 53))
    >>> tuple(u.shape), tuple(m.shape)
    ((1, 3, 37, 53), (1, 1, 37, 53))
    >>> tuple(UNet(UNetConfig(channels=8, mask_channels=3))(torch.rand(1, 3, 8, 8))[1].shape)
    (1, 3, 8, 8)
    """

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else UNetConfig()
        c, s = self.config.channels, self.config.scales
        n_in = self.config.in_channels + self.config.mask_channels  # image and mask
        self.down = nn.ModuleList(_double_conv(n_in if i == 0 else c, c) for i in range(s))
        self.up = nn.ModuleList(nn.ConvTranspose2d(c, c, 2, stride=2) for _ in range(s - 1))
        self.merge = nn.ModuleList(_double_conv(2 * c, c) for _ in range(s - 1))
        self.head = nn.Conv2d(c, self.config.in_channels + self.config.mask_channels, 1)
        if not self.head.weight.is_meta:  # a network on the meta device has shapes, no values
            self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """He-normal weights drawn from ``config.seed``, zero biases, a small head."""
        generator = torch.Generator().manual_seed(self.config.seed)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = module.weight[0].numel()
                if isinstance(module, nn.ConvTranspose2d):
                    fan_in = module.weight.shape[0] * module.weight[0, 0].numel()
                std = (2.0 / fan_in) ** 0.5
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                if module.bias is not None:
                    module.bias.zero_()
        self.head.weight.mul_(0.1)

    @property
    def min_size(self) -> int:
        """Smallest image side accepted (any size works; inputs are padded)."""
        return 1

    @property
    def mask_channels(self) -> int:
        """``K``, the channels of the mask (one per class)."""
        return self.config.mask_channels

    def forward(
        self, u0: torch.Tensor, m0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(u, m)``: denoised image in ``[0, 1]`` and mask probability.

        Parameters
        ----------
        u0 : torch.Tensor
            ``(B, C, H, W)`` in ``[0, 1]``; any ``H, W`` (padded internally to a
            multiple of ``2**(scales-1)`` by reflection).
        m0 : torch.Tensor, optional
            ``(B, K, H, W)`` initial mask (zeros when omitted).
        """
        check_images(u0, m0, 1, self.mask_channels)
        if m0 is None:
            m0 = u0.new_zeros(u0.shape[0], self.mask_channels, *u0.shape[-2:])
        h, w = u0.shape[-2:]
        f = 2 ** (self.config.scales - 1)
        ph, pw = (-h) % f, (-w) % f
        x = torch.cat([u0, m0], dim=1)
        if ph or pw:
            mode = "reflect" if (h > ph and w > pw) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        skips = []
        for i, block in enumerate(self.down):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        out = self.head(x)[..., :h, :w]
        c = self.config.in_channels
        u = torch.clamp(u0 + out[:, :c], 0.0, 1.0)
        m = torch.sigmoid(out[:, c:])
        return u, m

    @torch.no_grad()
    def project_(self) -> list[object]:
        """No constraints: present so trainers treat both networks alike."""
        return []
