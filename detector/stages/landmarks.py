"""Stage 2: MediaPipe FaceLandmarker (Tasks API) -> per-face observations.

Wraps ``FaceLandmarker`` in VIDEO mode (or IMAGE mode, see
``LandmarkerOptions.mode``) with blendshapes and the facial transformation
matrix, converts results to plain arrays and gives every face a stable track
id across frames.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.machinery
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from detector.core.options import TRACKER, LandmarkerOptions
from detector.core.resources import verified_model
from detector.stages.mp_results import fast_result_reader

_log = logging.getLogger(__name__)

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


@contextlib.contextmanager
def _native_stderr_silenced(enabled: bool = True) -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration (MediaPipe's C++ start-up chatter).

    MediaPipe logs through absl/glog straight to fd 2, ignoring GLOG_minloglevel,
    at graph creation and on the first inference.  Python-level stderr is
    flushed first so nothing of ours is lost.  Windows of several threads (a
    landmarker built ahead while another one starts) nest: fd 2 goes back to
    stderr when the last one ends.
    """
    if not enabled:
        yield
        return
    with _SILENCE.lock:
        if _SILENCE.depth == 0:
            sys.stderr.flush()
            _SILENCE.saved_fd = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        _SILENCE.depth += 1
    try:
        yield
    finally:
        with _SILENCE.lock:
            _SILENCE.depth -= 1
            if _SILENCE.depth == 0:
                os.dup2(_SILENCE.saved_fd, 2)
                os.close(_SILENCE.saved_fd)
                _SILENCE.saved_fd = -1


@dataclass
class _StderrSilence:
    """The process's one fd-2 silencing: windows open (nesting across threads), the saved stderr fd."""

    depth: int = 0
    saved_fd: int = -1
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


_SILENCE = _StderrSilence()


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM held back: they reach their handlers when the block ends (main thread only)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = {sig: signal.signal(sig, lambda signum, frame: got.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if got:
            signal.raise_signal(got[0])


class _Tracker:
    """Greedy nearest-centre assignment of stable ids to faces across frames.

    A face matches a track seen in the previous frame if its centre moved less
    than ``max_jump`` face widths; a track lost for up to ``memory`` seconds
    is picked up again within ``max_jump_lost`` face widths, so a face that
    leaves and comes back keeps its id.
    """

    def __init__(self, max_jump: float = TRACKER.max_jump, max_jump_lost: float = TRACKER.max_jump_lost,
                 memory: float = TRACKER.memory_s) -> None:
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


#: Public name of the id tracker: ``detector.run.parallel`` runs it in the main
#: process over faces found by worker processes, so ids follow the whole video.
FaceTracker = _Tracker

#: One face as MediaPipe found it, before a track id is given: landmarks
#: (478, 3) float32 pixels, blendshapes (52,) float32, transform (4, 4) float32.
RawFace = tuple[np.ndarray, np.ndarray, np.ndarray]


def face_centre_size(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """What the tracker matches faces by: landmark centre (2,) and width, pixels."""
    return landmarks[:, :2].mean(axis=0), float(np.ptp(landmarks[:, 0]))


#: Modules of MediaPipe that ``import mediapipe`` loads and this package never uses: its drawing helpers, which
#: import ``matplotlib.pyplot`` (0.6-0.8 s of the ~1 s ``import mediapipe`` takes on a quiet machine, 3 s on a
#: loaded one).  :func:`import_mediapipe` loads them lazily: on first use of one of their names, by anyone.
LAZY_MEDIAPIPE_MODULES = frozenset({"mediapipe.tasks.python.vision.drawing_utils",
                                    "mediapipe.tasks.python.vision.drawing_styles"})


class _LazyModules:
    """A meta-path finder that gives the named modules a lazy loader (``importlib.util.LazyLoader``)."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, name, path, target=None):
        if name not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def import_mediapipe():
    """``import mediapipe``, with :data:`LAZY_MEDIAPIPE_MODULES` loaded lazily (start-up, issue 18).

    The lazy modules are complete modules: the first attribute read on one of them runs it.  Only the first
    import of MediaPipe in a process is affected; returns the ``mediapipe`` module.
    """
    if "mediapipe" in sys.modules:
        return sys.modules["mediapipe"]
    finder = _LazyModules(LAZY_MEDIAPIPE_MODULES)
    sys.meta_path.insert(0, finder)
    try:
        import mediapipe
    finally:
        sys.meta_path.remove(finder)
    return mediapipe


def mediapipe_options(options: LandmarkerOptions):
    """MediaPipe's ``FaceLandmarkerOptions`` for ours (model hash-checked; blendshapes and pose on)."""
    import_mediapipe()
    from mediapipe.tasks.python import BaseOptions, vision

    model = verified_model(options.model_path, "face_landmarker.task")
    delegate = BaseOptions.Delegate.GPU if options.delegate == "gpu" else BaseOptions.Delegate.CPU
    return vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model), delegate=delegate),
        running_mode=vision.RunningMode.VIDEO if options.mode == "video" else vision.RunningMode.IMAGE,
        num_faces=options.max_faces,
        min_face_detection_confidence=options.min_detection_confidence,
        min_face_presence_confidence=options.min_presence_confidence,
        min_tracking_confidence=options.min_tracking_confidence,
        output_face_blendshapes=True,
        output_facial_transformation_matrixes=True,
    )


