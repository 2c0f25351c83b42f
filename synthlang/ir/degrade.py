"""Degradations of the IR: appearance changes, noise, blur, compression and zoom."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from synthlang.ir.base import Arg, Block, IRModel
from synthlang.ir.values import Constant, Distribution

__all__ = [
    "GaussianBlur",
    "GaussianNoise",
    "PoissonNoise",
    "StainJitter",
    "Brightness",
    "Contrast",
    "Gamma",
    "Saturation",
    "Focus",
    "JPEGCompression",
    "ScaleJitter",
    "APPEARANCE_PASSES",
    "DegradePass",
]


class GaussianBlur(IRModel):
    """``blur gaussian(sigma)``: Gaussian blur of the noisy image, sigma in px."""

    blocks = (
        Block("gaussian_blur", "degradation", "Gaussian blur, sigma in pixels", "blur gaussian"),
    )
    kind: Literal["blur"] = "blur"
    sigma: Annotated[Distribution, Arg(check="positive", limit="max_radius")] = Field(
        ..., description="Blur sigma in pixels (>= 0), drawn per sample."
    )


class GaussianNoise(IRModel):
    """``noise gaussian(std)``: i.i.d. Gaussian noise added to every channel."""

    blocks = (Block("gaussian_noise", "degradation", "additive Gaussian noise", "noise gaussian"),)
    kind: Literal["gaussian_noise"] = "gaussian_noise"
    std: Annotated[Distribution, Arg(check="nonnegative")] = Field(
        ..., description="Noise standard deviation (>= 0), per sample."
    )


class PoissonNoise(IRModel):
    """``noise poisson(peak)``: shot noise, ``Poisson(peak * x) / peak`` per channel."""

    blocks = (
        Block(
            "poisson_noise", "degradation", "shot noise, photons at intensity 1", "noise poisson"
        ),
    )
    kind: Literal["poisson_noise"] = "poisson_noise"
    peak: Annotated[Distribution, Arg(check="positive")] = Field(
        ..., description="Photon count at intensity 1 (> 0), per sample."
    )


class StainJitter(IRModel):
    """``stain he(alpha, beta, angle)`` / ``stain hed(...)``: stain variation in OD space.

    Each pixel's optical density ``-log(rgb)`` is split into haematoxylin, eosin
    and DAB concentrations with scikit-image's HED basis
    (:data:`skimage.color.hed_from_rgb`, the units of :func:`skimage.color.rgb2hed`);
    each perturbed stain ``s`` becomes ``alpha_s * c_s + beta_s`` and the
    concentrations are recombined with stain vectors that are each tilted by a
    random angle. ``he`` perturbs H and E (the DAB / residual part is kept);
    ``hed`` perturbs all three. Applied to the clean and the noisy image alike.
    """

    blocks = (
        Block(
            "stain_he",
            "degradation",
            "H and E concentration scale (alpha) and shift (beta), stain-vector tilt (deg)",
            "stain he",
            fixed={"stains": "he"},
        ),
        Block(
            "stain_hed",
            "degradation",
            "H, E and DAB concentration scale (alpha) and shift (beta), stain-vector tilt",
            "stain hed",
            fixed={"stains": "hed"},
        ),
    )
    kind: Literal["stain"] = "stain"
    stains: Literal["he", "hed"] = Field("he", description="Which stains are perturbed.")
    alpha: Annotated[
        tuple[Distribution, ...], Arg(type="distributions", check="nonnegative", optional=True)
    ] = Field(..., min_length=2, max_length=3, description="Concentration scale per stain (>= 0).")
    beta: Annotated[tuple[Distribution, ...], Arg(type="distributions", optional=True)] = Field(
        ..., min_length=2, max_length=3, description="Concentration shift per stain (HED units)."
    )
    angle: Annotated[Distribution, Arg(minimum=-90, maximum=90)] = Field(
        default_factory=lambda: Constant(value=0.0),
        description="Tilt of each stain vector in degrees (random direction), per stain.",
    )

    @model_validator(mode="after")
    def _lengths(self) -> StainJitter:
        n = len(self.stains)
        if len(self.alpha) != n or len(self.beta) != n:
            raise ValueError(f"stain {self.stains} needs {n} alpha and beta values")
        return self


class Brightness(IRModel):
    """``brightness(factor)``: multiply every channel by ``factor`` (1 = unchanged)."""

    blocks = (Block("brightness", "degradation", "multiply the intensities by a factor"),)
    kind: Literal["brightness"] = "brightness"
    factor: Annotated[Distribution, Arg(check="nonnegative", maximum=100)] = Field(
        ..., description="Intensity factor (>= 0), per sample."
    )


class Contrast(IRModel):
    """``contrast(factor)``: scale deviations from the clean image's mean grey level."""

    blocks = (Block("contrast", "degradation", "scale deviations from the mean grey level"),)
    kind: Literal["contrast"] = "contrast"
    factor: Annotated[Distribution, Arg(check="nonnegative", maximum=100)] = Field(
        ..., description="Contrast factor (>= 0; 1 = unchanged)."
    )


