"""The live loop's landmarks on several threads (``detector.app.live.LandmarkPool``): capture order, one
tracker for the ids, errors after the frames before them, pause and stop, and one thread as before."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from detector.app.live import LandmarkPool, LandmarkThread, LiveSession
from detector.stages.landmarks import FaceTracker, Landmarker
from detector.stages.source import Frame, SourceError, ThreadedCapture
from test_live import FakeAnalyzer, NoFaces


def _wait_until(pred, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.001)


def _frames(n: int, fps: float = 100.0):
    """Frame ``k`` at ``k / fps`` s, its image filled with ``k`` (so a landmarker can tell which it got)."""
    for k in range(n):
        yield Frame(k, k / fps, np.full((4, 6, 3), k % 256, np.uint8))


def _face(x: float, k: int):
    """A raw face (landmarks, blendshapes, transform) centred near ``x`` px; its blendshapes carry frame ``k``."""
    pts = np.zeros((478, 3), np.float32)
    pts[:, 0] = x + np.linspace(0.0, 80.0, 478)
    pts[:, 1] = 200.0
    return pts, np.full(52, k, np.float32), np.eye(4, dtype=np.float32)


class SlowFakeLandmarker:
    """``detect_untracked`` sleeps a random 0-3 ms and finds two faces (left, right) moving slowly right;
    ``swapped`` lists them right first (MediaPipe instances need not agree on the order).  ``fail_at``:
    raises on that frame.  ``jitter=False``: sleeps exactly ``sleep_s``."""

    def __init__(self, seed: int, swapped: bool = False, fail_at: int | None = None, sleep_s: float = 0.003,
                 jitter: bool = True) -> None:
        self.rng = random.Random(seed)
        self.swapped, self.fail_at, self.sleep_s, self.jitter = swapped, fail_at, sleep_s, jitter
        self.seen: list[float] = []  # the timestamps it was given
        self.inside = 0  # detect calls under way
        self.finished = 0  # detect calls returned

    def detect_untracked(self, image, t):
        self.inside += 1
        try:
            time.sleep(self.rng.uniform(0.0, self.sleep_s) if self.jitter else self.sleep_s)
            k = int(image[0, 0, 0])
            if k == self.fail_at:
                raise RuntimeError(f"landmarker failed on frame {k}")
            self.seen.append(t)
            faces = [_face(100.0 + 0.2 * k, k), _face(400.0 + 0.2 * k, k)]
            return faces[::-1] if self.swapped else faces
        finally:
            self.inside -= 1
            self.finished += 1


class OneTracker:
    """The id tracking of a :class:`Landmarker` without MediaPipe; ``times`` lists the calls' timestamps."""

    def __init__(self) -> None:
        self._tracker = FaceTracker()
        self.times: list[float] = []

    def track(self, faces, timestamp):
        self.times.append(timestamp)
        return Landmarker.track(self, faces, timestamp)


def _pool(frames, lms, tracker=None, depth: int = 1):
    cap = ThreadedCapture(frames, lossless=True).start()
    tracker = tracker or OneTracker()
    pool = LandmarkPool(cap, lambda item: item.timestamp, [lm.detect_untracked for lm in lms], tracker.track,
                        depth=depth)
    return cap, pool


@pytest.mark.parametrize("n", [2, 3])
def test_frames_come_in_capture_order_each_once_with_ids_from_one_tracker(n):
    lms = [SlowFakeLandmarker(seed=k, swapped=k % 2 == 1) for k in range(n)]
    tracker = OneTracker()
    cap, pool = _pool(_frames(120), lms, tracker)
    pool.start()
    got = []
    try:
        while (entry := pool.get(timeout=10)) is not None:
            got.append(entry)
    finally:
        pool.stop()
        cap.stop()
    assert [item.index for item, *_ in got] == list(range(120))
    for item, t, faces, dt in got:
        assert t == item.timestamp and dt >= 0
        assert [int(f.blendshapes[0]) for f in faces] == [item.index] * 2  # each frame's own faces
        assert [f.track_id for f in faces] == [0, 1]  # one tracker: the left face is 0 whoever found it
        assert faces[0].landmarks[0, 0] < faces[1].landmarks[0, 0]
    assert tracker.times == [item.timestamp for item, *_ in got]  # tracked in capture order
    for k, lm in enumerate(lms):  # worker k got frames k, k + n, ...: strictly increasing times per landmarker
        assert lm.seen == [i / 100.0 for i in range(k, 120, n)]
    assert pool.busy_s == pytest.approx(sum(w.busy_s for w in pool.workers)) and pool.busy_s > 0
    assert not pool.alive and pool.get(timeout=1) is None


