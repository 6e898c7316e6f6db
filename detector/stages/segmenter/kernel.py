"""The per-frame kernel (:func:`step`), the per-centre state machine (:func:`process_centre`),
the end of a segment (:func:`end_segment`) and the whole-file driver (:func:`run`).

The entry points called from Python (``step_arrays``, ``end_segment_arrays``, ``reset_arrays``,
``run``) take the packed arrays of :class:`detector.stages.segmenter.state.SegmenterState` and the
config record of :func:`detector.stages.segmenter.config.kernel_config` (few arguments keep numba's
dispatch cheap) and build the named views once; everything below them works on names.
The small per-frame steps are ``inline="always"`` (here and in the modules they come from), so
that the per-frame path compiles to one function as the single-file kernel did.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from detector.stages.segmenter.activation import (activations, clear_centre, departure, head_speed, lag_frame,
                                                  smooth_centre, still_before)
from detector.stages.segmenter.baseline import (adapt_noise, begin_calibration, calibrate, calibration_frames,
                                                deviation, finish_calibration, give_back_noise, keep_noise_before,
                                                mean_level, old_deviation, restore_old_baseline, update_idle,
                                                white_noise, white_noise_floor, window_frames)
from detector.stages.segmenter.locate import event_signal, event_weights, rest_level
from detector.stages.segmenter.speech import (drop_held_rise, finalize_or_hold, held_is_long, hold_rise,
                                              mouth_dominated, release, release_held_rise, track_syllables)
from detector.stages.segmenter.state import (ACTIVE, CALIB, EPS, IDLE, KIND_BLINK, KIND_CLOSURE, KIND_GAZE, MARGIN,
                                             ROW_ONSET, held_views, info_views, state_views)
from detector.stages.segmenter.stats import half_window

#: the wider window of a white-noise face below 80 fps: 3 frames (one interval each side, 10 % slack for jitter)
WIDE_MIN_FRAMES = 3.0
WIDE_FRAME_SLACK = 1.1

# --------------------------------------------------------------------------- per centre frame


@njit(cache=True, inline="always")
def _centre_dt(sc, t, c, lowest, tc, cfg):
    """Time since the previous centre of this segment (for the EMAs), at most gap_s."""
    lastc = sc.last_centre
    if lastc >= lowest and lastc < c:
        dtc = tc - t[lastc % sc.ring_size]
    else:
        dtc = 0.0
    if dtc > cfg.gap_s:
        dtc = cfg.gap_s
    return dtc


@njit(cache=True, inline="always")
def _pre_motion(ring, lowest, c, tc, cfg, R):
    """How much the face moved before the rise that triggered at centre c: the face motion (mean over
    all channels of |y(n) - y(n - motion_lag_s)|, channel units, not noise units: a talking face keeps
    moving however far its noise scale has adapted; the mean, not the few largest channels: speech
    moves many channels together, noise each a little) averaged over the still_window_s that end
    motion_lag_s before c.  A frame without a lagged frame counts 0; no frames at all: 0.  Computed
    once per trigger from the ring, not per frame."""
    t = ring.t
    y = ring.y
    C = y.shape[1]
    hi = tc - cfg.motion_lag_s
    lo = hi - cfg.still_window_s
    acc = 0.0
    n = 0
    m = c - 1
    while m >= lowest and t[m % R] >= lo - EPS:
        if t[m % R] <= hi + EPS:
            g = int(ring.lag[m % R])
            if g >= 0:
                d = 0.0
                for k in range(C):
                    d += abs(y[m % R, k] - y[g % R, k])
                acc += d / C
            n += 1
        m -= 1
    return acc / n if n > 0 else 0.0


@njit(cache=True, inline="always")
def _start_event(sc, ch, ring, cfg, c, tc, a, dep):
    """The activation reached start_z: an active state starts at centre c."""
    R = sc.ring_size
    t = ring.t
    sc.peak_act_at = c
    sc.held_rise = -1
    sc.held_long = 0
    sc.last_kind = -1
    sc.peak_departure = dep
    sc.still_from = -1
    sc.mj_rises = 0
    sc.state = ACTIVE
    sc.ev_trigger = c
    sc.t_trigger = tc
    sc.t_final = np.inf
    sc.peak_act = a
    sc.below = 0
    lim = c
    lowest_hist = max(sc.seg_start, sc.n_in - R + MARGIN)
    sc.pre_motion = _pre_motion(ring, lowest_hist, c, tc, cfg, R)
    while lim - 1 >= lowest_hist and t[(lim - 1) % R] >= tc - cfg.preroll_s - EPS:
        lim -= 1
    sc.ev_limit = lim
    ch.peak[:] = -1.0  # below any |z|: the centre's values become the peaks
    ch.event_dev[:] = ch.abs_dev
    ch.event_dev_raw[:] = ch.abs_dev_raw
    _channel_peaks(ch)


@njit(cache=True, inline="always")
def _channel_peaks(ch):
    """Peak |z| (and its sign) per channel of the active state."""
    zs = ch.z
    az = ch.az
    peak = ch.peak
    sign = ch.sign
    for k in range(zs.shape[0]):
        z = zs[k]
        if az[k] > peak[k]:
            peak[k] = az[k]
            sign[k] = 1.0 if z >= 0.0 else -1.0


@njit(cache=True, inline="always")
def _follow_peaks(sc, ch, c, a, dep):
    """Peak |z| per channel, the peak activation and departure, of the active state."""
    _channel_peaks(ch)
    if a > sc.peak_act:
        sc.peak_act = a
        sc.peak_act_at = c
    if dep > sc.peak_departure:
        sc.peak_departure = dep


@njit(cache=True, inline="always")
def _brief_rise_from_still(sc, cfg, tc):
    """The rest rule (step 4b) may end the active state at centre time tc: from a face that was still
    before it, it departed at settle_departure_z or faster (a fast rise), or at settle_brief_departure_z
    and is still young (trigger at most settle_brief_s ago) or holds a rise already (a weak rise that is
    brief in time: a slow macro expression is still rising then)."""
    if not still_before(sc, cfg):
        return False
    if sc.peak_departure >= cfg.settle_departure_z:
        return True
    return sc.peak_departure >= cfg.settle_brief_departure_z and (
        sc.held_rise >= 0 or tc - sc.t_trigger <= cfg.settle_brief_s)


@njit(cache=True, inline="always")
def _settled(sc, ch, ring, cfg, c):
    """Follow the active state's run of still frames, on its own event signal e (the channels that
    carry it so far): e has changed less than settle_z over motion_lag_s and since the run began.
    True once the run has lasted settle_s and settle_rel of the state's age (slow events move
    slowly), after the state's peak activation and with e (its mean over the run: a held apex is
    noisy) below settle_level of e at that peak (sc.settled = 1), or above it while no rise is held
    yet (3: hold the rise), or settle_max_s at any level (2).  (A slow expression at
    its apex looks still too, but its noise keeps setting new peaks inside the run.)  Both lids lowered
    (closure gauges at lids_lowered_min) are not at rest: their return ends that event.  A run may
    begin at any time in the state (noise breaks long runs; a new one starts)."""
    R = sc.ring_size
    pc = c % R
    m = int(ring.lag[pc])
    shut = ring.closure[pc]
    if m < 0 or (np.isfinite(shut) and shut >= cfg.lids_lowered_min):
        sc.still_from = -1
        return False
    event_weights(ch, cfg, False)
    e = event_signal(c, ring, ch, R)
    if abs(e - event_signal(m, ring, ch, R)) >= cfg.settle_z:
        sc.still_from = -1
        return False
    tc = ring.t[pc]
    if sc.still_from < 0 or abs(e - event_signal(sc.still_from, ring, ch, R)) >= cfg.settle_z:
        sc.still_from = c
    still = tc - ring.t[sc.still_from % R]
    if still < cfg.settle_s or still < cfg.settle_rel * (tc - sc.t_trigger):
        return False
    if still >= cfg.settle_max_s:
        sc.settled = 2  # held: at rest near its peak
        return True
    if sc.peak_act_at >= sc.still_from:
        return False
    if rest_level(ring, ch, sc.still_from, c, R) > cfg.settle_level * event_signal(sc.peak_act_at, ring, ch, R):
        if sc.held_rise == -1:
            sc.settled = 3  # at rest near its peak: hold the rise, go on
            return True
        return False
    sc.settled = 1
    return True


@njit(cache=True)
def _end_settled(sc, st, cfg, info, c, tc, out, nout):
    """The active state's motion has stopped at centre c: report an event that ends where the face came
    to rest, and take the level it rests at (mean over the still frames) as the new neutral baseline."""
    held = sc.settled == 2
    sc.settled = 1
    if sc.held_rise >= 0 and not held_is_long(sc, st.held, st.ring, cfg):
        # a micro-short rise that came to rest, then fell a little: its onset was located when it
        # came to rest, on the channels that rose; the whole state's onset may not go before it
        sc.ev_limit = _held_onset_frame(sc, st, c)
    nout = finalize_or_hold(sc, st, cfg, info, c, tc, out, nout)
    _rest_baseline(sc, st, cfg, sc.still_from, c, held)
    return nout


@njit(cache=True, inline="always")
def _held_onset_frame(sc, st, c):
    """Ring frame of the active state's held rise's onset (its row keeps the time), searched back
    from centre c, no earlier than the state's ev_limit."""
    t_on = st.held.rows[sc.held_rise, ROW_ONSET]
    t = st.ring.t
    R = sc.ring_size
    m = c
    while m > sc.ev_limit and t[m % R] > t_on + EPS:
        m -= 1
    return m


