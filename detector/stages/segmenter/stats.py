"""Small numeric helpers shared by the kernels."""

from __future__ import annotations

import numpy as np
from numba import njit

from detector.stages.segmenter.state import SQRT_PI_2


@njit(cache=True, inline="always")
def noise_scale(abs_dev, floor):
    """Noise scale of a channel from its EMA of |x - baseline|, never below ``floor``."""
    s = SQRT_PI_2 * abs_dev
    if s < floor:
        s = floor
    return s


@njit(cache=True, inline="always")
def half_window(sc, cfg):
    """Half the width of this face's centred smoothing window, s: the wider window for a face whose
    noise is mostly white (sc.half_wide > 0, set at calibration), else smooth_s's."""
    return sc.half_wide if sc.half_wide > 0.0 else cfg.half_smooth_s


@njit(cache=True)
def top_k_mean(vals, n, k, buf):
    """Mean of the k largest of vals[:n] (k clipped to n); buf is scratch of length >= k."""
    if n == 0:
        return 0.0
    if k > n:
        k = n
    m = 0
    for i in range(n):
        v = vals[i]
        if m < k:
            j = m
            m += 1
        elif v > buf[k - 1]:
            j = k - 1
        else:
            continue
        while j > 0 and buf[j - 1] < v:
            buf[j] = buf[j - 1]
            j -= 1
        buf[j] = v
    s = 0.0
    for i in range(k):
        s += buf[i]
    return s / k


@njit(cache=True)
def ring_max(col, n0, n1, R):
    """Largest col[n % R] for frames n0..n1 (inclusive; n0 <= n1)."""
    best = -np.inf
    for n in range(n0, n1 + 1):
        v = col[n % R]
        if v > best:
            best = v
    return best
