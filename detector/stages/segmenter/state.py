"""One face's segmenter state, with names.

The kernels get a few preallocated arrays from Python (few arguments keep numba's per-call
dispatch cheap: NamedTuples passed from Python cost microseconds each) and see them through
named views built here, inside numba, at no cost:

* ``scalars``: a 1-element structured array (:data:`SCALARS`); ``sc = st.scalars[0]`` is a
  record whose fields the kernels read and write (``sc.n_in += 1``);
* :class:`ChannelState`: per-channel vectors (C,), rows of one (N_CHANNEL_ROWS, C) matrix;
* :class:`Ring`: per-frame ring buffers, row ``n % R`` holds frame ``n``: the raw and smoothed
  channels (R, C) and named columns of one (R, RING_WIDTH) matrix;
* :class:`Held`: events held for the speech look-ahead;
* :class:`ChannelInfo`: per-channel layout (region, blink, closure, speech masks).

The column and row numbers below are the only place where positions are spelled out.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from detector.core.facs import REGIONS

N_REGIONS = len(REGIONS)
MOUTH = REGIONS.index("mouth")  # the speech regions: mouth and jaw
JAW = REGIONS.index("jaw")

# states
CALIB, IDLE, ACTIVE = 0, 1, 2
MIN_CAL_FRAMES = 5  # calibration needs at least this many frames as well as calibration_s
N_RISES = 8  # times of the last N_RISES mouth/jaw re-rises are kept (a ring indexed by rise_pos)
N_HELD = 4  # events held at once for the speech look-ahead
MARGIN = 8  # ring slots kept free
EPS = 1e-9
SQRT_PI_2 = math.sqrt(math.pi / 2.0)

#: scalar state of one face (one record)
SCALARS = np.dtype([
    ("n_in", np.int64),  # frames received in the ring (next frame's index n)
    ("n_centre", np.int64),  # next centre frame to process (smoothing lags the input)
    ("seg_start", np.int64),  # first frame of the current contiguous segment (no gap since)
    ("state", np.int64),  # CALIB, IDLE or ACTIVE
    ("cal_first", np.int64),  # first calibration frame (-1: not started)
    ("ev_limit", np.int64),  # earliest frame the active event's onset may be backtracked to
    ("ev_trigger", np.int64),  # frame at which the active state started (activation reached start_z)
    ("below", np.int64),  # 1 while the activation has been below end_z (since t_below)
    ("ring_size", np.int64),  # R
    ("last_centre", np.int64),  # the previous processed centre frame (-1: none)
    ("grow", np.int64),  # 1: the Python side must grow the ring (see SegmenterState.grow)
    ("has_old", np.int64),  # 1: baseline_old holds the neutral baseline from before a dropped long state
    ("calibrated", np.int64),  # 1 once a calibration has completed
    ("speech", np.int64),  # 1 in speech mode
    ("mj_dir", np.int64),  # mouth/jaw tracker direction: >= 0 rising (seeking a peak), -1 falling
    ("mj_rises", np.int64),  # mouth/jaw re-rises since the active state started
    ("rise_pos", np.int64),  # re-rises ever seen (next slot of rises)
    ("still_from", np.int64),  # first centre of the active state's current run of still frames (-1: moving)
    ("settled", np.int64),  # 1 while finalizing an event that ended at rest at a new level (2: held near its peak)
    ("peak_act_at", np.int64),  # centre frame of peak_act
    ("held_rise", np.int64),  # held slot of the active state's rise to a held level (-1: none), see kernel
    ("held_from", np.int64),  # first centre of the still run the held rise came to rest in
    ("held_long", np.int64),  # 1: a macro-long held rise has rested settle_max_s (state ends by level only)
    ("last_kind", np.int64),  # kind of the event the active state reported last (-1: none yet)
    ("rest_fell", np.int64),  # 1: the event finalize located last at rest fell a little before it came to rest
    #                           (for a held rise: read until the state ends, no other finalize comes between)
    ("half_wide", np.float64),  # s, half the wider window of a face whose noise is mostly white (0: smooth_s's;
    #                             set at each calibration, see kernel._calibrate and stats.half_window)
    ("t_last_in", np.float64),  # time of the latest frame received, s
    ("cal_start", np.float64),  # time calibration started, s (NaN: not started)
    ("t_below", np.float64),  # time the activation fell below end_z, s
    ("above_s", np.float64),  # idle: time the activation has stayed at start_z (frames x their interval), s
    ("t_trigger", np.float64),  # time of the trigger, s
    ("peak_act", np.float64),  # peak activation of the active state
    ("peak_departure", np.float64),  # peak departure motion of the active state (motion noise units)
    ("pre_motion", np.float64),  # mean face motion before the active state's trigger, channel units (kernel)
    ("t_final", np.float64),  # the ended event is finalized at this time (end of post-roll); inf: not ended
    ("mj_extreme", np.float64),  # mouth/jaw tracker's last peak (rising) or trough (falling)
    ("speech_until", np.float64),  # speech mode lasts until this time, s
    ("rises", np.float64, (N_RISES,)),  # times of the last N_RISES mouth/jaw re-rises, s
])


class ChannelState(NamedTuple):
    """Per-channel vectors (C,)."""

    baseline: np.ndarray  # neutral baseline, channel units
    abs_dev: np.ndarray  # EMA of |smoothed - baseline| (noise scale / sqrt(pi/2))
    abs_dev_raw: np.ndarray  # the same for the unsmoothed channels
    peak: np.ndarray  # peak |z| of the active state
    sign: np.ndarray  # sign of z at that peak
    z: np.ndarray  # z of the latest centre
    weight: np.ndarray  # weight in the event signal (0: not an event channel)
    scale: np.ndarray  # noise scale used by the event signal (smoothed)
    scale_raw: np.ndarray  # noise scale used by the event signal (unsmoothed)
    az: np.ndarray  # |z| counted towards the activation (scratch otherwise)
    az_blink: np.ndarray  # |z| of the blink channels, packed (scratch otherwise)
    az_other: np.ndarray  # |z| of the other channels, packed (scratch otherwise)
    topk_buf: np.ndarray  # scratch of top_k_mean
    baseline_old: np.ndarray  # neutral baseline from before a dropped long state
    motion_dev: np.ndarray  # EMA of |y(n) - y(n - motion_lag_s)| (motion noise scale / sqrt(pi/2))
    departure: np.ndarray  # motion away from the baseline of the latest centre, motion noise units (>= 0)
    event_dev: np.ndarray  # abs_dev when the active state started: the event signal's noise scale
    #                        (adapt_noise raises abs_dev during a long state; the event keeps its units)
    event_dev_raw: np.ndarray  # abs_dev_raw when the active state started
    held_level: np.ndarray  # the level the active state's held rise came to rest at (mean over its still run)


N_CHANNEL_ROWS = len(ChannelState._fields)


class Ring(NamedTuple):
    """Per-frame ring buffers: row ``n % R`` holds frame ``n``."""

    x: np.ndarray  # (R, C) channels as given
    y: np.ndarray  # (R, C) channels smoothed over smooth_s (centred)
    t: np.ndarray  # (R,) time, s
    frame: np.ndarray  # (R,) caller frame index
    act: np.ndarray  # (R,) activation (top-k mean |z|)
    region_act: np.ndarray  # (R, N_REGIONS) largest |z| per region
    act_blink: np.ndarray  # (R,) activation of the blink channels
    act_other: np.ndarray  # (R,) activation of the other channels
    rot: np.ndarray  # (R,) head rotation speed, deg/s
    trans: np.ndarray  # (R,) head translation speed, IOD/s
    e: np.ndarray  # (R,) event signal e(n)
    pose: np.ndarray  # (R, 6) head pose as given (a missing value repeats the last one)
    pose_smooth: np.ndarray  # (R, 6) head pose smoothed over smooth_s
    e2: np.ndarray  # (R,) event signal smoothed again (slow events' backtracking)
    closure: np.ndarray  # (R,) eye closure: the smaller of the closure gauges' rise over baseline (score units)
    lag: np.ndarray  # (R,) index of the frame motion_lag_s before this one (-1: none in this segment)
    gaze: np.ndarray  # (R, 2) downward gaze gauges as given (eyeLookDown left, right; score units; NaN: unknown)
    closure_raw: np.ndarray  # (R,) the same closure from the channels as given: a blink's peak, which the wide
    #                          smoothing of a low frame rate flattens (score units)


# columns of the (R, RING_WIDTH) matrix behind Ring's per-frame views
_T, _FRAME, _ACT, _REGION = 0, 1, 2, 3  # _REGION .. _REGION + 5
_ACT_BLINK, _ACT_OTHER, _ROT, _TRANS, _E = 9, 10, 11, 12, 13
_POSE, _POSE_SMOOTH = 14, 20
_E2 = 26
_CLOSURE = 27
_LAG = 28
_GAZE = 29  # .. _GAZE + 1
_CLOSURE_RAW = 31
RING_WIDTH = 32


class Held(NamedTuple):
    """Events held for the speech look-ahead (N_HELD slots)."""

    rows: np.ndarray  # (N_HELD, W) output rows
    in_use: np.ndarray  # (N_HELD,) 1.0: slot holds an event
    release_t: np.ndarray  # (N_HELD,) time its look-ahead ends, s
    window_t: np.ndarray  # (N_HELD,) start of its speech window, s (trigger - speech_window_s; the trigger
    #                        for a micro event of a still face)
    #                        (inf for a held rise: never speech)


HELD_EXTRA = 3  # in_use, release_t, window_t after the row


class ChannelInfo(NamedTuple):
    """Per-channel layout (C,) int64: region index, and the blink, closure, speech masks (0/1)."""

    region: np.ndarray
    blink: np.ndarray
    closure: np.ndarray
    speech: np.ndarray


class State(NamedTuple):
    scalars: np.ndarray  # (1,) SCALARS; the kernels use sc = scalars[0]
    ch: ChannelState
    ring: Ring
    held: Held


# output row: frames, times, labels, then region activation (N_REGIONS), baseline (C), apex values (C)
ROW_ONSET_FRAME, ROW_APEX_FRAME, ROW_OFFSET_FRAME, ROW_ONSET, ROW_APEX, ROW_OFFSET = range(6)
ROW_KIND, ROW_REGION, ROW_INTENSITY, ROW_HEAD_MOTION, ROW_REGION_ACT = range(6, 11)
#: ROW_KIND codes, in api.SEGMENT_KINDS order
KIND_MICRO, KIND_MACRO, KIND_BLINK, KIND_CLOSURE, KIND_GAZE = range(5)
#: ROW_REGION codes, in api.SEGMENT_REGIONS order
REGION_FULL, REGION_UPPER, REGION_LOWER = range(3)
ROW_CHANNELS = ROW_REGION_ACT + N_REGIONS  # baseline (C) then apex values (C)


def row_width(C: int) -> int:
    return ROW_CHANNELS + 2 * C


@intrinsic
def _borrowed(typingctx, arr):
    """``arr`` without its reference count (NRT meminfo and parent NULL), for views used only
    while the caller holds ``arr``.  Numba increfs and decrefs every array of a NamedTuple each time
    the tuple is passed or unpacked; all views here share one counter, and those atomic updates
    cost more than the segmenter's arithmetic.  Views of a borrowed array are borrowed too."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, args[0])
        dst = context.make_array(sig.return_type)(context, builder)
        for name in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(dst, name, getattr(src, name))
        dst.meminfo = cgutils.get_null_value(dst.meminfo.type)
        dst.parent = cgutils.get_null_value(dst.parent.type)
        return dst._getvalue()

    return arr(arr), codegen


@njit(cache=True, inline="always")
def channel_views(chan):
    return ChannelState(chan[0], chan[1], chan[2], chan[3], chan[4], chan[5], chan[6], chan[7], chan[8], chan[9],
                        chan[10], chan[11], chan[12], chan[13], chan[14], chan[15], chan[16], chan[17], chan[18])


@njit(cache=True, inline="always")
def ring_views(xr, yr, fr):
    return Ring(xr, yr, fr[:, _T], fr[:, _FRAME], fr[:, _ACT], fr[:, _REGION:_REGION + N_REGIONS],
                fr[:, _ACT_BLINK], fr[:, _ACT_OTHER], fr[:, _ROT], fr[:, _TRANS], fr[:, _E],
                fr[:, _POSE:_POSE + 6], fr[:, _POSE_SMOOTH:_POSE_SMOOTH + 6], fr[:, _E2], fr[:, _CLOSURE],
                fr[:, _LAG], fr[:, _GAZE:_GAZE + 2], fr[:, _CLOSURE_RAW])


@njit(cache=True, inline="always")
def held_views(pend):
    W = pend.shape[1] - HELD_EXTRA
    return Held(pend[:, :W], pend[:, W], pend[:, W + 1], pend[:, W + 2])


@njit(cache=True, inline="always")
def info_views(chinfo):
    chinfo = _borrowed(chinfo)
    return ChannelInfo(chinfo[0], chinfo[1], chinfo[2], chinfo[3])


@njit(cache=True, inline="always")
def state_views(scalars, chan, xr, yr, fr, pend):
    """Named views of SegmenterState.arrays(); valid while the caller holds those arrays."""
    return State(_borrowed(scalars), channel_views(_borrowed(chan)),
                 ring_views(_borrowed(xr), _borrowed(yr), _borrowed(fr)), held_views(_borrowed(pend)))


class SegmenterState:
    """The preallocated arrays one face's kernel works on (see :func:`state_views`)."""

    def __init__(self, C: int, R: int) -> None:
        self.scalars = np.zeros(1, dtype=SCALARS)
        self.chan = np.zeros((N_CHANNEL_ROWS, C), dtype=np.float64)
        self.xr = np.zeros((R, C), dtype=np.float64)
        self.yr = np.zeros((R, C), dtype=np.float64)
        self.fr = np.zeros((R, RING_WIDTH), dtype=np.float64)
        self.pend = np.zeros((N_HELD, row_width(C) + HELD_EXTRA), dtype=np.float64)  # held mouth/jaw events
        sc = self.scalars
        sc["ring_size"] = R
        sc["last_centre"] = -1
        sc["still_from"] = -1
        sc["held_rise"] = -1
        sc["cal_start"] = np.nan
        sc["rises"][:] = -np.inf
        sc["state"] = CALIB
        self.grow_flag = sc["grow"]  # a view: grow_flag[0] is set by the kernel when the ring must grow

    def arrays(self) -> tuple:
        """The kernels' state arguments, in order."""
        return self.scalars, self.chan, self.xr, self.yr, self.fr, self.pend

    def get(self, name: str):
        """A scalar state field (see :data:`SCALARS`)."""
        return self.scalars[name][0]

    def ring(self) -> Ring:
        """Named views of the ring buffers (numpy)."""
        return ring_views.py_func(self.xr, self.yr, self.fr)

    def channels(self) -> ChannelState:
        """Named views of the per-channel vectors (numpy)."""
        return channel_views.py_func(self.chan)

    def grow(self) -> None:
        R = int(self.get("ring_size"))
        R2 = 2 * R
        nin = int(self.get("n_in"))
        idx = np.arange(max(0, nin - R), nin)
        for name in ("xr", "yr", "fr"):
            old = getattr(self, name)
            new = np.zeros((R2, old.shape[1]), dtype=old.dtype)
            new[idx % R2] = old[idx % R]
            setattr(self, name, new)
        self.scalars["ring_size"] = R2
