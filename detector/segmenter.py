"""Streaming onset / apex / offset segmenter (numba kernels behind a small API).

One frame at a time, O(channels) work per frame, and the same kernel serves
whole files (:func:`segment` loops it).  The design follows onset detectors
such as ``librosa.onset``: an *envelope* (the activation), *peak picking*
(hysteresis) and *backtracking* to where the motion started.

Algorithm, per face
-------------------
1. **Smoothing.**  Each channel is averaged over a centred window of
   ``smooth_s`` seconds (at least the frame itself), matched to the shortest
   event (40 ms).  Frame ``n`` is processed once a frame later than
   ``t_n + smooth_s / 2`` has arrived (latency ``smooth_s / 2``, or one frame
   when frames are further apart).  A centred window does not shift the apex.
2. **Neutral baseline and noise scale per channel.**  The first
   ``calibration_s`` seconds calibrate (median and 1.4826 x MAD, robust to an
   expression made meanwhile; nothing is reported).  Afterwards the baseline is an exponential moving average (time
   constant ``baseline_tau_s``) whose step is clipped to ``baseline_clip_z``
   noise units (robust, Huber-like), and the noise scale is ``sqrt(pi/2)`` times
   an EMA of ``|smoothed - baseline|`` (``noise_tau_s``, clipped at
   ``noise_clip_z``), never below ``noise_floor`` so that a flat channel gives
   no infinite z.  The baseline is *frozen* during an event and while the
   activation is above ``end_z`` (a candidate), so an expression is never
   absorbed; so is the noise scale (when ``noise_adapt_s`` > 0), except that
   a state older than ``noise_adapt_s`` updates it again: real faces drift,
   talk and move their heads, with slow "hold" noise 3-6 x the white noise
   the calibration second sees, and without this a restless face stays
   "active" (and blind) most of the time.  After a too-long state is
   dropped, re-calibration keeps the noise scale at least at its previous
   level (``recalibrate_keeps_noise``).  Because the noise is
   measured on the *smoothed* signal, z is in units of the smoothed noise
   whatever its temporal correlation (MediaPipe filters its output).
3. **Activation.**  ``z_c = (smoothed_c - baseline_c) / noise_c``.  The
   detection envelope is the mean of the ``top_k`` largest ``|z_c|``: a
   micro-expression moves a few channels (often a bilateral pair), so a sparse
   statistic keeps 60 noisy channels from raising false alarms while a pair
   moving together needs only ``start_z`` each.  Region activation is the
   largest ``|z_c|`` among the region's channels.
4. **Hysteresis.**  An event starts when the activation reaches ``start_z``.
   It ends once the activation has stayed below ``end_z`` for ``end_hold_s``
   and the event's own signal ``e`` (below) is back at ``return_z`` (or
   ``tail_max_s`` later); a post-roll of ``backtrack_widen`` times its length
   follows, so the offset can be sought past that point.
5. **Apex, onset, offset.**  The channels that carried the event (peak |z| at
   least ``start_z`` and ``channel_rel`` times the strongest) are combined,
   sign-aligned and weighted by their peak, into one signal ``e(n)`` (~0 at
   rest).  Apex = argmax ``e``.  The onset is where ``e`` last fell to
   ``return_z`` before the apex, the offset where it first does after.  A
   strong event (unsmoothed ``e`` at the apex >= ``refine_z``) is then located
   on the unsmoothed signal within half a smoothing window, undoing the
   smoothing's spread.  A weaker one continues to the preceding (following)
   local minimum, as in librosa's ``onset_backtrack``, on ``e`` smoothed again
   over ``backtrack_widen`` times its half-peak width when that is longer than
   ``smooth_s`` (slow events).  Durations come from timestamps.
6. **Labels.**  ``micro`` when onset->offset < ``micro_max_s``, ``macro`` up
   to ``max_duration_s``; longer states are not expression events: an active
   state older than ``max_duration_s`` is dropped and baseline and noise are
   re-calibrated (the earlier neutral baseline is kept aside and restored as
   soon as the face returns to it, so the end of a long expression does not
   blind the detector).  Events no longer than ``blink_max_s`` whose eye-region
   activation is at least ``blink_dominance`` times the other channels' are tagged
   ``blink`` when, given closure gauges (eyeBlink scores), both eyes closed by at
   least ``blink_min_closure`` over baseline: a blink closes the eyes, a lid
   tightener or cheek raise does not.  (MediaPipe moves brows and lips a little
   with every real blink, hence a dominance below 1.)  Events during which the head
   turns faster than ``head_rot_speed_dps`` or moves faster than
   ``head_trans_speed`` are dropped (``head_motion="reject"``) or returned with
   ``head_motion=True`` (``"flag"``).

7. **Speech.**  Talking moves mouth and jaw up and down several times a
   second, far above the neutral noise.  The mouth/jaw activation (largest
   |z| of the mouth and jaw channels) is followed by a peak/trough tracker:
   one *re-rise* is a fall below ``speech_dip`` of the last peak and a rise
   back by its inverse to at least ``start_z``.  An active state dominated
   by mouth/jaw with ``speech_cycles`` re-rises is speech, not an
   expression: it is abandoned, and mouth and jaw are left out of the
   activation (their baseline keeps following) until ``speech_hold_s``
   after the last re-rise, so a brow raise while talking is still found.
   A smile or a jaw drop rises and falls once and is unaffected.
   The first syllables of an utterance come before speech mode: an event the
   articulation channels (``speech_channels``) carried is therefore held for
   ``speech_lookahead_s`` after it ends, and dropped when ``speech_cycles``
   re-rises fall between ``speech_window_s`` before its trigger and the end of
   that look-ahead.  Such events are reported up to ``speech_lookahead_s`` later
   (so possibly after an event that started after them).

Frame indices are the 0-based indices of the frames given to
:meth:`Segmenter.update` (or its explicit ``frame`` argument); times are the
caller's seconds, never ``frame / fps``.  A frame whose channels are not all
finite is skipped; a time step longer than ``gap_s`` or :meth:`Segmenter.gap`
is a gap: an event that had already ended is reported, one still active is
abandoned, and smoothing never spans the gap.  After a gap longer than
``recalibrate_gap_s`` the baseline is calibrated again.

Memory is bounded: frames live in ring buffers sized for ``max_fps`` (grown
automatically if frames come faster) that hold ``preroll_s`` of history plus
the longest event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np
from numba import njit

from detector.facs import REGIONS, UPPER_REGIONS

__all__ = ["SegmenterConfig", "Segment", "Segmenter", "segment", "SEGMENT_KINDS", "SEGMENT_REGIONS"]

SEGMENT_KINDS: tuple[str, ...] = ("micro", "macro", "blink")
SEGMENT_REGIONS: tuple[str, ...] = ("full", "upper", "lower")
HEAD_MOTION_MODES: tuple[str, ...] = ("reject", "flag")
N_REGIONS = len(REGIONS)


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SegmenterConfig:
    """Every threshold of the segmenter.  Times in seconds, z in noise units.

    "Noise units" are standard deviations of the channel's noise after the
    ``smooth_s`` smoothing, measured per person and per channel.
    """

    calibration_s: float = 1.0  # s, warm-up at start / after reset_baseline(): baseline + noise, nothing reported
    baseline_tau_s: float = 2.0  # s, time constant of the running neutral baseline (EMA)
    baseline_clip_z: float = 2.0  # noise units, largest baseline step per update (robust EMA)
    noise_tau_s: float = 2.0  # s, time constant of the running noise scale (EMA of |x - baseline|)
    noise_clip_z: float = 3.0  # noise units, |x - baseline| is clipped to this before entering the noise EMA
    noise_adapt_s: float = 0.5  # s, an active state older than this keeps updating the noise scale (0 = never):
    #                             a face that stays "active" (speech, drift) raises its own noise scale
    noise_floor: float = 5e-4  # channel units (blendshape 0..1, geometry in IOD), smallest noise scale
    smooth_s: float = 0.025  # s, width of the centred moving average (at least one frame)
    top_k: int = 2  # channels averaged (largest |z|) for the activation; 1 = max over channels
    start_z: float = 4.5  # noise units, activation that starts an event (high hysteresis threshold)
    end_z: float = 3.5  # noise units, activation below which an event may end (low threshold)
    end_hold_s: float = 0.02  # s, activation must stay below end_z this long before the event ends
    return_z: float = 1.0  # noise units, event signal level taken as "back at baseline" (onset/offset)
    refine_z: float = 12.0  # unsmoothed noise units, events at least this strong are localised on unsmoothed data
    tangent_floor_z: float = 2.0  # unsmoothed noise units, edge samples below this stay out of a strong event's
    #                               onset/offset line fit (which uses 10-50 % of its peak)
    backtrack_widen: float = 0.25  # fraction of a weaker event's half-peak width (s) over which its signal is
    #                                smoothed again before backtracking (slow events get a quieter signal)
    tail_max_s: float = 1.0  # s, longest wait after end_hold_s for the event signal to reach return_z
    #                          (events that settle at a new level still end)
    channel_rel: float = 0.5  # fraction of the strongest channel's peak |z| for a channel to join the event
    #                           (it must also reach start_z; the strongest channel always joins)
    region_active_z: float = 4.5  # noise units, a region's peak |z| that makes it active (upper/lower/full)
    preroll_s: float = 1.0  # s, how far before the trigger the onset may be backtracked
    micro_max_s: float = 0.5  # s, onset->offset below this is "micro", otherwise "macro"
    max_duration_s: float = 4.0  # s, longer states are not expression events (dropped, baseline re-seeded)
    min_duration_s: float = 0.0  # s, shorter events are dropped (0 = keep all)
    blink_max_s: float = 0.8  # s, eye-dominated events up to this long are tagged "blink" (a 0.1-0.4 s blink
    #                           plus the lip and brow movement MediaPipe reports around it)
    blink_dominance: float = 0.5  # ratio, a blink's eye-channel activation over the other channels' at least this
    #                               (MediaPipe moves brows and lips with a real blink: 0.5 tolerates that)
    blink_min_closure: float = 0.2  # score units, a blink closes both eyes: both closure gauges (eyeBlink*)
    #                                 rise at least this much over baseline (only with closure_channels)
    head_motion: str = "reject"  # "reject" drops events during head motion, "flag" sets head_motion=True
    head_rot_speed_dps: float = 40.0  # degrees/s, head rotation speed (yaw, pitch, roll) that marks head motion
    head_trans_speed: float = 1.0  # IOD/s, head translation speed that marks head motion
    head_speed_lag_s: float = 0.1  # s, pose difference taken over this lag to measure head speed
    gap_s: float = 0.25  # s, a time step longer than this is a gap (face lost): active event abandoned
    recalibrate_gap_s: float = 2.0  # s, after a gap longer than this the baseline is calibrated again
    max_fps: float = 240.0  # frames/s, sizes the ring buffers (grown automatically if exceeded)
    recalibrate_keeps_noise: bool = True  # after a dropped too-long state, the re-calibrated noise scale is
    #                                        never below the one before (a restless face stays restless)
    speech_cycles: int = 3  # count, mouth/jaw re-rises within one active state that mark it as speech (0 = off)
    speech_dip: float = 0.6  # ratio, the mouth/jaw activation must fall below this fraction of its last peak
    #                          (and rise again by its inverse, to at least start_z) for one re-rise
    speech_hold_s: float = 2.0  # s, speech mode lasts this long after the last mouth/jaw re-rise
    speech_window_s: float = 1.5  # s, a mouth/jaw-dominated event with speech_cycles re-rises from this long
    #                               before its trigger to the end of its look-ahead is speech (dropped)
    speech_lookahead_s: float = 0.5  # s, a mouth/jaw-dominated event is held this long after it ends to see
    #                                  whether syllables follow (0 = no look-ahead, no window test)

    def __post_init__(self) -> None:
        positive = (
            "calibration_s", "baseline_tau_s", "baseline_clip_z", "noise_tau_s", "noise_clip_z", "noise_floor",
            "start_z", "end_z", "refine_z", "micro_max_s", "max_duration_s", "blink_max_s", "blink_dominance",
            "channel_rel", "head_rot_speed_dps", "head_trans_speed", "head_speed_lag_s", "gap_s",
            "recalibrate_gap_s", "max_fps",
        )
        non_negative = ("noise_adapt_s", "smooth_s", "backtrack_widen", "end_hold_s", "return_z", "tangent_floor_z", "tail_max_s",
                        "region_active_z", "preroll_s", "min_duration_s", "blink_min_closure", "speech_window_s",
                        "speech_lookahead_s")
        for name in positive:
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
                raise ValueError(f"segmenter config: {name} must be a positive number, got {v!r}")
        for name in non_negative:
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0):
                raise ValueError(f"segmenter config: {name} must be a number >= 0, got {v!r}")
        if not (isinstance(self.speech_cycles, int) and not isinstance(self.speech_cycles, bool)
                and self.speech_cycles >= 0):
            raise ValueError(f"segmenter config: speech_cycles must be an integer >= 0, got {self.speech_cycles!r}")
        for name in ("speech_dip", "speech_hold_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
                raise ValueError(f"segmenter config: {name} must be a positive number, got {v!r}")
        if self.speech_dip >= 1.0:
            raise ValueError(f"segmenter config: speech_dip must be in (0, 1), got {self.speech_dip!r}")
        if not (isinstance(self.top_k, int) and not isinstance(self.top_k, bool) and self.top_k >= 1):
            raise ValueError(f"segmenter config: top_k must be an integer >= 1, got {self.top_k!r}")
        if self.channel_rel > 1.0:
            raise ValueError(f"segmenter config: channel_rel must be in (0, 1], got {self.channel_rel!r}")
        if self.end_z > self.start_z:
            raise ValueError(f"segmenter config: end_z ({self.end_z}) must not exceed start_z ({self.start_z})")
        if self.micro_max_s > self.max_duration_s:
            raise ValueError("segmenter config: micro_max_s must not exceed max_duration_s")
        if not isinstance(self.recalibrate_keeps_noise, bool):
            raise ValueError(
                f"segmenter config: recalibrate_keeps_noise must be true or false, got {self.recalibrate_keeps_noise!r}"
            )
        if self.head_motion not in HEAD_MOTION_MODES:
            raise ValueError(
                f"segmenter config: head_motion must be one of {HEAD_MOTION_MODES}, got {self.head_motion!r}"
            )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SegmenterConfig":
        """Build from a mapping (e.g. the ``[segmenter]`` table of a TOML file).

        Unknown keys raise ``ValueError`` naming them; missing keys keep defaults.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"segmenter config: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}"
            )
        kw = dict(d)
        for name in ("top_k", "speech_cycles"):
            if name in kw and isinstance(kw[name], float) and kw[name].is_integer():
                kw[name] = int(kw[name])
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class Segment:
    """One segmented event.  Frames are 0-based caller frame indices, times seconds."""

    onset_frame: int
    apex_frame: int
    offset_frame: int
    onset: float  # s
    apex: float  # s
    offset: float  # s
    kind: str  # "micro" | "macro" | "blink"
    region: str  # "full" | "upper" | "lower"
    region_activation: np.ndarray  # (6,) peak |z| per facs.REGIONS at the apex, noise units
    intensity: float  # peak activation over the event, noise units
    baseline: np.ndarray  # (C,) channel baseline (neutral) used for the event, channel units
    apex_values: np.ndarray  # (C,) channels at the apex (smoothed over smooth_s), channel units
    head_motion: bool  # head moved faster than the configured speeds during the event

    @property
    def duration(self) -> float:
        """Onset to offset, seconds."""
        return self.offset - self.onset

    def key(self) -> tuple:
        """Hashable summary (frames, kind, region, head_motion) for comparisons."""
        return (self.onset_frame, self.apex_frame, self.offset_frame, self.kind, self.region, self.head_motion)


