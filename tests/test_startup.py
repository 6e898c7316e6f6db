"""Speed work of issue 18: MediaPipe imported without its drawing helpers, MediaPipe's stderr silencing from
several threads, and the live loop's landmark thread."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from detector.app.live import LandmarkThread
from detector.stages.source import Frame, SourceError, ThreadedCapture

CLIP = Path(__file__).parent / "data" / "single_face.mp4"


def test_mediapipe_is_imported_without_matplotlib_and_its_drawing_helpers_still_work():
    code = (
        "import sys\n"
        "from detector.stages.landmarks import import_mediapipe\n"
        "import_mediapipe()\n"
        "from mediapipe.tasks.python import vision\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib loaded'\n"
        "from mediapipe.tasks.python.vision import drawing_utils\n"
        "assert drawing_utils.DrawingSpec().thickness == 2\n"  # first use runs the module
        "assert 'matplotlib.pyplot' in sys.modules\n"
        "assert not any(type(f).__name__ == '_LazyModules' for f in sys.meta_path)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert r.returncode == 0, r.stderr


def _frames(n: int):
    for k in range(n):
        yield Frame(k, k / 100.0, np.zeros((4, 6, 3), np.uint8))


def test_landmark_thread_keeps_order_and_raises_the_source_error_after_the_frames_before_it():
    def failing():
        yield from _frames(5)
        raise SourceError("camera 3 stopped delivering frames")

    cap = ThreadedCapture(failing(), lossless=True).start()
    stage = LandmarkThread(cap, lambda item: (item.timestamp, [item.index])).start()
    got = []
    try:
        with pytest.raises(SourceError, match="stopped delivering"):
            while True:
                entry = stage.get(timeout=5)
                assert entry is not None
                got.append(entry[2][0])
    finally:
        stage.stop()
        cap.stop()
    assert got == [0, 1, 2, 3, 4]


def test_landmark_thread_waits_while_paused_and_stops_while_the_loop_does_not_take():
    cap = ThreadedCapture(_frames(50), lossless=True).start()
    stage = LandmarkThread(cap, lambda item: (item.timestamp, []))
    stage.paused = True
    stage.start()
    time.sleep(0.2)
    assert cap.delivered == 0  # nothing taken while paused
    stage.paused = False
    assert stage.get(timeout=5)[0].index == 0
    stage.stop(timeout=5)  # results waiting, none taken: stop still ends the thread
    assert not stage.alive
    cap.stop()


def test_stderr_silencing_windows_of_two_threads_nest():
    import os
    import threading

    from detector.stages.landmarks import _native_stderr_silenced

    before = os.fstat(2)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def b():
        a_in.wait(5)
        with _native_stderr_silenced():
            b_in.set()
            a_out.wait(5)
            assert os.fstat(2).st_ino == os.stat(os.devnull).st_ino  # still silenced after A left

    t = threading.Thread(target=b)
    t.start()
    with _native_stderr_silenced():
        a_in.set()
        b_in.wait(5)
    a_out.set()
    t.join(5)
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)  # back to the real stderr


def test_the_segmenter_warm_up_compiles_what_the_pipeline_feeds_it(monkeypatch):
    # Analyzer.warm_up compiles the segmenter kernel before the first frame; if a frame's
    # features (channels, pose, gaze) reached the kernel with other dtypes, numba would compile a
    # second version on the first face (about 20 s after an install).
    from detector.run.config import load_config
    from detector.run.pipeline import Analyzer
    from detector.stages.features import FeatureExtractor
    from detector.stages.landmarks import FaceObservation
    from detector.stages.segmenter import Segmenter

    seen = []
    update = Segmenter.update

    def spy(self, t, x, pose=None, frame=None, gaze=None):
        seen.append(tuple(None if a is None else np.asarray(a).dtype for a in (x, pose, gaze)))
        return update(self, t, x, pose, frame, gaze)

    monkeypatch.setattr(Segmenter, "update", spy)
    an = Analyzer(load_config())
    an.warm_up()
    landmarks = np.random.default_rng(0).normal(200.0, 30.0, (478, 3)).astype(np.float32)
    face = FaceObservation(0, landmarks, np.full(52, 0.1, np.float32), np.eye(4, dtype=np.float32))
    an.step(0, 0.0, [face], [FeatureExtractor()(face)])
    assert len(seen) == 2 and seen[0] == seen[1] and None not in seen[1], seen
