"""Every option's default, in one place: frozen dataclasses whose field metadata says each option's
unit, type and allowed range (:func:`opt`).

The TOML sections (``configs/default.toml``, read by :mod:`detector.run.config`) are
:class:`LandmarkerOptions`, :class:`EventOptions`, :class:`ClassifierOptions`, :class:`EkmanOptions` and
:class:`SegmenterConfig` (at the end; :mod:`detector.stages.segmenter.config` turns it into the
kernels' record) here; each validates itself from its metadata on construction, and
``tests/test_options.py`` asserts that the file's values equal these defaults.  The
other dataclasses are fixed settings of one stage or view, kept here beside the rest so that no
number is written twice.  Imports neither numba nor MediaPipe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping


def opt(default: Any, unit: str = "", *, lo: float | None = None, hi: float | None = None, open_lo: bool = False,
        choices: tuple[str, ...] = ()) -> Any:
    """A dataclass field with its default and its rule: ``lo``..``hi`` (``lo`` excluded if ``open_lo``) or ``choices``."""
    kind = None if default is None else type(default)
    return field(default=default, metadata={"unit": unit, "type": kind, "lo": lo, "hi": hi, "open_lo": open_lo,
                                            "choices": choices})


def problem(f, v: Any) -> str | None:
    """Why ``v`` breaks the rule in the metadata of dataclass field ``f`` (None if it does not, or there is none)."""
    m = f.metadata
    if not m:
        return None
    if m["choices"]:
        return None if v in m["choices"] else f"must be one of {', '.join(map(repr, m['choices']))}"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    unit = f" ({m['unit']})" if m["unit"] else ""
    lo, hi = m["lo"], m["hi"]
    if not math.isfinite(v):
        return f"must be a finite number{unit}"
    if lo is not None and (v <= lo if m["open_lo"] else v < lo):
        return f"must be {'>' if m['open_lo'] else '>='} {lo:g}{unit}"
    if hi is not None and v > hi:
        return f"must be <= {hi:g}{unit}"
    return None


def rules(cls) -> dict[str, dict[str, Any]]:
    """Each field's metadata (unit, type, range), for documentation and messages."""
    return {f.name: dict(f.metadata) for f in fields(cls)}


# --------------------------------------------------------------------------- TOML sections


@dataclass(frozen=True)
class LandmarkerOptions:
    """Options of ``detector.stages.landmarks.Landmarker``; the defaults are the ones ``analyze`` uses
    (the [landmarks] section of configs/default.toml)."""

    model_path: str | Path | None = None  # None = bundled models/face_landmarker.task (hash-checked)
    max_faces: int = opt(1, "count", lo=1)
    #: "video": temporal tracking filter over timestamps; "image": every frame independent
    mode: str = opt("video", choices=("video", "image"))
    min_detection_confidence: float = opt(0.5, "0..1", lo=0, hi=1)
    min_presence_confidence: float = opt(0.5, "0..1", lo=0, hi=1)
    min_tracking_confidence: float = opt(0.5, "0..1", lo=0, hi=1)
    #: VIDEO mode: multiply real timestamps by this before passing them to
    #: MediaPipe.  MediaPipe's landmark smoothing filter works over the
    #: timestamps it is given; a large factor spaces frames far apart, which
    #: turns the smoothing (that flattens small brief motion) nearly off while
    #: keeping ROI tracking between frames.  1 = MediaPipe's own behaviour.
    timestamp_scale: float = opt(1000.0, "dimensionless factor", lo=0, hi=1e6, open_lo=True)
    delegate: str = opt("cpu", choices=("cpu", "gpu"))  # MediaPipe GPU delegate where the platform has one
    quiet: bool = opt(True)  # hide MediaPipe's native start-up log lines


@dataclass(frozen=True)
class EventOptions:
    include_blinks: bool = opt(False)  # write blink events (kind "blink") too