# --------------------------------------------------------------------------- kernel layout

# int state
(_I_NIN, _I_NC, _I_SEGSTART, _I_STATE, _I_CALFIRST, _I_EVLIMIT, _I_EVTRIG, _I_BELOW, _I_R, _I_LASTC, _I_GROW,
 _I_HASOLD, _I_CALIBRATED, _I_SPEECH, _I_MJDIR, _I_MJCYC, _I_RISEPOS) = range(17)
_NI = 17
# float state
_F_TLASTIN, _F_CALSTART, _F_TBELOW, _F_TTRIG, _F_PEAKA, _F_TFINAL, _F_MJEXT, _F_SPUNTIL = range(8)
_F_RISE0 = 8  # times (s) of the last _NRISE mouth/jaw re-rises, a ring indexed by ist[_I_RISEPOS]
_NRISE = 8
_RM = REGIONS.index("mouth")  # the speech regions: mouth and jaw
_RJ = REGIONS.index("jaw")
_NF = _F_RISE0 + _NRISE
# states
_CALIB, _IDLE, _ACTIVE = 0, 1, 2
_MIN_CAL_FRAMES = 5  # calibration needs at least this many frames as well as calibration_s
# channel arrays (rows)
(_C_B, _C_ABS, _C_ABSR, _C_PEAK, _C_SIGN, _C_Z, _C_W, _C_S, _C_SR, _C_V1, _C_V2, _C_V3, _C_BUF,
 _C_BOLD) = range(14)
