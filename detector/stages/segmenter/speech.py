"""Speech: the mouth/jaw syllable (re-rise) tracker, and the look-ahead that holds an event the
articulation channels carried until it is clear whether syllables follow (module docstring of
:mod:`detector.stages.segmenter`, step 7)."""

from __future__ import annotations

import numpy as np
from numba import njit

from detector.stages.segmenter.activation import still_before
from detector.stages.segmenter.baseline import mean_level
from detector.stages.segmenter.locate import event_signal, event_weights, finalize
from detector.stages.segmenter.state import JAW, KIND_MICRO, MOUTH, N_RISES, ROW_KIND, ROW_OFFSET, ROW_ONSET


@njit(cache=True, inline="always")
def track_syllables(sc, cfg, ring, pc, tc, speech):
    """Speech: the mouth/jaw activation rises and falls again and again (syllables).  Counts the
    re-rises, keeps speech mode on while they go on.  Returns the mouth/jaw activation."""
    mj = max(ring.region_act[pc, MOUTH], ring.region_act[pc, JAW])
    if cfg.speech_cycles > 0.0:
        dip = cfg.speech_dip
        if sc.mj_dir >= 0:
            if mj > sc.mj_extreme:
                sc.mj_extreme = mj
            elif mj < dip * sc.mj_extreme:
                sc.mj_dir = -1
                sc.mj_extreme = mj
        else:
            if mj < sc.mj_extreme:
                sc.mj_extreme = mj
            elif dip * mj > sc.mj_extreme and mj >= cfg.start_z:
                sc.mj_dir = 1
                sc.mj_extreme = mj
                if tc - sc.rises[(sc.rise_pos - 1) % N_RISES] >= cfg.speech_min_gap_s:
                    sc.mj_rises += 1
                    sc.rises[sc.rise_pos % N_RISES] = tc
                    sc.rise_pos += 1
                    if speech:
                        sc.speech_until = tc + cfg.speech_hold_s
        if speech and tc > sc.speech_until:
            sc.speech = 0
    return mj


@njit(cache=True)
def mouth_dominated(ch, info):
    """True when the speech (articulation) channels carried the active state (their peak |z| is the largest)."""
    mj = 0.0
    ot = 0.0
    peak = ch.peak
    speech = info.speech
    for k in range(peak.shape[0]):
        v = peak[k]
        if speech[k] != 0:
            if v > mj:
                mj = v
        elif v > ot:
            ot = v
    return mj >= ot


@njit(cache=True, inline="always")
def drop_held_rise(sc, held):
    """Forget the active state's held rise (see kernel.hold_rise)."""
    if sc.held_rise >= 0:
        held.in_use[sc.held_rise] = 0.0
        sc.held_rise = -1


@njit(cache=True)
def hold_rise(sc, st, cfg, c):
    """The face has come to rest near the state's peak: a rise to a new level, or an expression at its
    apex.  The rise is kept, as it would end now, in a held slot without a release time, and the
    state goes on: if it ends by level within max_duration_s it was an expression at its apex
    (finalize_or_hold drops the held rise); if the face moves on to a new rise, or rests on for
    settle_max_s (a micro-short rise) or until max_duration_s, the held rise is reported (kernel).
    No slot free, or the rise would not be kept: held_rise = -2 (no second try in this state).
    Returns True."""
    held = st.held
    for j in range(held.in_use.shape[0]):
        if held.in_use[j] == 0.0:
            if finalize(sc, st.ch, st.ring, cfg, c, held.rows[j:j + 1], 0) == 1:
                held.in_use[j] = 1.0
                held.release_t[j] = np.inf
                held.window_t[j] = np.inf
                sc.held_rise = j
            break
    if sc.held_rise < 0:
        sc.held_rise = -2  # tried: no second try in this state
    sc.held_from = sc.still_from
    mean_level(st.ch.held_level, st.ring.y, sc.still_from, c, sc.ring_size)
    sc.settled = 0
    return True


@njit(cache=True, inline="always")
def held_is_long(sc, held, ring, cfg):
    """The active state's held rise took micro_max_s or longer from its onset until the face came to
    rest (a slow expression's rise; its offset, where a small fall ended, may be earlier), and it was
    not located as a micro-expression."""
    if sc.held_rise < 0:
        return False
    row = held.rows[sc.held_rise]
    return ring.t[sc.held_from % sc.ring_size] - row[ROW_ONSET] >= cfg.micro_max_s and row[ROW_KIND] != KIND_MICRO


