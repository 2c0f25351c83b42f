"""Configuration models of the networks and of training, and the presets.

Everything that defines a model or a training run is a frozen pydantic model
(:class:`VNConfig`, :class:`UNetConfig`, :class:`TrainConfig`). Each field states its
type, its range and what it means once, in its ``Field``; the same rules check a
configuration built in Python, changed on the command line (:meth:`TrainConfig.replace`)
or read from a checkpoint (``model_validate``, :mod:`vnet.checkpoint`). Checkpoints
store ``model_dump(mode="json")``, a plain dict, so they load with
``torch.load(weights_only=True)``.

Validation is strict: a whole number must be an ``int`` (not ``True``, ``2.0`` or
``"2"``), a flag a ``bool``, a float field takes ``int`` or ``float`` but never NaN or
infinity. Building a configuration directly raises pydantic's ``ValidationError`` (a
``ValueError``) for a violation; :meth:`~_Config.replace`, :meth:`TrainConfig.for_scene`
and :func:`validated`, the paths of the command line, raise a one-line
:class:`~vnet.errors.ConfigError` naming the field, its allowed values and the value
given (:func:`explain`), as :mod:`vnet.checkpoint` does for a stored configuration.

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

import math
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_serializer,
)
from pydantic.fields import FieldInfo

from vnet.errors import ConfigError

__all__ = [
    "VNConfig",
    "UNetConfig",
    "TrainConfig",
    "PRESETS",
    "preset",
    "validated",
    "explain",
    "ModelKind",
    "MODEL_KINDS",
    "MAX_ITERATIONS",
    "PAPER_LOSS_WEIGHTS",
    "DEFAULT_LOSS_WEIGHTS",
    "MAX_CLASSES",
    "BINARY_CLASS",
    "default_classes",
    "class_names",
    "lr_at",
]

ModelKind = Literal["vn", "unet"]
MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)
#: ``(w_u, w_m)`` of the paper's loss, Eq. (3): ``1/6 ||u_T - g_u||^2 + 1/2 ||m_T - g_m||^2``.
PAPER_LOSS_WEIGHTS = (1.0 / 6.0, 0.5)
#: ``(w_u, w_m)`` of the ``default`` VN preset: the image term 30 times the paper's. With
#: the paper's weights the image term is about 5 % of the loss (the mask's squared errors are
#: some 20 times the image's), so training sacrifices u_T for m_T and u_T ends below u0
#: (docs/vnet.md, "Denoising"; experiments/vn_denoise_study.py).
DEFAULT_LOSS_WEIGHTS = (30.0 / 6.0, 0.5)
#: Most iterations (and checkpoint steps) a run may have.
MAX_ITERATIONS = 10**9
#: Most mask channels (classes) of a network: class ids are stored in 8-bit label maps.
MAX_CLASSES = 255
#: The name of the one class of a binary network trained on masks without class names (the
#: class of a version-1 dataset folder, ``synthlang.data.sampleio.V1_CLASSES``).
BINARY_CLASS = "mask"

# bounds that keep a crafted checkpoint from asking for absurd allocations or values
_INT_MAX = 2**63 - 1
_FLOAT_MAX = 1e12
_MAX_WIDTH = 4096  # feature channels, RBFs per function, batch size
_MAX_KERNEL = 255
_MAX_IN_CHANNELS = 64


def _odd(size: int) -> int:
    if size % 2 == 0:
        raise ValueError("must be a positive odd kernel size")
    return size


Count = Annotated[int, Field(ge=1, le=_MAX_WIDTH)]
KernelSize = Annotated[int, Field(ge=1, le=_MAX_KERNEL), AfterValidator(_odd)]
Seed = Annotated[int, Field(ge=0, le=_INT_MAX)]
Real = Annotated[float, Field(ge=-_FLOAT_MAX, le=_FLOAT_MAX)]
Beta = Annotated[float, Field(ge=0, lt=1)]
LossWeight = Annotated[float, Field(ge=0, le=1e6)]


_C = TypeVar("_C", bound="_Config")


class _Config(BaseModel):
    """Frozen and strict, without unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    def replace(self: _C, **changes: Any) -> _C:
        """Copy with fields changed, validated like a new configuration.

        Raises
        ------
        ConfigError
            An unknown field or a value the field does not allow (one line).
        """
        return validated(type(self), {**dict(self), **changes}, type(self).__name__)


