"""Per centre frame: centred smoothing, head speed, z and the activations (module docstring of
:mod:`detector.stages.segmenter`, steps 1 and 3)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from detector.stages.segmenter.state import EPS, JAW, MOUTH, N_REGIONS
from detector.stages.segmenter.stats import noise_scale, top_k_mean


@njit(cache=True, inline="always")
def smooth_centre(ring, c, lowest, newest, half, R):
    """ring.y and ring.pose_smooth at centre c: the mean over the centred window of +-half
    seconds (frames lowest..newest available)."""
    t = ring.t
    yr = ring.y
    xr = ring.x
    C = xr.shape[1]
    pc = c % R
    tc = t[pc]
    # centred window [lo, hi]
    lo = c
    while lo - 1 >= lowest and t[(lo - 1) % R] >= tc - half - EPS:
        lo -= 1
    hi = c
    while hi + 1 <= newest and t[(hi + 1) % R] <= tc + half + EPS:
        hi += 1
    inv = 1.0 / (hi - lo + 1)
    sp = ring.pose_smooth
    pose = ring.pose
    for k in range(C):
        yr[pc, k] = 0.0
    for j in range(6):
        sp[pc, j] = 0.0
    for m in range(lo, hi + 1):
        pm = m % R
        for k in range(C):
            yr[pc, k] += xr[pm, k]
        for j in range(6):
            sp[pc, j] += pose[pm, j]
    for k in range(C):
        yr[pc, k] *= inv
    for j in range(6):
        sp[pc, j] *= inv


@njit(cache=True, inline="always")
def head_speed(ring, c, lowest, lag, R):
    """ring.rot and ring.trans at centre c: smoothed pose change over head_speed_lag_s (0 until
    enough history)."""
    t = ring.t
    sp = ring.pose_smooth
    pc = c % R
    tc = t[pc]
    rot = 0.0
    trans = 0.0
    m = c - 1
    while m >= lowest and tc - t[m % R] < lag:
        m -= 1
    if m >= lowest:
        pm = m % R
        dt = tc - t[pm]
        s1 = 0.0
        s2 = 0.0
        for j in range(3):
            d = sp[pc, j] - sp[pm, j]
            s1 += d * d
            d = sp[pc, 3 + j] - sp[pm, 3 + j]
            s2 += d * d
        rot = math.sqrt(s1) / dt
        trans = math.sqrt(s2) / dt
    ring.rot[pc] = rot
    ring.trans[pc] = trans


@njit(cache=True, inline="always")
def lag_frame(ring, c, lowest, lag, R):
    """ring.lag at centre c: the latest frame at least ``lag`` s earlier (-1 when none, or lag is 0)."""
    t = ring.t
    pc = c % R
    tc = t[pc]
    ring.lag[pc] = -1.0
    if lag > 0.0:
        m = c - 1
        while m >= lowest and tc - t[m % R] < lag - EPS:
            m -= 1
        if m >= lowest:
            ring.lag[pc] = m


@njit(cache=True, inline="always")
def departure(ch, ring, info, cfg, pc, speech):
    """Motion away from the baseline at the centre: per channel, how much further from the baseline
    y(c) is than y(lag), in its motion noise units (ch.departure, 0 when closer, so that a return to
    neutral is no onset; mouth and jaw count 0 in speech mode).  Returns the top-k mean."""
    dep = ch.departure
    C = dep.shape[0]
    m = int(ring.lag[pc])
    if m < 0:
        return 0.0
    y = ring.y[pc]
    y_lag = ring.y[m % ring.t.shape[0]]
    baseline = ch.baseline
    motion_dev = ch.motion_dev
    region = info.region
    floor = cfg.noise_floor
    for k in range(C):
        r = region[k]
        d = (abs(y[k] - baseline[k]) - abs(y_lag[k] - baseline[k])) / noise_scale(motion_dev[k], floor)
        dep[k] = d if d > 0.0 and not (speech and (r == MOUTH or r == JAW)) else 0.0
    return top_k_mean(dep, C, int(cfg.top_k), ch.topk_buf)


@njit(cache=True, inline="always")
def clear_centre(ring, pc):
    """Zero the centre's activation columns (a frame that calibrates reports none)."""
    reg = ring.region_act[pc]
    for r in range(N_REGIONS):
        reg[r] = 0.0
    ring.act[pc] = 0.0
    ring.act_blink[pc] = 0.0
    ring.act_other[pc] = 0.0
    ring.e[pc] = 0.0
    ring.closure[pc] = 0.0
    ring.closure_raw[pc] = 0.0


@njit(cache=True, inline="always")
def activations(ch, ring, info, cfg, pc, speech):
    """z per channel (ch.z) and the centre's activations: top-k mean |z| (all channels, blink
    channels, the others), the largest |z| per region and the eye closure.  ``ch.az`` gets the |z|
    that count towards the activation.  Returns the activation."""
    zs = ch.z
    baseline = ch.baseline
    abs_dev = ch.abs_dev
    az_all = ch.az
    az_blink = ch.az_blink
    az_other = ch.az_other
    region = info.region
    closure = info.closure
    blink = info.blink
    C = zs.shape[0]
    y = ring.y[pc]
    x = ring.x[pc]
    reg = ring.region_act[pc]
    floor = cfg.noise_floor
    nb = 0
    no = 0
    close = np.inf
    nclose = 0
    close_raw = np.inf
    for k in range(C):
        s = noise_scale(abs_dev[k], floor)
        z = (y[k] - baseline[k]) / s
        zs[k] = z
        az = abs(z)
        if closure[k] != 0:
            nclose += 1
            d = y[k] - baseline[k]
            if d < close:
                close = d
            d = x[k] - baseline[k]
            if d < close_raw:
                close_raw = d
        r = region[k]
        if az > reg[r]:
            reg[r] = az
        if speech and (r == MOUTH or r == JAW):
            az = 0.0  # speech mode: mouth and jaw do not count towards the activation
        az_all[k] = az
        if blink[k] != 0:
            az_blink[nb] = az
            nb += 1
        else:
            az_other[no] = az
            no += 1
    k = int(cfg.top_k)
    buf = ch.topk_buf
    a = top_k_mean(az_all, C, k, buf)
    ab = top_k_mean(az_blink, nb, k, buf)
    ao = top_k_mean(az_other, no, k, buf)
    ring.act[pc] = a
    ring.act_blink[pc] = ab
    ring.act_other[pc] = ao
    ring.closure[pc] = close if nclose > 0 else np.inf
    ring.closure_raw[pc] = close_raw if nclose > 0 else np.inf
    return a


@njit(cache=True, inline="always")
def still_before(sc, cfg):
    """The face was still before the active state's trigger (sc.pre_motion at most still_motion_max,
    channel units): not talking."""
    return sc.pre_motion <= cfg.still_motion_max