@njit(cache=True, inline="always")
def _keep_old_neutral(sc, ch):
    """Keep the neutral baseline aside before a held level replaces it (a later return to it ends
    that expression, it is no new event); one already kept stays."""
    if sc.has_old == 0:
        ch.baseline_old[:] = ch.baseline
        sc.has_old = 1


#: IOD a point one IOD from the centre of an in-plane head rotation moves per degree of roll
ROLL_IOD = np.pi / 180.0


@njit(cache=True, inline="always")
def _head_shift(ring, n0, n1, R):
    """How far the head moved in the image plane from frame n0 to frame n1, IOD: the distance between
    the smoothed (tx, ty) of the two frames plus the roll between them at one IOD from its centre."""
    p0 = ring.pose_smooth[n0 % R]
    p1 = ring.pose_smooth[n1 % R]
    return np.sqrt((p1[3] - p0[3]) ** 2 + (p1[4] - p0[4]) ** 2) + abs(p1[2] - p0[2]) * ROLL_IOD


@njit(cache=True, inline="always")
def _held_level_becomes_neutral(sc, st, cfg, n):
    """The active state's rise kept its level, which becomes the neutral at centre n (the caller sets
    the baseline).  The neutral from before is kept aside (a later return to it ends that expression,
    it is no new event), and the noise the state added meanwhile (noise_adapt_s) is given back when
    the head moved no more than held_head_shift_max since the trigger: a still face that rose to a
    new level and kept it was not restless, and what it does next is measured in the noise units of
    the face before it (kept, a second AU7 lid tightening 1.7 s after the first on a tune face read
    z 2.5 and was never reported).  A head drift's noise stays."""
    _keep_old_neutral(sc, st.ch)
    if _head_shift(st.ring, sc.ev_trigger, n, sc.ring_size) <= cfg.held_head_shift_max:
        give_back_noise(st.ch)