class Landmarker:
    """MediaPipe FaceLandmarker with blendshapes and head pose.  A context manager.

    Call :meth:`detect` with frames in time order (VIDEO mode needs strictly
    increasing timestamps).  Close it (``with`` block) before the interpreter
    exits, otherwise MediaPipe's destructor complains at shutdown.

    ``fast_results=False`` converts results through MediaPipe's public Python
    API instead of reading its C result struct directly (same values, slower;
    for comparisons, see :mod:`detector.stages.mp_results`).
    """

    def __init__(self, options: LandmarkerOptions = LandmarkerOptions(), fast_results: bool = True) -> None:
        mp = import_mediapipe()
        from mediapipe.tasks.python import vision

        self.options = options
        self._mp = mp
        self._video = options.mode == "video"
        try:
            with _native_stderr_silenced(options.quiet):
                self._lm = vision.FaceLandmarker.create_from_options(mediapipe_options(options))
        except RuntimeError as e:
            if options.delegate != "gpu":
                raise
            why = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            _log.warning("landmarks: MediaPipe GPU delegate not available (%s); running on CPU",
                         why.rsplit(": ", 1)[-1][:160])
            self.options = options = dataclasses.replace(options, delegate="cpu")
            with _native_stderr_silenced(options.quiet):
                self._lm = vision.FaceLandmarker.create_from_options(mediapipe_options(options))
        self._tracker = _Tracker()
        self._last_ts_ms = -1
        self._warm = False
        # the landmarker's own C handle must be there for the fast result reader
        self._read = (fast_result_reader() if fast_results and hasattr(self._lm, "_lib") and hasattr(self._lm, "_handle")
                      else None)

    def __enter__(self) -> "Landmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release MediaPipe's graph.  Ctrl-C/SIGTERM wait until it is done: a graph left half-closed
        by a second Ctrl-C made MediaPipe's ``__del__`` fail at exit."""
        if self._lm is None:
            return
        lm, self._lm = self._lm, None
        with _signals_blocked():
            lm.close()

    def warm_up(self, image_bgr: np.ndarray) -> None:
        """Run MediaPipe once on ``image_bgr`` (a live source's first frame), at media time 0, without
        tracking ids: its first inference takes 11-13 ms against 7-8 ms later, which the first
        frames of a live view would otherwise wait for.  A frame found later at time 0 is given
        to MediaPipe 1 ms later (its timestamps must increase)."""
        self.detect_untracked(image_bgr, 0.0)

    def detect(self, image_bgr: np.ndarray, timestamp: float) -> list[FaceObservation]:
        """Faces in one BGR frame taken at ``timestamp`` seconds."""
        return self.track(self.detect_untracked(image_bgr, timestamp), timestamp)

    def detect_untracked(self, image_bgr: np.ndarray, timestamp: float) -> list[RawFace]:
        """Faces in one BGR frame, in MediaPipe's order, without track ids (see :meth:`track`)."""
        import cv2

        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        img = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        if not self._warm:  # the first inference logs native start-up lines too
            self._warm = True
            with _native_stderr_silenced(self.options.quiet):
                faces = self._infer(img, timestamp)
        else:
            faces = self._infer(img, timestamp)
        h, w = image_bgr.shape[:2]
        scale = np.array([w, h, w], dtype=np.float32)
        return [(pts * scale, bs, np.asarray(tf, dtype=np.float32).reshape(4, 4)) for pts, bs, tf in faces]

    def track(self, faces: list[RawFace], timestamp: float) -> list[FaceObservation]:
        """Give the faces found at ``timestamp`` seconds their track ids; sorted by id."""
        if not faces:
            self._tracker.assign([], [], timestamp)
            return []
        keys = [face_centre_size(pts) for pts, _, _ in faces]
        ids = self._tracker.assign([k[0] for k in keys], [k[1] for k in keys], timestamp)
        obs = [FaceObservation(tid, pts, bs, tf) for tid, (pts, bs, tf) in zip(ids, faces)]
        obs.sort(key=lambda o: o.track_id)
        return obs

    def _infer(self, img, timestamp: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(normalised landmarks (N, 3) float32, blendshapes (52,), transform) per face."""
        ts = None
        if self._video:
            ts = int(round(timestamp * 1000.0 * self.options.timestamp_scale))
            ts = max(ts, self._last_ts_ms + 1)  # MediaPipe rejects non-increasing timestamps
            self._last_ts_ms = ts
        if self._read is not None:
            return self._read(self._lm, img, ts)
        result = self._lm.detect(img) if ts is None else self._lm.detect_for_video(img, ts)
        return [
            (
                np.array([(p.x, p.y, p.z) for p in lms], dtype=np.float32),
                np.array([c.score for c in result.face_blendshapes[i]], dtype=np.float32),
                result.facial_transformation_matrixes[i],
            )
            for i, lms in enumerate(result.face_landmarks)
        ]