def test_a_landmarker_error_comes_after_the_frames_before_it_then_the_end():
    lms = [SlowFakeLandmarker(seed=0), SlowFakeLandmarker(seed=1, fail_at=7)]
    cap, pool = _pool(_frames(100), lms)
    pool.start()
    got = []
    try:
        with pytest.raises(RuntimeError, match="failed on frame 7"):
            while True:
                got.append(pool.get(timeout=10)[0].index)
        assert pool.get(timeout=1) is None and pool.get(timeout=1) is None
    finally:
        pool.stop(timeout=5)
        cap.stop()
    assert got == list(range(7))
    assert not pool.alive


@pytest.mark.parametrize("n", [2, 3])
def test_a_source_error_comes_after_the_frames_before_it(n):
    def failing():
        yield from _frames(8)
        raise SourceError("camera 3 stopped delivering frames")

    cap, pool = _pool(failing(), [SlowFakeLandmarker(seed=k) for k in range(n)])
    pool.start()
    got = []
    try:
        with pytest.raises(SourceError, match="stopped delivering"):
            while True:
                got.append(pool.get(timeout=10)[0].index)
        assert pool.get(timeout=1) is None
    finally:
        pool.stop(timeout=5)
        cap.stop()
    assert got == list(range(8))


def test_paused_takes_nothing_and_results_waiting_stop_taking():
    n = 2
    cap, pool = _pool(_frames(200), [SlowFakeLandmarker(seed=k, sleep_s=0.0) for k in range(n)])
    pool.paused = True
    pool.start()
    time.sleep(0.2)
    assert cap.delivered == 0 and pool.paused  # nothing taken while paused
    pool.paused = False
    assert pool.get(timeout=5)[0].index == 0
    # the loop takes nothing more: each worker holds one result in its queue and one in hand, then waits
    _wait_until(lambda: cap.delivered == 1 + 2 * n)
    time.sleep(0.1)
    assert cap.delivered == 1 + 2 * n
    pool.stop(timeout=5)
    assert not pool.alive
    cap.stop()


def test_stop_while_every_worker_is_busy_finishes_the_frames_in_flight():
    lms = [SlowFakeLandmarker(seed=k, sleep_s=0.3, jitter=False) for k in range(3)]
    cap, pool = _pool(_frames(50), lms)
    pool.start()
    _wait_until(lambda: all(lm.inside == 1 for lm in lms))
    pool.stop(timeout=10)
    assert not pool.alive
    assert all(lm.inside == 0 and lm.finished == 1 for lm in lms)  # in flight finished, no new frame taken
    cap.stop()


def test_live_session_with_more_landmarkers_processes_every_frame_in_order():
    class Tracked(SlowFakeLandmarker):
        track = OneTracker.track

        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self._tracker, self.times = FaceTracker(), []

    lms = [Tracked(seed=k, swapped=k == 1) for k in range(3)]
    an = FakeAnalyzer()
    cap = ThreadedCapture(list(_frames(60)), lossless=True)
    s = LiveSession(cap, lms[0], an, use_source_time=True, log=lambda m: None, more_landmarkers=lms[1:])
    stats = s.run()
    assert isinstance(s._stage, LandmarkPool) and len(s._stage.workers) == 3
    assert an.calls == [(k, k / 100.0) for k in range(60)]
    assert lms[0].times == [k / 100.0 for k in range(60)]  # the first landmarker's tracker gives every id
    assert lms[1].times == lms[2].times == []
    assert stats.run.frames == 60 and stats.landmark_threads == 3 and stats.landmarks_s > 0


def test_one_landmarker_is_the_single_landmark_thread_as_before():
    an = FakeAnalyzer()
    s = LiveSession(ThreadedCapture(list(_frames(30)), lossless=True), NoFaces(), an, use_source_time=True,
                    log=lambda m: None)
    stats = s.run()
    assert type(s._stage) is LandmarkThread  # NoFaces has detect() only: the pool would fail
    assert an.calls == [(k, k / 100.0) for k in range(30)]
    assert stats.landmark_threads == 1

