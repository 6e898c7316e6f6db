"""The private MediaPipe call is pinned: a MediaPipe release it was not checked against fails here."""

from __future__ import annotations

import mediapipe

from detector.stages.mp_results import KNOWN_VERSIONS, fast_result_reader


def test_installed_mediapipe_is_a_known_version():
    assert mediapipe.__version__ in KNOWN_VERSIONS, (
        f"mediapipe {mediapipe.__version__}: check tests/test_landmarks_fast.py (fast reader bit-identical to the "
        f"public API), then add the version to detector.stages.mp_results.KNOWN_VERSIONS")


def test_the_reader_finds_the_c_api():
    assert fast_result_reader() is not None