_NCH = 14
# per-frame ring columns
_R_T, _R_FRAME, _R_A, _R_REG = 0, 1, 2, 3  # _R_REG .. _R_REG+5
_R_ABLINK, _R_AOTHER, _R_ROT, _R_TRANS, _R_E = 9, 10, 11, 12, 13
_R_POSE, _R_SPOSE = 14, 20
_R_E2 = 26
_R_CLOSE = 27  # eye closure: the smaller of the two closure gauges' rise over baseline (score units)
_NR = 28
# config vector
(_K_CAL, _K_BTAU, _K_BCLIP, _K_NTAU, _K_NCLIP, _K_FLOOR, _K_HALF, _K_TOPK, _K_START, _K_END, _K_HOLD, _K_RET,
 _K_TAIL, _K_CHREL, _K_REGZ, _K_PRE, _K_MICRO, _K_MAXD, _K_MIND, _K_BLMAX, _K_BLDOM, _K_HMREJ, _K_HROT,
 _K_HTRANS, _K_HLAG, _K_GAP, _K_RECAL, _K_UP0) = range(28)
_K_REFINE = _K_UP0 + N_REGIONS
_K_WIDEN = _K_REFINE + 1
_K_TFLOOR = _K_WIDEN + 1
_K_NADAPT = _K_TFLOOR + 1
_K_KEEPN = _K_NADAPT + 1
_K_SPCYC = _K_KEEPN + 1
_K_SPDIP = _K_SPCYC + 1
_K_SPHOLD = _K_SPDIP + 1
_K_BLCLOSE = _K_SPHOLD + 1
_K_SPWIN = _K_BLCLOSE + 1
_K_SPLOOK = _K_SPWIN + 1
_NK = _K_SPLOOK + 1
# output row
_O_ON, _O_AP, _O_OFF, _O_TON, _O_TAP, _O_TOFF, _O_KIND, _O_REGION, _O_INT, _O_HM, _O_RACT = range(11)
_O_CH = _O_RACT + N_REGIONS  # baseline (C) then apex values (C)
# held events (speech look-ahead): an output row, then (in use, release time s, window start s)
_NPEND = 4
_P_EXTRA = 3
_MARGIN = 8  # ring slots kept free
_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_EPS = 1e-9
_SQRT_PI_2 = math.sqrt(math.pi / 2.0)


def _config_vector(cfg: SegmenterConfig) -> np.ndarray:
    k = np.zeros(_NK, dtype=np.float64)
    k[_K_CAL] = cfg.calibration_s
    k[_K_BTAU] = cfg.baseline_tau_s
    k[_K_BCLIP] = cfg.baseline_clip_z
    k[_K_NTAU] = cfg.noise_tau_s
    k[_K_NCLIP] = cfg.noise_clip_z
    k[_K_FLOOR] = cfg.noise_floor
    k[_K_HALF] = cfg.smooth_s / 2.0
    k[_K_TOPK] = cfg.top_k
    k[_K_START] = cfg.start_z
    k[_K_END] = cfg.end_z
    k[_K_HOLD] = cfg.end_hold_s
    k[_K_RET] = cfg.return_z
    k[_K_TAIL] = cfg.tail_max_s
    k[_K_CHREL] = cfg.channel_rel
    k[_K_REGZ] = cfg.region_active_z
    k[_K_PRE] = cfg.preroll_s
    k[_K_MICRO] = cfg.micro_max_s
    k[_K_MAXD] = cfg.max_duration_s
    k[_K_MIND] = cfg.min_duration_s
    k[_K_BLMAX] = cfg.blink_max_s
    k[_K_BLDOM] = cfg.blink_dominance
    k[_K_BLCLOSE] = cfg.blink_min_closure
    k[_K_SPWIN] = cfg.speech_window_s
    k[_K_SPLOOK] = cfg.speech_lookahead_s
    k[_K_HMREJ] = 1.0 if cfg.head_motion == "reject" else 0.0
    k[_K_HROT] = cfg.head_rot_speed_dps
    k[_K_HTRANS] = cfg.head_trans_speed
    k[_K_HLAG] = cfg.head_speed_lag_s
    k[_K_GAP] = cfg.gap_s
    k[_K_RECAL] = cfg.recalibrate_gap_s
    for r, name in enumerate(REGIONS):
        k[_K_UP0 + r] = 1.0 if name in UPPER_REGIONS else 0.0
    k[_K_REFINE] = cfg.refine_z
    k[_K_WIDEN] = cfg.backtrack_widen
    k[_K_TFLOOR] = cfg.tangent_floor_z
    k[_K_NADAPT] = cfg.noise_adapt_s
    k[_K_KEEPN] = 1.0 if cfg.recalibrate_keeps_noise else 0.0
    k[_K_SPCYC] = cfg.speech_cycles
    k[_K_SPDIP] = cfg.speech_dip
    k[_K_SPHOLD] = cfg.speech_hold_s
    return k


# --------------------------------------------------------------------------- kernels


@njit(cache=True)
def _topk_mean(vals, n, k, buf):
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
def _calibrate(chan, xr, yr, first, last, R):
    """Baseline = median, noise = 1.4826 * MAD of the calibration frames first..last (robust to
    an expression made while calibrating)."""
    C = chan.shape[1]
    n = last - first + 1
    buf = np.empty(n)
    for ch in range(C):
        for i in range(n):
            buf[i] = yr[(first + i) % R, ch]
        med = np.median(buf)
        for i in range(n):
            buf[i] = abs(buf[i] - med)
        chan[_C_B, ch] = med
        chan[_C_ABS, ch] = 1.4826 * np.median(buf) / _SQRT_PI_2
        for i in range(n):
            buf[i] = abs(xr[(first + i) % R, ch] - med)
        chan[_C_ABSR, ch] = 1.4826 * np.median(buf) / _SQRT_PI_2


@njit(cache=True)
def _begin_calibration(ist, fst, chan):
    ist[_I_CALFIRST] = -1
    ist[_I_STATE] = _CALIB
    fst[_F_CALSTART] = np.nan
    ist[_I_BELOW] = 0


@njit(cache=True)
def _weighted_signal(n, ring, chan, R, scale_row):
    """Combined event signal at frame n: weighted, sign-aligned channel deviations over chan[scale_row]."""
    C = ring.shape[1]
    p = n % R
    num = 0.0
    den = 0.0
    for c in range(C):
        w = chan[_C_W, c]
        if w > 0.0:
            num += w * chan[_C_SIGN, c] * (ring[p, c] - chan[_C_B, c]) / chan[scale_row, c]
            den += w
    if den <= 0.0:
        return 0.0
    return num / den


@njit(cache=True)
def _event_signal(n, yr, chan, R):
    """Combined event signal e(n) over the event's channels (weights in chan[_C_W]), smoothed noise units."""
    return _weighted_signal(n, yr, chan, R, _C_S)


@njit(cache=True)
def _event_signal_raw(n, xr, chan, R):
    """The event signal from the unsmoothed channels (raw noise units), for refining positions."""
    return _weighted_signal(n, xr, chan, R, _C_SR)


@njit(cache=True)
def _event_weights(chan, cfg):
    """Weights of the channels that carried the event (chan[_C_W]); chan[_C_S] gets the noise scales."""
    C = chan.shape[1]
    mx = 0.0
    for c in range(C):
        if chan[_C_PEAK, c] > mx:
            mx = chan[_C_PEAK, c]
    # a channel joins when its peak is within channel_rel of the strongest and itself reaches
    # start_z (so that noise channels, which reach 3-4 z now and then, do not dilute e(n));
    # the strongest channel always joins
    lim = max(cfg[_K_CHREL] * mx, min(cfg[_K_START], mx))
    for c in range(C):
        s = _SQRT_PI_2 * chan[_C_ABS, c]
        if s < cfg[_K_FLOOR]:
            s = cfg[_K_FLOOR]
        chan[_C_S, c] = s
        s = _SQRT_PI_2 * chan[_C_ABSR, c]
        if s < cfg[_K_FLOOR]:
            s = cfg[_K_FLOOR]
        chan[_C_SR, c] = s
        chan[_C_W, c] = chan[_C_PEAK, c] if (chan[_C_PEAK, c] >= lim and mx > 0.0) else 0.0


@njit(cache=True)
def _refine_apex(apex, n0, nend, xr, fr, chan, R, half):
    """Largest unsmoothed event signal within half a smoothing window of the smoothed apex."""
    tap = fr[apex % R, _R_T]
    best_n = apex
    best = _event_signal_raw(apex, xr, chan, R)
    m = apex - 1
    while m >= n0 and fr[m % R, _R_T] >= tap - half - _EPS:
        v = _event_signal_raw(m, xr, chan, R)
        if v > best:
            best = v
            best_n = m
        m -= 1
    m = apex + 1
    while m <= nend and fr[m % R, _R_T] <= tap + half + _EPS:
        v = _event_signal_raw(m, xr, chan, R)
        if v > best:
            best = v
            best_n = m
        m += 1
    return best_n


