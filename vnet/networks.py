"""Building a network from its kind and configuration, and counting its parameters.

:func:`count_parameters` builds the network on the meta device (shapes, no values, no
memory), so a checkpoint whose configuration asks for a larger network than the values
it stores is refused before anything is allocated (:mod:`vnet.checkpoint`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from vnet.config import TrainConfig, UNetConfig, VNConfig
from vnet.model import CoupledVN
from vnet.unet import UNet

__all__ = ["build_model", "model_config", "count_parameters"]


def build_model(kind: str, config: Mapping[str, Any] | VNConfig | UNetConfig) -> nn.Module:
    """Build a network from its kind and configuration.

    Parameters
    ----------
    kind : {"vn", "unet"}
        Network kind.
    config : VNConfig, UNetConfig or dict
        Its configuration (a dict as stored in checkpoints is validated).

    Returns
    -------
    torch.nn.Module
        :class:`~vnet.model.CoupledVN` or :class:`~vnet.unet.UNet`, on the default
        device (``with torch.device("meta"):`` gives one without values).

    Raises
    ------
    ValueError
        An unknown kind, or a configuration of the wrong class or with invalid fields.
    """
    if kind == "vn":
        vn = config if isinstance(config, VNConfig) else VNConfig.model_validate(config)
        return CoupledVN(vn)
    if kind == "unet":
        unet = config if isinstance(config, UNetConfig) else UNetConfig.model_validate(config)
        return UNet(unet)
    raise ValueError(f"unknown model kind {kind!r}; use 'vn' or 'unet'")


def model_config(config: TrainConfig) -> VNConfig | UNetConfig:
    """The architecture of the network a training configuration trains."""
    return config.vn if config.model == "vn" else config.unet


def count_parameters(kind: str, config: VNConfig | UNetConfig) -> int:
    """Number of values in the state dict of the network a configuration describes.

    The network is built on the meta device, so nothing is allocated whatever the
    configuration asks for.

    Examples
    --------
    >>> count_parameters("vn", VNConfig(steps=1, n_fu=1, k_u=1, n_fm=1, k_m=1, n_f=1, k=1,
    ...                                 n_w=2, in_channels=1))
    11
    >>> count_parameters("unet", UNetConfig(scales=1, channels=1, in_channels=1))
    33
    """
    with torch.device("meta"):
        net = build_model(kind, config)
    return sum(t.numel() for t in net.state_dict().values())