@dataclass(frozen=True)
class ClassifierOptions:
    model: str = opt("")  # path of an ONNX emotion model; "" = bundled models/emotion.onnx
    #: "cpu" or "gpu" (onnxruntime CUDA provider, falls back to CPU with a message)
    device: str = opt("cpu", choices=("cpu", "gpu"))
    #: while the person talks (the segmenter's speech mode), mouth and jaw AUs are articulation:
    #: the emotion comes from the upper face alone
    speech_aware: bool = opt(True)
    #: talking: an upper-face emotion below this probability is reported as neutral
    speech_min_confidence: float = opt(0.5, "probability", lo=0, hi=1)
    #: talking and no clear upper-face emotion: the neutral label's confidence is at most this
    speech_neutral_confidence: float = opt(0.3, "probability", lo=0, hi=1)
    #: talking: the nose, mouth and jaw are read at the level they hold between syllables over
    #: this long before and after the apex (0 = not read at all: the upper face alone decides)
    speech_hold_window_s: float = opt(0.5, "s", lo=0)
    #: talking: the share of those frames a held level may leave (the syllables' gaps)
    speech_hold_quantile: float = opt(0.1, "ratio", lo=0, hi=0.5)
    #: talking: an emotion needs some AU (upper face, or held by the mouth) to change by this much
    speech_min_au: float = opt(0.05, "AU units", lo=0, hi=1)
    #: a macro event (0.5-4 s) that the model reads as neutral with at least this probability is not
    #: an expression (a slow change of the face with no emotion in it: a head drift, a posture); 1 = keep all
    macro_neutral_max: float = opt(0.7, "probability", lo=0, hi=1)


@dataclass(frozen=True)
class EkmanOptions:
    """The ``[ekman]`` section: the rules of the Ekman labels (:mod:`detector.stages.ekman`)."""

    mask_window_s: float = opt(1.0, "s", lo=0)  # a macro of another emotion starting this soon after a micro's offset masks it
    subtle_frac: float = opt(0.6, "fraction", lo=0, hi=1)  # subtle: one region, intensity below this of the person's reference
    subtle_ref_z: float = opt(12.0, "noise units", lo=0)  # the reference before the person has shown subtle_history events
    subtle_history: int = opt(3, "count", lo=0)  # earlier expression events needed to use the person's own median intensity
    symmetry_min: float = opt(0.02, "AU units", lo=0)  # bilateral channel movement (both sides, AU scale) below this: symmetry null
    symmetry_pair_tolerance: float = opt(0.1, "0..1", lo=0, hi=1)  # a channel pair whose sides moved the same way counts
    #                                                       as one-sided only beyond this (a smile's graded corners)
    symmetry_felt: float = opt(0.14, "0..1", lo=0, hi=1)  # |symmetry| up to this counts as symmetric for "felt"
    symmetry_deliberate: float = opt(0.16, "0..1", lo=0, hi=1)  # |symmetry| above this makes a (non-contempt) event "deliberate"
    onset_smooth: float = opt(3.5, "1/s", lo=0)  # onset speed at or below this is smooth (a raised-cosine rise of >= 0.42 s)
    onset_abrupt: float = opt(8.0, "1/s", lo=0)  # onset speed at or above this is abrupt (a rise of <= 0.18 s)
    offset_abrupt: float = opt(10.0, "1/s", lo=0)  # offset speed at or above this stops too suddenly
    felt_min_s: float = opt(0.5, "s", lo=0)  # felt expressions last at least this (Ekman & Friesen 1982: 2/3 s)
    felt_max_s: float = opt(4.0, "s", lo=0)  # ... and at most this
    duchenne_au6_min: float = opt(0.04, "AU units", lo=0)  # AU6 at the apex at least this
    duchenne_ratio: float = opt(0.62, "ratio", lo=0, hi=10)  # ... and at least this fraction of AU12
    eyes_closed_au45: float = opt(0.5, "AU units", lo=0)  # AU45 at the apex from which AU6 is not measurable (duchenne null)

    def __post_init__(self) -> None:
        for a, b in (("symmetry_felt", "symmetry_deliberate"), ("onset_smooth", "onset_abrupt"),
                     ("felt_min_s", "felt_max_s")):
            if getattr(self, a) > getattr(self, b):
                raise ValueError(f"ekman config: {a} must be <= {b}")


# --------------------------------------------------------------------------- fixed settings


