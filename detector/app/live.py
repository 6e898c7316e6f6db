"""``microexpr live``: camera (or a file played as a camera) -> pipeline -> overlay window.

Flow, one direction::

    capture thread (ThreadedCapture: grab + monotonic stamp, 1-slot mailbox)
        -> landmark threads (LandmarkPool: ``LIVE.landmark_threads`` workers, each a LandmarkThread with its
           own Landmarker, taking the frames in turn; MediaPipe runs without the GIL; one thread:
           a single LandmarkThread)
        -> processing loop: Analyzer (same code as ``analyze``)
        -> LiveState (data for the overlay) -> Overlay (drawing, at most ``LIVE.display_hz``)
        -> window / recording / event JSONL

The capture thread never waits for processing: when processing falls behind,
the newest frame replaces the one waiting and the old one is counted as
dropped.  The segmenter is driven by timestamps, not frame counts, so drops do
not bend durations.  Timestamps are the grab time (seconds since the first
frame) for a camera or a paced file, and the file's presentation times with
``--as-fast-as-possible`` (then every frame is processed, and with
``--landmark-threads 1`` the events equal ``microexpr analyze`` on the same
file; with more threads each landmarker tracks every n-th frame, so the
landmarks differ slightly).

Frame indices in events are indices of *processed* frames, i.e. of the frames
of the ``--record`` video; with ``--as-fast-as-possible`` they are the file's
frame indices.
"""

from __future__ import annotations

import contextlib
import enum
import math
import sys
import threading
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.app.overlay import CalibrationView, Overlay, OverlayState, Status
from detector.core.events import Event
from detector.core.facs import REGIONS
from detector.core.options import LIVE
from detector.core.producer import NOTHING, ProducerThread
from detector.run.stats import RunStats

#: Below this camera rate a warning says that the briefest expressions cannot be resolved.
WINDOW_NAME = "microexpr live"


def rate_warning(fps: float, measured: bool = False) -> str:
    """The plain-words warning for a source slower than ``LIVE.min_good_fps``."""
    how = "delivers" if measured else "runs at"
    return (f"warning: the source {how} {fps:.3g} fps (below {LIVE.min_good_fps:.0f}): expressions shorter than "
            f"about 2 frames ({2000.0 / fps:.0f} ms) cannot be resolved at that rate")


# --------------------------------------------------------------------------- keys


class Action(enum.Enum):
    QUIT = "quit"
    PAUSE = "pause"
    SNAPSHOT = "snapshot"
    LANDMARKS = "landmarks"
    CALIBRATE = "calibrate"


_KEYS: dict[int, Action] = {
    ord("q"): Action.QUIT,
    ord("Q"): Action.QUIT,
    27: Action.QUIT,  # Esc
    ord(" "): Action.PAUSE,
    ord("s"): Action.SNAPSHOT,
    ord("S"): Action.SNAPSHOT,
    ord("l"): Action.LANDMARKS,
    ord("L"): Action.LANDMARKS,
    ord("c"): Action.CALIBRATE,
    ord("C"): Action.CALIBRATE,
}


def key_action(key: int) -> Action | None:
    """The action bound to a key code as returned by ``cv2.waitKey`` (-1 = no key)."""
    if key is None or key < 0:
        return None
    return _KEYS.get(key & 0xFF)


# --------------------------------------------------------------------------- small data helpers


