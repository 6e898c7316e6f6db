"""Every option of ``microexpr train`` and its default, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from detector.core import facs

#: The emotions of a round, in key order: key 1 = anger ... key 7 = surprise.
EMOTIONS: tuple[str, ...] = tuple(e for e in facs.EMOTIONS if e != "neutral")

#: Flash durations the ladder moves between, milliseconds (Ekman's tools: 1/25 to 1/15 s at the short end).
MIN_DURATION_MS = 40.0
MAX_DURATION_MS = 500.0

#: Canvas of every screen, pixels (the warp benchmark renders at this size).
CANVAS_W, CANVAS_H = 640, 480
#: The framed face: a square as tall as the canvas, inter-ocular distance like synth's 125 px in 400 px.
FACE_SIZE = 480
FACE_IOD_PX = 150.0


@dataclass(frozen=True)
class TrainOptions:
    """One training session.  ``faces``: None = the bundled faces, ``"camera"`` = a webcam snapshot,
    else a folder of photos."""

    faces: str | None = None
    rounds: int = 20
    start_duration_ms: float = MAX_DURATION_MS
    seed: int | None = None
    #: Intensity of the AUs at the start (1.0 = a maximal posed action) and the floor it falls to.
    start_intensity: float = 1.0
    min_intensity: float = 0.35
    #: Each correct answer multiplies the duration by this; a wrong one divides by it.
    duration_step: float = 0.75
    intensity_step: float = 0.08
    #: The ladder allows subtle (one-region) rounds at or below this duration, masked ones below the next.
    subtle_below_ms: float = 200.0
    masked_below_ms: float = 100.0
    #: Share of the rounds that are subtle / masked once the ladder allows them.
    subtle_share: float = 0.35
    masked_share: float = 0.35
    #: The neutral face before the flash (a random extra of up to ``fore_jitter_ms`` keeps it unpredictable).
    fore_ms: float = 1000.0
    fore_jitter_ms: float = 500.0
    #: The smile that masks a micro-expression (duration, AU intensity), and the neutral face after a flash
    #: before the question.
    mask_ms: float = 600.0
    mask_intensity: float = 1.0
    after_ms: float = 500.0
    #: Display refresh rate; None = ask the X server (RandR), else assume :data:`DEFAULT_REFRESH_HZ`.
    refresh_hz: float | None = None
    #: Webcam for ``--faces camera`` and the mirror round; ``source``: a video file played as the webcam.
    camera: int = 0
    source: str | None = None
    mirror: bool = False
    #: Mirror round: seconds to show each emotion, seconds of relaxed face taken as the neutral, and the
    #: AU estimate (0..1, relative to that neutral) that counts as shown.
    mirror_s: float = 8.0
    mirror_neutral_s: float = 1.5
    mirror_threshold: float = 0.12
    #: Consecutive camera frames with every AU of the emotion shown for a mirror round to pass.
    mirror_hold_frames: int = 3
    data_dir: Path | None = None
    #: Test hook: write the X server's copy of the window around every flash (and each feedback screen) here.
    grab_dir: Path | None = None


#: Refresh rate assumed where the X server cannot be asked (most monitors).
DEFAULT_REFRESH_HZ = 60.0