@njit(cache=True, inline="always")
def _rest_baseline(sc, st, cfg, n0, n1, keep_old):
    """The face rests at a new level: its mean over the still frames n0..n1 becomes the neutral
    baseline, and the state goes idle.  ``keep_old``: the level is a held expression's
    (:func:`_held_level_becomes_neutral`)."""
    if keep_old:
        _held_level_becomes_neutral(sc, st, cfg, n1)
    mean_level(st.ch.baseline, st.ring.y, n0, n1, sc.ring_size)
    sc.still_from = -1
    sc.settled = 0
    _end_reported(sc, st, cfg, n1)


@njit(cache=True, inline="always")
def _returning(sc, ch, ring, cfg, c):
    """The active state's own event signal has fallen by settle_z or more over motion_lag_s: the
    face is on its way back, not departing anew."""
    R = sc.ring_size
    m = int(ring.lag[c % R])
    if m < 0:
        return False
    event_weights(ch, cfg, False)
    return event_signal(c, ring, ch, R) <= event_signal(m, ring, ch, R) - cfg.settle_z


@njit(cache=True)
def _split_held(sc, st, cfg, c, tc):
    """The face moved again (departure at settle_departure_z) after its rise had come to rest near
    its peak: report the held rise now, take the level it rested at (mean over the held still run up
    to motion_lag_s ago) as the new neutral baseline (:func:`_held_level_becomes_neutral`),
    and look for the new rise from there."""
    release_held_rise(sc, st.held, tc)
    _rest_baseline(sc, st, cfg, sc.held_from, max(int(st.ring.lag[c % sc.ring_size]), sc.held_from), True)