class _NetworkConfig(_Config):
    """The mask channels every network has; ``mask_channels = 1`` is not dumped.

    A binary network's stored configuration is therefore the same dict as before the
    field existed, and checkpoints written then load unchanged.
    """

    mask_channels: int = Field(
        1,
        ge=1,
        le=MAX_CLASSES,
        description="Mask channels K, one per class (class id k is channel k - 1); 1 is the "
        "paper's binary mask.",
    )

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.mask_channels == 1:
            data.pop("mask_channels", None)
        return data


class VNConfig(_NetworkConfig):
    """Architecture of the coupled variational network (paper defaults).

    Examples
    --------
    >>> VNConfig(steps=2, k_u=7).max_pad
    3
    >>> VNConfig().replace(k_u=4)
    Traceback (most recent call last):
    ...
    vnet.errors.ConfigError: error: VNConfig.k_u must be a positive odd kernel size, got 4
    """

    steps: int = Field(10, ge=1, le=1000, description="Projected gradient steps N_t (paper: 10).")
    n_fu: Count = Field(20, description="RGB feature kernels N_fu (paper: 20).")
    k_u: KernelSize = Field(11, description="Size of the RGB kernels K^u_t (odd; paper: 11).")
    n_fm: Count = Field(4, description="Mask feature kernels N_fm (paper: 4).")
    k_m: KernelSize = Field(5, description="Size of the mask kernels K^m_t (odd; paper: 5).")
    n_f: Count = Field(
        24,
        description="Coupling kernels N_f, the output channels of K_t (paper: N_fu + N_fm = "
        "24); K_t always reads the n_fu + n_fm concatenated features.",
    )
    k: KernelSize = Field(5, description="Size of the coupling kernels K_t (odd; paper: 5).")
    n_w: int = Field(31, ge=2, le=_MAX_WIDTH, description="Gaussian RBFs per function N_w.")
    rbf_range: float = Field(
        1.2,
        gt=0,
        le=_FLOAT_MAX,
        description="The Gaussians' centres are equally spaced on [-rbf_range, rbf_range] "
        "(paper: 1.2); their width is the spacing.",
    )
    zero_mean: bool = Field(
        True,
        description="Constrain the RGB kernels K^u_t to zero mean (paper: dropped for "
        "Scenario 1). The mask kernels K^m_t are always zero mean.",
    )
    in_channels: int = Field(
        3, ge=1, le=_MAX_IN_CHANNELS, description="Channels of the image u (3 for RGB)."
    )
    padding: Literal["symmetric", "zeros"] = Field(
        "symmetric",
        description="Boundary handling of every convolution: 'symmetric' mirrors the image "
        "including the edge pixel (numpy's 'symmetric'; the adjoint folds the padding back), "
        "'zeros' uses zero padding and conv_transpose2d. Both are exact adjoint pairs.",
    )
    granularity: Literal["filter", "slice"] = Field(
        "filter",
        description="What one kernel of the constraint set is: one output filter (the "
        "paper's K^{u,i}_t) or one 2-D (output, input) slice.",
    )
    phi_slope: Real = Field(
        1.0, description="Initial slope of phi^u_t and phi^m_t (identity-like functions)."
    )
    dphi_slope: Real = Field(
        0.1,
        description="Initial slope of Dphi_t (phi_t starts as the quadratic "
        "dphi_slope / 2 * z**2, a small Tikhonov-like term).",
    )
    lambda_init: float = Field(
        0.1, ge=0, le=_FLOAT_MAX, description="Initial data weight lambda_t."
    )
    seed: Seed = Field(
        0, description="Seed of the parameter initialisation (a private torch.Generator)."
    )
    proj_tol: float = Field(
        1e-12,
        ge=0,
        le=_FLOAT_MAX,
        description="Tolerance of the zero-mean/l1 projection (|sum k| <= proj_tol).",
    )
    proj_max_iter: int = Field(
        100, ge=1, le=100_000, description="Iteration cap of that projection."
    )

    @property
    def max_pad(self) -> int:
        """Largest padding of any convolution (images must be at least this large)."""
        return max(self.k_u, self.k_m, self.k) // 2


class UNetConfig(_NetworkConfig):
    """Architecture of the U-Net baseline (paper: 3 scales, 32 channels)."""

    scales: int = Field(
        3, ge=1, le=16, description="Resolutions: the input and scales - 1 max-pooled ones."
    )
    channels: Count = Field(32, description="Feature channels of every conv layer.")
    in_channels: int = Field(
        3, ge=1, le=_MAX_IN_CHANNELS, description="Channels of the image u (3 for RGB)."
    )
    seed: Seed = Field(0, description="Seed of the parameter initialisation.")


