"""Reading checkpoints that may come from anyone: bounded, code-free, validated.

A checkpoint (``RUN/model.pt``) is input like an image: ``synthlang predict`` and
``synthlang train --resume`` read files a user may have downloaded. This module makes
reading one safe before anything is built from it:

1. the file must be a regular file of at most ``Limits.max_checkpoint_bytes`` bytes
   (``SYNTHLANG_MAX_CHECKPOINT_BYTES``, 512 MiB by default), read with a bounded read
   (a named pipe, ``/dev/zero`` or a growing file cannot exhaust memory);
2. it must be a PyTorch zip archive of uncompressed records whose pickled part
   (``data.pkl``) has at most :data:`MAX_PICKLE_BYTES` bytes, so the Python objects
   it can create are bounded too;
3. it is unpickled with ``torch.load(weights_only=True)`` only: tensors, numbers,
   strings and containers, never a class or a function (a pickle with a malicious
   ``__reduce__`` is refused, not executed);
4. its fields are checked (:func:`validate_checkpoint`): known format and version,
   configurations validated by their own models (``model_validate`` of
   :mod:`vnet.config`, whose fields bound every size), and a network no larger than
   the values the file stores (:func:`~vnet.networks.count_parameters`, on the meta
   device), so a crafted ``steps = 10**9`` or kernel size ``10**6`` is an error, not
   an allocation; finite floating-point weights only; ``classes`` names the ``K``
   mask channels (:func:`stored_classes`).

After the network is built, :func:`check_state_dict` compares the stored tensors'
names and shapes with it and :func:`check_optimizer_state` does the same for the
Adam state, so a mismatch is one clear :class:`~synthlang.common.errors.DataError` instead
of an exception from ``load_state_dict`` or from the first optimiser step.

:func:`save_checkpoint` writes a checkpoint atomically; :func:`load_checkpoint` is
:func:`read_checkpoint` followed by :func:`validate_checkpoint`.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import torch
from pydantic import BaseModel, ValidationError
from torch import nn

from synthlang.common.errors import DataError, ResourceLimitError
from synthlang.common.fileio import (
    FileTooLargeError,
    NotARegularFileError,
    atomic_write_bytes,
    read_regular_file,
)
from synthlang.common.limits import Limits, format_bytes
from synthlang.common.units import DEFAULT_PIXEL_SIZE_UM
from vnet.config import (
    MAX_ITERATIONS,
    MODEL_KINDS,
    TrainConfig,
    UNetConfig,
    VNConfig,
    class_names,
    default_classes,
    explain,
)
from vnet.errors import ConfigError
from vnet.networks import count_parameters

if TYPE_CHECKING:
    from synthlang.colornorm import ColorStats

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "MAX_PICKLE_BYTES",
    "save_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "validate_checkpoint",
    "stored_model_config",
    "stored_train_config",
    "stored_classes",
    "count_parameters",
    "check_state_dict",
    "check_optimizer_state",
    "color_stats",
    "stored_pixel_size",
]

CHECKPOINT_FORMAT = "vnet-checkpoint"
CHECKPOINT_VERSION = 1

MAX_PICKLE_BYTES = 4 * 1024**2
"""Largest ``data.pkl`` record of a checkpoint (a vnet checkpoint's is tens of KB)."""

_METRIC_KEYS_MAX = 64


# ---------------------------------------------------------------------------- reading


def save_checkpoint(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` with ``torch.save`` to a temporary file and rename it into place.

    The payload is serialised in memory first, so a failing write (full disk) raises
    a plain :class:`OSError` and leaves the previous file untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(dict(payload), buffer)
    atomic_write_bytes(target, buffer.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint written by :class:`vnet.train.Trainer`.

    The file is size-limited (``SYNTHLANG_MAX_CHECKPOINT_BYTES``), read with
    ``torch.load(weights_only=True)`` only, and its configurations, weights and
    counters are checked before anything is built from them.

    Raises
    ------
    DataError
        Missing, unreadable, damaged, crafted, or not a vnet checkpoint.
    ResourceLimitError
        Larger than the limit.
    """
    return validate_checkpoint(read_checkpoint(path, map_location=map_location), path)


def read_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    *,
    limits: Limits | None = None,
) -> Any:
    """Read a checkpoint file safely (bounded, zip-checked, ``weights_only=True``).

    Parameters
    ----------
    path : str or Path
        The file.
    map_location : str or torch.device
        Where tensors are placed.
    limits : Limits, optional
        ``max_checkpoint_bytes`` (from the environment when omitted).

    Returns
    -------
    object
        The unpickled object (a dict for a vnet checkpoint; not yet validated).

    Raises
    ------
    DataError
        Missing, not a regular file, unreadable, not a PyTorch archive, or holding
        anything but tensors, numbers, strings and containers.
    ResourceLimitError
        The file or its pickled part is larger than the limits.
    """
    p = Path(path)
    limit = (limits or Limits.from_env()).max_checkpoint_bytes
    try:
        raw = read_regular_file(p, max_bytes=limit)
    except FileNotFoundError:
        raise DataError(f"{p}: no such checkpoint file") from None
    except NotARegularFileError as exc:
        raise DataError(f"{p}: {exc.kind}, expected a checkpoint file (RUN/model.pt)") from None
    except FileTooLargeError as exc:
        raise ResourceLimitError(
            f"{p}: checkpoint has {format_bytes(exc.size)}, more than the limit of "
            f"{format_bytes(limit)} (SYNTHLANG_MAX_CHECKPOINT_BYTES)",
            hint="raise the limit with the environment variable SYNTHLANG_MAX_CHECKPOINT_BYTES "
            "(in bytes) if you trust the file",
        ) from None
    except OSError as exc:
        raise DataError(f"{p}: cannot read ({exc.strerror or exc})") from None
    _check_archive(p, raw)
    try:
        return torch.load(io.BytesIO(raw), map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a corrupt or foreign file
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
        found = re.search(r"WeightsUnpickler error: ([^\n]*?)(?:\. Please use|\n|$)", text)
        if found:  # torch's advice (load with weights_only=False) must not be repeated
            raise DataError(
                f"{p}: not a readable checkpoint: it holds Python objects other than tensors, "
                f"numbers, strings and containers ({found.group(1).strip()}); such objects are "
                "never loaded (weights_only=True) and nothing in the file was run"
            ) from None
        first = text.strip().splitlines()[0] if text.strip() else ""
        raise DataError(
            f"{p}: not a readable checkpoint ({type(exc).__name__}: {first[:300]})"
        ) from None


def _check_archive(p: Path, raw: bytes) -> None:
    """Refuse anything but a PyTorch zip archive with a small pickle and stored records."""
    not_ours = f"{p}: not a vnet checkpoint (written by `synthlang train`): "
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(not_ours + f"not a PyTorch zip archive ({exc})") from None
    except Exception as exc:  # zipfile's parser has more failure modes on crafted input
        raise DataError(not_ours + f"damaged zip archive ({type(exc).__name__})") from None
    pickles = [i for i in infos if i.filename == "data.pkl" or i.filename.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise DataError(not_ours + f"the archive has {len(pickles)} data.pkl records, not 1")
    if pickles[0].file_size > MAX_PICKLE_BYTES:
        raise ResourceLimitError(
            f"{p}: the checkpoint's pickled structure has {format_bytes(pickles[0].file_size)}, "
            f"more than the {format_bytes(MAX_PICKLE_BYTES)} any vnet checkpoint needs"
        )
    packed = [i.filename for i in infos if i.compress_type != zipfile.ZIP_STORED]
    if packed:
        raise DataError(not_ours + f"compressed record {packed[0]!r} (PyTorch stores records)")


# ------------------------------------------------------------------------- validation


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(
        value
    )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_M = TypeVar("_M", bound=BaseModel)


def _validated(model: type[_M], values: Any, where: str, p: Path) -> _M:
    """``model.model_validate(values)``; a failure is one :class:`DataError` naming ``p``."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise DataError(f"{p}: {explain(exc, model, where, values)}") from None


def stored_model_config(data: Mapping[str, Any], path: str | Path) -> VNConfig | UNetConfig:
    """The architecture a checkpoint stores (``model_config`` of its ``model_kind``).

    Raises
    ------
    DataError
        An unknown kind, or a configuration its model does not accept.
    """
    kind = data.get("model_kind")
    if kind not in MODEL_KINDS:
        raise DataError(
            f"{Path(path)}: unknown model kind {_show(kind)}; expected one of {MODEL_KINDS}"
        )
    values = data.get("model_config")
    if kind == "vn":
        return _validated(VNConfig, values, "model_config", Path(path))
    return _validated(UNetConfig, values, "model_config", Path(path))


def stored_train_config(data: Mapping[str, Any], path: str | Path) -> TrainConfig | None:
    """The training configuration a checkpoint stores (None when it has none).

    Raises
    ------
    DataError
        A configuration :class:`~vnet.config.TrainConfig` does not accept.
    """
    if "train_config" not in data:
        return None
    return _validated(TrainConfig, data["train_config"], "train_config", Path(path))


def stored_classes(data: Mapping[str, Any], path: str | Path) -> tuple[str, ...]:
    """The names of a checkpoint's mask channels: class id ``k`` is ``classes[k - 1]``.

    ``synthlang train`` stores ``classes``; a checkpoint without them (written before
    they existed) is a binary network whose one class is
    :data:`~vnet.config.BINARY_CLASS`.

    Raises
    ------
    DataError
        Not ``K`` distinct printable names for a network of ``K`` mask channels, or
        no names for ``K > 1``.
    """
    k = stored_model_config(data, path).mask_channels
    if "classes" not in data:
        if k == 1:
            return default_classes(1)
        raise DataError(f"{Path(path)}: a network of {k} mask channels must name its 'classes'")
    try:
        return class_names(data["classes"], k)
    except ConfigError as exc:
        raise DataError(f"{Path(path)}: {exc.message}") from None


def validate_checkpoint(data: Any, path: str | Path) -> dict[str, Any]:
    """Check everything a vnet checkpoint holds before any of it is used.

    Parameters
    ----------
    data : object
        What :func:`read_checkpoint` returned.
    path : str or Path
        The file (for messages).

    Returns
    -------
    dict
        ``data``, unchanged (configurations stay plain dicts).

    Raises
    ------
    DataError
        Not a vnet checkpoint, a newer version, wrong types, values out of range,
        a network larger than the stored weights, or non-finite weights.
    """
    p = Path(path)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise DataError(f"{p}: not a vnet checkpoint (written by `synthlang train`)")
    version = data.get("version", 0)
    if not _is_int(version) or version < 0:
        raise DataError(f"{p}: invalid checkpoint version {_show(version)}")
    if version > CHECKPOINT_VERSION:
        raise DataError(
            f"{p}: checkpoint version {version} is newer than this vnet "
            f"(reads up to {CHECKPOINT_VERSION})"
        )
    for key in ("model_kind", "model_config", "model_state"):
        if key not in data:
            raise DataError(f"{p}: checkpoint lacks {key!r}")
    kind = data["model_kind"]
    config = stored_model_config(data, p)
    _check_weights(data["model_state"], count_parameters(kind, config), p)
    stored_classes(data, p)
    train_cfg = stored_train_config(data, p)
    if train_cfg is not None and train_cfg.model != kind:
        raise DataError(f"{p}: train_config.model {train_cfg.model!r} != model_kind {kind!r}")
    step = data.get("step", 0)
    if not _is_int(step) or not 0 <= step <= MAX_ITERATIONS:
        raise DataError(f"{p}: invalid step {_show(step)}")
    metrics = data.get("metrics", {})
    if (
        not isinstance(metrics, Mapping)
        or len(metrics) > _METRIC_KEYS_MAX
        or not all(isinstance(k, str) and _is_number(v) for k, v in metrics.items())
    ):
        raise DataError(f"{p}: metrics must be a small dict of finite numbers")
    for key in ("source", "optimizer_state", "rng_state"):
        if key in data and not isinstance(data[key], Mapping):
            raise DataError(f"{p}: {key} is a {type(data[key]).__name__}, not a dict")
    color_stats(data, p)
    default_normalize(data, p)
    default_tta(data, p)
    default_fill_holes(data, p)
    default_whole_nuclei(data, p)
    default_neighbour_nuclei(data, p)
    default_scales(data, p)
    return data


def _check_weights(state: Any, needed: int, p: Path) -> None:
    """Named finite floating-point tensors, at least as many values as the network has."""
    if not isinstance(state, Mapping) or not state:
        raise DataError(f"{p}: model_state is not a non-empty dict of tensors")
    stored = 0
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise DataError(f"{p}: model_state entry {_show(name)} is not a named tensor")
        if not value.is_floating_point():
            raise DataError(f"{p}: model_state[{name!r}] has dtype {value.dtype}, not floating")
        if not bool(torch.isfinite(value).all()):
            raise DataError(f"{p}: model_state[{name!r}] holds NaN or infinite values")
        stored += value.numel()
    if needed > stored:
        raise DataError(
            f"{p}: model_config describes a network of {needed:,} parameters but the "
            f"checkpoint stores {stored:,} values; the file is damaged or crafted"
        )


def _source_entry(data: Mapping[str, Any], key: str) -> Any:
    """``data["source"][key]``, or None when the checkpoint has no source dict or no such key."""
    source = data.get("source")
    return source.get(key) if isinstance(source, Mapping) else None


#: what ``source["normalize"]`` may say (the method ``synthlang predict`` uses by default)
NORMALIZE_CHOICES = ("macenko", "reinhard", "haematoxylin", "none")


def default_normalize(data: Mapping[str, Any], path: str | Path) -> str | None:
    """The colour normalisation a checkpoint asks ``synthlang predict`` to use by default.

    Set with ``synthlang train --predict-normalize`` (or
    :func:`synthlang.cli.train.set_predict_normalize`)
    where it was measured to work best for the model, e.g. ``"none"`` for a network
    trained with stain variation. Checkpoints without it use the library default.

    Parameters
    ----------
    data : Mapping
        The checkpoint dict.
    path : str or Path
        The file (for messages).

    Returns
    -------
    str or None
        One of :data:`NORMALIZE_CHOICES`, or None when the checkpoint names none.

    Raises
    ------
    DataError
        A value that is not one of :data:`NORMALIZE_CHOICES`.
    """
    value = _source_entry(data, "normalize")
    if value is None:
        return None
    if value not in NORMALIZE_CHOICES:
        allowed = list(NORMALIZE_CHOICES)
        raise DataError(f"{Path(path)}: source.normalize must be one of {allowed}, got {value!r}")
    return str(value)


def _stored_flag(data: Mapping[str, Any], path: str | Path, key: str) -> bool | None:
    """``source[key]`` as a bool, None when absent; anything else is refused."""
    value = _source_entry(data, key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise DataError(f"{Path(path)}: source.{key} must be true or false, got {_show(value)}")
    return value


def default_tta(data: Mapping[str, Any], path: str | Path) -> bool | None:
    """Whether a checkpoint asks ``synthlang predict`` for test-time augmentation by default.

    Set with ``synthlang train --predict-tta`` (or ``synthlang.cli.train.set_predict_flag``)
    for a model whose predictions were measured to gain from averaging over the 8 rotations
    and flips of the input (:func:`vnet.predict.predict_array`, ``tta``). Checkpoints
    without it predict without augmentation unless asked.

    Parameters
    ----------
    data : Mapping
        The checkpoint dict.
    path : str or Path
        The file (for messages).

    Returns
    -------
    bool or None
        The stored choice, or None when the checkpoint names none.

    Raises
    ------
    DataError
        A value that is not true or false.

    Examples
    --------
    >>> default_tta({"source": {"tta": True}}, "m.pt"), default_tta({}, "m.pt")
    (True, None)
    """
    return _stored_flag(data, path, "tta")


def default_fill_holes(data: Mapping[str, Any], path: str | Path) -> bool | None:
    """Whether a checkpoint asks ``synthlang predict`` to fill its regions by default.

    ``source["fill_holes"]``, set with ``synthlang train --predict-fill-holes`` (or
    ``synthlang.cli.train.set_predict_flag``) for a model whose masks were measured to gain
    from closing gaps of up to two pixels and filling holes in each class's regions
    (:func:`vnet.instances.fill_regions`). Read and refused like :func:`default_tta`
    (same parameters; None when the checkpoint names no choice; a value that is not true or
    false is a :class:`DataError`).

    Examples
    --------
    >>> default_fill_holes({"source": {"fill_holes": False}}, "m.pt")
    False
    """
    return _stored_flag(data, path, "fill_holes")


def default_whole_nuclei(data: Mapping[str, Any], path: str | Path) -> bool | None:
    """Whether a checkpoint asks ``synthlang predict`` to complete nuclei by default.

    ``source["whole_nuclei"]``, set with ``synthlang train --predict-whole-nuclei`` (or
    ``synthlang.cli.train.set_predict_flag``) for a model whose masks were measured to gain
    from extending each class over the whole of every nucleus (found by colour deconvolution,
    :func:`synthlang.nuclei.segment_nuclei`) that it covers at least in half
    (:func:`synthlang.common.regions.complete_nuclei`). Read and refused like
    :func:`default_tta`.

    Examples
    --------
    >>> default_whole_nuclei({"source": {"whole_nuclei": True}}, "m.pt")
    True
    """
    return _stored_flag(data, path, "whole_nuclei")


def default_neighbour_nuclei(data: Mapping[str, Any], path: str | Path) -> bool | None:
    """Whether a checkpoint asks ``synthlang predict`` to add neighbouring nuclei by default.

    ``source["neighbour_nuclei"]``, set with ``synthlang train --predict-neighbour-nuclei``
    (or ``synthlang.cli.train.set_predict_flag``) for a model whose masks were measured to
    gain from adding the nuclei of fair probability that lie among marked ones
    (:func:`synthlang.common.regions.neighbour_nuclei`). Read and refused like
    :func:`default_tta`.

    Examples
    --------
    >>> default_neighbour_nuclei({"source": {"neighbour_nuclei": True}}, "m.pt")
    True
    """
    return _stored_flag(data, path, "neighbour_nuclei")


def default_scales(data: Mapping[str, Any], path: str | Path) -> tuple[float, ...] | None:
    """The scales of test-time augmentation a checkpoint asks ``synthlang predict`` for.

    ``source["scales"]``, set with ``synthlang train --predict-scales`` (or
    ``synthlang.cli.train.set_predict_scales``) for a model whose predictions were measured
    to gain from averaging its mask probabilities over copies of the input resampled by
    these factors (:func:`vnet.tta.scale_mean`).

    Parameters
    ----------
    data : Mapping
        The checkpoint dict.
    path : str or Path
        The file (for messages).

    Returns
    -------
    tuple of float or None
        The stored factors, or None when the checkpoint names none.

    Raises
    ------
    DataError
        Not a list of numbers that :func:`vnet.tta.check_scales` accepts.

    Examples
    --------
    >>> default_scales({"source": {"scales": [1.0, 0.9]}}, "m.pt"), default_scales({}, "m.pt")
    ((1.0, 0.9), None)
    """
    from vnet.tta import check_scales

    value = _source_entry(data, "scales")
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(_is_number(v) for v in value):
        raise DataError(
            f"{Path(path)}: source.scales must be a list of numbers, got {_show(value)}"
        )
    try:
        return check_scales(value)
    except ValueError as exc:
        raise DataError(f"{Path(path)}: source.scales: {exc}") from None


class PredictChoices(NamedTuple):
    """``synthlang predict``'s resolved choices for a checkpoint (:func:`predict_defaults`)."""

    normalize: str
    tta: bool
    fill_holes: bool
    whole_nuclei: bool
    scales: tuple[float, ...]
    neighbour_nuclei: bool = False


def predict_defaults(
    data: Mapping[str, Any],
    path: str | Path,
    normalize: str = "default",
    tta: bool | None = None,
    fill_holes: bool | None = None,
    whole_nuclei: bool | None = None,
    scales: tuple[float, ...] | None = None,
    neighbour_nuclei: bool | None = None,
) -> PredictChoices:
    """``synthlang predict``'s normalisation, TTA, filling, whole nuclei, scales, neighbours.

    What is given wins; ``normalize="default"`` and None take the checkpoint's choice
    (:func:`default_normalize`, :func:`default_tta`, :func:`default_fill_holes`,
    :func:`default_whole_nuclei`, :func:`default_scales`,
    :func:`default_neighbour_nuclei`), else the library's
    (:data:`synthlang.colornorm.DEFAULT_METHOD`, the rest off, scale 1 only). Image and
    whole-slide prediction both resolve their options here.

    Examples
    --------
    >>> predict_defaults({"source": {"normalize": "none", "tta": True}}, "m.pt", tta=False)
    PredictChoices(normalize='none', tta=False, fill_holes=False, whole_nuclei=False, \
scales=(1.0,), neighbour_nuclei=False)
    """
    from synthlang.colornorm import DEFAULT_METHOD

    if normalize == "default":
        normalize = default_normalize(data, path) or DEFAULT_METHOD
    use_tta = bool(default_tta(data, path)) if tta is None else tta
    fill = bool(default_fill_holes(data, path)) if fill_holes is None else fill_holes
    whole = bool(default_whole_nuclei(data, path)) if whole_nuclei is None else whole_nuclei
    if scales is None:
        scales = default_scales(data, path) or (1.0,)
    if neighbour_nuclei is None:
        neighbour_nuclei = bool(default_neighbour_nuclei(data, path))
    return PredictChoices(normalize, use_tta, fill, whole, scales, neighbour_nuclei)


def stored_pixel_size(data: Mapping[str, Any]) -> float:
    """The pixel size (um) of a checkpoint's training images, else the paper's 0.5 (20x).

    ``synthlang train --pixel-size`` (or the scene's ``pixel``) stores it as
    ``source["pixel_size_um"]``; prediction converts micrometre settings with it.

    Examples
    --------
    >>> stored_pixel_size({"source": {"pixel_size_um": 0.25}}), stored_pixel_size({})
    (0.25, 0.5)
    """
    return float(dict(data.get("source") or {}).get("pixel_size_um") or DEFAULT_PIXEL_SIZE_UM)


def color_stats(data: Mapping[str, Any], path: str | Path) -> ColorStats | None:
    """The colour statistics of the training inputs a checkpoint stores, checked.

    ``synthlang train`` stores them as ``source["color_stats"]`` (see
    :class:`synthlang.colornorm.ColorStats`); ``synthlang predict`` normalises
    its inputs to them. Checkpoints written before they existed have none.

    Parameters
    ----------
    data : Mapping
        The checkpoint dict.
    path : str or Path
        The file (for messages).

    Returns
    -------
    ColorStats or None
        None when the checkpoint stores no statistics.

    Raises
    ------
    DataError
        Statistics of the wrong structure, shape or range.
    """
    stored = _source_entry(data, "color_stats")
    if stored is None:
        return None
    from synthlang.colornorm import ColorStats  # scikit-image: only when there are statistics

    try:
        return ColorStats.from_dict(stored)
    except ValueError as exc:
        raise DataError(f"{Path(path)}: invalid source.color_stats ({exc})") from None


# --------------------------------------------------------------- after building the net


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Refuse stored weights whose names or shapes differ from the network's.

    Raises
    ------
    DataError
        Naming the first missing, unexpected or differently shaped tensor.
    """
    p = Path(path)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
        if extra:
            parts.append(f"unexpected {', '.join(extra[:3])}" + (" ..." if len(extra) > 3 else ""))
        raise DataError(f"{p}: the stored weights do not match model_config ({'; '.join(parts)})")
    for name, tensor in own.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise DataError(
                f"{p}: model_state[{name!r}] has shape {tuple(state[name].shape)}, but "
                f"model_config gives {tuple(tensor.shape)}"
            )


def check_optimizer_state(
    state: Any, params: Sequence[torch.Tensor], path: str | Path
) -> dict[int, dict[str, torch.Tensor]]:
    """Check a stored Adam state against the network's parameters.

    Only the per-parameter moments and step counts are taken from a checkpoint;
    the hyperparameters (``lr``, ``betas``, ...) come from the run's configuration,
    so a crafted ``param_groups`` entry cannot change them.

    Parameters
    ----------
    state : object
        ``checkpoint["optimizer_state"]``.
    params : sequence of torch.Tensor
        The parameters, in the optimiser's order.
    path : str or Path
        The file (for messages).

    Returns
    -------
    dict
        ``{parameter index: {"step", "exp_avg", "exp_avg_sq"}}``, ready for
        ``optimizer.load_state_dict({"state": ..., "param_groups": fresh_groups})``.

    Raises
    ------
    DataError
        Wrong structure, indices, shapes or non-finite values.
    """
    p = Path(path)
    if not isinstance(state, Mapping) or not isinstance(state.get("state"), Mapping):
        raise DataError(f"{p}: optimizer_state is not an Adam state dict")
    groups = state.get("param_groups")
    if not isinstance(groups, Sequence) or sum(
        len(g.get("params", ())) if isinstance(g, Mapping) else 0 for g in groups
    ) != len(params):
        raise DataError(
            f"{p}: optimizer_state is for another network (its parameter groups do not "
            f"list {len(params)} parameters)"
        )
    out: dict[int, dict[str, torch.Tensor]] = {}
    for index, entry in state["state"].items():
        if not _is_int(index) or not 0 <= index < len(params) or not isinstance(entry, Mapping):
            raise DataError(f"{p}: optimizer_state has an entry for parameter {_show(index)}")
        shape = tuple(params[index].shape)
        clean: dict[str, torch.Tensor] = {}
        for key in ("exp_avg", "exp_avg_sq"):
            t = entry.get(key)
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
                raise DataError(
                    f"{p}: optimizer_state[{index}][{key!r}] is not a tensor of shape {shape}"
                )
            if not t.is_floating_point() or not bool(torch.isfinite(t).all()):
                raise DataError(f"{p}: optimizer_state[{index}][{key!r}] is not finite")
            clean[key] = t
        step = entry.get("step")
        if isinstance(step, torch.Tensor) and step.numel() == 1:
            step_value = float(step)
        elif _is_number(step):
            step_value = float(step)  # type: ignore[arg-type]
        else:
            raise DataError(f"{p}: optimizer_state[{index}]['step'] is not a number")
        if not (math.isfinite(step_value) and 0 <= step_value <= 1e12):
            raise DataError(f"{p}: optimizer_state[{index}]['step'] is out of range")
        clean["step"] = step if isinstance(step, torch.Tensor) else torch.tensor(step_value)
        out[int(index)] = clean
    return out
