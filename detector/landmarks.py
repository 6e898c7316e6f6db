"""Stage 2: MediaPipe FaceLandmarker (Tasks API) -> per-face observations.

Wraps ``FaceLandmarker`` in VIDEO mode (or IMAGE mode, see
``LandmarkerOptions.mode``) with blendshapes and the facial transformation
matrix, converts results to plain arrays and gives every face a stable track
id across frames.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.resources import verified_model

#: MediaPipe's 52 blendshape names, in the order of ``FaceObservation.blendshapes``.
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)
N_LANDMARKS = 478


@dataclass(frozen=True)
class FaceObservation:
    """One face in one frame.

    ``landmarks`` are pixels: columns x, y (image coordinates) and z (depth,
    same scale as x, smaller = nearer the camera), shape (478, 3) float32.
    ``blendshapes`` are MediaPipe scores 0..1, shape (52,), order
    ``BLENDSHAPE_NAMES``.  ``transform`` is the 4x4 facial transformation
    matrix (canonical face model -> camera, centimetres).
    """

    track_id: int
    landmarks: np.ndarray
    blendshapes: np.ndarray
    transform: np.ndarray

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Bounding box of the landmarks: x0, y0, x1, y1 in pixels."""
        xy = self.landmarks[:, :2]
        x0, y0 = xy.min(axis=0)
        x1, y1 = xy.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)


@dataclass(frozen=True)
class LandmarkerOptions:
    """Options of :class:`Landmarker`; defaults are the ones ``analyze`` uses."""

    model_path: str | Path | None = None  # None = bundled models/face_landmarker.task (hash-checked)
    max_faces: int = 1
    mode: str = "video"  # "video": temporal tracking filter over timestamps; "image": every frame independent
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    #: VIDEO mode: multiply real timestamps by this before passing them to
    #: MediaPipe.  MediaPipe's landmark smoothing filter works over the
    #: timestamps it is given; a large factor spaces frames far apart, which
    #: turns the smoothing (that flattens small brief motion) nearly off while
    #: keeping ROI tracking between frames.  1 = MediaPipe's own behaviour.
    timestamp_scale: float = 1.0
    delegate: str = "cpu"  # "cpu" or "gpu" (MediaPipe GPU delegate where the platform has one)
    quiet: bool = True  # hide MediaPipe's native start-up log lines


