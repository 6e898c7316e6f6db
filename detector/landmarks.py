"""Stage 2: MediaPipe FaceLandmarker (Tasks API) -> per-face observations.

Wraps ``FaceLandmarker`` in VIDEO mode (or IMAGE mode, see
``LandmarkerOptions.mode``) with blendshapes and the facial transformation
matrix, converts results to plain arrays and gives every face a stable track
id across frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


class _Tracker:
    """Greedy nearest-centre assignment of stable ids to faces across frames."""

    def __init__(self, max_jump: float = 0.5) -> None:
        self._centres: dict[int, tuple[np.ndarray, float]] = {}  # id -> (centre px, size px)
        self._next = 0
        self._max_jump = max_jump  # in face sizes

    def assign(self, centres: list[np.ndarray], sizes: list[float]) -> list[int]:
        free = dict(self._centres)
        ids: list[int] = []
        for c, s in zip(centres, sizes):
            best, best_d = None, np.inf
            for tid, (pc, ps) in free.items():
                d = float(np.hypot(*(c - pc))) / max(ps, 1.0)
                if d < best_d:
                    best, best_d = tid, d
            if best is None or best_d > self._max_jump:
                best = self._next
                self._next += 1
            else:
                del free[best]
            ids.append(best)
        self._centres = {tid: (c, s) for tid, c, s in zip(ids, centres, sizes)}
        return ids


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
        self._lm = vision.FaceLandmarker.create_from_options(opts)
        self._tracker = _Tracker()
        self._last_ts_ms = -1

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
        if self._video:
            ts = int(round(timestamp * 1000.0 * self.options.timestamp_scale))
            ts = max(ts, self._last_ts_ms + 1)  # MediaPipe rejects non-increasing timestamps
            self._last_ts_ms = ts
            result = self._lm.detect_for_video(img, ts)
        else:
            result = self._lm.detect(img)
        return self._convert(result, image_bgr.shape[1], image_bgr.shape[0])

    def _convert(self, result, width: int, height: int) -> list[FaceObservation]:
        if not result.face_landmarks:
            self._tracker.assign([], [])
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
        ids = self._tracker.assign(centres, sizes)
        obs = [FaceObservation(tid, pts, bs, tf) for tid, (pts, bs, tf) in zip(ids, faces)]
        obs.sort(key=lambda o: o.track_id)
        return obs
