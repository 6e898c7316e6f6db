"""The pipeline: per-face features -> segmenter -> classifier -> events.

:class:`Analyzer` is the streaming core shared by ``analyze`` (files), ``live``
(camera) and the benchmark: feed it the faces of each frame in time order with
:meth:`Analyzer.step`; it keeps one feature extractor and one segmenter per
face track and returns the events completed at that frame.  The landmarker is
run by the caller, so each stage can be timed and swapped separately.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.core.events import EYE_KINDS, Event
from detector.core.facs import AU_NAMES, EMOTIONS
from detector.core.options import MEDIA, OUTPUT
from detector.run.config import Config, load_config
from detector.run.stats import RunStats
from detector.stages.classifier import EmotionClassifier, emotionless_macro, speaking_emotion
from detector.stages.ekman import EkmanTracker, keep_seconds
from detector.stages.features import (
    BLINK_CHANNELS,
    CHANNEL_REGIONS,
    EYE_CLOSURE_CHANNELS,
    FaceFeatures,
    FeatureExtractor,
    SPEECH_CHANNELS,
    estimate_au_deltas,
)
from detector.stages.landmarks import FaceObservation, Landmarker
from detector.stages.segmenter import Segment, Segmenter
from detector.stages.source import Frame, SourceError, open_source


@dataclass
class FrameResult:
    """What the pipeline knows after one frame (for sinks and the overlay)."""

    index: int
    timestamp: float  # seconds
    faces: list[FaceObservation]
    features: dict[int, FaceFeatures]  # track id -> features
    events: list[Event]  # events that ended and were confirmed at this frame


def new_segmenter(config: Config) -> Segmenter:
    """A segmenter for one face of :class:`detector.stages.features.FeatureExtractor`'s channels."""
    return Segmenter(CHANNEL_REGIONS, BLINK_CHANNELS, config.segmenter, closure_channels=EYE_CLOSURE_CHANNELS,
                     speech_channels=SPEECH_CHANNELS)


@dataclass
class _Track:
    extractor: FeatureExtractor
    segmenter: Segmenter
    ekman: EkmanTracker | None = None  # channel history and past events for detector.stages.ekman's labels