@njit(cache=True, inline="always")
def _end_idle(sc):
    sc.state = IDLE
    sc.below = 0


@njit(cache=True, inline="always")
def _eye_event_from_still(sc, cfg):
    """The state just reported an eye event (a blink, an eye closure or a look down) of a face that
    was still before it."""
    k = sc.last_kind
    return (k == KIND_BLINK or k == KIND_CLOSURE or k == KIND_GAZE) and still_before(sc, cfg)


@njit(cache=True, inline="always")
def _end_reported(sc, st, cfg, c):
    """The active state has been finalized at centre c: go idle.  After an eye event from a still
    face that is back at its neutral (within end_z of the baseline in the noise units of the state's
    start), the noise its long state added (noise_adapt_s) is given back (noise_revert): none of that
    was a restless face.  Kept, a 2.9 s eye closure on a tune face (boy_group, 200 fps) left
    mouthShrugLower's noise scale at 0.023, 3.8 x its level before, and a chin raise (AU17) 1.2 s
    later read z 1 and was never reported."""
    ch = st.ch
    if (cfg.noise_revert > 0.5 and _eye_event_from_still(sc, cfg)
            and deviation(ch, cfg, st.ring.y[c % sc.ring_size], ch.baseline, ch.event_dev) < cfg.end_z):
        give_back_noise(ch)
    _end_idle(sc)


@njit(cache=True, inline="always")
def _keeps_held_level(sc, st, cfg, c):
    """The face at centre c is still at the level the active state's held rise came to rest at
    (within end_z of it, and nearer to it than to the baseline, in the noise units of the state's
    start): the state ended by level while the face kept that level (on a later event's channels, a
    blink or a look down, or as its running noise scales grew)."""
    if sc.held_rise < 0:
        return False
    ch = st.ch
    y = st.ring.y[c % sc.ring_size]
    to_held = deviation(ch, cfg, y, ch.held_level, ch.event_dev)
    return to_held < cfg.end_z and to_held < deviation(ch, cfg, y, ch.baseline, ch.event_dev)


@njit(cache=True)
def _end_by_level(sc, st, cfg, info, c, tc, out, nout):
    """Finalize the active state that ended by level at centre c and go idle.  A face that kept the
    level its held rise came to rest at has settled there: that level becomes the neutral baseline
    (the neutral from before kept aside, as after a held expression); kept at the old baseline, the
    level read as a new state that ran on until it was dropped as too long, with the events in it."""
    settled_at_held = _keeps_held_level(sc, st, cfg, c)
    nout = finalize_or_hold(sc, st, cfg, info, c, tc, out, nout)
    if settled_at_held:
        _held_level_becomes_neutral(sc, st, cfg, c)
        st.ch.baseline[:] = st.ch.held_level
    _end_reported(sc, st, cfg, c)
    return nout


@njit(cache=True, inline="always")
def _post_roll(sc, st, cfg, info, c, tc, a, out, nout):
    """Post-roll of an event that has ended: only a new rise to start_z revives it."""
    if a >= cfg.start_z:
        sc.below = 0
        return nout
    if tc >= sc.t_final:
        nout = _end_by_level(sc, st, cfg, info, c, tc, out, nout)
    return nout


