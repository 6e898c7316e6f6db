"""Every option's default, in one place: frozen dataclasses whose field metadata says each option's
unit, type and allowed range (:func:`meta`).

The TOML sections (``configs/default.toml``, read by :mod:`detector.run.config`) are
:class:`LandmarkerOptions`, :class:`EventOptions`, :class:`ClassifierOptions` and :class:`EkmanOptions` here, and the
segmenter's own ``SegmenterConfig`` (:mod:`detector.stages.segmenter.config`, which checks its
ranges itself); ``tests/test_options.py`` asserts that the file's values equal these defaults.  The
other dataclasses are fixed settings of one stage or view, kept here beside the rest so that no
number is written twice.  Imports neither numba nor MediaPipe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


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


@dataclass(frozen=True)
class EkmanOptions:
    """The ``[ekman]`` section: the rules of the Ekman labels (:mod:`detector.stages.ekman`)."""

    mask_window_s: float = opt(1.0, "s", lo=0)  # a macro of another emotion starting this soon after a micro's offset masks it
    subtle_frac: float = opt(0.6, "fraction", lo=0, hi=1)  # subtle: one region, intensity below this of the person's reference
    subtle_ref_z: float = opt(12.0, "noise units", lo=0)  # the reference before the person has shown subtle_history events
    subtle_history: int = opt(3, "count", lo=0)  # earlier expression events needed to use the person's own median intensity
    symmetry_min: float = opt(0.02, "AU units", lo=0)  # bilateral movement below this: symmetry not measurable (null)
    symmetry_felt: float = opt(0.25, "0..1", lo=0, hi=1)  # |symmetry| up to this counts as symmetric for "felt"
    symmetry_deliberate: float = opt(0.3, "0..1", lo=0, hi=1)  # |symmetry| above this makes a (non-contempt) event "deliberate"
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
