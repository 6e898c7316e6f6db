"""Faces: the built-in photos, the tune/test split, intensity bands and regions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from detector.lab.facewarp import (
    _UPPER_AUS,
    DEFAULT_IOD_PX,
    DEFAULT_SIZE,
    Face,
    _base,
    load_face_image,
)



FACES_DIR = Path(__file__).resolve().parents[1] / "faces"

# ---------------------------------------------------------------------------
# Built-in faces and the tune/test split (never the same person in both).
# ---------------------------------------------------------------------------

#: name -> (file in benchmarks/faces, split).  Provenance: benchmarks/faces/README.md.
BUILTIN_FACES: dict[str, tuple[str, str]] = {
    "man_video": ("man_video.png", "tune"),
    "boy_group": ("boy_group.png", "tune"),
    "posed_f13": ("posed_f13.jpg", "tune"),
    "woman_pexels": ("woman_pexels.png", "test"),
    "posed_f1": ("posed_f1.jpg", "test"),
    "astronaut": ("astronaut.png", "tune2"),
    "posed_f15": ("posed_f15.jpg", "tune3"),
    "posed_m7": ("posed_m7.jpg", "tune3"),
}
#: split -> the key its plans' random draws are seeded with: ``tune2`` and ``tune3`` (more people, for tuning too)
#: draw schedules of their own, neither the tune nor the test split's
SPLIT_KEYS: dict[str, int] = {"tune": 0, "test": 1, "tune2": 2, "tune3": 3}
SPLITS: dict[str, tuple[str, ...]] = {
    s: tuple(n for n, (_, sp) in BUILTIN_FACES.items() if sp == s) for s in SPLIT_KEYS
}


def face_of_clip(clip: str) -> str:
    """Built-in face of a suite clip name (``tune_03_man_video`` -> ``man_video``)."""
    for f in BUILTIN_FACES:
        if clip.endswith("_" + f):
            return f
    raise ValueError(f"no face in clip name {clip!r}")

#: Bumped whenever the same seed would render different frames
#: (include it in any cache key of features computed from generated clips).
SYNTH_VERSION = 4  # 4: the real-like band's partial blink closes 0.3-0.55 (was 0.15-0.35)

#: Bumped whenever the same seed gives the same frames but different truth rows (kept with cached
#: features, which stay valid: refresh the truth only).  2: kind from the drawn length, not the
#: frame-rounded one (2026-12-07).
TRUTH_VERSION = 2


#: Intensity bands of the peak landmark displacement, percent of IOD.
BANDS: tuple[tuple[str, float], ...] = (("weak", 0.7), ("medium", 1.5), ("strong", math.inf))



def band_of(peak_pct: float) -> str:
    """Intensity band of a peak landmark displacement given in percent of IOD."""
    for name, hi in BANDS:
        if peak_pct < hi:
            return name
    return BANDS[-1][0]


def region_of(aus: Sequence[str]) -> str:
    """``upper`` / ``lower`` / ``full`` from the AUs moved (FACS upper face = AU1-7, 45)."""
    up = {_base(a) in _UPPER_AUS for a in aus}
    if up == {True}:
        return "upper"
    if up == {False}:
        return "lower"
    return "full"


# ---------------------------------------------------------------------------
# Faces (the warp generator itself is detector.lab.facewarp)
# ---------------------------------------------------------------------------


def face_path(name_or_path: str | Path) -> tuple[Path, str, str | None]:
    """Resolve a built-in face name or an image path -> (path, name, split)."""
    key = str(name_or_path)
    if key in BUILTIN_FACES:
        fname, split = BUILTIN_FACES[key]
        return FACES_DIR / fname, key, split
    p = Path(key)
    if not p.is_file():
        raise ValueError(f"face {key!r} is neither a built-in face ({', '.join(BUILTIN_FACES)}) nor an image file")
    return p, p.stem, None


def load_face(name_or_path: str | Path, iod_px: float = DEFAULT_IOD_PX, size: int = DEFAULT_SIZE) -> Face:
    """Load a face photo, frame it (``size`` x ``size`` px, IOD = ``iod_px``) and find its landmarks.

    Runs MediaPipe FaceLandmarker in IMAGE mode twice (on the photo, then on
    the framed result), see :func:`detector.lab.facewarp.frame_face`.  Raises
    ``ValueError`` with a one-line message when the file is unreadable or holds
    no face.
    """
    path, name, split = face_path(name_or_path)
    return load_face_image(path, iod_px, size, split=split, name=name)