@njit(cache=True, inline="always")
def _end_test(sc, st, cfg, info, c, tc, out, nout):
    """The activation is below end_z: the event ends once it has stayed there end_hold_s and the
    event signal is back at return_z (or tail_max_s later)."""
    if sc.below == 0:
        sc.below = 1
        sc.t_below = tc
        sc.t_final = np.inf
    waited = tc - sc.t_below
    if waited >= cfg.end_hold_s:
        event_weights(st.ch, cfg, False)
        e = event_signal(c, st.ring, st.ch, sc.ring_size)
        if e <= cfg.return_z or waited >= cfg.end_hold_s + cfg.tail_max_s:
            # ended; keep a post-roll of backtrack_widen x its length so the offset can be sought
            # (and the signal smoothed) past this point
            post = cfg.backtrack_widen * (tc - sc.t_trigger)
            sc.t_final = tc + post
            if post <= 0.0:
                nout = _end_by_level(sc, st, cfg, info, c, tc, out, nout)
    return nout


@njit(cache=True, inline="always")
def _at_rest(sc, st, cfg, c, tc, dep):
    """The rest rule's step for a brief rise from a still face.  A held rise is split off when the
    face departs anew (state goes idle).  A rise at rest near its peak is held; at rest for
    settle_max_s a micro-short held rise has ended, a macro-long one waits for its return (held_long).
    Returns True when the state has ended at rest (the caller reports it)."""
    ch = st.ch
    if (sc.held_rise >= 0 and dep >= max(cfg.settle_departure_z, cfg.resplit_rel * sc.peak_departure)
            and not _returning(sc, ch, st.ring, cfg, c)):
        _split_held(sc, st, cfg, c, tc)
        return False
    if not _settled(sc, ch, st.ring, cfg, c):
        return False
    if sc.settled == 1:
        return True
    if sc.held_rise == -1:
        hold_rise(sc, st, cfg, c)
    if sc.settled == 2:
        if sc.held_rise >= 0 and not held_is_long(sc, st.held, st.ring, cfg):
            if sc.rest_fell == 1:
                return True
            # a micro-short rise to a level it kept without falling: a held apex or a new neutral, told
            # apart by what comes next; a new rise still splits it off (_split_held)
        else:
            sc.held_long = 1
    sc.settled = 0
    return False


@njit(cache=True, inline="always")
def _active_step(sc, st, cfg, info, c, tc, dtc, a, mj, speech, dep, out, nout):
    """One centre frame of an active state."""
    ch = st.ch
    if (cfg.speech_cycles > 0.0 and not speech and sc.mj_rises >= cfg.speech_cycles and mj >= a
            and np.isinf(sc.t_final) and (not still_before(sc, cfg) or mouth_dominated(ch, info))):
        # a state during which mouth and jaw keep rising and falling is speech, not an expression
        # (a brow raise while talking included), unless the face was still before it and other
        # channels carried it: abandon it and leave mouth and jaw out of the activation while the
        # speech goes on
        sc.speech = 1
        sc.speech_until = tc + cfg.speech_hold_s
        drop_held_rise(sc, st.held)
        _end_idle(sc)
        return nout
    _follow_peaks(sc, ch, c, a, dep)
    if cfg.noise_adapt_s > 0.0 and dtc > 0.0 and tc - sc.t_trigger > cfg.noise_adapt_s:
        pc = c % sc.ring_size
        adapt_noise(ch, cfg, st.ring.x[pc], st.ring.y[pc], dtc)
    if tc - sc.t_trigger > cfg.max_duration_s:
        # too long: not an expression.  Remember the neutral baseline (the state may end by
        # returning to it) and re-seed baseline and noise from the frames that follow.
        baseline = ch.baseline
        old = ch.baseline_old
        for k in range(baseline.shape[0]):
            old[k] = baseline[k]
        sc.has_old = 1
        release_held_rise(sc, st.held, tc)  # it rose to a level it kept: report the rise
        begin_calibration(sc)
        return nout
    if np.isfinite(sc.t_final) and sc.below != 0:
        return _post_roll(sc, st, cfg, info, c, tc, a, out, nout)
    if (cfg.motion_lag_s > 0.0 and cfg.settle_s > 0.0 and _brief_rise_from_still(sc, cfg, tc)
            and sc.held_long == 0 and sc.held_rise != -2):
        # a brief rise (a fast departure, or a weaker one while the state is young) from a still face
        # that has come to rest; slow states, and states of a face that was moving already (talking),
        # end by level (step 4)
        if _at_rest(sc, st, cfg, c, tc, dep):
            return _end_settled(sc, st, cfg, info, c, tc, out, nout)
        if sc.state != ACTIVE:
            return nout  # split: the held rise reported, the new rise sought from the level it kept
    if a >= cfg.end_z:
        sc.below = 0  # still (or again) active
        return nout
    return _end_test(sc, st, cfg, info, c, tc, out, nout)


