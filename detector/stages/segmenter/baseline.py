"""Neutral baseline and noise scale per channel: calibration, the robust EMAs, and the
restore of the earlier baseline after a dropped long state (module docstring of
:mod:`detector.stages.segmenter`, step 2)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from detector.stages.segmenter.state import CALIB, IDLE, JAW, MIN_CAL_FRAMES, MOUTH, SQRT_PI_2
from detector.stages.segmenter.stats import noise_scale, top_k_mean


@njit(cache=True)
def calibrate(ch, ring, first, last, R):
    """Baseline = median, noise = 1.4826 * MAD of the calibration frames first..last (robust to
    an expression made while calibrating)."""
    xr = ring.x
    yr = ring.y
    baseline = ch.baseline
    abs_dev = ch.abs_dev
    abs_dev_raw = ch.abs_dev_raw
    C = xr.shape[1]
    n = last - first + 1
    buf = np.empty(n)
    for c in range(C):
        for i in range(n):
            buf[i] = yr[(first + i) % R, c]
        med = np.median(buf)
        for i in range(n):
            buf[i] = abs(buf[i] - med)
        baseline[c] = med
        abs_dev[c] = 1.4826 * np.median(buf) / SQRT_PI_2
        for i in range(n):
            buf[i] = abs(xr[(first + i) % R, c] - med)
        abs_dev_raw[c] = 1.4826 * np.median(buf) / SQRT_PI_2


@njit(cache=True)
def calibrate_motion(ch, ring, first, last, R):
    """Motion noise = 1.4826 * median |y(n) - y(n - lag)| over the calibration frames whose lagged frame
    is in the calibration too (0, i.e. the noise floor, when there is none)."""
    yr = ring.y
    lag = ring.lag
    motion_dev = ch.motion_dev
    buf = np.empty(last - first + 1)
    for c in range(yr.shape[1]):
        k = 0
        for n in range(first, last + 1):
            m = int(lag[n % R])
            if m >= first:
                buf[k] = abs(yr[n % R, c] - yr[m % R, c])
                k += 1
        motion_dev[c] = 1.4826 * np.median(buf[:k]) / SQRT_PI_2 if k > 0 else 0.0


@njit(cache=True, inline="always")
def window_frames(ring, first, last, R, half):
    """Frames in a centred window of +-``half`` s at the mean frame rate of frames first..last."""
    t = ring.t
    span = t[last % R] - t[first % R]
    if span <= 0.0:
        return 1.0
    return 2.0 * math.floor(half * (last - first) / span + 1e-9) + 1.0


@njit(cache=True, inline="always")
def white_sd(xr, first, n, R, c, buf):
    """SD of channel c's white frame noise over the n frames from ``first`` (ring rows of xr): the
    robust SD (1.4826 x MAD) of its first differences / sqrt 2, channel units; ``buf`` is scratch of
    n - 1 values."""
    for i in range(n - 1):
        buf[i] = xr[(first + i + 1) % R, c] - xr[(first + i) % R, c]
    med = np.median(buf)
    for i in range(n - 1):
        buf[i] = abs(buf[i] - med)
    return 1.4826 * np.median(buf) / math.sqrt(2.0)


@njit(cache=True)
def white_noise(ch, ring, cfg, first, last, R, white):
    """(share, level) of the white frame noise of frames first..last, medians over the channels
    above the noise floor (0, 0 when none).  Per channel the white noise SD is the robust SD of the
    raw first differences / sqrt 2 (channel units, written to ``white`` for every channel; its
    median is ``level``); ``share`` is what of it is left after averaging over the smooth_s window,
    over the calibrated noise scale.  Near 1 a wider average lowers the noise; low, the noise is
    slow (drift, a restless face) and averaging only blurs brief events."""
    xr = ring.x
    C = xr.shape[1]
    n = last - first + 1
    if n < 3:
        return 0.0, 0.0
    m = window_frames(ring, first, last, R, cfg.half_smooth_s)
    buf = np.empty(n - 1)
    share = np.empty(C)
    level = np.empty(C)
    k = 0
    for c in range(C):
        white[c] = white_sd(xr, first, n, R, c, buf)
        scale = SQRT_PI_2 * ch.abs_dev[c]
        if scale <= cfg.noise_floor:
            continue
        level[k] = white[c]
        share[k] = level[k] / math.sqrt(m) / scale
        k += 1
    if k == 0:
        return 0.0, 0.0
    return np.median(share[:k]), np.median(level[:k])


@njit(cache=True)
def white_noise_floor(ch, white, frames):
    """After a calibration on frames averaged ``frames`` at a time from single frames (below 80 fps):
    each channel's noise scale is at least what that average leaves of its single-frame noise
    (ch.abs_dev_raw), for noise whose correlation from one frame to the next (rho, from ``white``,
    the white noise SD of :func:`white_noise`: var(diff) = 2 var (1 - rho)) falls off geometrically:
    var of the mean = var (N + 2 sum_k (N - k) rho^k) / N^2.  One second of 3-frame averages holds
    about 10 independent values, and their MAD came out low enough on some channels that a still
    face at 30 fps fired right after calibration; the 30 single frames are steadier."""
    N = int(frames)
    for c in range(white.shape[0]):
        raw = ch.abs_dev_raw[c]
        if raw <= 0.0:
            continue
        rho = min(1.0, max(0.0, 1.0 - (white[c] / (SQRT_PI_2 * raw)) ** 2))
        acc = float(N)
        for k in range(1, N):
            acc += 2.0 * (N - k) * rho ** k
        ch.abs_dev[c] = max(ch.abs_dev[c], raw * math.sqrt(acc) / N)


@njit(cache=True)
def begin_calibration(sc):
    sc.cal_first = -1
    sc.state = CALIB
    sc.cal_start = np.nan
    sc.below = 0
    sc.half_wide = 0.0  # each calibration decides the smoothing again (on smooth_s-smoothed frames)


@njit(cache=True, inline="always")
def calibration_frames(sc, cfg, c, tc):
    """One centre frame of calibration: the first calibration frame once calibration_s (and
    MIN_CAL_FRAMES) are there, else -1."""
    if np.isnan(sc.cal_start):
        sc.cal_start = tc
        sc.cal_first = c
    first = max(sc.cal_first, sc.n_in - sc.ring_size + 1)
    if tc - sc.cal_start >= cfg.calibration_s and c - first + 1 >= MIN_CAL_FRAMES:
        return first
    return -1


@njit(cache=True, inline="always")
def keep_noise_before(sc, ch, cfg):
    """Whether a re-calibration keeps the noise scales from before (a dropped long state and
    recalibrate_keeps_noise); when it does, they are saved in ch.az_blink / ch.az_other (scratch)
    for :func:`finish_calibration`."""
    keep = sc.has_old != 0 and cfg.recalibrate_keeps_noise > 0.5
    if keep:
        ch.az_blink[:] = ch.abs_dev
        ch.az_other[:] = ch.abs_dev_raw
    return keep


@njit(cache=True, inline="always")
def finish_calibration(sc, ch, ring, cfg, first, c, keep):
    """After :func:`calibrate` of frames first..c: motion noise, margin, the noise kept from before
    (``keep``: see :func:`keep_noise_before`), idle."""
    R = sc.ring_size
    C = ring.x.shape[1]
    if cfg.motion_lag_s > 0.0:
        calibrate_motion(ch, ring, first, c, R)
    for dev in (ch.abs_dev, ch.abs_dev_raw, ch.motion_dev):
        for k in range(C):
            dev[k] *= cfg.calibration_margin
    if keep:
        abs_dev = ch.abs_dev
        abs_dev_raw = ch.abs_dev_raw
        old = ch.az_blink
        old_raw = ch.az_other
        for k in range(C):
            abs_dev[k] = max(abs_dev[k], old[k])
            abs_dev_raw[k] = max(abs_dev_raw[k], old_raw[k])
    sc.state = IDLE
    sc.calibrated = 1


@njit(cache=True, inline="always")
def deviation(ch, cfg, y, ref, dev):
    """How far the smoothed channels ``y`` are from the levels ``ref``: the top-k mean of |y - ref| in
    the noise units of ``dev`` (an EMA of |x - baseline|, e.g. ch.abs_dev or ch.event_dev)."""
    floor = cfg.noise_floor
    out = ch.az  # scratch
    for k in range(y.shape[0]):
        out[k] = abs(y[k] - ref[k]) / noise_scale(dev[k], floor)
    return top_k_mean(out, y.shape[0], int(cfg.top_k), ch.topk_buf)


@njit(cache=True, inline="always")
def mean_level(level, y, n0, n1, R):
    """level = the mean of the smoothed channels ``y`` (a ring of R rows) over frames n0..n1: the
    level a face rested at, channel units."""
    inv = 1.0 / (n1 - n0 + 1)
    for k in range(level.shape[0]):
        acc = 0.0
        for n in range(n0, n1 + 1):
            acc += y[n % R, k]
        level[k] = acc * inv


@njit(cache=True, inline="always")
def old_deviation(ch, cfg, y):
    """How far the smoothed channels ``y`` are from the earlier neutral baseline (kept aside after a
    dropped long state or a held expression), in the running noise units."""
    return deviation(ch, cfg, y, ch.baseline_old, ch.abs_dev)


@njit(cache=True, inline="always")
def give_back_noise(ch):
    """The noise scales fall back to their level when the active state started (ch.event_dev*); none
    rises."""
    for k in range(ch.abs_dev.shape[0]):
        ch.abs_dev[k] = min(ch.abs_dev[k], ch.event_dev[k])
        ch.abs_dev_raw[k] = min(ch.abs_dev_raw[k], ch.event_dev_raw[k])


@njit(cache=True, inline="always")
def restore_old_baseline(sc, ch):
    """The face is back at the earlier neutral baseline: the long state (or held expression) is
    over; restore that baseline at once instead of waiting for a re-seed, and go idle."""
    baseline = ch.baseline
    old = ch.baseline_old
    for k in range(baseline.shape[0]):
        baseline[k] = old[k]
    sc.has_old = 0
    sc.state = IDLE
    sc.below = 0


@njit(cache=True, inline="always")
def update_idle(ch, info, cfg, x, y, y_lag, has_lag, dtc, a, speech):
    """No event active: the noise scales follow (so they can grow if the noise grows); the baseline
    is frozen while the activation ``a`` is above end_z (a candidate).  ``x``, ``y``: the centre's
    raw and smoothed channels; ``y_lag``: the smoothed channels motion_lag_s earlier (the motion
    noise follows only when ``has_lag``); ``dtc``: time since the previous centre, s."""
    floor = cfg.noise_floor
    upd_b = a < cfg.end_z
    ab_ = 1.0 - math.exp(-dtc / cfg.baseline_tau_s)
    an_ = 1.0 - math.exp(-dtc / cfg.noise_tau_s)
    bclip = cfg.baseline_clip_z
    nclip = cfg.noise_clip_z
    if not upd_b and cfg.noise_adapt_s > 0.0:
        an_ = 0.0  # a candidate's rise does not inflate the noise (a long state adapts it instead)
    baseline = ch.baseline
    abs_dev = ch.abs_dev
    abs_dev_raw = ch.abs_dev_raw
    motion_dev = ch.motion_dev
    region = info.region
    for k in range(y.shape[0]):
        if has_lag:
            sm = noise_scale(motion_dev[k], floor)
            motion_dev[k] += an_ * (min(abs(y[k] - y_lag[k]), nclip * sm) - motion_dev[k])
        s = noise_scale(abs_dev[k], floor)
        d = y[k] - baseline[k]
        ad = abs(d)
        if ad > nclip * s:
            ad = nclip * s
        abs_dev[k] += an_ * (ad - abs_dev[k])
        sr = noise_scale(abs_dev_raw[k], floor)
        adr = abs(x[k] - baseline[k])
        if adr > nclip * sr:
            adr = nclip * sr
        abs_dev_raw[k] += an_ * (adr - abs_dev_raw[k])
        if upd_b or (speech and (region[k] == MOUTH or region[k] == JAW)):
            if d > bclip * s:
                d = bclip * s
            elif d < -bclip * s:
                d = -bclip * s
            baseline[k] += ab_ * d


@njit(cache=True, inline="always")
def adapt_noise(ch, cfg, x, y, dtc):
    """A state older than noise_adapt_s: the noise scales follow it (clipped, as when idle), so a
    face that keeps moving (speech, drift) raises its own noise scale instead of staying active."""
    floor = cfg.noise_floor
    an_ = 1.0 - math.exp(-dtc / cfg.noise_tau_s)
    nclip = cfg.noise_clip_z
    baseline = ch.baseline
    abs_dev = ch.abs_dev
    abs_dev_raw = ch.abs_dev_raw
    for k in range(y.shape[0]):
        s = noise_scale(abs_dev[k], floor)
        ad = min(abs(y[k] - baseline[k]), nclip * s)
        abs_dev[k] += an_ * (ad - abs_dev[k])
        sr = noise_scale(abs_dev_raw[k], floor)
        adr = min(abs(x[k] - baseline[k]), nclip * sr)
        abs_dev_raw[k] += an_ * (adr - abs_dev_raw[k])
