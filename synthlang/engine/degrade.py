"""Degradations of the noisy image: blur, Gaussian noise, Poisson noise, JPEG.

Each degradation is registered in :data:`~synthlang.engine.base.DEGRADATIONS`
under its IR ``kind`` with the signature ``fn(image, pass_ir, rng) -> image``.
:func:`degrade_pair` applies a scene's passes in order: these degradations
change the noisy image only, the appearance passes of
:mod:`synthlang.engine.appearance` (stain, brightness, contrast, gamma,
saturation) change the clean and the noisy image alike; both are clipped to
[0, 1] after every pass. The mask is never changed. Parameters given as
distributions are drawn once per sample, when the pass runs.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine.base import APPEARANCE, DEGRADATIONS, register
from synthlang.engine.gauss import standard_normal_f32
from synthlang.engine.sampling import draw
from synthlang.engine.scratch import scratch

__all__ = [
    "gaussian_kernel",
    "blur",
    "gaussian_blur",
    "gaussian_noise",
    "poisson_noise",
    "jpeg_compression",
    "degrade",
    "degrade_pair",
]


@lru_cache(maxsize=64)
def _kernel(sigma: float, truncate: float) -> np.ndarray:
    radius = max(int(truncate * sigma + 0.5), 1)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    out = k.astype(np.float32)
    out.setflags(write=False)
    return out


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalised 1-d Gaussian kernel of radius ``round(truncate * sigma)`` (float32).

    Examples
    --------
    >>> k = gaussian_kernel(1.0)
    >>> k.shape, round(float(k.sum()), 6)
    ((9,), 1.0)
    """
    return _kernel(float(sigma), float(truncate))


def _along(axis: int, ndim: int, start: int, stop: int | None, step: int = 1) -> tuple:
    index: list[slice] = [slice(None)] * ndim
    index[axis] = slice(start, stop, step)
    return tuple(index)


def _correlate_axis(src: np.ndarray, k: np.ndarray, axis: int, out: np.ndarray) -> np.ndarray:
    """Correlate ``src`` with the symmetric kernel ``k`` along ``axis`` (reflecting border).

    Shifted multiply-adds on a padded copy: for the short kernels of image
    blurs this is several times faster than ``scipy.ndimage.correlate1d``. The
    border is scipy's ``reflect`` mode (``d c b a | a b c d``); the kernel
    radius must be smaller than the axis length.
    """
    r = len(k) // 2
    n = src.shape[axis]
    nd = src.ndim
    pshape = list(src.shape)
    pshape[axis] = n + 2 * r
    pad = scratch(f"degrade.pad{axis}", tuple(pshape), np.float32)
    pad[_along(axis, nd, r, r + n)] = src
    pad[_along(axis, nd, 0, r)] = src[_along(axis, nd, r - 1, None, -1)]
    pad[_along(axis, nd, r + n, None)] = src[_along(axis, nd, n - 1, n - r - 1, -1)]
    tmp = scratch("degrade.tmp", src.shape, np.float32)
    np.multiply(pad[_along(axis, nd, r, r + n)], k[r], out=out)
    for i in range(r):
        np.add(
            pad[_along(axis, nd, i, i + n)],
            pad[_along(axis, nd, 2 * r - i, 2 * r - i + n)],
            out=tmp,
        )
        tmp *= k[i]
        out += tmp
    return out


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur over rows and columns, float32 (a new array).

    The boundary is reflected and the kernel truncated at 4 sigma, as in
    scipy's ``gaussian_filter``.
    """
    k = gaussian_kernel(sigma)
    if len(k) // 2 >= min(image.shape[0], image.shape[1]):
        tmp = ndimage.correlate1d(image, k, axis=0, mode="reflect")
        return ndimage.correlate1d(tmp, k, axis=1, output=np.float32, mode="reflect")
    rows = _correlate_axis(image, k, 0, scratch("degrade.rows", image.shape, np.float32))
    return _correlate_axis(rows, k, 1, np.empty(image.shape, dtype=np.float32))


@register(DEGRADATIONS, "blur")
def gaussian_blur(image: np.ndarray, spec: ir.GaussianBlur, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur with ``sigma`` drawn from ``spec.sigma`` (no blur for sigma <= 0).

    Examples
    --------
    >>> img = np.zeros((15, 15, 3), np.float32); img[7, 7] = 1
    >>> out = gaussian_blur(img, ir.GaussianBlur(sigma=ir.Constant(value=1)),
    ...                     np.random.default_rng(0))
    >>> out.dtype.name, bool(abs(out.sum() - 3) < 1e-3)
    ('float32', True)
    """
    sigma = draw(spec.sigma, rng)
    if not sigma > 0:
        return image
    return blur(np.asarray(image, dtype=np.float32), sigma)


@register(DEGRADATIONS, "gaussian_noise")
def gaussian_noise(
    image: np.ndarray, spec: ir.GaussianNoise, rng: np.random.Generator
) -> np.ndarray:
    """Add i.i.d. ``N(0, std^2)`` noise to every channel (``std`` drawn per sample)."""
    std = draw(spec.std, rng)
    if not std > 0:
        return image
    noise = standard_normal_f32(
        rng, image.shape, out=scratch("degrade.noise", image.shape, np.float32)
    )
    noise *= np.float32(std)
    return np.add(image, noise, dtype=np.float32)