@njit(cache=True)
def _box_smooth(fr, n0, n1, R, hw):
    """fr[:, _R_E2] = centred moving average of fr[:, _R_E] over +-hw seconds, frames n0..n1."""
    lo = n0
    hi = n0 - 1
    acc = 0.0
    for n in range(n0, n1 + 1):
        t = fr[n % R, _R_T]
        while hi + 1 <= n1 and fr[(hi + 1) % R, _R_T] <= t + hw + _EPS:
            hi += 1
            acc += fr[hi % R, _R_E]
        while fr[lo % R, _R_T] < t - hw - _EPS:
            acc -= fr[lo % R, _R_E]
            lo += 1
        fr[n % R, _R_E2] = acc / (hi - lo + 1)


@njit(cache=True)
def _tangent_edge(apex, bound, step, xr, fr, chan, R, floor):
    """Onset (step -1) or offset (step +1) of a strong event: fit a straight line to the
    unsmoothed event signal on that edge where it lies between 10 % (at least ``floor``) and 50 %
    of its apex value, and return the frame nearest to where the line meets zero (never beyond
    ``bound``).  Exact for motion that starts at full speed; for motion that starts smoothly the
    line meets zero a little late (~13 % of the rise for a raised cosine)."""
    peak = _event_signal_raw(apex, xr, chan, R)
    hi = 0.5 * peak
    lo = max(0.1 * peak, floor)
    m = apex
    while m != bound and _event_signal_raw(m, xr, chan, R) > hi:
        m += step
    first = m  # first frame at or below 50 %
    while m != bound and _event_signal_raw(m, xr, chan, R) > lo:
        m += step
    last_out = m  # first frame at or below 10 % (or the floor)
    # least squares over the frames between the two crossings, both included
    n = 0
    st = 0.0
    sv = 0.0
    stt = 0.0
    stv = 0.0
    t_ref = fr[apex % R, _R_T]
    k = first
    while True:
        v = _event_signal_raw(k, xr, chan, R)
        if v <= hi and v > lo or k == first or k == last_out:
            t = fr[k % R, _R_T] - t_ref
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
    while m != bound and (fr[m % R, _R_T] - t0) * step < 0.0:
        m += step
    prev = m - step
    if m != first and abs(fr[prev % R, _R_T] - t0) < abs(fr[m % R, _R_T] - t0):
        m = prev
    return m


@njit(cache=True)
def _crossings(fr, apex, n0, nend, R, col, level):
    """Frames where fr[:, col] last falls to ``level`` before ``apex`` and first after it
    (bounded by n0 and nend)."""
    on = apex
    while on > n0 and fr[on % R, col] > level:
        on -= 1
    off = apex
    while off < nend and fr[off % R, col] > level:
        off += 1
    return on, off


@njit(cache=True)
def _ring_max(fr, n0, n1, R, col):
    """Largest fr[n % R, col] for frames n0..n1 (inclusive; n0 <= n1)."""
    best = -np.inf
    for n in range(n0, n1 + 1):
        v = fr[n % R, col]
        if v > best:
            best = v
    return best


@njit(cache=True)
def _finalize(ist, fst, chan, xr, yr, fr, cfg, nend, out, nout):
    """Locate onset/apex/offset of the active event ending at centre nend; write a row if kept."""
    R = ist[_I_R]
    C = chan.shape[1]
    n0 = ist[_I_EVLIMIT]
    ntrig = ist[_I_EVTRIG]
    _event_weights(chan, cfg)
    for n in range(n0, nend + 1):
        fr[n % R, _R_E] = _event_signal(n, yr, chan, R)
    # apex: peak of the event signal after the trigger
    apex = ntrig
    best = -np.inf
    for n in range(ntrig, nend + 1):
        v = fr[n % R, _R_E]
        if v > best:
            best = v
            apex = n
    ret = cfg[_K_RET]
    half = cfg[_K_HALF]
    if _event_signal_raw(apex, xr, chan, R) >= cfg[_K_REFINE]:
        # strong event: the unsmoothed signal is reliable.  Apex = its peak near the smoothed
        # apex; onset / offset = where the straight line fitted to its rising (falling) edge,
        # between 10 % and 50 % of the peak, meets the baseline (no threshold bias, no
        # smoothing spread)
        apex = _refine_apex(apex, n0, nend, xr, fr, chan, R, half)
        on = _tangent_edge(apex, n0, -1, xr, fr, chan, R, cfg[_K_TFLOOR])
        off = _tangent_edge(apex, nend, 1, xr, fr, chan, R, cfg[_K_TFLOOR])
    else:
        # level crossings of the smoothed event signal on both sides of the apex
        on, off = _crossings(fr, apex, n0, nend, R, _R_E, ret)
        # weaker event: backtrack on the smoothed signal, smoothed again over a fraction of the
        # event's half-peak width when that is longer than the detection window (slow events)
        col = _R_E
        hl, hr = _crossings(fr, apex, n0, nend, R, _R_E, 0.5 * fr[apex % R, _R_E])
        ws = cfg[_K_WIDEN] * (fr[hr % R, _R_T] - fr[hl % R, _R_T])
        if ws > 2.0 * half:
            _box_smooth(fr, n0, nend, R, 0.5 * ws)
            col = _R_E2
            on, off = _crossings(fr, apex, n0, nend, R, col, ret)
        # then on to the preceding (following) local minimum (librosa's onset_backtrack), no
        # further than the smoothing's reach (beyond it the local minima are the noise's)
        reach = ws if ws > 2.0 * half else half
        t_lim = fr[on % R, _R_T] - reach - _EPS
        while on > n0 and fr[(on - 1) % R, col] < fr[on % R, col] and fr[(on - 1) % R, _R_T] >= t_lim:
            on -= 1
        t_lim = fr[off % R, _R_T] + reach + _EPS
        while off < nend and fr[(off + 1) % R, col] < fr[off % R, col] and fr[(off + 1) % R, _R_T] <= t_lim:
            off += 1
    t_on = fr[on % R, _R_T]
    t_ap = fr[apex % R, _R_T]
    t_off = fr[off % R, _R_T]
    dur = t_off - t_on
    if dur > cfg[_K_MAXD] or dur < cfg[_K_MIND]:
        return nout
    # head motion: the speed at frame n covers [t_n - head_speed_lag_s, t_n]
    hm_end = off
    while hm_end + 1 <= nend and fr[(hm_end + 1) % R, _R_T] <= t_off + cfg[_K_HLAG] + _EPS:
        hm_end += 1
    rot = _ring_max(fr, on, hm_end, R, _R_ROT)
    trans = _ring_max(fr, on, hm_end, R, _R_TRANS)
    head = rot > cfg[_K_HROT] or trans > cfg[_K_HTRANS]
    if head and cfg[_K_HMREJ] > 0.5:
        return nout
    # intensity, blink dominance and regions over the event
    a_lo = min(on, ntrig)
    pk_a = _ring_max(fr, a_lo, off, R, _R_A)
    pk_bl = _ring_max(fr, a_lo, off, R, _R_ABLINK)
    pk_ot = _ring_max(fr, a_lo, off, R, _R_AOTHER)
    pk_cl = _ring_max(fr, a_lo, off, R, _R_CLOSE)
    reg_pk = np.empty(N_REGIONS)
    for r in range(N_REGIONS):
        reg_pk[r] = _ring_max(fr, a_lo, off, R, _R_REG + r)
    blink = (pk_bl >= cfg[_K_START] and dur <= cfg[_K_BLMAX] and pk_cl >= cfg[_K_BLCLOSE]
             and (pk_ot < cfg[_K_START] or pk_bl >= cfg[_K_BLDOM] * pk_ot))
    up = False
    lo = False
    rbest = 0
    for r in range(N_REGIONS):
        if reg_pk[r] > reg_pk[rbest]:
            rbest = r
        if reg_pk[r] >= cfg[_K_REGZ]:
            if cfg[_K_UP0 + r] > 0.5:
                up = True
            else:
                lo = True
    if not up and not lo:
        if cfg[_K_UP0 + rbest] > 0.5:
            up = True
        else:
            lo = True
    if nout >= out.shape[0]:
        return nout  # cannot happen with the sizes used by the wrappers
    row = out[nout]
    row[_O_ON] = fr[on % R, _R_FRAME]
    row[_O_AP] = fr[apex % R, _R_FRAME]
    row[_O_OFF] = fr[off % R, _R_FRAME]
    row[_O_TON] = t_on
    row[_O_TAP] = t_ap
    row[_O_TOFF] = t_off
    if blink:
        row[_O_KIND] = 2
    elif dur < cfg[_K_MICRO]:
        row[_O_KIND] = 0
    else:
        row[_O_KIND] = 1
    if blink:
        row[_O_REGION] = 1
    elif up and lo:
        row[_O_REGION] = 0
    elif up:
        row[_O_REGION] = 1
    else:
        row[_O_REGION] = 2
    row[_O_INT] = pk_a
    row[_O_HM] = 1.0 if head else 0.0
    pa = apex % R
    for r in range(N_REGIONS):
        row[_O_RACT + r] = fr[pa, _R_REG + r]
    for c in range(C):
        row[_O_CH + c] = chan[_C_B, c]
        row[_O_CH + C + c] = yr[pa, c]
    return nout + 1


