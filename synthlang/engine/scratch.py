"""Reusable per-thread scratch arrays for large temporaries.

Allocating a fresh multi-megabyte array costs page faults on first touch,
which on some machines cost as much as the arithmetic done with it. Engine
stages therefore draw their image-sized *temporaries* (never their results)
from a small per-thread cache. A buffer's contents are undefined when it is
handed out, and it must not be kept beyond the function that asked for it.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["scratch", "tune_allocator"]

_LOCAL = threading.local()
_MAX_BUFFERS = 32
_MAX_BYTES = 256 * 2**20


def scratch(name: str, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """Return this thread's scratch array ``name`` of the given shape and dtype.

    Two calls with the same ``name``, shape and dtype return the same array,
    so a caller needing two temporaries at once uses two names. At most 256 MiB
    are kept per thread; larger requests get a fresh array every time.

    Examples
    --------
    >>> a = scratch("doc", (2, 3), np.float32)
    >>> a is scratch("doc", (2, 3), np.float32), a.shape
    (True, (2, 3))
    """
    cache: dict[tuple[str, tuple[int, ...], str], np.ndarray] | None = getattr(
        _LOCAL, "cache", None
    )
    if cache is None:
        cache = {}
        _LOCAL.cache = cache
    key = (name, tuple(int(s) for s in shape), np.dtype(dtype).str)
    buf = cache.get(key)
    if buf is None:
        buf = np.empty(key[1], dtype=dtype)
        if buf.nbytes > _MAX_BYTES // 4:
            return buf  # too large to keep around
        if (
            len(cache) >= _MAX_BUFFERS
            or sum(b.nbytes for b in cache.values()) + buf.nbytes > _MAX_BYTES
        ):
            cache.clear()
        cache[key] = buf
    return buf


def tune_allocator(trim_threshold: int = 256 << 20, mmap_threshold: int = 32 << 20) -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the OS.

    Rendering allocates and frees several megabyte-sized arrays per sample;
    by default glibc unmaps or trims them after each sample, and touching
    fresh pages again costs page faults (about 10 % of a 300 x 300 render on
    some virtual machines). This raises ``M_TRIM_THRESHOLD`` and
    ``M_MMAP_THRESHOLD`` with ``mallopt`` so that the memory is reused. It is
    a process-wide setting: call it in rendering worker processes, not from
    library code. A no-op (returning False) where glibc is not available.

    Returns
    -------
    bool
        Whether both settings were applied.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    ok_trim = bool(mallopt(m_trim_threshold, int(trim_threshold)))
    ok_mmap = bool(mallopt(m_mmap_threshold, int(mmap_threshold)))
    return ok_trim and ok_mmap
