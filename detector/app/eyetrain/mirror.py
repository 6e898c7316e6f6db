"""The mirror round: the webcam watches the user show an emotion and says which AUs are missing.

The face's neutral is taken first (the user relaxes for ``mirror_neutral_s``):
its channels become the reference of :class:`detector.stages.features.FeatureExtractor`,
so the AU estimates are the user's own change.  Then, for each emotion, the
user has ``mirror_s`` seconds to show it.  An AU of the emotion's prototype
(:data:`detector.core.facs.PROTOTYPES`) counts as shown at ``mirror_threshold`` or
more on either side (both on one side for contempt); the emotion passes when
every AU is shown in ``mirror_hold_frames`` frames in a row.  Otherwise the frame
that came closest says what is missing, e.g. "raise the upper lids: AU5".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from detector.app.eyetrain.errors import TrainError
from detector.app.eyetrain.faces import open_camera
from detector.app.eyetrain.options import CANVAS_H, CANVAS_W, EMOTIONS, TrainOptions
from detector.app.eyetrain.render import GREEN, GREY, RED, shade, text
from detector.app.live import Window
from detector.core import facs
from detector.stages.features import FeatureExtractor
from detector.stages.landmarks import Landmarker, LandmarkerOptions
from detector.stages.source import Frame, FrameSource, SourceError

#: What to do for each AU, as the mirror round says it.
AU_INSTRUCTIONS: dict[str, str] = {
    "AU01": "raise the inner brows",
    "AU02": "raise the outer brows",
    "AU04": "lower and pull the brows together",
    "AU05": "raise the upper lids",
    "AU06": "raise the cheeks",
    "AU07": "tighten the lower lids",
    "AU09": "wrinkle the nose",
    "AU10": "raise the upper lip",
    "AU12": "pull the lip corners up",
    "AU14": "tighten the lip corners (dimple)",
    "AU15": "pull the lip corners down",
    "AU16": "lower the lower lip",
    "AU17": "push the chin up",
    "AU20": "stretch the lips sideways",
    "AU23": "tighten the lips",
    "AU24": "press the lips together",
    "AU25": "part the lips",
    "AU26": "drop the jaw",
}
_QUIT_KEYS = {ord("q"), ord("Q"), 27}
_AU_INDEX = {name: i for i, name in enumerate(facs.AU_NAMES)}


class MirrorError(TrainError):
    """The mirror round cannot go on (no face while taking the neutral)."""


def target_aus(emotion: str) -> tuple[str, ...]:
    """The AUs to show for an emotion: its first prototype, bases only (``AU12``, ``AU14`` for contempt)."""
    return tuple(dict.fromkeys(a.split("_")[0] for a in facs.PROTOTYPES[emotion][0]))


def _side_values(aus: np.ndarray, base: str) -> dict[str, float]:
    """An AU's estimate per side (``""`` for a midline AU)."""
    if base in facs.BILATERAL:
        return {s: float(aus[_AU_INDEX[f"{base}_{s}"]]) for s in ("L", "R")}
    return {"": float(aus[_AU_INDEX[base]])}


def missing_aus(emotion: str, aus: np.ndarray, threshold: float) -> tuple[str, ...]:
    """The target AUs of ``emotion`` not shown in an AU vector (:data:`detector.core.facs.AU_NAMES` order)."""
    targets = target_aus(emotion)
    if emotion == "contempt":  # one-sided: the side that shows more counts
        sides = [{b: _side_values(aus, b)[s] for b in targets} for s in ("L", "R")]
        best = max(sides, key=lambda v: sum(min(x, threshold) for x in v.values()))
        return tuple(b for b in targets if best[b] < threshold)
    return tuple(b for b in targets if max(_side_values(aus, b).values()) < threshold)


def advice(missing: tuple[str, ...]) -> str:
    """``raise the upper lids: AU5; drop the jaw: AU26`` (empty when nothing is missing)."""
    return "; ".join(f"{AU_INSTRUCTIONS.get(a, facs.AU_DESCRIPTIONS.get(a, a))}: AU{int(a[2:])}" for a in missing)