@njit(cache=True)
def _finalize_or_hold(ist, fst, chan, xr, yr, fr, cfg, chinfo, pend, nend, tc, out, nout):
    """Finalize the active state; an event the speech channels carried is held for
    ``speech_lookahead_s`` (see :func:`_release`) instead of being reported at once."""
    n1 = _finalize(ist, fst, chan, xr, yr, fr, cfg, nend, out, nout)
    if n1 == nout or cfg[_K_SPCYC] <= 0.0 or cfg[_K_SPLOOK] <= 0.0 or not _mouth_dominated(chan, chinfo):
        return n1
    W = out.shape[1]
    for j in range(pend.shape[0]):
        if pend[j, W] == 0.0:
            pend[j, :W] = out[nout]
            pend[j, W] = 1.0
            pend[j, W + 1] = tc + cfg[_K_SPLOOK]
            pend[j, W + 2] = fst[_F_TTRIG] - cfg[_K_SPWIN]
            return nout
    return n1  # no free slot: report it now


@njit(cache=True)
def _release(ist, fst, cfg, pend, tc, out, nout):
    """Report the held events whose look-ahead has passed by ``tc`` (all of them when ``tc`` is
    inf), except those with ``speech_cycles`` mouth/jaw re-rises from ``speech_window_s``
    before their trigger to now: speech, not an expression."""
    W = out.shape[1]
    for j in range(pend.shape[0]):
        if pend[j, W] == 0.0 or (tc < pend[j, W + 1]):
            continue
        pend[j, W] = 0.0
        hi = tc if np.isfinite(tc) else pend[j, W + 1]
        n = 0
        for i in range(_NRISE):
            t = fst[_F_RISE0 + i]
            if t >= pend[j, W + 2] and t <= hi:
                n += 1
        if n >= cfg[_K_SPCYC]:
            ist[_I_SPEECH] = 1
            fst[_F_SPUNTIL] = max(fst[_F_SPUNTIL], hi + cfg[_K_SPHOLD])
            continue
        if nout < out.shape[0]:
            out[nout] = pend[j, :W]
            nout += 1
    return nout