@njit(cache=True, inline="always")
def _back_at_old_neutral(sc, st, cfg, info, c, tc, out, nout):
    """The face is back at the neutral kept aside (after a dropped long state or a held expression):
    that neutral is restored and the state goes idle.  An active state of its own (a blink, a new rise:
    its peak start_z away from that neutral) from a still face is reported first, not dropped with the
    return; a talking face's ends by level (step 4)."""
    R = sc.ring_size
    if (sc.state == ACTIVE and still_before(sc, cfg)
            and old_deviation(st.ch, cfg, st.ring.y[sc.peak_act_at % R]) >= cfg.start_z):
        nout = finalize_or_hold(sc, st, cfg, info, c, tc, out, nout)
    restore_old_baseline(sc, st.ch)
    return nout


@njit(cache=True)
def _calibrate(sc, ch, ring, cfg, first, c, lowest):
    """Calibrate on frames first..c.  A face whose noise is mostly white (white_share_min) is
    smoothed over a wider window from now on (:func:`_wide_half`); where smooth_s averages fewer
    than 3 frames (below 80 fps) only when that white noise is also large (white_level_min): there
    the wider window costs a frame of a brief event's edges, worth it only when single frames are
    too noisy to see a weak one.  Its calibration frames are smoothed again and calibrated once more."""
    R = sc.ring_size
    keep = keep_noise_before(sc, ch, cfg)
    calibrate(ch, ring, first, c, R)
    narrow = window_frames(ring, first, c, R, cfg.half_smooth_s)
    half = _wide_half(ring, cfg, first, c, R, narrow)
    wide = window_frames(ring, first, c, R, half)
    if cfg.half_wide_s > cfg.half_smooth_s and wide > narrow:
        white = np.zeros(ring.x.shape[1])
        share, level = white_noise(ch, ring, cfg, first, c, R, white)
        if share >= cfg.white_share_min and (narrow >= WIDE_MIN_FRAMES or level >= cfg.white_level_min):
            sc.half_wide = half
            for m in range(first, c + 1):
                smooth_centre(ring, m, lowest, sc.n_in - 1, half, R)
            calibrate(ch, ring, first, c, R)
            if narrow < WIDE_MIN_FRAMES:
                white_noise_floor(ch, white, wide)
    finish_calibration(sc, ch, ring, cfg, first, c, keep)


@njit(cache=True, inline="always")
def _wide_half(ring, cfg, first, c, R, narrow):
    """Half the wider window, s: smooth_wide_s's; where smooth_s averages fewer than WIDE_MIN_FRAMES
    frames, at least one frame interval on each side (3 frames; the interval measured over the
    calibration frames, with WIDE_FRAME_SLACK for timestamp jitter)."""
    if narrow >= WIDE_MIN_FRAMES or c <= first:
        return cfg.half_wide_s
    dt = (ring.t[c % R] - ring.t[first % R]) / (c - first)
    return max(cfg.half_wide_s, WIDE_FRAME_SLACK * dt)


