"""Onset, apex and offset of an event that has ended, its labels, and its output row
(module docstring of :mod:`detector.stages.segmenter`, steps 5 and 6)."""

from __future__ import annotations

import numpy as np
from numba import njit

from detector.stages.segmenter.state import (EPS, N_REGIONS, ROW_APEX, ROW_APEX_FRAME, ROW_CHANNELS, ROW_HEAD_MOTION,
                                      ROW_INTENSITY, ROW_KIND, ROW_OFFSET, ROW_OFFSET_FRAME, ROW_ONSET,
                                      ROW_ONSET_FRAME, ROW_REGION, ROW_REGION_ACT, SQRT_PI_2, KIND_BLINK,
                                      KIND_CLOSURE, KIND_GAZE, KIND_MACRO, KIND_MICRO, REGION_FULL, REGION_LOWER,
                                      REGION_UPPER)
from detector.stages.segmenter.stats import half_window, ring_max


@njit(cache=True)
def weighted_signal(n, vals, ch, R, scale):
    """Combined event signal at frame n: weighted, sign-aligned channel deviations of ``vals``
    (a ring of channels) over the noise scales ``scale``."""
    C = vals.shape[1]
    p = n % R
    weight = ch.weight
    sign = ch.sign
    baseline = ch.baseline
    num = 0.0
    den = 0.0
    for c in range(C):
        w = weight[c]
        if w > 0.0:
            num += w * sign[c] * (vals[p, c] - baseline[c]) / scale[c]
            den += w
    if den <= 0.0:
        return 0.0
    return num / den


@njit(cache=True)
def event_signal(n, ring, ch, R):
    """Combined event signal e(n) over the event's channels (weights in ch.weight), smoothed noise units."""
    return weighted_signal(n, ring.y, ch, R, ch.scale)


@njit(cache=True)
def event_signal_raw(n, ring, ch, R):
    """The event signal from the unsmoothed channels (raw noise units), for refining positions."""
    return weighted_signal(n, ring.x, ch, R, ch.scale_raw)


@njit(cache=True)
def event_weights(ch, cfg, start_units):
    """Weights of the channels that carried the event (ch.weight); ch.scale(_raw) get the noise scales:
    the running ones (ch.abs_dev: is the face still moving?) or, ``start_units``, those from the
    state's start (ch.event_dev: where did an event that ended at rest start and end?)."""
    peak = ch.peak
    abs_dev = ch.event_dev if start_units else ch.abs_dev
    abs_dev_raw = ch.event_dev_raw if start_units else ch.abs_dev_raw
    scale = ch.scale
    scale_raw = ch.scale_raw
    weight = ch.weight
    floor = cfg.noise_floor
    C = peak.shape[0]
    mx = 0.0
    for c in range(C):
        if peak[c] > mx:
            mx = peak[c]
    # a channel joins when its peak is within channel_rel of the strongest and itself reaches
    # start_z (so that noise channels, which reach 3-4 z now and then, do not dilute e(n));
    # the strongest channel always joins
    lim = max(cfg.channel_rel * mx, min(cfg.start_z, mx))
    for c in range(C):
        s = SQRT_PI_2 * abs_dev[c]
        if s < floor:
            s = floor
        scale[c] = s
        s = SQRT_PI_2 * abs_dev_raw[c]
        if s < floor:
            s = floor
        scale_raw[c] = s
        weight[c] = peak[c] if (peak[c] >= lim and mx > 0.0) else 0.0


@njit(cache=True)
def refine_apex(apex, n0, nend, ring, ch, R, half):
    """Largest unsmoothed event signal within half a smoothing window of the smoothed apex."""
    t = ring.t
    tap = t[apex % R]
    best_n = apex
    best = event_signal_raw(apex, ring, ch, R)
    m = apex - 1
    while m >= n0 and t[m % R] >= tap - half - EPS:
        v = event_signal_raw(m, ring, ch, R)
        if v > best:
            best = v
            best_n = m
        m -= 1
    m = apex + 1
    while m <= nend and t[m % R] <= tap + half + EPS:
        v = event_signal_raw(m, ring, ch, R)
        if v > best:
            best = v
            best_n = m
        m += 1
    return best_n