@dataclass
class MirrorAttempt:
    """One emotion being shown: the closest frame so far and the run of frames with nothing missing."""

    emotion: str
    threshold: float
    hold_frames: int = 3
    best_missing: tuple[str, ...] | None = None
    run: int = 0
    passed: bool = False
    frames: int = 0
    no_face: int = 0
    history: list[tuple[str, ...]] = field(default_factory=list)

    def update(self, aus: np.ndarray | None) -> tuple[str, ...] | None:
        """Take one frame's AU estimates (None: no face); returns what is missing in it."""
        self.frames += 1
        if aus is None:
            self.no_face += 1
            self.run = 0
            return None
        miss = missing_aus(self.emotion, aus, self.threshold)
        if self.best_missing is None or len(miss) < len(self.best_missing):
            self.best_missing = miss
        self.run = self.run + 1 if not miss else 0
        self.passed = self.passed or self.run >= self.hold_frames
        return miss

    def row(self) -> dict:
        """The attempt as a row of ``train_mirror.csv`` (AUs missing in the closest frame, space-separated)."""
        return {"emotion": self.emotion, "shown": int(self.passed),
                "missing": "" if self.passed or self.best_missing is None else " ".join(self.best_missing),
                "frames": self.frames, "frames_without_face": self.no_face}

    def verdict(self) -> str:
        if self.passed:
            return f"mirror {self.emotion}: shown"
        if self.best_missing is None:
            return f"mirror {self.emotion}: no face seen"
        return f"mirror {self.emotion}: missing {advice(self.best_missing)}"


class MirrorJudge:
    """Landmarks -> AU estimates relative to the user's neutral, frame by frame."""

    def __init__(self, landmarker: Landmarker) -> None:
        self.landmarker = landmarker
        self.extractor = FeatureExtractor()
        self._neutral: list[np.ndarray] = []

    def features(self, image: np.ndarray, t: float):
        faces = self.landmarker.detect(image, t)
        return self.extractor(faces[0]) if faces else None

    def add_neutral(self, image: np.ndarray, t: float) -> bool:
        f = self.features(image, t)
        if f is not None:
            self._neutral.append(f.channels)
        return f is not None

    def fix_neutral(self) -> None:
        if not self._neutral:
            raise MirrorError("mirror round: no face seen while taking the neutral (look into the camera)")
        self.extractor.set_neutral(np.median(np.stack(self._neutral), axis=0))

    def aus(self, image: np.ndarray, t: float) -> np.ndarray | None:
        f = self.features(image, t)
        return None if f is None else f.aus


def _screen(image: np.ndarray, title: str, detail: str, color) -> np.ndarray:
    img = cv2.resize(cv2.flip(image, 1), (CANVAS_W, CANVAS_H), interpolation=cv2.INTER_AREA)
    shade(img, 0, 64)
    text(img, title, (12, 28), 0.75, GREEN, 2)
    text(img, detail[:90], (12, 54), 0.45, color)
    return img


def _frames(frames: Iterator[Frame], seconds: float, name: str) -> Iterator[Frame]:
    """The next frames of one running iteration of a source, for ``seconds`` of the source's own time
    (SourceError when it ends sooner)."""
    t0 = None
    for frame in frames:
        t0 = frame.timestamp if t0 is None else t0
        yield frame
        if frame.timestamp - t0 >= seconds:
            return
    raise SourceError(f"{name}: ended during the mirror round")


def _show(window: Window | None, image: np.ndarray, title: str, detail: str, color) -> None:
    """Show a camera frame with the round's text (nothing without a window); q, Esc or closing ends it."""
    if window is None:
        return
    window.show(_screen(image, title, detail, color))
    key = window.poll(1)
    if window.closed or (key >= 0 and (key & 0xFF) in _QUIT_KEYS):
        raise KeyboardInterrupt


def mirror_session(source: FrameSource, judge: MirrorJudge, opts: TrainOptions, emotions=EMOTIONS,
                   window: Window | None = None) -> list[MirrorAttempt]:
    """Neutral first, then each emotion in turn; the attempts (their verdicts say what was missing)."""
    frames = iter(source)
    for frame in _frames(frames, opts.mirror_neutral_s, source.name):
        judge.add_neutral(frame.image, frame.timestamp)
        _show(window, frame.image, "Mirror: relax your face", "taking your neutral", GREY)
    judge.fix_neutral()
    attempts = []
    for emotion in emotions:
        attempt = MirrorAttempt(emotion, opts.mirror_threshold, opts.mirror_hold_frames)
        for frame in _frames(frames, opts.mirror_s, source.name):
            miss = attempt.update(judge.aus(frame.image, frame.timestamp))
            detail = "no face" if miss is None else ("hold it" if not miss else advice(miss))
            _show(window, frame.image, f"Mirror: show {emotion}", detail, GREEN if miss == () else RED)
            if attempt.passed:
                break
        attempts.append(attempt)
    return attempts


def run_mirror(window: Window | None, opts: TrainOptions, log) -> list[MirrorAttempt]:
    """The mirror rounds on the webcam (or ``opts.source``); logs one verdict per emotion."""
    try:
        with open_camera(opts.camera, opts.source) as source, \
                Landmarker(LandmarkerOptions(mode="video", max_faces=1)) as lm:
            attempts = mirror_session(source, MirrorJudge(lm), opts, EMOTIONS, window)
    except KeyboardInterrupt:
        log("mirror round ended")
        return []
    for a in attempts:
        log(a.verdict())
    return attempts
