"""The reader thread of ``analyze`` (issue 18): same frames, same errors, and a clean stop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector.stages.source import ReaderThread, VideoFileSource

CLIP = Path(__file__).parent / "data" / "single_face.mp4"


def test_decode_ahead_gives_the_same_frames():
    with VideoFileSource(CLIP) as a, VideoFileSource(CLIP, decode_ahead=3) as b:
        fa, fb = list(a), list(b)
    assert len(fa) == len(fb) > 0
    for x, y in zip(fa, fb):
        assert (x.index, x.timestamp) == (y.index, y.timestamp) and np.array_equal(x.image, y.image)


def test_close_in_the_middle_stops_the_reader():
    src = VideoFileSource(CLIP, decode_ahead=2)
    it = iter(src)
    next(it)
    src.close()  # the thread is stopped before the capture is released
    assert src._reader is None


def test_an_error_reaches_the_consumer_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise ValueError("truncated")

    got = []
    with pytest.raises(ValueError, match="truncated"):
        for x in ReaderThread(items(), 1):
            got.append(x)
    assert got == [1, 2]