@njit(cache=True)
def box_smooth(ring, n0, n1, R, hw):
    """ring.e2 = centred moving average of ring.e over +-hw seconds, frames n0..n1."""
    t = ring.t
    e = ring.e
    lo = n0
    hi = n0 - 1
    acc = 0.0
    for n in range(n0, n1 + 1):
        tn = t[n % R]
        while hi + 1 <= n1 and t[(hi + 1) % R] <= tn + hw + EPS:
            hi += 1
            acc += e[hi % R]
        while t[lo % R] < tn - hw - EPS:
            acc -= e[lo % R]
            lo += 1
        ring.e2[n % R] = acc / (hi - lo + 1)


@njit(cache=True)
def tangent_edge(apex, bound, step, ring, ch, R, floor):
    """Onset (step -1) or offset (step +1) of a strong event: fit a straight line to the
    unsmoothed event signal on that edge where it lies between 10 % (at least ``floor``) and 50 %
    of its apex value, and return the frame nearest to where the line meets zero (never beyond
    ``bound``).  Exact for motion that starts at full speed; for motion that starts smoothly the
    line meets zero a little late (~13 % of the rise for a raised cosine)."""
    tr = ring.t
    peak = event_signal_raw(apex, ring, ch, R)
    hi = 0.5 * peak
    lo = max(0.1 * peak, floor)
    m = apex
    while m != bound and event_signal_raw(m, ring, ch, R) > hi:
        m += step
    first = m  # first frame at or below 50 %
    while m != bound and event_signal_raw(m, ring, ch, R) > lo:
        m += step
    last_out = m  # first frame at or below 10 % (or the floor)
    # least squares over the frames between the two crossings, both included
    n = 0
    st = 0.0
    sv = 0.0
    stt = 0.0
    stv = 0.0
    t_ref = tr[apex % R]
    k = first
    while True:
        v = event_signal_raw(k, ring, ch, R)
        if v <= hi and v > lo or k == first or k == last_out:
            t = tr[k % R] - t_ref
            n += 1
            st += t
            sv += v
            stt += t * t
            stv += t * v
        if k == last_out:
            break
        k += step
    den = n * stt - st * st
    if n < 2 or den <= 0.0:
        return last_out
    b = (n * stv - st * sv) / den
    a = (sv - b * st) / n
    if b * step >= 0.0:  # not rising towards the apex: keep the 10 % crossing
        return last_out
    t0 = -a / b + t_ref
    # nearest frame to t0, searching outwards from the 50 % crossing
    m = first
    while m != bound and (tr[m % R] - t0) * step < 0.0:
        m += step
    prev = m - step
    if m != first and abs(tr[prev % R] - t0) < abs(tr[m % R] - t0):
        m = prev
    return m


@njit(cache=True)
def crossings(col, apex, n0, nend, R, level):
    """Frames where ``col`` (a ring column) last falls to ``level`` before ``apex`` and first after
    it (bounded by n0 and nend)."""
    on = apex
    while on > n0 and col[on % R] > level:
        on -= 1
    off = apex
    while off < nend and col[off % R] > level:
        off += 1
    return on, off


@njit(cache=True)
def smoothed_apex(ring, ch, n0, ntrig, nend, R):
    """Fill ring.e over n0..nend; the apex is the peak of the event signal after the trigger."""
    e = ring.e
    for n in range(n0, nend + 1):
        e[n % R] = event_signal(n, ring, ch, R)
    apex = ntrig
    best = -np.inf
    for n in range(ntrig, nend + 1):
        v = e[n % R]
        if v > best:
            best = v
            apex = n
    return apex


