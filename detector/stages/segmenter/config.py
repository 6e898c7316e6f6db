"""Segmenter configuration: :class:`SegmenterConfig` (validated on construction) and its
conversion to the kernels' config record (:func:`kernel_config`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np

from detector.core.facs import REGIONS, UPPER_REGIONS
from detector.core.options import MICRO_MAX_S

HEAD_MOTION_MODES: tuple[str, ...] = ("reject", "flag")


@dataclass(frozen=True)
class SegmenterConfig:
    """Every threshold of the segmenter.  Times in seconds, z in noise units.

    "Noise units" are standard deviations of the channel's noise after the
    ``smooth_s`` smoothing, measured per person and per channel.
    """

    calibration_s: float = 1.0  # s, warm-up at start / after reset_baseline(): baseline + noise, nothing reported
    calibration_margin: float = 1.0  # ratio, calibrated noise scales are multiplied by this: a short calibration
    #                                   underestimates some of ~60 channels' noise by 20 %, and a still face then
    #                                   fires right after it; the running noise estimate relaxes the margin
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
    micro_max_s: float = MICRO_MAX_S  # s, onset->offset below this is "micro", otherwise "macro"
    max_duration_s: float = 4.0  # s, longer states are not expression events (dropped, baseline re-seeded)
    min_duration_s: float = 0.0  # s, shorter events are dropped (0 = keep all)
    blink_max_s: float = 0.8  # s, eye-dominated events up to this long are tagged "blink" (a 0.1-0.4 s blink
    #                           plus the lip and brow movement MediaPipe reports around it)
    blink_dominance: float = 0.5  # ratio, a blink's eye-channel activation over the other channels' at least this
    #                               (MediaPipe moves brows and lips with a real blink: 0.5 tolerates that)
    blink_min_closure: float = 0.2  # score units, a blink closes both eyes: both closure gauges (eyeBlink*)
    #                                 rise at least this much over baseline (only with closure_channels); longer
    #                                 than blink_max_s it is an eye closure (kind "closure", AU43)
    lids_lowered_min: float = 0.1  # score units, both closure gauges raised at least this much, by the eye
    #                                 channels alone, is the lids following the gaze down (kind "gaze"), not an
    #                                 expression (lid tightening moves them less, 0.02-0.05, or on one side; 0.06 caught all synthetic gaze shifts but also a macro expression)
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
    motion_lag_s: float = 0.15  # s, departure = how much further from the baseline now than motion_lag_s earlier
    #                             (half a micro-expression); 0 = off (the rest rule, step 4b)
    settle_departure_z: float = 4.5  # motion noise units, an event ends at rest (settle_*) only when it moved away
    #                                  from the baseline at least this fast (a brief rise); slower ones end by level
    still_motion_max: float = 0.003  # channel units (blendshape scores, IOD): the face was still before a rise when
    #                                  its motion (mean over channels of |y(n) - y(n - motion_lag_s)|, kernel._pre_motion)
    #                                  averaged at most this over still_window_s; only such a rise may end at rest
    #                                  (step 4b) or outlive mouth re-rises without being speech.  Measured before the
    #                                  real-like band's events (tune): at most 0.0012 at 200 fps, 0.0027 at 30 fps;
    #                                  before events on the real talking clips: 0.0036 and up (median 0.009)
    still_window_s: float = 0.5  # s, window of that motion, ending motion_lag_s before the trigger
    settle_z: float = 3.0  # noise units of the event signal e: e changing less than this over motion_lag_s, and
    #                        since the still run began, is a face at rest
    settle_s: float = 0.1  # s, an event whose motion has stopped this long has ended, at a new level or not
    settle_rel: float = 0.25  # fraction of the event's age it must also have been still (slow events move slowly)
    settle_level: float = 0.8  # fraction of the event's peak activation; a face still above it holds its apex
    settle_max_s: float = 1.5  # s, a face still this long has settled whatever its level (a held apex longer
    #                            than this is reported as an event that ended where the motion stopped)
    resplit_rel: float = 0.4  # fraction of the state's peak departure: a rise held near its peak (still above
    #                           settle_level) is reported at once when the face departs again this fast (and at
    #                           least settle_departure_z) without falling back: a new rise from the level it kept

    def __post_init__(self) -> None:
        positive = (
            "calibration_s", "baseline_tau_s", "baseline_clip_z", "noise_tau_s", "noise_clip_z", "noise_floor",
            "start_z", "end_z", "refine_z", "micro_max_s", "max_duration_s", "blink_max_s", "blink_dominance",
            "channel_rel", "head_rot_speed_dps", "head_trans_speed", "head_speed_lag_s", "gap_s",
            "recalibrate_gap_s", "max_fps", "calibration_margin", "settle_level",
        )
        non_negative = ("noise_adapt_s", "smooth_s", "backtrack_widen", "end_hold_s", "return_z", "tangent_floor_z", "tail_max_s",
                        "region_active_z", "preroll_s", "min_duration_s", "blink_min_closure", "speech_window_s",
                        "speech_lookahead_s", "lids_lowered_min", "motion_lag_s", "settle_z", "settle_s", "settle_rel", "settle_departure_z",
                        "settle_max_s", "still_motion_max", "still_window_s", "resplit_rel")
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


#: the kernels' config: one record (all float64); fields named as in SegmenterConfig where they are the same value
KERNEL_CONFIG = np.dtype([
    ("calibration_s", np.float64),
    ("baseline_tau_s", np.float64),
    ("baseline_clip_z", np.float64),
    ("noise_tau_s", np.float64),
    ("noise_clip_z", np.float64),
    ("noise_floor", np.float64),
    ("half_smooth_s", np.float64),  # smooth_s / 2
    ("top_k", np.float64),
    ("start_z", np.float64),
    ("end_z", np.float64),
    ("end_hold_s", np.float64),
    ("return_z", np.float64),
    ("tail_max_s", np.float64),
    ("channel_rel", np.float64),
    ("region_active_z", np.float64),
    ("preroll_s", np.float64),
    ("micro_max_s", np.float64),
    ("max_duration_s", np.float64),
    ("min_duration_s", np.float64),
    ("blink_max_s", np.float64),
    ("blink_dominance", np.float64),
    ("reject_head_motion", np.float64),  # 1.0: head_motion == "reject"
    ("head_rot_speed_dps", np.float64),
    ("head_trans_speed", np.float64),
    ("head_speed_lag_s", np.float64),
    ("gap_s", np.float64),
    ("recalibrate_gap_s", np.float64),
    ("region_upper", np.float64, (len(REGIONS),)),  # 1.0 for the regions in facs.UPPER_REGIONS
    ("refine_z", np.float64),
    ("backtrack_widen", np.float64),
    ("tangent_floor_z", np.float64),
    ("noise_adapt_s", np.float64),
    ("recalibrate_keeps_noise", np.float64),  # 1.0: true
    ("speech_cycles", np.float64),
    ("speech_dip", np.float64),
    ("speech_hold_s", np.float64),
    ("blink_min_closure", np.float64),
    ("speech_window_s", np.float64),
    ("speech_lookahead_s", np.float64),
    ("calibration_margin", np.float64),
    ("lids_lowered_min", np.float64),
    ("motion_lag_s", np.float64),
    ("settle_z", np.float64),
    ("settle_departure_z", np.float64),
    ("settle_s", np.float64),
    ("settle_rel", np.float64),
    ("settle_level", np.float64),
    ("settle_max_s", np.float64),
    ("still_motion_max", np.float64),
    ("still_window_s", np.float64),
    ("resplit_rel", np.float64),
])


def kernel_config(cfg: SegmenterConfig) -> np.ndarray:
    """The (1,) :data:`KERNEL_CONFIG` record of ``cfg``; the kernels read it as ``cfg = kcfg[0]``."""
    k = np.zeros(1, dtype=KERNEL_CONFIG)
    for name in KERNEL_CONFIG.names:
        if name in ("half_smooth_s", "reject_head_motion", "region_upper", "recalibrate_keeps_noise"):
            continue
        k[name] = getattr(cfg, name)
    k["half_smooth_s"] = cfg.smooth_s / 2.0
    k["reject_head_motion"] = 1.0 if cfg.head_motion == "reject" else 0.0
    k["recalibrate_keeps_noise"] = 1.0 if cfg.recalibrate_keeps_noise else 0.0
    k["region_upper"][0] = [1.0 if name in UPPER_REGIONS else 0.0 for name in REGIONS]
    return k