@dataclass(frozen=True)
class TrackerOptions:
    """The face id tracker (``detector.stages.landmarks``): a face keeps its id if its centre moved less
    than ``max_jump`` face widths since the last frame, or ``max_jump_lost`` widths after it was lost
    for up to ``memory_s``."""

    max_jump: float = opt(0.5, "face widths", lo=0)
    max_jump_lost: float = opt(2.0, "face widths", lo=0)
    memory_s: float = opt(10.0, "s", lo=0)


@dataclass(frozen=True)
class OutputOptions:
    """What an Event carries (``detector.run.pipeline``)."""

    au_min: float = opt(0.01, "AU intensity (0..1 units)", lo=0)  # AUs below this are left out of action_units


@dataclass(frozen=True)
class LiveOptions:
    """``microexpr live``."""

    min_good_fps: float = opt(100.0, "frames/s", lo=0, open_lo=True)  # slower sources get a warning: short
    #                                                                   expressions fall between frames
    display_hz: float = opt(60.0, "Hz", lo=0, open_lo=True)  # the overlay is drawn and the window polled at most
    #                                                 this often; every frame still goes through the detector
    #                                                 (and, with --record, every frame is drawn and written)
    landmark_queue: int = opt(1, "frames", lo=1)  # faces found on a landmark thread that may wait for the
    #                                               processing loop (per thread); while they wait no frame is taken
    landmark_threads: int = opt(2, "threads", lo=1)  # MediaPipe landmarkers, each on its own thread and given
    #                                                  every n-th frame in turn (`live --landmark-threads`); two
    #                                                  about double the capacity on 2 cores, landmark jitter +6 %


@dataclass(frozen=True)
class MediaOptions:
    """Input files: which suffixes are images and videos, and when a short read is a truncated file."""

    image_suffixes: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
    video_suffixes: frozenset[str] = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg",
                                                ".wmv", ".flv", ".ts"})
    truncated_below: float = opt(0.9, "fraction of the frame count", lo=0, hi=1)  # fewer frames read: truncated
    decode_ahead: int = opt(4, "frames", lo=0)  # a video file is decoded on a reader thread this far ahead of
    #                                             the landmarks (``analyze``); 0: decoded in turn


#: Onset-to-offset duration below which an expression is "micro" (s): the segmenter's default
#: ``micro_max_s`` and the data sets' labelling rule.
MICRO_MAX_S = 0.5

TRACKER = TrackerOptions()
OUTPUT = OutputOptions()
LIVE = LiveOptions()
MEDIA = MediaOptions()


# --------------------------------------------------------------------------- the segmenter

HEAD_MOTION_MODES: tuple[str, ...] = ("reject", "flag")