@njit(cache=True)
def backtrack_weak(ring, apex, n0, nend, R, cfg, nrise, half):
    """Onset and offset of a weaker event: level crossings of the smoothed event signal, then
    backtracking to the local minima.  The event's width (for slow events' extra smoothing) is
    measured no further than frame ``nrise`` (where a face that came to rest stopped moving: a held
    level is no slow motion)."""
    t = ring.t
    ret = cfg.return_z
    # level crossings of the smoothed event signal on both sides of the apex
    on, off = crossings(ring.e, apex, n0, nend, R, ret)
    # weaker event: backtrack on the smoothed signal, smoothed again over a fraction of the
    # event's half-peak width when that is longer than the detection window (slow events)
    col = ring.e
    hl, hr = crossings(ring.e, apex, n0, nend, R, 0.5 * ring.e[apex % R])
    hr = min(hr, max(nrise, hl))
    ws = cfg.backtrack_widen * (t[hr % R] - t[hl % R])
    if ws > 2.0 * half:
        box_smooth(ring, n0, nend, R, 0.5 * ws)
        col = ring.e2
        on, off = crossings(col, apex, n0, nend, R, ret)
    # then on to the preceding (following) local minimum (librosa's onset_backtrack), no
    # further than the smoothing's reach (beyond it the local minima are the noise's)
    reach = ws if ws > 2.0 * half else half
    t_lim = t[on % R] - reach - EPS
    while on > n0 and col[(on - 1) % R] < col[on % R] and t[(on - 1) % R] >= t_lim:
        on -= 1
    t_lim = t[off % R] + reach + EPS
    while off < nend and col[(off + 1) % R] < col[off % R] and t[(off + 1) % R] <= t_lim:
        off += 1
    return on, off


@njit(cache=True)
def locate(ring, ch, cfg, n0, ntrig, nend, R, nrise, half):
    """(onset, apex, offset) frames of the event between n0 and nend; ``nrise``: see backtrack_weak;
    ``half``: half the face's smoothing window, s."""
    apex = smoothed_apex(ring, ch, n0, ntrig, nend, R)
    if event_signal_raw(apex, ring, ch, R) >= cfg.refine_z:
        # strong event: the unsmoothed signal is reliable.  Apex = its peak near the smoothed
        # apex; onset / offset = where the straight line fitted to its rising (falling) edge,
        # between 10 % and 50 % of the peak, meets the baseline (no threshold bias, no
        # smoothing spread)
        apex = refine_apex(apex, n0, nend, ring, ch, R, half)
        on = tangent_edge(apex, n0, -1, ring, ch, R, cfg.tangent_floor_z)
        off = tangent_edge(apex, nend, 1, ring, ch, R, cfg.tangent_floor_z)
    else:
        on, off = backtrack_weak(ring, apex, n0, nend, R, cfg, nrise, half)
    return on, apex, off


@njit(cache=True)
def rest_level(ring, ch, n0, n1, R):
    """Mean event signal over frames n0..n1: the level a face at rest keeps (noise units)."""
    rest = 0.0
    for n in range(n0, n1 + 1):
        rest += event_signal(n, ring, ch, R)
    return rest / (n1 - n0 + 1)



@njit(cache=True, inline="always")
def unseen_fall(t, cfg, on, apex, off, nend, R):
    """Offset of an event that came to rest near its apex: ``off``, unless the event is then shorter
    than rest_min_s (shorter than real micro-expressions: most of its fall was lost in the noise); then no earlier
    than one rise after the apex (real micro-expressions fall as long as they rise, 150 ms in the
    median), and no later than nend."""
    rise = t[apex % R] - t[on % R]
    if t[off % R] - t[on % R] >= cfg.rest_min_s:
        return off
    while off < nend and t[(off + 1) % R] <= t[apex % R] + rise + EPS:
        off += 1
    return off


