"""The reader thread of ``analyze`` (issue 18): a lossless ``ThreadedCapture`` decoding ahead; same frames, same
errors, and a clean stop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector.stages.source import Frame, SourceError, ThreadedCapture, VideoFileSource

CLIP = Path(__file__).parent / "data" / "single_face.mp4"


def test_decode_ahead_gives_the_same_frames():
    with VideoFileSource(CLIP) as a, VideoFileSource(CLIP, decode_ahead=3) as b:
        fa, fb = list(a), list(b)
    assert len(fa) == len(fb) > 0
    for x, y in zip(fa, fb):
        assert isinstance(y, Frame)
        assert (x.index, x.timestamp) == (y.index, y.timestamp) and np.array_equal(x.image, y.image)


def test_close_in_the_middle_stops_the_reader():
    src = VideoFileSource(CLIP, decode_ahead=2)
    it = iter(src)
    next(it)
    reader = src._reader
    src.close()  # the thread is stopped before the capture is released
    assert src._reader is None and not reader.alive


def _frames(n: int, error: bool = False):
    for k in range(n):
        yield Frame(k, k / 30.0, np.zeros((2, 2, 3), np.uint8))
    if error:
        raise SourceError("truncated")


def test_an_error_reaches_the_consumer_after_the_items_before_it():
    got = []
    with pytest.raises(SourceError, match="truncated"):
        for x in ThreadedCapture(_frames(2, error=True), lossless=True, queue_size=1).start():
            got.append(x.index)
    assert got == [0, 1]


def test_stop_closes_a_generator_source_once_the_thread_has_ended():
    gen = _frames(100)
    cap = ThreadedCapture(gen, lossless=True, queue_size=2).start()
    assert cap.get(timeout=5).index == 0
    cap.stop(timeout=None)
    assert not cap.alive
    assert gen.gi_frame is None  # closed: the decoder's finally blocks have run