class Analyzer:
    """Streaming per-face segmentation and classification.

    Parameters
    ----------
    config : Config
        Pipeline configuration (``load_config()`` for the defaults).
    classifier : EmotionClassifier, optional
        Shared classifier; created from ``config.classifier`` if omitted.
    """

    def __init__(self, config: Config, classifier: EmotionClassifier | None = None) -> None:
        self.config = config
        self.classifier = classifier or EmotionClassifier(
            config.classifier.model or None, device=config.classifier.device
        )
        self._tracks: dict[int, _Track] = {}

    def warm_up(self) -> float:
        """Compile (or load from numba's cache) the segmenter kernels now; returns seconds taken.

        Otherwise the first face's first frame pays for it (about 20 s on the
        first run after an install, well under a second later), which would
        stall a live view and distort a run's measured fps.
        """
        t0 = time.perf_counter()
        seg = new_segmenter(self.config)
        seg.update(0.0, np.zeros(len(CHANNEL_REGIONS), np.float32), np.zeros(6, np.float32), None,
                   np.full(2, np.nan, np.float32))  # dtypes of FaceFeatures
        seg.flush()
        seg.reset_baseline()
        return time.perf_counter() - t0

    def _track(self, tid: int) -> _Track:
        tr = self._tracks.get(tid)
        if tr is None:
            tr = _Track(FeatureExtractor(), new_segmenter(self.config),
                        EkmanTracker(self.config.ekman, keep_seconds(self.config.segmenter)))
            self._tracks[tid] = tr
        return tr

    def step(
        self, index: int, timestamp: float, faces: list[FaceObservation], features: list[FaceFeatures] | None = None
    ) -> FrameResult:
        """Process the faces found in frame ``index`` taken at ``timestamp`` seconds.

        ``features``, if given, are the faces' features already extracted
        (one per face, same order; ``detector.run.parallel`` extracts them in
        worker processes), otherwise they are extracted here.
        """
        feats: dict[int, FaceFeatures] = {}
        events: list[Event] = []
        for i, face in enumerate(faces):
            tr = self._track(face.track_id)
            # A face missing for a few frames is not a gap: the segmenter ends an
            # event itself when the time step exceeds its gap_s (seconds).
            f = tr.extractor(face) if features is None else features[i]
            feats[face.track_id] = f
            tr.ekman.push(index, timestamp, f.channels)
            events += self._events(face.track_id, tr.segmenter.update(timestamp, f.channels, f.pose, index, f.gaze))
        return FrameResult(index, timestamp, faces, feats, events)

    def finish(self) -> list[Event]:
        """Events still open at the end of the stream."""
        events: list[Event] = []
        for tid, tr in self._tracks.items():
            events += self._events(tid, tr.segmenter.flush())
        return events

    def recalibrate(self) -> None:
        """Restart every face's neutral baseline (the live ``c`` key)."""
        for tr in self._tracks.values():
            tr.segmenter.reset_baseline()

    def activation(self, tid: int) -> np.ndarray | None:
        """Latest per-region activation (6,) of a track, noise units, for the overlay."""
        tr = self._tracks.get(tid)
        last = None if tr is None else tr.segmenter.last_activation()
        return None if last is None else last[2]

    def calibrating(self, tid: int) -> bool | None:
        """Whether a face's segmenter is (re)calibrating its neutral baseline; None for a face not seen yet."""
        tr = self._tracks.get(tid)
        return None if tr is None else tr.segmenter.calibrating

    def baseline(self, tid: int) -> np.ndarray | None:
        tr = self._tracks.get(tid)
        return None if tr is None else tr.segmenter.baseline

    def _speaking_window(self, tr: _Track, apex: float, base: np.ndarray) -> np.ndarray | None:
        """The face's frames ``speech_hold_window_s`` before and after the apex time, minus ``base``
        (None: no window)."""
        w = self.config.classifier.speech_hold_window_s
        frames = tr.ekman.channels_between(apex - w, apex + w) if w > 0 else None
        return frames - base if frames is not None and len(frames) else None

    def _events(self, tid: int, segments: Iterable[Segment]) -> list[Event]:
        out = []
        for s in segments:
            if s.kind in EYE_KINDS and not self.config.events.include_blinks:
                continue
            delta = estimate_au_deltas(s.apex_values - s.baseline)
            tr = self._tracks.get(tid)
            copt = self.config.classifier
            speech = bool(copt.speech_aware and tr is not None and tr.segmenter.speech_mode)
            if speech:  # talking: mouth and jaw are articulation; the upper face and what they hold decide
                base = np.nan_to_num(s.baseline)
                change = np.asarray(s.apex_values, np.float64) - base
                k, conf, probs = speaking_emotion(self.classifier, change, self._speaking_window(tr, s.apex, base), copt)
            else:
                probs = self.classifier.predict(delta)
                k = int(np.argmax(probs))
                conf = float(probs[k])
            if emotionless_macro(s.kind, probs, copt):
                continue  # a slow change of the face that carries no emotion: not an expression
            extra = tr.ekman.describe(s, EMOTIONS[k], delta) if tr is not None and tr.ekman is not None else {}
            out.append(
                Event(
                    face=tid,
                    onset=s.onset,
                    apex=s.apex,
                    offset=s.offset,
                    onset_frame=s.onset_frame,
                    apex_frame=s.apex_frame,
                    offset_frame=s.offset_frame,
                    kind=s.kind,
                    region=s.region,
                    emotion=EMOTIONS[k],
                    confidence=conf,
                    scores={e: float(p) for e, p in zip(EMOTIONS, probs)},
                    action_units={n: float(v) for n, v in zip(AU_NAMES, delta) if v >= OUTPUT.au_min},
                    intensity=float(s.intensity),
                    head_motion=bool(s.head_motion),
                    speech=speech,
                    **extra,
                )
            )
        return out


def run(
    frames: Iterable[Frame],
    landmarker: Landmarker,
    analyzer: Analyzer,
    on_result: Callable[[Frame, FrameResult], None] | None = None,
    on_event: Callable[[Event], None] | None = None,
    stats: RunStats | None = None,
) -> list[Event]:
    """Drive frames through landmarker and analyzer; events go to ``on_event`` as they are found.

    Returns every event.  If iteration stops with an exception (Ctrl-C, a
    truncated file), events found so far have already been passed to
    ``on_event``; the still-open ones are *not* flushed — call
    ``analyzer.finish()`` yourself if you want them.
    """
    stats = stats if stats is not None else RunStats()
    events: list[Event] = []

    def emit(evs: list[Event]) -> None:
        for e in evs:
            events.append(e)
            if on_event is not None:
                on_event(e)

    t0 = time.perf_counter()
    try:
        for frame in frames:
            faces = landmarker.detect(frame.image, frame.timestamp)
            result = analyzer.step(frame.index, frame.timestamp, faces)
            stats.count(frame.timestamp, faces)
            emit(result.events)
            if on_result is not None:
                on_result(frame, result)
        emit(analyzer.finish())
    finally:
        stats.wall_seconds = time.perf_counter() - t0
    return events


def analyze_single_stream(path: str | Path, config: Config | None = None, fps: float | None = None) -> list[Event]:
    """Events of a video file or image folder from one landmarker run over every frame (no chunk grid)."""
    config = config or load_config()
    with open_source(path, fps=fps, decode_ahead=MEDIA.decode_ahead) as src, Landmarker(config.landmarks) as lm:
        analyzer = Analyzer(config)
        found: list[Event] = []
        with events_on_error(analyzer, found):
            return run(src, lm, analyzer, on_event=found.append)


@contextlib.contextmanager
def events_on_error(analyzer: Analyzer, found: list[Event]):
    """A :class:`SourceError` raised inside (a truncated file) leaves with ``events``: ``found`` plus
    the events still open, flushed as at the end of the file."""
    try:
        yield
    except SourceError as e:
        e.events = found + analyzer.finish()
        raise