@njit(cache=True)
def rest_apex_offset(ring, ch, cfg, on, apex, still_from, nend, R):
    """(apex, offset) of an event whose face came to rest at a new level (mean event signal over the
    still frames still_from..nend): the offset is the first frame after the apex where the signal is
    within return_z of that level (before still_from); a face that rests at its apex (a rise to a
    held level, the apex inside the still run) has its apex where the signal first reached that
    level.  The third value: it rests near its apex (settle_level of it or more)."""
    e = ring.e
    rest = rest_level(ring, ch, still_from, nend, R)
    near_apex = rest >= cfg.settle_level * e[apex % R]
    if near_apex and apex >= still_from:
        apex = on
        while apex < nend and e[apex % R] < rest - cfg.return_z:
            apex += 1
        off = apex
    else:  # it fell a little, or back towards its start, before it came to rest: the offset is where the fall ended
        off = apex
        while off < (still_from if near_apex else nend) and e[off % R] > rest + cfg.return_z:
            off += 1
    return apex, off, near_apex


@njit(cache=True)
def head_moved(ring, cfg, on, off, nend, R):
    """Head motion during the event: the speed at frame n covers [t_n - head_speed_lag_s, t_n]."""
    t = ring.t
    t_off = t[off % R]
    hm_end = off
    while hm_end + 1 <= nend and t[(hm_end + 1) % R] <= t_off + cfg.head_speed_lag_s + EPS:
        hm_end += 1
    rot = ring_max(ring.rot, on, hm_end, R)
    trans = ring_max(ring.trans, on, hm_end, R)
    return rot > cfg.head_rot_speed_dps or trans > cfg.head_trans_speed


@njit(cache=True)
def irises_down(ring, on, off, R):
    """How far both irises looked down over frames on..off, score units: for each eye, the downward
    gaze gauge's median over the event less its value at the onset, or motion_lag_s before it if
    lower (the eyes may lead the channels the onset is located on); the smaller of the two eyes.  A
    median, so that a blink inside a long state (it moves the gauges as much as a look down) does
    not count.  0 when the gaze is unknown."""
    g = ring.gaze
    before = int(ring.lag[on % R])
    vals = np.empty(off - on + 1)
    down = np.inf
    for eye in range(2):
        base = g[on % R, eye]
        if before >= 0:
            base = min(base, g[before % R, eye])
        for n in range(on, off + 1):
            vals[n - on] = g[n % R, eye]
        down = min(down, np.median(vals) - base)
    return down if np.isfinite(down) else 0.0


@njit(cache=True)
def region_code(reg_pk, cfg):
    """REGION_FULL, REGION_UPPER or REGION_LOWER: the active regions (peak at least region_active_z), else
    the strongest."""
    up = False
    lo = False
    rbest = 0
    for r in range(N_REGIONS):
        if reg_pk[r] > reg_pk[rbest]:
            rbest = r
        if reg_pk[r] >= cfg.region_active_z:
            if cfg.region_upper[r] > 0.5:
                up = True
            else:
                lo = True
    if not up and not lo:
        if cfg.region_upper[rbest] > 0.5:
            up = True
        else:
            lo = True
    if up and lo:
        return REGION_FULL
    if up:
        return REGION_UPPER
    return REGION_LOWER


@njit(cache=True)
def write_row(row, ring, ch, on, apex, off, kind, region, intensity, head):
    R = ring.t.shape[0]
    C = ch.baseline.shape[0]
    row[ROW_ONSET_FRAME] = ring.frame[on % R]
    row[ROW_APEX_FRAME] = ring.frame[apex % R]
    row[ROW_OFFSET_FRAME] = ring.frame[off % R]
    row[ROW_ONSET] = ring.t[on % R]
    row[ROW_APEX] = ring.t[apex % R]
    row[ROW_OFFSET] = ring.t[off % R]
    row[ROW_KIND] = kind
    row[ROW_REGION] = region
    row[ROW_INTENSITY] = intensity
    row[ROW_HEAD_MOTION] = 1.0 if head else 0.0
    pa = apex % R
    reg = ring.region_act[pa]
    for r in range(N_REGIONS):
        row[ROW_REGION_ACT + r] = reg[r]
    baseline = ch.baseline
    y = ring.y[pa]
    for c in range(C):
        row[ROW_CHANNELS + c] = baseline[c]
        row[ROW_CHANNELS + C + c] = y[c]


