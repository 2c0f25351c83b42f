"""Configuration dataclasses of the networks and of training, and the presets.

Everything that defines a model or a training run is a frozen dataclass, stored in
checkpoints as a plain dict (:meth:`to_dict`) and rebuilt with :meth:`from_dict`, so
checkpoints load with ``torch.load(weights_only=True)``.

Presets (:data:`PRESETS`, :func:`preset`)
-----------------------------------------
``paper``
    The paper's setting (Sect. "Results"): 800 samples of 300 x 300, batch 8, Adam
    (0.9, 0.999), 1500 iterations at 1e-4 (5e-5 for ``scenario3``; the zero-mean
    constraint of ``K^u`` is dropped for ``scenario1``). U-Net: 3000 iterations at
    5e-5.
``default``
    What a 2-core CPU finishes in about a quarter of an hour and still clearly
    learns (measured figures in ``docs/vnet.md``). Unlike the paper, the VN's loss
    weights the image term 30 times more (:data:`DEFAULT_LOSS_WEIGHTS`), so that u_T
    is a denoised u0 and not only a carrier for the mask (``docs/vnet.md``, "Denoising").
``smoke``
    Seconds; for tests and for checking that a pipeline runs.

Per-scene changes of a preset are dotted-key overrides keyed by the scene name
(:attr:`TrainConfig.scene_overrides`), applied by :meth:`TrainConfig.for_scene`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "VNConfig",
    "UNetConfig",
    "TrainConfig",
    "PRESETS",
    "preset",
    "MODEL_KINDS",
    "PAPER_LOSS_WEIGHTS",
    "DEFAULT_LOSS_WEIGHTS",
]

MODEL_KINDS = ("vn", "unet")
#: ``(w_u, w_m)`` of the paper's loss, Eq. (3): ``1/6 ||u_T - g_u||^2 + 1/2 ||m_T - g_m||^2``.
PAPER_LOSS_WEIGHTS = (1.0 / 6.0, 0.5)
#: ``(w_u, w_m)`` of the ``default`` VN preset: the image term 30 times the paper's. With
#: the paper's weights the image term is about 5 % of the loss (the mask's squared errors are
#: some 20 times the image's), so training sacrifices u_T for m_T and u_T ends below u0
#: (docs/vnet.md, "Denoising"; experiments/vn_denoise_study.py).
DEFAULT_LOSS_WEIGHTS = (30.0 / 6.0, 0.5)
_PADDINGS = ("symmetric", "zeros")
_GRANULARITIES = ("filter", "slice")


def _from_dict(cls: type, data: Mapping[str, Any], what: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{what}: unknown field(s) {unknown}; known: {sorted(names)}")
    return cls(**dict(data))


@dataclass(frozen=True)
class VNConfig:
    """Architecture of the coupled variational network (paper defaults).

    Parameters
    ----------
    steps : int
        Number of projected gradient steps ``N_t`` (paper: 10).
    n_fu : int
        Number of RGB feature kernels ``N_fu`` (paper: 20).
    k_u : int
        Size of the RGB kernels ``K^u_t`` (odd; paper: 11).
    n_fm : int
        Number of mask feature kernels ``N_fm`` (paper: 4).
    k_m : int
        Size of the mask kernels ``K^m_t`` (odd; paper: 5).
    n_f : int
        Number of coupling kernels ``N_f``, i.e. output channels of ``K_t``
        (paper: ``N_f = N_fu + N_fm = 24``). ``K_t`` always reads the
        ``n_fu + n_fm`` concatenated features.
    k : int
        Size of the coupling kernels ``K_t`` (odd; paper: 5).
    n_w : int
        Number of Gaussian RBFs per function ``N_w`` (paper: 31).
    rbf_range : float
        The Gaussians' centres are equally spaced on ``[-rbf_range, rbf_range]``
        (paper: 1.2); their width is the spacing.
    zero_mean : bool
        Constrain the RGB kernels ``K^u_t`` to zero mean (paper: dropped for
        Scenario 1). The mask kernels ``K^m_t`` are always zero mean.
    in_channels : int
        Channels of the image ``u`` (3 for RGB).
    padding : {"symmetric", "zeros"}
        Boundary handling of every convolution. ``"symmetric"`` mirrors the image
        including the edge pixel (numpy's ``"symmetric"``); the adjoint folds the
        padding back. ``"zeros"`` uses zero padding and ``conv_transpose2d``.
        Both are exact adjoint pairs.
    granularity : {"filter", "slice"}
        What one kernel of the constraint set is: one output filter (the paper's
        ``K^{u,i}_t``) or one 2-D (output, input) slice.
    phi_slope : float
        Initial slope of ``phi^u_t`` and ``phi^m_t`` (identity-like functions).
    dphi_slope : float
        Initial slope of ``Dphi_t`` (``phi_t`` starts as the quadratic
        ``dphi_slope / 2 * z**2``, a small Tikhonov-like term).
    lambda_init : float
        Initial data weight ``lambda_t``.
    seed : int
        Seed of the parameter initialisation (a private ``torch.Generator``).
    proj_tol : float
        Tolerance of the zero-mean/l1 projection (``|sum k| <= proj_tol``).
    proj_max_iter : int
        Iteration cap of that projection.
    """

    steps: int = 10
    n_fu: int = 20
    k_u: int = 11
    n_fm: int = 4
    k_m: int = 5
    n_f: int = 24
    k: int = 5
    n_w: int = 31
    rbf_range: float = 1.2
    zero_mean: bool = True
    in_channels: int = 3
    padding: str = "symmetric"
    granularity: str = "filter"
    phi_slope: float = 1.0
    dphi_slope: float = 0.1
    lambda_init: float = 0.1
    seed: int = 0
    proj_tol: float = 1e-12
    proj_max_iter: int = 100

    def __post_init__(self) -> None:
        for name in ("steps", "n_fu", "n_fm", "n_f", "in_channels", "proj_max_iter"):
            if getattr(self, name) < 1:
                raise ValueError(f"VNConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("k_u", "k_m", "k"):
            v = getattr(self, name)
            if v < 1 or v % 2 == 0:
                raise ValueError(f"VNConfig.{name} must be a positive odd kernel size, got {v}")
        if self.n_w < 2:
            raise ValueError(f"VNConfig.n_w must be >= 2, got {self.n_w}")
        if not self.rbf_range > 0:
            raise ValueError(f"VNConfig.rbf_range must be > 0, got {self.rbf_range}")
        if self.padding not in _PADDINGS:
            raise ValueError(f"VNConfig.padding must be one of {_PADDINGS}, got {self.padding!r}")
        if self.granularity not in _GRANULARITIES:
            raise ValueError(
                f"VNConfig.granularity must be one of {_GRANULARITIES}, got {self.granularity!r}"
            )
        if self.lambda_init < 0:
            raise ValueError(f"VNConfig.lambda_init must be >= 0, got {self.lambda_init}")

    @property
    def max_pad(self) -> int:
        """Largest padding of any convolution (images must be at least this large)."""
        return max(self.k_u, self.k_m, self.k) // 2

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (safe for ``torch.save`` + ``weights_only``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VNConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error."""
        return _from_dict(cls, data, "VNConfig")


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of the U-Net baseline (paper: 3 scales, 32 channels).

    Parameters
    ----------
    scales : int
        Number of resolutions (the input, and ``scales - 1`` max-pooled ones).
    channels : int
        Feature channels of every conv layer.
    in_channels : int
        Channels of the image ``u``.
    seed : int
        Seed of the parameter initialisation.
    """

    scales: int = 3
    channels: int = 32
    in_channels: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.scales < 1 or self.channels < 1 or self.in_channels < 1:
            raise ValueError(f"UNetConfig fields must be >= 1, got {self}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UNetConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error."""
        return _from_dict(cls, data, "UNetConfig")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the data source.

    Parameters
    ----------
    model : {"vn", "unet"}
        Which network to train.
    vn : VNConfig
        Architecture when ``model == "vn"``.
    unet : UNetConfig
        Architecture when ``model == "unet"``.
    iterations : int
        Number of Adam steps.
    batch_size : int
        Samples per step.
    crop : int or None
        Train on random ``crop x crop`` windows (``None``: whole images).
    flips : bool
        Random horizontal/vertical flips and transposes (derived from the seed).
    lr : float
        Adam step size.
    betas : tuple of float
        Adam decay rates (paper: 0.9, 0.999).
    loss_weights : tuple of float
        Weights ``(w_u, w_m)`` of the image and mask terms of the loss, per sample
        ``w_u ||u_T - g_u||^2 + w_m ||m_T - g_m||^2`` summed over pixels. The paper's
        Eq. (3) is ``(1/6, 1/2)`` (:data:`PAPER_LOSS_WEIGHTS`); the ``default`` preset
        weights the image 30 times more (``docs/vnet.md``, "Denoising"). A
        configuration with the paper's weights stores no ``loss_weights`` key
        (:meth:`to_dict`), so checkpoints written before the field existed compare
        equal and resume.
    n_samples : int or None
        Size of the fixed training set (sample indices ``0..n-1`` cycled in
        seeded epochs). ``None``: every sample of a dataset folder, or an endless
        stream of fresh samples from a scene.
    seed : int
        Seed of the data order, crops and flips (and of a scene stream).
    workers : int
        DataLoader worker processes (0: load in the main process).
    checkpoint_every : int
        Save a checkpoint every this many iterations (and at the end).
    device : {"auto", "cpu", "cuda"}
        Where to train; ``"auto"`` uses CUDA when present.
    scene_overrides : dict
        ``{scene name: {dotted field: value}}`` applied by :meth:`for_scene`,
        e.g. ``{"scenario3": {"lr": 5e-5}, "scenario1": {"vn.zero_mean": False}}``.
    """

    model: str = "vn"
    vn: VNConfig = field(default_factory=VNConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    iterations: int = 1500
    batch_size: int = 8
    crop: int | None = None
    flips: bool = False
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    loss_weights: tuple[float, float] = PAPER_LOSS_WEIGHTS
    n_samples: int | None = 800
    seed: int = 0
    workers: int = 0
    checkpoint_every: int = 100
    device: str = "auto"
    scene_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in MODEL_KINDS:
            raise ValueError(f"model must be one of {MODEL_KINDS}, got {self.model!r}")
        if self.iterations < 0 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError(
                "iterations must be >= 0, batch_size and checkpoint_every >= 1; got "
                f"{self.iterations}, {self.batch_size}, {self.checkpoint_every}"
            )
        if self.crop is not None and self.crop < 1:
            raise ValueError(f"crop must be >= 1 or None, got {self.crop}")
        if self.n_samples is not None and self.n_samples < 1:
            raise ValueError(f"n_samples must be >= 1 or None, got {self.n_samples}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        weights = tuple(self.loss_weights)
        if (
            len(weights) != 2
            or not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights)
            or not all(math.isfinite(w) and 0 <= w <= 1e6 for w in weights)
            or not any(w > 0 for w in weights)
        ):
            raise ValueError(
                "loss_weights must be two finite numbers in [0, 1e6], not both 0; "
                f"got {self.loss_weights!r}"
            )
        object.__setattr__(self, "loss_weights", tuple(float(w) for w in weights))

    def replace(self, **changes: Any) -> TrainConfig:
        """Copy with fields changed; dotted keys (``"vn.steps"``) reach nested configs."""
        top: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            if "." in key:
                head, tail = key.split(".", 1)
                if head not in ("vn", "unet") or "." in tail:
                    raise ValueError(f"unknown config key {key!r}")
                nested.setdefault(head, {})[tail] = value
            else:
                top[key] = value
        for head, sub in nested.items():
            base = top.get(head, getattr(self, head))
            names = {f.name for f in dataclasses.fields(base)}
            bad = sorted(set(sub) - names)
            if bad:
                raise ValueError(f"unknown config key(s) {[head + '.' + b for b in bad]}")
            top[head] = dataclasses.replace(base, **sub)
        names = {f.name for f in dataclasses.fields(self)}
        bad = sorted(set(top) - names)
        if bad:
            raise ValueError(f"unknown config key(s) {bad}")
        return dataclasses.replace(self, **top)

    def for_scene(self, scene: str | None) -> TrainConfig:
        """Apply :attr:`scene_overrides` for ``scene`` (no-op when absent)."""
        if scene is None or scene not in self.scene_overrides:
            return self
        return self.replace(**self.scene_overrides[scene])

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of the fields."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        if self.loss_weights == PAPER_LOSS_WEIGHTS:
            del d["loss_weights"]
        else:
            d["loss_weights"] = list(self.loss_weights)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error."""
        d = dict(data)
        if "vn" in d and isinstance(d["vn"], Mapping):
            d["vn"] = VNConfig.from_dict(d["vn"])
        if "unet" in d and isinstance(d["unet"], Mapping):
            d["unet"] = UNetConfig.from_dict(d["unet"])
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        if "loss_weights" in d:
            d["loss_weights"] = tuple(d["loss_weights"])
        return _from_dict(cls, d, "TrainConfig")


_PAPER_OVERRIDES: dict[str, dict[str, Any]] = {
    "scenario1": {"vn.zero_mean": False},
    "scenario3": {"lr": 5e-5},
}

#: ``PRESETS[name][model]`` is a :class:`TrainConfig`.
PRESETS: dict[str, dict[str, TrainConfig]] = {
    "paper": {
        "vn": TrainConfig(
            model="vn",
            iterations=1500,
            batch_size=8,
            crop=None,
            lr=1e-4,
            n_samples=800,
            checkpoint_every=50,
            scene_overrides=_PAPER_OVERRIDES,
        ),
        "unet": TrainConfig(
            model="unet",
            iterations=3000,
            batch_size=8,
            crop=None,
            lr=5e-5,
            n_samples=800,
            checkpoint_every=100,
        ),
    },
    "default": {
        "vn": TrainConfig(
            model="vn",
            # lambda_init 1: each step starts close to u0 again, so the image is not
            # dragged along while the mask term of Eq. (3) dominates (docs/vnet.md)
            vn=VNConfig(steps=5, lambda_init=1.0),
            # the image term of Eq. (3) x 30: with the paper's 1/6 the denoised u_T ends
            # below u0 (docs/vnet.md, "Denoising")
            loss_weights=DEFAULT_LOSS_WEIGHTS,
            iterations=400,
            batch_size=4,
            crop=96,
            flips=True,
            lr=3e-3,
            n_samples=200,
            checkpoint_every=50,
            scene_overrides={"scenario1": {"vn.zero_mean": False}},
        ),
        "unet": TrainConfig(
            model="unet",
            iterations=600,
            batch_size=4,
            crop=96,
            flips=True,
            lr=5e-4,
            n_samples=200,
            checkpoint_every=100,
        ),
    },
    "smoke": {
        "vn": TrainConfig(
            model="vn",
            vn=VNConfig(steps=2, n_fu=6, n_fm=2, n_f=8, k_u=5, k_m=3, k=3),
            iterations=4,
            batch_size=2,
            crop=32,
            lr=1e-3,
            n_samples=4,
            checkpoint_every=2,
        ),
        "unet": TrainConfig(
            model="unet",
            unet=UNetConfig(channels=8),
            iterations=4,
            batch_size=2,
            crop=32,
            lr=1e-3,
            n_samples=4,
            checkpoint_every=2,
        ),
    },
}


def preset(name: str, model: str = "vn", scene: str | None = None) -> TrainConfig:
    """Return a preset, with its per-scene overrides applied.

    Parameters
    ----------
    name : {"paper", "default", "smoke"}
        Preset name.
    model : {"vn", "unet"}
        Network.
    scene : str, optional
        Scene name (e.g. ``"scenario3"``) selecting :attr:`TrainConfig.scene_overrides`.

    Returns
    -------
    TrainConfig

    Examples
    --------
    >>> preset("paper", scene="scenario3").lr
    5e-05
    >>> preset("paper", scene="scenario1").vn.zero_mean
    False
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    if model not in PRESETS[name]:
        raise ValueError(f"unknown model {model!r}; choose one of {sorted(PRESETS[name])}")
    return PRESETS[name][model].for_scene(scene)