@njit(cache=True, inline="always")
def release_held_rise(sc, held, tc):
    """The state has run on past max_duration_s (or the stream ended): report its held rise at ``tc``."""
    if sc.held_rise >= 0:
        held.release_t[sc.held_rise] = tc
        sc.held_rise = -1


@njit(cache=True)
def back_from_held(sc, st, cfg, nend):
    """The face has left the level its held rise kept: in the noise units of the state's start, the
    event signal at nend is below settle_level of its value at the peak activation."""
    ch = st.ch
    R = sc.ring_size
    event_weights(ch, cfg, True)
    return event_signal(nend, st.ring, ch, R) < cfg.settle_level * event_signal(sc.peak_act_at, st.ring, ch, R)


@njit(cache=True)
def finalize_or_hold(sc, st, cfg, info, nend, tc, out, nout):
    """Finalize the active state; an event the speech channels carried is held for
    ``speech_lookahead_s`` (see :func:`release`) instead of being reported at once."""
    j = sc.held_rise
    # its activation fell only because the running noise scales grew while it was held: the face
    # kept the level, so the rise it held is the event
    kept = j >= 0 and sc.settled == 0 and not back_from_held(sc, st, cfg, nend)
    brief = j >= 0 and not held_is_long(sc, st.held, st.ring, cfg)
    n1 = finalize(sc, st.ch, st.ring, cfg, nend, out, nout)
    # the state's event is a later one than the rise it held (a blink while the face kept the level)
    later = j >= 0 and n1 > nout and out[nout, ROW_ONSET] >= st.held.rows[j, ROW_OFFSET]
    if kept or (brief and later):
        release_held_rise(sc, st.held, tc)  # a micro-short rise to a level, or a level kept: it stands
    else:
        drop_held_rise(sc, st.held)  # the state ended by itself: its rise to a held level was a slow expression
    if kept and not later:
        return nout
    if n1 == nout or cfg.speech_cycles <= 0.0 or cfg.speech_lookahead_s <= 0.0 or not mouth_dominated(st.ch, info):
        return n1
    held = st.held
    for j in range(held.in_use.shape[0]):
        if held.in_use[j] == 0.0:
            held.rows[j, :] = out[nout]
            held.in_use[j] = 1.0
            held.release_t[j] = tc + cfg.speech_lookahead_s
            # a face that was still before a micro-short event was not talking then: only the re-rises
            # from its trigger on (the syllables that follow a first one) count, not noise from before
            # it.  (A longer mouth state of a still face keeps the whole window: on the tune suite the
            # ones it kept were head drifts, which step the mouth channels before and during them.)
            brief_from_still = still_before(sc, cfg) and out[nout, ROW_KIND] == KIND_MICRO
            held.window_t[j] = sc.t_trigger - (0.0 if brief_from_still else cfg.speech_window_s)
            return nout
    return n1  # no free slot: report it now


@njit(cache=True, inline="always")
def release(sc, held, cfg, tc, out, nout):
    """Report the held events whose look-ahead has passed by ``tc`` (all of them when ``tc`` is
    inf), except those with ``speech_cycles`` mouth/jaw re-rises from ``speech_window_s``
    before their trigger to now, and no later than ``speech_window_s`` after their offset: speech,
    not an expression.  (The look-ahead runs from the end of the event's state, which may come long
    after the event's offset: a tail that waits for the return, a rise held at a level.  Kept, a
    tune anger whose state ran 1.65 s past it was dropped for a mouth flicker of a later blink.)"""
    in_use = held.in_use
    release_t = held.release_t
    rises = sc.rises
    for j in range(in_use.shape[0]):
        if in_use[j] == 0.0 or (tc < release_t[j]):
            continue
        in_use[j] = 0.0
        hi = min(tc if np.isfinite(tc) else release_t[j], held.rows[j, ROW_OFFSET] + cfg.speech_window_s)
        n = 0
        for i in range(N_RISES):
            t = rises[i]
            if t >= held.window_t[j] and t <= hi:
                n += 1
        if n >= cfg.speech_cycles:
            sc.speech = 1
            sc.speech_until = max(sc.speech_until, hi + cfg.speech_hold_s)
            continue
        if nout < out.shape[0]:
            out[nout] = held.rows[j]
            nout += 1
    return nout
