"""Channels, bit depth and blending: the header items and the checks against them.

``channels [dapi, cd45, ...]`` names the image channels (default: RGB, three channels),
``bits 16`` asks for 16-bit image files, ``blend additive`` makes a layer add its colours
to what lies below. Colours are values and do not know the scene they end up in, so their
channel count is checked where a layer uses them, with the position of the values
(the ``mean`` of an ``mvn``, an ``rgb(...)``) and the layer in the hint.
"""

from __future__ import annotations

from typing import Any

from synthlang import ir
from synthlang.common.channels import BIT_DEPTHS, MAX_CHANNELS, RGB_CHANNELS, describe_channels
from synthlang.common.errors import Span
from synthlang.ir.scene import RGB_ONLY_PASSES
from synthlang.lang.context import CompilerBase, Value
from synthlang.lang.grammar import did_you_mean
from synthlang.lang.nodes import BitsItem, BlendItem, Call, ChannelsItem, ContourItem

__all__ = [
    "BLEND_MODES",
    "header_channels",
    "header_bits",
    "blend_mode",
    "check_colour",
    "check_contour",
    "check_shape",
    "check_passes",
]

BLEND_MODES = ("over", "additive")
"""How a layer meets what lies below it (``blend MODE``; ``over`` is the default)."""


def header_channels(c: CompilerBase, items: list[ChannelsItem]) -> tuple[str, ...] | None:
    """The channel names of ``channels [...]`` (None when absent or ``[r, g, b]``: RGB)."""
    if not items:
        return None
    item = items[0]
    if len(item.names) > MAX_CHANNELS:
        raise c.error(
            f"{len(item.names)} channels; a scene has at most {MAX_CHANNELS}",
            item.names[MAX_CHANNELS].span,
        )
    seen: dict[str, Span] = {}
    for ident in item.names:
        if ident.name in seen:
            raise c.error(
                f"channel `{ident.name}` is named twice (first at column "
                f"{seen[ident.name].column})",
                ident.span,
                hint="every channel (marker) has its own name",
            )
        seen[ident.name] = ident.span
    c.channels = tuple(seen)
    return None if c.channels == RGB_CHANNELS else c.channels  # written as the default


def header_bits(c: CompilerBase, items: list[BitsItem]) -> int | None:
    """The bit depth of ``bits N`` (16, or None for 8 or when absent)."""
    if not items:
        return None
    value = items[0].value
    if value.value not in BIT_DEPTHS:
        raise c.error(
            f"`bits {value.text}`: image files have 8 or 16 bits per channel",
            value.span,
        )
    return 16 if value.value == 16 else None


def blend_mode(c: CompilerBase, item: BlendItem | None) -> str | None:
    """The layer's ``blend`` mode (``additive``, or None for ``over``, the default)."""
    if item is None:
        return None
    mode = item.mode.name
    if mode not in BLEND_MODES:
        guess = did_you_mean(mode, BLEND_MODES)
        raise c.error(
            f"unknown blend mode `{mode}`" + (f"; did you mean `{guess}`?" if guess else ""),
            item.mode.span,
            hint="`blend over` (the default: the layer covers what lies below) or "
            "`blend additive` (its colours are added, as fluorescence adds up)",
        )
    return None if mode == "over" else mode  # the default is not part of the scene hash


def _mismatch(c: CompilerBase, colour: Any, span: Span, layer: str, role: str) -> Exception:
    """The positioned error for a colour with the wrong number of channels."""
    found = c.colour_spans.get(id(colour))
    at, what = (found[1], found[2]) if found is not None else (span, "the colour")
    n, names = colour.channels, c.channels
    message = f"{what} has {n} value{'s' if n != 1 else ''}, the scene has "
    message += describe_channels(names)
    if names == RGB_CHANNELS:
        hint = "name the scene's channels in its header: "
        hint += f"`channels [{', '.join(f'c{k}' for k in range(1, n + 1))}]`"
    elif what == "rgb(...)":
        hint = f"write mvn(mean [...]) with one value per channel ({', '.join(names)})"
    else:
        hint = f"give one value per channel: {', '.join(names)}"
    where = f"{role} of layer `{layer}`"
    if at.file != span.file or at.line != span.line:
        hint = f"used as the {where} at {span.location()}; {hint}"
    return c.error(message, at, hint=hint)


def check_colour(c: CompilerBase, value: Value, layer: str) -> Any:
    """A layer's colour or texture, refused when it does not fit the scene's channels."""
    data = value.data
    n = len(c.channels)
    if isinstance(data, ir.MVNColor) and data.channels != n:
        raise _mismatch(c, data, value.span, layer, "colour")
    if n != 3 and not isinstance(data, ir.MVNColor):
        raise c.error(
            f"patch textures are RGB; the scene has {describe_channels(c.channels)}",
            value.span,
            hint="give the layer an mvn(mean [...]) colour with one value per channel",
        )
    return data


def check_contour(c: CompilerBase, contour: Any, item: ContourItem | None, layer: str) -> Any:
    """A layer's contour, refused when its colour does not fit the scene's channels."""
    if contour is None or item is None or contour.color.channels == len(c.channels):
        return contour
    raise _mismatch(c, contour.color, item.call.span, layer, "contour colour")


def check_shape(c: CompilerBase, value: Value) -> None:
    """Refuse patch cut-outs (RGB libraries) in a scene that is not RGB."""
    if value.data.textured and len(c.channels) != 3:
        raise c.error(
            f"patch cut-outs are RGB; the scene has {describe_channels(c.channels)}",
            value.span,
            hint="use an ellipse(...) or polygon(...) shape with an mvn colour per channel",
        )


def check_passes(c: CompilerBase, calls: tuple[Call, ...], passes: tuple[Any, ...]) -> None:
    """Refuse the RGB-only degradation passes (stain, saturation) in a scene that is not RGB."""
    if len(c.channels) == 3:
        return
    for call, spec in zip(calls, passes, strict=True):
        if spec.kind in RGB_ONLY_PASSES:
            raise c.error(
                f"`{spec.kind}` works on RGB images (stain vectors, grey levels); the scene has "
                f"{describe_channels(c.channels)}",
                call.keyword,
                hint="brightness, contrast, gamma, blur, noise and jpeg act on each channel",
            )