@dataclass(frozen=True)
class SegmenterConfig:
    """Every threshold of the segmenter.  Times in seconds, z in noise units.

    "Noise units" are standard deviations of the channel's noise after the
    ``smooth_s`` smoothing, measured per person and per channel.
    """

    calibration_s: float = opt(1.0, "s", lo=0, open_lo=True)  # s, warm-up at start / after reset_baseline(): baseline + noise, nothing reported
    calibration_margin: float = opt(1.0, "ratio", lo=0, open_lo=True)  # ratio, calibrated noise scales are multiplied by this: a short calibration
    #                                   underestimates some of ~60 channels' noise by 20 %, and a still face then
    #                                   fires right after it; the running noise estimate relaxes the margin
    baseline_tau_s: float = opt(2.0, "s", lo=0, open_lo=True)  # s, time constant of the running neutral baseline (EMA)
    baseline_clip_z: float = opt(2.0, "noise units", lo=0, open_lo=True)  # noise units, largest baseline step per update (robust EMA)
    noise_tau_s: float = opt(2.0, "s", lo=0, open_lo=True)  # s, time constant of the running noise scale (EMA of |x - baseline|)
    noise_revert: bool = opt(True, "true/false")  # true/false, an eye event (blink, closure, gaze) from a still face gives back the noise its state added
    noise_clip_z: float = opt(3.0, "noise units", lo=0, open_lo=True)  # noise units, |x - baseline| is clipped to this before entering the noise EMA
    noise_adapt_s: float = opt(0.5, "s", lo=0)  # s, an active state older than this keeps updating the noise scale (0 = never):
    #                             a face that stays "active" (speech, drift) raises its own noise scale
    noise_floor: float = opt(5e-4, "channel units", lo=0, open_lo=True)  # channel units (blendshape 0..1, geometry in IOD), smallest noise scale
    smooth_s: float = opt(0.025, "s", lo=0)  # s, width of the centred moving average (at least one frame)
    smooth_wide_s: float = opt(0.06, "s", lo=0)  # s, the wider average a face whose frame noise is mostly white gets
    #                               (white_share_min; below 80 fps also white_level_min, and at least 3 frames); at most
    #                               smooth_s: never (real micro-expressions last 190 ms or more)
    white_share_min: float = opt(0.7, "ratio", lo=0)  # ratio, share of the calibrated (smoothed) noise that frame-to-frame white
    #                                 noise explains, median over channels, from which a face gets smooth_wide_s
    white_level_min: float = opt(0.0015, "channel units", lo=0)  # channel units, below 80 fps (smooth_s averages one frame) a face
    #                                 gets a 3-frame average (or smooth_wide_s if wider) only when its white frame noise, median over
    #                                 channels, is at least this large: real-noise faces 0.7-2.4e-3, the rendered band 0.2-0.6e-3
    top_k: int = opt(2, "count", lo=1)  # channels averaged (largest |z|) for the activation; 1 = max over channels
    start_z: float = opt(4.5, "noise units", lo=0, open_lo=True)  # noise units, activation that starts an event (high hysteresis threshold)
    start_hold_s: float = opt(0.01, "s", lo=0)  # s, the activation stays at start_z this long (frames x their interval) before an event starts
    #                              (a noise crossing of one frame at 200 fps is no rise; at 100 fps and below one frame counts its interval, 10 ms or more)
    end_z: float = opt(3.5, "noise units", lo=0, open_lo=True)  # noise units, activation below which an event may end (low threshold)
    end_hold_s: float = opt(0.02, "s", lo=0)  # s, activation must stay below end_z this long before the event ends
    return_z: float = opt(1.0, "noise units", lo=0)  # noise units, event signal level taken as "back at baseline" (onset/offset)
    refine_z: float = opt(12.0, "unsmoothed noise units", lo=0, open_lo=True)  # unsmoothed noise units, events at least this strong are localised on unsmoothed data
    tangent_floor_z: float = opt(2.0, "unsmoothed noise units", lo=0)  # unsmoothed noise units, edge samples below this stay out of a strong event's
    #                               onset/offset line fit (which uses 10-50 % of its peak)
    backtrack_widen: float = opt(0.25, "fraction", lo=0)  # fraction of a weaker event's half-peak width (s) over which its signal is
    #                                smoothed again before backtracking (slow events get a quieter signal)
    tail_max_s: float = opt(1.0, "s", lo=0)  # s, longest wait after end_hold_s for the event signal to reach return_z
    #                          (events that settle at a new level still end)
    channel_rel: float = opt(0.5, "fraction", lo=0, hi=1, open_lo=True)  # fraction of the strongest channel's peak |z| for a channel to join the event
    #                           (it must also reach start_z; the strongest channel always joins)
    region_active_z: float = opt(4.5, "noise units", lo=0)  # noise units, a region's peak |z| that makes it active (upper/lower/full)
    preroll_s: float = opt(1.0, "s", lo=0)  # s, how far before the trigger the onset may be backtracked
    micro_max_s: float = opt(MICRO_MAX_S, "s", lo=0, open_lo=True)  # s, onset->offset below this is "micro", otherwise "macro"
    max_duration_s: float = opt(4.0, "s", lo=0, open_lo=True)  # s, longer states are not expression events (dropped, baseline re-seeded)
    min_duration_s: float = opt(0.0, "s", lo=0)  # s, shorter events are dropped (0 = keep all)
    blink_max_s: float = opt(0.8, "s", lo=0, open_lo=True)  # s, eye-dominated events up to this long are tagged "blink" (a 0.1-0.4 s blink
    #                           plus the lip and brow movement MediaPipe reports around it)
    blink_dominance: float = opt(0.5, "ratio", lo=0, open_lo=True)  # ratio, a blink's eye-channel activation over the other channels' at least this
    #                               (MediaPipe moves brows and lips with a real blink: 0.5 tolerates that)
    blink_min_closure: float = opt(0.2, "score units", lo=0)  # score units, a blink closes both eyes: both closure gauges (eyeBlink*)
    #                                 rise at least this much over baseline (only with closure_channels); longer
    #                                 than blink_max_s it is an eye closure (kind "closure", AU43)
    lids_lowered_min: float = opt(0.1, "score units", lo=0)  # score units, both closure gauges raised at least this much, by the eye
    #                                 channels alone, is the lids following the gaze down (kind "gaze"), not an
    #                                 expression (lid tightening moves them less, 0.02-0.05, or on one side; 0.06 caught all synthetic gaze shifts but also a macro expression)
    gaze_down_min: float = opt(0.08, "score units", lo=0)  # score units, an eye-led state longer than micro_max_s whose two
    #                                 downward gaze gauges (eyeLookDown*) rose at least this much, in their median over the state,
    #                                 is a look down (kind "gaze"); 0 = off (tune faces: lid tightening 0.015, p90 0.055; a
    #                                 look down 0.16, p10 0.08)
    gaze_min_s: float = opt(0.4, "s", lo=0)  # s, an eye-led state that lowers both lids by lids_lowered_min without closing
    #                                 them is a look down only this long or longer; briefer, it is lid tightening (an
    #                                 expression, as in anger: tune faces 0.17-0.43 s as located, looks down 0.44 s and longer); 0 = any
    #                                 length
    blink_partial_max_s: float = opt(0.25, "s", lo=0)  # s, such a state briefer than gaze_min_s and over within this is
    #                                 an incomplete blink (kind "blink"): a blink that MediaPipe sees closing the eyes less
    #                                 than blink_min_closure (a turned head's far eye; tune faces
    #                                 0.07-0.24 s)
    head_motion: str = opt("reject", choices=HEAD_MOTION_MODES)  # "reject" drops events during head motion, "flag" sets head_motion=True
    head_rot_speed_dps: float = opt(40.0, "degrees/s", lo=0, open_lo=True)  # degrees/s, head rotation speed (yaw, pitch, roll) that marks head motion
    head_trans_speed: float = opt(1.0, "IOD/s", lo=0, open_lo=True)  # IOD/s, head translation speed that marks head motion
    head_speed_lag_s: float = opt(0.1, "s", lo=0, open_lo=True)  # s, pose difference taken over this lag to measure head speed
    gap_s: float = opt(0.25, "s", lo=0, open_lo=True)  # s, a time step longer than this is a gap (face lost): active event abandoned
    recalibrate_gap_s: float = opt(2.0, "s", lo=0, open_lo=True)  # s, after a gap longer than this the baseline is calibrated again
    max_fps: float = opt(240.0, "frames/s", lo=0, open_lo=True)  # frames/s, sizes the ring buffers (grown automatically if exceeded)
    recalibrate_keeps_noise: bool = opt(True)  # after a dropped too-long state, the re-calibrated noise scale is
    #                                        never below the one before (a restless face stays restless)
    speech_cycles: int = opt(3, "count", lo=0)  # count, mouth/jaw re-rises within one active state that mark it as speech (0 = off)
    speech_dip: float = opt(0.6, "ratio", lo=0, hi=1, open_lo=True)  # ratio, the mouth/jaw activation must fall below this fraction of its last peak
    #                          (and rise again by its inverse, to at least start_z) for one re-rise
    speech_hold_s: float = opt(2.0, "s", lo=0, open_lo=True)  # s, speech mode lasts this long after the last mouth/jaw re-rise
    speech_min_gap_s: float = opt(0.1, "s", lo=0)  # s, a re-rise sooner than this after the last one is noise, not a syllable
    #                               (syllables come at most 7-8 a second); it is not counted
    speech_window_s: float = opt(1.5, "s", lo=0)  # s, a mouth/jaw-dominated event with speech_cycles re-rises from this long
    #                               before its trigger (from its trigger for a micro event of a still face) to the end of its look-ahead
    #                               (at most this long after its offset) is speech (dropped)
    speech_lookahead_s: float = opt(0.5, "s", lo=0)  # s, a mouth/jaw-dominated event is held this long after it ends to see
    #                                  whether syllables follow (0 = no look-ahead, no window test)
    motion_lag_s: float = opt(0.15, "s", lo=0)  # s, departure = how much further from the baseline now than motion_lag_s earlier
    #                             (half a micro-expression); 0 = off (the rest rule, step 4b)
    settle_departure_z: float = opt(4.5, "motion noise units", lo=0)  # motion noise units, an event ends at rest (settle_*) only when it moved away
    #                                  from the baseline at least this fast (a brief rise); slower ones end by level
    settle_brief_departure_z: float = opt(3.0, "motion noise units", lo=0)  # motion noise units, a weaker rise (at least this fast, below
    #                                  settle_departure_z) may end at rest too while its trigger is at most settle_brief_s old, or
    #                                  once it holds a rise: weak real micro-expressions are brief in time, not fast in noise units
    settle_brief_s: float = opt(0.5, "s", lo=0)  # s, see settle_brief_departure_z (0 = only held rises; a slow macro is still rising then)
    still_motion_max: float = opt(0.003, "channel units", lo=0)  # channel units (blendshape scores, IOD): the face was still before a rise when
    #                                  its motion (mean over channels of |y(n) - y(n - motion_lag_s)|, kernel._pre_motion)
    #                                  averaged at most this over still_window_s; only such a rise may end at rest
    #                                  (step 4b) or outlive mouth re-rises without being speech.  Measured before the
    #                                  real-like band's events (tune): at most 0.0012 at 200 fps, 0.0027 at 30 fps;
    #                                  before events on the real talking clips: 0.0036 and up (median 0.009)
    still_window_s: float = opt(0.5, "s", lo=0)  # s, window of that motion, ending motion_lag_s before the trigger
    settle_z: float = opt(3.0, "noise units", lo=0)  # noise units of the event signal e: e changing less than this over motion_lag_s, and
    #                        since the still run began, is a face at rest
    settle_s: float = opt(0.1, "s", lo=0)  # s, an event whose motion has stopped this long has ended, at a new level or not
    settle_rel: float = opt(0.25, "fraction", lo=0)  # fraction of the event's age it must also have been still (slow events move slowly)
    settle_level: float = opt(0.8, "fraction", lo=0, open_lo=True)  # fraction of the event's peak activation; a face still above it holds its apex
    settle_max_s: float = opt(1.5, "s", lo=0)  # s, a face still this long has settled whatever its level (a held apex longer
    #                            than this is reported as an event that ended where the motion stopped)
    rest_min_s: float = opt(0.2, "s", lo=0)  # s, an event that comes to rest near its apex (settle_level) sooner than this
    #                          after its onset (its fall lost in the noise; real micro-expressions last 200 ms or
    #                          more in 90 %) is given a fall as long as its rise (real: 150 ms each in the median); 0 = off
    resplit_rel: float = opt(0.4, "fraction", lo=0)  # fraction of the state's peak departure: a rise held near its peak (still above
    #                           settle_level) is reported at once when the face departs again this fast (and at
    #                           least settle_departure_z) without falling back: a new rise from the level it kept
    held_head_shift_max: float = opt(0.05, "IOD", lo=0)  # IOD, a rise that kept its level (held near its peak) gives back the
    #                                 noise its state added (noise_adapt_s) when that level becomes the neutral, if the head
    #                                 moved no more than this in the image since the trigger (translation + roll at one IOD;
    #                                 a real-like event's own head move reaches 0.043); a head drift keeps its noise


    def __post_init__(self) -> None:
        for f in fields(self):  # each field's own rule (its metadata), as the config file is checked
            v = getattr(self, f.name)
            want = f.metadata["type"]
            if want is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if not isinstance(v, want) or (want is not bool and isinstance(v, bool)):
                raise ValueError(f"segmenter config: {f.name} must be {want.__name__}, got {v!r}")
            why = problem(f, v)
            if why:
                raise ValueError(f"segmenter config: {f.name} {why}, got {v!r}")
        if self.speech_dip >= 1.0:
            raise ValueError(f"segmenter config: speech_dip must be in (0, 1), got {self.speech_dip!r}")
        if self.end_z > self.start_z:
            raise ValueError(f"segmenter config: end_z ({self.end_z}) must not exceed start_z ({self.start_z})")
        if self.micro_max_s > self.max_duration_s:
            raise ValueError("segmenter config: micro_max_s must not exceed max_duration_s")

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
