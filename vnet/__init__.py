"""vnet: the coupled variational network of Effland et al. and a U-Net baseline.

Train them on synthesized data, predict on real images and evaluate masks::

    from vnet import CoupledVN, VNConfig
    net = CoupledVN(VNConfig(steps=10))
    u_T, m_T = net(u0, m0)        # u0 (B, 3, H, W) in [0, 1], m0 (B, K, H, W), K classes
    net.project_()                # onto the admissible set P after an optimiser step

``vnet`` never imports the scene grammar: training data arrive as a folder in the
dataset format (``docs/dataset.md``) or as a picklable ``index -> (noisy, clean,
mask)`` callable.
"""

from __future__ import annotations

from vnet.config import PRESETS, TrainConfig, UNetConfig, VNConfig, preset
from vnet.model import CoupledVN
from vnet.unet import UNet

__all__ = ["CoupledVN", "VNConfig", "UNet", "UNetConfig", "TrainConfig", "PRESETS", "preset"]