class TrainConfig(_Config):
    """Everything a training run needs besides the data source.

    A configuration with the paper's :attr:`loss_weights` (or the constant
    :attr:`lr_schedule`, or the squared-error :attr:`mask_loss`) dumps no such key, so
    checkpoints written before the field existed and new ones hold the same dict.

    Examples
    --------
    >>> TrainConfig().replace(**{"vn.steps": 3, "lr": 1e-3}).vn.steps
    3
    """

    model: ModelKind = Field("vn", description="Which network to train.")
    vn: VNConfig = Field(default_factory=VNConfig, description="Architecture for model 'vn'.")
    unet: UNetConfig = Field(
        default_factory=UNetConfig, description="Architecture for model 'unet'."
    )
    iterations: int = Field(1500, ge=0, le=MAX_ITERATIONS, description="Number of Adam steps.")
    batch_size: Count = Field(8, description="Samples per step.")
    crop: int | None = Field(
        None,
        ge=1,
        le=65536,
        description="Train on random crop x crop windows (None: whole images).",
    )
    flips: bool = Field(
        False, description="Random horizontal/vertical flips and transposes (from the seed)."
    )
    lr: float = Field(1e-4, gt=0, le=1000, description="Adam step size.")
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant",
        description="Step size over the run: constant, or cosine (half a cosine from lr at "
        "the first iteration down to lr / 100 at the last, see lr_at).",
    )
    betas: tuple[Beta, Beta] = Field(
        (0.9, 0.999), strict=False, description="Adam decay rates (paper: 0.9, 0.999)."
    )
    loss_weights: tuple[LossWeight, LossWeight] = Field(
        PAPER_LOSS_WEIGHTS,
        strict=False,
        description="Weights (w_u, w_m) of the loss, per sample w_u ||u_T - g_u||^2 + "
        "w_m ||m_T - g_m||^2 summed over pixels; the paper's Eq. (3) is (1/6, 1/2), the "
        "default preset weights the image 30 times more (docs/vnet.md, 'Denoising').",
    )
    mask_loss: Literal["l2", "bce"] = Field(
        "l2",
        description="Mask term of the loss: 'l2', the squared error of Eq. (3), or 'bce', "
        "the binary cross-entropy summed over pixels, whose gradient does not vanish where "
        "a sigmoid saturates (sparse masks, e.g. small disks around points; docs/vnet.md "
        "'Mask loss').",
    )
    n_samples: int | None = Field(
        800,
        ge=1,
        le=10**8,
        description="Size of the fixed training set (sample indices 0..n-1 cycled in "
        "seeded epochs); None: every sample of a dataset folder, or an endless stream of "
        "fresh samples from a scene.",
    )
    seed: Seed = Field(0, description="Seed of the data order, crops and flips (and a scene).")
    workers: int = Field(
        0, ge=0, le=256, description="DataLoader worker processes (0: the main process)."
    )
    checkpoint_every: int = Field(
        100,
        ge=1,
        le=MAX_ITERATIONS,
        description="Save a checkpoint every this many iterations (and at the end).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where to train; 'auto' uses CUDA when present."
    )
    scene_overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="{scene name: {dotted field: value}} applied by for_scene, e.g. "
        "{'scenario3': {'lr': 5e-5}, 'scenario1': {'vn.zero_mean': False}}.",
    )

    @field_validator("loss_weights")
    @classmethod
    def _not_both_zero(cls, weights: tuple[float, float]) -> tuple[float, float]:
        if not any(w > 0 for w in weights):
            raise ValueError("must not both be 0")
        return weights

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.loss_weights == PAPER_LOSS_WEIGHTS:
            data.pop("loss_weights", None)
        if self.lr_schedule == "constant":  # configurations written before it stay the same
            data.pop("lr_schedule", None)
        if self.mask_loss == "l2":
            data.pop("mask_loss", None)
        return data

    def replace(self, **changes: Any) -> TrainConfig:
        """Copy with fields changed; dotted keys (``"vn.steps"``) reach nested configs.

        Raises
        ------
        ConfigError
            An unknown key or a value the field does not allow.
        """
        top: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            head, dot, tail = key.partition(".")
            if not dot:
                top[key] = value
            elif head in ("vn", "unet") and "." not in tail:
                nested.setdefault(head, {})[tail] = value
            else:
                raise ConfigError(f"TrainConfig has an unknown field {key!r}")
        for head, sub in nested.items():
            base = top.get(head, getattr(self, head))
            top[head] = {**(dict(base) if isinstance(base, (BaseModel, Mapping)) else {}), **sub}
        return super().replace(**top)

    def for_scene(self, scene: str | None) -> TrainConfig:
        """Apply :attr:`scene_overrides` for ``scene`` (no-op when absent)."""
        if scene is None or scene not in self.scene_overrides:
            return self
        return self.replace(**self.scene_overrides[scene])