@njit(cache=True)
def _process_centre(ist, fst, chan, xr, yr, fr, cfg, chinfo, pend, out, nout):
    """Smooth, normalise and run the state machine on the next centre frame."""
    R = ist[_I_R]
    C = xr.shape[1]
    c = ist[_I_NC]
    pc = c % R
    tc = fr[pc, _R_T]
    half = cfg[_K_HALF]
    lowest = max(ist[_I_SEGSTART], ist[_I_NIN] - R)
    newest = ist[_I_NIN] - 1
    # centred window [lo, hi]
    lo = c
    while lo - 1 >= lowest and fr[(lo - 1) % R, _R_T] >= tc - half - _EPS:
        lo -= 1
    hi = c
    while hi + 1 <= newest and fr[(hi + 1) % R, _R_T] <= tc + half + _EPS:
        hi += 1
    inv = 1.0 / (hi - lo + 1)
    for ch in range(C):
        yr[pc, ch] = 0.0
    for j in range(6):
        fr[pc, _R_SPOSE + j] = 0.0
    for m in range(lo, hi + 1):
        pm = m % R
        for ch in range(C):
            yr[pc, ch] += xr[pm, ch]
        for j in range(6):
            fr[pc, _R_SPOSE + j] += fr[pm, _R_POSE + j]
    for ch in range(C):
        yr[pc, ch] *= inv
    for j in range(6):
        fr[pc, _R_SPOSE + j] *= inv
    # head speed over head_speed_lag_s (0 until enough history)
    rot = 0.0
    trans = 0.0
    m = c - 1
    while m >= lowest and tc - fr[m % R, _R_T] < cfg[_K_HLAG]:
        m -= 1
    if m >= lowest:
        pm = m % R
        dt = tc - fr[pm, _R_T]
        s1 = 0.0
        s2 = 0.0
        for j in range(3):
            d = fr[pc, _R_SPOSE + j] - fr[pm, _R_SPOSE + j]
            s1 += d * d
            d = fr[pc, _R_SPOSE + 3 + j] - fr[pm, _R_SPOSE + 3 + j]
            s2 += d * d
        rot = math.sqrt(s1) / dt
        trans = math.sqrt(s2) / dt
    fr[pc, _R_ROT] = rot
    fr[pc, _R_TRANS] = trans
    # time since the previous centre of this segment (for the EMAs)
    lastc = ist[_I_LASTC]
    if lastc >= lowest and lastc < c:
        dtc = tc - fr[lastc % R, _R_T]
    else:
        dtc = 0.0
    if dtc > cfg[_K_GAP]:
        dtc = cfg[_K_GAP]
    ist[_I_LASTC] = c
    ist[_I_NC] = c + 1
    state = ist[_I_STATE]
    for r in range(N_REGIONS):
        fr[pc, _R_REG + r] = 0.0
    fr[pc, _R_A] = 0.0
    fr[pc, _R_ABLINK] = 0.0
    fr[pc, _R_AOTHER] = 0.0
    fr[pc, _R_E] = 0.0
    fr[pc, _R_CLOSE] = 0.0
    if ist[_I_HASOLD] != 0 and state != _IDLE:
        # after a dropped long state: once the face is back at the earlier neutral baseline the
        # long state is over; restore that baseline at once instead of waiting for a re-seed
        floor = cfg[_K_FLOOR]
        for ch in range(C):
            s = _SQRT_PI_2 * chan[_C_ABS, ch]
            if s < floor:
                s = floor
            chan[_C_V1, ch] = abs(yr[pc, ch] - chan[_C_BOLD, ch]) / s
        if _topk_mean(chan[_C_V1], C, int(cfg[_K_TOPK]), chan[_C_BUF]) < cfg[_K_END]:
            for ch in range(C):
                chan[_C_B, ch] = chan[_C_BOLD, ch]
            ist[_I_HASOLD] = 0
            ist[_I_STATE] = _IDLE
            ist[_I_BELOW] = 0
            return nout
    if state == _CALIB:
        if np.isnan(fst[_F_CALSTART]):
            fst[_F_CALSTART] = tc
            ist[_I_CALFIRST] = c
        first = max(ist[_I_CALFIRST], ist[_I_NIN] - R + 1)
        if tc - fst[_F_CALSTART] >= cfg[_K_CAL] and c - first + 1 >= _MIN_CAL_FRAMES:
            keep = ist[_I_HASOLD] != 0 and cfg[_K_KEEPN] > 0.5
            if keep:
                chan[_C_V2] = chan[_C_ABS]
                chan[_C_V3] = chan[_C_ABSR]
            _calibrate(chan, xr, yr, first, c, R)
            if keep:
                for ch in range(C):
                    chan[_C_ABS, ch] = max(chan[_C_ABS, ch], chan[_C_V2, ch])
                    chan[_C_ABSR, ch] = max(chan[_C_ABSR, ch], chan[_C_V3, ch])
            ist[_I_STATE] = _IDLE
            ist[_I_CALIBRATED] = 1
        return nout
    # z, activations
    floor = cfg[_K_FLOOR]
    nb = 0
    no = 0
    speech = ist[_I_SPEECH] != 0
    close = np.inf
    nclose = 0
    for ch in range(C):
        s = _SQRT_PI_2 * chan[_C_ABS, ch]
        if s < floor:
            s = floor
        z = (yr[pc, ch] - chan[_C_B, ch]) / s
        chan[_C_Z, ch] = z
        az = abs(z)
        if chinfo[2, ch] != 0:
            nclose += 1
            d = yr[pc, ch] - chan[_C_B, ch]
            if d < close:
                close = d
        r = chinfo[0, ch]
        if az > fr[pc, _R_REG + r]:
            fr[pc, _R_REG + r] = az
        if speech and (r == _RM or r == _RJ):
            az = 0.0  # speech mode: mouth and jaw do not count towards the activation
        chan[_C_V1, ch] = az
        if chinfo[1, ch] != 0:
            chan[_C_V2, nb] = az
            nb += 1
        else:
            chan[_C_V3, no] = az
            no += 1
    k = int(cfg[_K_TOPK])
    a = _topk_mean(chan[_C_V1], C, k, chan[_C_BUF])
    ab = _topk_mean(chan[_C_V2], nb, k, chan[_C_BUF])
    ao = _topk_mean(chan[_C_V3], no, k, chan[_C_BUF])
    fr[pc, _R_A] = a
    fr[pc, _R_ABLINK] = ab
    fr[pc, _R_AOTHER] = ao
    fr[pc, _R_CLOSE] = close if nclose > 0 else np.inf
    # speech: the mouth/jaw activation rises and falls again and again (syllables)
    mj = max(fr[pc, _R_REG + _RM], fr[pc, _R_REG + _RJ])
    if cfg[_K_SPCYC] > 0.0:
        dip = cfg[_K_SPDIP]
        if ist[_I_MJDIR] >= 0:
            if mj > fst[_F_MJEXT]:
                fst[_F_MJEXT] = mj
            elif mj < dip * fst[_F_MJEXT]:
                ist[_I_MJDIR] = -1
                fst[_F_MJEXT] = mj
        else:
            if mj < fst[_F_MJEXT]:
                fst[_F_MJEXT] = mj
            elif dip * mj > fst[_F_MJEXT] and mj >= cfg[_K_START]:
                ist[_I_MJDIR] = 1
                fst[_F_MJEXT] = mj
                ist[_I_MJCYC] += 1
                fst[_F_RISE0 + ist[_I_RISEPOS] % _NRISE] = tc
                ist[_I_RISEPOS] += 1
                if speech:
                    fst[_F_SPUNTIL] = tc + cfg[_K_SPHOLD]
        if speech and tc > fst[_F_SPUNTIL]:
            ist[_I_SPEECH] = 0
    nout = _release(ist, fst, cfg, pend, tc, out, nout)
    if state == _IDLE:
        if a >= cfg[_K_START]:
            ist[_I_MJCYC] = 0
            ist[_I_STATE] = _ACTIVE
            ist[_I_EVTRIG] = c
            fst[_F_TTRIG] = tc
            fst[_F_TFINAL] = np.inf
            fst[_F_PEAKA] = a
            ist[_I_BELOW] = 0
            lim = c
            lowest_hist = max(ist[_I_SEGSTART], ist[_I_NIN] - R + _MARGIN)
            while lim - 1 >= lowest_hist and fr[(lim - 1) % R, _R_T] >= tc - cfg[_K_PRE] - _EPS:
                lim -= 1
            ist[_I_EVLIMIT] = lim
            for ch in range(C):
                z = chan[_C_Z, ch]
                chan[_C_PEAK, ch] = chan[_C_V1, ch]
                chan[_C_SIGN, ch] = 1.0 if z >= 0.0 else -1.0
        elif dtc > 0.0:
            # noise scales follow whenever no event is active (so they can grow if the noise grows);
            # the baseline is frozen while the activation is above end_z (a candidate)
            upd_b = a < cfg[_K_END]
            ab_ = 1.0 - math.exp(-dtc / cfg[_K_BTAU])
            an_ = 1.0 - math.exp(-dtc / cfg[_K_NTAU])
            bclip = cfg[_K_BCLIP]
            nclip = cfg[_K_NCLIP]
            if not upd_b and cfg[_K_NADAPT] > 0.0:
                an_ = 0.0  # a candidate's rise does not inflate the noise (a long state adapts it instead)
            for ch in range(C):
                s = _SQRT_PI_2 * chan[_C_ABS, ch]
                if s < floor:
                    s = floor
                d = yr[pc, ch] - chan[_C_B, ch]
                ad = abs(d)
                if ad > nclip * s:
                    ad = nclip * s
                chan[_C_ABS, ch] += an_ * (ad - chan[_C_ABS, ch])
                sr = _SQRT_PI_2 * chan[_C_ABSR, ch]
                if sr < floor:
                    sr = floor
                adr = abs(xr[pc, ch] - chan[_C_B, ch])
                if adr > nclip * sr:
                    adr = nclip * sr
                chan[_C_ABSR, ch] += an_ * (adr - chan[_C_ABSR, ch])
                if upd_b or (speech and (chinfo[0, ch] == _RM or chinfo[0, ch] == _RJ)):
                    if d > bclip * s:
                        d = bclip * s
                    elif d < -bclip * s:
                        d = -bclip * s
                    chan[_C_B, ch] += ab_ * d
        return nout
    # ACTIVE
    if (cfg[_K_SPCYC] > 0.0 and not speech and ist[_I_MJCYC] >= cfg[_K_SPCYC] and mj >= a
            and np.isinf(fst[_F_TFINAL])):
        # a mouth/jaw-dominated state that keeps rising and falling is speech, not an expression:
        # abandon it and leave mouth and jaw out of the activation while the speech goes on
        ist[_I_SPEECH] = 1
        fst[_F_SPUNTIL] = tc + cfg[_K_SPHOLD]
        ist[_I_STATE] = _IDLE
        ist[_I_BELOW] = 0
        return nout
    for ch in range(C):
        z = chan[_C_Z, ch]
        if chan[_C_V1, ch] > chan[_C_PEAK, ch]:
            chan[_C_PEAK, ch] = chan[_C_V1, ch]
            chan[_C_SIGN, ch] = 1.0 if z >= 0.0 else -1.0
    if a > fst[_F_PEAKA]:
        fst[_F_PEAKA] = a
    if cfg[_K_NADAPT] > 0.0 and dtc > 0.0 and tc - fst[_F_TTRIG] > cfg[_K_NADAPT]:
        # a state older than noise_adapt_s: the noise scales follow it (clipped, as when idle), so a
        # face that keeps moving (speech, drift) raises its own noise scale instead of staying active
        an_ = 1.0 - math.exp(-dtc / cfg[_K_NTAU])
        nclip = cfg[_K_NCLIP]
        for ch in range(C):
            s = _SQRT_PI_2 * chan[_C_ABS, ch]
            if s < floor:
                s = floor
            ad = min(abs(yr[pc, ch] - chan[_C_B, ch]), nclip * s)
            chan[_C_ABS, ch] += an_ * (ad - chan[_C_ABS, ch])
            sr = _SQRT_PI_2 * chan[_C_ABSR, ch]
            if sr < floor:
                sr = floor
            adr = min(abs(xr[pc, ch] - chan[_C_B, ch]), nclip * sr)
            chan[_C_ABSR, ch] += an_ * (adr - chan[_C_ABSR, ch])
    if tc - fst[_F_TTRIG] > cfg[_K_MAXD]:
        # too long: not an expression.  Remember the neutral baseline (the state may end by
        # returning to it) and re-seed baseline and noise from the frames that follow.
        for ch in range(C):
            chan[_C_BOLD, ch] = chan[_C_B, ch]
        ist[_I_HASOLD] = 1
        _begin_calibration(ist, fst, chan)
        return nout
    if np.isfinite(fst[_F_TFINAL]) and ist[_I_BELOW] != 0:
        # post-roll of an event that has ended: only a new rise to start_z revives it
        if a >= cfg[_K_START]:
            ist[_I_BELOW] = 0
            return nout
        if tc >= fst[_F_TFINAL]:
            nout = _finalize_or_hold(ist, fst, chan, xr, yr, fr, cfg, chinfo, pend, c, tc, out, nout)
            ist[_I_STATE] = _IDLE
            ist[_I_BELOW] = 0
        return nout
    if a >= cfg[_K_END]:
        ist[_I_BELOW] = 0  # still (or again) active
        return nout
    if ist[_I_BELOW] == 0:
        ist[_I_BELOW] = 1
        fst[_F_TBELOW] = tc
        fst[_F_TFINAL] = np.inf
    waited = tc - fst[_F_TBELOW]
    if waited >= cfg[_K_HOLD]:
        _event_weights(chan, cfg)
        e = _event_signal(c, yr, chan, R)
        if e <= cfg[_K_RET] or waited >= cfg[_K_HOLD] + cfg[_K_TAIL]:
            # ended; keep a post-roll of backtrack_widen x its length so the offset can be sought
            # (and the signal smoothed) past this point
            post = cfg[_K_WIDEN] * (tc - fst[_F_TTRIG])
            fst[_F_TFINAL] = tc + post
            if post <= 0.0:
                nout = _finalize_or_hold(ist, fst, chan, xr, yr, fr, cfg, chinfo, pend, c, tc, out, nout)
                ist[_I_STATE] = _IDLE
                ist[_I_BELOW] = 0
    return nout


@njit(cache=True)
def _mouth_dominated(chan, chinfo):
    """True when the speech (articulation) channels carried the active state (their peak |z| is the largest)."""
    mj = 0.0
    ot = 0.0
    for ch in range(chan.shape[1]):
        v = chan[_C_PEAK, ch]
        if chinfo[3, ch] != 0:
            if v > mj:
                mj = v
        elif v > ot:
            ot = v
    return mj >= ot