@njit(cache=True, inline="always")
def process_centre(sc, st, cfg, info, out, nout):
    """Smooth, normalise and run the state machine on the next centre frame."""
    ring = st.ring
    ch = st.ch
    R = sc.ring_size
    c = sc.n_centre
    pc = c % R
    tc = ring.t[pc]
    lowest = max(sc.seg_start, sc.n_in - R)
    smooth_centre(ring, c, lowest, sc.n_in - 1, half_window(sc, cfg), R)
    head_speed(ring, c, lowest, cfg.head_speed_lag_s, R)
    lag_frame(ring, c, lowest, cfg.motion_lag_s, R)
    dtc = _centre_dt(sc, ring.t, c, lowest, tc, cfg)
    sc.last_centre = c
    sc.n_centre = c + 1
    state = sc.state
    clear_centre(ring, pc)
    if sc.has_old != 0 and state != IDLE and old_deviation(ch, cfg, ring.y[pc]) < cfg.end_z:
        return _back_at_old_neutral(sc, st, cfg, info, c, tc, out, nout)
    if state == CALIB:
        first = calibration_frames(sc, cfg, c, tc)
        if first >= 0:
            _calibrate(sc, ch, ring, cfg, first, c, lowest)
        return nout
    speech = sc.speech != 0
    a = activations(ch, ring, info, cfg, pc, speech)
    dep = departure(ch, ring, info, cfg, pc, speech)
    mj = track_syllables(sc, cfg, ring, pc, tc, speech)
    nout = release(sc, st.held, cfg, tc, out, nout)
    if state == IDLE:
        if a >= cfg.start_z:
            sc.above_s += dtc
            if sc.above_s >= cfg.start_hold_s - EPS:
                sc.above_s = 0.0
                _start_event(sc, ch, ring, cfg, c, tc, a, dep)
            return nout
        sc.above_s = 0.0
        if dtc > 0.0:
            m = int(ring.lag[pc])
            update_idle(ch, info, cfg, ring.x[pc], ring.y[pc], ring.y[max(m, 0) % R], m >= 0, dtc, a, speech)
        return nout
    return _active_step(sc, st, cfg, info, c, tc, dtc, a, mj, speech, dep, out, nout)


# --------------------------------------------------------------------------- per frame


@njit(cache=True)
def end_segment(sc, st, cfg, info, out, nout):
    """Gap or end of stream: process the pending centres with truncated windows,
    report an event whose activation had already fallen below end_z, abandon one still active."""
    while sc.n_centre < sc.n_in:
        nout = process_centre(sc, st, cfg, info, out, nout)
    if sc.state == ACTIVE:
        last = sc.last_centre
        t_last = st.ring.t[last % sc.ring_size]
        if sc.below != 0 and last >= sc.ev_trigger:
            nout = finalize_or_hold(sc, st, cfg, info, last, t_last, out, nout)
        elif sc.held_rise >= 0:
            release_held_rise(sc, st.held, t_last)  # a rise it kept until the stream ended
        elif (sc.still_from >= 0 and _brief_rise_from_still(sc, cfg, t_last)
              and t_last - st.ring.t[sc.still_from % sc.ring_size] >= cfg.settle_s):
            nout = _end_settled(sc, st, cfg, info, last, t_last, out, nout)  # at rest when the stream ended
        _end_idle(sc)
    elif sc.state == CALIB:
        begin_calibration(sc)  # calibration needs calibration_s of contiguous frames
    nout = release(sc, st.held, cfg, np.inf, out, nout)
    sc.seg_start = sc.n_in
    return nout


@njit(cache=True, inline="always")
def _store_frame(sc, ring, t, x, pose, gaze, frame):
    """Frame n_in into the ring (a missing pose value repeats the last one; a missing gaze stays NaN)."""
    R = sc.ring_size
    nin = sc.n_in
    p = nin % R
    xr = ring.x
    for k in range(x.shape[0]):
        xr[p, k] = x[k]
    ring.t[p] = t
    ring.frame[p] = frame
    q = (nin - 1) % R
    same_seg = nin > sc.seg_start
    pr = ring.pose
    for j in range(6):
        v = pose[j]
        if not np.isfinite(v):
            v = pr[q, j] if same_seg else 0.0  # a missing pose value repeats the last one
        pr[p, j] = v
    ring.gaze[p, 0] = gaze[0]
    ring.gaze[p, 1] = gaze[1]
    sc.n_in = nin + 1
    sc.t_last_in = t