class RateMeter:
    """Events per second over the last ``window_s`` seconds of ``tick`` times."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._t: deque[float] = deque()

    def tick(self, t: float) -> None:
        self._t.append(t)
        while len(self._t) > 2 and t - self._t[0] > self.window_s:
            self._t.popleft()

    @property
    def rate(self) -> float:
        if len(self._t) < 2 or self._t[-1] <= self._t[0]:
            return 0.0
        return (len(self._t) - 1) / (self._t[-1] - self._t[0])


class ActivationHistory:
    """Ring buffer of per-region activation (noise sigmas), one column per processed frame.

    ``view()`` returns the last samples oldest first as one contiguous array
    without copying: every sample is written twice, at ``i`` and ``i + capacity``.
    """

    def __init__(self, regions: int = len(REGIONS), capacity: int = 120) -> None:
        self.capacity = capacity
        self._buf = np.full((regions, 2 * capacity), np.nan, np.float32)
        self._i = 0
        self._n = 0

    def push(self, activation: np.ndarray | None) -> None:
        col = np.nan if activation is None else activation
        self._buf[:, self._i] = col
        self._buf[:, self._i + self.capacity] = col
        self._i = (self._i + 1) % self.capacity
        self._n = min(self._n + 1, self.capacity)

    def view(self) -> np.ndarray:
        end = self._i + self.capacity
        return self._buf[:, end - self._n : end]


@dataclass
class LiveState:
    """What the overlay shows, updated once per processed frame (data only, no drawing).

    Times are media seconds (the timestamps given to the segmenter), so a
    recording of a file shows banners for ``banner_s`` of video.
    """

    calibration_s: float = 1.0
    banner_s: float = 1.5
    log_lines: int = 4
    show_landmarks: bool = False
    paused: bool = False
    history: ActivationHistory = field(default_factory=ActivationHistory)
    probs: np.ndarray | None = None
    faces: list = field(default_factory=list)
    calib_start: float | None = None  # media s when the neutral calibration (re)started; None = not calibrating
    calibrating: bool = False
    primary: int | None = None  # track id shown in bars and timelines
    now: float = 0.0
    _banners: list[tuple[Event, float]] = field(default_factory=list)  # (event, media s when found)
    log: deque = field(default_factory=deque)  # the last ``log_lines`` events

    def __post_init__(self) -> None:
        self.log = deque(self.log, maxlen=self.log_lines)

    def add_event(self, e: Event, t: float) -> None:
        self.log.append(e)
        if e.kind == "micro" or e.masks:  # a macro that masks a micro gets a banner too ("masked: fear -> smile")
            self._banners.append((e, t))

    def banners(self) -> list[tuple[Event, float]]:
        self._banners = [(e, t) for e, t in self._banners if self.now - t < self.banner_s]
        return [(e, self.now - t) for e, t in self._banners]

    def calibration_view(self) -> CalibrationView | None:
        if not self.calibrating:
            return None
        start = self.calib_start if self.calib_start is not None else self.now
        progress = (self.now - start) / self.calibration_s if self.calibration_s > 0 else 1.0
        center, radius = None, None
        face = next((f for f in self.faces if f.track_id == self.primary), None)
        if face is not None:
            x0, y0, x1, y1 = face.box
            center = ((x0 + x1) / 2, (y0 + y1) / 2)
            radius = 0.55 * max(x1 - x0, y1 - y0)
        return CalibrationView(min(progress, 0.99), center, radius, face is not None)

    def overlay_state(self, status: Status) -> OverlayState:
        return OverlayState(
            faces=self.faces,
            show_landmarks=self.show_landmarks,
            calibration=self.calibration_view(),
            probs=None if self.calibrating else self.probs,
            activation_history=self.history.view(),
            banners=self.banners(),
            log=list(self.log),
            status=status,
        )


# --------------------------------------------------------------------------- outputs


class Recorder:
    """The overlaid video (``--record``): mp4v via ``cv2.VideoWriter``, opened at the first frame."""

    def __init__(self, path: str | Path, fps: float) -> None:
        from detector.app.sinks import OutputError

        self.path = Path(path)
        self.fps = fps if fps and fps > 0 else 30.0
        self.frames = 0
        self._w = None
        if self.path.parent and not self.path.parent.exists():
            raise OutputError(f"{self.path}: folder {self.path.parent} does not exist")

    def write(self, frame: np.ndarray) -> None:
        import cv2

        from detector.app.sinks import OutputError

        if self._w is None:
            h, w = frame.shape[:2]
            self._w = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._w.isOpened():
                self._w = None
                raise OutputError(f"{self.path}: cannot write video (mp4v encoder unavailable or path not writable)")
        self._w.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self._w is not None:
            self._w.release()
            self._w = None


class Window:
    """The OpenCV window: ``show(frame)`` then ``poll(ms)`` for a key; ``closed`` once the user closed it."""

    def __init__(self, name: str = WINDOW_NAME) -> None:
        import os

        import cv2

        from detector.stages.source import SourceError

        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            # Qt would abort the whole process; say it plainly instead.
            raise SourceError("no display to open a window on (set DISPLAY, or run with --no-window)")
        self._cv2 = cv2
        self.name = name
        self._shown = False

    def show(self, frame: np.ndarray) -> None:
        """Show a frame; the window itself opens with the first one (not blank while models load)."""
        cv2 = self._cv2
        if not self._shown:
            from detector.stages.source import SourceError

            try:
                cv2.namedWindow(self.name, cv2.WINDOW_AUTOSIZE | getattr(cv2, "WINDOW_GUI_NORMAL", 0))
            except cv2.error as e:
                msg = str(e).strip().splitlines()[-1]
                raise SourceError(f"cannot open a window ({msg}); run with --no-window") from None
        cv2.imshow(self.name, frame)
        self._shown = True

    def poll(self, ms: int = 1) -> int:
        if not self._shown:  # no window yet: nothing to wait on
            time.sleep(ms / 1000.0)
            return -1
        return self._cv2.waitKey(max(1, int(ms)))

    @property
    def closed(self) -> bool:
        if not self._shown:
            return False
        try:
            return self._cv2.getWindowProperty(self.name, self._cv2.WND_PROP_VISIBLE) < 1
        except self._cv2.error:
            return True

    def close(self) -> None:
        if not self._shown:
            return
        try:
            self._cv2.destroyWindow(self.name)
            self._cv2.waitKey(1)
        except self._cv2.error:
            pass


# --------------------------------------------------------------------------- the loop


@dataclass
class LiveStats:
    """Counts and timings of one live run (latencies in seconds)."""

    run: RunStats = field(default_factory=RunStats)  # processed frames, frames with a face, tracks, media time
    dropped: int = 0
    grabbed: int = 0
    skipped_paused: int = 0
    wall_s: float = 0.0
    busy_s: float = 0.0  # landmarks + pipeline + overlay + output, summed over frames
    main_s: float = 0.0  # pipeline + overlay + output (the processing loop's share), summed over frames
    landmarks_s: float = 0.0  # landmarks on the landmark thread(s), summed over frames
    landmark_threads: int = 1
    capture_fps: float = 0.0
    latency: array = field(default_factory=lambda: array("d"))  # grab -> pipeline result, per frame
    overlay: array = field(default_factory=lambda: array("d"))  # overlay drawing, per frame
    snapshots: list = field(default_factory=list)
    quit_by_user: bool = False
    lossless: bool = False  # every frame processed (files as fast as possible)

    def percentile(self, what: str, q: float) -> float:
        a = getattr(self, what)
        return float(np.percentile(np.frombuffer(a, dtype=np.float64), q)) if len(a) else math.nan


class LandmarkThread(ProducerThread):
    """Finds the faces of captured frames on its own thread, between the capture thread and the processing loop.

    MediaPipe releases the GIL while it runs, so the landmarks of one frame overlap the processing loop's work
    on the one before it (pipeline, overlay, window).  ``detect(item)`` returns ``(t, faces)``; :meth:`get`
    gives ``(item, t, faces, seconds the landmarks took)`` in capture order, None at the end of the stream,
    and raises what ended the source (or the landmarker) after the frames before it.  At most ``depth``
    results wait for the processing loop; while they wait no frame is taken, so the capture's own rule
    (newest frame wins, or lossless) decides what is dropped.  While ``paused`` no frame is taken either.
    A :class:`~detector.core.producer.ProducerThread` whose producer is :meth:`_landmarks_of_next`.
    """

    #: How long one wait for the capture lasts before stop and pause are checked again, seconds.
    CAPTURE_POLL_S = 0.1

    def __init__(self, capture, detect, clock=time.monotonic, depth: int = 1) -> None:
        super().__init__(self._landmarks_of_next, depth=depth, name="microexpr-landmarks")
        self._capture = capture
        self._detect = detect
        self._clock = clock
        self.busy_s = 0.0  # seconds spent finding faces

    def _landmarks_of_next(self):
        """The next frame's ``(item, t, faces, landmarks_s)`` (the producer, on the landmark thread);
        ``NOTHING`` while the capture has no frame yet; :class:`StopIteration` at its end."""
        try:
            item = self._capture.get(timeout=self.CAPTURE_POLL_S)
        except TimeoutError:
            return NOTHING
        if item is None:
            raise StopIteration
        t0 = self._clock()
        t, faces = self._detect(item)
        dt = self._clock() - t0
        self.busy_s += dt
        return item, t, faces, dt


class FrameTurns:
    """Hands the frames of a capture to ``n`` takers in turn, in capture order: taker ``k`` gets frames
    ``k, k + n, k + 2n, ...`` (the dispatch of :class:`LandmarkPool`; each taker is one worker's capture).

    A taker gets ``prepare(frame)``, called in capture order.  The end of the capture, or an exception from
    it, goes to the taker whose turn it was, and every other taker then gets the end (None), as after
    :meth:`end`.
    """

    def __init__(self, capture, n: int, prepare=lambda item: item) -> None:
        self._capture = capture
        self.n = n
        self._prepare = prepare
        self._cond = threading.Condition()
        self._turn = 0  # index of the next frame to take; its taker is _turn % n
        self._ended = False

    def taker(self, k: int) -> "Taker":
        return Taker(self, k)

    def end(self) -> None:
        """Every taker gets the end from now on (one waiting for its turn at once)."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def take(self, k: int, timeout: float):
        """Taker ``k``'s next frame, prepared (None at the end); :class:`TimeoutError` if its turn or the
        frame did not come within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if not self._cond.wait_for(lambda: self._ended or self._turn % self.n == k, timeout):
                raise TimeoutError(f"not taker {k}'s turn within {timeout} s")
            if self._ended:
                return None
        item = self._get(max(0.0, deadline - time.monotonic()))  # only taker k acts on k's turn: no lock held
        if item is None:
            return None
        prepared = self._prepare(item)
        with self._cond:
            self._turn += 1
            self._cond.notify_all()
        return prepared

    def _get(self, timeout: float):
        """The capture's next frame; its end and its errors end every taker."""
        try:
            item = self._capture.get(timeout=timeout)
        except TimeoutError:
            raise
        except BaseException:
            self.end()
            raise
        if item is None:
            self.end()
        return item


@dataclass(frozen=True)
class Taker:
    """Taker ``k`` of :class:`FrameTurns`, with a capture's ``get(timeout)``."""

    turns: FrameTurns
    k: int

    def get(self, timeout: float | None = None):
        return self.turns.take(self.k, LandmarkThread.CAPTURE_POLL_S if timeout is None else timeout)


class LandmarkPool:
    """The faces of captured frames found on ``len(detects)`` threads, each with its own landmarker, and
    delivered in capture order: :meth:`get` gives what :meth:`LandmarkThread.get` gives,
    ``(item, t, faces, seconds the landmarks took)``.

    The workers (:class:`LandmarkThread` s) take the capture's frames in turn (:class:`FrameTurns`): worker
    ``k`` takes frames ``k, k + n, ...``, so each landmarker sees strictly increasing timestamps, and
    :meth:`get` reads their results in the same turn.  ``time_of(item)`` gives a frame's media time (called
    in capture order, as the frame is taken); ``detects[k](image, t)`` finds the faces without track ids;
    ``track(faces, t)`` gives them their ids, in capture order on the thread that calls :meth:`get`, so the
    ids come from one tracker whichever landmarker found the faces.  At most ``depth`` results per worker
    wait for the processing loop; while they wait that worker takes no frame and the others wait for its
    turn, so the capture's own rule still decides what is dropped.  A worker's end or error ends the stream
    there, after the frames before it; then :meth:`get` gives None.
    """

    def __init__(self, capture, time_of, detects, track, clock=time.monotonic, depth: int = 1) -> None:
        self._time_of = time_of
        self._track = track
        self._turns = FrameTurns(capture, len(detects), prepare=self._timed)
        self.workers = [LandmarkThread(self._turns.taker(k), _untracked(detect), clock, depth=depth)
                        for k, detect in enumerate(detects)]
        self._next = 0
        self._over = False

    def _timed(self, item):
        return item, self._time_of(item)

    def start(self) -> "LandmarkPool":
        for w in self.workers:
            w.start()
        return self

    def get(self, timeout: float | None = None):
        """The next frame's ``(item, t, faces, landmarks_s)``; None at the end; raises a worker's error after
        the frames before it; :class:`TimeoutError` if nothing came within ``timeout`` seconds."""
        if self._over:
            return None
        try:
            got = self.workers[self._next % len(self.workers)].get(timeout)
        except TimeoutError:
            raise
        except BaseException:
            self._end()
            raise
        if got is None:
            self._end()
            return None
        self._next += 1
        (item, t), _, faces, dt = got
        return item, t, self._track(faces, t), dt

    def _end(self) -> None:
        self._over = True
        self._turns.end()

    @property
    def paused(self) -> bool:
        return self.workers[0].paused

    @paused.setter
    def paused(self, value: bool) -> None:
        for w in self.workers:
            w.paused = value

    @property
    def busy_s(self) -> float:
        """Seconds spent finding faces, summed over the workers."""
        return sum(w.busy_s for w in self.workers)

    @property
    def alive(self) -> bool:
        return any(w.alive for w in self.workers)

    def stop(self, timeout: float | None = 3.0) -> None:
        """End every worker (each after the frame it is on) and wait for them, up to ``timeout`` seconds in all."""
        self._turns.end()
        for w in self.workers:
            w.stop(timeout=0)  # all asked at once, then waited for
        deadline = None if timeout is None else time.monotonic() + timeout
        for w in self.workers:
            w.stop(None if deadline is None else max(0.0, deadline - time.monotonic()))


def _untracked(detect):
    """``detect(image, t)`` as a worker's :class:`LandmarkThread` calls it: ``(item, t) -> (t, faces)``."""

    def run(timed):
        item, t = timed
        return t, detect(item.image, t)

    return run


class LiveSession:
    """One run of the live loop over a :class:`~detector.stages.source.ThreadedCapture`.

    Parameters
    ----------
    capture : ThreadedCapture
        Started by :meth:`run`.
    landmarker, analyzer
        The pipeline stages (``analyzer`` as in ``analyze``).
    use_source_time : bool
        Drive the segmenter with the source's timestamps (files played as fast
        as possible) instead of the grab time.
    on_event : callable, optional
        Called with every event as it is found (the JSONL sink).
    recorder, window : optional
        Outputs; ``window`` None = headless.
    snapshot_dir : Path
        Where ``s`` writes PNG snapshots.
    more_landmarkers : sequence, optional
        Landmarkers besides ``landmarker`` (same options): the landmarks then run on ``1 + len(...)``
        threads, one landmarker each (:class:`LandmarkPool`); ``landmarker`` gives the track ids.
    check_rate : bool
        Warn (once, after 3 s) if the measured capture rate is below
        ``LIVE.min_good_fps`` (cameras that report a rate they don't deliver).
    between_frames : callable, optional
        Called before each frame is taken; what it raises ends the run there (the CLI's deferred Ctrl-C,
        so that a frame counted as processed is also in the recording and the event file).
    frame_size : (width, height), optional
        The source's frame size: the window then opens, with the overlay on a black frame, before the
        capture starts (opening it and the first drawing take 25-40 ms, which the first frames would wait).
    """

    def __init__(self, capture, landmarker, analyzer, *, use_source_time: bool, on_event=None,
                 recorder: Recorder | None = None, window: Window | None = None,
                 snapshot_dir: Path = Path("."), log=None, clock=time.monotonic,
                 probs_every_s: float = 1 / 15, check_rate: bool = False, between_frames=None,
                 more_landmarkers=(), frame_size: tuple[int, int] | None = None) -> None:
        self.capture = capture
        self.frame_size = frame_size
        self.landmarker = landmarker
        self.more_landmarkers = list(more_landmarkers)
        self.analyzer = analyzer
        self.use_source_time = use_source_time
        self.on_event = on_event
        self.recorder = recorder
        self.window = window
        self.snapshot_dir = Path(snapshot_dir)
        self.log = log or (lambda msg: print(f"microexpr: {msg}", file=sys.stderr, flush=True))
        self.clock = clock
        self.probs_every_s = probs_every_s
        seg = analyzer.config.segmenter
        self.threshold = float(getattr(seg, "region_active_z", 4.0))
        self.state = LiveState(calibration_s=float(getattr(seg, "calibration_s", 1.0)))
        self.overlay = Overlay(self.threshold, history=self.state.history.capacity)
        self.stats = LiveStats()
        self.events: list[Event] = []
        self._proc = RateMeter()
        self._t_origin: float | None = None
        self._last_probs_t = -math.inf
        self._last_frame: np.ndarray | None = None
        self._last_draw = -math.inf
        self._last_poll = -math.inf
        self._drop_warned = False
        self._last_report = 0.0
        self._last_dropped = 0
        self._t_start = 0.0
        self._seen: set[int] = set()
        self._stage: LandmarkThread | LandmarkPool | None = None
        self.check_rate = check_rate
        self.rate_warned = False
        self.between_frames = between_frames or (lambda: None)

    # -- events and state
    def _emit(self, events: list[Event], t: float) -> None:
        for e in events:
            self.events.append(e)
            self.state.add_event(e, t)
            if self.on_event is not None:
                self.on_event(e)

    def _update_probs(self, result, t: float) -> None:
        from detector.stages.features import estimate_au_deltas

        tid = self.state.primary
        if tid is None or tid not in result.features:
            self.state.probs = None
            return
        if t - self._last_probs_t < self.probs_every_s:
            return
        base = self.analyzer.baseline(tid)
        if base is None or not np.all(np.isfinite(base)):
            self.state.probs = None
            return
        self._last_probs_t = t
        delta = estimate_au_deltas(result.features[tid].channels - base)
        self.state.probs = self.analyzer.classifier.predict(delta)

    def _update_state(self, result, t: float) -> None:
        st = self.state
        st.now = t
        st.faces = result.faces
        ids = sorted(result.features)
        if ids and st.primary not in result.features:
            if ids[0] not in self._seen:  # a new face: its segmenter starts by calibrating
                st.calib_start = t
            st.primary = ids[0]
        self._seen.update(ids)
        cal = None if st.primary is None else self.analyzer.calibrating(st.primary)
        if cal is None:  # the pipeline can't tell: time it from the track's start or the last 'c'
            cal = st.calib_start is not None and t - st.calib_start < st.calibration_s
        elif cal and not st.calibrating:
            st.calib_start = t  # the segmenter (re)started calibrating (new face, long gap)
        st.calibrating = bool(cal)
        act = self.analyzer.activation(st.primary) if st.primary in result.features else None
        st.history.push(act)
        self._update_probs(result, t)

    def _status(self) -> Status:
        lat = self.stats.latency[-1] * 1000.0 if len(self.stats.latency) else math.nan
        return Status(self.capture.capture_fps, self._proc.rate, lat, self.capture.dropped, self.state.paused)

    # -- actions
    def apply(self, action: Action | None) -> bool:
        """Carry out a key action; returns False when the loop should stop."""
        st = self.state
        if action is None:
            return True
        if action is Action.QUIT:
            self.stats.quit_by_user = True
            return False
        if action is Action.PAUSE:
            st.paused = not st.paused
            if self._stage is not None:
                self._stage.paused = st.paused
            self.log("paused (space resumes)" if st.paused else "resumed")
            if st.paused and self._last_frame is not None and self.window is not None:
                self._show_paused()
        elif action is Action.LANDMARKS:
            st.show_landmarks = not st.show_landmarks
        elif action is Action.CALIBRATE:
            self.analyzer.recalibrate()
            st.calib_start = st.now
            st.calibrating = True
            self.log("recalibrating the neutral baseline: hold a neutral face")
        elif action is Action.SNAPSHOT:
            self.snapshot()
        return True

    def snapshot(self) -> Path | None:
        import cv2

        if self._last_frame is None:
            self.log("nothing to snapshot yet (no frame processed)")
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.snapshot_dir / f"microexpr-{stamp}-{len(self.stats.snapshots) + 1:03d}.png"
        if not cv2.imwrite(str(path), self._last_frame):
            self.log(f"warning: could not write snapshot {path}")
            return None
        self.stats.snapshots.append(path)
        self.log(f"snapshot {path}")
        return path

    def _show_paused(self) -> None:
        frame = self._last_frame.copy()
        self.overlay.status.annotate(frame, self._status())
        self.window.show(frame)

    # -- loop
    def step(self, item) -> None:
        """Process one captured frame: landmarks, pipeline, state, overlay, outputs (all on this thread)."""
        t_start = self.clock()
        t, faces = self._landmarks(item)
        self._process(item, t, faces, self.clock() - t_start)

    def _landmarks(self, item) -> tuple[float, list]:
        """The media time of a captured frame and the faces in it (run on the landmark thread by :meth:`run`)."""
        t = self._time_of(item)
        return t, self.landmarker.detect(item.image, t)

    def _time_of(self, item) -> float:
        """The media time of a captured frame (called in capture order)."""
        if self._t_origin is None:
            self._t_origin = item.grab_time
        return item.timestamp if self.use_source_time else item.grab_time - self._t_origin

    def _landmark_stage(self) -> LandmarkThread | LandmarkPool:
        """The landmark thread, or with more landmarkers one thread per landmarker."""
        if not self.more_landmarkers:
            return LandmarkThread(self.capture, self._landmarks, self.clock, depth=LIVE.landmark_queue)
        detects = [lm.detect_untracked for lm in (self.landmarker, *self.more_landmarkers)]
        return LandmarkPool(self.capture, self._time_of, detects, self.landmarker.track, self.clock,
                            depth=LIVE.landmark_queue)

    def _process(self, item, t: float, faces: list, landmarks_s: float) -> None:
        """The rest of :meth:`step` for a frame whose faces are known (found in ``landmarks_s`` seconds):
        pipeline, state, overlay, outputs."""
        t0 = self.clock()
        result = self.analyzer.step(self.stats.run.frames, t, faces)
        t_result = self.clock()
        st = self.stats
        st.latency.append(t_result - item.grab_time)
        st.run.count(t, faces)
        self._emit(result.events, t)
        self._update_state(result, t)
        self._proc.tick(t_result)
        if self.recorder is not None or self._due(t_result):
            self._draw(item.image)
        rest = self.clock() - t0
        st.busy_s += landmarks_s + rest
        st.main_s += rest

    def _due(self, now: float) -> bool:
        """Whether the display wants a new picture (at most ``LIVE.display_hz`` a second)."""
        if now - self._last_draw < 1.0 / LIVE.display_hz:
            return False
        self._last_draw = now
        return True

    def _draw(self, frame: np.ndarray) -> None:
        """The overlay on ``frame``, shown and recorded."""
        t0 = self.clock()
        self.overlay.annotate(frame, self.state.overlay_state(self._status()))
        self.stats.overlay.append(self.clock() - t0)
        self._last_frame = frame
        if self.recorder is not None:
            self.recorder.write(frame)
        if self.window is not None:
            self.window.show(frame)

    def _open_window(self) -> int:
        """Open the window on a black frame of the source's size, overlay drawn, before the first frame.
        Returns the key read while it opened (-1: none), for the caller to act on: a key pressed as soon
        as the window appeared is not lost."""
        if self.window is None or self.frame_size is None:
            return -1
        w, h = self.frame_size
        frame = np.zeros((h, w, 3), np.uint8)
        self.overlay.annotate(frame, self.state.overlay_state(self._status()))
        self.window.show(frame)
        self._last_frame = frame  # what the window shows: a pause or a snapshot before the first frame uses it
        return self.window.poll(1)

    def _poll_due(self) -> bool:
        """Keys and window events are read at the display rate (each read waits at least 1 ms), always
        while paused."""
        now = self.clock()
        if not self.state.paused and now - self._last_poll < 1.0 / LIVE.display_hz:
            return False
        self._last_poll = now
        return True

    def _check_drops(self, now: float) -> None:
        """Warn once when frames start being dropped; log the running counts every 5 s."""
        d = self.capture.dropped
        if d and not self._drop_warned:
            self._drop_warned = True
            self.log("warning: processing is slower than the source, so frames are being dropped "
                     "(the newest frame is always processed; timestamps stay exact)")
        if not self.rate_warned and self.check_rate and now - self._t_start >= 3.0:
            # cameras often deliver less than they report: judge by what actually arrives
            self.rate_warned = True
            fps = self.capture.capture_fps
            if 0 < fps < LIVE.min_good_fps:
                self.log(rate_warning(fps, measured=True))
        if now - self._last_report >= 5.0:
            self._last_report = now
            s = self._status()
            if self.window is None:
                lat = "-" if not math.isfinite(s.latency_ms) else f"{s.latency_ms:.1f} ms"
                self.log(f"{self.stats.run.frames} frames processed, capture {s.capture_fps:.1f} fps, "
                         f"processing {s.processing_fps:.1f} fps, latency {lat}, dropped {d}")
            elif d != self._last_dropped:
                self.log(f"{d} frames dropped so far ({self.stats.run.frames} processed)")
            self._last_dropped = d

    def run(self) -> LiveStats:
        """Until the source ends, the user quits or the window is closed.

        Raises whatever ended the source (e.g. a camera unplugged) after the
        frames grabbed before it were processed; Ctrl-C propagates as
        ``KeyboardInterrupt``.  Either way the caller closes the outputs; the
        events still open are flushed by :meth:`finish`.
        """
        t_wall = self.clock()
        self._last_report = self._t_start = t_wall
        stage = self._stage = self._landmark_stage()
        try:
            go_on = self.apply(key_action(self._open_window()))
            self.capture.start()
            stage.start()
            while go_on:
                self.between_frames()
                if self.window is not None and self._poll_due():
                    if not self.apply(key_action(self.window.poll(1))):
                        break
                    if self.window.closed:
                        self.stats.quit_by_user = True
                        break
                if self.state.paused:
                    if not self.capture.lossless:
                        self.stats.skipped_paused += self.capture.skip_pending()
                    if self.window is None:
                        time.sleep(0.01)
                    continue
                try:
                    got = stage.get(timeout=0.1)
                except TimeoutError:
                    continue
                if got is None:
                    break
                self._process(*got)
                self._check_drops(self.clock())
        finally:
            stage.stop(timeout=10.0)  # the frame it is on is finished first: the caller closes the landmarker next
            self.capture.stop()
            self.stats.wall_s = self.clock() - t_wall
            self.stats.dropped = self.capture.dropped
            self.stats.grabbed = self.capture.grabbed
            self.stats.capture_fps = self.capture.capture_fps
            self.stats.lossless = self.capture.lossless
            self.stats.landmarks_s = stage.busy_s
            self.stats.landmark_threads = 1 + len(self.more_landmarkers)
        return self.stats

    def finish(self) -> list[Event]:
        """Flush the events still open at the end of the run (passed to ``on_event`` too)."""
        evs = self.analyzer.finish()
        self._emit(evs, self.state.now)
        return evs


# --------------------------------------------------------------------------- CLI


def add_arguments(p) -> None:
    """The ``live`` subcommand's options."""
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, metavar="INDEX", default=None,
                     help="camera number (default 0, the first camera)")
    src.add_argument("--source", metavar="FILE", help="play a video file as if it were a camera")
    p.add_argument("--as-fast-as-possible", action="store_true",
                   help="with --source: process every frame as fast as possible instead of at the file's own "
                        "rate (no drops; with --landmark-threads 1 the results equal `microexpr analyze`)")
    p.add_argument("--width", type=int, metavar="W", help="camera frame width to ask for, pixels")
    p.add_argument("--height", type=int, metavar="H", help="camera frame height to ask for, pixels")
    p.add_argument("--fps", type=float, default=120.0, metavar="F",
                   help="camera frame rate to ask for (default 120; MJPG is requested where offered)")
    p.add_argument("--record", metavar="OUT.mp4", help="write the overlaid video (mp4v)")
    p.add_argument("--events", metavar="OUT.jsonl", help="write events as JSON lines, as in `analyze -o`")
    p.add_argument("--no-window", action="store_true", help="run headless (servers, tests)")
    p.add_argument("--snapshot-dir", metavar="DIR", default=".", help="where `s` writes PNG snapshots (default .)")
    p.add_argument("--config", metavar="TOML", help="settings overriding configs/default.toml")
    p.add_argument("--max-faces", type=int, metavar="N", help="faces to track (default from config: 1)")
    p.add_argument("--landmark-threads", type=int, metavar="N", default=LIVE.landmark_threads,
                   help=f"MediaPipe landmarkers, each on its own thread and given every N-th frame (default "
                        f"{LIVE.landmark_threads}; 1: one landmarker sees every frame, slightly smoother "
                        f"landmarks, lower capacity)")
    p.add_argument("--include-blinks", action="store_true", help="also report blink events (kind 'blink')")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary at the end")