# ------------------------------------------------------------------- class names


def lr_at(config: TrainConfig, iteration: int) -> float:
    """The Adam step size of ``iteration`` (1-based) under ``config.lr_schedule``.

    ``cosine`` is half a cosine from ``lr`` at the first iteration to ``lr / 100`` at
    the last (``config.iterations``); a resume with more iterations stretches what is left.

    Examples
    --------
    >>> c = TrainConfig(lr=1.0, iterations=101, lr_schedule="cosine")
    >>> [round(lr_at(c, i), 3) for i in (1, 51, 101)]
    [1.0, 0.505, 0.01]
    >>> lr_at(c.replace(lr_schedule="constant"), 101)
    1.0
    """
    if config.lr_schedule == "constant" or config.iterations <= 1:
        return config.lr
    t = min(max(iteration - 1, 0) / (config.iterations - 1), 1.0)
    floor = 0.01
    return config.lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t)))


def _printable_name(name: str) -> str:
    if name != name.strip() or not name.isprintable():
        raise ValueError("must be printable, without leading or trailing spaces")
    return name


ClassName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_printable_name)]
_CLASS_NAMES: TypeAdapter[tuple[str, ...]] = TypeAdapter(
    Annotated[tuple[ClassName, ...], Field(min_length=1, max_length=MAX_CLASSES)]
)


def default_classes(mask_channels: int) -> tuple[str, ...]:
    """Class names of a network whose data name no classes.

    Examples
    --------
    >>> default_classes(1), default_classes(2)
    (('mask',), ('class1', 'class2'))
    """
    if mask_channels == 1:
        return (BINARY_CLASS,)
    return tuple(f"class{i}" for i in range(1, mask_channels + 1))


def class_names(values: Any, mask_channels: int, where: str = "classes") -> tuple[str, ...]:
    """Validate the class names of a network with ``mask_channels`` channels.

    Parameters
    ----------
    values : object
        A sequence of names (class id ``k`` is ``values[k - 1]``).
    mask_channels : int
        The network's ``K``.
    where : str
        What to call the value in messages.

    Returns
    -------
    tuple of str
        ``K`` distinct printable names of 1 to 64 characters.

    Raises
    ------
    ConfigError
        Not such a sequence, or not ``K`` names.

    Examples
    --------
    >>> class_names(["tumor", "immune"], 2)
    ('tumor', 'immune')
    >>> class_names(["tumor"], 2)
    Traceback (most recent call last):
    ...
    vnet.errors.ConfigError: error: classes names 1 class for a network with 2 mask channels
    """
    if isinstance(values, (str, bytes)):
        raise ConfigError(f"{where} must be a list of names, got {_show(values)}")
    try:
        names = _CLASS_NAMES.validate_python(values)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        at = "".join(f"[{i}]" for i in error["loc"])
        raise ConfigError(
            f"{where}{at} is invalid ({error['msg'].lower()}), got {_show(values)}"
        ) from None
    if len(set(names)) != len(names):
        raise ConfigError(f"{where} names a class twice: {list(names)}")
    if len(names) != mask_channels:
        plural = "class" if len(names) == 1 else "classes"
        raise ConfigError(
            f"{where} names {len(names)} {plural} for a network with {mask_channels} mask channels"
        )
    return names


# ---------------------------------------------------------------- validation errors