@njit(cache=True, inline="always")
def _needs_growth(sc, t_col, cfg, t):
    """Ring growth request: keep the event, and preroll_s (calibration_s) of history, plus a margin."""
    R = sc.ring_size
    half = half_window(sc, cfg)
    grow = 0
    nin = sc.n_in
    if sc.state == ACTIVE:
        if nin - sc.ev_limit + MARGIN > R:
            grow = 1
    oldest = nin - R + MARGIN
    if oldest >= sc.seg_start and oldest < nin:
        if t_col[oldest % R] > t - max(cfg.preroll_s, cfg.calibration_s) - 2.0 * half - cfg.head_speed_lag_s:
            grow = 1
    return grow


@njit(cache=True, inline="always")
def step(sc, st, cfg, info, t, x, pose, gaze, frame, out):
    """Feed one frame.  Returns the number of rows written to ``out``; sets sc.grow."""
    nout = 0
    sc.grow = 0
    for k in range(x.shape[0]):
        if not np.isfinite(x[k]):
            return 0  # a frame without valid channels is skipped (not a gap by itself)
    nin = sc.n_in
    if nin > 0:
        dt = t - sc.t_last_in
        if dt > cfg.gap_s and sc.seg_start < nin:
            nout = end_segment(sc, st, cfg, info, out, nout)
        if dt > cfg.recalibrate_gap_s:
            sc.has_old = 0
            begin_calibration(sc)
    _store_frame(sc, st.ring, t, x, pose, gaze, frame)
    half = half_window(sc, cfg)
    R = sc.ring_size
    t_col = st.ring.t
    while sc.n_centre < sc.n_in and t > t_col[sc.n_centre % R] + half + EPS:
        nout = process_centre(sc, st, cfg, info, out, nout)
    sc.grow = _needs_growth(sc, t_col, cfg, t)
    return nout


# --------------------------------------------------------------------------- entry points (packed arrays)


@njit(cache=True)
def step_arrays(scalars, chan, xr, yr, fr, pend, kcfg, chinfo, t, x, pose, gaze, frame, out):
    """:func:`step` on SegmenterState.arrays(), the config record and the channel info."""
    st = state_views(scalars, chan, xr, yr, fr, pend)
    return step(scalars[0], st, kcfg[0], info_views(chinfo), t, x, pose, gaze, frame, out)


@njit(cache=True)
def end_segment_arrays(scalars, chan, xr, yr, fr, pend, kcfg, chinfo, out):
    """:func:`end_segment` on SegmenterState.arrays(); rows from out[0]."""
    st = state_views(scalars, chan, xr, yr, fr, pend)
    return end_segment(scalars[0], st, kcfg[0], info_views(chinfo), out, 0)


@njit(cache=True)
def reset_arrays(scalars, pend):
    """Recalibrate from the next frames (Segmenter.reset_baseline)."""
    sc = scalars[0]
    sc.has_old = 0
    if sc.state == ACTIVE:
        release_held_rise(sc, held_views(pend), sc.t_last_in)
    begin_calibration(sc)


@njit(cache=True)
def _append_rows(out_all, total, out, n):
    """Copy rows out[:n] to out_all[total:], doubling out_all when full; returns (out_all, total)."""
    for j in range(n):
        if total >= out_all.shape[0]:
            bigger = np.zeros((2 * out_all.shape[0], out_all.shape[1]))
            bigger[:total] = out_all[:total]
            out_all = bigger
        out_all[total] = out[j]
        total += 1
    return out_all, total


@njit(cache=True)
def run(scalars, chan, xr, yr, fr, pend, kcfg, chinfo, times, X, pose, gaze, frames, out_all):
    """Whole-file driver: the same per-frame kernel over every frame (ring pre-sized)."""
    st = state_views(scalars, chan, xr, yr, fr, pend)
    sc = scalars[0]
    cfg = kcfg[0]
    info = info_views(chinfo)
    N = times.shape[0]
    out = np.zeros((8, out_all.shape[1]))
    total = 0
    for i in range(N):
        n = step(sc, st, cfg, info, times[i], X[i], pose[i], gaze[i], frames[i], out)
        out_all, total = _append_rows(out_all, total, out, n)
    n = end_segment(sc, st, cfg, info, out, 0)
    out_all, total = _append_rows(out_all, total, out, n)
    return out_all[:total]