@register(DEGRADATIONS, "poisson_noise")
def poisson_noise(image: np.ndarray, spec: ir.PoissonNoise, rng: np.random.Generator) -> np.ndarray:
    """Shot noise: ``Poisson(peak * x) / peak`` per pixel and channel (``peak`` per sample)."""
    peak = draw(spec.peak, rng)
    if not peak > 0:
        raise RenderError(f"poisson noise needs a peak > 0, drew {peak}")
    lam = np.clip(image, 0.0, None).astype(np.float64) * peak
    return (rng.poisson(lam) / peak).astype(np.float32)


@register(DEGRADATIONS, "jpeg")
def jpeg_compression(
    image: np.ndarray, spec: ir.JPEGCompression, rng: np.random.Generator
) -> np.ndarray:
    """JPEG encode and decode with Pillow in memory (``quality`` drawn per sample, rounded).

    The image is quantised to 8 bits, compressed with Pillow's default
    chroma subsampling and decoded back to float32. An image that is not RGB is
    compressed channel by channel, each as a grey JPEG.

    Examples
    --------
    >>> img = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    >>> out = jpeg_compression(img, ir.JPEGCompression(quality=ir.Constant(value=50)),
    ...                        np.random.default_rng(0))
    >>> out.shape, out.dtype.name, bool(np.abs(out - img).mean() > 0.01)
    ((16, 16, 3), 'float32', True)
    """
    quality = int(np.clip(round(draw(spec.quality, rng)), 1, 100))
    pixels = np.clip(np.asarray(image, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if pixels.shape[2] != 3:  # not RGB: each channel is its own grey JPEG
        planes = [_jpeg(pixels[:, :, k], "L", quality) for k in range(pixels.shape[2])]
        return np.stack(planes, axis=2) / np.float32(255.0)
    return _jpeg(pixels, "RGB", quality) / np.float32(255.0)


def _jpeg(pixels: np.ndarray, mode: str, quality: int) -> np.ndarray:
    """Encode 8-bit pixels as JPEG in memory and decode them (float32 0..255)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), mode=mode).save(
        buf, format="JPEG", quality=quality
    )
    buf.seek(0)
    with Image.open(buf) as decoded:
        return np.asarray(decoded.convert(mode), dtype=np.float32)


def degrade(
    image: np.ndarray, passes: Sequence[ir.DegradePass], rng: np.random.Generator
) -> np.ndarray:
    """Apply degradation passes in order to one image; clip to [0, 1] after each.

    Appearance passes (:data:`synthlang.ir.APPEARANCE_PASSES`) act on this image
    alone; ``scale`` passes are skipped (:func:`synthlang.engine.render.render`
    resamples the whole sample). The input array is not modified.

    Raises
    ------
    RenderError
        If a pass kind has no registered degradation.
    """
    return degrade_pair(None, image, passes, rng)[1]


def degrade_pair(
    clean: np.ndarray | None,
    noisy: np.ndarray,
    passes: Sequence[ir.DegradePass],
    rng: np.random.Generator,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Apply a scene's passes in order to a sample's clean and noisy images.

    Appearance passes (stain, brightness, contrast, gamma, saturation) change
    both images with the same drawn parameters (statistics are taken from
    ``clean``); blur, noise and JPEG passes change the noisy image only;
    ``scale`` passes are skipped (the renderer resamples the whole sample).
    Both images are clipped to [0, 1] after every pass that changes them.
    The input arrays are not modified.

    Parameters
    ----------
    clean : numpy.ndarray or None
        ``(H, W, 3)`` clean image, or None to degrade ``noisy`` alone.
    noisy : numpy.ndarray
        ``(H, W, 3)`` noisy image.
    passes : sequence of synthlang.ir.DegradePass
        The scene's passes, in order.
    rng : numpy.random.Generator
        The sample's generator (parameters are drawn when each pass runs).

    Returns
    -------
    tuple
        ``(clean, noisy)`` float32 (``clean`` is the input object when no
        appearance pass ran, None when it was None).

    Raises
    ------
    RenderError
        If a pass kind has no registered function.
    """
    original = noisy
    out = np.asarray(noisy, dtype=np.float32)
    for spec in passes:
        if spec.kind == "scale":
            continue
        look = APPEARANCE.get(spec.kind)
        if look is not None:
            images = [out] if clean is None else [clean, out]
            results = look(images, spec, rng)
            if clean is not None:
                new_clean = np.asarray(results[0], dtype=np.float32)
                if np.may_share_memory(new_clean, clean):
                    new_clean = new_clean.copy()
                clean = np.clip(new_clean, 0.0, 1.0, out=new_clean)
            res = results[-1]
        else:
            fn = DEGRADATIONS.get(spec.kind)
            if fn is None:
                raise RenderError(f"no degradation {spec.kind!r} is registered")
            res = fn(out, spec, rng)
        if res is out:
            continue
        res = np.asarray(res, dtype=np.float32)
        if res is original or np.may_share_memory(res, original):
            res = res.copy()
        out = np.clip(res, 0.0, 1.0, out=res)
    return clean, out