@njit(cache=True)
def _end_segment(ist, fst, chan, xr, yr, fr, cfg, chinfo, pend, out, nout):
    """Gap or end of stream: process the pending centres with truncated windows,
    report an event whose activation had already fallen below end_z, abandon one still active."""
    while ist[_I_NC] < ist[_I_NIN]:
        nout = _process_centre(ist, fst, chan, xr, yr, fr, cfg, chinfo, pend, out, nout)
    if ist[_I_STATE] == _ACTIVE:
        if ist[_I_BELOW] != 0 and ist[_I_LASTC] >= ist[_I_EVTRIG]:
            nout = _finalize_or_hold(ist, fst, chan, xr, yr, fr, cfg, chinfo, pend, ist[_I_LASTC],
                                     fr[ist[_I_LASTC] % ist[_I_R], _R_T], out, nout)
        ist[_I_STATE] = _IDLE
        ist[_I_BELOW] = 0
    elif ist[_I_STATE] == _CALIB:
        _begin_calibration(ist, fst, chan)  # calibration needs calibration_s of contiguous frames
    nout = _release(ist, fst, cfg, pend, np.inf, out, nout)
    ist[_I_SEGSTART] = ist[_I_NIN]
    return nout


@njit(cache=True)
def _step(ist, fst, chan, xr, yr, fr, cfg, chinfo, pend, t, x, pose, frame, out):
    """Feed one frame.  Returns the number of rows written to ``out``; sets ist[_I_GROW]."""
    nout = 0
    ist[_I_GROW] = 0
    C = xr.shape[1]
    for ch in range(C):
        if not np.isfinite(x[ch]):
            return 0  # a frame without valid channels is skipped (not a gap by itself)
    nin = ist[_I_NIN]
    if nin > 0:
        dt = t - fst[_F_TLASTIN]
        if dt > cfg[_K_GAP] and ist[_I_SEGSTART] < nin:
            nout = _end_segment(ist, fst, chan, xr, yr, fr, cfg, chinfo, pend, out, nout)
        if dt > cfg[_K_RECAL]:
            ist[_I_HASOLD] = 0
            _begin_calibration(ist, fst, chan)
    R = ist[_I_R]
    p = nin % R
    for ch in range(C):
        xr[p, ch] = x[ch]
    fr[p, _R_T] = t
    fr[p, _R_FRAME] = frame
    q = (nin - 1) % R
    same_seg = nin > ist[_I_SEGSTART]
    for j in range(6):
        v = pose[j]
        if not np.isfinite(v):
            v = fr[q, _R_POSE + j] if same_seg else 0.0  # a missing pose value repeats the last one
        fr[p, _R_POSE + j] = v
    ist[_I_NIN] = nin + 1
    fst[_F_TLASTIN] = t
    half = cfg[_K_HALF]
    while ist[_I_NC] < ist[_I_NIN] and t > fr[ist[_I_NC] % R, _R_T] + half + _EPS:
        nout = _process_centre(ist, fst, chan, xr, yr, fr, cfg, chinfo, pend, out, nout)
    # ring growth request: keep the event, and preroll_s (calibration_s) of history, plus a margin
    grow = 0
    nin = ist[_I_NIN]
    if ist[_I_STATE] == _ACTIVE:
        if nin - ist[_I_EVLIMIT] + _MARGIN > R:
            grow = 1
    oldest = nin - R + _MARGIN
    if oldest >= ist[_I_SEGSTART] and oldest < nin:
        if fr[oldest % R, _R_T] > t - max(cfg[_K_PRE], cfg[_K_CAL]) - 2.0 * half - cfg[_K_HLAG]:
            grow = 1
    ist[_I_GROW] = grow
    return nout


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
def _run(ist, fst, chan, xr, yr, fr, cfg, chinfo, pend, times, X, pose, frames, out_all):
    """Whole-file driver: the same per-frame kernel over every frame (ring pre-sized)."""
    N = times.shape[0]
    out = np.zeros((8, out_all.shape[1]))
    total = 0
    for i in range(N):
        n = _step(ist, fst, chan, xr, yr, fr, cfg, chinfo, pend, times[i], X[i], pose[i], frames[i], out)
        out_all, total = _append_rows(out_all, total, out, n)
    n = _end_segment(ist, fst, chan, xr, yr, fr, cfg, chinfo, pend, out, 0)
    out_all, total = _append_rows(out_all, total, out, n)
    return out_all[:total]


# --------------------------------------------------------------------------- public API


def _bool_mask(mask: Any, C: int, what: str) -> np.ndarray:
    if mask is None:
        return np.zeros(C, dtype=bool)
    m = np.asarray(mask)
    if m.dtype != bool or m.shape != (C,):
        raise ValueError(f"{what} must be a boolean mask of shape ({C},), got {m.dtype} {m.shape}")
    return m


def _validate_channel_info(channel_regions: Any, blink_channels: Any, closure_channels: Any = None,
                          speech_channels: Any = None) -> np.ndarray:
    regions = np.asarray(channel_regions)
    if regions.ndim != 1 or regions.shape[0] < 1:
        raise ValueError(f"channel_regions must be a 1-D array with one entry per channel, got shape {regions.shape}")
    if regions.dtype.kind not in "iu":
        raise ValueError(f"channel_regions must hold integer region indices, got dtype {regions.dtype}")
    if regions.min() < 0 or regions.max() >= N_REGIONS:
        raise ValueError(f"channel_regions must index detector.facs.REGIONS (0..{N_REGIONS - 1})")
    C = regions.shape[0]
    blink = _bool_mask(blink_channels, C, "blink_channels")
    close = _bool_mask(closure_channels, C, "closure_channels")
    if speech_channels is None:
        speech = (regions == _RM) | (regions == _RJ)
    else:
        speech = _bool_mask(speech_channels, C, "speech_channels")
    return np.ascontiguousarray(np.stack([regions.astype(np.int64), blink.astype(np.int64), close.astype(np.int64),
                                          speech.astype(np.int64)]))


def _ring_frames(cfg: SegmenterConfig, fps: float) -> int:
    span = cfg.preroll_s + cfg.max_duration_s + cfg.smooth_s + cfg.head_speed_lag_s + 0.5
    return int(math.ceil(span * fps)) + 4 * _MARGIN


def _to_segment(row: np.ndarray, C: int) -> Segment:
    return Segment(
        onset_frame=int(row[_O_ON]),
        apex_frame=int(row[_O_AP]),
        offset_frame=int(row[_O_OFF]),
        onset=float(row[_O_TON]),
        apex=float(row[_O_TAP]),
        offset=float(row[_O_TOFF]),
        kind=SEGMENT_KINDS[int(row[_O_KIND])],
        region=SEGMENT_REGIONS[int(row[_O_REGION])],
        region_activation=row[_O_RACT:_O_RACT + N_REGIONS].copy(),
        intensity=float(row[_O_INT]),
        baseline=row[_O_CH:_O_CH + C].copy(),
        apex_values=row[_O_CH + C:_O_CH + 2 * C].copy(),
        head_motion=bool(row[_O_HM] > 0.5),
    )


class _State:
    """The preallocated arrays one face's kernel works on."""

    def __init__(self, C: int, R: int) -> None:
        self.ist = np.zeros(_NI, dtype=np.int64)
        self.fst = np.zeros(_NF, dtype=np.float64)
        self.chan = np.zeros((_NCH, C), dtype=np.float64)
        self.xr = np.zeros((R, C), dtype=np.float64)
        self.yr = np.zeros((R, C), dtype=np.float64)
        self.fr = np.zeros((R, _NR), dtype=np.float64)
        self.pend = np.zeros((_NPEND, _O_CH + 2 * C + _P_EXTRA), dtype=np.float64)  # held mouth/jaw events
        self.ist[_I_R] = R
        self.ist[_I_LASTC] = -1
        self.fst[_F_CALSTART] = np.nan
        self.fst[_F_RISE0:_F_RISE0 + _NRISE] = -np.inf
        self.ist[_I_STATE] = _CALIB

    def grow(self) -> None:
        R = int(self.ist[_I_R])
        R2 = 2 * R
        nin = int(self.ist[_I_NIN])
        idx = np.arange(max(0, nin - R), nin)
        for name in ("xr", "yr", "fr"):
            old = getattr(self, name)
            new = np.zeros((R2, old.shape[1]), dtype=old.dtype)
            new[idx % R2] = old[idx % R]
            setattr(self, name, new)
        self.ist[_I_R] = R2