@njit(cache=True)
def eye_kind(ring, cfg, on, off, dur, pk_shut, pk_cl):
    """Kind of an eye-led event on..off (``dur`` s): KIND_BLINK, KIND_CLOSURE or KIND_GAZE, or -1 when it
    is an expression.  Both eyes closed (``pk_shut``, the closure gauges' peak rise as given, score
    units): a blink, or an eye closure (AU43) when longer than blink_max_s.  Longer than micro_max_s
    with both irises down: a look down.  Both lids lowered partway (``pk_cl``, smoothed): a look down
    when it lasts gaze_min_s or more, an incomplete blink when it is over within blink_partial_max_s,
    and between the two a lid tightening, which is an expression.  None of the others is one."""
    R = ring.t.shape[0]
    if pk_shut >= cfg.blink_min_closure:
        return KIND_BLINK if dur <= cfg.blink_max_s else KIND_CLOSURE
    if cfg.gaze_down_min > 0.0 and dur >= cfg.micro_max_s and irises_down(ring, on, off, R) >= cfg.gaze_down_min:
        return KIND_GAZE
    if pk_cl < cfg.lids_lowered_min:
        return -1
    if dur >= cfg.gaze_min_s:
        return KIND_GAZE
    return KIND_BLINK if dur <= cfg.blink_partial_max_s else -1


@njit(cache=True)
def finalize(sc, ch, ring, cfg, nend, out, nout):
    """Locate onset/apex/offset of the active event ending at centre nend; write a row if kept."""
    R = sc.ring_size
    n0 = sc.ev_limit
    ntrig = sc.ev_trigger
    t = ring.t
    at_rest = sc.settled != 0
    # an event that ended at rest is located in the noise units of its start (a long held state has
    # raised the running ones, and its rise would look as weak as noise); its width ends where it came to rest
    event_weights(ch, cfg, at_rest)
    on, apex, off = locate(ring, ch, cfg, n0, ntrig, nend, R, max(sc.still_from, ntrig) if at_rest else nend,
                           half_window(sc, cfg))
    if at_rest:
        apex, off, near_apex = rest_apex_offset(ring, ch, cfg, on, apex, sc.still_from, nend, R)
        sc.rest_fell = 1 if off > apex else 0
        if near_apex:
            off = unseen_fall(t, cfg, on, apex, off, nend, R)
    t_on = t[on % R]
    t_off = t[off % R]
    dur = t_off - t_on
    if dur > cfg.max_duration_s or dur < cfg.min_duration_s or dur <= 0.0:  # no length: no event
        return nout
    head = head_moved(ring, cfg, on, off, nend, R)
    if head and cfg.reject_head_motion > 0.5:
        return nout
    # intensity, blink dominance and regions over the event
    a_lo = min(on, ntrig)
    pk_a = ring_max(ring.act, a_lo, off, R)
    pk_bl = ring_max(ring.act_blink, a_lo, off, R)
    pk_ot = ring_max(ring.act_other, a_lo, off, R)
    pk_cl = ring_max(ring.closure, a_lo, off, R)
    pk_shut = ring_max(ring.closure_raw, a_lo, off, R)
    reg_pk = np.empty(N_REGIONS)
    for r in range(N_REGIONS):
        reg_pk[r] = ring_max(ring.region_act[:, r], a_lo, off, R)
    # the eye channels carried it (MediaPipe moves brows and lips a little with the lids): maybe an eye event
    eye_led = pk_bl >= cfg.start_z and (pk_ot < cfg.start_z or pk_bl >= cfg.blink_dominance * pk_ot)
    kind = eye_kind(ring, cfg, on, off, dur, pk_shut, pk_cl) if eye_led else -1
    region = REGION_UPPER if kind >= 0 else region_code(reg_pk, cfg)  # an eye event is an upper-face one
    if nout >= out.shape[0]:
        return nout  # cannot happen with the sizes used by the wrappers
    if kind < 0:
        kind = KIND_MICRO if dur < cfg.micro_max_s else KIND_MACRO
    write_row(out[nout], ring, ch, on, apex, off, kind, region, pk_a, head)
    sc.last_kind = kind
    return nout + 1