@contextlib.contextmanager
def _native_stderr_silenced(enabled: bool = True) -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration (MediaPipe's C++ start-up chatter).

    MediaPipe logs through absl/glog straight to fd 2, ignoring GLOG_minloglevel,
    at graph creation and on the first inference.  Python-level stderr is
    flushed first so nothing of ours is lost.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _Tracker:
    """Greedy nearest-centre assignment of stable ids to faces across frames.

    A face matches a track seen in the previous frame if its centre moved less
    than ``max_jump`` face widths; a track lost for up to ``memory`` seconds
    is picked up again within ``max_jump_lost`` face widths, so a face that
    leaves and comes back keeps its id.
    """

    def __init__(self, max_jump: float = 0.5, max_jump_lost: float = 2.0, memory: float = 10.0) -> None:
        self._tracks: dict[int, tuple[np.ndarray, float, float]] = {}  # id -> (centre px, width px, last seen s)
        self._next = 0
        self._max_jump = max_jump
        self._max_jump_lost = max_jump_lost
        self._memory = memory
        self._last_t = -np.inf

    def assign(self, centres: list[np.ndarray], sizes: list[float], t: float) -> list[int]:
        prev_t = self._last_t
        self._last_t = t
        self._tracks = {k: v for k, v in self._tracks.items() if t - v[2] <= self._memory}
        pairs = []
        for i, (c, s) in enumerate(zip(centres, sizes)):
            for tid, (pc, ps, seen) in self._tracks.items():
                d = float(np.hypot(*(c - pc))) / max(ps, s, 1.0)
                limit = self._max_jump if seen >= prev_t else self._max_jump_lost
                if d <= limit:
                    pairs.append((d, i, tid))
        pairs.sort()
        ids: list[int | None] = [None] * len(centres)
        taken: set[int] = set()
        for _, i, tid in pairs:
            if ids[i] is None and tid not in taken:
                ids[i] = tid
                taken.add(tid)
        for i in range(len(ids)):
            if ids[i] is None:
                ids[i] = self._next
                self._next += 1
        for tid, c, s in zip(ids, centres, sizes):
            self._tracks[tid] = (c, s, t)
        return ids  # type: ignore[return-value]


class Landmarker:
    """MediaPipe FaceLandmarker with blendshapes and head pose.  A context manager.

    Call :meth:`detect` with frames in time order (VIDEO mode needs strictly
    increasing timestamps).  Close it (``with`` block) before the interpreter
    exits, otherwise MediaPipe's destructor complains at shutdown.
    """

    def __init__(self, options: LandmarkerOptions = LandmarkerOptions()) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self.options = options
        self._mp = mp
        model = verified_model(options.model_path, "face_landmarker.task")
        delegate = BaseOptions.Delegate.GPU if options.delegate == "gpu" else BaseOptions.Delegate.CPU
        self._video = options.mode == "video"
        opts = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model), delegate=delegate),
            running_mode=vision.RunningMode.VIDEO if self._video else vision.RunningMode.IMAGE,
            num_faces=options.max_faces,
            min_face_detection_confidence=options.min_detection_confidence,
            min_face_presence_confidence=options.min_presence_confidence,
            min_tracking_confidence=options.min_tracking_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        with _native_stderr_silenced(options.quiet):
            self._lm = vision.FaceLandmarker.create_from_options(opts)
        self._tracker = _Tracker()
        self._last_ts_ms = -1
        self._warm = False

    def __enter__(self) -> "Landmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._lm is not None:
            self._lm.close()
            self._lm = None

    def detect(self, image_bgr: np.ndarray, timestamp: float) -> list[FaceObservation]:
        """Faces in one BGR frame taken at ``timestamp`` seconds."""
        import cv2

        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        img = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        if not self._warm:  # the first inference logs native start-up lines too
            self._warm = True
            with _native_stderr_silenced(self.options.quiet):
                result = self._infer(img, timestamp)
        else:
            result = self._infer(img, timestamp)
        return self._convert(result, image_bgr.shape[1], image_bgr.shape[0], timestamp)

    def _infer(self, img, timestamp: float):
        if not self._video:
            return self._lm.detect(img)
        ts = int(round(timestamp * 1000.0 * self.options.timestamp_scale))
        ts = max(ts, self._last_ts_ms + 1)  # MediaPipe rejects non-increasing timestamps
        self._last_ts_ms = ts
        return self._lm.detect_for_video(img, ts)

    def _convert(self, result, width: int, height: int, timestamp: float) -> list[FaceObservation]:
        if not result.face_landmarks:
            self._tracker.assign([], [], timestamp)
            return []
        scale = np.array([width, height, width], dtype=np.float32)
        faces = []
        for i, lms in enumerate(result.face_landmarks):
            pts = np.array([(p.x, p.y, p.z) for p in lms], dtype=np.float32) * scale
            bs = np.array([c.score for c in result.face_blendshapes[i]], dtype=np.float32)
            tf = np.asarray(result.facial_transformation_matrixes[i], dtype=np.float32).reshape(4, 4)
            faces.append((pts, bs, tf))
        centres = [f[0][:, :2].mean(axis=0) for f in faces]
        sizes = [float(np.ptp(f[0][:, 0])) for f in faces]
        ids = self._tracker.assign(centres, sizes, timestamp)
        obs = [FaceObservation(tid, pts, bs, tf) for tid, (pts, bs, tf) in zip(ids, faces)]
        obs.sort(key=lambda o: o.track_id)
        return obs
