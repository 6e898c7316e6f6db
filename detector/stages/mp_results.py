"""The one use of MediaPipe's private C API: reading FaceLandmarker's result struct straight into NumPy.

MediaPipe's Python API turns every landmark into a Python object (``FaceLandmarkerResult.from_ctypes``,
~0.6 ms per face at 478 landmarks), which we then turned back into an array (~0.25 ms).  Here the
same C struct is read in ~20 us through the ctypes declarations MediaPipe itself uses, calling the
landmarker's private ``_lib.MpFaceLandmarkerDetectForVideo`` / ``MpFaceLandmarkerDetectImage`` and
``MpFaceLandmarkerCloseResult``.  Nothing else in the package touches MediaPipe's internals.

:data:`KNOWN_VERSIONS` are the MediaPipe releases this was checked against (bit-identical to the
public API: ``tests/test_landmarks_fast.py``); ``tests/test_mp_results.py`` fails on any other, so
that an upgrade is checked on purpose.  Where the expected C API is missing, :func:`fast_result_reader`
returns None and the landmarker uses the public API.
"""

from __future__ import annotations

import numpy as np

#: MediaPipe versions whose private result API this module is known to match.
KNOWN_VERSIONS: tuple[str, ...] = ("1.2.3",)


def fast_result_reader():
    """A function (landmarker, image, timestamp_ms or None) -> list of (landmarks (N, 3) normalised, blendshapes,
    transform) float32 arrays per face; values bit-identical to the public API.  None (and the public API is
    used) if this MediaPipe build does not have the expected C API."""
    try:
        import ctypes

        from mediapipe.tasks.python.components.containers import category_c, landmark_c
        from mediapipe.tasks.python.vision import face_landmarker as fl

        lmk_t, cat_t = landmark_c.MpNormalizedLandmarkC, category_c.MpCategoryC
        res_t = fl.MpFaceLandmarkerResultC
        f32 = ctypes.sizeof(ctypes.c_float)
        if not (lmk_t.y.offset == lmk_t.x.offset + f32 and lmk_t.z.offset == lmk_t.y.offset + f32
                and all(getattr(lmk_t, n).size == f32 for n in "xyz") and cat_t.score.size == f32
                and lmk_t.x.offset % f32 == 0 and cat_t.score.offset % f32 == 0):
            return None
        lmk_size, cat_size = ctypes.sizeof(lmk_t), ctypes.sizeof(cat_t)
        x_off, score_off = lmk_t.x.offset, cat_t.score.offset
        if lmk_size % f32 or cat_size % f32:
            return None
    except (ImportError, AttributeError):
        return None

    def strided(ptr, count: int, item_size: int, offset: int, cols: int) -> np.ndarray:
        if count == 0 or not ptr:
            return np.zeros((0, cols), dtype=np.float32)
        addr = ctypes.cast(ptr, ctypes.c_void_p).value
        buf = (ctypes.c_char * (count * item_size)).from_address(addr)
        return np.ndarray((count, cols), np.float32, buf, offset, (item_size, f32)).copy()

    def read(lm, image, timestamp_ms: int | None):
        res = res_t()
        if timestamp_ms is None:
            lm._lib.MpFaceLandmarkerDetectImage(lm._handle, image._image_ptr, None, ctypes.byref(res))
        else:
            lm._lib.MpFaceLandmarkerDetectForVideo(lm._handle, image._image_ptr, None, timestamp_ms,
                                                   ctypes.byref(res))
        try:
            faces = []
            for i in range(res.face_landmarks_count):
                lms = res.face_landmarks[i]
                pts = strided(lms.landmarks, lms.landmarks_count, lmk_size, x_off, 3)
                cats = res.face_blendshapes[i]
                bs = strided(cats.categories, cats.categories_count, cat_size, score_off, 1)[:, 0]
                tf = res.facial_transformation_matrixes[i].to_numpy()
                faces.append((pts, bs, tf))
            return faces
        finally:
            lm._lib.MpFaceLandmarkerCloseResult(ctypes.byref(res))

    return read