def _fmt_ms(s: float) -> str:
    return "-" if not math.isfinite(s) else f"{1000.0 * s:.1f} ms"


def _per_s(n: int, seconds: float) -> str:
    return f"{n / seconds:.1f} fps" if seconds > 0 else "-"


def summary_table(stats: LiveStats, summary) -> str:
    """The end-of-run table: the analyze summary plus the live numbers."""
    n = stats.run.frames
    busy = stats.busy_s / n if n else math.nan
    if n and stats.landmarks_s > 0:  # landmarks on their own thread(s): the slower stage sets the pace
        lm, rest, k = stats.landmarks_s / n, stats.main_s / n, stats.landmark_threads
        where = "on their own thread" if k == 1 else f"on {k} threads"
        work = (f"per-frame work    {_fmt_ms(busy)} mean: landmarks {_fmt_ms(lm)} {where}, the rest "
                f"{_fmt_ms(rest)} (capacity {1.0 / max(lm / k, rest):.1f} fps)")
    elif busy > 0:
        work = f"per-frame work    {_fmt_ms(busy)} mean (capacity {1.0 / busy:.1f} fps)"
    else:
        work = "per-frame work    -"
    lines = [
        summary.table().rstrip("\n"),
        f"frames grabbed    {stats.grabbed} (capture {stats.capture_fps:.1f} fps at the end)",
        f"frames dropped    {stats.dropped}"
        + (f" ({100.0 * stats.dropped / stats.grabbed:.1f} %)" if stats.grabbed else "")
        + (f", {stats.skipped_paused} skipped while paused" if stats.skipped_paused else ""),
        work,
        f"latency           grab -> result p50 {_fmt_ms(stats.percentile('latency', 50))}, "
        f"p95 {_fmt_ms(stats.percentile('latency', 95))}"
        + (" (includes waiting in the as-fast-as-possible queue)" if stats.lossless else ""),
        f"overlay drawing   p50 {_fmt_ms(stats.percentile('overlay', 50))}, "
        f"p95 {_fmt_ms(stats.percentile('overlay', 95))}",
        f"rates             capture {stats.capture_fps:.1f} fps, processed {_per_s(stats.run.frames, stats.wall_s)}, "
        f"drawn {_per_s(len(stats.overlay), stats.wall_s)}",
    ]
    return "\n".join(lines) + "\n"


