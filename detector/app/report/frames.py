"""Face thumbnails of an event: onset / apex / offset crops, the difference image (apex minus
onset) and the apex with the motion amplified, each an inlined JPEG data URI.

The three frames of an event share one crop window (the face found at the
apex, or the whole frame when none is found), so the difference image shows
only what moved.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from detector.app.report.settings import ReportSettings
from detector.core.events import Event
from detector.stages.landmarks import Landmarker, LandmarkerOptions

#: A gap (frames) up to which the reader decodes forward instead of seeking.
_SEEK_GAP = 48


def iter_frames(path: str, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, BGR image)`` of the given 0-based frame indices (those that decode), in one
    forward pass that seeks over long gaps; one image in memory at a time."""
    wanted = sorted(set(int(i) for i in indices))
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        pos = 0
        for i in wanted:
            if i - pos > _SEEK_GAP:
                cap.set(cv2.CAP_PROP_POS_FRAMES, i)
                pos = i
            while pos < i and cap.grab():
                pos += 1
            ok, img = cap.read()
            if not ok:
                break
            yield i, img
            pos = i + 1
    finally:
        cap.release()


def square_box(box: tuple[float, float, float, float], shape: tuple[int, ...], margin: float) -> tuple[int, int, int, int]:
    """A square around ``box`` (x0, y0, x1, y1) grown by ``margin``, inside an image of ``shape``."""
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    side = min(max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin), w, h)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    left = int(round(min(max(cx - side / 2.0, 0), w - side)))
    top = int(round(min(max(cy - side / 2.0, 0), h - side)))
    s = int(round(side))
    return left, top, left + s, top + s


class FaceBoxes:
    """Face boxes from MediaPipe in image mode (every frame on its own; the largest face)."""

    def __init__(self, options: LandmarkerOptions) -> None:
        self._lm = Landmarker(dataclasses.replace(options, mode="image"))

    def __call__(self, image: np.ndarray) -> tuple[float, float, float, float] | None:
        faces = self._lm.detect_untracked(image, 0.0)
        if not faces:
            return None
        pts = max((f[0] for f in faces), key=lambda p: float(np.ptp(p[:, 0]) * np.ptp(p[:, 1])))
        (x0, y0), (x1, y1) = pts[:, :2].min(axis=0), pts[:, :2].max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def close(self) -> None:
        self._lm.close()

    def __enter__(self) -> "FaceBoxes":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class Thumbnails:
    """Data URIs (``data:image/jpeg;base64,...``) of one event's images."""

    onset: str
    apex: str
    offset: str
    difference: str
    magnified: str


def jpeg_data_uri(image: np.ndarray, quality: int) -> str:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _crop(image: np.ndarray, box: tuple[int, int, int, int], px: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    c = image[y0:y1, x0:x1]
    scale = px / max(c.shape[:2])
    size = (max(1, round(c.shape[1] * scale)), max(1, round(c.shape[0] * scale)))
    return cv2.resize(c, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def difference_image(onset: np.ndarray, apex: np.ndarray, gain: float) -> np.ndarray:
    """Mid-grey where nothing changed; brighter where the apex is brighter, darker where darker."""
    d = apex.astype(np.float32) - onset.astype(np.float32)
    return np.clip(128.0 + gain * d, 0, 255).astype(np.uint8)


def magnified_image(onset: np.ndarray, apex: np.ndarray, gain: float) -> np.ndarray:
    """The apex with its motion from the onset amplified ``gain`` times (linear, Eulerian-style:
    onset + gain * blurred(apex - onset), so pixel noise is not amplified as much as motion)."""
    d = cv2.GaussianBlur(apex.astype(np.float32) - onset.astype(np.float32), (3, 3), 0)
    return np.clip(onset.astype(np.float32) + gain * d, 0, 255).astype(np.uint8)


def event_thumbnails(crops: tuple[np.ndarray, np.ndarray, np.ndarray], settings: ReportSettings) -> Thumbnails:
    """The five thumbnails of an event from its onset, apex and offset crops (same window)."""
    on, ap, off = crops
    q = settings.jpeg_quality
    return Thumbnails(jpeg_data_uri(on, q), jpeg_data_uri(ap, q), jpeg_data_uri(off, q),
                      jpeg_data_uri(difference_image(on, ap, settings.diff_gain), q),
                      jpeg_data_uri(magnified_image(on, ap, settings.magnify_gain), q))


def thumbnail_events(events: list[Event], cap: int) -> list[int]:
    """Indices of the events that get thumbnails: micro and macro before eye events, strongest
    first, at most ``cap``."""
    order = sorted(range(len(events)), key=lambda i: (events[i].kind not in ("micro", "macro"), -events[i].intensity))
    return sorted(order[:max(0, cap)])


def all_thumbnails(video: str, events: list[Event], options: LandmarkerOptions,
                   settings: ReportSettings) -> dict[int, Thumbnails]:
    """Thumbnails of the events chosen by :func:`thumbnail_events`, by event index.

    Two passes over the video keep memory small: the apex frames give each
    event its crop window, then onset, apex and offset are cropped as they
    are decoded.
    """
    chosen = thumbnail_events(events, settings.max_thumb_events)
    windows = crop_windows(video, {i: events[i].apex_frame for i in chosen}, options, settings)
    wanted: dict[int, list[tuple[int, int]]] = {}  # frame -> [(event, role 0/1/2)]
    for i in windows:
        for role, f in enumerate((events[i].onset_frame, events[i].apex_frame, events[i].offset_frame)):
            wanted.setdefault(f, []).append((i, role))
    crops: dict[int, list[np.ndarray | None]] = {i: [None, None, None] for i in windows}
    for f, image in iter_frames(video, wanted):
        for i, role in wanted[f]:
            crops[i][role] = _crop(image, windows[i], settings.thumb_px)
    return {i: event_thumbnails(tuple(c), settings) for i, c in crops.items() if all(x is not None for x in c)}


def crop_windows(video: str, apex_frames: dict[int, int], options: LandmarkerOptions,
                 settings: ReportSettings) -> dict[int, tuple[int, int, int, int]]:
    """Per event, the square crop window around the face at its apex frame (the whole frame's
    central square when no face is found there)."""
    by_frame: dict[int, list[int]] = {}
    for i, f in apex_frames.items():
        by_frame.setdefault(f, []).append(i)
    out: dict[int, tuple[int, int, int, int]] = {}
    with FaceBoxes(options) as boxes:
        for f, image in iter_frames(video, by_frame):
            box = boxes(image)
            h, w = image.shape[:2]
            win = square_box(box, image.shape, settings.crop_margin) if box else square_box((0, 0, w, h), image.shape, 0.0)
            for i in by_frame[f]:
                out[i] = win
    return out