class Segmenter:
    """Streaming onset/apex/offset segmenter for one face.

    Parameters
    ----------
    channel_regions : (C,) int array
        Index into :data:`detector.facs.REGIONS` for each channel.
    blink_channels : (C,) bool array, optional
        Channels that a blink moves (the eye region: eyeBlink*, lids, apertures).
    config : SegmenterConfig, optional
    closure_channels : (C,) bool array, optional
        Eye-closure gauges in 0..1 score units (eyeBlinkLeft/Right).  When given, an
        event is a blink only if both rise by ``blink_min_closure`` over baseline: a
        blink closes the eyes, a lid tightener (AU7) or cheek raise (AU6) does not.
    speech_channels : (C,) bool array, optional
        Channels that articulation moves (jaw opening, lip rounding and closing).
        A state they dominate, with syllables around it, is speech (see
        ``speech_window_s``).  Default: every mouth and jaw channel.  Leaving out
        the lip-corner channels (smile, dimple, frown) keeps a smile made while
        talking.

    Call :meth:`update` once per frame (times in seconds, strictly increasing);
    it returns the events completed at that frame (usually none).  Reported
    events lag real time by about ``smooth_s / 2 + end_hold_s`` after the
    activation falls, more while the event's channels are still returning.
    """

    def __init__(self, channel_regions: Any, blink_channels: Any = None,
                 config: SegmenterConfig | None = None, *, closure_channels: Any = None,
                 speech_channels: Any = None) -> None:
        if config is None:
            config = SegmenterConfig()
        if not isinstance(config, SegmenterConfig):
            raise TypeError(f"config must be a SegmenterConfig, got {type(config).__name__}")
        self.config = config
        self._chinfo = _validate_channel_info(channel_regions, blink_channels, closure_channels, speech_channels)
        self._C = int(self._chinfo.shape[1])
        self._cfg = _config_vector(config)
        self._s = _State(self._C, _ring_frames(config, config.max_fps))
        self._out = np.zeros((8, _O_CH + 2 * self._C), dtype=np.float64)
        self._zero_pose = np.zeros(6, dtype=np.float64)
        self._frame = 0
        self._t_last = -math.inf

    @property
    def n_channels(self) -> int:
        return self._C

    @property
    def frame_count(self) -> int:
        """Index the next frame gets when update() is called without ``frame``."""
        return self._frame

    @property
    def calibrating(self) -> bool:
        """True while the neutral baseline is being (re)calibrated (nothing is reported)."""
        return int(self._s.ist[_I_STATE]) == _CALIB

    @property
    def state(self) -> str:
        """"calibrating", "idle" (waiting for an event) or "active" (in an event or a state that may
        turn out too long to be one); for overlays and benchmarks."""
        return ("calibrating", "idle", "active")[int(self._s.ist[_I_STATE])]

    @property
    def speech_mode(self) -> bool:
        """True while speech mode is on: syllables (mouth/jaw re-rises) were seen lately, and mouth and
        jaw are left out of the activation (see ``speech_cycles``, ``speech_hold_s``); for overlays and
        benchmarks."""
        return bool(self._s.ist[_I_SPEECH])

    @property
    def baseline(self) -> np.ndarray | None:
        """Current neutral baseline per channel (C,), channel units; None before the first calibration."""
        if not self._s.ist[_I_CALIBRATED]:
            return None
        return self._s.chan[_C_B].copy()

    @property
    def ring_frames(self) -> int:
        """Current ring-buffer length, frames (bounded memory; grows only if frames come faster than max_fps)."""
        return int(self._s.ist[_I_R])

    def last_activation(self) -> tuple[float, float, np.ndarray] | None:
        """(time s, activation, region activation (6,)) of the latest processed frame, noise units; for overlays."""
        c = int(self._s.ist[_I_LASTC])
        if c < 0:
            return None
        row = self._s.fr[c % int(self._s.ist[_I_R])]
        return float(row[_R_T]), float(row[_R_A]), row[_R_REG:_R_REG + N_REGIONS].copy()

    def update(
        self, t: float, x: np.ndarray, pose: np.ndarray | None = None, frame: int | None = None
    ) -> list[Segment]:
        """Feed one frame.

        Parameters
        ----------
        t : float
            Timestamp, seconds; strictly increasing.
        x : (C,) array
            Expression channels.  A frame with a non-finite channel is skipped.
        pose : (6,) array, optional
            yaw, pitch, roll (degrees), tx, ty, tz (IOD units); None = no head-motion check.
        frame : int, optional
            0-based frame index to report; default: the number of update() calls so far.

        Returns
        -------
        list[Segment]
            Events completed at this frame (usually empty).
        """
        t = float(t)
        if not (t > self._t_last and math.isfinite(t)):
            raise ValueError(f"timestamps must be finite and strictly increasing: got {t} after {self._t_last}")
        # float32 and float64 arrays go to the kernel as they are (one compiled version each)
        if type(x) is not np.ndarray or x.dtype not in _FAST_DTYPES or x.shape != (self._C,):
            x = self._coerce(x, self._C, "channels")
        if pose is None:
            pose = self._zero_pose
        elif type(pose) is not np.ndarray or pose.dtype not in _FAST_DTYPES or pose.shape != (6,):
            pose = self._coerce(pose, 6, "pose")
        if frame is None:
            frame = self._frame
        self._frame = int(frame) + 1
        self._t_last = t
        s = self._s
        n = _step(s.ist, s.fst, s.chan, s.xr, s.yr, s.fr, self._cfg, self._chinfo, s.pend, t, x, pose, float(frame),
                  self._out)
        if s.ist[_I_GROW]:
            s.grow()
        if n == 0:
            return []
        return [_to_segment(self._out[i], self._C) for i in range(n)]

    def gap(self) -> list[Segment]:
        """The face was lost: report an event that had ended, abandon an active one, restart smoothing."""
        s = self._s
        n = _end_segment(s.ist, s.fst, s.chan, s.xr, s.yr, s.fr, self._cfg, self._chinfo, s.pend, self._out, 0)
        return [_to_segment(self._out[i], self._C) for i in range(n)]

    def flush(self) -> list[Segment]:
        """End of stream: process the frames still waiting for smoothing and report a finished event."""
        return self.gap()

    def reset_baseline(self) -> None:
        """Recalibrate the neutral baseline and noise scale from the next ``calibration_s`` seconds.

        An event in progress is abandoned.
        """
        s = self._s
        s.ist[_I_HASOLD] = 0
        _begin_calibration(s.ist, s.fst, s.chan)

    @staticmethod
    def _coerce(a: Any, n: int, what: str) -> np.ndarray:
        arr = np.ascontiguousarray(a, dtype=np.float64)
        if arr.shape != (n,):
            raise ValueError(f"{what} must have shape ({n},), got {arr.shape}")
        return arr


def segment(times: Any, X: Any, pose: Any, channel_regions: Any, blink_channels: Any = None,
            config: SegmenterConfig | None = None, *, frames: Any = None,
            closure_channels: Any = None, speech_channels: Any = None) -> list[Segment]:
    """Segment a whole recording with the streaming kernel.

    Parameters
    ----------
    times : (N,) seconds, strictly increasing.
    X : (N, C) channels; rows with a non-finite value are skipped (e.g. no face).
    pose : (N, 6) or None; yaw, pitch, roll degrees, tx, ty, tz IOD units.
    channel_regions, blink_channels, config : as for :class:`Segmenter`.
    frames : (N,) int, optional; frame indices to report (default 0..N-1).

    Returns the same events as feeding every row to ``Segmenter.update`` and
    then calling ``flush()``.
    """
    if config is None:
        config = SegmenterConfig()
    if not isinstance(config, SegmenterConfig):
        raise TypeError(f"config must be a SegmenterConfig, got {type(config).__name__}")
    chinfo = _validate_channel_info(channel_regions, blink_channels, closure_channels, speech_channels)
    C = int(chinfo.shape[1])
    times = np.ascontiguousarray(times, dtype=np.float64)
    if times.ndim != 1:
        raise ValueError(f"times must be 1-D, got shape {times.shape}")
    N = times.shape[0]
    if not np.all(np.isfinite(times)) or (N > 1 and not np.all(np.diff(times) > 0)):
        raise ValueError("times must be finite and strictly increasing")
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.shape != (N, C):
        raise ValueError(f"X must have shape ({N}, {C}), got {X.shape}")
    if pose is None:
        pose = np.zeros((N, 6), dtype=np.float64)
    else:
        pose = np.ascontiguousarray(pose, dtype=np.float64)
        if pose.shape != (N, 6):
            raise ValueError(f"pose must have shape ({N}, 6), got {pose.shape}")
    if frames is None:
        frames_f = np.arange(N, dtype=np.float64)
    else:
        frames_f = np.asarray(frames)
        if frames_f.shape != (N,) or frames_f.dtype.kind not in "iu":
            raise ValueError(f"frames must be an integer array of shape ({N},)")
        frames_f = frames_f.astype(np.float64)
    # ring sized so that it never needs to grow: the most frames any window of the needed span holds
    span = config.preroll_s + config.max_duration_s + config.smooth_s + config.head_speed_lag_s + 0.5
    R = _ring_frames(config, config.max_fps)
    if N:
        most = int(np.max(np.searchsorted(times, times + span, side="right") - np.arange(N)))
        R = max(R, most + 4 * _MARGIN)
    st = _State(C, R)
    out_all = np.zeros((16, _O_CH + 2 * C), dtype=np.float64)
    rows = _run(st.ist, st.fst, st.chan, st.xr, st.yr, st.fr, _config_vector(config), chinfo, st.pend, times, X, pose,
                frames_f, out_all)
    return [_to_segment(rows[i], C) for i in range(rows.shape[0])]
