"""F0 of EGG signals: the C routine (default, the firmware's code) and its NumPy reference.

    from eggemo.core.f0 import f0_track, F0Params
    track = f0_track(egg, fs)              # C, via cffi
    track = f0_track(egg, fs, backend="numpy")  # the readable specification
"""
from __future__ import annotations

import numpy as np

from .params import F0Params, F0Track, geometry

BACKENDS = ("c", "numpy")


def f0_track(x: np.ndarray, fs: int, params: F0Params | None = None, *, backend: str = "c") -> F0Track:
    """F0 contour of a 1-D EGG signal (int16, or float at full scale +-1), one frame per hop.

    Raises ValueError for bad input: empty or non-1-D arrays, other dtypes, NaN/inf,
    a rate outside 4-96 kHz, inconsistent parameters, or a signal shorter than a frame.
    """
    if backend == "c":
        from .binding import f0_track as impl
    elif backend == "numpy":
        from .reference import f0_track as impl
    else:
        raise ValueError(f"unknown F0 backend {backend!r}; choose one of {BACKENDS}")
    return impl(x, fs, params)


__all__ = ["F0Params", "F0Track", "f0_track", "geometry"]
