"""Patch lattices: blended grids of square patches (the array work of ``patches(...)``).

A lattice covers a box with ``size x size`` patches at stride ``size - overlap``;
each patch is weighted by a separable linear ramp (:func:`blend_weights`) so that
neighbours cross-fade and the weights sum to one in their overlaps, and the sum is
divided by the total weight. :func:`lattice_block` builds a batch of lattices of the
same extent at once; :func:`synthlang.engine.patches.patch_texture` (the
``TEXTURES["patches"]`` kind) groups instances by extent (:func:`bucket`) and
draws their patches from a library's cohorts (:func:`pool_matrix`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["blend_weights", "bucket", "lattice_block", "pool_matrix", "lattice"]


def blend_weights(size: int, overlap: int) -> np.ndarray:
    """1-d blending ramp of a lattice patch.

    ``w(i) = min(i + 1, overlap + 1, size - i) / (overlap + 1)``: a linear
    ramp over the ``overlap`` pixels at each end, 1 in between. With stride
    ``size - overlap`` the ramps of two neighbours sum to exactly 1.

    Examples
    --------
    >>> [round(float(v), 3) for v in blend_weights(6, 2)]
    [0.333, 0.667, 1.0, 1.0, 0.667, 0.333]
    """
    i = np.arange(size)
    w = np.minimum(np.minimum(i + 1, overlap + 1), size - i) / (overlap + 1)
    return w.astype(np.float32)


def bucket(n: int) -> int:
    """Round a lattice extent up to 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (groups similar sizes)."""
    if n <= 4:
        return max(n, 1)
    p = 1 << (n.bit_length() - 1)
    if n == p:
        return n
    return 3 * p // 2 if n <= 3 * p // 2 else 2 * p


def lattice_block(
    tiles: np.ndarray,
    pool_mat: np.ndarray,
    pool_len: np.ndarray,
    cohorts: np.ndarray,
    n_r: int,
    n_c: int,
    size: int,
    overlap: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``B`` blended lattices of ``n_r x n_c`` patches at once, one cohort each.

    Parameters
    ----------
    tiles : numpy.ndarray
        ``(M, S, S, 3)`` float32 patches with ``S >= size`` (larger ones are
        cropped at a random offset).
    pool_mat, pool_len : numpy.ndarray
        Cohort pools from :func:`pool_matrix`.
    cohorts : numpy.ndarray
        ``(B,)`` cohort of each lattice.
    n_r, n_c : int
        Patches per column and per row.
    size, overlap : int
        Patch side used and overlap of neighbours.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        ``(B, n_r * stride + overlap, n_c * stride + overlap, 3)`` float32.
    """
    b = len(cohorts)
    stride = size - overlap
    big = tiles.shape[1]
    pick = (rng.random((b, n_r, n_c)) * pool_len[cohorts][:, None, None]).astype(np.intp)
    idx = pool_mat[cohorts[:, None, None], pick]  # (B, n_r, n_c)
    if big == size:
        p = tiles[idx]  # (B, n_r, n_c, s, s, 3)
    else:
        ar = np.arange(size)
        cr = rng.integers(0, big - size + 1, (b, n_r, n_c))[..., None, None]
        cc = rng.integers(0, big - size + 1, (b, n_r, n_c))[..., None, None]
        p = tiles[idx[..., None, None], cr + ar[:, None], cc + ar[None, :]]
    w1 = blend_weights(size, overlap)
    q = -(-size // stride)
    # weighted patches laid out as (B, n_r, rows, n_c, cols, 3); patch rows
    # [i * stride, (i + 1) * stride) land in canvas row block (lattice row + i)
    pw = p.transpose(0, 1, 3, 2, 4, 5) * (w1[:, None] * w1[None, :])[None, None, :, None, :, None]
    canvas = np.zeros((b, n_r + q - 1, stride, n_c + q - 1, stride, 3), dtype=np.float32)
    for i in range(q):
        r0, r1 = i * stride, min((i + 1) * stride, size)
        for j in range(q):
            c0, c1 = j * stride, min((j + 1) * stride, size)
            canvas[:, i : i + n_r, : r1 - r0, j : j + n_c, : c1 - c0] += pw[:, :, r0:r1, :, c0:c1]
    wpad = np.zeros(q * stride, dtype=np.float32)
    wpad[:size] = w1
    wr = np.zeros((n_r + q - 1, stride), dtype=np.float32)
    wc = np.zeros((n_c + q - 1, stride), dtype=np.float32)
    for i in range(q):
        wr[i : i + n_r] += wpad[i * stride : (i + 1) * stride]
        wc[i : i + n_c] += wpad[i * stride : (i + 1) * stride]
    hr, hc = n_r * stride + overlap, n_c * stride + overlap
    flat = canvas.reshape(b, (n_r + q - 1) * stride, (n_c + q - 1) * stride, 3)[:, :hr, :hc]
    norm = wr.ravel()[:hr, None] * wc.ravel()[None, :hc]
    return flat / norm[None, :, :, None]


def pool_matrix(pools: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Pack cohort pools into a zero-padded ``(k, max len)`` index matrix and their lengths.

    Examples
    --------
    >>> mat, n = pool_matrix((np.array([3, 4]), np.array([7])))
    >>> mat.tolist(), n.tolist()
    ([[3, 4], [7, 0]], [2, 1])
    """
    pool_len = np.array([len(p) for p in pools], dtype=np.int64)
    pool_mat = np.zeros((len(pools), int(pool_len.max())), dtype=np.intp)
    for j, p in enumerate(pools):
        pool_mat[j, : len(p)] = p
    return pool_mat, pool_len


def lattice(
    tiles: np.ndarray,
    pool: np.ndarray,
    shape: tuple[int, int],
    size: int,
    overlap: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Cover a ``shape`` box with a blended lattice of random patches.

    Parameters
    ----------
    tiles : numpy.ndarray
        ``(M, S, S, 3)`` float32 patches with ``S >= size``.
    pool : numpy.ndarray
        Indices into ``tiles`` to draw from (uniformly, with replacement).
    shape : tuple of int
        ``(h, w)`` of the box.
    size, overlap : int
        Patch side used and overlap of neighbours (``0 <= overlap < size``).
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        ``(h, w, 3)`` float32 texture.

    Examples
    --------
    >>> tiles = np.full((1, 8, 8, 3), 0.25, np.float32)
    >>> tex = lattice(tiles, np.array([0]), (13, 20), 8, 2, np.random.default_rng(0))
    >>> tex.shape, bool(np.allclose(tex, 0.25))
    ((13, 20, 3), True)
    """
    h, w = int(shape[0]), int(shape[1])
    stride = size - overlap
    off_r, off_c = (int(v) for v in rng.integers(0, stride, 2))
    n_r = max(1, -(-(h + off_r - overlap) // stride))
    n_c = max(1, -(-(w + off_c - overlap) // stride))
    pool_mat, pool_len = pool_matrix((np.asarray(pool),))
    block = lattice_block(
        tiles, pool_mat, pool_len, np.zeros(1, np.intp), n_r, n_c, size, overlap, rng
    )
    return block[0, off_r : off_r + h, off_c : off_c + w]
