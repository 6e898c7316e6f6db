"""The landmarker's direct read of MediaPipe's C result gives exactly what its public Python API gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detector.run.config import load_config
from detector.stages.landmarks import Landmarker
from detector.stages.source import open_source

CLIP = Path(__file__).parent / "data" / "WolfgangLanger_Pexels.mp4"


def _run(fast: bool, frames, options):
    with Landmarker(options, fast_results=fast) as lm:
        assert (lm._read is not None) == fast
        return [lm.detect(f.image, f.timestamp) for f in frames]


def test_fast_result_reader_is_bit_identical_to_public_api():
    options = load_config().landmarks
    with open_source(CLIP) as src:
        frames = [f for _, f in zip(range(40), src)]
    fast, public = _run(True, frames, options), _run(False, frames, options)
    assert sum(len(x) for x in fast) == len(frames)  # a face in every frame of this clip
    for a, b in zip(fast, public):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert x.track_id == y.track_id
            for name in ("landmarks", "blendshapes", "transform"):
                u, v = getattr(x, name), getattr(y, name)
                assert u.dtype == v.dtype == np.float32 and u.shape == v.shape
                assert np.array_equal(u, v), name
            assert x.landmarks.shape == (478, 3) and x.blendshapes.shape == (52,) and x.transform.shape == (4, 4)


def test_untracked_detection_plus_tracking_is_detect():
    options = load_config().landmarks
    with open_source(CLIP) as src:
        frames = [f for _, f in zip(range(10), src)]
    with Landmarker(options) as a, Landmarker(options) as b:
        for f in frames:
            ref = a.detect(f.image, f.timestamp)
            got = b.track(b.detect_untracked(f.image, f.timestamp), f.timestamp)
            assert [o.track_id for o in got] == [o.track_id for o in ref]
            assert all(np.array_equal(x.landmarks, y.landmarks) for x, y in zip(got, ref))


def test_a_warmed_up_landmarker_still_finds_the_first_frame_at_time_zero():
    """The live view warms MediaPipe up on the source's first frame at media time 0; the same frame found
    again at time 0 must not be refused for a non-increasing timestamp, and ids start at the first face."""
    options = load_config().landmarks
    with open_source(CLIP) as src:
        first = src.first_image.copy()
        frames = [f for _, f in zip(range(5), src)]
    assert np.array_equal(first, frames[0].image) and frames[0].timestamp == 0.0
    with Landmarker(options) as warm, Landmarker(options) as cold:
        warm.warm_up(first)
        for f in frames:
            got, ref = warm.detect(f.image, f.timestamp), cold.detect(f.image, f.timestamp)
            assert len(got) == len(ref) == 1
            assert got[0].track_id == ref[0].track_id == 0
            assert np.abs(got[0].landmarks - ref[0].landmarks).max() < 5.0  # pixels; tracked from the warm-up