def _open_source(args):
    """The frame source named by the arguments (a seam for tests)."""
    from detector.stages.source import CameraSource, VideoFileSource

    if args.source:
        return VideoFileSource(args.source)
    index = 0 if args.camera is None else args.camera
    return CameraSource(index, width=args.width, height=args.height, fps=args.fps)


def run(args) -> int:
    """Run ``microexpr live``; returns the exit code.  User errors raise the CLI's one-line error types."""
    from detector.app.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, SIGNALS, CliError, config_from_args, warn
    from detector.app.sinks import JsonlEventSink, Summary
    from detector.run.pipeline import Analyzer
    from detector.stages.landmarks import Landmarker
    from detector.stages.source import SourceError, ThreadedCapture

    def info(msg: str) -> None:
        print(f"microexpr: {msg}", file=sys.stderr, flush=True)

    if args.as_fast_as_possible and not args.source:
        raise CliError("--as-fast-as-possible needs --source FILE (a camera delivers at its own rate)")
    if args.source and (args.width or args.height):
        warn("--width/--height apply to cameras only; ignored with --source")
    for name in ("width", "height"):
        v = getattr(args, name)
        if v is not None and v <= 0:
            raise CliError(f"--{name} must be a positive number of pixels")
    from detector.stages.source import fps_problem

    if fps_problem(args.fps):
        raise CliError(f"--fps {fps_problem(args.fps)}")
    if args.landmark_threads < 1:
        raise CliError("--landmark-threads must be at least 1")
    snap = Path(args.snapshot_dir)
    if not snap.is_dir():
        raise CliError(f"--snapshot-dir {snap}: no such folder")
    cfg = config_from_args(args)
    from detector.app.sinks import check_output

    outs = [o for o in (args.events, args.record) if o]
    for o in outs:  # before anything is opened: an output is never the input
        check_output(o, inputs=(args.source,) if args.source else ())
    if len(outs) == 2 and Path(outs[0]).resolve() == Path(outs[1]).resolve():
        raise CliError("--events and --record name the same file")

    source = _open_source(args)
    recorder = sink = window = None
    summary = Summary(source=source.name)
    session = None
    interrupted = False
    failure: BaseException | None = None
    try:
        w, h = source.size
        if args.source:
            mode = "as fast as possible" if args.as_fast_as_possible else "paced at its own rate"
            info(f"{source.name}: {w}x{h} at {source.nominal_fps:.3g} fps, {mode}")
        else:
            info(f"{source.describe()} (asked {args.width or '-'}x{args.height or '-'} at {args.fps:g} fps)")
        rate_warned = bool(source.nominal_fps and source.nominal_fps < LIVE.min_good_fps)
        if rate_warned:
            info(rate_warning(source.nominal_fps))
        if args.events:
            sink = JsonlEventSink(args.events)
        if args.record:
            recorder = Recorder(args.record, source.nominal_fps)
        if not args.no_window:
            window = Window()
        capture = ThreadedCapture(source, lossless=bool(args.as_fast_as_possible), queue_size=2,
                                  pace=bool(args.source) and not args.as_fast_as_possible)

        def on_event(e: Event) -> None:
            summary.add_event(e)
            if sink is not None:
                sink.write(e)

        with Landmarker(cfg.landmarks) as lm, contextlib.ExitStack() as more:  # every landmarker closed
            others = [more.enter_context(Landmarker(cfg.landmarks)) for _ in range(args.landmark_threads - 1)]
            if source.first_image is not None:  # MediaPipe's start-up here, not on the first live frames
                for landmarker in (lm, *others):
                    landmarker.warm_up(source.first_image)
            analyzer = Analyzer(cfg)
            analyzer.warm_up()  # numba compiles here, not on the first live frame
            session = LiveSession(capture, lm, analyzer, use_source_time=bool(args.as_fast_as_possible),
                                  on_event=on_event, recorder=recorder, window=window, snapshot_dir=snap, log=info,
                                  check_rate=not args.source, between_frames=SIGNALS.check, more_landmarkers=others,
                                  frame_size=(w, h))
            session.rate_warned = rate_warned
            try:
                with SIGNALS.deferred():  # Ctrl-C ends the run between frames, every output whole
                    session.run()
            except KeyboardInterrupt:
                interrupted = True
            except (SourceError, OSError) as e:  # the camera/file failed mid-run: keep what was found
                failure = e
            finally:
                try:
                    session.finish()
                except Exception:  # noqa: BLE001 - never lose the files over a flush
                    pass
    except KeyboardInterrupt:
        interrupted = True
    finally:
        source.close()
        if window is not None:
            window.close()
        if sink is not None:  # a run that never started (recorder, window, model failed) leaves it as it was
            sink.close() if session is not None else sink.discard()
        if recorder is not None:
            recorder.close()

    if session is not None:
        st = session.stats
        no_face = summary.record_run(st.run.frames, st.run.frames_with_face, st.run.tracks, st.wall_s, st.run.media_seconds,
                                     interrupted)
        if not args.quiet:
            print(summary_table(st, summary), end="", flush=True)
        if no_face:
            warn(no_face)
    if failure is not None:
        msg = str(failure).strip() or type(failure).__name__
        raise CliError(f"{msg} (files written so far are complete)", code=EXIT_ERROR)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK
