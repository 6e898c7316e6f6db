"""Public API: :class:`Segment`, the streaming :class:`Segmenter` and the whole-file
:func:`segment`.  Inputs are validated here, before they reach the numba kernels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from detector.stages.segmenter.config import SegmenterConfig, kernel_config
from detector.stages.segmenter.kernel import end_segment_arrays, reset_arrays, run, step_arrays
from detector.stages.segmenter.state import (CALIB, JAW, MARGIN, MOUTH, N_REGIONS, ROW_APEX, ROW_APEX_FRAME, ROW_CHANNELS,
                                      ROW_HEAD_MOTION, ROW_INTENSITY, ROW_KIND, ROW_OFFSET, ROW_OFFSET_FRAME,
                                      ROW_ONSET, ROW_ONSET_FRAME, ROW_REGION, ROW_REGION_ACT, SegmenterState,
                                      row_width)

SEGMENT_KINDS: tuple[str, ...] = ("micro", "macro", "blink", "closure", "gaze")  # ROW_KIND codes (state.KIND_*)
SEGMENT_REGIONS: tuple[str, ...] = ("full", "upper", "lower")  # ROW_REGION codes (state.REGION_*)
_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True, eq=False)
class Segment:
    """One segmented event.  Frames are 0-based caller frame indices, times seconds."""

    onset_frame: int
    apex_frame: int
    offset_frame: int
    onset: float  # s
    apex: float  # s
    offset: float  # s
    kind: str  # "micro" | "macro" | "blink" | "closure" (eyes shut longer than blink_max_s) | "gaze" (lids lowered)
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
        raise ValueError(f"channel_regions must index detector.core.facs.REGIONS (0..{N_REGIONS - 1})")
    C = regions.shape[0]
    blink = _bool_mask(blink_channels, C, "blink_channels")
    close = _bool_mask(closure_channels, C, "closure_channels")
    if speech_channels is None:
        speech = (regions == MOUTH) | (regions == JAW)
    else:
        speech = _bool_mask(speech_channels, C, "speech_channels")
    return np.ascontiguousarray(np.stack([regions.astype(np.int64), blink.astype(np.int64), close.astype(np.int64),
                                          speech.astype(np.int64)]))


def _history_s(cfg: SegmenterConfig) -> float:
    """Seconds of frames the ring must hold: pre-roll, the longest state, the widest smoothing window
    (below 80 fps 3 frames may be a little wider than smooth_wide_s: the 0.5 s slack covers it), the
    head-speed lag."""
    return cfg.preroll_s + cfg.max_duration_s + max(cfg.smooth_s, cfg.smooth_wide_s) + cfg.head_speed_lag_s + 0.5


def _ring_frames(cfg: SegmenterConfig, fps: float) -> int:
    return int(math.ceil(_history_s(cfg) * fps)) + 4 * MARGIN


def _to_segment(row: np.ndarray, C: int) -> Segment:
    return Segment(
        onset_frame=int(row[ROW_ONSET_FRAME]),
        apex_frame=int(row[ROW_APEX_FRAME]),
        offset_frame=int(row[ROW_OFFSET_FRAME]),
        onset=float(row[ROW_ONSET]),
        apex=float(row[ROW_APEX]),
        offset=float(row[ROW_OFFSET]),
        kind=SEGMENT_KINDS[int(row[ROW_KIND])],
        region=SEGMENT_REGIONS[int(row[ROW_REGION])],
        region_activation=row[ROW_REGION_ACT:ROW_REGION_ACT + N_REGIONS].copy(),
        intensity=float(row[ROW_INTENSITY]),
        baseline=row[ROW_CHANNELS:ROW_CHANNELS + C].copy(),
        apex_values=row[ROW_CHANNELS + C:ROW_CHANNELS + 2 * C].copy(),
        head_motion=bool(row[ROW_HEAD_MOTION] > 0.5),
    )


class Segmenter:
    """Streaming onset/apex/offset segmenter for one face.

    Parameters
    ----------
    channel_regions : (C,) int array
        Index into :data:`detector.core.facs.REGIONS` for each channel.
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
        self._cfg = kernel_config(config)
        self._s = SegmenterState(self._C, _ring_frames(config, config.max_fps))
        self._out = np.zeros((8, row_width(self._C)), dtype=np.float64)
        self._zero_pose = np.zeros(6, dtype=np.float64)
        self._no_gaze = np.full(2, np.nan, dtype=np.float64)
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
        return int(self._s.get("state")) == CALIB

    @property
    def state(self) -> str:
        """"calibrating", "idle" (waiting for an event) or "active" (in an event or a state that may
        turn out too long to be one); for overlays and benchmarks."""
        return ("calibrating", "idle", "active")[int(self._s.get("state"))]

    @property
    def smoothing_s(self) -> float:
        """Width of this face's centred average, s: the wider window (``smooth_wide_s``; below
        80 fps at least 3 frames) once a calibration found its frame noise mostly white (see the
        package docstring, step 1), else ``smooth_s``."""
        half = float(self._s.get("half_wide"))
        return 2.0 * half if half > 0.0 else self.config.smooth_s

    @property
    def speech_mode(self) -> bool:
        """True while speech mode is on: syllables (mouth/jaw re-rises) were seen lately, and mouth and
        jaw are left out of the activation (see ``speech_cycles``, ``speech_hold_s``); for overlays and
        benchmarks."""
        return bool(self._s.get("speech"))

    @property
    def baseline(self) -> np.ndarray | None:
        """Current neutral baseline per channel (C,), channel units; None before the first calibration."""
        if not self._s.get("calibrated"):
            return None
        return self._s.channels().baseline.copy()

    @property
    def ring_frames(self) -> int:
        """Current ring-buffer length, frames (bounded memory; grows only if frames come faster than max_fps)."""
        return int(self._s.get("ring_size"))

    def last_activation(self) -> tuple[float, float, np.ndarray] | None:
        """(time s, activation, region activation (6,)) of the latest processed frame, noise units; for overlays."""
        c = int(self._s.get("last_centre"))
        if c < 0:
            return None
        ring = self._s.ring()
        p = c % int(self._s.get("ring_size"))
        return float(ring.t[p]), float(ring.act[p]), ring.region_act[p].copy()

    def update(
        self, t: float, x: np.ndarray, pose: np.ndarray | None = None, frame: int | None = None,
        gaze: np.ndarray | None = None,
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
        gaze : (2,) array, optional
            Downward gaze gauges, left and right eye (MediaPipe ``eyeLookDownLeft``,
            ``eyeLookDownRight``; score units 0..1); None or NaN = unknown (no
            ``gaze_down_min`` check).

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
        if gaze is None:
            gaze = self._no_gaze
        elif type(gaze) is not np.ndarray or gaze.dtype not in _FAST_DTYPES or gaze.shape != (2,):
            gaze = self._coerce(gaze, 2, "gaze")
        if frame is None:
            frame = self._frame
        self._frame = int(frame) + 1
        self._t_last = t
        s = self._s
        n = step_arrays(s.scalars, s.chan, s.xr, s.yr, s.fr, s.pend, self._cfg, self._chinfo, t, x, pose, gaze,
                        float(frame), self._out)
        if s.grow_flag[0]:
            s.grow()
        if n == 0:
            return []
        return [_to_segment(self._out[i], self._C) for i in range(n)]

    def gap(self) -> list[Segment]:
        """The face was lost: report an event that had ended, abandon an active one, restart smoothing."""
        s = self._s
        n = end_segment_arrays(*s.arrays(), self._cfg, self._chinfo, self._out)
        return [_to_segment(self._out[i], self._C) for i in range(n)]

    def flush(self) -> list[Segment]:
        """End of stream: process the frames still waiting for smoothing and report a finished event."""
        return self.gap()

    def reset_baseline(self) -> None:
        """Recalibrate the neutral baseline and noise scale from the next ``calibration_s`` seconds.

        An event in progress is abandoned.
        """
        reset_arrays(self._s.scalars, self._s.pend)

    @staticmethod
    def _coerce(a: Any, n: int, what: str) -> np.ndarray:
        arr = np.ascontiguousarray(a, dtype=np.float64)
        if arr.shape != (n,):
            raise ValueError(f"{what} must have shape ({n},), got {arr.shape}")
        return arr


def _per_frame(a: Any, N: int, width: int, what: str, fill: float) -> np.ndarray:
    """(N, width) float64 rows of an optional per-frame input; ``fill`` everywhere when None."""
    if a is None:
        return np.full((N, width), fill, dtype=np.float64)
    arr = np.ascontiguousarray(a, dtype=np.float64)
    if arr.shape != (N, width):
        raise ValueError(f"{what} must have shape ({N}, {width}), got {arr.shape}")
    return arr


def segment(times: Any, X: Any, pose: Any, channel_regions: Any, blink_channels: Any = None,
            config: SegmenterConfig | None = None, *, frames: Any = None,
            closure_channels: Any = None, speech_channels: Any = None, gaze: Any = None) -> list[Segment]:
    """Segment a whole recording with the streaming kernel.

    Parameters
    ----------
    times : (N,) seconds, strictly increasing.
    X : (N, C) channels; rows with a non-finite value are skipped (e.g. no face).
    pose : (N, 6) or None; yaw, pitch, roll degrees, tx, ty, tz IOD units.
    channel_regions, blink_channels, config : as for :class:`Segmenter`.
    frames : (N,) int, optional; frame indices to report (default 0..N-1).
    gaze : (N, 2) or None; downward gaze gauges (eyeLookDown left, right), as for ``Segmenter.update``.

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
    pose = _per_frame(pose, N, 6, "pose", 0.0)
    gaze = _per_frame(gaze, N, 2, "gaze", np.nan)
    if frames is None:
        frames_f = np.arange(N, dtype=np.float64)
    else:
        frames_f = np.asarray(frames)
        if frames_f.shape != (N,) or frames_f.dtype.kind not in "iu":
            raise ValueError(f"frames must be an integer array of shape ({N},)")
        frames_f = frames_f.astype(np.float64)
    # ring sized so that it never needs to grow: the most frames any window of the needed span holds
    span = _history_s(config)
    R = _ring_frames(config, config.max_fps)
    if N:
        most = int(np.max(np.searchsorted(times, times + span, side="right") - np.arange(N)))
        R = max(R, most + 4 * MARGIN)
    st = SegmenterState(C, R)
    out_all = np.zeros((16, row_width(C)), dtype=np.float64)
    rows = run(*st.arrays(), kernel_config(config), chinfo, times, X, pose, gaze, frames_f, out_all)
    return [_to_segment(rows[i], C) for i in range(rows.shape[0])]