class Gamma(IRModel):
    """``gamma(exponent)``: ``x ** exponent`` per channel (1 = unchanged)."""

    blocks = (Block("gamma", "degradation", "x ** exponent per channel"),)
    kind: Literal["gamma"] = "gamma"
    exponent: Annotated[Distribution, Arg(check="positive", maximum=100)] = Field(
        ..., description="Gamma exponent (> 0), per sample."
    )


class Saturation(IRModel):
    """``saturation(factor)``: blend each pixel with its grey level (0 = grey, 1 = unchanged)."""

    blocks = (
        Block("saturation", "degradation", "blend with the grey level (0 grey, 1 unchanged)"),
    )
    kind: Literal["saturation"] = "saturation"
    factor: Annotated[Distribution, Arg(check="nonnegative", maximum=100)] = Field(
        ..., description="Saturation factor (>= 0), per sample."
    )


class Focus(IRModel):
    """``focus(sigma)``: Gaussian blur of the tissue as the scanner sees it (clean and noisy).

    The same blur as ``blur gaussian`` but an appearance pass: the clean target is
    blurred too, so the network is not asked to sharpen (deconvolve) the image.
    """

    blocks = (
        Block("focus", "degradation", "blur of clean and noisy image alike (scanner focus), px"),
    )
    kind: Literal["focus"] = "focus"
    sigma: Annotated[Distribution, Arg(check="nonnegative", limit="max_radius")] = Field(
        ..., description="Blur sigma in pixels (>= 0; 0 = unchanged), per sample."
    )


class JPEGCompression(IRModel):
    """``jpeg(quality)``: JPEG encode and decode of the noisy image (Pillow, in memory)."""

    blocks = (Block("jpeg", "degradation", "JPEG compression of the noisy image, quality 1..100"),)
    kind: Literal["jpeg"] = "jpeg"
    quality: Annotated[Distribution, Arg(minimum=1, maximum=100)] = Field(
        ..., description="JPEG quality 1..100 (rounded), per sample."
    )


class ScaleJitter(IRModel):
    """``scale(factor)``: zoom of the whole sample (pixel-size jitter).

    The scene is rendered on a canvas of ``size / factor`` pixels and every
    output (clean, noisy, mask, id maps, regions) is resampled to ``size``:
    objects look ``factor`` times larger. Images are interpolated linearly
    (anti-aliased when shrinking), labels by nearest neighbour on the same grid.
    """

    blocks = (Block("scale", "degradation", "zoom of the whole sample (images, mask, id maps)"),)
    kind: Literal["scale"] = "scale"
    factor: Annotated[Distribution, Arg(check="positive", minimum=0.1, maximum=10)] = Field(
        ..., description="Zoom factor (> 0; 1 = unchanged), per sample."
    )


APPEARANCE_PASSES = ("stain", "brightness", "contrast", "gamma", "saturation", "focus")
"""Pass kinds that change the tissue's appearance: applied to the clean and the noisy image."""


DegradePass = Annotated[
    GaussianBlur
    | GaussianNoise
    | PoissonNoise
    | StainJitter
    | Brightness
    | Contrast
    | Gamma
    | Saturation
    | Focus
    | JPEGCompression
    | ScaleJitter,
    Field(discriminator="kind"),
]