def validated(model: type[_C], data: Any, where: str) -> _C:
    """``model.model_validate(data)``, failing with a one-line :class:`ConfigError`.

    Parameters
    ----------
    model : type
        The configuration class.
    data : object
        A dict of fields (as :meth:`pydantic.BaseModel.model_dump` gives).
    where : str
        What to call the configuration in the message (:func:`explain`).

    Raises
    ------
    ConfigError
        ``data`` is not a valid configuration.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(explain(exc, model, where, data)) from None


def explain(exc: ValidationError, model: type[BaseModel], where: str, data: Any = None) -> str:
    """One line for the first error of a validation: the field, what it allows, the value.

    Parameters
    ----------
    exc : pydantic.ValidationError
        The error of validating ``data`` as ``model``.
    model : type
        The configuration class.
    where : str
        What to call the configuration (``"VNConfig"``, ``"model_config"``).
    data : object, optional
        The input, to show a field's whole value (not only a tuple's item).

    Returns
    -------
    str
        What is wrong, e.g. ``"model_config.scales must be a whole number in [1, 16], got 0"``.

    Examples
    --------
    >>> try:
    ...     UNetConfig.model_validate({"scales": 0})
    ... except ValidationError as exc:
    ...     print(explain(exc, UNetConfig, "model_config"))
    model_config.scales must be a whole number in [1, 16], got 0
    """
    error = exc.errors(include_url=False)[0]
    names, field, value = _locate(model, list(error["loc"]), data, error.get("input"))
    path = ".".join(map(str, [where, *names]))
    kind = error["type"]
    if kind in ("extra_forbidden", "invalid_key"):
        owner = ".".join(map(str, [where, *names[:-1]]))
        return f"{owner} has an unknown field {_show(names[-1])}"
    if field is None:  # the configuration itself, or a nested one, is not a dict
        return f"{path} is a {type(value).__name__}, not a dict"
    if kind == "value_error":  # a validator's own words ("must be a positive odd ...")
        return f"{path} {error['ctx']['error']}, got {_show(value)}"
    return f"{path} must be {_phrase(field.annotation, field.metadata)}, got {_show(value)}"


def _locate(
    model: type[BaseModel], loc: list[Any], data: Any, value: Any
) -> tuple[list[Any], FieldInfo | None, Any]:
    """Follow an error location to its field: the names, the field and its value.

    The field is None where the error is about a configuration as a whole; positions
    inside a field (a tuple's item, a dict's key) are not followed.
    """
    names: list[Any] = []
    cls: type[BaseModel] | None = model
    field: FieldInfo | None = None
    while loc and cls is not None:
        name = loc.pop(0)
        names.append(name)
        data = data.get(name) if isinstance(data, Mapping) else None
        field = cls.model_fields.get(name) if isinstance(name, str) else None
        if field is None:
            return names, None, value
        sub = field.annotation
        cls = sub if isinstance(sub, type) and issubclass(sub, BaseModel) else None
    if cls is not None:
        field = None
    return names, field, data if data is not None else value


_NOUNS = {int: "whole number", float: "finite number"}
_COUNTS = {2: "two", 3: "three"}


def _phrase(tp: Any, metadata: Sequence[Any] = (), article: str = "a") -> str:
    """What a type with constraints allows, e.g. ``"a whole number in [1, 16]"``."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        extra = [m for a in args[1:] for m in (a.metadata if isinstance(a, FieldInfo) else [a])]
        return _phrase(args[0], [*metadata, *extra], article)
    if origin in (Union, types.UnionType) and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return f"{_phrase(inner, metadata, article)} or None"
    if origin is Literal:
        return f"one of {list(args)}"
    if origin is tuple and len(args) in _COUNTS and all(a == args[0] for a in args):
        return _phrase(args[0], metadata, _COUNTS[len(args)])
    if origin is dict:
        return "a dict of names to dicts"
    if tp is bool:
        return "true or false"
    noun = _NOUNS.get(tp, getattr(tp, "__name__", str(tp)))
    return f"{article} {noun}{'' if article == 'a' else 's'}{_range(metadata)}"


def _range(metadata: Sequence[Any]) -> str:
    """The bounds of ``Field(ge=..., lt=...)`` as text: ``" in [0, 1)"``, ``" >= 1"``."""
    lo = hi = None
    for m in metadata:
        for attr, bracket in (("ge", "["), ("gt", "(")):
            if getattr(m, attr, None) is not None:
                lo = (bracket, _num(getattr(m, attr)))
        for attr, bracket in (("le", "]"), ("lt", ")")):
            if getattr(m, attr, None) is not None:
                hi = (_num(getattr(m, attr)), bracket)
    if lo and hi:
        return f" in {lo[0]}{lo[1]}, {hi[0]}{hi[1]}"
    if lo:
        return f" {'>=' if lo[0] == '[' else '>'} {lo[1]}"
    if hi:
        return f" {'<=' if hi[1] == ']' else '<'} {hi[0]}"
    return ""


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------------- presets

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
