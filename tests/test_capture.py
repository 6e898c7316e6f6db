"""The live capture thread: newest-frame-wins drops, exact grab timestamps, pacing, failures.

Timing is made deterministic with a fake clock (and, for pacing, a fake
sleep that advances it): no assertion depends on how fast this machine is.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from detector.stages.source import Frame, SourceError, ThreadedCapture, _fourcc_text
from fake_sources import BurstCamera


def _image(k: int) -> np.ndarray:
    return np.full((4, 6, 3), k % 256, np.uint8)


def _wait_until(pred, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.001)


def test_slow_consumer_drops_older_frames_and_keeps_grab_times():
    cam = BurstCamera(n=60, burst=4)
    cap = ThreadedCapture(cam, clock=cam.clock).start()
    got = []
    try:
        for b in range(cam.n // cam.burst):
            cam.go.release()  # the camera delivers 4 frames while the consumer is "busy"
            _wait_until(lambda: cap.grabbed == (b + 1) * cam.burst)
            got.append(cap.get(timeout=5))
        assert cap.get(timeout=5) is None  # end of stream
    finally:
        cap.stop()
    # the newest frame of each burst was delivered, the 3 older ones dropped
    assert [g.seq for g in got] == [(b + 1) * cam.burst - 1 for b in range(cam.n // cam.burst)]
    assert cap.dropped == cam.n - len(got)
    assert cap.delivered == len(got)
    for g in got:
        # the timestamp of a delivered frame is the time it was grabbed, not a count of delivered frames
        assert g.grab_time == pytest.approx(g.seq / cam.fps, abs=1e-12)
        assert g.timestamp == pytest.approx(g.seq / cam.fps, abs=1e-12)
        assert int(g.image[0, 0, 0]) == g.seq % 256  # the image travels with its own stamp


def test_capture_fps_from_grab_times():
    cam = BurstCamera(n=40, burst=40, fps=120.0)
    cap = ThreadedCapture(cam, clock=cam.clock).start()
    cam.go.release()
    _wait_until(lambda: cap.grabbed == 40)
    assert cap.capture_fps == pytest.approx(120.0, rel=1e-6)
    cap.stop()


def test_lossless_mode_delivers_every_frame_in_order():
    frames = [Frame(k, 0.1 * k, _image(k)) for k in range(50)]
    with ThreadedCapture(frames, lossless=True, queue_size=2) as cap:
        got = []
        while (item := cap.get(timeout=5)) is not None:
            got.append(item)
            time.sleep(0.0005 if len(got) < 5 else 0)  # a slow consumer at first: the producer must wait
    assert [g.index for g in got] == list(range(50))
    assert [g.timestamp for g in got] == [f.timestamp for f in frames]
    assert cap.dropped == 0


def test_pacing_releases_frames_at_the_source_rate():
    clock = {"t": 100.0}

    def now() -> float:
        return clock["t"]

    def sleep(dt: float) -> None:
        clock["t"] += dt

    pts = [0.5, 0.54, 0.58, 0.7, 0.71]  # variable frame rate, seconds
    frames = [Frame(k, p, _image(k)) for k, p in enumerate(pts)]
    with ThreadedCapture(frames, lossless=True, pace=True, clock=now, sleep=sleep) as cap:
        got = []
        while (item := cap.get(timeout=5)) is not None:
            got.append(item)
    grabs = np.array([g.grab_time for g in got])
    np.testing.assert_allclose(grabs - grabs[0], np.array(pts) - pts[0], atol=1e-9)


class FailingSource:
    """Yields ``n`` frames, then fails like an unplugged camera."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        for k in range(self.n):
            yield Frame(k, k / 30, _image(k))
        raise SourceError("camera 0 stopped delivering frames (unplugged, or taken by another program)")


def test_failure_is_raised_after_the_frames_before_it():
    with ThreadedCapture(FailingSource(7), lossless=True) as cap:
        got = []
        with pytest.raises(SourceError, match="stopped delivering"):
            while True:
                item = cap.get(timeout=5)
                assert item is not None, "a failed source must not look like a clean end"
                got.append(item.index)
    assert got == list(range(7))


def test_failure_in_live_mode_ends_the_stream_with_the_error():
    with ThreadedCapture(FailingSource(3)) as cap:
        _wait_until(lambda: cap.finished or cap.grabbed == 3)
        with pytest.raises(SourceError):
            for _ in range(5):
                assert cap.get(timeout=5) is not None


def test_get_times_out_when_the_source_is_silent():
    gate = threading.Event()

    def silent():
        gate.wait(10)
        yield from ()

    cap = ThreadedCapture(silent()).start()
    with pytest.raises(TimeoutError):
        cap.get(timeout=0.05)
    gate.set()
    cap.stop()


def test_stop_unblocks_a_producer_waiting_on_a_full_queue():
    frames = (Frame(k, k / 30, _image(k)) for k in range(1000))
    cap = ThreadedCapture(frames, lossless=True, queue_size=2).start()
    _wait_until(lambda: cap.grabbed == 2)
    cap.stop(timeout=5)
    assert not cap.alive
    assert cap.grabbed == 2


def test_skip_pending_discards_waiting_frames():
    cam = BurstCamera(n=4, burst=4)
    cap = ThreadedCapture(cam, clock=cam.clock).start()
    cam.go.release()
    _wait_until(lambda: cap.grabbed == 4)
    assert cap.skip_pending() == 1  # the mailbox holds only the newest
    assert cap.get(timeout=5) is None
    cap.stop()


def test_fourcc_text():
    import cv2

    assert _fourcc_text(cv2.VideoWriter_fourcc(*"MJPG")) == "MJPG"
    assert _fourcc_text(0) == "?"
